"""Reading `kspec predict`'s inputs: image files and directories, text files, CSV rows, .npz examples and
JSON lines, each turned into an example the run's model takes (`Item`), or a `Failure` naming the input and
what was expected. What each form can be is described in `kspec.use.predict`.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..spec.layers._base import shape_str
from ..train.data import IMAGE_EXTENSIONS
from .interface import InputInfo, Interface
from .runs import first_line


@dataclass(frozen=True)
class Failure:
    """An example that could not be predicted, and why (what was expected)."""

    source: str
    message: str


class BadInput(Exception):
    """An example's value that cannot be fed to the model; the message says what was expected."""


@dataclass(frozen=True)
class ImageFile:
    path: Path
    named: bool  # the path came inside the example (JSON lines): messages name it


@dataclass(frozen=True)
class Encoded:
    """An image file's bytes, read; decoded with the rest of its batch."""

    data: bytes
    where: str  # "" or " 'PATH'" for messages


@dataclass(frozen=True)
class Item:
    source: str
    values: dict[str, Any]  # input name -> str (text), ImageFile or an array-like


def source_of(item: Item | Failure) -> str:
    return item.source


def numpy_dtype(dtype: str) -> Any:
    return np.float32 if dtype == "bfloat16" else np.dtype(dtype)


def conform(value: Any, inp: InputInfo, expected: tuple, what: str) -> np.ndarray:
    """An example's numbers as the input takes them: shape checked (a missing trailing axis of 1 is added, as
    the loader does), cast to the input's dtype; integer inputs need integers, in the input's id range."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise BadInput(f"Input '{inp.name}' takes {what} {shape_str(expected)}; received a ragged list.") from None
    if array.dtype.kind not in "biuf":
        raise BadInput(f"Input '{inp.name}' takes numbers; received {type_name(value)}.")
    if len(expected) == array.ndim + 1 and expected[-1] == 1:
        array = array[..., np.newaxis]
    elif not expected and array.shape == (1,):
        array = array.reshape(())
    if not _fits(array.shape, expected) or (inp.raw == "image" and 0 in array.shape):
        raise BadInput(
            f"Input '{inp.name}' takes {what} {shape_str(expected)}; received shape {shape_str(array.shape)}."
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():  # refused as in training
        bad = array.reshape(-1)[~np.isfinite(array.reshape(-1))][0]
        raise BadInput(
            f"Input '{inp.name}' holds {float(bad)!r}, which is not a finite number; expected finite numbers."
        )
    if inp.raw == "image" or inp.dtype.startswith(("float", "bfloat")):
        return array.astype(np.float32 if inp.raw == "image" else numpy_dtype(inp.dtype), copy=False)
    if inp.dtype == "bool":
        return array.astype(bool)
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array) | (np.floor(array) != array)
        if bad.any():
            raise BadInput(
                f"Input '{inp.name}' takes integers ({inp.dtype}); received {array.reshape(-1)[bad.reshape(-1)][0]!r}."
            )
    if inp.value_range is not None and array.size:
        low, high = inp.value_range
        outside = (array < low) | (array >= high)
        if outside.any():
            bad = int(array.reshape(-1)[outside.reshape(-1)][0])
            raise BadInput(f"Input '{inp.name}' takes ids in [{low}, {high}); received the id {bad}.")
    return array.astype(numpy_dtype(inp.dtype))


def _fits(actual: tuple, expected: tuple) -> bool:
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected, strict=True))


def type_name(value: Any) -> str:
    if isinstance(value, ImageFile):
        return "an image file"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "an array"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


# ---- reading the inputs ----------------------------------------------------------------------------------


def read_items(
    interface: Interface, inputs: Sequence[str], texts: Sequence[str], stdin: TextIO | None
) -> Iterator[Item | Failure]:
    if stdin is not None and "-" not in inputs:
        inputs = [*inputs, "-"]
    for given in inputs:
        if given == "-":
            yield from _json_lines(interface, stdin if stdin is not None else sys.stdin, "stdin")
            continue
        path = Path(given)
        if path.is_dir():
            yield from _directory(interface, path, given)
        elif not path.exists():
            yield Failure(given, "No such file or directory.")
        else:
            yield from _file(interface, path, given)
    for n, text in enumerate(texts, start=1):
        source = f"--text #{n}"
        name, why = _single(interface, "text")
        yield Item(source, {name: text}) if name else Failure(source, f"Text cannot be fed to this model: {why}.")


def _single(interface: Interface, raw: str) -> tuple[str | None, str]:
    """The input that takes one raw example of kind `raw`, or None and why not."""
    inputs = interface.inputs
    if len(inputs) == 1 and inputs[0].raw == raw:
        return inputs[0].name, ""
    return None, f"it takes {_takes(interface)}"


def _takes(interface: Interface) -> str:
    """What the model takes, for messages: "an image (input 'x', 32x32 rgb)"."""

    def one(inp: InputInfo) -> str:
        pre = inp.preprocessing
        if inp.raw == "image":
            h, w = pre["image_size"]
            return f"an image (input '{inp.name}', resized to {h}x{w} {pre['color_mode']})"
        if inp.raw == "text":
            return f"text (input '{inp.name}')"
        if inp.kind == "columns":
            return f"the CSV columns {', '.join(pre['columns'])} (input '{inp.name}')"
        return f"numbers of shape {shape_str(tuple(inp.shape[1:]))} (input '{inp.name}')"

    if len(interface.inputs) == 1:
        return one(interface.inputs[0])
    return f"{len(interface.inputs)} inputs: " + "; ".join(one(i) for i in interface.inputs)


def _accepted(interface: Interface) -> str:
    kinds = []
    if _single(interface, "image")[0]:
        kinds.append(f"images ({' '.join(_image_extensions(interface))})")
    if _single(interface, "text")[0]:
        kinds.append("text files (.txt)")
    if all(i.kind == "columns" for i in interface.inputs):
        kinds.append("CSV files (.csv)")
    if not any(i.raw == "text" for i in interface.inputs):
        kinds.append("NumPy archives (.npz)")
    kinds.append("JSON lines (.jsonl)")
    return ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else kinds[0]


def _image_extensions(interface: Interface) -> tuple[str, ...]:
    for inp in interface.inputs:
        if inp.raw == "image":
            return tuple(inp.preprocessing.get("extensions") or IMAGE_EXTENSIONS)
    return IMAGE_EXTENSIONS


def _directory(interface: Interface, path: Path, given: str) -> Iterator[Item | Failure]:
    if _single(interface, "image")[0]:
        extensions = _image_extensions(interface)
    elif _single(interface, "text")[0]:
        extensions = (".txt",)
    else:
        yield Failure(
            given,
            f"A directory is read for its images or text files, but this model takes {_takes(interface)}; "
            "give CSV, .npz or JSON lines files instead.",
        )
        return
    files = sorted(
        p for p in path.rglob("*") if p.suffix.lower() in extensions and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        yield Failure(given, f"The directory holds no {' '.join(extensions)} files.")
    for file in files:
        yield from _file(interface, file, str(file))


def _file(interface: Interface, path: Path, source: str) -> Iterator[Item | Failure]:
    suffix = path.suffix.lower()
    if suffix in _image_extensions(interface) or suffix in IMAGE_EXTENSIONS:
        name, why = _single(interface, "image")
        yield (
            Item(source, {name: ImageFile(path, False)})
            if name
            else Failure(source, f"An image cannot be fed to this model: {why}.")
        )
    elif suffix == ".txt":
        name, why = _single(interface, "text")
        if not name:
            yield Failure(source, f"A text file cannot be fed to this model: {why}.")
            return
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield Failure(source, f"Cannot read the file: {exc.strerror or exc}.")
            return
        try:
            yield Item(source, {name: data.decode("utf-8")})
        except UnicodeDecodeError as exc:
            yield Failure(
                source, f"The file is not UTF-8 text ({exc.reason} at byte {exc.start}); expected UTF-8 text."
            )
    elif suffix == ".csv":
        yield from _csv_rows(interface, path, source)
    elif suffix == ".npz":
        yield from _npz_rows(interface, path, source)
    elif suffix in (".jsonl", ".ndjson"):
        try:
            with open(path, encoding="utf-8", newline="") as stream:
                yield from _json_lines(interface, stream, source)
        except OSError as exc:
            yield Failure(source, f"Cannot read the file: {exc.strerror or exc}.")
        except UnicodeDecodeError as exc:
            yield Failure(
                source, f"The file is not UTF-8 text ({exc.reason} at byte {exc.start}); expected UTF-8 JSON lines."
            )
    else:
        shown = f"'{suffix}'" if suffix else "(no extension)"
        yield Failure(source, f"Unknown file type {shown}; this model takes {_accepted(interface)}.")


def _csv_rows(interface: Interface, path: Path, source: str) -> Iterator[Item | Failure]:
    if not all(i.kind == "columns" for i in interface.inputs):
        yield Failure(
            source,
            f"A CSV file can be fed only to a model trained from CSV columns; this model takes {_takes(interface)}.",
        )
        return
    delimiter = str(interface.inputs[0].preprocessing.get("delimiter", ","))
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = [h.strip() for h in next((row for row in reader if row), [])]
            wanted = [c for i in interface.inputs for c in i.preprocessing["columns"]]
            missing = [c for c in wanted if c not in header]
            if missing:
                yield Failure(
                    source,
                    f"The CSV file lacks the column(s) {', '.join(missing)}; the model takes the columns "
                    f"{', '.join(wanted)} (found: {', '.join(header) or 'none'}).",
                )
                return
            index = {c: header.index(c) for c in wanted}
            for row in reader:
                if not row:
                    continue
                where = f"{source}:{reader.line_num}"
                if len(row) != len(header):
                    yield Failure(
                        where,
                        f"The row has {len(row)} values, but the header has {len(header)} columns; expected one "
                        "value per column.",
                    )
                    continue
                try:
                    values = {
                        i.name: np.array([_number(row[index[c]], c) for c in i.preprocessing["columns"]])
                        for i in interface.inputs
                    }
                except BadInput as exc:
                    yield Failure(where, str(exc))
                    continue
                yield Item(where, values)
    except OSError as exc:
        yield Failure(source, f"Cannot read the file: {exc.strerror or exc}.")
    except UnicodeDecodeError as exc:
        yield Failure(
            source, f"The file is not UTF-8 text ({exc.reason} at byte {exc.start}); expected a UTF-8 CSV file."
        )
    except csv.Error as exc:
        yield Failure(source, f"The file cannot be read as CSV: {exc}.")


def _utf8_lines(stream: TextIO, source: str) -> Iterator[str | Failure]:
    """The stream's lines; one that is not UTF-8 is a failure of its own (the next lines still count)."""
    binary = getattr(stream, "buffer", None)
    if binary is None:  # a text stream of str already (a test's StringIO)
        yield from stream
        return
    for number, raw in enumerate(binary, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Failure(f"{source}:{number}", f"The line is not UTF-8 text ({exc.reason} at byte {exc.start}).")


def _number(cell: str, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise BadInput(f"Column '{column}' holds {cell!r}, which is not a number.") from None
    if not math.isfinite(value):  # refused as in training
        raise BadInput(f"Column '{column}' holds {cell!r}, which is not a finite number.")
    return value


def _npz_rows(interface: Interface, path: Path, source: str) -> Iterator[Item | Failure]:
    import zipfile

    if any(i.raw == "text" for i in interface.inputs):
        yield Failure(source, f"A .npz archive cannot be fed to this model: it takes {_takes(interface)}.")
        return
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic == b"\x93NUMPY":
            yield Failure(source, "The file holds a single array, not a .npz archive of arrays named like the inputs.")
            return
        if not zipfile.is_zipfile(path):
            yield Failure(source, "Not a .npz archive (not a zip file); expected one written by numpy.savez.")
            return
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        yield Failure(source, f"Not a readable .npz archive ({first_line(exc)}); expected one written by numpy.savez.")
        return
    if not isinstance(archive, np.lib.npyio.NpzFile):  # pragma: no cover - a zip file is read as an archive
        yield Failure(source, "Not a .npz archive; expected one written by numpy.savez.")
        return
    with archive:
        arrays: dict[str, np.ndarray] = {}
        for inp in interface.inputs:
            key = inp.name if inp.name in archive.files else None
            if key is None and len(interface.inputs) == 1 and "x" in archive.files:
                key = "x"
            if key is None:
                alias = " (or 'x')" if len(interface.inputs) == 1 else ""
                yield Failure(
                    source,
                    f"The archive has no array named '{inp.name}'{alias}; it has: {', '.join(archive.files) or 'none'}.",
                )
                return
            try:
                array = archive[key]
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                yield Failure(source, f"The array '{key}' cannot be read ({first_line(exc)}).")
                return
            expected = (None, None, inp.preprocessing["channels"]) if inp.raw == "image" else tuple(inp.shape[1:])
            example = array.shape[1:]
            if array.ndim == len(expected) and expected and expected[-1] == 1:
                example = (*example, 1)
            if array.ndim == 0 or not _fits(example, expected):
                yield Failure(
                    source,
                    f"The array '{key}' has examples of shape {shape_str(array.shape[1:])}, but input '{inp.name}' "
                    f"takes examples of shape {shape_str(expected)} (the first axis counts the examples).",
                )
                return
            arrays[inp.name] = array
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            yield Failure(
                source,
                f"The archive's arrays hold different numbers of examples ({', '.join(map(str, sorted(lengths)))}).",
            )
            return
    for n in range(lengths.pop()):
        yield Item(f"{source}:{n}", {name: a[n] for name, a in arrays.items()})


def _json_lines(interface: Interface, stream: TextIO, source: str) -> Iterator[Item | Failure]:
    names = [i.name for i in interface.inputs]
    for number, line in enumerate(_utf8_lines(stream, source), start=1):
        if isinstance(line, Failure):
            yield line
            continue
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            value = json.loads(line)
        except ValueError as exc:
            reason = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            yield Failure(
                where, f"Not valid JSON ({reason}); expected one JSON object per line mapping input names to values."
            )
            continue
        if isinstance(value, dict) and len(names) == 1 and names[0] not in value and len(value) == 1:
            value = {names[0]: next(iter(value.values()))}  # {"text": "..."} for a one-input model
        elif not isinstance(value, dict):
            if len(names) != 1:
                yield Failure(
                    where,
                    f"Expected a JSON object mapping the input names ({', '.join(names)}) to values; received {type_name(value)}.",
                )
                continue
            value = {names[0]: value}
        missing = [n for n in names if n not in value]
        if missing:
            yield Failure(
                where,
                f"The object has no value for input '{missing[0]}'; it has: {', '.join(map(str, value)) or 'nothing'}.",
            )
            continue
        values: dict[str, Any] = {}
        for inp in interface.inputs:
            raw = value[inp.name]
            values[inp.name] = ImageFile(Path(raw), True) if inp.raw == "image" and isinstance(raw, str) else raw
        yield Item(where, values)
