"""Keras is the oracle: one layer spec, inferred by kspec and built by Keras, must agree.

`check_layer(spec, input_shapes)` validates the layer mapping (strictly, as a
spec would), runs kspec's static rule, builds the Keras layer through
`kspec.compile.build_layer`, calls it symbolically on `keras.Input`s and
eagerly on a small random batch, and asserts that
- kspec rejects (ShapeError) exactly when Keras raises, and otherwise
- the output shape (symbolic, and eager with unknown dims filled in), the
  output dtype, the total parameter count and the non-trainable count agree.
Input shapes exclude the batch axis, like `keras.Input(shape=...)`.
"""

from __future__ import annotations

import numpy as np

from kspec.compile import build_layer, call_layer
from kspec.spec.layers import Inferred, ShapeError, Tensor, parse_layer

FILL = 7  # value used for unknown (None) dims in the eager call
BATCH = 2


def _concrete(shape, fill=FILL):
    return tuple(fill if d is None else d for d in shape)


def _random(shape, dtype, rng):
    if dtype.startswith("int") or dtype.startswith("uint"):
        return rng.integers(0, 5, size=shape).astype(dtype)
    return rng.standard_normal(size=shape).astype(dtype)


def check_layer(spec: dict, input_shapes, dtypes=None, *, eager: bool = True) -> Inferred | None:
    """Returns kspec's Inferred when both accept, None when both reject; fails on disagreement."""
    import keras

    if isinstance(input_shapes, tuple):
        input_shapes = [input_shapes]
    dtypes = dtypes or ["float32"] * len(input_shapes)
    layer = parse_layer(spec)
    tensors = [Tensor((None,) + tuple(s), d) for s, d in zip(input_shapes, dtypes)]
    try:
        inferred = layer.infer(tensors)
        kspec_error = None
    except ShapeError as exc:
        inferred, kspec_error = None, exc

    try:
        klayer = build_layer(layer)
        kin = [keras.Input(shape=tuple(s), dtype=d, batch_size=None) for s, d in zip(input_shapes, dtypes)]
        out = call_layer(layer, klayer, kin)
        keras_error = None
    except Exception as exc:  # noqa: BLE001 - any Keras refusal counts
        keras_error = exc

    if kspec_error is not None or keras_error is not None:
        assert kspec_error is not None and keras_error is not None, (
            f"disagreement on {spec} with inputs {input_shapes}: "
            f"kspec error={kspec_error!r}, keras error={keras_error!r}"
        )
        return None

    assert tuple(out.shape) == inferred.output.shape, (spec, input_shapes, tuple(out.shape), inferred.output.shape)
    assert str(out.dtype) == inferred.output.dtype, (spec, str(out.dtype), inferred.output.dtype)
    assert klayer.count_params() == inferred.params, (spec, input_shapes, klayer.count_params(), inferred.params)
    non_trainable = sum(int(np.prod(w.shape)) for w in klayer.non_trainable_weights)
    assert non_trainable == inferred.non_trainable, (spec, non_trainable, inferred.non_trainable)

    if eager:
        rng = np.random.default_rng(0)
        data = [_random((BATCH,) + _concrete(s), d, rng) for s, d in zip(input_shapes, dtypes)]
        y = call_layer(layer, klayer, data)
        # Re-infer with the unknown dims filled in: the eager shape must match that.
        filled = [Tensor((BATCH,) + _concrete(s), d) for s, d in zip(input_shapes, dtypes)]
        expected = layer.infer(filled).output.shape
        assert tuple(y.shape) == expected, (spec, input_shapes, tuple(y.shape), expected)
    return inferred


def check_rejected(spec: dict, input_shapes, dtypes=None) -> None:
    """Both kspec and Keras must refuse (the case is meant to be an error)."""
    assert check_layer(spec, input_shapes, dtypes) is None, f"expected both to reject {spec} on {input_shapes}"
