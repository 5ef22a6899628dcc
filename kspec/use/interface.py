"""interface.json: what a run's model takes and gives, and the raw forms it accepts.

Written at the end of every run (`write`), read back by predict, evaluate and export (`read`), so that
they need nothing but the run directory. The file (format "kspec-interface/1"):

    format         "kspec-interface/1"
    spec           the spec's name
    inputs         one object per model input, in the model's order:
      name           the model input's name (a key of the JSON lines `kspec predict -` reads)
      dtype          the dtype model.keras takes ("float32", "int32", ...)
      shape          the shape model.keras takes, batch axis first, null for any size
      raw            what a person gives: "image" (an image file), "text" (a string; always for a string
                     input, which the model reads itself) or "numbers"
      value_range    [lo, hi): the ids an integer input feeding an Embedding accepts; else null
      preprocessing  how the training data loader made the model's arrays from raw examples:
                     {"kind": "image", "image_size": [h, w], "color_mode", "channels", "interpolation",
                      "value_range": [0, 255], "extensions"}: decoded (tf.io.decode_image), resized bilinearly
                      (tf.image.resize, no antialiasing) to float32 values 0..255, not rescaled;
                     {"kind": "text", "vocabulary_file": "preprocessing/vocabulary.txt", "vocabulary_size",
                      "max_tokens", "sequence_length", "standardize", "split", "output_mode", "encoding",
                      "errors"}: keras.layers.TextVectorization with that vocabulary (one token per line,
                      line i + 1 holding token id i: the padding token "" and "[UNK]" first);
                     {"kind": "columns", "columns": [...], "delimiter"}: CSV columns, in that order;
                     {"kind": "strings", "encoding", "errors"} (and "columns", "delimiter" from a CSV file): the
                      texts as they are, for a model input of dtype string (raw "text"): its own layers read them;
                     {"kind": "array", "field"}: an array as it is (npz, Keras datasets, embedded, synthetic)
    outputs        one object per model output, in the model's order:
      name, dtype, shape  as for inputs
      kind           class_probabilities (softmax over the last axis), class_logits (softmax them),
                     binary_probability (sigmoid, one unit), binary_logit, multilabel_probabilities
                     (independent sigmoids), multilabel_logits, regression, or values (anything else)
      class_names    label index -> class name (the class sub-directories trained on); null when unknown
      activation     the activation the output ends with ("softmax", "linear", ...); null when not known
      loss           the output's loss, by name
    serving        "serving.keras" (the model with its preprocessing in front: it takes raw inputs, strings
                   for text and decoded images of any size, uint8 or float, for images), or null
    serving_note   why there is no serving model (only when serving is null)

`describe` is pure (no TensorFlow); `write` builds and verifies the serving model.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..rundir import INTERFACE, MODEL, PREPROCESSING, SERVING, VOCABULARY, RunDirError
from .runs import first_line

if TYPE_CHECKING:  # pragma: no cover
    from ..infer import Inference
    from ..spec import Spec
    from ..train.data import LoadedData

__all__ = ["FORMAT", "KINDS", "InputInfo", "Interface", "OutputInfo", "describe", "output_kind", "read", "write"]

FORMAT = "kspec-interface/1"
KINDS = (
    "class_probabilities",
    "class_logits",
    "binary_probability",
    "binary_logit",
    "multilabel_probabilities",
    "multilabel_logits",
    "regression",
    "values",
)
#: how far the serving model's outputs may differ from model.keras's on the loader's examples
SERVING_TOLERANCE = 1e-5
#: how many of the loader's raw examples the serving model is checked on
SERVING_EXAMPLES = 4
CLASS_PROBABILITY_ACTIVATIONS = frozenset({"softmax", "sparsemax"})
PROBABILITY_ACTIVATIONS = frozenset({"sigmoid", "hard_sigmoid"})


# ---- describe: the interface as plain data -------------------------------------------------------------


def describe(spec: Spec, inference: Inference, loaded: LoadedData) -> dict[str, Any]:
    """interface.json's content for a model trained on `loaded` (see the module docstring); "serving" is
    left null (`write` fills it in). Text vocabularies are referenced by file, not included."""
    from ..train.data import _embedding_consumers

    files = _vocabulary_files(loaded)
    inputs = []
    for name, tensor in inference.inputs.items():
        pre = dict(loaded.preprocessing.get(name) or {"kind": "array", "field": name})
        if pre.get("kind") == "text":
            rest = {k: v for k, v in pre.items() if k not in ("kind", "vocabulary")}
            pre = {"kind": "text", "vocabulary_file": files[name], "vocabulary_size": len(pre["vocabulary"]), **rest}
        value_range = None
        if not tensor.dtype.startswith(("float", "bfloat")) and tensor.dtype not in ("bool", "string"):
            consumers = _embedding_consumers(inference, name)
            if consumers:
                value_range = [0, min(dim for _, dim in consumers)]
        inputs.append(
            {
                "name": name,
                "dtype": tensor.dtype,
                "shape": list(tensor.shape),
                "raw": "text"
                if tensor.dtype == "string"
                else {"image": "image", "text": "text"}.get(pre.get("kind", ""), "numbers"),
                "value_range": value_range,
                "preprocessing": pre,
            }
        )
    outputs = []
    for name, made in inference.output_tensors.items():
        loss = _loss_for(spec, name)
        end = _output_end(inference, name)
        shape = list(made.shape) if made is not None else None
        kind = output_kind(loss, end, shape)
        outputs.append(
            {
                "name": name,
                "dtype": made.dtype if made is not None else None,
                "shape": shape,
                "kind": kind,
                "class_names": _class_names(loaded.label_names.get(name), kind, shape),
                "activation": end,
                "loss": None if loss is None else (loss if isinstance(loss, str) else loss.type),
            }
        )
    return {"format": FORMAT, "spec": spec.name, "inputs": inputs, "outputs": outputs, "serving": None}


def output_kind(loss: Any, activation: str | None, shape: list | None) -> str:
    """What an output's values are, from its loss (name or config) and final activation (see KINDS)."""
    from ..spec.training import loss_from_logits, loss_kind

    if loss is None or not shape:
        return "values"
    kind = loss_kind(loss)
    logits = loss_from_logits(loss)
    name = loss if isinstance(loss, str) else loss.type
    if kind in ("sparse", "one_hot"):
        if logits:
            return "class_logits"
        return "class_probabilities" if activation in CLASS_PROBABILITY_ACTIVATIONS else "values"
    if kind == "binary":
        if name in ("hinge", "squared_hinge"):  # scores, not probabilities
            return "values"
        single = len(shape) == 1 or shape[-1] == 1
        if logits:
            return "binary_logit" if single else "multilabel_logits"
        if activation in PROBABILITY_ACTIVATIONS:
            return "binary_probability" if single else "multilabel_probabilities"
        return "values"
    return "regression"


def _loss_for(spec: Spec, output: str) -> Any:
    loss = spec.training.loss
    return loss.get(output) if isinstance(loss, dict) else loss


def _output_end(inference: Inference, name: str) -> str | None:
    from ..infer import output_end

    end = output_end(inference, name)
    return end.activation if end is not None else None


def _class_names(names: list[str] | None, kind: str, shape: list | None) -> list[str] | None:
    if not names or not shape:
        return None
    if kind in ("binary_probability", "binary_logit"):
        return list(names) if len(names) == 2 else None
    if kind in ("class_probabilities", "class_logits", "multilabel_probabilities", "multilabel_logits"):
        return list(names) if len(names) == shape[-1] else None
    return None


def _vocabulary_files(loaded: LoadedData) -> dict[str, str]:
    """Text input -> its vocabulary file, relative to the run directory: preprocessing/vocabulary.txt for the
    first vocabulary, vocabulary-INPUT.txt for each further one that differs."""
    files: dict[str, str] = {}
    seen: list[tuple[list[str], str]] = []
    for name, pre in loaded.preprocessing.items():
        if pre.get("kind") != "text":
            continue
        vocabulary = pre["vocabulary"]
        for known, file in seen:
            if known == vocabulary:
                files[name] = file
                break
        else:
            file = f"{PREPROCESSING}/{VOCABULARY if not seen else f'vocabulary-{name}.txt'}"
            seen.append((vocabulary, file))
            files[name] = file
    return files


# ---- write: interface.json, the vocabulary, the serving model ------------------------------------------


def write(run_dir: Path, spec: Spec, inference: Inference, loaded: LoadedData, model: Any) -> list[str]:
    """Write interface.json, preprocessing/ (text vocabularies) and serving.keras (where a verified serving
    model can be built) into `run_dir`, each atomically. Returns the paths written, relative to `run_dir`.
    A serving model that cannot be built or does not match model.keras is left out, with "serving_note"."""
    from ..train import artifacts

    run_dir = Path(run_dir)
    document = describe(spec, inference, loaded)
    written: list[str] = []
    for name, file in _vocabulary_files(loaded).items():
        if file in written:
            continue
        vocabulary = [str(t) for t in loaded.preprocessing[name]["vocabulary"]]
        (run_dir / PREPROCESSING).mkdir(exist_ok=True)
        artifacts.atomic_write_text(run_dir / file, vocabulary_text(vocabulary))
        written.append(file)
    serving, note = _serving_model(spec, inference, loaded, model, document)
    if serving is not None:
        artifacts.save_model(serving, run_dir / SERVING)
        document["serving"] = SERVING
        written.append(SERVING)
    else:
        (run_dir / SERVING).unlink(missing_ok=True)  # a serving model of an earlier training of this run
        document["serving_note"] = note
    artifacts.write_json(run_dir / INTERFACE, document)
    written.append(INTERFACE)
    return sorted(written)


def vocabulary_text(vocabulary: list[str]) -> str:
    """A vocabulary file's text: one token per line (token id = line number - 1), newline-terminated."""
    if any("\n" in token for token in vocabulary):  # TextVectorization splits at whitespace: never happens
        raise ValueError("A vocabulary token holds a newline; it cannot be written one token per line.")
    return "".join(token + "\n" for token in vocabulary)


def parse_vocabulary(text: str) -> list[str]:
    """The tokens of a vocabulary file (`vocabulary_text`); lines split at "\\n" only."""
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


# ---- the serving model -------------------------------------------------------------------------------------


def _serving_model(
    spec: Spec, inference: Inference, loaded: LoadedData, model: Any, document: dict
) -> tuple[Any, str | None]:
    """The verified serving model, or (None, why not)."""
    import keras

    raws = [entry["raw"] for entry in document["inputs"]]
    if all(raw == "numbers" for raw in raws):
        return None, "The model's inputs are numbers, which model.keras takes as they are; it is the serving model."
    if all(raw == "numbers" or takes_strings(entry) for raw, entry in zip(raws, document["inputs"])):
        return (
            None,
            "The model takes its texts as strings itself (its own text layers read them); model.keras is the serving model.",
        )
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if jax.process_count() > 1:  # predicting on the chief alone would wait for the other processes
            return None, (
                "The serving model is not built under a multi-process distribution; kspec predict preprocesses "
                "the inputs itself."
            )
    if "text" in raws and backend != "tensorflow":
        return None, (
            f"Keras's TextVectorization takes strings only on the TensorFlow backend, and this run used {backend}; "
            "kspec predict applies the vocabulary in preprocessing/ itself."
        )
    try:
        serving = build_serving(document, loaded, model)
        difference = _verify(serving, spec, loaded, model, document)
    except _NoExamples as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - serving.keras is optional: the run still completes without it
        return None, f"The serving model could not be built or run: {type(exc).__name__}: {first_line(exc)}"
    if difference > SERVING_TOLERANCE:
        return None, (
            f"The serving model's outputs differ from model.keras's on the training examples by {difference:.3g} "
            f"(more than {SERVING_TOLERANCE:g}), so it was not written; kspec predict preprocesses the inputs itself."
        )
    return serving, None


def build_serving(document: dict, loaded: LoadedData, model: Any) -> Any:
    """A Keras model taking every input's raw form (by input name) into `model`, giving its outputs by name:
    text as a string tensor of shape (batch,) through TextVectorization, images as decoded images of any
    size (batch, height, width, channels) through Resizing (bilinear, as tf.image.resize); numbers as they are."""
    import keras

    inputs: dict[str, Any] = {}
    fed = []
    for entry in document["inputs"]:
        name, pre = entry["name"], entry["preprocessing"]
        if entry["raw"] == "text":
            inputs[name] = keras.Input(shape=(), dtype="string", name=name)
            fed.append(
                text_vectorizer(pre, loaded.preprocessing[name]["vocabulary"], name=f"{name}_vectorize")(inputs[name])
            )
        elif entry["raw"] == "image":
            h, w = pre["image_size"]
            inputs[name] = keras.Input(shape=(None, None, pre["channels"]), dtype="float32", name=name)
            fed.append(keras.layers.Resizing(h, w, interpolation="bilinear", name=f"{name}_resize")(inputs[name]))
        else:
            inputs[name] = keras.Input(shape=tuple(entry["shape"][1:]), dtype=entry["dtype"], name=name)
            fed.append(inputs[name])
    result = model(fed[0] if len(fed) == 1 else fed)
    names = [entry["name"] for entry in document["outputs"]]
    outputs = dict(zip(names, result if isinstance(result, (list, tuple)) else [result], strict=True))
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{document['spec']}_serving")


def takes_strings(entry: dict) -> bool:
    """The input (an interface.json entry) is a string model input: the model's own text layers read the texts."""
    return entry["dtype"] == "string"


def text_vectorizer(preprocessing: dict, vocabulary: list[str], *, name: str | None = None) -> Any:
    """keras.layers.TextVectorization as the loader adapted it, from its recorded settings and vocabulary."""
    import keras

    return keras.layers.TextVectorization(
        max_tokens=preprocessing["max_tokens"],
        standardize=preprocessing["standardize"],
        split=preprocessing["split"],
        output_mode=preprocessing["output_mode"],
        output_sequence_length=preprocessing["sequence_length"],
        vocabulary=vocabulary,
        name=name,
    )


class _NoExamples(Exception):
    pass


def _verify(serving: Any, spec: Spec, loaded: LoadedData, model: Any, document: dict) -> float:
    """The largest difference between the serving model on a few of the loader's raw examples and model.keras
    on the loader's own arrays for them."""
    import numpy as np

    examples = _raw_examples(spec, loaded, document)
    if not examples:
        raise _NoExamples(
            "None of the raw examples read back from the data source matched the loader's arrays, so the serving "
            "model could not be verified and was not written; kspec predict preprocesses the inputs itself."
        )
    names = [entry["name"] for entry in document["outputs"]]
    worst = 0.0
    for raw, arrays in examples:
        got = serving.predict_on_batch(raw)
        order = [arrays[entry["name"]] for entry in document["inputs"]]
        want = model.predict_on_batch(order[0] if len(order) == 1 else order)
        want = dict(zip(names, want if isinstance(want, (list, tuple)) else [want], strict=True))
        for name in names:
            diff = np.abs(np.asarray(got[name], np.float64) - np.asarray(want[name], np.float64))
            worst = max(worst, float(np.max(diff)) if diff.size else 0.0)
            if not np.isfinite(diff).all():
                return float("inf")
    return worst


def _raw_examples(spec: Spec, loaded: LoadedData, document: dict) -> list[tuple[dict, dict]]:
    """A few (raw inputs, the loader's arrays) pairs, each a batch of one: the raw example is read back from the
    source as the loader read it; its arrays are the split row that the loader's preprocessing made of it
    (found by content), so that the check compares with what the model was trained on."""
    import numpy as np

    from ..train.data import IMAGE_EXTENSIONS, TEXT_EXTENSIONS, _class_files

    source = spec.data.source if spec.data is not None else None
    raw_inputs = [entry for entry in document["inputs"] if entry["raw"] != "numbers"]
    if source is None or source.type not in ("image_directory", "text_directory") or not raw_inputs:
        return []
    image = source.type == "image_directory"
    _, files, _ = _class_files(
        Path(source.path), source.path, IMAGE_EXTENSIONS if image else TEXT_EXTENSIONS, "data directory"
    )
    step = max(1, len(files) // SERVING_EXAMPLES)
    splits = [s for s in (loaded.train, loaded.validation, loaded.test) if s is not None]
    streamed = any(getattr(s, "streamed", False) for s in splits)
    vectorizers = {
        e["name"]: text_vectorizer(e["preprocessing"], loaded.preprocessing[e["name"]]["vocabulary"])
        for e in raw_inputs
        if e["raw"] == "text"
    }
    examples = []
    for file in files[::step][:SERVING_EXAMPLES]:
        raw: dict[str, Any] = {}
        made: dict[str, Any] = {}
        for entry in raw_inputs:
            name, pre = entry["name"], entry["preprocessing"]
            if image:
                decoded = decode_image(file.read_bytes(), pre["channels"])
                raw[name] = decoded[np.newaxis].astype(np.float32)
                made[name] = resize_image(decoded, pre["image_size"])
            else:
                text = file.read_bytes().decode(pre.get("encoding", "utf-8"), errors=pre.get("errors", "replace"))
                raw[name] = np.array([text], dtype=object)
                made[name] = np.asarray(vectorizers[name](raw[name]))[0]
        if streamed and len(made) == len(document["inputs"]):  # the stream decodes each file as `made` was
            examples.append((raw, {name: np.asarray(array)[np.newaxis] for name, array in made.items()}))
            continue
        first = raw_inputs[0]["name"]
        found = next(((s, r) for s in splits if (r := _find_row(s.x[first], made[first])) is not None), None)
        if found is None:
            continue
        split, row = found
        arrays = {name: split.x[name][row : row + 1] for name in split.x}
        for entry in document["inputs"]:
            if entry["raw"] == "numbers":
                raw[entry["name"]] = arrays[entry["name"]]
        examples.append((raw, arrays))
    return examples


def _find_row(array: Any, example: Any, chunk: int = 1024) -> int | None:
    """The first row of `array` equal to `example` (within 1e-5 for floats), searched in chunks."""
    import numpy as np

    example = np.asarray(example)
    if array.shape[1:] != example.shape:
        return None
    for start in range(0, len(array), chunk):
        block = np.asarray(array[start : start + chunk])
        if block.dtype.kind == "f" or example.dtype.kind == "f":
            close = np.abs(block.astype(np.float64) - example).reshape(len(block), -1).max(axis=1) <= SERVING_TOLERANCE
        else:
            close = (block == example).reshape(len(block), -1).all(axis=1)
        hits = np.flatnonzero(close)
        if hits.size:
            return start + int(hits[0])
    return None


# ---- the loader's raw preprocessing, for one example ---------------------------------------------------------


def decode_image(data: bytes, channels: int) -> Any:
    """An encoded image (PNG, JPEG, BMP, GIF: its first frame) as a uint8 array (height, width, channels), as the
    image_directory loader decodes it. Raises ValueError with TensorFlow's reason for data it cannot decode."""
    import tensorflow as tf

    try:
        return tf.io.decode_image(data, channels=channels, expand_animations=False).numpy()
    except (tf.errors.OpError, ValueError) as exc:
        message = getattr(exc, "message", str(exc)).strip()
        message = message.splitlines()[0] if message else type(exc).__name__
        message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)  # eager op wrapping
        raise ValueError(re.sub(r"\s*\[Op:\w+\].*$", "", message).rstrip(".")) from None


def resize_image(image: Any, size: list[int] | tuple[int, int]) -> Any:
    """A decoded image resized as the image_directory loader does: bilinear, float32, values kept (0..255)."""
    import tensorflow as tf

    return tf.image.resize(image, tuple(size), method="bilinear").numpy()


@functools.lru_cache(maxsize=8)
def image_batch_decoder(channels: int, size: tuple[int, int]) -> Any:
    """A compiled function: a batch of encoded images (a list of bytes) -> float32 (batch, h, w, channels), each
    decoded and resized exactly as `decode_image` and `resize_image` do (the same TensorFlow ops, in one graph
    call per batch). It raises for a batch holding an image it cannot decode: decode those one at a time."""
    import tensorflow as tf

    h, w = size

    def one(data: Any) -> Any:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        return tf.image.resize(image, (h, w), method="bilinear")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def decode(batch: Any) -> Any:
        return tf.map_fn(one, batch, fn_output_signature=tf.TensorSpec((h, w, channels), tf.float32))

    return lambda encoded: decode(tf.constant(encoded, dtype=tf.string)).numpy()


# ---- read ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputInfo:
    name: str
    dtype: str
    shape: tuple[int | None, ...]
    raw: str  # "image", "text" or "numbers"
    value_range: tuple[int, int] | None
    preprocessing: dict[str, Any]

    @property
    def kind(self) -> str:
        """The preprocessing kind: image, text, columns or array."""
        return str(self.preprocessing.get("kind", "array"))


@dataclass(frozen=True)
class OutputInfo:
    name: str
    dtype: str | None
    shape: tuple[int | None, ...] | None
    kind: str
    class_names: tuple[str, ...] | None
    activation: str | None
    loss: str | None


@dataclass(frozen=True)
class Interface:
    """interface.json, read back (see the module docstring)."""

    run_dir: Path
    spec: str
    inputs: tuple[InputInfo, ...]
    outputs: tuple[OutputInfo, ...]
    serving: str | None
    serving_note: str | None = None

    def input(self, name: str) -> InputInfo:
        return next(i for i in self.inputs if i.name == name)

    def vocabulary(self, input_name: str) -> list[str]:
        """A text input's vocabulary (index = token id), from its file in preprocessing/."""
        pre = self.input(input_name).preprocessing
        path = self.run_dir / pre["vocabulary_file"]
        try:
            tokens = parse_vocabulary(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise RunDirError(
                f"The vocabulary of input '{input_name}' ({path}) cannot be read: {exc}. The run directory is damaged."
            ) from None
        if len(tokens) != pre.get("vocabulary_size", len(tokens)):
            raise RunDirError(
                f"The vocabulary of input '{input_name}' ({path}) has {len(tokens)} tokens, but interface.json says "
                f"{pre['vocabulary_size']}. The run directory is damaged."
            )
        return tokens


def read(run_dir: str | Path) -> Interface:
    """interface.json of a run directory. Raises RunDirError when it is missing or malformed."""
    run_dir = Path(run_dir)
    path = run_dir / INTERFACE
    if not path.is_file():
        raise RunDirError(
            f"'{run_dir}' has no {INTERFACE}, so kspec cannot tell what its model takes and gives (the run was "
            f"written by an older kspec). Train it again to write one; {MODEL} can still be loaded with Keras."
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{path} cannot be read as JSON ({exc}); the run directory is damaged.") from None
    try:
        return _parse(run_dir, document)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RunDirError(f"{path} is malformed: it {what}. The run directory is damaged.") from None


def _range(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise TypeError(f"has the value range {value!r}, not [lo, hi)")
    return int(value[0]), int(value[1])


def _parse(run_dir: Path, document: Any) -> Interface:
    if not isinstance(document, dict):
        raise TypeError(f"holds a {type(document).__name__}, not an object")
    if document.get("format") != FORMAT:
        raise ValueError(f"has format {document.get('format')!r}, where this kspec reads {FORMAT!r}")

    def shape(value: Any) -> tuple[int | None, ...]:
        if not isinstance(value, list) or not all(v is None or isinstance(v, int) for v in value):
            raise TypeError(f"has the shape {value!r}, not a list of sizes")
        return tuple(value)

    inputs = tuple(
        InputInfo(
            name=str(entry["name"]),
            dtype=str(entry["dtype"]),
            shape=shape(entry["shape"]),
            raw=str(entry["raw"]),
            value_range=_range(entry.get("value_range")),
            preprocessing=dict(entry["preprocessing"]),
        )
        for entry in document["inputs"]
    )
    outputs = tuple(
        OutputInfo(
            name=str(entry["name"]),
            dtype=entry.get("dtype"),
            shape=shape(entry["shape"]) if entry.get("shape") is not None else None,
            kind=str(entry["kind"]),
            class_names=tuple(str(c) for c in entry["class_names"]) if entry.get("class_names") else None,
            activation=entry.get("activation"),
            loss=entry.get("loss"),
        )
        for entry in document["outputs"]
    )
    if not inputs or not outputs:
        raise ValueError("lists no inputs or no outputs")
    for i in inputs:
        if i.raw not in ("image", "text", "numbers"):
            raise ValueError(f"gives input '{i.name}' the raw form {i.raw!r}")
    for o in outputs:
        if o.kind not in KINDS:
            raise ValueError(f"gives output '{o.name}' the kind {o.kind!r}")
    serving = document.get("serving")
    return Interface(run_dir, str(document["spec"]), inputs, outputs, serving, document.get("serving_note"))
