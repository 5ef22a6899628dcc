import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import check_agrees, check_layer, check_refused_when_run, check_rejected

C1 = {"type": "ConvLSTM1D", "filters": 3, "kernel_size": 2}
C2 = {"type": "ConvLSTM2D", "filters": 2, "kernel_size": 3}
C3 = {"type": "ConvLSTM3D", "filters": 2, "kernel_size": 2}


@pytest.mark.parametrize(
    "spec, shape",
    [
        (C1, (4, 6, 2)),
        ({**C1, "return_sequences": True, "padding": "same", "strides": 2}, (None, 7, 2)),
        ({**C1, "kernel_size": 6, "use_bias": False, "activation": None}, (3, 6, 1)),  # the kernel as large as the input
        ({**C2, "kernel_size": [2, 3], "return_sequences": True, "go_backwards": True}, (4, 6, 5, 2)),
        ({**C2, "dilation_rate": 2, "padding": "same", "unit_forget_bias": False, "dropout": 0.2, "recurrent_dropout": 0.2}, (3, 6, 5, 2)),
        ({**C2, "strides": [2, 1], "kernel_regularizer": "l2", "recurrent_constraint": "unit_norm", "activity_regularizer": "l1"}, (2, 7, 5, 3)),
        ({**C3, "return_sequences": True}, (3, 4, 4, 3, 1)),
    ],
)
def test_conv_lstm_matches_keras(spec, shape):
    assert check_layer(spec, shape) is not None


def test_conv_lstm_parameter_counts():
    inferred = parse_layer({**C2, "kernel_size": [2, 3]}).apply([Tensor((None, 4, 6, 5, 3))])
    assert inferred.params == 4 * 2 * 2 * 3 * (3 + 2) + 4 * 2
    assert inferred.output.shape == (None, 5, 3, 2)
    assert parse_layer({**C1, "use_bias": False}).apply([Tensor((None, 4, 6, 2))]).params == 4 * 3 * 2 * (2 + 3)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({**C1, "kernel_size": 7}, (4, 6, 2)),  # an empty output
        ({**C2, "dilation_rate": 2}, (4, 4, 6, 2)),  # dilated to 5 over 4 rows
        (C1, (4, None, 2)),  # unknown spatial size
        (C1, (4, 6, None)),  # unknown channels
        (C1, (6, 2)),
        (C2, (4, 6, 5)),
        ({**C1, "strides": 2, "dilation_rate": 2}, (4, 6, 2)),
    ],
)
def test_conv_lstm_rejected_like_keras(spec, shape):
    check_rejected(spec, shape)


@pytest.mark.parametrize(
    "spec, shape, dtypes, justify",
    [
        (C1, (0, 6, 2), None, {}),  # no timesteps
        ({**C2, "kernel_size": 1}, (2, 3, 5, 0), None, {}),  # no channels
        ({**C1, "dropout": 0.5}, (3, 6, 2), ["int32"], {"in_training": True}),
    ],
)
def test_conv_lstm_refused_where_keras_fails_when_run(spec, shape, dtypes, justify):
    check_refused_when_run(spec, shape, dtypes, **justify)


def test_integer_input_is_a_portability_refusal():
    # JAX promotes integers in the convolution; TensorFlow and PyTorch fail when run
    with pytest.raises(ShapeError, match="integer") as info:
        parse_layer(C2).apply([Tensor((None, 2, 3, 5, 2), "uint8")])
    assert info.value.policy == "portability" and set(info.value.backends) == {"tensorflow", "torch"}
    check_agrees(C2, (2, 3, 5, 2), ["int32"])


def test_bias_initializer_must_fit_the_bias():
    with pytest.raises(ShapeError, match="orthogonal") as info:
        parse_layer({**C1, "bias_initializer": "orthogonal"}).apply([Tensor((None, 4, 6, 2))])
    assert info.value.field == "bias_initializer"


@pytest.mark.parametrize(
    "spec",
    [
        {**C1, "return_state": True},
        {**C2, "stateful": True},
        {**C1, "unroll": True},  # not a ConvLSTM argument in Keras's documentation
        {**C2, "kernel_size": [2, 3, 4]},
        {**C1, "data_format": "channels_first"},
        {"type": "Bidirectional", "layer": C2},
    ],
)
def test_conv_lstm_specs_refused_at_parse(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_conv_lstm_facts():
    layer = parse_layer(C3)
    assert layer.recurrent() and layer.loops_over_tensor_lists() and layer.final_activation() == "tanh"


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_random_conv_lstms_agree_with_keras(data):
    from tests.draws.recurrent import _conv_lstm

    kind, rank = data.draw(st.sampled_from([("ConvLSTM1D", 1), ("ConvLSTM2D", 2)]))
    spatial = tuple(data.draw(st.integers(1, 6)) for _ in range(rank))
    layer, _ = _conv_lstm(data.draw, kind, spatial)
    steps = data.draw(st.none() | st.integers(1, 3))
    channels = data.draw(st.integers(1, 3))
    check_agrees(layer, (steps, *spatial, channels))
