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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..rundir import MODEL, RUN_JSON, RunDirError, open_complete, read_json
from ..train.artifacts import jsonable
from . import interface as iface_module
from .inputs import (
    BadInput,
    Encoded,
    Failure,
    ImageFile,
    Item,
    conform,
    numpy_dtype,
    read_items,
    source_of,
    type_name,
)
from .interface import InputInfo, Interface, OutputInfo
from .runs import first_line

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
    return predictor.stream(read_items(predictor.interface, inputs, texts, stdin), top_k, batch_size, progress)


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
            raise PredictError(f"Cannot load the model {path}: {first_line(exc)}", 2) from None
        self.vectorizers: dict[str, Any] = {}
        if not self.serving:
            try:
                for inp in interface.inputs:
                    if inp.raw == "text" and inp.dtype != "string":
                        vocabulary = interface.vocabulary(inp.name)
                        self.vectorizers[inp.name] = iface_module.text_vectorizer(inp.preprocessing, vocabulary)
            except RunDirError as exc:
                raise PredictError(str(exc), exc.exit_code) from None

    def stream(
        self,
        items: Iterable[Item | Failure],
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

    def predict_batch(self, chunk: Sequence[Item | Failure], top_k: int) -> list[Prediction | Failure]:
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
            except BadInput as exc:
                out[i] = Failure(item.source, str(exc))
        for inp in self.interface.inputs:
            if inp.raw == "image":
                for i, bad in self._decode(inp, ready):
                    out[i] = Failure(source_of(chunk[i]), str(bad))
        ready = [(i, arrays) for i, arrays in ready if out[i] is None]
        if ready:
            try:
                results = self._call([arrays for _, arrays in ready])
            except Exception as exc:  # noqa: BLE001 - reported on each example of the batch, no traceback
                for i, _ in ready:
                    out[i] = Failure(source_of(chunk[i]), f"The model failed on this batch: {first_line(exc)}")
            else:
                for j, (i, _) in enumerate(ready):
                    outputs = {o.name: present(o, results[o.name][j], top_k) for o in self.interface.outputs}
                    out[i] = Prediction(source_of(chunk[i]), outputs)
        return [r for r in out if r is not None]

    def _prepare(self, inp: InputInfo, value: Any) -> Any:
        if inp.raw == "text":
            if not isinstance(value, str):
                raise BadInput(f"Input '{inp.name}' takes text; expected a string, received {type_name(value)}.")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate: from undecodable bytes, or JSON's "\ud800"
                raise BadInput(
                    f"The text is not valid Unicode ({exc.reason} at character {exc.start}); expected UTF-8 text."
                ) from None
            return value
        if inp.raw == "image":
            pre = inp.preprocessing
            if isinstance(value, ImageFile):
                where = f" '{value.path}'" if value.named else ""
                try:
                    return Encoded(value.path.read_bytes(), where)
                except OSError as exc:
                    raise BadInput(f"Cannot read the image file{where}: {exc.strerror or exc}.") from None
            image = conform(value, inp, (None, None, pre["channels"]), "a decoded image of shape")
            return iface_module.resize_image(image, pre["image_size"])
        return conform(value, inp, tuple(inp.shape[1:]), "examples of shape")

    def _decode(self, inp: InputInfo, ready: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, BadInput]]:
        """Decode and resize the batch's image files for `inp` in place, in one call; when one of them cannot be
        decoded, one at a time, to tell which. Returns (example index, why) for those that cannot."""
        pre = inp.preprocessing
        size = (int(pre["image_size"][0]), int(pre["image_size"][1]))
        encoded = [
            (k, arrays[inp.name]) for k, (_, arrays) in enumerate(ready) if isinstance(arrays[inp.name], Encoded)
        ]
        if not encoded:
            return []
        try:
            images = iface_module.image_batch_decoder(int(pre["channels"]), size)([e.data for _, e in encoded])
        except Exception:  # noqa: BLE001 - an image that cannot be decoded: found one at a time below
            images = None
        bad: list[tuple[int, BadInput]] = []
        for n, (k, value) in enumerate(encoded):
            if images is not None:
                ready[k][1][inp.name] = images[n]
                continue
            try:
                image = iface_module.decode_image(value.data, pre["channels"])
            except ValueError as exc:
                why = f"Cannot decode the image{value.where} ({exc}); expected a PNG, JPEG, BMP or GIF image."
                bad.append((ready[k][0], BadInput(why)))
            else:
                ready[k][1][inp.name] = iface_module.resize_image(image, size)
        return bad

    def _call(self, prepared: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        batch: dict[str, Any] = {}
        for inp in self.interface.inputs:
            values = [arrays[inp.name] for arrays in prepared]
            if inp.raw == "text" and inp.dtype == "string":  # the model's own text layers read the texts
                import tensorflow as tf

                strings = np.array(values, dtype=object).reshape((len(values),) + tuple(d or 1 for d in inp.shape[1:]))
                batch[inp.name] = tf.constant(strings, dtype=tf.string)
                continue
            if inp.raw == "text":
                strings = np.array(values, dtype=object)
                batch[inp.name] = strings if self.serving else np.asarray(self.vectorizers[inp.name](strings))
            else:
                batch[inp.name] = np.stack(values)
            if not self.serving or inp.raw != "text":
                batch[inp.name] = batch[inp.name].astype(numpy_dtype(inp.dtype), copy=False)
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
