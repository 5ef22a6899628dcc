import pytest

from .harness import check_layer, check_refused_when_run, check_rejected, check_trains, keras_failure, kspec_refusal


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Dense", "units": 10}, (784,)),
        ({"type": "Dense", "units": 4, "use_bias": False, "activation": "relu"}, (3, 5)),
        ({"type": "Dense", "units": 2}, (None, 6)),
        ({"type": "Dense", "units": 3, "kernel_initializer": {"type": "RandomNormal", "stddev": 0.1}}, (4,)),
        ({"type": "Dense", "units": 3, "kernel_regularizer": {"type": "L2", "l2": 0.001}, "bias_constraint": "non_neg"}, (4,)),
        ({"type": "Activation", "activation": "softmax"}, (4, 5)),
        ({"type": "Dropout", "rate": 0.5}, (8,)),
        ({"type": "Dropout", "rate": 0.2, "noise_shape": [None, 1, 4]}, (3, 4)),
        ({"type": "Flatten"}, (28, 28, 1)),
        ({"type": "Flatten"}, (None, 3)),
        ({"type": "Identity"}, (2, 3)),
    ],
)
def test_core_layers_match_keras(spec, shape):
    assert check_layer(spec, shape) is not None


def test_dense_needs_known_last_axis():
    check_rejected({"type": "Dense", "units": 3}, (None,))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize(
    "spec",
    [{"type": "Dropout", "rate": 0.5}, {"type": "Activation", "activation": "relu"}, {"type": "Flatten"}, {"type": "Identity"}, {"type": "Dense", "units": 2}],
)
def test_core_layers_on_other_float_dtypes(spec, dtype):
    assert check_layer(spec, (3, 4), [dtype]) is not None


@pytest.mark.parametrize("dtype", ["int32", "bool"])
@pytest.mark.parametrize("spec", [{"type": "Flatten"}, {"type": "Identity"}, {"type": "Dense", "units": 2}])
def test_core_layers_that_take_any_dtype(spec, dtype):
    assert check_layer(spec, (3, 4), [dtype]) is not None
    assert check_trains(spec, (3, 4), [dtype])


@pytest.mark.parametrize("dtype", ["int32", "bool"])
@pytest.mark.parametrize(
    "spec",
    [{"type": "Dropout", "rate": 0.5}, {"type": "Dropout", "rate": 0.0}, {"type": "Activation", "activation": "relu"}, {"type": "Activation", "activation": "softmax"}],
)
def test_integer_input_is_refused_where_keras_declares_float_but_returns_integers(spec, dtype):
    check_refused_when_run(spec, (4,), [dtype], wrong_dtype=True)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Dense", "units": 3}, (4,)),
        ({"type": "Dropout", "rate": 0.5}, (2, 3)),
        ({"type": "Activation", "activation": "tanh"}, (5,)),
        ({"type": "Flatten"}, (2, 2, 2)),
    ],
)
def test_core_layers_train_one_step(spec, shape):
    assert check_trains(spec, shape)


@pytest.mark.parametrize("rate, policy", [(0.5, None), (0.0, "noise-shape")])
def test_dropout_noise_shape_must_broadcast(rate, policy):
    """A noise_shape that cannot broadcast fails a training step at any rate above 0; at rate 0 Keras never
    builds the mask and runs, so kspec's refusal is a policy there (found on PyTorch by the properties)."""
    spec = {"type": "Dropout", "rate": rate, "noise_shape": [None, 1, 1, 2]}
    refusal = kspec_refusal(spec, (4, 4, 1))
    assert refusal is not None and refusal.policy == policy and refusal.field == "noise_shape"
    failure = keras_failure(spec, (4, 4, 1), train_step=True)
    assert (failure is None) == (rate == 0), failure
