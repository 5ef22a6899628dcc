"""Pooling layers against Keras: shapes, dtypes, refusals; where Keras's adaptive pooling fails on some backend;
property tests."""

import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from kspec.spec.layers import ShapeError, Tensor, parse_layer
from kspec.spec.layers.pooling import adaptive_windows, windows_wrong_on_jax

from .harness import (
    check_agrees, check_layer, check_refused_when_run, check_rejected, fit_one_step, keras_failure, keras_model,
    keras_run, keras_symbolic, kspec_refusal, random_batch,
)

M1, M2, M3 = "MaxPooling1D", "MaxPooling2D", "MaxPooling3D"
A1, A2, A3 = "AveragePooling1D", "AveragePooling2D", "AveragePooling3D"
GA1, GA2, GA3 = "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"
GM1, GM2, GM3 = "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D"
RANK = {M1: 1, M2: 2, M3: 3, A1: 1, A2: 2, A3: 3, GA1: 1, GA2: 2, GA3: 3, GM1: 1, GM2: 2, GM3: 3}
AA1, AA2, AA3 = "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D"
AM1, AM2, AM3 = "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"
ADAPTIVE_RANK = {AA1: 1, AA2: 2, AA3: 3, AM1: 1, AM2: 2, AM3: 3}


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
    (spec(A3, pool_size=2), (4, 5, 6, 2)),
    (spec(A3, pool_size=[1, 2, 3], strides=2, padding="same"), (5, None, 7, 1)),
    (spec(GA3), (3, 4, 5, 2)),
    (spec(GA3, keepdims=True), (None, 4, None, 2)),
    (spec(GM3), (3, 4, 5, 2)),
    (spec(GM3, keepdims=True), (3, 4, 5, None)),
    (spec(AA1, output_size=3), (10, 3)),
    (spec(AA1, output_size=[5]), (3, 2)),  # more outputs than inputs: windows overlap
    (spec(AM1, output_size=4), (10, 3)),  # 10 / 4: windows of 3, overlapping by one
    (spec(AA2, output_size=[2, 3]), (5, 7, 2)),
    (spec(AM2, output_size=2), (4, 4, None)),  # unknown channels are fine: no weights
    (spec(AA3, output_size=2), (4, 5, 3, 2)),
    (spec(AM3, output_size=[3, 2, 4]), (3, 5, 2, 1)),
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
        (spec(GA3), (2, 2, 2, 3), "int32"),
        (spec(AA1, output_size=2), (4, 3), "float16"),
        (spec(AM2, output_size=2), (4, 4, 3), "float64"),
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
    (spec(A3, pool_size=3), (4, 2, 4, 1)),
    (spec(A3, pool_size=2), (4, 4, 3)),
    (spec(GA3), (4, 4, 3)),
    (spec(GM3), (4, 4, 4, 4, 3)),
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
        spec(A3),  # pool_size is required
        spec(AA1),  # output_size is required
        spec(AA2, output_size=0),  # Keras takes it, and divides by zero when run
        spec(AM2, output_size=[2, 2, 2]),
        spec(AM3, output_size=[2, 2]),
        spec(AA1, output_size=2, data_format="channels_last"),
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
    assert parse_layer(spec(AM3, output_size=2)).output_size == (2, 2, 2)


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
    (spec(A3, pool_size=2), (4, 4, 4, 3), "bool"),
    (spec(GM3), (2, 2, 2, 3), "int32"),
    (spec(AM1, output_size=2), (4, 3), "int32"),  # declared float32, returns int32
    (spec(AA2, output_size=2), (4, 4, 3), "bool"),
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
        (spec(A3, pool_size=2), "int32", "portability", ("tensorflow", "torch")),
        (spec(AA2, output_size=2), "int32", "portability", ("tensorflow", "torch")),  # JAX averages into float32
        (spec(AM2, output_size=2), "int32", None, ()),  # returns int32 (TensorFlow, JAX) or fails (PyTorch)
    ],
)
def test_integer_pooling_names_the_failing_backends(spec, dtype, policy, backends):
    shape = {"1D": (4, 3), "2D": (4, 4, 3), "3D": (4, 4, 4, 3)}[spec["type"][-2:]]
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


# ---- adaptive pooling: the windows, and where Keras's backends fail -------------------------------


def test_adaptive_pooling_averages_the_windows_kspec_describes():
    """Keras's output is the mean (max) of each of `adaptive_windows`: on 5 steps pooled to 3, steps [0, 2), [1, 4)
    and [3, 5), overlapping where the output size does not divide the input's."""
    x = random_batch((5, 2))[0]
    for type_, reduce in ((AA1, np.mean), (AM1, np.max)):
        y = np.asarray(keras.layers.__dict__[type_](3)(x))
        expected = np.stack([reduce(x[:, a:b], axis=1) for a, b in adaptive_windows(5, 3)], axis=1)
        np.testing.assert_allclose(y, expected, rtol=1e-6)


@pytest.mark.parametrize("type_, shape", [(AM2, (4, 4)), (AA3, (4, 4, 3)), (AA1, (4, 4, 3)), (AM1, (3,))])
def test_adaptive_pooling_of_another_rank_is_refused(type_, shape):
    """Keras declares `(batch, *output_size, channels)` for an input of any rank, then pools with the input's own
    rank when run: it fails, or gives another shape than it declared."""
    layer = spec(type_, output_size=2)
    refusal = kspec_refusal(layer, shape)
    assert refusal is not None and refusal.policy is None
    declared, ran = keras_symbolic(layer, shape), keras_run(layer, shape)
    assert declared is not None and (ran is None or tuple(ran.shape)[1:] != tuple(declared.shape)[1:])


def test_adaptive_pooling_of_a_sequence_that_tensorflow_may_not_pool_names_the_policy():
    """On a rank-3 input Keras pools in 1-D, its steps to `output_size[0]`: where that is 1, or the steps are 1 or
    unknown, TensorFlow could crash, so that the refusal is a policy (no check runs it)."""
    for layer, shape in [(spec(AM2, output_size=[1, 2]), (5, 3)), (spec(AM3, output_size=2), (None, 3)),
                         (spec(AA2, output_size=2), (1, 3))]:
        refusal = kspec_refusal(layer, shape)
        assert refusal is not None and refusal.policy == "adaptive-pooling-sizes" and "expected ndim" in str(refusal)


@pytest.mark.parametrize("layer, shape", [(spec(AA1, output_size=1), (4, 3)), (spec(AA2, output_size=[3, 2]), (1, 4, 2))])
def test_adaptive_average_pooling_of_size_one_fails_training_on_tensorflow(layer, shape):
    """TensorFlow pools with windows of `ceil(size / output_size) + 1` too: larger than the input when a size is
    1. It runs eagerly, but a training step (traced) fails."""
    refusal = kspec_refusal(layer, shape)
    assert refusal is not None and (refusal.policy, refusal.backends, refusal.field) == (
        "adaptive-pooling-sizes", ("tensorflow",), "output_size"
    )
    assert keras_failure(layer, shape, train_step=True) is not None


def test_adaptive_max_pooling_of_size_one_crashes_tensorflow():
    """The same windows crash TensorFlow's max pooling (a floating-point exception kills the process), so this
    test runs it in a process of its own. The refusal names a policy of its own, whatever else fails, so that no
    check runs it (a portability refusal is checked against Keras on the backends it names)."""
    refusal = kspec_refusal(spec(AM1, output_size=1), (4, 1))
    assert refusal is not None and (refusal.policy, refusal.backends) == ("adaptive-pooling-sizes", ("tensorflow",))
    refusal = kspec_refusal(spec(AM2, output_size=[1, 2]), (3, 3, 1), ["int32"])  # fails on every backend, too
    assert refusal is not None and (refusal.policy, refusal.backends) == ("adaptive-pooling-sizes", ())
    code = "import numpy as np, keras; keras.layers.AdaptiveMaxPooling1D(1)(np.ones((1, 4, 1), 'float32'))"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
    assert run.returncode == -signal.SIGFPE, run.stderr[-2000:]


def test_adaptive_pooling_of_unknown_sizes_fails_training_on_tensorflow():
    """TensorFlow needs every spatial size when it traces the layer: a model trained on a second length fails."""
    layer = spec(AA1, output_size=2)
    refusal = kspec_refusal(layer, (None, 3))
    assert refusal is not None and (refusal.policy, refusal.backends) == ("adaptive-pooling-sizes", ("tensorflow",))
    model = keras_model(layer, (None, 3), after=[keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="statically known"):
        for length in (4, 5, 6):
            model.fit(np.ones((2, length, 3), "float32"), np.zeros((2, 1), "float32"), verbose=0)


SIZES = range(1, 17)


def test_the_windows_jax_gets_wrong_are_known():
    """`windows_wrong_on_jax` says, for every input size up to 64 and output size up to 16, whether Keras's JAX
    backend gathers other windows than the exact ones: its window bounds computed with JAX as its code computes them
    (`floor(arange(size) * length / size)`, the division by the constant `size` compiled by XLA), all input sizes at
    once; and Keras's own function for a few pairs."""
    jax = pytest.importorskip("jax")
    jax_nn = pytest.importorskip("keras.src.backend.jax.nn")
    jnp = jax.numpy

    @jax.jit
    def bounds(lengths):  # one compiled program for every output size
        i = [jnp.arange(size)[None, :] for size in SIZES]
        return [
            (jnp.floor((i * lengths[:, None]) / size), jnp.ceil(((i + 1) * lengths[:, None]) / size))
            for i, size in zip(i, SIZES)
        ]

    lengths = np.arange(1, 65)
    wrong = set()
    for size, (starts, ends) in zip(SIZES, bounds(jnp.asarray(lengths))):
        starts, ends = np.asarray(starts).astype(int).tolist(), np.asarray(ends).astype(int).tolist()
        for length, jax_starts, jax_ends in zip(lengths.tolist(), starts, ends):
            exact_starts, exact_ends = zip(*adaptive_windows(length, size))
            if _gathered(length, size, jax_starts, jax_ends) != _gathered(length, size, exact_starts, exact_ends):
                wrong.add((length, size))
            assert ((length, size) in wrong) == windows_wrong_on_jax(length, size), (length, size)
    assert {(7, 7), (3, 7), (63, 15)} <= wrong and len(wrong) > 100
    for length, size in [(7, 7), (3, 7), (8, 7), (6, 5)]:
        got = np.asarray(jax_nn._compute_adaptive_pooling_gather_indices(length, size, -(-length // size) + 1))
        exact = _gathered(length, size, *zip(*adaptive_windows(length, size)))
        assert (got.tolist() != exact) == ((length, size) in wrong)


def _gathered(length: int, size: int, starts, ends) -> list[int]:
    """Where Keras's two-pool gather reads each window: a "big" one (size `ceil(length / size) + 1`) in the pool
    of big windows, after the `length - small + 1` small ones; any other at its start in the small ones."""
    small = -(-length // size)
    return [a + length - small + 1 if b - a == small + 1 else a for a, b in zip(starts, ends)]


def test_sizes_that_jax_gets_wrong_are_refused_and_run_elsewhere():
    """On 7 steps pooled to 7, JAX gathers past the end (NaN): refused on every backend, and Keras on this one
    (TensorFlow) runs it and trains."""
    layer = spec(AA1, output_size=7)
    refusal = kspec_refusal(layer, (7, 2))
    assert refusal is not None and (refusal.policy, refusal.backends) == ("portability", ("jax",))
    assert check_agrees(layer, (7, 2)) is None


@st.composite
def adaptive_cases(draw):
    """An adaptive pooling layer on an input of its rank (other ranks: the examples above), sizes from 1 to 9."""
    type_ = draw(st.sampled_from(sorted(ADAPTIVE_RANK)))
    rank = ADAPTIVE_RANK[type_]
    size = draw(st.one_of(st.integers(1, 8), st.lists(st.integers(1, 8), min_size=rank, max_size=rank)))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=rank, max_size=rank))) + (draw(st.integers(1, 3)),)
    dtype = draw(st.sampled_from(["float32", "float32", "float32", "float16", "int32"]))
    return spec(type_, output_size=size), shape, dtype


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adaptive_cases())
def test_property_adaptive_pooling_agrees_with_keras(case):
    layer, shape, dtype = case
    if 1 in parse_layer(layer).output_size + shape[:-1]:  # a policy: no check runs it (TensorFlow could crash)
        refusal = kspec_refusal(layer, shape, [dtype])
        assert refusal is not None and refusal.policy == "adaptive-pooling-sizes"
    check_agrees(layer, shape, [dtype], **FAILS, train_step=True)
