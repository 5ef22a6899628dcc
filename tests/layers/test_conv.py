"""Convolution layers against Keras: shapes, dtypes, parameter counts, refusals; one property test."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from kspec.spec.layers import LAYER_TYPES, ShapeError, Tensor, parse_layer

from .harness import (
    check_agrees, check_layer, check_refused_when_run, check_rejected, fit_one_step, keras_model, kspec_refusal,
)

C1, C2, C3 = "Conv1D", "Conv2D", "Conv3D"
T1, T2, T3 = "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"
S1, S2 = "SeparableConv1D", "SeparableConv2D"
D1, D2 = "DepthwiseConv1D", "DepthwiseConv2D"
RANK = {C1: 1, C2: 2, C3: 3, T1: 1, T2: 2, T3: 3, S1: 1, S2: 2, D1: 1, D2: 2}


def spec(type_, **kw):
    return {"type": type_, **kw}


ACCEPTED = [
    (spec(C1, filters=4, kernel_size=3), (10, 2)),
    (spec(C1, filters=4, kernel_size=3, strides=2, padding="same"), (9, 3)),
    (spec(C1, filters=2, kernel_size=3, padding="causal", dilation_rate=2), (10, 3)),
    (spec(C1, filters=2, kernel_size=4, padding="causal", strides=3), (10, 3)),
    (spec(C1, filters=4, kernel_size=3, groups=2, padding="causal"), (8, 4)),
    (spec(C1, filters=3, kernel_size=[5], use_bias=False, activation="relu"), (5, 1)),  # kernel == input
    (spec(C1, filters=3, kernel_size=3), (None, 3)),
    (spec(C2, filters=8, kernel_size=3), (28, 28, 1)),
    (spec(C2, filters=4, kernel_size=[3, 5], strides=[2, 1], padding="same"), (11, 13, 3)),
    (spec(C2, filters=2, kernel_size=3, dilation_rate=[2, 3]), (12, 12, 2)),
    (spec(C2, filters=6, kernel_size=3, groups=3), (7, 7, 3)),
    (spec(C2, filters=6, kernel_size=2, groups=2, dilation_rate=2, padding="same"), (5, 5, 4)),
    (spec(C2, filters=2, kernel_size=7, padding="same"), (3, 3, 2)),  # kernel larger than input, padded
    (spec(C2, filters=2, kernel_size=2, strides=5, padding="same"), (3, 3, 2)),
    (spec(C2, filters=2, kernel_size=3), (None, None, 3)),
    (
        spec(
            C2, filters=3, kernel_size=2, kernel_initializer={"type": "HeNormal", "seed": 1},
            kernel_regularizer="l2", bias_constraint={"type": "MaxNorm", "max_value": 3.0},
            activity_regularizer={"type": "L1", "l1": 0.001}, activation="gelu",
        ),
        (7, 7, 2),
    ),
    (spec(C3, filters=3, kernel_size=2), (6, 6, 6, 2)),
    (spec(C3, filters=2, kernel_size=3, strides=2, padding="same"), (5, 6, 7, 1)),
    (spec(C3, filters=2, kernel_size=2, dilation_rate=[1, 2, 1], groups=2), (5, 5, 5, 2)),
    (spec(C3, filters=2, kernel_size=[1, 2, 3]), (None, 4, None, 2)),
    (spec(T1, filters=3, kernel_size=3), (5, 2)),
    (spec(T1, filters=3, kernel_size=3, strides=2, padding="same"), (5, 2)),
    (spec(T1, filters=3, kernel_size=3, strides=2, output_padding=1), (5, 2)),
    (spec(T1, filters=3, kernel_size=4, strides=2, padding="same", output_padding=1), (5, 2)),
    (spec(T1, filters=3, kernel_size=2, dilation_rate=2, padding="same", output_padding=0), (5, 2)),  # dilated 3: odd
    (spec(T1, filters=2, kernel_size=3, dilation_rate=2), (5, 3)),
    (spec(T1, filters=2, kernel_size=2, strides=3), (4, 2)),  # strides larger than the kernel
    (spec(T1, filters=2, kernel_size=3, strides=2), (None, 2)),
    (spec(T2, filters=2, kernel_size=3, strides=2, padding="same"), (7, 7, 4)),
    (spec(T2, filters=2, kernel_size=3, strides=[2, 1], padding="same", output_padding=[1, 0]), (4, 5, 3)),
    (spec(T2, filters=2, kernel_size=2, strides=5, output_padding=4), (3, 3, 2)),
    (spec(T2, filters=2, kernel_size=[3, 2], dilation_rate=2), (4, 5, 3)),
    (spec(T2, filters=1, kernel_size=3, use_bias=False, activation="sigmoid"), (3, None, 1)),
    (spec(T3, filters=2, kernel_size=2), (3, 4, 5, 2)),
    (spec(T3, filters=2, kernel_size=3, strides=[2, 1, 2], output_padding=[1, 0, 1]), (3, 3, 3, 1)),
    (spec(T3, filters=2, kernel_size=[2, 3, 2], dilation_rate=[1, 2, 1], padding="same"), (3, 3, 3, 1)),
    (spec(T3, filters=1, kernel_size=2, strides=2, padding="same", output_padding=1), (None, 3, None, 2)),
    (spec(S1, filters=4, kernel_size=3), (10, 3)),
    (spec(S1, filters=4, kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (9, 3)),
    (spec(S1, filters=2, kernel_size=3, strides=2, dilation_rate=2), (12, 2)),  # Keras decomposes this
    (spec(S1, filters=2, kernel_size=6, strides=7, padding="same"), (3, 2)),
    (spec(S2, filters=5, kernel_size=3, depth_multiplier=2, use_bias=False), (8, 8, 3)),
    (spec(S2, filters=3, kernel_size=3, strides=2, dilation_rate=2, padding="same"), (9, 9, 2)),
    (
        spec(S2, filters=3, kernel_size=[2, 3], pointwise_initializer="he_uniform", depthwise_constraint="unit_norm"),
        (None, None, 2),
    ),
    (spec(D1, kernel_size=3), (10, 4)),
    (spec(D1, kernel_size=3, depth_multiplier=3, strides=2, padding="same"), (9, 2)),
    (spec(D1, kernel_size=3, strides=2, dilation_rate=2), (12, 2)),
    (spec(D2, kernel_size=3), (8, 8, 3)),
    (spec(D2, kernel_size=3, depth_multiplier=2, dilation_rate=2), (9, 9, 2)),
    (spec(D2, kernel_size=4, strides=3, dilation_rate=2, padding="same"), (3, 3, 2)),
    (spec(D2, kernel_size=[2, 3], strides=[2, 3], padding="same", use_bias=False), (7, 8, 3)),
    (spec(D2, kernel_size=2, depthwise_regularizer={"type": "L1L2", "l2": 0.01}), (None, 5, 3)),
]


@pytest.mark.parametrize("spec, shape", ACCEPTED)
def test_conv_layers_match_keras(spec, shape):
    assert check_layer(spec, shape) is not None


REJECTED = [
    (spec(C2, filters=2, kernel_size=5), (3, 3, 1)),  # kernel larger than input
    (spec(C1, filters=2, kernel_size=3, dilation_rate=3), (6, 1)),  # dilated kernel 7 > 6
    (spec(C3, filters=2, kernel_size=[2, 2, 4]), (3, 3, 3, 1)),
    (spec(S1, filters=2, kernel_size=4), (3, 2)),
    (spec(D2, kernel_size=[1, 3], dilation_rate=2), (4, 4, 2)),
    (spec(C1, filters=2, kernel_size=3, strides=2, dilation_rate=2), (9, 2)),
    (spec(T2, filters=2, kernel_size=3, strides=2, dilation_rate=[1, 2]), (5, 5, 2)),
    (spec(C2, filters=4, kernel_size=3, groups=3), (6, 6, 3)),  # filters not divisible by groups
    (spec(C2, filters=4, kernel_size=3, groups=2), (6, 6, 3)),  # channels not divisible by groups
    (spec(T1, filters=2, kernel_size=3, strides=2, output_padding=2), (5, 2)),  # output_padding >= strides
    (spec(T2, filters=2, kernel_size=3, output_padding=[0, 1]), (5, 5, 2)),
    (spec(C2, filters=2, kernel_size=2), (5, 3)),  # rank too low
    (spec(C2, filters=2, kernel_size=2), (4, 4, 4, 3)),  # rank too high
    (spec(T2, filters=2, kernel_size=2), (4, 4, 4, 3)),
    (spec(S2, filters=2, kernel_size=2), (4, 4, 4, 3)),
    (spec(D2, kernel_size=2), (4, 4, 4, 3)),
    (spec(D1, kernel_size=2), (4,)),
    (spec(T3, filters=2, kernel_size=2), (4, 4, 3)),
    (spec(T3, filters=2, kernel_size=2), (4, 4, 4, None)),
    (spec(T3, filters=2, kernel_size=3, strides=2, output_padding=[1, 2, 1]), (3, 3, 3, 1)),
    (spec(C2, filters=2, kernel_size=2), (5, 5, None)),  # unknown channels
    (spec(T1, filters=2, kernel_size=2), (5, None)),
    (spec(S1, filters=2, kernel_size=2), (5, None)),
    (spec(D1, kernel_size=2), (5, None)),
]


@pytest.mark.parametrize("spec, shape", REJECTED)
def test_conv_layers_refused_like_keras(spec, shape):
    check_rejected(spec, shape)


def test_refusal_message_and_field():
    layer = parse_layer(spec(C2, filters=2, kernel_size=5))
    with pytest.raises(ShapeError) as info:
        layer.infer([Tensor((None, 3, 3, 1))])
    assert info.value.field == "kernel_size"
    assert "zero or negative" in str(info.value) and "Received: input_shape=(None, 3, 3, 1)" in str(info.value)
    layer = parse_layer(spec(C1, filters=2, kernel_size=3, strides=2, dilation_rate=2))
    with pytest.raises(ShapeError) as info:
        layer.infer([Tensor((None, 9, 2))])
    assert info.value.field == "dilation_rate" and "Received: strides=(2,) and dilation_rate=(2,)" in str(info.value)


@pytest.mark.parametrize(
    "spec",
    [
        spec(C2, filters=2, kernel_size=3, padding="causal"),  # causal is Conv1D's only
        spec(S1, filters=2, kernel_size=3, padding="causal"),
        spec(D1, kernel_size=3, padding="causal"),
        spec(T1, filters=2, kernel_size=3, padding="causal"),
        spec(C1, filters=2, kernel_size=3, padding="SAME"),
        spec(C2, filters=2, kernel_size=0),
        spec(C2, filters=2, kernel_size=[3, 3, 3]),
        spec(C2, filters=0, kernel_size=3),
        spec(C2, filters="8", kernel_size=3),
        spec(C2, filters=2, kernel_size=3, strides=0),
        spec(C2, filters=2, kernel_size=3, data_format="channels_first"),  # channels-last only
        spec(D2, kernel_size=3, depth_multiplier=0),
        spec(T2, filters=2, kernel_size=3, output_padding=-1),
        spec(C2, filters=2, kernel_size=3, groups=0),
        spec(T2, filters=2, kernel_size=3, groups=1),  # not an argument of the transposed convolution
        spec(D2, filters=2, kernel_size=3),
        spec(C2, filters=2),  # kernel_size is required
    ],
)
def test_invalid_arguments_are_schema_errors(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


@pytest.mark.parametrize("type_", sorted(RANK))
def test_arguments_in_keras_order(type_):
    """The fields (in the schema, in error messages) are Keras's arguments, in Keras's order: the
    mixins of the layer classes must come before their family base (see conv.py)."""
    import inspect

    import keras

    ours = [f for f in LAYER_TYPES[type_].model_fields if f not in ("type", "name", "inputs")]
    theirs = [p for p in inspect.signature(getattr(keras.layers, type_)).parameters if p in ours]
    assert ours == theirs


def test_int_tuples_are_normalised():
    layer = parse_layer(spec(T2, filters=2, kernel_size=3, strides=[2, 1], output_padding=1))
    assert layer.kernel_size == (3, 3) and layer.strides == (2, 1) and layer.output_padding == (1, 1)
    assert parse_layer(spec(C1, filters=2, kernel_size=[4])).dilation_rate == (1,)


# ---- refusals by policy: Keras builds the layer, but it does not run -----------------------------

# Besides a failing run, a refusal is justified where running the layer gives an empty output or
# another dtype than Keras declares.
FAILS = {"wrong_dtype": True, "empty_output": True}

POLICY = [
    (spec(C1, filters=2, kernel_size=2), (5, 3), "int32"),
    (spec(D2, kernel_size=2), (5, 5, 3), "int32"),
    (spec(S1, filters=2, kernel_size=2), (5, 3), "uint8"),
    (spec(T1, filters=2, kernel_size=2, strides=2, padding="same", output_padding=0), (5, 3), "float32"),
    (spec(T1, filters=2, kernel_size=2, padding="same", output_padding=0), (3, 3), "float32"),
    (spec(T1, filters=2, kernel_size=2, padding="same", output_padding=0), (1, 3), "float32"),  # empty output
    (spec(T2, filters=2, kernel_size=[3, 4], strides=2, padding="same", output_padding=[1, 0]), (4, 4, 2), "float32"),
    (spec(T3, filters=2, kernel_size=2, padding="same", output_padding=0), (3, 3, 3, 1), "float32"),
    (spec(T3, filters=2, kernel_size=2), (3, 3, 3, 1), "int32"),
]


@pytest.mark.parametrize("spec, shape, dtype", POLICY)
def test_refused_because_keras_fails_when_run(spec, shape, dtype):
    check_refused_when_run(spec, shape, [dtype], **FAILS)


# ---- accepted specs train one step ----------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [
        (spec(C2, filters=4, kernel_size=2, groups=2, dilation_rate=2, padding="same"), (5, 5, 4)),
        (spec(C1, filters=6, kernel_size=3, groups=3, padding="causal", dilation_rate=2), (6, 6)),
        (spec(T2, filters=2, kernel_size=4, strides=2, padding="same", output_padding=1), (3, 3, 2)),
        (spec(S2, filters=3, kernel_size=3, strides=2, dilation_rate=2, padding="same"), (7, 7, 2)),
        (spec(D1, kernel_size=3, strides=2, dilation_rate=2, depth_multiplier=2), (9, 2)),
        (spec(T3, filters=2, kernel_size=3, strides=2, padding="same", dilation_rate=1), (2, 3, 2, 1)),
    ],
)
def test_accepted_specs_train_one_step(spec, shape):
    assert check_layer(spec, shape) is not None
    assert np.isfinite(fit_one_step(keras_model(spec, shape)))


# ---- property: kspec and Keras agree on random convolutions -------------------------------------


@st.composite
def conv_cases(draw):
    type_ = draw(st.sampled_from(sorted(RANK)))
    rank = RANK[type_]
    small = st.integers(1, 3 if rank == 3 else 4)
    axes = lambda s: st.lists(s, min_size=rank, max_size=rank)  # noqa: E731
    layer = {"type": type_, "kernel_size": draw(axes(small)), "strides": draw(axes(st.integers(1, 3)))}
    layer["dilation_rate"] = draw(st.one_of(st.just(1), axes(st.integers(1, 3))))
    paddings = ["valid", "same"] + (["causal"] if type_ == C1 else [])
    layer["padding"] = draw(st.sampled_from(paddings))
    layer["use_bias"] = draw(st.booleans())
    if not type_.startswith("Depthwise"):
        layer["filters"] = draw(st.integers(1, 4))
    if type_.startswith(("Depthwise", "Separable")):
        layer["depth_multiplier"] = draw(st.integers(1, 3))
    if type_ in (C1, C2, C3):
        layer["groups"] = draw(st.integers(1, 3))
    if type_ in (T1, T2, T3):
        layer["output_padding"] = draw(st.one_of(st.none(), axes(st.integers(0, 2))))
    dim = st.one_of(st.none(), st.integers(1, 6 if rank == 3 else 10))
    channels = draw(st.one_of(st.integers(1, 4), st.just(None)) if draw(st.integers(0, 9)) == 0 else st.integers(1, 4))
    shape = tuple(draw(axes(dim))) + (channels,)
    dtype = draw(st.sampled_from(["float32", "float32", "float32", "float64", "int32"]))
    return layer, shape, dtype


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
def test_property_conv_agrees_with_keras(case):
    spec, shape, dtype = case
    check_agrees(spec, shape, [dtype], **FAILS)


def test_integer_inputs_fail_on_the_backends_the_class_names():
    """Which backends fail on an integer input is a fact of the class (`integer_backends`): JAX runs a plain
    convolution of integers, every other kind of convolution fails on every backend."""
    plain = kspec_refusal(spec(C3, filters=2, kernel_size=2), (3, 3, 3, 1), ["int32"])
    transposed = kspec_refusal(spec(T3, filters=2, kernel_size=2), (3, 3, 3, 1), ["int32"])
    assert plain is not None and plain.backends == ("tensorflow", "torch")
    assert transposed is not None and (transposed.backends, transposed.policy) == ((), None)
