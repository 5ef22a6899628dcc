"""`load_data` and `resolve_source`: read a source with its registered loader, map its fields, hold out the test
and validation examples, then check and adapt every array (see the package docstring)."""

from __future__ import annotations

import math
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from .checks import _check_lengths, check_split
from .core import DataError, LoadedData, Split
from .fields import _map_fields, _mapped_fields, _unknown_field
from .loader import LOADERS, Context

if TYPE_CHECKING:  # pragma: no cover
    from ...infer import Inference
    from ...spec import Spec


def load_data(
    spec: Spec,
    inference: Inference,
    *,
    base_dir: pathlib.Path,
    source: Any = None,
    seed: int | None = None,
    vocabulary: list[str] | None = None,
    skip_bad: bool = False,
) -> LoadedData:
    """Load, map, split, check and adapt the examples for `spec` (see the package docstring).

    `vocabulary` (text_directory): a trained run's own vocabulary (index = token id), used instead of
    adapting a new one, so that new texts become the token ids the model was trained on. `skip_bad`: a streamed
    source's bad examples are counted and skipped (`LoadedData.log`) instead of stopping the run."""
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
    ctx = Context(spec, inference, pathlib.Path(base_dir), seed, source)
    ctx.vocabulary = vocabulary
    loaded = LOADERS[source.type].load(source, ctx)
    if loaded.stream is not None:
        return _load_stream(spec, inference, loaded, ctx, seed, skip_bad)
    if loaded.pool is not None:  # the loader mapped its examples itself (synthetic)
        pool, test = loaded.pool, None
        input_fields = {name: name for name in pool.x}
        label_fields = {name: name for name in pool.y}
    else:
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
    if shuffle and len(pool) > 1 and not loaded.shuffled:  # synthetic examples are already i.i.d.
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


def _load_stream(
    spec: Spec, inference: Inference, loaded: Any, ctx: Context, seed: int | None, skip_bad: bool
) -> LoadedData:
    """A streamed source: the hold-outs by example index (the examples an in-memory source of the same order
    holds out for the seed), one StreamSplit per split, and the first examples of each read and checked now."""
    from .stream import StreamLog, StreamSplit

    stream = loaded.stream
    data = spec.data
    input_fields, label_fields = _mapped_fields(loaded, ctx)
    origins: dict[str, str] = {}
    for section, fields in (("inputs", input_fields), ("labels", label_fields)):
        for name, field_name in fields.items():
            if field_name not in stream.fields:
                explicit = name in (ctx.input_map if section == "inputs" else ctx.label_map)
                raise _unknown_field(section, name, field_name, loaded, explicit=explicit)
            origins[f"{section}.{name}"] = stream.fields[field_name].origin
    stream.use(sorted(set(input_fields.values()) | set(label_fields.values())))
    own_test = stream.own_test()  # the source's own test split (then data.test_split does not apply)
    n = stream.count
    order = np.arange(n, dtype=np.int64)
    shuffle = data.shuffle if data is not None else True
    if shuffle and n > 1:
        order = np.random.default_rng(seed).permutation(n)
    test_split = data.test_split if data is not None else 0.0
    test = validation = None
    if test_split > 0 and own_test is None:
        keep = _kept(n, test_split, f"`data.test_split` ({test_split:g})", loaded.title)
        order, test = order[:keep], np.sort(order[keep:])
    if spec.training.validation_split > 0:
        fraction = spec.training.validation_split
        keep = _kept(len(order), fraction, f"`training.validation_split` ({fraction:g})", loaded.title)
        order, validation = order[:keep], np.sort(order[keep:])
    if len(order) == 0:
        raise DataError(f"{loaded.title} has no training examples: expected at least one, received 0.")
    log = StreamLog(skip=skip_bad)

    def check(split: Split, where: str) -> None:
        check_split(split, inference, spec.training, where=where)

    def make(indices: np.ndarray | None, where: str) -> StreamSplit | None:
        if indices is None:
            return None
        return StreamSplit(stream, indices, input_fields, label_fields, origins, where, check, log)

    train = make(np.sort(order), "training split")
    assert train is not None
    learned = stream.prepare(train, ctx.vocabulary)  # a text directory's vocabulary, from the training texts
    validation_split = make(validation, "validation split")
    test_split_ = make(test, "test split")
    if own_test is not None:
        test_origins = {
            f"{section}.{name}": own_test.fields[field_name].origin
            for section, fields in (("inputs", input_fields), ("labels", label_fields))
            for name, field_name in fields.items()
        }
        everything = np.arange(own_test.count, dtype=np.int64)
        test_split_ = StreamSplit(
            own_test, everything, input_fields, label_fields, test_origins, "test split", check, log
        )
    if validation_split is None and spec.training.validation_data == "test":
        validation_split = test_split_
    for split in {id(s): s for s in (train, validation_split, test_split_) if s is not None}.values():
        split.peek()  # the first examples' shapes, dtypes and values, checked before anything is created
    counts = [f"{len(train):,} train"]
    if validation_split is not None and validation_split is not test_split_:
        counts.append(f"{len(validation_split):,} validation")
    if test_split_ is not None:
        also = " (also the validation data)" if validation_split is test_split_ else ""
        counts.append(f"{len(test_split_):,} test{also}")
    label_names = {
        name: list(loaded.class_names)
        for name, field_name in label_fields.items()
        if loaded.class_field is not None and field_name == loaded.class_field and loaded.class_names is not None
    }
    return LoadedData(
        train,  # type: ignore[arg-type]
        validation_split,  # type: ignore[arg-type]
        test_split_,  # type: ignore[arg-type]
        f"{loaded.title}: {' / '.join(counts)} examples (streamed)",
        class_names=loaded.class_names,
        label_names=label_names,
        preprocessing={name: learned.get(field) or loaded.describe(field) for name, field in input_fields.items()},
        vocabulary=next((d["vocabulary"] for d in learned.values() if "vocabulary" in d), None),
        label_columns={name: loaded.columns(f) for name, f in label_fields.items()} if loaded.columns else {},
        log=log,
    )


def _kept(n: int, fraction: float, what: str, title: str) -> int:
    """How many of `n` examples stay when `fraction` is held out (the messages of `_hold_out`)."""
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
    return keep


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
    loader = LOADERS.get(source.type) if source is not None else None
    if loader is None or (loader.resolve is None and not loader.fallbacks):
        return source
    ctx = Context(spec, inference, pathlib.Path("."), None, source)
    given = {name for name in type(source).model_fields if getattr(source, name) is not None}
    update: dict[str, Any] = loader.resolve(source, ctx, given) if loader.resolve is not None else {}
    for name, fallback in loader.fallbacks.items():
        if name not in given and name not in update:
            update[name] = fallback
    return source.model_copy(update=update) if update else source


def _need_backend(inference: Inference) -> None:
    """Refuse a backend that the model's inputs or layers do not run on: string inputs exist on Keras's TensorFlow
    backend only, and a layer may name the backends it runs on (`keras_backends`: the text layers)."""
    from ...backends import DISPLAY, names

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


def _hold_out(pool: Split, fraction: float, what: str, title: str) -> tuple[Split, Split]:
    n = len(pool)
    keep = _kept(n, fraction, what, title)
    return pool.take(slice(0, keep)), pool.take(slice(keep, n))
