"""csv: a CSV file with a header row, or a glob of CSV shards (`data/part-*.csv`) that share one header, streamed
file by file.

A field is one column (a number per row, shape (N,)), several comma-separated columns or a glob of them (`px*`),
stacked into (N, k) in the header's order (a list in its own order). Default label: `label`; default features of
a one-input model: every column the labels do not use, in order. The columns that feed a string model input keep
their text (tf.string); every other cell used must be a finite number.

Listing reads every file once with the csv module (nothing kept but the header, the row counts and where blank lines
or multi-line cells shift the line numbers): an empty file, a header without rows, a duplicate column, shards with
different headers and an unknown column are refused before training. A cell that is not a number, NaN or infinity
(any spelling `float` accepts) and a row with the wrong number of values are bad examples, named by file, row and
line: refused before training in the first checked batch, later ones stop training (or are skipped with
--skip-bad-examples). Blank lines are skipped and not counted as rows.
"""

from __future__ import annotations

import bisect
import csv as _csv
import fnmatch
import itertools
import pathlib
from typing import Any

import numpy as np

from .core import RAW_TEXT, DataError
from .files import _describe_columns, _shard_files
from .loader import Context, Loaded, Loader, register
from .stream import FieldSpec, Stream

#: Rows parsed together (one chunk of the stream; bounds the memory of a read).
READ_ROWS = 1024
NOT_A_NUMBER = "which is not a number; every column used as an input or a label must be numeric"
NOT_FINITE = (
    "which is not a finite number; every column used as an input or a label must hold finite numbers (NaN, inf and "
    "-inf cannot be trained on)"
)


def _files(source: Any, ctx: Context) -> list[pathlib.Path]:
    return _shard_files(source.path, ctx.resolve(source.path), "CSV", None)


def _open(path: pathlib.Path) -> Any:
    return open(path, newline="", encoding="utf-8-sig")


class _Listing:
    """One file as listed: its header, its header's line, its row count and where its lines shift."""

    def __init__(self, path: pathlib.Path, delimiter: str):
        self.header: list[str] | None = None
        self.header_line = 0
        self.count = 0
        self.shift_rows: list[int] = []  # from this row (counting from 0) on, a row's line is shifted by ...
        self.shifts: list[int] = []  # ... this many lines (blank lines and multi-line cells before it)
        try:
            with _open(path) as f:
                reader = _csv.reader(f, delimiter=delimiter)
                previous = 0
                shift = 0
                for row in reader:
                    start, previous = previous + 1, reader.line_num
                    if not row:  # a blank line
                        continue
                    if self.header is None:
                        self.header = [h.strip() for h in row]
                        self.header_line = start
                        continue
                    extra = start - self.header_line - self.count - 1
                    if extra != shift:
                        self.shift_rows.append(self.count)
                        self.shifts.append(extra)
                        shift = extra
                    self.count += 1
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path} is not UTF-8 text ({exc.reason}); expected a CSV file with a header row."
            ) from None
        except (OSError, _csv.Error) as exc:
            raise DataError(f"{path} cannot be read as CSV: {exc}.") from None

    def line(self, row: int) -> int:
        """The line (counting from 1) where the row `row` (counting from 0) starts."""
        k = bisect.bisect_right(self.shift_rows, row) - 1
        return self.header_line + row + 1 + (self.shifts[k] if k >= 0 else 0)


def _rows(path: pathlib.Path, delimiter: str) -> Any:
    """The rows of a CSV file after its header, blank lines skipped, in order."""
    with _open(path) as f:
        rows = (row for row in _csv.reader(f, delimiter=delimiter) if row)
        next(rows, None)  # the header
        yield from rows


class CsvStream(Stream):
    """Rows of CSV files; a unit is a file (`per_example_units` false: a shuffle buffer mixes the rows)."""

    per_example_units = False

    def __init__(self, files: list[pathlib.Path], given: str, title: str, delimiter: str):
        self.files = files
        self.title = title
        self.delimiter = delimiter
        self.listings = [_Listing(file, delimiter) for file in files]
        for file, listing in zip(files, self.listings, strict=True):
            if listing.header is None:
                raise DataError(f"{file} is empty; expected a header row naming the columns, then one row per example.")
        self.starts = np.concatenate([[0], np.cumsum([listing.count for listing in self.listings])]).astype(np.int64)
        self.count = int(self.starts[-1])
        if not self.count:
            what = str(files[0]) if len(files) == 1 else f"{title} (matched by '{given}')"
            raise DataError(f"{what} has a header but no rows; expected one row per example.")
        first = self.listings[0].header
        assert first is not None
        self.header: list[str] = first
        seen: set[str] = set()
        for h in self.header:
            if h in seen:
                raise DataError(
                    f"The column '{h}' appears twice in the header of {files[0]}; expected unique column names."
                )
            seen.add(h)
        for file, listing in zip(files[1:], self.listings[1:], strict=True):
            if listing.header != self.header:
                raise DataError(
                    f"{file} has the header {', '.join(listing.header or [])}, but {files[0]} has "
                    f"{', '.join(self.header)}; expected every CSV file matched by '{given}' to have the same header "
                    "(the same columns in the same order)."
                )
        self.position = {h: j for j, h in enumerate(self.header)}
        self.fields = {}
        self._columns: dict[str, list[str]] = {}
        self._text: set[str] = set()

    # ---- fields ---------------------------------------------------------------------------------------

    def columns_of(self, field_name: str) -> list[str] | None:
        if field_name in self.position:
            return [field_name]
        if "," in field_name:
            names = [p.strip() for p in field_name.split(",")]
            return names if all(n in self.position for n in names) else None
        if any(c in field_name for c in "*?["):
            return [h for h in self.header if fnmatch.fnmatchcase(h, field_name)] or None
        return None

    def add_field(self, field_name: str, text: bool) -> None:
        """Describe the field `field_name` in `fields` (nothing when the header lacks it: `load_data` names it);
        `text`: its cells keep their text (it feeds a string model input)."""
        cols = self.columns_of(field_name)
        if cols is None or field_name in self.fields:
            return
        shape: tuple[int, ...] = () if field_name in self.position else (len(cols),)
        self._columns[field_name] = cols
        if text:
            self._text.add(field_name)
        origin = f"{_describe_columns(cols)} of {self.title}"
        self.fields[field_name] = FieldSpec(shape, "object" if text else "float64", origin)

    def is_text(self, field_name: str) -> bool:
        return field_name in self._text

    def where(self, index: int) -> str:
        f = int(np.searchsorted(self.starts, index, side="right")) - 1
        row = index - int(self.starts[f])
        return f"Row {row + 1} (line {self.listings[f].line(row)}) of {self.files[f]}"

    # ---- reading ----------------------------------------------------------------------------------------

    def examples(self, indices: np.ndarray, fields: list[str], *, order_seed: int | None) -> Any:
        import tensorflow as tf

        indices = np.sort(np.asarray(indices, dtype=np.int64))
        epochs = itertools.count()
        bounds = np.searchsorted(indices, self.starts)
        per_file = [indices[bounds[f] : bounds[f + 1]] - self.starts[f] for f in range(len(self.files))]

        def chunks() -> Any:
            order = np.array([f for f in range(len(self.files)) if len(per_file[f])], dtype=np.int64)
            if order_seed is not None:  # the files' order, drawn afresh each epoch from the seed
                order = order[np.random.default_rng([order_seed, next(epochs)]).permutation(len(order))]
            for f in order.tolist():
                wanted = per_file[f].tolist()
                start = int(self.starts[f])
                taken: list[int] = []
                rows: list[list[str]] = []
                k = 0
                for r, row in enumerate(_rows(self.files[f], self.delimiter)):
                    if r != wanted[k]:
                        continue
                    taken.append(start + r)
                    rows.append(row)
                    k += 1
                    if len(rows) == READ_ROWS or k == len(wanted):
                        yield self._chunk(taken, rows, fields)
                        taken, rows = [], []
                    if k == len(wanted):
                        break
                if rows:  # the file lost rows since it was listed: what is left of them
                    yield self._chunk(taken, rows, fields)

        signature = {
            "_index": tf.TensorSpec((None,), tf.int64),
            "_problem": tf.TensorSpec((None,), tf.string),
            **{
                name: tf.TensorSpec((None, *self.fields[name].shape), tf.string if self.is_text(name) else tf.float64)
                for name in fields
            },
        }
        return tf.data.Dataset.from_generator(chunks, output_signature=signature).unbatch()

    def _chunk(self, taken: list[int], rows: list[list[str]], fields: list[str]) -> dict[str, Any]:
        """The fields of `rows` (the examples `taken`), with a problem for each bad row ("" for a good one)."""
        n, width = len(rows), len(self.header)
        problems = [""] * n
        for i, row in enumerate(rows):
            if len(row) != width:
                problems[i] = (
                    f"has {len(row)} values, but the header has {width} columns; expected one value per column in "
                    "every row"
                )
        if any(problems):
            blank = ["0"] * width
            rows = [blank if problems[i] else row for i, row in enumerate(rows)]
        numeric = {c for name in fields if not self.is_text(name) for c in self._columns[name]}
        values: dict[str, np.ndarray] = {}
        for col in sorted(numeric, key=self.position.__getitem__):  # a row's first problem, in the header's order
            j = self.position[col]
            cells = [row[j] for row in rows]
            try:
                array = np.array(cells, dtype=np.float64)
            except ValueError:
                array = np.zeros(n, dtype=np.float64)
                for i, cell in enumerate(cells):
                    try:
                        array[i] = float(cell)
                    except ValueError:
                        if not problems[i]:
                            problems[i] = f"holds {cell!r} in column '{col}', {NOT_A_NUMBER}"
            bad = ~np.isfinite(array)
            if bad.any():
                for i in np.flatnonzero(bad).tolist():
                    if not problems[i]:
                        problems[i] = f"holds {cells[i]!r} in column '{col}', {NOT_FINITE}"
                array[bad] = 0.0
            values[col] = array
        chunk: dict[str, Any] = {"_index": np.asarray(taken, dtype=np.int64), "_problem": np.asarray(problems, object)}
        for name in fields:
            cols = self._columns[name]
            if self.is_text(name):
                parts = [np.array([row[self.position[c]] for row in rows], dtype=object) for c in cols]
            else:
                parts = [values[c] for c in cols]
            chunk[name] = parts[0] if not self.fields[name].shape else np.stack(parts, axis=1)
        return chunk


def _csv_source(source: Any, ctx: Context) -> Loaded:
    files = _files(source, ctx)
    title = files[0].name if len(files) == 1 else f"{len(files)} CSV files ({files[0].parent})"
    stream = CsvStream(files, source.path, title, source.delimiter)
    named = str(files[0]) if len(files) == 1 else title

    def rest(label_fields: list[str]) -> str:
        used: set[str] = set()
        for f in label_fields:
            used.update(stream.columns_of(f) or [])
        others = [h for h in stream.header if h not in used]
        if not others:
            raise DataError(
                f"{named} has no columns left for the model input once the labels ({', '.join(sorted(used))}) are "
                "taken; expected feature columns besides the label column."
            )
        return ",".join(others)

    # every field a model input or output reads, described now; those that feed string inputs keep their text
    label_fields = ctx.label_fields("label")
    for name, mapped in ctx.input_fields(None).items():
        field_name = mapped if mapped is not None else rest(list(label_fields.values()))
        stream.add_field(field_name, text=ctx.inference.inputs[name].dtype == "string")
    for field_name in label_fields.values():
        stream.add_field(field_name, text=False)

    def describe(field_name: str) -> dict[str, Any]:
        columns = stream.columns_of(field_name) or []
        if stream.is_text(field_name):  # read by the model's text layers as they are
            return dict(RAW_TEXT, columns=columns, delimiter=source.delimiter)
        return {"kind": "columns", "columns": columns, "delimiter": source.delimiter}

    return Loaded(
        title,
        stream.header,
        lambda name: None,
        None,
        "label",
        rest=rest,
        describe=describe,
        columns=lambda field_name: stream.columns_of(field_name) or [],
        stream=stream,
    )


register(Loader("csv", _csv_source))
