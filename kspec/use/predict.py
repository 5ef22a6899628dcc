"""`kspec predict`: a finished run's model on new examples, with nothing but the run directory.

`predict_run(run_dir, inputs, texts=..., stdin=...)` streams one `Prediction` or `Failure` per example, in
the order given: files and directories first (each directory's files sorted, recursively), then the `texts`.
Examples are read, preprocessed and predicted a batch at a time, so memory does not grow with their number.

What an input can be (the model's interface.json decides which apply):
    image files     .bmp .gif .jpeg .jpg .png, for a model with one image input: decoded and resized as the
                    training loader did (tf.io.decode_image, tf.image.resize bilinear; values 0..255)
    text files      .txt, one example per file, UTF-8 (strictly: a file that is not UTF-8 is a Failure),
                    for a model with one text input; `texts` are examples given as strings
    directories     their image (or .txt) files, recursively, sorted; hidden files and others are skipped
    CSV files       .csv with a header row, for a model trained from CSV: the interface's columns by name
                    (extra columns ignored); one example per row, its source FILE:LINE
    NumPy archives  .npz with one array per input, named like the input (or `x` for a one-input model),
                    examples along the first axis (source FILE:INDEX); the model's own arrays, except that an
                    image input takes decoded images of any size, and a text input takes no arrays
    JSON lines      .jsonl files, or `-` (read from `stdin`): one JSON object per line mapping input names to
                    values (a string for text; a list of numbers for numbers; for an image, a file path or a
                    list (height, width, channels)); a one-input model also takes the bare value
                    (source FILE:LINE or stdin:LINE)

The model: serving.keras when the run has one (raw inputs go in), else model.keras with the same
preprocessing as the loader (decode and resize; text through TextVectorization with the run's vocabulary).
Both give the same predictions as model.keras on the loader's arrays. Classifier outputs are shown as the
top classes with probabilities (logits go through softmax or sigmoid first); other outputs as values.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..rundir import MODEL, RUN_JSON, RunDirError, open_complete, read_json
from ..spec.layers._base import shape_str
from ..train.artifacts import jsonable
from . import interface as iface_module
from .interface import InputInfo, Interface, OutputInfo

__all__ = [
    "FORMATS",
    "Failure",
    "Prediction",
    "PredictError",
    "Predictor",
    "open_predictor",
    "predict_run",
    "render_csv",
    "render_json_lines",
    "emit",
    "render",
    "render_table",
    "table_lines",
    "write_output",
]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # the image_directory loader's
FORMATS = ("table", "json", "csv")
CLASS_KINDS = frozenset({"class_probabilities", "class_logits"})
BINARY_KINDS = frozenset({"binary_probability", "binary_logit"})
MULTILABEL_KINDS = frozenset({"multilabel_probabilities", "multilabel_logits"})
LOGIT_KINDS = frozenset({"class_logits", "binary_logit", "multilabel_logits"})


class PredictError(Exception):
    """A run directory or a request that cannot be used: one paragraph for the user, and an exit code."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Prediction:
    """One example's predictions. `outputs`: output name -> {"top": [(class name, probability), ...]} for
    classifiers (most probable first), or {"values": nested lists} for other outputs."""

    source: str  # a file, "FILE:ROW", "--text #N" or "stdin:LINE"
    outputs: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Failure:
    """An example that could not be predicted, and why (what was expected)."""

    source: str
    message: str


class _Bad(Exception):
    """An example's value that cannot be fed to the model; the message says what was expected."""


@dataclass(frozen=True)
class _ImageFile:
    path: Path
    named: bool  # the path came inside the example (JSON lines): messages name it


@dataclass(frozen=True)
class _Encoded:
    """An image file's bytes, read; decoded with the rest of its batch."""

    data: bytes
    where: str  # "" or " 'PATH'" for messages


@dataclass(frozen=True)
class _Item:
    source: str
    values: dict[str, Any]  # input name -> str (text), _ImageFile or an array-like


# ---- the public entry points ----------------------------------------------------------------------------


def predict_run(
    run_dir: str | Path,
    inputs: Sequence[str] = (),
    *,
    texts: Sequence[str] = (),
    stdin: TextIO | None = None,
    top_k: int = 5,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Prediction | Failure]:
    """Predict every example of `inputs` (paths; `-` is JSON lines from `stdin`) and `texts`, streamed.

    Opens the run and loads its model before returning (raising PredictError for a run directory that cannot be
    used, or a request without examples); then yields one Prediction or Failure per example, in order.
    `stdin` is read as JSON lines where `-` stands in `inputs`, or after the files when no `-` does.
    `progress(n)` is called after each batch with the number of examples finished so far."""
    if top_k < 1:
        raise PredictError(f"The number of top classes to show must be at least 1; received {top_k}.")
    if batch_size < 1:
        raise PredictError(f"The batch size must be at least 1; received {batch_size}.")
    if not inputs and not texts and stdin is None:
        raise PredictError(
            "Nothing to predict: give image, text, CSV, .npz or .jsonl files, directories of them, --text, "
            "or - to read JSON lines from standard input."
        )
    predictor = open_predictor(run_dir)
    return predictor.stream(_items(predictor.interface, inputs, texts, stdin), top_k, batch_size, progress)


def open_predictor(run_dir: str | Path) -> Predictor:
    """The run's model, ready to predict; selects the run's Keras backend first. Raises PredictError."""
    try:
        path = open_complete(run_dir)
        interface = iface_module.read(path)
    except RunDirError as exc:
        raise PredictError(str(exc), exc.exit_code) from None
    _select_backend(path)
    return Predictor(path, interface)


def _select_backend(run_dir: Path) -> None:
    """The run's backend; TensorFlow too (image decoding and text vectorisation use it on every backend)."""
    from .runs import start_keras

    backend = str(read_json(run_dir / RUN_JSON).get("backend") or "tensorflow")
    try:
        start_keras(backend, run_dir, "Predict")
    except RunDirError as exc:
        raise PredictError(str(exc)) from None


class Predictor:
    """A run's model with its preprocessing: serving.keras (raw inputs) when there is one, else model.keras
    behind kspec's own preprocessing (the loader's decode and resize, TextVectorization with the vocabulary)."""

    def __init__(self, run_dir: Path, interface: Interface):
        import keras

        self.run_dir = run_dir
        self.interface = interface
        self.serving = bool(interface.serving) and (run_dir / str(interface.serving)).is_file()
        path = run_dir / (str(interface.serving) if self.serving else MODEL)
        try:
            self.model = keras.saving.load_model(path, compile=False)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: say so, no traceback
            raise PredictError(f"Cannot load the model {path}: {_first_line(exc)}", 2) from None
        self.vectorizers: dict[str, Any] = {}
        if not self.serving:
            try:
                for inp in interface.inputs:
                    if inp.raw == "text":
                        vocabulary = interface.vocabulary(inp.name)
                        self.vectorizers[inp.name] = iface_module.text_vectorizer(inp.preprocessing, vocabulary)
            except RunDirError as exc:
                raise PredictError(str(exc), exc.exit_code) from None

    def stream(
        self,
        items: Iterable[_Item | Failure],
        top_k: int = 5,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[Prediction | Failure]:
        iterator = iter(items)
        done = 0
        while chunk := list(islice(iterator, batch_size)):
            results = self.predict_batch(chunk, top_k)
            done += len(results)
            if progress is not None:
                progress(done)
            yield from results

    def predict_batch(self, chunk: Sequence[_Item | Failure], top_k: int) -> list[Prediction | Failure]:
        out: list[Prediction | Failure | None] = [None] * len(chunk)
        ready: list[tuple[int, dict[str, Any]]] = []
        for i, item in enumerate(chunk):
            if isinstance(item, Failure):
                out[i] = item
                continue
            try:
                ready.append(
                    (i, {inp.name: self._prepare(inp, item.values[inp.name]) for inp in self.interface.inputs})
                )
            except _Bad as exc:
                out[i] = Failure(item.source, str(exc))
        for inp in self.interface.inputs:
            if inp.raw == "image":
                for i, bad in self._decode(inp, ready):
                    out[i] = Failure(_source(chunk[i]), str(bad))
        ready = [(i, arrays) for i, arrays in ready if out[i] is None]
        if ready:
            try:
                results = self._call([arrays for _, arrays in ready])
            except Exception as exc:  # noqa: BLE001 - reported on each example of the batch, no traceback
                for i, _ in ready:
                    out[i] = Failure(_source(chunk[i]), f"The model failed on this batch: {_first_line(exc)}")
            else:
                for j, (i, _) in enumerate(ready):
                    outputs = {o.name: present(o, results[o.name][j], top_k) for o in self.interface.outputs}
                    out[i] = Prediction(_source(chunk[i]), outputs)
        return [r for r in out if r is not None]

    def _prepare(self, inp: InputInfo, value: Any) -> Any:
        if inp.raw == "text":
            if not isinstance(value, str):
                raise _Bad(f"Input '{inp.name}' takes text; expected a string, received {_type_name(value)}.")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate: from undecodable bytes, or JSON's "\ud800"
                raise _Bad(
                    f"The text is not valid Unicode ({exc.reason} at character {exc.start}); expected UTF-8 text."
                ) from None
            return value
        if inp.raw == "image":
            pre = inp.preprocessing
            if isinstance(value, _ImageFile):
                where = f" '{value.path}'" if value.named else ""
                try:
                    return _Encoded(value.path.read_bytes(), where)
                except OSError as exc:
                    raise _Bad(f"Cannot read the image file{where}: {exc.strerror or exc}.") from None
            image = _conform(value, inp, (None, None, pre["channels"]), "a decoded image of shape")
            return iface_module.resize_image(image, pre["image_size"])
        return _conform(value, inp, tuple(inp.shape[1:]), "examples of shape")

    def _decode(self, inp: InputInfo, ready: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, _Bad]]:
        """Decode and resize the batch's image files for `inp` in place, in one call; when one of them cannot be
        decoded, one at a time, to tell which. Returns (example index, why) for those that cannot."""
        pre = inp.preprocessing
        size = (int(pre["image_size"][0]), int(pre["image_size"][1]))
        encoded = [
            (k, arrays[inp.name]) for k, (_, arrays) in enumerate(ready) if isinstance(arrays[inp.name], _Encoded)
        ]
        if not encoded:
            return []
        try:
            images = iface_module.image_batch_decoder(int(pre["channels"]), size)([e.data for _, e in encoded])
        except Exception:  # noqa: BLE001 - an image that cannot be decoded: found one at a time below
            images = None
        bad: list[tuple[int, _Bad]] = []
        for n, (k, value) in enumerate(encoded):
            if images is not None:
                ready[k][1][inp.name] = images[n]
                continue
            try:
                image = iface_module.decode_image(value.data, pre["channels"])
            except ValueError as exc:
                why = f"Cannot decode the image{value.where} ({exc}); expected a PNG, JPEG, BMP or GIF image."
                bad.append((ready[k][0], _Bad(why)))
            else:
                ready[k][1][inp.name] = iface_module.resize_image(image, size)
        return bad

    def _call(self, prepared: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        batch: dict[str, Any] = {}
        for inp in self.interface.inputs:
            values = [arrays[inp.name] for arrays in prepared]
            if inp.raw == "text":
                strings = np.array(values, dtype=object)
                batch[inp.name] = strings if self.serving else np.asarray(self.vectorizers[inp.name](strings))
            else:
                batch[inp.name] = np.stack(values)
            if not self.serving or inp.raw != "text":
                batch[inp.name] = batch[inp.name].astype(_numpy_dtype(inp.dtype), copy=False)
        if self.serving:
            result = self.model.predict_on_batch(batch)
        else:
            ordered = [batch[inp.name] for inp in self.interface.inputs]
            result = self.model.predict_on_batch(ordered[0] if len(ordered) == 1 else ordered)
        names = [o.name for o in self.interface.outputs]
        if isinstance(result, dict):
            return {name: np.asarray(result[name]) for name in names}
        listed = result if isinstance(result, (list, tuple)) else [result]
        return {name: np.asarray(value) for name, value in zip(names, listed, strict=True)}


def _source(item: _Item | Failure) -> str:
    return item.source


def _numpy_dtype(dtype: str) -> Any:
    return np.float32 if dtype == "bfloat16" else np.dtype(dtype)


def _conform(value: Any, inp: InputInfo, expected: tuple, what: str) -> np.ndarray:
    """An example's numbers as the input takes them: shape checked (a missing trailing axis of 1 is added, as
    the loader does), cast to the input's dtype; integer inputs need integers, in the input's id range."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise _Bad(f"Input '{inp.name}' takes {what} {shape_str(expected)}; received a ragged list.") from None
    if array.dtype.kind not in "biuf":
        raise _Bad(f"Input '{inp.name}' takes numbers; received {_type_name(value)}.")
    if len(expected) == array.ndim + 1 and expected[-1] == 1:
        array = array[..., np.newaxis]
    elif not expected and array.shape == (1,):
        array = array.reshape(())
    if not _fits(array.shape, expected) or (inp.raw == "image" and 0 in array.shape):
        raise _Bad(f"Input '{inp.name}' takes {what} {shape_str(expected)}; received shape {shape_str(array.shape)}.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():  # refused as in training
        bad = array.reshape(-1)[~np.isfinite(array.reshape(-1))][0]
        raise _Bad(f"Input '{inp.name}' holds {float(bad)!r}, which is not a finite number; expected finite numbers.")
    if inp.raw == "image" or inp.dtype.startswith(("float", "bfloat")):
        return array.astype(np.float32 if inp.raw == "image" else _numpy_dtype(inp.dtype), copy=False)
    if inp.dtype == "bool":
        return array.astype(bool)
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array) | (np.floor(array) != array)
        if bad.any():
            raise _Bad(
                f"Input '{inp.name}' takes integers ({inp.dtype}); received {array.reshape(-1)[bad.reshape(-1)][0]!r}."
            )
    if inp.value_range is not None and array.size:
        low, high = inp.value_range
        outside = (array < low) | (array >= high)
        if outside.any():
            bad = int(array.reshape(-1)[outside.reshape(-1)][0])
            raise _Bad(f"Input '{inp.name}' takes ids in [{low}, {high}); received the id {bad}.")
    return array.astype(_numpy_dtype(inp.dtype))


def _fits(actual: tuple, expected: tuple) -> bool:
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected, strict=True))


def _type_name(value: Any) -> str:
    if isinstance(value, _ImageFile):
        return "an image file"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "an array"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---- presenting an output ----------------------------------------------------------------------------------


def present(output: OutputInfo, values: np.ndarray, top_k: int) -> dict[str, Any]:
    """One example's output as shown: the top classes with probabilities, or the values."""
    values = np.asarray(values, dtype=np.float64)
    kind = output.kind
    names = output.class_names
    if kind in BINARY_KINDS and values.size == 1:
        p = float(_sigmoid(values).reshape(-1)[0] if kind in LOGIT_KINDS else values.reshape(-1)[0])
        labels = names or ("0", "1")
        pairs = sorted([(labels[1], p), (labels[0], 1.0 - p)], key=lambda pair: -pair[1])
        return {"top": pairs[:top_k]}
    if (kind in CLASS_KINDS or kind in MULTILABEL_KINDS) and values.ndim == 1:
        if kind == "class_logits":
            values = _softmax(values)
        elif kind == "multilabel_logits":
            values = _sigmoid(values)
        order = np.argsort(-values, kind="stable")[:top_k]
        return {"top": [(names[i] if names else str(int(i)), float(values[i])) for i in order]}
    if kind == "class_logits":
        values = _softmax(values)
    elif kind in LOGIT_KINDS:
        values = _sigmoid(values)
    return {"values": values.tolist()}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


# ---- reading the inputs ----------------------------------------------------------------------------------


def _items(
    interface: Interface, inputs: Sequence[str], texts: Sequence[str], stdin: TextIO | None
) -> Iterator[_Item | Failure]:
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
        yield _Item(source, {name: text}) if name else Failure(source, f"Text cannot be fed to this model: {why}.")


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


def _directory(interface: Interface, path: Path, given: str) -> Iterator[_Item | Failure]:
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


def _file(interface: Interface, path: Path, source: str) -> Iterator[_Item | Failure]:
    suffix = path.suffix.lower()
    if suffix in _image_extensions(interface) or suffix in IMAGE_EXTENSIONS:
        name, why = _single(interface, "image")
        yield (
            _Item(source, {name: _ImageFile(path, False)})
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
            yield _Item(source, {name: data.decode("utf-8")})
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


def _csv_rows(interface: Interface, path: Path, source: str) -> Iterator[_Item | Failure]:
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
                except _Bad as exc:
                    yield Failure(where, str(exc))
                    continue
                yield _Item(where, values)
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
        raise _Bad(f"Column '{column}' holds {cell!r}, which is not a number.") from None
    if not math.isfinite(value):  # refused as in training
        raise _Bad(f"Column '{column}' holds {cell!r}, which is not a finite number.")
    return value


def _npz_rows(interface: Interface, path: Path, source: str) -> Iterator[_Item | Failure]:
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
        yield Failure(source, f"Not a readable .npz archive ({_first_line(exc)}); expected one written by numpy.savez.")
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
                yield Failure(source, f"The array '{key}' cannot be read ({_first_line(exc)}).")
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
        yield _Item(f"{source}:{n}", {name: a[n] for name, a in arrays.items()})


def _json_lines(interface: Interface, stream: TextIO, source: str) -> Iterator[_Item | Failure]:
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
                    f"Expected a JSON object mapping the input names ({', '.join(names)}) to values; received {_type_name(value)}.",
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
            values[inp.name] = _ImageFile(Path(raw), True) if inp.raw == "image" and isinstance(raw, str) else raw
        yield _Item(where, values)


# ---- renderers ------------------------------------------------------------------------------------------------


def _shown(entry: dict[str, Any], top_k: int) -> str:
    if "top" in entry:
        return ", ".join(f"{name} ({p:.3f})" for name, p in entry["top"][:top_k])
    flat = np.asarray(entry["values"], dtype=np.float64).reshape(-1)
    text = ", ".join(f"{v:.4g}" for v in flat[:8])
    return f"[{text}{', ...' if flat.size > 8 else ''}]" if flat.size != 1 else text


def table_lines(rows: Iterable[Prediction | Failure], top_k: int = 5, block: int = 256) -> Iterator[str]:
    """The table for people, streamed a block of rows at a time: the source, then each output's top classes
    "class (probability)" or its values (an OUTPUT column when there are several); "error: ..." for a Failure.
    Columns are as wide as the longest entry so far (they widen, never narrow, from block to block)."""
    iterator = iter(rows)
    width, owidth, multi = len("SOURCE"), len("OUTPUT"), None
    while chunk := list(islice(iterator, block)):
        lines: list[tuple[str, str, str]] = []
        for r in chunk:
            if isinstance(r, Failure):
                lines.append((r.source, "", f"error: {r.message}"))
            else:
                for name, entry in r.outputs.items():
                    lines.append((r.source, name, _shown(entry, top_k)))
        width = max([width] + [len(source) for source, _, _ in lines])
        owidth = max([owidth] + [len(output) for _, output, _ in lines])
        if multi is None:
            multi = any(isinstance(r, Prediction) and len(r.outputs) > 1 for r in chunk)
            lines.insert(0, ("SOURCE", "OUTPUT", "PREDICTION"))
        for source, output, shown in lines:
            middle = f"{output:<{owidth}}  " if multi else ""
            yield f"{source:<{width}}  {middle}{shown}".rstrip() + "\n"


def render_table(rows: Iterable[Prediction | Failure], top_k: int = 5) -> str:
    """The whole table (`table_lines`) as one string."""
    return "".join(table_lines(rows, top_k))


def _json_row(r: Prediction | Failure) -> dict[str, Any]:
    if isinstance(r, Failure):
        return {"source": r.source, "error": r.message}
    outputs: dict[str, Any] = {}
    for name, entry in r.outputs.items():
        if "top" in entry:
            outputs[name] = {"top": [{"class": c, "probability": p} for c, p in entry["top"]]}
        else:
            outputs[name] = {"values": entry["values"]}
    return {"source": r.source, "outputs": outputs}


def render_json_lines(rows: Iterable[Prediction | Failure]) -> Iterator[str]:
    """One JSON object per line: {"source", "outputs": {name: {"top": [{"class", "probability"}]} or
    {"values": [...]}}}, or {"source", "error"}."""
    for r in rows:
        yield json.dumps(jsonable(_json_row(r)), ensure_ascii=False, allow_nan=False) + "\n"


def render_csv(rows: Iterable[Prediction | Failure], top_k: int = 5) -> Iterator[str]:
    """CSV, one line per shown value: source, output, rank (1 = most probable; for values, the flat index),
    class, probability, value, error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(*cells: Any) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line("source", "output", "rank", "class", "probability", "value", "error")
    for r in rows:
        if isinstance(r, Failure):
            yield line(r.source, "", "", "", "", "", r.message)
            continue
        for name, entry in r.outputs.items():
            if "top" in entry:
                for rank, (c, p) in enumerate(entry["top"][:top_k], start=1):
                    yield line(r.source, name, rank, c, repr(p), "", "")
            else:
                flat = np.asarray(entry["values"], dtype=np.float64).reshape(-1)
                for index, v in enumerate(flat):
                    yield line(r.source, name, index, "", "", repr(float(v)) if math.isfinite(v) else "", "")


def render(rows: Iterable[Prediction | Failure], fmt: str, top_k: int = 5) -> Iterator[str]:
    """The rows in `fmt` (table, json, csv; "jsonl" = "json"), streamed as newline-terminated lines."""
    if fmt == "table":
        return table_lines(rows, top_k)
    if fmt in ("json", "jsonl"):
        return render_json_lines(rows)
    if fmt == "csv":
        return render_csv(rows, top_k)
    raise PredictError(f"Unknown output format '{fmt}'; expected one of: {', '.join(FORMATS)}.")


def write_output(path: str | Path, rows: Iterable[Prediction | Failure], fmt: str, top_k: int = 5) -> list[Failure]:
    """Write the rendered rows to `path` atomically (streamed into a temporary file next to it, renamed once
    complete: an interrupted run leaves no partial file). Returns the failures, for the caller to report."""
    from ..train import artifacts

    failures: list[Failure] = []
    lines = render(_noting(rows, failures), fmt, top_k)
    try:
        with artifacts.atomic_path(Path(path)) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            for line in lines:
                f.write(line)
    except OSError as exc:
        raise PredictError(f"Cannot write {path}: {exc.strerror or exc}.", 1) from None
    return failures


def emit(
    rows: Iterable[Prediction | Failure],
    *,
    fmt: str = "table",
    top_k: int = 5,
    output: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> list[Failure]:
    """Render the rows to `output` (atomically, `write_output`) or line by line through `echo` (each line
    without its newline), streamed. Returns the failures."""
    if output is not None:
        return write_output(output, rows, fmt, top_k)
    failures: list[Failure] = []
    for line in render(_noting(rows, failures), fmt, top_k):
        echo(line[:-1])
    return failures


def _noting(rows: Iterable[Prediction | Failure], failures: list[Failure]) -> Iterator[Prediction | Failure]:
    for r in rows:
        if isinstance(r, Failure):
            failures.append(r)
        yield r
