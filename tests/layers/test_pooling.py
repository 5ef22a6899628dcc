"""Pooling layers against Keras: shapes, dtypes, refusals; one property test."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from kspec.compile import build_layer
from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import FILL, check_layer, check_rejected

M1, M2, M3 = "MaxPooling1D", "MaxPooling2D", "MaxPooling3D"
A1, A2 = "AveragePooling1D", "AveragePooling2D"
GA1, GA2 = "GlobalAveragePooling1D", "GlobalAveragePooling2D"
GM1, GM2 = "GlobalMaxPooling1D", "GlobalMaxPooling2D"
RANK = {M1: 1, M2: 2, M3: 3, A1: 1, A2: 2, GA1: 1, GA2: 2, GM1: 1, GM2: 2}


def spec(type_, **kw):
    return {"type": type_, **kw}


ACCEPTED = [
    (spec(M1), (10, 3)),
    (spec(M1, pool_size=3, strides=1), (10, 3)),
    (spec(M1, pool_size=2, strides=5), (5, 3)),  # strides larger than the window
    (spec(M1, pool_size=4, padding="same"), (9, 2)),
    (spec(M1, pool_size=[3]), (None, 2)),
    (spec(M2), (28, 28, 1)),
    (spec(M2, pool_size=[2, 3], strides=[1, 2]), (7, 9, 2)),
    (spec(M2, pool_size=5, strides=1, padding="same"), (3, 3, 2)),  # window larger than input, padded
    (spec(M2, pool_size=3), (None, 5, 3)),
    (spec(M2), (4, 4, None)),  # unknown channels are fine: no weights
    (spec(M3), (4, 4, 4, 2)),
    (spec(M3, pool_size=[1, 2, 3], strides=2, padding="same"), (5, 6, 7, 1)),
    (spec(A1, pool_size=2), (10, 3)),
    (spec(A1, pool_size=3, strides=2, padding="same"), (10, 3)),
    (spec(A2, pool_size=2), (8, 8, 3)),
    (spec(A2, pool_size=5, strides=4, padding="same"), (3, 3, 2)),
    (spec(A2, pool_size=[3, 1], strides=[1, 1]), (None, None, 4)),
    (spec(GA1), (10, 3)),
    (spec(GA1, keepdims=True), (None, 3)),
    (spec(GA2), (8, 8, 3)),
    (spec(GA2, keepdims=True), (8, None, None)),
    (spec(GM1), (10, 3)),
    (spec(GM1, keepdims=True), (10, 3)),
    (spec(GM2), (None, None, 3)),
    (spec(GM2, keepdims=True), (5, 5, 2)),
]


@pytest.mark.parametrize("spec, shape", ACCEPTED)
def test_pooling_layers_match_keras(spec, shape):
    assert check_layer(spec, shape) is not None


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        (spec(M2), (4, 4, 3), "float16"),
        (spec(M1), (4, 3), "float64"),
        (spec(A1, pool_size=2), (4, 3), "bfloat16"),
        (spec(GA1), (4, 3), "int32"),  # the mean of integers is float32, symbolically and when run
        (spec(GA2, keepdims=True), (4, 4, 3), "uint8"),
        (spec(GM1), (4, 3), "float64"),
    ],
)
def test_pooling_dtypes_match_keras(spec, shape, dtype):
    assert check_layer(spec, shape, [dtype]).output.dtype == "float32"


REJECTED = [
    (spec(M1, pool_size=4), (3, 2)),  # window larger than input
    (spec(M2, pool_size=[2, 5]), (4, 4, 2)),
    (spec(M3), (4, 1, 4, 2)),
    (spec(A1, pool_size=3, strides=1), (2, 1)),
    (spec(A2, pool_size=3, strides=2), (3, 2, 1)),
    (spec(M2), (4, 3)),  # wrong rank
    (spec(M1), (4, 4, 3)),
    (spec(A2, pool_size=2), (4, 4, 4, 3)),
    (spec(GA1), (4, 4, 3)),
    (spec(GA2), (4, 3)),
    (spec(GM1), (3,)),
    (spec(GM2), (4, 4, 4, 3)),
]


@pytest.mark.parametrize("spec, shape", REJECTED)
def test_pooling_layers_refused_like_keras(spec, shape):
    check_rejected(spec, shape)


def test_refusal_message_and_field():
    with pytest.raises(ShapeError) as info:
        parse_layer(spec(M2, pool_size=[2, 5])).infer([Tensor((None, 4, 4, 2))])
    assert info.value.field == "pool_size"
    assert "zero or negative" in str(info.value) and "Received: input_shape=(None, 4, 4, 2)" in str(info.value)


@pytest.mark.parametrize(
    "spec",
    [
        spec(A1),  # pool_size is required for average pooling
        spec(M1, pool_size=0),
        spec(M2, pool_size=[2, 2, 2]),
        spec(M2, strides=0),  # Keras accepts 0 strides until the layer runs
        spec(M1, padding="causal"),
        spec(M1, padding="SAME"),
        spec(M2, data_format="channels_first"),
        spec(GA2, data_format="channels_first"),
        spec(GM1, keepdims=1),
        spec(A2, pool_size="2"),
    ],
)
def test_invalid_arguments_are_schema_errors(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_defaults_and_normalisation():
    layer = parse_layer(spec(M2))
    assert layer.pool_size == (2, 2) and layer.strides is None and layer.padding == "valid"
    assert parse_layer(spec(M3, strides=2)).strides == (2, 2, 2)
    assert parse_layer(spec(A1, pool_size=[3])).pool_size == (3,)


# ---- refusals by policy: Keras builds the layer, but it does not run as declared ----------------


def keras_fails_when_run(spec, shape, dtype="float32"):
    """Keras accepts the layer symbolically, but running it fails, gives an empty output, or gives
    another dtype than it declared. Returns a description of what went wrong (None if nothing did)."""
    import keras

    klayer = build_layer(parse_layer(spec))
    declared = klayer(keras.Input(shape=shape, dtype=dtype))
    concrete = (2,) + tuple(FILL if d is None else d for d in shape)
    data = (np.random.default_rng(0).standard_normal(concrete) * 3).astype(dtype)
    try:
        out = klayer(data)
    except Exception as exc:  # noqa: BLE001 - any failure counts
        return f"fails: {type(exc).__name__}"
    if 0 in tuple(out.shape):
        return f"empty output {tuple(out.shape)}"
    if keras.backend.standardize_dtype(out.dtype) != declared.dtype:
        return f"dtype {out.dtype} instead of {declared.dtype}"
    return None


def kspec_refuses(spec, shape, dtype="float32"):
    try:
        parse_layer(spec).infer([Tensor((None,) + tuple(shape), dtype)])
    except ShapeError:
        return True
    return False


POLICY = [
    (spec(M1), (4, 3), "int32"),  # declared float32, returns int32
    (spec(M2), (4, 4, 3), "uint8"),
    (spec(A1, pool_size=2), (4, 3), "int32"),  # AvgPool has no integer kernel
    (spec(GM1), (4, 3), "int32"),
    (spec(GM2, keepdims=True), (4, 4, 3), "int64"),
    (spec(GM1), (4, 3), "bool"),
]


@pytest.mark.parametrize("spec, shape, dtype", POLICY)
def test_refused_because_keras_fails_when_run(spec, shape, dtype):
    assert kspec_refuses(spec, shape, dtype)
    assert keras_fails_when_run(spec, shape, dtype) is not None


def test_pooling_model_trains_one_step():
    import keras

    x = keras.Input(shape=(9, 9, 2))
    y = keras.layers.Conv2D(3, 2)(x)
    for layer in (spec(M2, pool_size=3, strides=1, padding="same"), spec(A2, pool_size=2), spec(GA2)):
        y = build_layer(parse_layer(layer))(y)
    model = keras.Model(x, y)
    model.compile(optimizer="sgd", loss="mse")
    loss = model.train_on_batch(np.ones((2, 9, 9, 2), "float32"), np.zeros((2, 3), "float32"))
    assert np.isfinite(loss)


# ---- property: kspec and Keras agree on random pooling layers ------------------------------------


@st.composite
def pooling_cases(draw):
    type_ = draw(st.sampled_from(sorted(RANK)))
    rank = RANK[type_]
    axes = lambda s: st.lists(s, min_size=rank, max_size=rank)  # noqa: E731
    layer = {"type": type_}
    if type_.startswith("Global"):
        layer["keepdims"] = draw(st.booleans())
    else:
        if type_.startswith("Average") or draw(st.booleans()):
            layer["pool_size"] = draw(st.one_of(st.integers(1, 4), axes(st.integers(1, 4))))
        layer["strides"] = draw(st.one_of(st.none(), st.integers(1, 4), axes(st.integers(1, 4))))
        layer["padding"] = draw(st.sampled_from(["valid", "same"]))
    dim = st.one_of(st.none(), st.integers(1, 6 if rank == 3 else 10))
    channels = draw(st.one_of(st.none(), st.integers(1, 4)))
    # Now and then a wrong rank.
    n_axes = rank if draw(st.integers(0, 9)) else draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(dim, min_size=n_axes, max_size=n_axes))) + (channels,)
    dtype = draw(st.sampled_from(["float32", "float32", "float32", "float16", "int32"]))
    return layer, shape, dtype


def agree(spec, shape, dtype):
    """kspec accepts exactly what Keras builds and runs as declared; when both accept, they agree."""
    refused = kspec_refuses(spec, shape, dtype)
    filled = tuple(FILL if d is None else d for d in shape)
    try:
        # Run eagerly only where the filled-in shape is valid (a short unknown axis fails when run).
        check_layer(spec, shape, [dtype], eager=not kspec_refuses(spec, filled, dtype))
    except AssertionError as exc:
        if not (refused and "disagreement" in str(exc)):
            raise
        # kspec refused by policy what Keras builds: Keras must not run it as declared.
        assert keras_fails_when_run(spec, shape, dtype) is not None, (spec, shape, dtype)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_cases())
def test_property_pooling_agrees_with_keras(case):
    agree(*case)
