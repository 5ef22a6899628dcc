"""Keras is the oracle: a layer spec, inferred by kspec and built by Keras, must agree.

Every helper takes a layer spec (the mapping of one layer), `input_shapes` (one shape, a tuple,
or a list of them; without the batch axis, like `keras.Input(shape=...)`) and `dtypes` (one per
input; float32 when omitted). Unknown (None) dims are filled in with FILL (or other sizes, where a
helper says so) when Keras runs the layer on a random batch of BATCH examples.

The checks, one per idea:
- `check_layer`: both accept, with the same output shape (symbolic, and eager with the unknown
  dims filled in), dtype and parameter counts; or both refuse.
- `check_rejected`: both refuse, symbolically.
- `check_refused_when_run`: kspec refuses what Keras builds symbolically but cannot run.
- `check_agrees`: the oracle of the property tests: kspec accepts exactly what Keras builds and
  runs; where kspec refuses what Keras builds, Keras fails when run (or kspec's refusal is a
  documented policy, `ShapeError.policy`).
- `check_runtime_agreement`: with the unknown dims set to each of several sizes, kspec accepts
  exactly when Keras runs, with the same shape.
- `check_trains`: an accepted spec runs and trains one step.

Which failures of Keras justify a kspec refusal differs between layer families (a failing
training step, an output of another dtype than Keras declares, ...): it is the keyword arguments
of `keras_failure`, which `check_refused_when_run` and `check_agrees` pass on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from kspec.compile import build_layer, call_layer
from kspec.spec.layers import Inferred, ShapeError, Tensor, parse_layer

FILL = 7  # value used for unknown (None) dims when Keras runs a layer
FILLS = (1, 2, 3, 5, 7)  # sizes tried for unknown dims by check_runtime_agreement
BATCH = 2

#: A size for the unknown dims: one int for all, or a function of the axis (counted from 1, after the batch).
Fill = int | Callable[[int], int]

#: What justifies a refusal of a reshaping or preprocessing layer (keyword arguments of `keras_failure`):
#: for some size from 1 to 8 of the unknown dims, Keras fails in training, or returns another dtype
#: than it declares.
FAILS_FOR_SOME_SIZE = {"fills": range(1, 9), "in_training": True, "wrong_dtype": True}


def staggered(axis: int) -> int:
    """A fill that differs on each axis, so that unknown dims that must agree do not agree by chance."""
    return FILL + axis


# ---- inputs -------------------------------------------------------------------------------------


def _inputs(input_shapes, dtypes=None) -> tuple[list[tuple], list[str]]:
    """One shape or a list of shapes, and their dtypes (float32 by default), as two lists."""
    shapes = [input_shapes] if isinstance(input_shapes, tuple) else [tuple(s) for s in input_shapes]
    return shapes, list(dtypes or ["float32"] * len(shapes))


def concrete(shape, fill: Fill = FILL) -> tuple[int, ...]:
    """The shape with each unknown dim set to `fill` (or to `fill(axis)`)."""
    return tuple((fill(axis) if callable(fill) else fill) if d is None else d for axis, d in enumerate(shape, 1))


def random_batch(input_shapes, dtypes=None, fill: Fill = FILL) -> list[np.ndarray]:
    """A batch of BATCH random examples per input, unknown dims filled in: integers in [0, 5) for
    integer dtypes (valid indices for an Embedding of 5 or more), standard normal values otherwise."""
    shapes, dtypes = _inputs(input_shapes, dtypes)
    rng = np.random.default_rng(0)
    out = []
    for shape, dtype in zip(shapes, dtypes):
        size = (BATCH,) + concrete(shape, fill)
        if dtype.startswith(("int", "uint")):
            out.append(rng.integers(0, 5, size=size).astype(dtype))
        else:
            out.append(rng.standard_normal(size=size).astype(dtype))
    return out


# ---- kspec ------------------------------------------------------------------------------------


def kspec_infer(spec: dict, input_shapes, dtypes=None, *, fill: Fill | None = None) -> Inferred:
    """kspec's rule on these inputs, batch size unknown; with `fill`, on a batch of BATCH with the
    unknown dims filled in (the shapes Keras runs on). Raises ShapeError where kspec refuses."""
    shapes, dtypes = _inputs(input_shapes, dtypes)
    if fill is None:
        tensors = [Tensor((None,) + s, d) for s, d in zip(shapes, dtypes)]
    else:
        tensors = [Tensor((BATCH,) + concrete(s, fill), d) for s, d in zip(shapes, dtypes)]
    return parse_layer(spec).apply(tensors)


def kspec_refusal(spec: dict, input_shapes, dtypes=None, *, fill: Fill | None = None) -> ShapeError | None:
    """kspec's ShapeError on these inputs (see `kspec_infer`), or None where it accepts them."""
    try:
        kspec_infer(spec, input_shapes, dtypes, fill=fill)
    except ShapeError as exc:
        return exc
    return None


def kspec_refuses(spec: dict, input_shapes, dtypes=None, *, fill: Fill | None = None) -> bool:
    return kspec_refusal(spec, input_shapes, dtypes, fill=fill) is not None


# ---- Keras ------------------------------------------------------------------------------------


def _build(spec: dict, shapes: list[tuple], dtypes: list[str]) -> tuple[Any, Any, list, Any]:
    """A new Keras layer for the spec, called on `keras.Input`s: (layer spec, Keras layer, inputs,
    symbolic output). Raises whatever Keras raises."""
    import keras

    layer = parse_layer(spec)
    klayer = build_layer(layer)
    kin = [keras.Input(shape=s, dtype=d, batch_size=None) for s, d in zip(shapes, dtypes)]
    return layer, klayer, kin, call_layer(layer, klayer, kin)


def _call(layer, klayer, tensors: list, training: bool | None = None) -> Any:
    """`call_layer`, in training mode if `training` is true."""
    if training is None:
        return call_layer(layer, klayer, tensors)
    if len(tensors) == 1:
        return klayer(tensors[0], training=training)
    if layer.call_style == "positional":
        return klayer(*tensors, training=training)
    return klayer(list(tensors), training=training)


def keras_symbolic(spec: dict, input_shapes, dtypes=None) -> Any:
    """The symbolic output of the Keras layer on `keras.Input`s, or None if Keras refuses."""
    try:
        return _build(spec, *_inputs(input_shapes, dtypes))[3]
    except Exception:  # noqa: BLE001 - any Keras refusal counts
        return None


def keras_run(spec: dict, input_shapes, dtypes=None, *, fill: Fill = FILL, training: bool | None = None) -> Any:
    """The eager output of the Keras layer (built, and called on `keras.Input`s, first) on a random
    batch, or None if Keras fails."""
    shapes, dtypes = _inputs(input_shapes, dtypes)
    try:
        layer, klayer, _, _ = _build(spec, shapes, dtypes)
        return _call(layer, klayer, random_batch(shapes, dtypes, fill), training)
    except Exception:  # noqa: BLE001 - any Keras failure counts
        return None


def keras_model(specs, input_shapes, dtypes=None, *, before: Iterable = (), after: Iterable = ()) -> Any:
    """A Keras model: its inputs, the Keras layers `before`, the layers of `specs` (one spec, or a
    list applied in turn), then the Keras layers `after`."""
    import keras

    shapes, dtypes = _inputs(input_shapes, dtypes)
    inputs = [keras.Input(shape=s, dtype=d) for s, d in zip(shapes, dtypes)]
    x = inputs
    for klayer in before:
        x = [klayer(*x)]
    for spec in [specs] if isinstance(specs, dict) else specs:
        layer = parse_layer(spec)
        x = [call_layer(layer, build_layer(layer), x)]
    for klayer in after:
        x = [klayer(*x)]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], x[0])


def fit_one_step(model, data: list | None = None, target: Any = None) -> float:
    """Compiles the model (SGD, mean squared error) and fits it for one step on `data` (one batch;
    default: a `random_batch` for its inputs); returns the loss. The target defaults to zeros shaped
    like the model's output."""
    if data is None:
        data = random_batch([tuple(t.shape[1:]) for t in model.inputs], [t.dtype for t in model.inputs])
    x = data if len(data) > 1 else data[0]
    if target is None:
        target = np.zeros(tuple(model(x).shape), "float32")
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, target, batch_size=len(data[0]), epochs=1, verbose=0)
    return history.history["loss"][0]


def keras_failure(
    spec: dict,
    input_shapes,
    dtypes=None,
    *,
    at_build: bool = False,
    fills: Iterable[Fill] = (FILL,),
    in_training: bool = False,
    wrong_dtype: bool = False,
    empty_output: bool = False,
    train_step: bool = False,
) -> str | None:
    """How Keras fails on these inputs, in words; None if it runs.

    Keras must build the layer and call it on `keras.Input`s (otherwise this is an error in the
    test: use `check_rejected`), unless `at_build`, where that refusal is a failure. Then, for each
    size in `fills` given to the unknown dims (once if there are none), a layer (a new one for each
    size) is called on a random batch, in inference (or with `in_training`, in training) mode, and
    it fails if the call raises; with `wrong_dtype`, also if its output has another dtype than Keras
    declared; with `empty_output`, also if that output has an axis of size 0; with `train_step`,
    also if a model of the layer then fails a training step (`fit_one_step`).
    """
    import keras

    shapes, dtypes = _inputs(input_shapes, dtypes)
    try:
        built = _build(spec, shapes, dtypes)
    except Exception as exc:  # noqa: BLE001 - any Keras refusal counts
        if at_build:
            return f"refuses to build: {type(exc).__name__}: {exc}"
        raise AssertionError(f"Keras refuses {spec} on {input_shapes} {dtypes} symbolically: use check_rejected") from exc
    seen = set()
    for fill in fills:
        data = random_batch(shapes, dtypes, fill)
        if (key := tuple(d.shape for d in data)) in seen:
            continue
        seen.add(key)
        layer, klayer, kin, declared = built or _build(spec, shapes, dtypes)
        built = None
        try:
            out = _call(layer, klayer, data, True if in_training else None)
        except Exception as exc:  # noqa: BLE001 - any run-time failure counts
            return f"fails when run on {key}: {type(exc).__name__}: {exc}"
        if wrong_dtype and keras.backend.standardize_dtype(out.dtype) != declared.dtype:
            return f"returns dtype {out.dtype} instead of the declared {declared.dtype} on {key}"
        if empty_output and 0 in tuple(out.shape):
            return f"returns an empty output {tuple(out.shape)} on {key}"
        if train_step:
            try:
                fit_one_step(keras.Model(kin, declared), data, np.zeros(tuple(out.shape), "float32"))
            except Exception as exc:  # noqa: BLE001 - any training failure counts
                return f"fails a training step on {key}: {type(exc).__name__}: {exc}"
    return None


# ---- checks -----------------------------------------------------------------------------------


def check_layer(spec: dict, input_shapes, dtypes=None, *, eager: bool = True) -> Inferred | None:
    """kspec and Keras both accept the inputs and agree, or both refuse them (symbolically).

    Agreeing is: the same symbolic output shape and dtype, total and non-trainable parameter
    counts, and (with `eager`) the same output shape when Keras runs the layer on a random batch,
    as kspec infers with the unknown dims filled in. Returns kspec's Inferred, None where both refuse.
    """
    shapes, dtypes = _inputs(input_shapes, dtypes)
    try:
        inferred, kspec_error = kspec_infer(spec, shapes, dtypes), None
    except ShapeError as exc:
        inferred, kspec_error = None, exc
    try:
        layer, klayer, _, out = _build(spec, shapes, dtypes)
        keras_error = None
    except Exception as exc:  # noqa: BLE001 - any Keras refusal counts
        keras_error = exc

    if kspec_error is not None or keras_error is not None:
        assert kspec_error is not None and keras_error is not None, (
            f"disagreement on {spec} with inputs {shapes}: kspec error={kspec_error!r}, keras error={keras_error!r}"
        )
        return None

    assert tuple(out.shape) == inferred.output.shape, (spec, shapes, tuple(out.shape), inferred.output.shape)
    assert str(out.dtype) == inferred.output.dtype, (spec, str(out.dtype), inferred.output.dtype)
    assert klayer.count_params() == inferred.params, (spec, shapes, klayer.count_params(), inferred.params)
    non_trainable = sum(int(np.prod(w.shape)) for w in klayer.non_trainable_weights)
    assert non_trainable == inferred.non_trainable, (spec, non_trainable, inferred.non_trainable)
    # the weights themselves, which the argument objects (initializers, regularizers, constraints) must fit
    keras_weights = sorted(tuple(w.shape) for w in klayer.weights)
    assert keras_weights == sorted(shape for _, shape in inferred.weights), (spec, shapes, keras_weights, inferred.weights)

    if eager:
        y = call_layer(layer, klayer, random_batch(shapes, dtypes))
        expected = kspec_infer(spec, shapes, dtypes, fill=FILL).output.shape
        assert tuple(y.shape) == expected, (spec, shapes, tuple(y.shape), expected)
    return inferred


def check_rejected(spec: dict, input_shapes, dtypes=None) -> None:
    """Both kspec and Keras must refuse, symbolically (the case is meant to be an error)."""
    assert check_layer(spec, input_shapes, dtypes) is None, f"expected both to reject {spec} on {input_shapes}"


def check_refused_when_run(spec: dict, input_shapes, dtypes=None, **justify) -> None:
    """kspec refuses what Keras builds but cannot run: Keras fails in one of the ways that `justify`
    (keyword arguments of `keras_failure`) allows; with `at_build=True`, refusing to build counts too."""
    assert kspec_refuses(spec, input_shapes, dtypes), f"kspec accepts {spec} on {input_shapes} {dtypes}"
    failure = keras_failure(spec, input_shapes, dtypes, **justify)
    assert failure is not None, f"kspec refuses {spec} on {input_shapes} {dtypes}, but Keras runs it"


def check_runtime_agreement(spec: dict, input_shapes, dtypes=None, *, fills: Iterable[Fill] = FILLS) -> None:
    """With the unknown dims set to each size in `fills` (once if there are none): kspec accepts
    exactly when Keras runs the layer (in training and in inference mode), with the same output shape."""
    shapes, dtypes = _inputs(input_shapes, dtypes)
    seen = set()
    for fill in fills:
        filled = [concrete(s, fill) for s in shapes]
        if tuple(filled) in seen:
            continue
        seen.add(tuple(filled))
        refusal = kspec_refusal(spec, filled, dtypes)
        expected = None if refusal is not None else (BATCH,) + kspec_infer(spec, filled, dtypes).output.shape[1:]
        for training in (True, False):
            y = keras_run(spec, shapes, dtypes, fill=fill, training=training)
            got = None if y is None else tuple(y.shape)
            assert got == expected, (spec, shapes, dtypes, fill, training, got, expected)


def check_agrees(
    spec: dict, input_shapes, dtypes=None, *, eager: bool = True, runtime_fills: Iterable[Fill] = (), **justify
) -> Inferred | None:
    """The oracle of the property tests: kspec accepts exactly what Keras builds and runs.

    Where kspec accepts: `check_layer` (eagerly only where kspec accepts the shapes with the unknown
    dims filled in: an unknown dim matched against a known one is fine symbolically, not with the
    fill value); with `runtime_fills`, `check_runtime_agreement` on those sizes too.
    Where kspec refuses: Keras refuses to build the layer, or fails in one of the ways `justify`
    (keyword arguments of `keras_failure`) allows, unless the refusal is a documented kspec policy
    (`ShapeError.policy`: Keras may run it, with a meaning kspec refuses to guess).
    Returns kspec's Inferred, None where kspec refuses.
    """
    refusal = kspec_refusal(spec, input_shapes, dtypes)
    if refusal is None:
        eager = eager and not kspec_refuses(spec, input_shapes, dtypes, fill=FILL)
        inferred = check_layer(spec, input_shapes, dtypes, eager=eager)
        if runtime_fills:
            check_runtime_agreement(spec, input_shapes, dtypes, fills=runtime_fills)
        return inferred
    import keras

    if refusal.policy == "portability" and keras.backend.backend() not in refusal.backends:
        # kspec says Keras runs it on this backend (and fails on the ones it names): it must
        failure = keras_failure(spec, input_shapes, dtypes, wrong_dtype=True, train_step=True)
        assert failure is None, f"kspec says Keras runs {spec} on {input_shapes} {dtypes} here ({refusal}), but it {failure}"
    elif not refusal.policy or refusal.policy == "portability":
        failure = keras_failure(spec, input_shapes, dtypes, **{**justify, "at_build": True})
        assert failure is not None, f"kspec refuses {spec} on {input_shapes} {dtypes} ({refusal}), but Keras runs it"
    return None


def check_trains(spec: dict, input_shapes, dtypes=None) -> bool:
    """Where kspec accepts the inputs (also with the unknown dims filled in), Keras runs the layer and
    trains a model of it one step. Returns whether kspec accepted."""
    if kspec_refuses(spec, input_shapes, dtypes) or kspec_refuses(spec, input_shapes, dtypes, fill=FILL):
        return False
    failure = keras_failure(spec, input_shapes, dtypes, train_step=True)
    assert failure is None, f"kspec accepts {spec} on {input_shapes} {dtypes}; Keras {failure}"
    return True
