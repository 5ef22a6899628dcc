"""Data loaders: a spec's `data` section (or a `--data` override) -> NumPy arrays that fit the model.

`load_data(spec, inference, base_dir=...)` reads the source, maps its fields to the model's
inputs and outputs, holds out the test and validation examples, then checks and adapts every
array with `check_split`. `make_tf_dataset` turns a `Split` into a batched `tf.data.Dataset`.
User mistakes raise `DataError`, whose message is one paragraph naming the field or file, what
was expected and what was received. NumPy is imported here; TensorFlow and Keras only inside
the functions that need them (image decoding, text vectorisation, `make_tf_dataset`).

Sources and their fields
    npz             the archive's arrays; a field `f` is the array `f`, or `f_train`; `f_test`
                    (next to `f` or `f_train`) forms the source's test split. Pickled (object)
                    arrays are refused. Defaults: a one-input model reads `x`, a one-output model
                    `y`; with several inputs/outputs, the field named like the input/output.
    csv             columns; a field is one column (an array of shape (N,)), several
                    comma-separated columns or a glob with `*` (shape (N, k), in header order).
                    Default label: `label`; default features of a one-input model: every column
                    the labels do not use, in order. Every cell used must be a finite number.
    image_directory `image` (float32 (N, H, W, C), resized, values 0..255) and `label` (int32
                    class ids: the sorted sub-directory names). `image_size` / `color_mode` left
                    out of the source are taken from the model input that `image` feeds when it
                    is (H, W, C) with C in 1/3/4 (`resolve_source`).
    text_directory  `text` and `label`; texts become int32 token ids with Keras's
                    TextVectorization, adapted on the training texts only (not the validation or
                    test texts). `max_tokens` left out: the smallest Embedding `input_dim` fed by
                    the text, when there is one; `sequence_length` left out: the model input's
                    length, when known (`resolve_source`).
    keras_dataset   `x` and `y` with the dataset's own train/test split, read from the local Keras
                    cache (`$KERAS_HOME/datasets`, default `~/.keras/datasets`); never downloaded.
                    imdb/reuters keep Keras's preprocessing (seed 113, start 1, OOV 2, index_from
                    3), with `num_words` = the smallest Embedding `input_dim` fed by `x` (all words
                    without one) and sequences padded/truncated at the front to the input's length.
                    cifar100 uses the fine labels.
    embedded        `digits`: 1,797 float32 8x8x1 images, values 0..16 (`image`, alias `x`) and
                    int32 labels 0..9 (`label`, alias `y`), shipped in kspec/datasets.
    synthetic       random examples for the model's inputs and losses (mappings do not apply).

Splits
    The source's own test split is used when it has one (`data.test_split` is then ignored);
    otherwise `data.test_split` holds out that fraction. With `data.shuffle` (the default) the
    examples are shuffled once, seeded, before the hold-outs (synthetic examples, random already,
    are not); with `shuffle: false` the source order is kept. The test examples are the last `test_split` fraction, and the validation
    examples the last `training.validation_split` fraction of the rest, as Keras's
    `validation_split` takes them (`floor(n * (1 - fraction))` examples stay).
    With `training.validation_data: test` the test split is the validation data too (none without one).

Non-finite values
    NaN, inf and -inf are refused wherever they come from: a CSV cell (any spelling `float` accepts:
    nan, inf, Infinity, 1e999), an example of a loaded float array (named by its index in the source,
    before shuffling), an array given to `check_split`, and a value the cast to the model's dtype
    would overflow (1e300 for a float32 input).

Adaptation (`check_split`, in place), nothing else:
    inputs   a trailing axis of 1 is added when the model input has exactly one more axis and
             that axis is 1 ((N, 28, 28) -> (N, 28, 28, 1)); numeric arrays are cast to the
             input's dtype: any numeric array to a float input, integer arrays (or float arrays
             whose values are all integers, in the dtype's range) to an integer input. Integer
             inputs that feed an Embedding must hold ids in [0, input_dim).
    labels   sparse losses: integer class ids shaped like the output without its last axis (a
             trailing axis of 1 is accepted and dropped), int32, each in [0, classes) (or the
             loss's ignore_class); one-hot losses: float labels shaped like the output, or
             integer class ids, which are one-hot encoded; binary and regression losses: float32
             shaped like the output ((N,) is accepted for an output (N, 1)); binary labels must
             lie in [0, 1].
    Unknown (None) model dimensions match any size.
"""

from __future__ import annotations

import csv as _csv
import fnmatch
import gzip
import io
import math
import os
import pathlib
import pickle
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

import numpy as np

from ..text import shape_str

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

    from ..infer import Inference
    from ..spec import Spec
    from ..spec.training import Training

__all__ = [
    "DataError",
    "LoadedData",
    "Split",
    "check_split",
    "load_data",
    "make_tf_dataset",
    "resolve_source",
    "source_from_cli",
]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_EXTENSIONS = (".txt",)
SYNTHETIC_SIZES = (16, 32, 8, 64)
#: The words of synthetic texts (a string input's random examples).
SYNTHETIC_WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "mat", "big", "red")
#: How a text_directory's texts reach a string model input: as they are (the model's text layers read them).
RAW_TEXT = {"kind": "strings", "encoding": "utf-8", "errors": "replace"}
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CLI_FORMS = (
    "'synthetic' or 'synthetic:SAMPLES', 'embedded' or 'embedded:digits', 'keras:NAME' "
    "(mnist, fashion_mnist, cifar10, cifar100, imdb, reuters, boston_housing), a path ending in .npz or .csv, "
    "or a directory with one sub-directory of images (.png .jpg .jpeg .bmp .gif) or of .txt files per class"
)


class DataError(Exception):
    """A user-caused data problem; `str(err)` is one paragraph for the user (what, where, expected, received)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


@dataclass
class Split:
    """Examples: model input name -> array and model output name -> labels (first axis = examples)."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    #: "inputs.<name>" / "labels.<name>" -> where the array came from ("field 'x' of mnist.npz"), for messages.
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        for arrays in (self.x, self.y):
            for array in arrays.values():
                return int(len(array))
        return 0

    def take(self, index: Any) -> Split:
        return Split(
            {k: v[index] for k, v in self.x.items()},
            {k: v[index] for k, v in self.y.items()},
            dict(self.origins),
        )


@dataclass
class LoadedData:
    """The checked splits, and what the loader learned about them (for the run directory's preprocessing)."""

    train: Split
    validation: Split | None
    test: Split | None
    description: str
    #: the source's class names (label index -> name), when it has them (directories, most Keras datasets).
    class_names: list[str] | None = None
    #: text_directory only: the TextVectorization vocabulary (index = token id) of the (last) text input.
    vocabulary: list[str] | None = None
    #: model output -> class names (label index -> name), for outputs whose labels are the class sub-directories
    #: of an image_directory or text_directory source; empty otherwise.
    label_names: dict[str, list[str]] = field(default_factory=dict)
    #: model input -> how raw examples become its array (JSON-serialisable); one of
    #: {"kind": "image", "image_size", "color_mode", "channels", "interpolation", "value_range", "extensions"},
    #: {"kind": "text", "vocabulary", "max_tokens", "sequence_length", "standardize", "split", "output_mode",
    #: "encoding", "errors"}, {"kind": "columns", "columns", "delimiter"} (csv) or {"kind": "array", "field"}
    #: (npz, keras_dataset, embedded, synthetic; imdb/reuters add the sequence settings used).
    preprocessing: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: csv only: model output -> the CSV columns that form its labels, in order; empty otherwise.
    label_columns: dict[str, list[str]] = field(default_factory=dict)


# ---- public entry points ---------------------------------------------------------------------------


def load_data(
    spec: Spec,
    inference: Inference,
    *,
    base_dir: pathlib.Path,
    source: Any = None,
    seed: int | None = None,
    vocabulary: list[str] | None = None,
) -> LoadedData:
    """Load, map, split, check and adapt the examples for `spec` (see the module docstring).

    `vocabulary` (text_directory): a trained run's own vocabulary (index = token id), used instead of
    adapting a new one, so that new texts become the token ids the model was trained on."""
    data = spec.data
    if source is None:
        if data is None:
            raise DataError(
                f"The spec '{spec.name}' has no `data` section, so there are no examples to train on. "
                "Add a `data:` section with a `source`, or pass one with --data "
                "(for example --data synthetic, --data embedded:digits or --data path/to/data.npz)."
            )
        source = data.source
    source = resolve_source(spec, inference, source)
    _need_backend(inference)
    ctx = _Context(spec, inference, pathlib.Path(base_dir), seed, source)
    ctx.vocabulary = vocabulary
    if source.type == "synthetic":
        loaded = _synthetic(source, ctx)
        assert loaded.pool is not None  # synthetic examples come mapped
        pool, test = loaded.pool, None
        input_fields = {name: name for name in pool.x}
        label_fields = {name: name for name in pool.y}
    else:
        loaded = _LOADERS[source.type](source, ctx)
        try:
            pool, test, input_fields, label_fields = _map_fields(loaded, ctx)
        finally:
            if loaded.close is not None:
                loaded.close()
    _check_lengths(pool, "training split")
    if test is not None:
        _check_lengths(test, "test split")

    rng = np.random.default_rng(seed)
    shuffle = data.shuffle if data is not None else True
    if shuffle and len(pool) > 1 and source.type != "synthetic":  # synthetic examples are already i.i.d.
        pool = pool.take(rng.permutation(len(pool)))
    test_split = data.test_split if data is not None else 0.0
    if test is None and test_split > 0:
        pool, test = _hold_out(pool, test_split, f"`data.test_split` ({test_split:g})", loaded.title)
    validation = None
    if spec.training.validation_split > 0:
        fraction = spec.training.validation_split
        pool, validation = _hold_out(pool, fraction, f"`training.validation_split` ({fraction:g})", loaded.title)
    elif spec.training.validation_data == "test":  # Keras's validation_data: the test split, evaluated each epoch
        validation = test
    if len(pool) == 0:
        raise DataError(f"{loaded.title} has no training examples: expected at least one, received 0.")

    preprocessing = {name: loaded.describe(field_name) for name, field_name in input_fields.items()}
    vocabulary = None
    if loaded.finish is not None:
        finished = loaded.finish(pool, validation if validation is not test else None, test)
        preprocessing.update(finished)
        for described in finished.values():
            vocabulary = described.get("vocabulary", vocabulary)

    check_split(pool, inference, spec.training, where="training split")
    if validation is not None and validation is not test:
        check_split(validation, inference, spec.training, where="validation split")
    if test is not None:
        check_split(test, inference, spec.training, where="test split")

    counts = [f"{len(pool):,} train"]
    if validation is not None and validation is not test:
        counts.append(f"{len(validation):,} validation")
    if test is not None:
        counts.append(f"{len(test):,} test" + (" (also the validation data)" if validation is test else ""))
    description = f"{loaded.title}: {' / '.join(counts)} examples"
    label_names = {
        name: list(loaded.class_names)
        for name, field_name in label_fields.items()
        if loaded.class_field is not None and field_name == loaded.class_field and loaded.class_names is not None
    }
    label_columns = (
        {name: loaded.columns(field_name) for name, field_name in label_fields.items()}
        if loaded.columns is not None
        else {}
    )
    return LoadedData(
        pool,
        validation,
        test,
        description,
        class_names=loaded.class_names,
        vocabulary=vocabulary,
        label_names=label_names,
        preprocessing=preprocessing,
        label_columns=label_columns,
    )


def resolve_source(spec: Spec, inference: Inference, source: Any = None) -> Any:
    """The source (default: spec.data.source) with the settings it leaves out taken from the model, written in.

    image_directory: `image_size` and `color_mode` from the model input fed by the `image` field, when it
    is (H, W, C) with H and W known and C in 1/3/4. text_directory: `max_tokens` from the smallest
    Embedding `input_dim` fed by the `text` field, `sequence_length` from that input's length when known.
    Other sources, and settings the source gives, are returned unchanged. `load_data` applies this
    itself; call it to record the values actually used (e.g. in a resolved copy of the spec, whose
    defaults would otherwise be filled in with the schema's). Idempotent.
    """
    if source is None:
        source = spec.data.source if spec.data is not None else None
    if source is None or source.type not in ("image_directory", "text_directory"):
        return source
    ctx = _Context(spec, inference, pathlib.Path("."), None, source)
    given = {name for name in type(source).model_fields if getattr(source, name) is not None}
    update: dict[str, Any] = {}
    if source.type == "image_directory":
        target = ctx.target_of("image", "image")
        if target is not None and len(target.shape) == 4:
            _, h, w, c = target.shape
            if "image_size" not in given and h is not None and w is not None:
                update["image_size"] = (h, w)
            if "color_mode" not in given and c in (1, 3, 4):
                update["color_mode"] = {1: "grayscale", 3: "rgb", 4: "rgba"}[c]
    else:
        if "max_tokens" not in given:
            dim = ctx.embedding_dim_for_field("text", "text")
            if dim is not None:
                update["max_tokens"] = dim
        target = ctx.target_of("text", "text")
        if (
            "sequence_length" not in given
            and target is not None
            and len(target.shape) == 2
            and target.shape[1] is not None
        ):
            update["sequence_length"] = target.shape[1]
    for name, fallback in SOURCE_FALLBACKS.get(source.type, {}).items():
        if name not in given and name not in update:
            update[name] = fallback
    return source.model_copy(update=update) if update else source


def _need_backend(inference: Inference) -> None:
    """Refuse a backend that the model's inputs or layers do not run on: string inputs exist on Keras's TensorFlow
    backend only, and a layer may name the backends it runs on (`keras_backends`: the text layers)."""
    from ..backends import DISPLAY, names

    strings = [name for name, tensor in inference.inputs.items() if tensor.dtype == "string"]
    needs = [(f"model input '{name}' (dtype string)", ("tensorflow",)) for name in strings[:1]]
    for node in inference.nodes:
        layer: Any = node.layer
        while layer is not None:
            able = getattr(layer, "keras_backends", None)
            if able:
                needs.append((f"layer '{node.name}' ({layer.layer_type})", able))
            layer = getattr(layer, "layer", None)
    if not needs:
        return
    import keras

    backend = keras.backend.backend()
    for what, able in needs:
        if backend not in able:
            raise DataError(
                f"The {what} runs on the {names(able)} backend{'s' if len(able) > 1 else ''} only: Keras has string "
                "tensors on TensorFlow alone, and JAX cannot trace the TensorFlow ops of its lookup and hashing "
                f"layers (kspec policy string-tensors). This process uses {DISPLAY.get(backend, backend)}; use "
                f"--backend {able[0]}."
            )


#: what a source setting left out (null) becomes when the model does not imply a value
SOURCE_FALLBACKS: dict[str, dict[str, Any]] = {
    "image_directory": {"image_size": (256, 256), "color_mode": "rgb"},
    "text_directory": {"max_tokens": 20000, "sequence_length": 200},
}


def check_split(split: Split, inference: Inference, training: Training, *, where: str) -> None:
    """Check every array of `split` against the model and adapt it in place (see the module docstring).

    Raises DataError naming the field, the expected and the received shape and dtype.
    `where` names the split in messages that concern no single field (e.g. "training split").
    """
    _check_names(split, inference, where)
    _check_lengths(split, where)
    for name, tensor in inference.inputs.items():
        split.x[name] = _adapt_input(split, name, tensor, inference, where)
    outputs = inference.output_tensors
    for name in inference.outputs:
        output = outputs.get(name)
        if output is None:
            continue
        loss = _loss_for(training, name)
        split.y[name] = _adapt_labels(split, name, output, loss, where)


def source_from_cli(value: str) -> Any:
    """The source for `--data VALUE` (see CLI_FORMS); relative paths stay relative to the caller's base_dir."""
    from ..spec.data import (
        CsvSource,
        EmbeddedSource,
        ImageDirectorySource,
        KerasDatasetSource,
        NpzSource,
        SyntheticSource,
        TextDirectorySource,
    )

    text = value.strip()
    kind, _, arg = text.partition(":")
    if kind == "synthetic" and not os.path.exists(text):
        if not arg:
            return SyntheticSource(type="synthetic")
        # ASCII digits only ("²".isdigit() is true, but int("²") raises), and a bounded length.
        if not (arg.isascii() and arg.isdigit() and len(arg) <= 12) or int(arg) < 1:
            raise DataError(
                f"--data {value!r}: the number of synthetic samples must be a positive integer, received {arg!r}. "
                f"Accepted forms: {CLI_FORMS}."
            )
        return SyntheticSource(type="synthetic", samples=int(arg))
    if kind == "embedded" and not os.path.exists(text):
        if arg not in ("", "digits"):
            raise DataError(f"--data {value!r}: the embedded datasets are: digits; received {arg!r}.")
        return EmbeddedSource(type="embedded", name="digits")
    if kind == "keras" and arg:
        names = get_args(KerasDatasetSource.model_fields["name"].annotation)
        if arg not in names:
            from ..diagnostics import did_you_mean

            hint = did_you_mean(arg, names)
            raise DataError(
                f"--data {value!r}: '{arg}' is not a Keras dataset kspec can read; expected one of "
                f"{', '.join(names)}.{' ' + hint if hint else ''}"
            )
        return KerasDatasetSource(type="keras_dataset", name=arg)  # type: ignore[arg-type]  # one of `names`
    lower = text.lower()
    if lower.endswith(".npz"):
        return NpzSource(type="npz", path=text)
    if lower.endswith(".csv"):
        return CsvSource(type="csv", path=text)
    path = pathlib.Path(text)
    if text and path.is_dir():
        images, texts = _count_files(path, IMAGE_EXTENSIONS), _count_files(path, TEXT_EXTENSIONS)
        if images and not texts:
            return ImageDirectorySource(type="image_directory", path=text)
        if texts and not images:
            return TextDirectorySource(type="text_directory", path=text)
        if images and texts:
            raise DataError(
                f"--data {value!r}: the directory holds both images ({images}) and .txt files ({texts}), so its "
                "type is ambiguous; write the source in the spec's `data` section "
                "({type: image_directory, ...} or {type: text_directory, ...})."
            )
        raise DataError(
            f"--data {value!r}: the directory holds no images (.png .jpg .jpeg .bmp .gif) and no .txt files "
            "in its class sub-directories; expected one sub-directory per class holding the examples."
        )
    if text and path.exists():
        raise DataError(f"--data {value!r}: kspec cannot read this file type; accepted forms: {CLI_FORMS}.")
    raise DataError(
        f"--data {value!r} is not a data source kspec knows, nor an existing directory; accepted forms: {CLI_FORMS}."
    )


def make_tf_dataset(
    split: Split,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    single_output_name: str | None = None,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """A batched tf.data pipeline: from_tensor_slices -> cache -> shuffle (each epoch) -> batch -> prefetch.

    One input is fed as a plain tensor, several as a dict by input name; likewise for the labels.
    `single_output_name` feeds only that output's labels, as a plain tensor. `repeat` makes the
    epochs one endless stream (reshuffled each pass), for `fit` with `steps_per_epoch`.
    """
    import tensorflow as tf

    x: Any = next(iter(split.x.values())) if len(split.x) == 1 else dict(split.x)
    if single_output_name is not None:
        if single_output_name not in split.y:
            raise DataError(
                f"The split has no labels for output '{single_output_name}'; it has labels for: {', '.join(split.y) or 'none'}."
            )
        y: Any = split.y[single_output_name]
    elif len(split.y) == 1:
        y = next(iter(split.y.values()))
    else:
        y = dict(split.y)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        dataset = dataset.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    # The examples are in memory and nothing is mapped, so one thread feeds the model with room to
    # spare; tf.data's default pool (one thread per core) competed with the training step's own
    # threads on a 2-core CPU and made some epochs twice as slow (bench/bench_train.py).
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    dataset = dataset.with_options(options)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if repeat:
        dataset = dataset.repeat()
    return dataset.prefetch(tf.data.AUTOTUNE)


# ---- context, fields and mapping ------------------------------------------------------------------------


class _Context:
    """What the loaders may need to know about the model and the mapping."""

    def __init__(self, spec: Spec, inference: Inference, base_dir: pathlib.Path, seed: int | None, source: Any):
        self.spec = spec
        self.inference = inference
        self.base_dir = base_dir
        self.seed = seed
        self.source = source
        self.data = spec.data
        self.input_map = dict(spec.data.inputs or {}) if spec.data is not None else {}
        self.label_map = dict(spec.data.labels or {}) if spec.data is not None else {}
        self.vocabulary: list[str] | None = None  # a trained run's text vocabulary, reused rather than adapted

    def resolve(self, path: str) -> pathlib.Path:
        p = pathlib.Path(os.path.expanduser(path))
        return p if p.is_absolute() else self.base_dir / p

    def input_fields(self, default: str | None) -> dict[str, str | None]:
        """Model input -> field; `default` is the field of a one-input model (None: the source decides)."""
        names = list(self.inference.inputs)
        out: dict[str, str | None] = {}
        for name in names:
            if name in self.input_map:
                out[name] = self.input_map[name]
            else:
                out[name] = default if len(names) == 1 else name
        return out

    def label_fields(self, default: str) -> dict[str, str]:
        names = list(self.inference.outputs)
        return {name: self.label_map.get(name, default if len(names) == 1 else name) for name in names}

    def target_of(self, field_name: str, default: str | None) -> Any:
        """The model input Tensor fed by `field_name`, or None."""
        for name, mapped in self.input_fields(default).items():
            if mapped == field_name:
                return self.inference.inputs[name]
        return None

    def embedding_dim_for_field(self, field_name: str, default: str | None) -> int | None:
        for name, mapped in self.input_fields(default).items():
            if mapped == field_name:
                found = _embedding_consumers(self.inference, name)
                if found:
                    return min(dim for _, dim in found)
        return None


@dataclass
class _Field:
    train: np.ndarray
    test: np.ndarray | None
    origin: str  # "field 'x' of mnist.npz"
    test_origin: str | None = None


@dataclass
class _Loaded:
    """A read source: how to resolve its fields and what to do after splitting."""

    title: str  # "mnist.npz", "embedded digits": description prefix and file in messages
    available: list[str]
    get: Callable[[str], _Field | None]
    default_input: str | None  # None: `rest` decides (csv)
    default_label: str
    rest: Callable[[list[str]], str] | None = None  # csv: the default features, given the label fields
    class_names: list[str] | None = None
    class_field: str | None = None  # directories: the field whose values index class_names ("label")
    #: after the hold-outs, in place: model input -> its preprocessing (text: vectorised with the vocabulary)
    finish: Callable[[Split, Split | None, Split | None], dict[str, dict[str, Any]]] | None = None
    pool: Split | None = None  # synthetic: already mapped
    close: Callable[[], None] | None = None
    #: a field -> how its raw examples become an array (LoadedData.preprocessing); default: an array as stored
    describe: Callable[[str], dict[str, Any]] = lambda field_name: {"kind": "array", "field": field_name}
    columns: Callable[[str], list[str]] | None = None  # csv: a field -> its columns, in order


def _map_fields(loaded: _Loaded, ctx: _Context) -> tuple[Split, Split | None, dict[str, str], dict[str, str]]:
    """The training pool and the source's own test split (or None), then model input -> field and output -> field.

    Refuses a float array holding NaN or infinity, naming the example by its index in the source.
    """
    label_fields = ctx.label_fields(loaded.default_label)
    input_fields: dict[str, str] = {}
    for name, mapped in ctx.input_fields(loaded.default_input).items():
        if mapped is None:
            assert loaded.rest is not None
            mapped = loaded.rest(list(label_fields.values()))
        input_fields[name] = mapped
    train = Split({}, {})
    test = Split({}, {})
    has_test: dict[str, bool] = {}
    for section, fields, target in (("inputs", input_fields, "x"), ("labels", label_fields, "y")):
        for name, field_name in fields.items():
            got = loaded.get(field_name)
            if got is None:
                explicit = name in (ctx.input_map if section == "inputs" else ctx.label_map)
                raise _unknown_field(section, name, field_name, loaded, explicit=explicit)
            key = f"{section}.{name}"
            for array, origin in ((got.train, got.origin), (got.test, got.test_origin or got.origin)):
                found = _first_nonfinite(array) if array is not None else None
                if found is not None:
                    raise _nonfinite_error(origin, found)
            getattr(train, target)[name] = got.train
            train.origins[key] = got.origin
            has_test[f"`data.{key}` ({got.origin})"] = got.test is not None
            if got.test is not None:
                getattr(test, target)[name] = got.test
                test.origins[key] = got.test_origin or got.origin
    if not any(has_test.values()):
        return train, None, input_fields, label_fields
    if not all(has_test.values()):
        with_test = [k for k, v in has_test.items() if v]
        without = [k for k, v in has_test.items() if not v]
        raise DataError(
            f"{loaded.title}: some of the mapped fields have a test part and some do not, so the test split cannot be "
            f"formed. With a test part: {', '.join(with_test)}; without: {', '.join(without)}. Expected every mapped "
            "field to have a test part (e.g. x_train with x_test) or none of them."
        )
    return train, test, input_fields, label_fields


def _unknown_field(section: str, name: str, field_name: str, loaded: _Loaded, *, explicit: bool) -> DataError:
    from ..diagnostics import did_you_mean

    shown = ", ".join(repr(a) for a in loaded.available[:40]) + (" ..." if len(loaded.available) > 40 else "")
    hint = did_you_mean(field_name, loaded.available)
    what = "model input" if section == "inputs" else "model output"
    if explicit:
        head = f"`data.{section}.{name}` names the field '{field_name}', which {loaded.title} does not have."
    else:
        head = (
            f"The {what} '{name}' is not mapped in `data.{section}`, and its default field '{field_name}' is not in "
            f"{loaded.title}; map it with `data.{section}: {{{name}: <field>}}`."
        )
    return DataError(f"{head} Available fields: {shown or 'none'}.{' ' + hint if hint else ''}")


def _check_names(split: Split, inference: Inference, where: str) -> None:
    for section, arrays, expected in (
        ("inputs", split.x, list(inference.inputs)),
        ("labels", split.y, list(inference.outputs)),
    ):
        missing = [n for n in expected if n not in arrays]
        extra = [n for n in arrays if n not in expected]
        if missing or extra:
            what = "inputs" if section == "inputs" else "outputs"
            raise DataError(
                f"The {where} does not match the model's {what}: expected arrays for {', '.join(expected) or 'none'}, "
                f"received arrays for {', '.join(arrays) or 'none'}."
            )


def _check_lengths(split: Split, where: str) -> None:
    first: tuple[str, int] | None = None
    for section, arrays in (("inputs", split.x), ("labels", split.y)):
        for name, array in arrays.items():
            key = f"{section}.{name}"
            subject = _subject(split, key, where)
            if not hasattr(array, "shape") or array.ndim == 0:
                raise DataError(
                    f"{subject} is a single value of shape {shape_str(np.shape(array))}, but it needs one entry per "
                    "example (an array whose first axis is the examples)."
                )
            if first is None:
                first = (subject, len(array))
            elif len(array) != first[1]:
                raise DataError(
                    f"In the {where}, {first[0]} has {first[1]:,} examples but {subject} has {len(array):,}; every input "
                    "and label array needs one entry per example."
                )


def _hold_out(pool: Split, fraction: float, what: str, title: str) -> tuple[Split, Split]:
    n = len(pool)
    keep = int(math.floor(n * (1.0 - fraction)))
    if keep <= 0:
        raise DataError(
            f"{what} leaves no training examples: {title} has {n:,} examples and keeping {1 - fraction:g} of them "
            "gives 0. Use a smaller fraction or more data."
        )
    if keep >= n:
        raise DataError(
            f"{what} holds out no examples: {title} has only {n:,} examples left, and {fraction:g} of them rounds "
            "down to 0. Use a larger fraction or more data, or set it to 0."
        )
    return pool.take(slice(0, keep)), pool.take(slice(keep, n))


def _subject(split: Split, key: str, where: str) -> str:
    origin = split.origins.get(key)
    return f"`data.{key}` ({origin or where})"


# ---- checks and adaptation ----------------------------------------------------------------------------------


def _fits(actual: tuple, expected: tuple) -> bool:
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))


def _is_numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuf"


def _adapt_strings(array: np.ndarray, expected: tuple, mismatch: Callable[[str], DataError]) -> np.ndarray:
    """A string input's examples as an object array of str, with a trailing axis of 1 added where the input has it."""
    if array.dtype.kind not in "OUS" or (
        array.dtype.kind == "O" and not all(isinstance(v, (str, bytes)) for v in array.reshape(-1))
    ):
        raise mismatch(" A string input takes texts (strings).")
    adapted = array.astype(object) if array.dtype.kind != "O" else array
    if len(expected) == array.ndim and expected and expected[-1] == 1:
        adapted = adapted[..., np.newaxis]
    if not _fits(adapted.shape[1:], expected):
        raise mismatch("")
    return adapted


def _non_integral(array: np.ndarray) -> Any:
    """The first value of a float array that is not an integer, or None."""
    bad = ~np.isfinite(array) | (np.floor(array) != array)
    if bad.any():
        return array.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
    return None


def _first_nonfinite(array: Any) -> tuple[int, tuple[int, ...], float] | None:
    """(example index, position within the example, value) of a float array's first NaN, inf or -inf; else None."""
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.ndim == 0:
        return None
    finite = np.isfinite(array)
    if finite.all():
        return None
    index = np.unravel_index(int(np.argmin(finite.reshape(-1))), array.shape)
    return int(index[0]), tuple(int(i) for i in index[1:]), float(array[index])


def _position(position: tuple[int, ...]) -> str:
    return f" at position {list(position)} of the example" if position else ""


def _nonfinite_error(where: str, found: tuple[int, tuple[int, ...], float]) -> DataError:
    """`where`: the array, e.g. "field 'x' of data.npz" or "`data.inputs.x` (...) in the training split"."""
    example, position, value = found
    return DataError(
        f"Example {example} (counting from 0) of {where} holds {value}{_position(position)}, which is not a finite "
        "number; expected finite numbers (NaN, inf and -inf cannot be trained on)."
    )


def _refuse_nonfinite(split: Split, key: str, where: str, array: np.ndarray, cast: np.ndarray | None = None) -> None:
    """Refuse NaN or infinity in `array`; with `cast` (the array in the model's dtype), refuse values it overflows."""
    subject = f"{_subject(split, key, where)} in the {where}"
    if cast is None:
        found = _first_nonfinite(array)
        if found is not None:
            raise _nonfinite_error(subject, found)
        return
    found = _first_nonfinite(cast)
    if found is not None:
        example, position, value = found
        original = array[(example, *position)]
        raise DataError(
            f"Example {example} (counting from 0) of {subject} holds {float(original)!r}{_position(position)}, which is "
            f"outside the range of {cast.dtype} (it would become {value}); expected finite numbers of at most "
            f"{float(np.finfo(cast.dtype).max):g} in magnitude."
        )


def _cast(array: np.ndarray, dtype: Any) -> np.ndarray:
    """`array` as `dtype`; a value too large for it becomes inf quietly (`_refuse_nonfinite` names it)."""
    with np.errstate(over="ignore"):
        return array.astype(dtype, copy=False)


def _loss_for(training: Training, output: str) -> Any:
    loss = training.loss
    if isinstance(loss, dict):
        return loss.get(output)
    return loss


def _loss_name(loss: Any) -> str:
    return loss if isinstance(loss, str) else loss.type


def _adapt_input(split: Split, name: str, tensor: Any, inference: Inference, where: str) -> np.ndarray:
    array = np.asarray(split.x[name])
    key = f"inputs.{name}"
    expected = tuple(tensor.shape[1:])
    dtype = tensor.dtype

    def mismatch(extra: str = "") -> DataError:
        return DataError(
            f"{_subject(split, key, where)} has examples of shape {shape_str(array.shape[1:])} and dtype {array.dtype}, "
            f"but model input '{name}' expects shape {shape_str(expected)} and dtype {dtype}.{extra}"
        )

    if dtype == "string":
        return _adapt_strings(array, expected, mismatch)
    if not _is_numeric(array):
        raise mismatch(" Only numeric arrays can be fed to a model input.")
    _refuse_nonfinite(split, key, where, array)
    adapted = array
    if len(expected) == array.ndim and expected[-1] == 1:
        adapted = array[..., np.newaxis]
    if not _fits(adapted.shape[1:], expected):
        raise mismatch()
    target = np.dtype(dtype) if dtype != "bfloat16" else np.dtype("float32")
    if dtype in ("float16", "bfloat16", "float32", "float64"):
        cast = _cast(adapted, target)
        _refuse_nonfinite(split, key, where, adapted, cast)
        return cast
    if dtype == "bool":
        if adapted.dtype.kind != "b":
            if not np.isin(adapted, (0, 1)).all():
                raise mismatch(" A bool input takes bool arrays, or numbers that are all 0 or 1.")
        return adapted.astype(bool, copy=False)
    # integer input
    if adapted.dtype.kind == "f":
        bad = _non_integral(adapted)
        if bad is not None:
            raise mismatch(
                f" Its values are not all integers (e.g. {bad!r}), so they cannot become {dtype} without changing them."
            )
    if adapted.size and adapted.dtype.kind != "b":
        info = np.iinfo(target)
        low, high = adapted.min(), adapted.max()
        if low < info.min or high > info.max:
            raise mismatch(f" Its values range over [{low}, {high}], outside {dtype}'s range [{info.min}, {info.max}].")
    adapted = adapted.astype(target, copy=False)
    consumers = _embedding_consumers(inference, name)
    if consumers and adapted.size:
        layer, dim = min(consumers, key=lambda c: c[1])
        low, high = int(adapted.min()), int(adapted.max())
        if low < 0 or high >= dim:
            bad = high if high >= dim else low
            raise DataError(
                f"{_subject(split, key, where)} holds the id {bad}, but model input '{name}' feeds the Embedding layer "
                f"'{layer}' with input_dim {dim}, which accepts ids in [0, {dim}). Raise input_dim or limit the "
                "vocabulary of the data (text_directory: max_tokens)."
            )
    return adapted


def _sequence_or_group_ids(
    split: Split, name: str, full: tuple, kind: str, array: np.ndarray, received: str, loss_text: str, where: str
) -> np.ndarray:
    """Circle's labels: one integer group id per example (shape () or (1,)). CTC's: a sequence of class ids per
    example (shape (L,)), padded with the blank 0, each id below the output's number of classes (its last axis)."""
    key = f"labels.{name}"
    if kind == "ids":
        ids = array[..., 0] if array.ndim == 2 and array.shape[1] == 1 else array
        if ids.ndim != 1:
            raise DataError(f"{received}, but output '{name}'{loss_text} expects one integer group id per example.")
        what = "integer group ids"
    else:
        ids = array
        if ids.ndim != 2:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects one sequence of class ids per example, shape "
                "(L,) (padded with the blank 0)."
            )
        what = "integer class ids"
    if ids.dtype.kind == "f":
        bad = _non_integral(ids)
        if bad is not None:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects {what}; the value {bad!r} is not an integer."
            )
    if kind == "ctc" and ids.size:
        classes = full[-1]
        steps = full[0] if len(full) > 1 else None
        valid = (ids >= 0) & (ids < classes) if classes is not None else ids >= 0
        if not valid.all():
            bad = ids.reshape(-1)[int(np.argmin(valid.reshape(-1)))]
            raise DataError(
                f"{_subject(split, key, where)} holds the class id {int(bad)}, but output '{name}' has {classes} "
                f"classes (0 is the blank): class ids must be in [0, {classes})."
            )
        if steps is not None and ids.shape[1] > steps:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} has {steps} steps: a label sequence of "
                f"{ids.shape[1]} cannot be aligned to fewer steps (CTC needs at least as many steps as labels)."
            )
    return ids.astype(np.int32)


def _adapt_labels(split: Split, name: str, tensor: Any, loss: Any, where: str) -> np.ndarray:
    from ..spec.training import loss_kind

    array = np.asarray(split.y[name])
    key = f"labels.{name}"
    full = tuple(tensor.shape[1:])
    kind = loss_kind(loss) if loss is not None else "regression"
    loss_text = f" with loss {_loss_name(loss)}" if loss is not None else ""
    received = (
        f"{_subject(split, key, where)} has examples of shape {shape_str(array.shape[1:])} and dtype {array.dtype}"
    )

    if not _is_numeric(array):
        raise DataError(f"{received}, but output '{name}'{loss_text} needs numeric labels.")
    _refuse_nonfinite(split, key, where, array)
    if kind in ("ids", "ctc"):
        return _sequence_or_group_ids(split, name, full, kind, array, received, loss_text, where)
    if kind in ("sparse", "one_hot"):
        classes = full[-1] if full else None
        ids_shape = full[:-1]
        ids = None
        if kind == "sparse" or (classes is not None and not _fits(array.shape[1:], full)):
            if _fits(array.shape[1:], ids_shape):
                ids = array
            elif _fits(array.shape[1:], ids_shape + (1,)):
                ids = array[..., 0]
        if kind == "sparse" and ids is None:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects integer class ids of shape {shape_str(ids_shape)} "
                f"(or {shape_str(ids_shape + (1,))}) in [0, {classes})."
            )
        if ids is not None:
            if ids.dtype.kind == "f":
                bad = _non_integral(ids)
                if bad is not None:
                    raise DataError(
                        f"{received}, but output '{name}'{loss_text} expects integer class ids; the value {bad!r} "
                        "is not an integer."
                    )
            ignore = getattr(loss, "ignore_class", None)
            if ids.size and classes is not None:
                valid = (ids >= 0) & (ids < classes)
                if ignore is not None:
                    valid |= ids == ignore
                if not valid.all():
                    bad = ids.reshape(-1)[int(np.argmin(valid.reshape(-1)))]
                    bad = int(bad) if float(bad).is_integer() else bad
                    extra = f" (or the ignore_class {ignore})" if ignore is not None else ""
                    raise DataError(
                        f"{_subject(split, key, where)} holds the class id {bad}, but output '{name}' has {classes} "
                        f"classes: class ids must be in [0, {classes}){extra}."
                    )
            ids = ids.astype(np.int32)
            if kind == "sparse":
                return ids
            # one-hot: integer ids are encoded (taken above only where the number of classes is known)
            assert classes is not None
            valid_ids = np.clip(ids, 0, classes - 1)
            encoded = np.eye(classes, dtype=np.float32)[valid_ids]
            if ignore is not None:
                encoded[ids == ignore] = 0.0
            return encoded
        if not _fits(array.shape[1:], full):
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects one-hot labels of shape {shape_str(full)} "
                f"(float), or integer class ids of shape {shape_str(ids_shape)} (encoded automatically)."
            )
        cast = _cast(array, np.float32)
        _refuse_nonfinite(split, key, where, array, cast)
        return cast

    # binary, regression
    adapted = array
    if not _fits(array.shape[1:], full) and full and full[-1] == 1 and _fits(array.shape[1:], full[:-1]):
        adapted = array[..., np.newaxis]
    if not _fits(adapted.shape[1:], full):
        also = f" (or {shape_str(full[:-1])})" if full and full[-1] == 1 else ""
        raise DataError(
            f"{received}, but output '{name}'{loss_text} expects labels of shape {shape_str(full)}{also}, "
            "numeric (cast to float32)."
        )
    cast = _cast(adapted, np.float32)
    _refuse_nonfinite(split, key, where, adapted, cast)
    adapted = cast
    if kind == "binary" and adapted.size:
        low, high = float(adapted.min()), float(adapted.max())
        if low < 0 or high > 1:
            bad = low if low < 0 else high
            raise DataError(
                f"{_subject(split, key, where)} holds the label {bad:g}, but output '{name}'{loss_text} expects "
                "labels in [0, 1] (0/1 classes or probabilities)."
            )
    return adapted


def _embedding_consumers(inference: Inference, input_name: str) -> list[tuple[str, int]]:
    """(node name, input_dim) of the Embedding layers fed by `input_name`, through integer-valued tensors."""
    from ..spec.layers._base import FLOAT_DTYPES

    reach = {input_name}
    found: list[tuple[str, int]] = []
    for node in inference.nodes:
        if not any(ref in reach for ref in node.inputs) or node.layer is None:
            continue
        layer = node.layer
        inner = getattr(layer, "layer", None)
        for candidate in (layer, inner):
            if candidate is not None and getattr(candidate, "type", None) == "Embedding":
                found.append((node.name, int(candidate.input_dim)))
                break
        else:
            if node.output is not None and node.output.dtype not in FLOAT_DTYPES:
                reach.add(node.name)
    return found


# ---- npz ----------------------------------------------------------------------------------------------------


def _npz(source: Any, ctx: _Context) -> _Loaded:
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

    def get(field_name: str) -> _Field | None:
        if field_name in files:
            key = field_name
        elif f"{field_name}_train" in files:
            key = f"{field_name}_train"
        else:
            return None
        test_key = f"{field_name}_test" if f"{field_name}_test" in files and key != f"{field_name}_test" else None
        origin = f"field '{field_name}' of {name}" if key == field_name else f"field '{field_name}' ({key}) of {name}"
        test = read(test_key) if test_key else None
        return _Field(read(key), test, origin, f"field '{field_name}' ({test_key}) of {name}" if test_key else None)

    stems = {k[: -len(suffix)] for k in files for suffix in ("_train", "_test") if k.endswith(suffix)}
    available = sorted(stems | {k for k in files if not k.endswith(("_train", "_test"))})
    return _Loaded(name, available, get, "x", "y", close=archive.close)


def _need_file(path: pathlib.Path, given: str, what: str) -> None:
    if not path.exists():
        resolved = "" if str(path) == given else f" (resolved from '{given}')"
        raise DataError(f"The {what} file {path}{resolved} does not exist; expected a readable file.")
    if not path.is_file():
        raise DataError(f"{path} is not a file; the {what} source expects a file.")


# ---- csv ----------------------------------------------------------------------------------------------------


def _csv_source(source: Any, ctx: _Context) -> _Loaded:
    path = ctx.resolve(source.path)
    _need_file(path, source.path, "csv")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(_csv.reader(f, delimiter=source.delimiter))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason}); expected a CSV file with a header row.") from None
    except (OSError, _csv.Error) as exc:
        raise DataError(f"{path} cannot be read as CSV: {exc}.") from None
    # skip blank lines (the csv module gives []), remembering file line numbers
    numbered = [(i + 1, row) for i, row in enumerate(rows) if row]
    if not numbered:
        raise DataError(f"{path} is empty; expected a header row naming the columns, then one row per example.")
    header = [h.strip() for h in numbered[0][1]]
    body = numbered[1:]
    if not body:
        raise DataError(f"{path} has a header but no rows; expected one row per example.")
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise DataError(f"The column '{h}' appears twice in the header of {path}; expected unique column names.")
        seen.add(h)
    for line, row in body:
        if len(row) != len(header):
            raise DataError(
                f"Line {line} of {path} has {len(row)} values, but the header has {len(header)} columns; expected "
                "one value per column in every row."
            )
    cache: dict[str, np.ndarray] = {}
    # the fields that feed string model inputs (None: the default, every column the labels leave) keep their text
    text_fields = {m for n, m in ctx.input_fields(None).items() if ctx.inference.inputs[n].dtype == "string"}

    def column(col: str, text: bool = False) -> np.ndarray:
        if text:
            return np.array([row[header.index(col)] for _, row in body], dtype=object)
        if col not in cache:
            j = header.index(col)
            cells = [row[j] for _, row in body]
            try:
                values = np.array(cells, dtype=np.float64)
            except ValueError:
                for r, (line, row) in enumerate(body, start=1):
                    try:
                        float(row[j])
                    except ValueError:
                        raise DataError(
                            f"Row {r} (line {line}) of {path}, column '{col}', holds {row[j]!r}, which is not a number; "
                            "every column used as an input or a label must be numeric."
                        ) from None
                raise
            finite = np.isfinite(values)
            if not finite.all():
                r = int(np.argmin(finite))
                line, row = body[r]
                raise DataError(
                    f"Row {r + 1} (line {line}) of {path}, column '{col}', holds {row[j]!r}, which is not a finite "
                    "number; every column used as an input or a label must hold finite numbers (NaN, inf and -inf "
                    "cannot be trained on)."
                )
            cache[col] = values
        return cache[col]

    def columns_of(field_name: str) -> list[str] | None:
        if field_name in header:
            return [field_name]
        if "," in field_name:
            names = [p.strip() for p in field_name.split(",")]
            return names if all(n in header for n in names) else None
        if "*" in field_name or "?" in field_name or "[" in field_name:
            matched = [h for h in header if fnmatch.fnmatchcase(h, field_name)]
            return matched or None
        return None

    def describe(cols: list[str]) -> str:
        if len(cols) == 1:
            return f"column '{cols[0]}'"
        if len(cols) <= 6:
            return "columns " + ", ".join(f"'{c}'" for c in cols)
        return f"{len(cols)} columns ('{cols[0]}' ... '{cols[-1]}')"

    def get(field_name: str) -> _Field | None:
        cols = columns_of(field_name)
        if cols is None:
            return None
        text = field_name in text_fields
        if field_name in header:
            array = column(field_name, text)
        else:
            array = np.stack([column(c, text) for c in cols], axis=1)
        return _Field(array, None, f"{describe(cols)} of {path.name}")

    def rest(label_fields: list[str]) -> str:
        used: set[str] = set()
        for f in label_fields:
            used.update(columns_of(f) or [])
        others = [h for h in header if h not in used]
        if not others:
            raise DataError(
                f"{path} has no columns left for the model input once the labels ({', '.join(sorted(used))}) are taken; "
                "expected feature columns besides the label column."
            )
        if None in text_fields:
            text_fields.add(",".join(others))
        return ",".join(others)

    def preprocessing(field_name: str) -> dict[str, Any]:
        if field_name in text_fields:  # read by the model's text layers as they are
            return dict(RAW_TEXT, columns=columns_of(field_name) or [], delimiter=source.delimiter)
        return {"kind": "columns", "columns": columns_of(field_name) or [], "delimiter": source.delimiter}

    return _Loaded(
        path.name,
        header,
        get,
        None,
        "label",
        rest=rest,
        describe=preprocessing,
        columns=lambda field_name: columns_of(field_name) or [],
    )


# ---- image and text directories -------------------------------------------------------------------------------


def _class_files(
    path: pathlib.Path, given: str, extensions: tuple[str, ...], what: str
) -> tuple[list[str], list[pathlib.Path], np.ndarray]:
    if not path.is_dir():
        resolved = "" if str(path) == given else f" (resolved from '{given}')"
        raise DataError(
            f"The {what} {path}{resolved} is not a directory; expected a directory with one sub-directory per class."
        )
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[pathlib.Path] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        found = sorted(
            p
            for p in (path / name).rglob("*")
            if p.is_file() and p.name.lower().endswith(extensions) and not p.name.startswith(".")
        )
        files.extend(found)
        labels.extend([i] * len(found))
    if not files:
        kinds = " ".join(extensions)
        raise DataError(
            f"The {what} {path} holds no {kinds} files in class sub-directories (found {len(classes)} sub-directories); "
            "expected one sub-directory per class, each holding the examples of that class."
        )
    return classes, files, np.asarray(labels, dtype=np.int32)


def _image_directory(source: Any, ctx: _Context) -> _Loaded:
    import tensorflow as tf

    path = ctx.resolve(source.path)
    classes, files, labels = _class_files(path, source.path, IMAGE_EXTENSIONS, "image directory")
    image_size = tuple(source.image_size)  # resolve_source has filled in what the model implies
    color_mode = source.color_mode
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
    images = np.empty((len(files), image_size[0], image_size[1], channels), dtype=np.float32)
    for i, file in enumerate(files):
        try:
            decoded = tf.io.decode_image(tf.io.read_file(str(file)), channels=channels, expand_animations=False)
        except (tf.errors.OpError, ValueError) as exc:
            message = (
                getattr(exc, "message", str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise DataError(
                f"The image {file} cannot be decoded ({message}); expected a PNG, JPEG, BMP or GIF image."
            ) from None
        images[i] = tf.image.resize(decoded, image_size, method="bilinear").numpy()
    origin_dir = f"{len(classes)} class sub-directories of {path}"
    fields = {
        "image": _Field(images, None, f"images from the {origin_dir}, {image_size[0]}x{image_size[1]} {color_mode}"),
        "label": _Field(labels, None, f"class ids from the {origin_dir}"),
    }
    decoding = {
        "kind": "image",
        "image_size": [int(image_size[0]), int(image_size[1])],
        "color_mode": color_mode,
        "channels": channels,
        "interpolation": "bilinear",
        "value_range": [0, 255],  # not rescaled: decoded 8-bit values, resized
        "extensions": list(IMAGE_EXTENSIONS),
    }

    def describe(field_name: str) -> dict[str, Any]:
        return dict(decoding) if field_name == "image" else {"kind": "array", "field": field_name}

    return _Loaded(
        f"image directory {path}",
        sorted(fields),
        fields.get,
        "image",
        "label",
        class_names=classes,
        class_field="label",
        describe=describe,
    )


def _text_directory(source: Any, ctx: _Context) -> _Loaded:
    path = ctx.resolve(source.path)
    classes, files, labels = _class_files(path, source.path, TEXT_EXTENSIONS, "text directory")
    texts = []
    for file in files:
        try:
            texts.append(file.read_bytes().decode("utf-8", errors="replace"))
        except OSError as exc:
            raise DataError(f"The text file {file} cannot be read: {exc.strerror or exc}.") from None
    text_array = np.array(texts, dtype=object)
    max_tokens, sequence_length = source.max_tokens, source.sequence_length  # see resolve_source
    origin_dir = f"{len(classes)} class sub-directories of {path}"
    fields = {
        "text": _Field(text_array, None, f"texts from the {origin_dir}, as token ids"),
        "label": _Field(labels, None, f"class ids from the {origin_dir}"),
    }

    def finish(train: Split, validation: Split | None, test: Split | None) -> dict[str, dict[str, Any]]:
        import keras

        described: dict[str, dict[str, Any]] = {}
        for name in [k for k, v in train.x.items() if v.dtype == object]:
            if ctx.inference.inputs[name].dtype == "string":  # the model's own text layers read the raw texts
                described[name] = dict(RAW_TEXT)
                continue
            try:
                if ctx.vocabulary is not None:  # a trained run's: new texts get the ids it was trained on
                    layer = keras.layers.TextVectorization(
                        max_tokens=max_tokens, output_sequence_length=sequence_length, vocabulary=ctx.vocabulary
                    )
                else:
                    layer = keras.layers.TextVectorization(
                        max_tokens=max_tokens, output_sequence_length=sequence_length
                    )
                    layer.adapt(train.x[name].astype(str))
            except ValueError as exc:
                raise DataError(
                    f"The texts of {path} cannot be vectorised with max_tokens={max_tokens} and "
                    f"sequence_length={sequence_length}: {exc}"
                ) from None
            for split in (train, validation, test):
                if split is not None:
                    split.x[name] = np.asarray(layer(split.x[name].astype(str))).astype(np.int32)
            config = layer.get_config()
            described[name] = {
                "kind": "text",
                "vocabulary": [str(t) for t in layer.get_vocabulary()],
                "max_tokens": int(max_tokens),
                "sequence_length": int(sequence_length),
                "standardize": config["standardize"],
                "split": config["split"],
                "output_mode": config["output_mode"],
                "encoding": "utf-8",  # how the files are decoded (then TextVectorization's own utf-8)
                "errors": "replace",
            }
        return described

    return _Loaded(
        f"text directory {path}",
        sorted(fields),
        fields.get,
        "text",
        "label",
        class_names=classes,
        class_field="label",
        finish=finish,
    )


# ---- keras datasets (local cache only) ------------------------------------------------------------------------


def keras_cache_dirs() -> list[pathlib.Path]:
    """Where Keras's get_file caches datasets, most likely first: $KERAS_HOME/datasets (default ~/.keras), then /tmp/.keras."""
    home = os.environ.get("KERAS_HOME")
    if home:
        base = pathlib.Path(os.path.expanduser(home))
    else:
        user = os.path.expanduser("~")
        base = pathlib.Path(user if os.access(user, os.W_OK) else "/tmp") / ".keras"
    out = [base / "datasets", pathlib.Path("/tmp/.keras/datasets")]
    return list(dict.fromkeys(out))


def _cached(relative: str) -> pathlib.Path | None:
    for d in keras_cache_dirs():
        p = d / relative
        if p.exists():
            return p
    return None


def _not_cached(name: str, relative: list[str], url: str) -> DataError:
    base = keras_cache_dirs()[0]
    paths = [str(base / r) for r in relative]
    expected = paths[0] if len(paths) == 1 else ", ".join(paths[:-1]) + " and " + paths[-1]
    what = "the file" if len(paths) == 1 else "the files"
    return DataError(
        f"Dataset '{name}' is not in the local Keras cache: expected {expected}. This machine cannot download it; "
        f"copy {what} there (from {url}) or set KERAS_HOME."
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (and plain Python containers) only: any other global is refused, so a tampered
    file cannot run code. The same allow-list Keras uses for its IMDB, Reuters and CIFAR files."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        }
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}'")


def _read_object_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                buffer = io.BytesIO(archive.read(member))
                try:
                    arrays[member[:-4]] = np.lib.format.read_array(buffer, allow_pickle=False)
                except ValueError:
                    buffer.seek(0)
                    version = np.lib.format.read_magic(buffer)
                    if version[0] == 1:
                        np.lib.format.read_array_header_1_0(buffer)
                    else:
                        np.lib.format.read_array_header_2_0(buffer)
                    arrays[member[:-4]] = _NumpyOnlyUnpickler(buffer).load()
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"The cached file {path} cannot be read ({exc}); delete it and copy a fresh one.") from None
    return arrays


def _read_npz(path: pathlib.Path, keys: tuple[str, ...]) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return [f[k] for k in keys]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"The cached file {path} cannot be read ({exc}); expected the arrays {', '.join(keys)}. Delete it and copy a fresh one."
        ) from None


def _pad(sequences: list[list[int]], length: int) -> np.ndarray:
    """keras.utils.pad_sequences defaults: pad and truncate at the front, with 0."""
    out = np.zeros((len(sequences), length), dtype=np.int32)
    for i, seq in enumerate(sequences):
        seq = seq[-length:]
        if seq:
            out[i, length - len(seq) :] = seq
    return out


FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _keras_dataset(source: Any, ctx: _Context) -> _Loaded:
    name = source.name
    class_names = None
    settings: dict[str, Any] = {}  # imdb / reuters: how the word ids became the `x` sequences
    if name == "mnist":
        path = _cached("mnist.npz")
        if path is None:
            raise _not_cached(name, ["mnist.npz"], KERAS_ORIGIN + "mnist.npz")
        x_train, y_train, x_test, y_test = _read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
        class_names = [str(i) for i in range(10)]
    elif name == "fashion_mnist":
        x_train, y_train, x_test, y_test = _fashion_mnist()
        class_names = list(FASHION_MNIST_CLASSES)
    elif name == "boston_housing":
        path = _cached("boston_housing.npz")
        if path is None:
            raise _not_cached(name, ["boston_housing.npz"], KERAS_ORIGIN + "boston_housing.npz")
        x, y = _read_npz(path, ("x", "y"))
        indices = np.arange(len(x))
        np.random.RandomState(113).shuffle(indices)
        x, y = x[indices], y[indices]
        cut = int(len(x) * (1 - 0.2))
        x_train, y_train, x_test, y_test = x[:cut], y[:cut], x[cut:], y[cut:]
    elif name in ("cifar10", "cifar100"):
        x_train, y_train, x_test, y_test = _cifar(name)
        if name == "cifar10":
            class_names = list(CIFAR10_CLASSES)
    elif name in ("imdb", "reuters"):
        x_train, y_train, x_test, y_test, settings = _sequences(name, ctx)
        if name == "imdb":
            class_names = ["negative", "positive"]
    else:  # pragma: no cover - the spec's Literal lists the names above
        raise DataError(f"Keras dataset '{name}' is not supported.")
    where = f"{name}.npz" if name in ("mnist", "boston_housing", "imdb", "reuters") else f"Keras dataset {name}"
    fields = {
        f: _Field(train, test, f"field '{f}' ({f}_train) of {where}", f"field '{f}' ({f}_test) of {where}")
        for f, train, test in (("x", x_train, x_test), ("y", y_train, y_test))
    }

    def describe(field_name: str) -> dict[str, Any]:
        extra = {"dataset": name, **settings} if field_name == "x" else {}
        return {"kind": "array", "field": field_name, **extra}

    return _Loaded(
        f"Keras dataset {name}", ["x", "y"], fields.get, "x", "y", class_names=class_names, describe=describe
    )


def _fashion_mnist() -> tuple[np.ndarray, ...]:
    files = [
        "train-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ]
    paths = [_cached(f"fashion-mnist/{f}") for f in files]
    missing = [f for f, p in zip(files, paths) if p is None]
    if missing:
        raise _not_cached("fashion_mnist", [f"fashion-mnist/{f}" for f in missing], KERAS_ORIGIN + "<file name>")
    found = [p for p in paths if p is not None]  # all of them (none is missing)
    out = []
    for i in (0, 2):
        try:
            with gzip.open(found[i], "rb") as f:
                raw = f.read()
            labels = np.frombuffer(raw, np.uint8, offset=8)
            with gzip.open(found[i + 1], "rb") as f:
                raw = f.read()
            images = np.frombuffer(raw, np.uint8, offset=16).reshape(len(labels), 28, 28)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(
                f"The cached Fashion-MNIST files {paths[i]} and {paths[i + 1]} cannot be read ({exc}); "
                "delete them and copy fresh ones."
            ) from None
        out.extend([images, labels])
    return out[0], out[1], out[2], out[3]


def _cifar(name: str) -> tuple[np.ndarray, ...]:
    if name == "cifar10":
        folder, target, url = (
            "cifar-10-batches-py",
            "cifar-10-batches-py-target",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        )
        train_members = [f"data_batch_{i}" for i in range(1, 6)]
        test_members = ["test_batch"]
        label_key = "labels"
    else:
        folder, target, url = (
            "cifar-100-python",
            "cifar-100-python-target",
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        )
        train_members, test_members, label_key = ["train"], ["test"], "fine_labels"
    directory = _cached(f"{target}/{folder}") or _cached(folder)
    archive = _cached(f"{target}_archive") or _cached(f"{folder}.tar.gz")
    if directory is None and archive is None:
        raise _not_cached(name, [f"{target}_archive"], url)

    def read(member: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            if directory is not None:
                raw = (directory / member).read_bytes()
            else:
                with tarfile.open(archive, "r:*") as tar:
                    extracted = tar.extractfile(f"{folder}/{member}")
                    if extracted is None:
                        raise OSError(f"{folder}/{member} is not a file in the archive")
                    raw = extracted.read()
            batch = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
            batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
            data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            labels = np.asarray(batch[label_key], dtype=np.uint8).reshape(-1, 1)
        except (
            OSError,
            KeyError,
            ValueError,
            EOFError,
            tarfile.TarError,
            pickle.UnpicklingError,
            AttributeError,
        ) as exc:
            where = directory / member if directory is not None else archive
            raise DataError(
                f"The cached {name} file {where} cannot be read ({exc}); delete it and copy a fresh one."
            ) from None
        return data, labels

    train = [read(m) for m in train_members]
    test = [read(m) for m in test_members]
    return (
        np.concatenate([d for d, _ in train]),
        np.concatenate([y for _, y in train]),
        np.concatenate([d for d, _ in test]),
        np.concatenate([y for _, y in test]),
    )


def _sequences(name: str, ctx: _Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """imdb / reuters: Keras's load_data preprocessing, then padded to the model input's length.

    Returns x_train, y_train, x_test, y_test and the settings used (for LoadedData.preprocessing)."""
    path = _cached(f"{name}.npz")
    if path is None:
        raise _not_cached(name, [f"{name}.npz"], KERAS_ORIGIN + f"{name}.npz")
    arrays = _read_object_npz(path)
    start_char, oov_char, index_from = 1, 2, 3
    rng = np.random.RandomState(113)
    try:
        if name == "imdb":
            x_train, l_train, x_test, l_test = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
            indices = np.arange(len(x_train))
            rng.shuffle(indices)
            x_train, l_train = x_train[indices], l_train[indices]
            indices = np.arange(len(x_test))
            rng.shuffle(indices)
            x_test, l_test = x_test[indices], l_test[indices]
            xs = [[start_char] + [w + index_from for w in x] for x in x_train] + [
                [start_char] + [w + index_from for w in x] for x in x_test
            ]
            labels = np.concatenate([l_train, l_test])
            cut = len(x_train)
        else:
            raw_x, labels = arrays["x"], arrays["y"]
            indices = np.arange(len(raw_x))
            rng.shuffle(indices)
            raw_x, labels = raw_x[indices], labels[indices]
            xs = [[start_char] + [w + index_from for w in x] for x in raw_x]
            cut = int(len(xs) * (1 - 0.2))
    except (KeyError, TypeError, IndexError) as exc:
        raise DataError(
            f"The cached file {path} does not hold the expected {name} arrays ({exc}); delete it and copy a fresh one."
        ) from None
    num_words = ctx.embedding_dim_for_field("x", "x")
    if num_words is None:
        num_words = max((max(x) for x in xs if x), default=0) + 1
    xs = [[w if w < num_words else oov_char for w in x] for x in xs]
    target = ctx.target_of("x", "x")
    length = None
    if target is not None and len(target.shape) == 2:
        length = target.shape[1]
    if length is None:
        length = max((len(x) for x in xs), default=1)
    padded = _pad(xs, length)
    labels = np.asarray(labels)
    settings = {
        "num_words": int(num_words),
        "seed": 113,
        "start_char": start_char,
        "oov_char": oov_char,
        "index_from": index_from,
        "sequence_length": int(length),
        "padding": "pre",
        "truncating": "pre",
    }
    return padded[:cut], labels[:cut], padded[cut:], labels[cut:], settings


# ---- embedded -------------------------------------------------------------------------------------------------


def _embedded(source: Any, ctx: _Context) -> _Loaded:
    from importlib import resources

    resource = resources.files("kspec").joinpath("datasets", "digits.csv.gz")
    try:
        with resource.open("rb") as raw, gzip.open(raw, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    except (OSError, ValueError, EOFError) as exc:  # a broken installation, not user data
        raise DataError(
            f"The embedded dataset 'digits' cannot be read from kspec/datasets/digits.csv.gz ({exc}); reinstall kspec."
        ) from None
    images = table[:, :64].reshape(-1, 8, 8, 1)
    labels = table[:, 64].astype(np.int32)
    image = _Field(images, None, "field 'image' of embedded digits")
    label = _Field(labels, None, "field 'label' of embedded digits")
    fields = {"image": image, "x": image, "label": label, "y": label}
    return _Loaded(
        "embedded digits",
        ["image", "label", "x", "y"],
        fields.get,
        "image",
        "label",
        class_names=[str(i) for i in range(10)],
    )


# ---- synthetic ------------------------------------------------------------------------------------------------


def _concrete_inference(ctx: _Context) -> Inference:
    """The inference with every unknown input dimension made concrete (the first size kspec accepts)."""
    from ..infer import infer
    from ..spec import GraphModel, SequentialModel

    inputs = ctx.inference.inputs
    if all(d is not None for t in inputs.values() for d in t.shape[1:]):
        return ctx.inference
    spec = ctx.spec
    model = spec.model
    for size in SYNTHETIC_SIZES:

        def concrete(shape: tuple, size: int = size) -> tuple:
            return tuple(size if d is None else d for d in shape)

        new_model: SequentialModel | GraphModel
        if isinstance(model, SequentialModel):
            new_model = model.model_copy(
                update={"input": model.input.model_copy(update={"shape": concrete(model.input.shape)})}
            )
        else:
            new_model = model.model_copy(
                update={"inputs": [i.model_copy(update={"shape": concrete(i.shape)}) for i in model.inputs]}
            )
        result = infer(spec.model_copy(update={"model": new_model}))
        if result.complete and not any(d.severity == "error" for d in result.diagnostics):
            return result
    shapes = ", ".join(f"'{n}' {shape_str(t.shape[1:])}" for n, t in inputs.items())
    raise DataError(
        f"Synthetic data needs concrete input shapes, but the model inputs have unknown dimensions ({shapes}) and the "
        f"model accepts none of the sizes {', '.join(map(str, SYNTHETIC_SIZES))} for them; give the input shapes in full "
        "or use a data source with real examples."
    )


def _synthetic(source: Any, ctx: _Context) -> _Loaded:
    seed = source.seed if source.seed is not None else ctx.seed
    rng = np.random.default_rng(seed)
    n = source.samples
    concrete = _concrete_inference(ctx)
    x: dict[str, np.ndarray] = {}
    for name, tensor in concrete.inputs.items():
        shape = (n,) + tuple(tensor.shape[1:])
        dtype = tensor.dtype
        if dtype in ("float16", "bfloat16", "float32", "float64"):
            x[name] = rng.standard_normal(shape).astype(np.float32 if dtype == "bfloat16" else dtype)
        elif dtype == "bool":
            x[name] = rng.random(shape) < 0.5
        elif dtype == "string":  # a few words from a small vocabulary per example
            words = np.array(SYNTHETIC_WORDS, dtype=object)[rng.integers(0, len(SYNTHETIC_WORDS), shape + (3,))]
            x[name] = np.array([" ".join(w) for w in words.reshape(-1, 3)], dtype=object).reshape(shape)
        else:
            consumers = _embedding_consumers(ctx.inference, name)
            vocab = min(d for _, d in consumers) if consumers else 5
            high = min(vocab, int(np.iinfo(dtype).max) + 1)
            x[name] = (rng.integers(1, high, shape) if high > 1 else np.zeros(shape, dtype=np.int64)).astype(dtype)
    y: dict[str, np.ndarray] = {}
    outputs = concrete.output_tensors
    from ..spec.training import loss_kind

    for name in concrete.outputs:
        output = outputs[name]
        assert output is not None  # every output of a checked spec has its tensor
        full = tuple(8 if d is None else d for d in output.shape[1:])
        loss = _loss_for(ctx.spec.training, name)
        kind = loss_kind(loss) if loss is not None else "regression"
        if kind in ("sparse", "one_hot"):
            classes = full[-1]
            ids = rng.integers(0, classes, (n,) + full[:-1]).astype(np.int32)
            y[name] = ids if kind == "sparse" else np.eye(classes, dtype=np.float32)[ids]
        elif kind == "ids":  # Circle: a few groups, so that a batch has examples of one group and of others
            y[name] = rng.integers(0, 4, (n,)).astype(np.int32)
        elif kind == "ctc":  # one label per sequence, never the blank 0
            y[name] = rng.integers(1, max(full[-1], 2), (n, 1)).astype(np.int32)
        elif kind == "binary":
            y[name] = rng.integers(0, 2, (n,) + full).astype(np.float32)
        else:
            y[name] = rng.standard_normal((n,) + full).astype(np.float32)
    origin = f"synthetic, seed {seed}" if seed is not None else "synthetic"
    origins = {f"inputs.{k}": origin for k in x} | {f"labels.{k}": origin for k in y}
    title = f"synthetic ({n:,} samples{', seed ' + str(seed) if seed is not None else ''})"
    return _Loaded(title, [], lambda _: None, None, "", pool=Split(x, y, origins))


def _count_files(path: pathlib.Path, extensions: tuple[str, ...]) -> int:
    count = 0
    for child in path.iterdir():
        if child.is_dir():
            count += sum(1 for p in child.rglob("*") if p.is_file() and p.name.lower().endswith(extensions))
    return count


_LOADERS: dict[str, Callable[[Any, _Context], _Loaded]] = {
    "npz": _npz,
    "csv": _csv_source,
    "image_directory": _image_directory,
    "text_directory": _text_directory,
    "keras_dataset": _keras_dataset,
    "embedded": _embedded,
}
