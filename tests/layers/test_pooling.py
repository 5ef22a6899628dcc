"""Pooling layers against Keras: shapes, dtypes, refusals; one property test."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import (
    check_agrees, check_layer, check_refused_when_run, check_rejected, fit_one_step, keras_model, kspec_refusal,
)

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

# Besides a failing run, a refusal is justified where running the layer gives an empty output or
# another dtype than Keras declares.
FAILS = {"wrong_dtype": True, "empty_output": True}

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
    check_refused_when_run(spec, shape, [dtype], **FAILS)


@pytest.mark.parametrize(
    "spec, dtype, policy, backends",
    [
        (spec(A1, pool_size=2), "int32", "portability", ("tensorflow", "torch")),  # JAX averages into float32
        (spec(A2, pool_size=2), "uint8", "portability", ("tensorflow", "torch")),
        (spec(A2, pool_size=2), "bool", None, ()),  # fails on every backend
        (spec(M2), "int32", None, ()),  # returns int32 on every backend
    ],
)
def test_integer_pooling_names_the_failing_backends(spec, dtype, policy, backends):
    shape = (4, 3) if spec["type"].endswith("1D") else (4, 4, 3)
    refusal = kspec_refusal(spec, shape, [dtype])
    assert refusal is not None and (refusal.policy, refusal.backends) == (policy, backends)


def test_pooling_model_trains_one_step():
    layers = [spec(M2, pool_size=3, strides=1, padding="same"), spec(A2, pool_size=2), spec(GA2)]
    model = keras_model(layers, (9, 9, 2), before=[keras.layers.Conv2D(3, 2)])
    assert model.output.shape == (None, 3)
    assert np.isfinite(fit_one_step(model))


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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_cases())
def test_property_pooling_agrees_with_keras(case):
    spec, shape, dtype = case
    check_agrees(spec, shape, [dtype], **FAILS)
