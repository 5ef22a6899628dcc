"""npz: the archive's arrays; a field `f` is the array `f`, or `f_train`, and `f_test` forms the test split.
Pickled (object) arrays are refused."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from .core import DataError
from .fields import _partial_test
from .files import _need_file
from .loader import Context, Field, Loaded, Loader, register
from .stream import FieldSpec, Stream, tf_dtype


def _npz(source: Any, ctx: Context) -> Loaded:
    path = ctx.resolve(source.path)
    shown = str(path)
    _need_file(path, source.path, "npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"{shown} is not a readable .npz file ({exc}); expected a NumPy archive written by numpy.savez."
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"{shown} holds a single array, not a .npz archive of named arrays; save it with numpy.savez(path, x=..., y=...)."
        )
    with zipfile.ZipFile(path) as members:  # np.load has read it as an archive already
        if source.stream is True or (
            source.stream == "auto" and sum(i.file_size for i in members.infolist()) > STREAM_BYTES
        ):
            archive.close()
            return _npz_stream(path, shown, path.name, members)
    files = list(archive.files)
    name = path.name

    def read(key: str) -> np.ndarray:
        try:
            return archive[key]
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise DataError(
                    f"The array '{key}' of {shown} holds Python objects (dtype=object), which can only be read by unpickling; "
                    "kspec never unpickles data files. Save numeric arrays (e.g. pad sequences into one integer array)."
                ) from None
            raise DataError(f"The array '{key}' of {shown} cannot be read: {exc}.") from None
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"The array '{key}' of {shown} cannot be read: {exc}.") from None

    def get(field_name: str) -> Field | None:
        if field_name in files:
            key = field_name
        elif f"{field_name}_train" in files:
            key = f"{field_name}_train"
        else:
            return None
        test_key = f"{field_name}_test" if f"{field_name}_test" in files and key != f"{field_name}_test" else None
        origin = f"field '{field_name}' of {name}" if key == field_name else f"field '{field_name}' ({key}) of {name}"
        test = read(test_key) if test_key else None
        return Field(read(key), test, origin, f"field '{field_name}' ({test_key}) of {name}" if test_key else None)

    stems = {k[: -len(suffix)] for k in files for suffix in ("_train", "_test") if k.endswith(suffix)}
    available = sorted(stems | {k for k in files if not k.endswith(("_train", "_test"))})
    return Loaded(name, available, get, "x", "y", close=archive.close)


# ---- streamed: the arrays read a chunk of rows at a time ------------------------------------------------------

#: An archive whose arrays take more than this many bytes is streamed (`stream: auto`).
STREAM_BYTES = 2**30
#: Rows read at a time: at most READ_BYTES of each array.
READ_BYTES = 8 * 2**20


class _Member:
    """One .npy array of the archive: its header, read without its data."""

    def __init__(self, archive: zipfile.ZipFile, name: str, shown: str, key: str):
        self.name, self.key = name, key
        with archive.open(name) as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:  # 3.0 (a UTF-8 header): NumPy reads it with its own helper only
                    shape, fortran, dtype = np.lib.format._read_array_header(f, version)  # type: ignore[attr-defined]
            except ValueError as exc:
                raise DataError(f"The array '{key}' of {shown} cannot be read: {exc}.") from None
            self.offset = f.tell()
        if dtype.hasobject:
            raise DataError(
                f"The array '{key}' of {shown} holds Python objects (dtype=object), which can only be read by unpickling; "
                "kspec never unpickles data files. Save numeric arrays (e.g. pad sequences into one integer array)."
            )
        if fortran and len(shape) > 1:
            raise DataError(
                f"The array '{key}' of {shown} is stored in Fortran order, whose rows cannot be read one chunk at a "
                "time; save it with numpy.savez(path, key=numpy.ascontiguousarray(array)), or set `stream: false`."
            )
        if not shape:
            raise DataError(
                f"The array '{key}' of {shown} is a single value, but it needs one entry per example (an array whose "
                "first axis is the examples)."
            )
        self.shape, self.dtype = tuple(int(d) for d in shape), dtype
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * dtype.itemsize


class NpzStream(Stream):
    """The rows of the archive's arrays (one per field), read in order a chunk at a time; one unit (the file), so the
    shuffle is the bounded buffer."""

    per_example_units = False

    def __init__(self, path: Any, shown: str, members: dict[str, _Member], test: bool = False):
        self.path, self.shown = path, shown
        self.members = members
        self.title = shown
        self.test = test
        self.count = 0
        self.fields = {
            name: FieldSpec(
                m.shape[1:],
                m.dtype.name if m.dtype.kind != "U" and m.dtype.kind != "S" else "string",
                f"field '{name}' of {shown}" if m.key == name else f"field '{name}' ({m.key}) of {shown}",
            )
            for name, m in members.items()
        }
        self._test_members: dict[str, _Member] = {}

    def use(self, fields: list[str]) -> None:
        lengths = {f: self.members[f].shape[0] for f in fields}
        if len(set(lengths.values())) > 1:
            first, *rest = lengths.items()
            other = next(item for item in rest if item[1] != first[1])
            raise DataError(
                f"In {self.shown}, the field '{first[0]}' has {first[1]:,} examples but '{other[0]}' has "
                f"{other[1]:,}; every input and label array needs one entry per example."
            )
        self.count = next(iter(lengths.values()), 0)
        self._used = fields

    def own_test(self) -> Stream | None:
        tests = {f: self._test_members.get(f) for f in self._used}
        if not any(tests.values()):
            return None
        if not all(tests.values()):
            raise _partial_test(self.shown, {f"`{f}`": m is not None for f, m in tests.items()})
        stream = NpzStream(self.path, self.shown, {f: m for f, m in tests.items() if m is not None}, test=True)
        stream.fields = {
            f: FieldSpec(spec.shape, spec.dtype, f"field '{f}' ({m.key}) of {self.shown}")
            for f, spec, m in ((f, stream.fields[f], tests[f]) for f in stream.fields)
            if m is not None
        }
        stream.use(list(tests))
        return stream

    def where(self, index: int) -> str:
        part = " (its test arrays)" if self.test else ""
        return f"Example {index} (counting from 0) of {self.shown}{part}"

    def examples(self, indices: np.ndarray, fields: list[str], *, order_seed: int | None) -> Any:
        import tensorflow as tf

        indices = np.asarray(indices, dtype=np.int64)
        members = {f: self.members[f] for f in fields}
        step = max(1, READ_BYTES // max(1, max(m.row_bytes for m in members.values())))

        def chunks() -> Any:
            with zipfile.ZipFile(self.path) as archive:
                files = {f: archive.open(m.name) for f, m in members.items()}
                try:
                    for f, m in members.items():
                        files[f].seek(m.offset)
                    for start in range(0, self.count, step):
                        stop = min(self.count, start + step)
                        lo, hi = np.searchsorted(indices, [start, stop])
                        rows = {}
                        for f, m in members.items():
                            data = files[f].read((stop - start) * m.row_bytes)
                            rows[f] = np.frombuffer(data, m.dtype).reshape(stop - start, *m.shape[1:])
                        if hi == lo:
                            continue
                        wanted = indices[lo:hi]
                        chunk: dict[str, Any] = {"_index": wanted, "_problem": np.full(len(wanted), b"", dtype=object)}
                        for f, array in rows.items():
                            taken = array[wanted - start]
                            chunk[f] = taken.astype(object) if taken.dtype.kind in "US" else taken
                        yield chunk
                finally:
                    for file in files.values():
                        file.close()

        signature = {
            "_index": tf.TensorSpec((None,), tf.int64),
            "_problem": tf.TensorSpec((None,), tf.string),
            **{
                f: tf.TensorSpec((None, *spec.shape), tf_dtype(spec.dtype))
                for f, spec in self.fields.items()
                if f in fields
            },
        }
        return tf.data.Dataset.from_generator(chunks, output_signature=signature).unbatch()


def _npz_stream(path: Any, shown: str, name: str, archive: zipfile.ZipFile) -> Loaded:
    """The streamed form of `_npz`: the same fields and defaults, read while training."""
    names = [n for n in archive.namelist() if n.endswith(".npy")]
    keys = {n[: -len(".npy")]: n for n in names}
    members: dict[str, _Member] = {}
    tests: dict[str, _Member] = {}
    stems = {k[: -len(suffix)] for k in keys for suffix in ("_train", "_test") if k.endswith(suffix)}
    for field in sorted(stems | {k for k in keys if not k.endswith(("_train", "_test"))}):
        key = field if field in keys else f"{field}_train" if f"{field}_train" in keys else None
        if key is not None:
            members[field] = _Member(archive, keys[key], shown, key)
        if f"{field}_test" in keys and key != f"{field}_test":
            tests[field] = _Member(archive, keys[f"{field}_test"], shown, f"{field}_test")
    stream = NpzStream(path, name, members)
    stream._test_members = tests
    for field, member in tests.items():
        stream.fields.setdefault(field, FieldSpec(member.shape[1:], member.dtype.name, f"field '{field}' of {name}"))
    return Loaded(stream.title, sorted(set(members) | set(tests)), lambda name: None, "x", "y", stream=stream)


register(Loader("npz", _npz))
