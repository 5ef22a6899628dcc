"""parquet: a Parquet file, a directory of them or a glob of shards, streamed row group by row group (pyarrow).

A field is a column: a number per row (an array of shape (N,)), or a list of numbers per row (N, k) (a
fixed-size list, or a list whose rows all hold k numbers: a row of another length is a bad example); several
comma-separated numeric columns, or a glob of them (`pixel_*`), stack into (N, k) in the schema's order. An input
field of k numbers feeds a model input of any shape with k elements (reshaped: 784 -> (28, 28, 1)). A null is a
bad example (the model cannot train on a missing value), as are NaN and infinity. Default label: `label`; default
features of a one-input model: every column the labels do not use.
"""

from __future__ import annotations

import fnmatch
import pathlib
from typing import Any

import numpy as np

from .core import DataError
from .files import _describe_columns, _shard_files
from .loader import Context, Loaded, Loader, register
from .stream import FieldSpec, Stream

#: Rows taken from a row group at a time: at most READ_ROWS, and at most READ_BYTES of them (bounds the memory).
READ_ROWS = 4096
READ_BYTES = 8 * 2**20


def _files(source: Any, ctx: Context) -> list[pathlib.Path]:
    return _shard_files(source.path, ctx.resolve(source.path), "Parquet", (".parquet",))


def _need_pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            "Reading Parquet needs pyarrow, which is not installed; install it with `pip install 'kspec[parquet]'`."
        ) from None
    return pq


class ParquetStream(Stream):
    """Rows of Parquet files; a unit is a row group (`per_example_units` false: a shuffle buffer mixes them)."""

    per_example_units = False

    def __init__(self, files: list[pathlib.Path], title: str, ctx: Context):
        pq = _need_pyarrow()
        self.files = files
        self.title = title
        self.units: list[tuple[int, int, int, int]] = []  # (file, row group, first index, rows)
        schema = None
        start = 0
        for f, file in enumerate(files):
            try:
                meta = pq.ParquetFile(file).metadata
            except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...: any unreadable file
                raise DataError(
                    f"{file} cannot be read as Parquet ({_first_line(exc)}); expected a Parquet file."
                ) from None
            file_schema = meta.schema.to_arrow_schema()
            if schema is None:
                schema = file_schema
            elif not file_schema.equals(schema):
                raise DataError(
                    f"{file} has the columns {_columns_text(file_schema)}, but {files[0]} has {_columns_text(schema)}; "
                    "expected every shard to have the same columns and types."
                )
            for g in range(meta.num_row_groups):
                rows = meta.row_group(g).num_rows
                if rows:
                    self.units.append((f, g, start, rows))
                    start += rows
        assert schema is not None
        self.schema = schema
        self.count = start
        self.starts = np.array([u[2] for u in self.units] + [start], dtype=np.int64)
        self.header = [name for name in schema.names]
        self.fields = {}
        self._columns: dict[str, list[str]] = {}
        self._first_row: dict[str, Any] = {}
        self.ctx = ctx

    # ---- fields ---------------------------------------------------------------------------------------

    def columns_of(self, field_name: str) -> list[str] | None:
        if field_name in self.header:
            return [field_name]
        if "," in field_name:
            names = [p.strip() for p in field_name.split(",")]
            return names if all(n in self.header for n in names) else None
        if any(c in field_name for c in "*?["):
            return [h for h in self.header if fnmatch.fnmatchcase(h, field_name)] or None
        return None

    def field(self, field_name: str, target: Any) -> FieldSpec | None:
        """The field's example shape and dtype (from the schema, and a list column's first row); `target` is the
        model input it feeds (its shape, when the field's elements fill it), or None."""
        import pyarrow as pa

        cols = self.columns_of(field_name)
        if cols is None:
            return None
        types = [self.schema.field(c).type for c in cols]
        origin = (f"column '{cols[0]}'" if len(cols) == 1 else _describe_columns(cols)) + f" of {self.title}"
        if len(cols) > 1:
            bad = [c for c, t in zip(cols, types, strict=True) if not _is_number(t)]
            if bad:
                raise DataError(
                    f"The column '{bad[0]}' of {self.title} holds {self.schema.field(bad[0]).type}; the field "
                    f"'{field_name}' stacks several columns, which must each hold one number per row."
                )
            dtype = np.result_type(*[t.to_pandas_dtype() for t in types])
            shape: tuple[int, ...] = (len(cols),)
        else:
            t = types[0]
            if _is_number(t):
                dtype, shape = np.dtype(t.to_pandas_dtype()), ()
            elif pa.types.is_fixed_size_list(t) and _is_number(t.value_type):
                dtype, shape = np.dtype(t.value_type.to_pandas_dtype()), (t.list_size,)
            elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_number(t.value_type):
                dtype, shape = np.dtype(t.value_type.to_pandas_dtype()), (self._first_length(cols[0]),)
            else:
                raise DataError(
                    f"The column '{cols[0]}' of {self.title} holds {t}; kspec reads Parquet columns of numbers or of "
                    "lists of numbers (one array per row)."
                )
        if dtype.kind == "b":
            dtype = np.dtype(np.int8)
        self._columns[field_name] = cols
        if target is not None and len(shape) == 1 and len(target.shape) > 2:
            want = target.shape[1:]
            if all(d is not None for d in want) and int(np.prod(want)) == shape[0]:
                shape = tuple(int(d) for d in want)
        return FieldSpec(shape, dtype.name, origin)

    def _first_length(self, column: str) -> int:
        pq = _need_pyarrow()
        f, g, _, _ = self.units[0]
        first = pq.ParquetFile(self.files[f]).read_row_group(g, columns=[column]).column(0)
        value = first[0].as_py()
        if value is None:
            raise DataError(f"Row 1 of {self.files[f]}, column '{column}', is null; expected a list of numbers.")
        return len(value)

    def units_of(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, indices, side="right") - 1

    def where(self, index: int) -> str:
        u = int(np.searchsorted(self.starts, index, side="right")) - 1
        f = self.units[u][0]
        first_of_file = next(unit[2] for unit in self.units if unit[0] == f)
        return f"Row {index - first_of_file + 1} of {self.files[f]}"

    # ---- reading ----------------------------------------------------------------------------------------

    def examples(self, indices: np.ndarray, fields: list[str], *, order_seed: int | None) -> Any:
        import tensorflow as tf

        pq = _need_pyarrow()
        indices = np.asarray(indices, dtype=np.int64)
        specs = {f: self.fields[f] for f in fields}
        epochs = iter(range(1 << 62))

        def chunks() -> Any:
            order = np.arange(len(self.units))
            if order_seed is not None:  # the row groups' order, drawn afresh each epoch from the seed
                order = np.random.default_rng([order_seed, next(epochs)]).permutation(len(self.units))
            opened: dict[int, Any] = {}
            for u in order:
                f, g, start, rows = self.units[u]
                lo, hi = np.searchsorted(indices, [start, start + rows])
                wanted = indices[lo:hi]
                if not len(wanted):
                    continue
                file = opened.get(f) or opened.setdefault(f, pq.ParquetFile(self.files[f]))
                columns = sorted({c for name in fields for c in self._columns[name]})
                step = max(1, min(READ_ROWS, READ_BYTES // max(1, self.example_bytes(fields))))
                offset = start  # the index of the batch's first row: a row group is read in batches, never whole
                for batch in file.iter_batches(batch_size=step, row_groups=[g], columns=columns, use_threads=False):
                    lo, hi = np.searchsorted(wanted, [offset, offset + batch.num_rows])
                    part = wanted[lo:hi]
                    offset += batch.num_rows
                    if not len(part):
                        continue
                    taken = batch.take(part - (offset - batch.num_rows))
                    problems = np.full(len(part), "", dtype=object)
                    chunk: dict[str, Any] = {"_index": part}
                    for name, spec in specs.items():
                        chunk[name] = _values(taken, self._columns[name], spec, problems)
                    chunk["_problem"] = problems.astype(str).astype(object)
                    yield chunk

        signature = {
            "_index": tf.TensorSpec((None,), tf.int64),
            "_problem": tf.TensorSpec((None,), tf.string),
            **{name: tf.TensorSpec((None, *spec.shape), tf.as_dtype(spec.dtype)) for name, spec in specs.items()},
        }
        return tf.data.Dataset.from_generator(chunks, output_signature=signature).unbatch()


def _values(table: Any, columns: list[str], spec: FieldSpec, problems: np.ndarray) -> np.ndarray:
    """A field's values for the rows of `table` as (rows, *spec.shape); a row whose value is null or of the wrong
    length gets a problem (and zeros)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    dtype = np.dtype(spec.dtype)
    if len(columns) > 1 or not spec.shape:
        out = np.zeros((n, len(columns)), dtype=dtype)
        for j, name in enumerate(columns):
            column = _array(table.column(name))
            nulls = column.is_null().to_numpy(zero_copy_only=False)
            for r in np.flatnonzero(nulls & (problems == "")):
                problems[r] = f"has no value in column '{name}' (null); expected a number"
            out[:, j] = column.fill_null(0).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
        return out if len(columns) > 1 else out[:, 0]
    name = columns[0]
    column = _array(table.column(name))
    size = int(np.prod(spec.shape))
    out = np.zeros((n, size), dtype=dtype)
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    for r in np.flatnonzero((nulls | (lengths != size)) & (problems == "")):
        problems[r] = (
            f"has no value in column '{name}' (null); expected a list of {size} numbers"
            if nulls[r]
            else f"holds {int(lengths[r])} values in column '{name}'; expected {size}, as in the other rows"
        )
    good = ~nulls & (lengths == size)
    if good.any():
        flat = column.filter(pa.array(good)).flatten()
        if flat.null_count:
            bad_rows = np.flatnonzero(good)[
                np.unique(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False)) // size)
            ]
            for r in bad_rows:
                if problems[r] == "":
                    problems[r] = f"has a null inside the list of column '{name}'; expected {size} numbers"
            flat = flat.fill_null(0)
        out[good] = flat.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(-1, size)
    return out.reshape((n, *spec.shape))


def _array(column: Any) -> Any:
    """A column of a record batch (an Array) or of a table (a ChunkedArray, combined) as one Array."""
    return column.combine_chunks() if hasattr(column, "combine_chunks") else column


def _is_number(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _columns_text(schema: Any) -> str:
    return ", ".join(f"{f.name} ({f.type})" for f in schema)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _parquet(source: Any, ctx: Context) -> Loaded:
    files = _files(source, ctx)
    title = str(files[0]) if len(files) == 1 else f"{len(files)} Parquet files ({files[0].parent})"
    stream = ParquetStream(files, title, ctx)
    if not stream.count:
        raise DataError(f"{title} has no rows; expected one row per example.")
    label_fields = set(ctx.label_fields("label").values())

    def rest(labels: list[str]) -> str:
        used: set[str] = set()
        for f in labels:
            used.update(stream.columns_of(f) or [])
        others = [h for h in stream.header if h not in used]
        if not others:
            raise DataError(
                f"{title} has no columns left for the model input once the labels ({', '.join(sorted(used))}) are "
                "taken; expected feature columns besides the label column."
            )
        return ",".join(others) if len(others) > 1 else others[0]

    # every field a model input or output reads, described now (the schema, a list column's first row)
    inputs = {}
    for name, mapped in ctx.input_fields(None).items():
        inputs[name] = mapped if mapped is not None else rest(sorted(label_fields))
    for name, field_name in inputs.items():
        found = stream.field(field_name, ctx.inference.inputs[name])
        if found is not None:
            stream.fields[field_name] = found
    for field_name in label_fields:
        if field_name not in stream.fields:
            found = stream.field(field_name, None)
            if found is not None:
                stream.fields[field_name] = found
    return Loaded(
        title,
        stream.header,
        lambda name: None,
        None,
        "label",
        rest=rest,
        describe=lambda field_name: {"kind": "columns", "columns": stream.columns_of(field_name) or []},
        columns=lambda field_name: stream.columns_of(field_name) or [],
        stream=stream,
    )


register(Loader("parquet", _parquet))
