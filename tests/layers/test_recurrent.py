import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.compile import build_layer
from kspec.spec.layers import LAYER_TYPES, ShapeError, Tensor, parse_layer

from .harness import check_agrees, check_layer, check_refused_when_run, check_rejected, kspec_refuses

LSTM = {"type": "LSTM", "units": 4}
GRU = {"type": "GRU", "units": 3}
RNN = {"type": "SimpleRNN", "units": 5}


@pytest.mark.parametrize(
    "spec, shape",
    [
        (LSTM, (5, 3)),
        ({**LSTM, "return_sequences": True}, (None, 3)),
        ({**LSTM, "use_bias": False, "unit_forget_bias": False}, (5, 3)),
        ({**LSTM, "go_backwards": True, "unroll": True, "return_sequences": True}, (4, 2)),
        ({**LSTM, "dropout": 0.2, "recurrent_dropout": 0.3, "seed": 1}, (5, 3)),
        ({**LSTM, "activation": "relu", "recurrent_activation": "hard_sigmoid", "use_cudnn": False}, (5, 3)),
        ({**LSTM, "activation": None, "kernel_regularizer": {"type": "L2", "l2": 0.01}, "recurrent_constraint": "max_norm"}, (2, 6)),
        ({**LSTM, "recurrent_initializer": {"type": "Orthogonal", "gain": 2.0}, "activity_regularizer": "l1"}, (3, 1)),
        (GRU, (5, 3)),
        ({**GRU, "reset_after": False}, (5, 3)),
        ({**GRU, "use_bias": False}, (5, 3)),
        ({**GRU, "use_bias": False, "reset_after": False, "return_sequences": True}, (None, 7)),
        ({**GRU, "go_backwards": True, "dropout": 0.5, "recurrent_dropout": 0.5}, (1, 2)),
        (RNN, (5, 3)),
        ({**RNN, "use_bias": False, "activation": None}, (5, 3)),
        ({**RNN, "return_sequences": True, "go_backwards": True, "unroll": True}, (6, 2)),
        ({"type": "Bidirectional", "layer": LSTM}, (5, 3)),
        ({"type": "Bidirectional", "layer": {**GRU, "return_sequences": True}, "merge_mode": "sum"}, (None, 3)),
        ({"type": "Bidirectional", "layer": RNN, "merge_mode": "mul"}, (5, 3)),
        ({"type": "Bidirectional", "layer": {**GRU, "reset_after": False}, "merge_mode": "ave"}, (5, 3)),
        (
            {"type": "Bidirectional", "layer": {**LSTM, "return_sequences": True},
             "backward_layer": {"type": "GRU", "units": 4, "go_backwards": True, "return_sequences": True}},
            (5, 3),
        ),
        ({"type": "TimeDistributed", "layer": {"type": "Dense", "units": 6}}, (4, 5)),
        ({"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2, "use_bias": False}}, (4, None, 5)),
        ({"type": "TimeDistributed", "layer": {"type": "Flatten"}}, (3, 4, 5)),
        ({"type": "TimeDistributed", "layer": {"type": "Dropout", "rate": 0.5}}, (3, 4)),
        ({"type": "TimeDistributed", "layer": LSTM}, (3, 4, 5)),
        ({"type": "TimeDistributed", "layer": {"type": "Bidirectional", "layer": GRU}}, (3, 4, 5)),
        ({"type": "TimeDistributed", "layer": {"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}}}, (2, 3, 4)),
    ],
)
def test_recurrent_layers_match_keras(spec, shape):
    assert check_layer(spec, shape) is not None


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        (LSTM, (5, 3), "int32"),  # Keras promotes integer sequences to float32
        (RNN, (5, 3), "uint8"),
        (GRU, (5, 3), "float64"),  # autocast to float32
        ({"type": "TimeDistributed", "layer": {"type": "Embedding", "input_dim": 10, "output_dim": 3}}, (3, 4), "int32"),
        ({"type": "TimeDistributed", "layer": {"type": "Flatten"}}, (3, 4, 5), "float64"),
    ],
)
def test_recurrent_layers_input_dtypes(spec, shape, dtype):
    assert check_layer(spec, shape, [dtype]) is not None


@pytest.mark.skipif("Conv2D" not in LAYER_TYPES, reason="Conv2D is not defined yet")
def test_time_distributed_conv2d_on_5d_input():
    inferred = check_layer({"type": "TimeDistributed", "layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3}}, (3, 8, 8, 2))
    assert inferred.output.shape == (None, 3, 6, 6, 4)


def test_parameter_counts():
    x = [Tensor((None, 5, 3))]
    lstm = parse_layer(LSTM).infer(x)
    assert lstm.params == 4 * (4 * (3 + 4) + 4) and lstm.output.shape == (None, 4)
    assert parse_layer(GRU).infer(x).params == 3 * 3 * (3 + 3) + 2 * 3 * 3  # reset_after: 2 bias rows
    assert parse_layer({**GRU, "reset_after": False}).infer(x).params == 3 * 3 * (3 + 3) + 3 * 3
    assert parse_layer({"type": "Bidirectional", "layer": LSTM}).infer(x).params == 2 * lstm.params


@pytest.mark.parametrize(
    "spec, shape",
    [
        (LSTM, (3,)),  # needs 3-D input
        (GRU, (2, 3, 4)),
        (RNN, (5, None)),  # unknown feature dimension
        ({"type": "Bidirectional", "layer": {**LSTM, "go_backwards": True}}, (5, 3)),
        ({"type": "Bidirectional", "layer": LSTM, "backward_layer": LSTM}, (5, 3)),  # both go forwards
        ({"type": "Bidirectional", "layer": LSTM, "backward_layer": {**LSTM, "go_backwards": True, "return_sequences": True}}, (5, 3)),
        ({"type": "Bidirectional", "layer": LSTM}, (3,)),
        ({"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}}, (4,)),  # needs >= 3-D
        ({"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}}, (4, None)),
        ({"type": "TimeDistributed", "layer": LSTM}, (3, 4)),  # inner LSTM sees 2-D slices
    ],
)
def test_recurrent_layers_rejected_like_keras(spec, shape):
    check_rejected(spec, shape)


def test_bidirectional_refuses_backward_layer_of_another_size():
    # Keras accepts it, but declares the output (None, 2 * 4) while it computes 4 + 3 features.
    spec = {"type": "Bidirectional", "layer": LSTM, "backward_layer": {**GRU, "go_backwards": True}}
    with pytest.raises(ShapeError, match="same `units`"):
        parse_layer(spec).infer([Tensor((None, 5, 3))])
    klayer = build_layer(parse_layer(spec))
    assert klayer(keras.Input((5, 3))).shape[-1] == 8
    assert klayer(np.zeros((2, 5, 3), "float32")).shape[-1] == 7


def test_time_distributed_refuses_non_float_inner_output():
    # Keras declares float32 but computes int32: TimeDistributed calls the inner layer's `call` directly.
    spec = {"type": "TimeDistributed", "layer": {"type": "Flatten"}}
    with pytest.raises(ShapeError, match="float32"):
        parse_layer(spec).infer([Tensor((None, 3, 4, 5), "int32")])
    klayer = build_layer(parse_layer(spec))
    assert klayer(keras.Input((3, 4, 5), dtype="int32")).dtype == "float32"
    assert keras.backend.standardize_dtype(klayer(np.zeros((2, 3, 4, 5), "int32")).dtype) == "int32"


def test_time_distributed_refuses_multi_input_layer():
    spec = {"type": "TimeDistributed", "layer": {"type": "Attention"}}
    with pytest.raises(ShapeError, match="one input"):
        parse_layer(spec).infer([Tensor((None, 3, 4, 5))])


def test_unroll_needs_known_timesteps():
    # Keras builds it (its symbolic pass does not run `call`) but raises when `call` sees an unknown
    # time dimension, e.g. in a traced training step on variable-length batches.
    with pytest.raises(ShapeError, match="unroll") as info:
        parse_layer({**LSTM, "unroll": True}).infer([Tensor((None, None, 3))])
    assert info.value.field == "unroll"


def test_zero_timesteps_refused():
    with pytest.raises(ShapeError, match="timestep"):
        parse_layer(LSTM).infer([Tensor((None, 0, 3))])


@pytest.mark.parametrize(
    "spec",
    [
        {**LSTM, "use_cudnn": True},  # fails without a GPU
        {**LSTM, "return_state": True},  # one output per layer
        {**LSTM, "stateful": True},
        {**LSTM, "dropout": 1.0},
        {**RNN, "use_cudnn": "auto"},  # SimpleRNN has no use_cudnn
        {"type": "Bidirectional", "layer": LSTM, "merge_mode": None},  # would return two outputs
        {"type": "Bidirectional", "layer": {"type": "Dense", "units": 3}},
        {"type": "Bidirectional", "layer": {**LSTM, "name": "inner"}},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "units": 3, "name": "inner"}},
        {"type": "TimeDistributed", "layer": {"type": "Dense", "units": 3, "inputs": ["x"]}},
        {"type": "TimeDistributed", "layer": {"type": "NoSuchLayer"}},
    ],
)
def test_invalid_specs_refused_at_parse(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


# ---- property: random recurrent layers and wrappers agree with Keras ------------------------------

@st.composite
def recurrent_specs(draw):
    kind = draw(st.sampled_from(["LSTM", "GRU", "SimpleRNN"]))
    spec = {
        "type": kind,
        "units": draw(st.integers(1, 6)),
        "use_bias": draw(st.booleans()),
        "return_sequences": draw(st.booleans()),
        "go_backwards": draw(st.booleans()),
    }
    if kind == "GRU":
        spec["reset_after"] = draw(st.booleans())
    if kind == "LSTM":
        spec["unit_forget_bias"] = draw(st.booleans())
    return spec


@st.composite
def recurrent_cases(draw):
    steps = draw(st.none() | st.integers(1, 4))
    features = draw(st.integers(1, 5))
    inner = draw(recurrent_specs())
    wrapper = draw(st.sampled_from(["none", "bidirectional", "time_distributed"]))
    if steps is not None and draw(st.booleans()):
        inner["unroll"] = True  # unknown steps: a kspec policy, tested above
    if wrapper == "none":
        return inner, (steps, features)
    if wrapper == "bidirectional":
        spec = {"type": "Bidirectional", "layer": inner, "merge_mode": draw(st.sampled_from(["concat", "sum", "mul", "ave"]))}
        if draw(st.booleans()):
            # Keras refuses a backward layer with the same direction or another return_sequences.
            # (Another number of units is a kspec policy, tested above.)
            backward = draw(recurrent_specs())
            spec["backward_layer"] = {**backward, "units": inner["units"]}
        return spec, (steps, features)
    if draw(st.booleans()):
        inner = {"type": "Dense", "units": draw(st.integers(1, 4)), "use_bias": draw(st.booleans())}
    return {"type": "TimeDistributed", "layer": inner}, (draw(st.integers(1, 3)), steps, features)


@settings(max_examples=25, deadline=None)
@given(recurrent_cases())
def test_random_recurrent_layers_agree_with_keras(case):
    spec, shape = case
    check_layer(spec, shape)


def test_time_distributed_refuses_an_unknown_number_of_timesteps():
    """Keras builds TimeDistributed on variable-length input, but its training step fails as soon
    as the length changes (the traced step relaxes the time axis to unknown)."""
    import keras
    import numpy as np

    spec = {"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}}
    assert kspec_refuses(spec, [(None, 3)])
    inp = keras.Input(shape=(None, 3))
    model = keras.Model(inp, build_layer(parse_layer(spec))(inp))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    with pytest.raises(Exception):
        for length in (7, 16, 5):
            model.train_on_batch(rng.standard_normal((2, length, 3)).astype("float32"), np.zeros((2, length, 2), "float32"))


# ---- RNN over cells ------------------------------------------------------------------------------

LSTM_CELL = {"type": "LSTMCell", "units": 4}
GRU_CELL = {"type": "GRUCell", "units": 3}
SIMPLE_CELL = {"type": "SimpleRNNCell", "units": 2}


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "RNN", "cell": LSTM_CELL}, (5, 3)),
        ({"type": "RNN", "cell": [LSTM_CELL, {**GRU_CELL, "reset_after": False}, SIMPLE_CELL], "return_sequences": True}, (None, 3)),
        (
            {"type": "RNN", "go_backwards": True, "unroll": True,
             "cell": {"type": "StackedRNNCells", "cells": [{"type": "StackedRNNCells", "cells": [GRU_CELL, LSTM_CELL]}, SIMPLE_CELL]}},
            (4, 2),
        ),
        (
            {"type": "RNN", "cell": {**LSTM_CELL, "use_bias": False, "activation": None, "kernel_regularizer": "l2",
                                     "recurrent_constraint": "max_norm", "dropout": 0.2, "recurrent_dropout": 0.3}},
            (5, 3),
        ),
        ({"type": "RNN", "cell": [GRU_CELL], "unroll": True}, (5, 3)),  # a stack of one cell with one state, unrolled
        ({"type": "Bidirectional", "layer": {"type": "RNN", "cell": [LSTM_CELL, GRU_CELL], "return_sequences": True}, "merge_mode": "sum"}, (5, 3)),
        ({"type": "Bidirectional", "layer": LSTM, "backward_layer": {"type": "RNN", "cell": {**LSTM_CELL, "units": 4}, "go_backwards": True}}, (5, 3)),
        ({"type": "TimeDistributed", "layer": {"type": "RNN", "cell": [SIMPLE_CELL, GRU_CELL]}}, (2, 5, 3)),
    ],
)
def test_rnn_over_cells_matches_keras(spec, shape):
    assert check_layer(spec, shape) is not None


def test_rnn_takes_integer_sequences():
    assert check_layer({"type": "RNN", "cell": [GRU_CELL, {**LSTM_CELL, "dropout": 0.5}]}, (5, 3), ["int32"]) is not None


def test_rnn_parameter_counts_are_the_cells():
    x = [Tensor((None, 5, 3))]
    lstm = 4 * (4 * (3 + 4) + 4)
    gru_on_lstm = 3 * 3 * (4 + 3) + 2 * 3 * 3
    simple_on_gru = 2 * (3 + 2) + 2
    stacked = parse_layer({"type": "RNN", "cell": [LSTM_CELL, GRU_CELL, SIMPLE_CELL]})
    assert stacked.cell.layer_type == "StackedRNNCells"  # a list of cells is stacked, as Keras does
    inferred = stacked.apply(x)
    assert inferred.params == lstm + gru_on_lstm + simple_on_gru and inferred.output.shape == (None, 2)
    assert parse_layer({"type": "RNN", "cell": LSTM_CELL}).apply(x).params == parse_layer(LSTM).apply(x).params == lstm


def test_cell_arguments_land_on_the_cell_weights():
    # Keras's orthogonal initializer refuses the rank-1 bias of the second cell
    spec = {"type": "RNN", "cell": [LSTM_CELL, {**GRU_CELL, "reset_after": False, "bias_initializer": "orthogonal"}]}
    with pytest.raises(ShapeError, match="`bias_initializer` of layer 'GRUCell'") as info:
        parse_layer(spec).apply([Tensor((None, 5, 3))])
    assert info.value.field == "cell"
    check_rejected(spec, (5, 3))
    # with reset_after, GRUCell's bias is (2, 3 * units): an orthogonal initializer fits it
    assert check_layer({"type": "RNN", "cell": {**GRU_CELL, "bias_initializer": "orthogonal"}}, (5, 3)) is not None


@pytest.mark.parametrize(
    "spec, shape",
    [
        (LSTM_CELL, (5, 3)),  # a cell alone: Keras calls it on (inputs, states)
        ({"type": "StackedRNNCells", "cells": [LSTM_CELL, GRU_CELL]}, (5, 3)),
        ({"type": "TimeDistributed", "layer": GRU_CELL}, (2, 5, 3)),
        ({"type": "RNN", "cell": LSTM_CELL}, (5,)),
        ({"type": "RNN", "cell": [LSTM_CELL, GRU_CELL]}, (5, None)),
    ],
)
def test_rnn_and_cells_rejected_like_keras(spec, shape):
    check_rejected(spec, shape)


def test_a_cell_alone_is_refused_clearly():
    with pytest.raises(ShapeError, match=r"RNN cell.*\{type: RNN, cell: \{type: LSTMCell"):
        parse_layer(LSTM_CELL).apply([Tensor((None, 5, 3))])


@pytest.mark.parametrize(
    "spec, shape, dtypes, justify",
    [
        ({"type": "RNN", "cell": LSTM_CELL}, (0, 3), None, {}),
        ({"type": "RNN", "cell": LSTM_CELL}, (5, 3, 2), None, {}),  # steps of (batch, 3, 2): the cell's sums fail
        ({"type": "RNN", "cell": [{**GRU_CELL, "dropout": 0.5}, LSTM_CELL]}, (5, 3), ["int32"], {"in_training": True}),
        ({"type": "RNN", "cell": [LSTM_CELL], "unroll": True}, (5, 3), None, {}),  # a stack of one with two states
    ],
)
def test_rnn_refused_where_keras_fails_when_run(spec, shape, dtypes, justify):
    check_refused_when_run(spec, shape, dtypes, **justify)


def test_a_stack_of_one_cell_fails_on_jax():
    # TensorFlow and PyTorch run it; JAX's scan refuses the states' changed structure (and so does any backend's
    # loop over a mask): the portability policy.
    with pytest.raises(ShapeError, match="stack of one") as info:
        parse_layer({"type": "RNN", "cell": [GRU_CELL]}).apply([Tensor((None, 5, 3))])
    assert info.value.policy == "portability" and info.value.backends == ("jax",) and info.value.field == "cell"


def test_an_unrolled_stack_of_one_skips_cells():
    # the stack's one cell is a stack of two: after the first step, Keras hands it the GRU's state only, so the
    # LSTM cell is skipped and the output has the GRU's 3 features, not the 4 Keras declares
    spec = {"type": "RNN", "cell": [{"type": "StackedRNNCells", "cells": [GRU_CELL, LSTM_CELL]}], "unroll": True}
    with pytest.raises(ShapeError, match="with several states"):
        parse_layer(spec).apply([Tensor((None, 5, 3))])
    klayer = build_layer(parse_layer(spec))
    assert klayer(keras.Input((5, 3))).shape == (None, 4)
    assert klayer(np.zeros((2, 5, 3), "float32")).shape == (2, 3)


def test_an_unrolled_nested_stack_of_one_fails_on_a_batch_of_one():
    spec = {"type": "RNN", "cell": [{"type": "StackedRNNCells", "cells": [GRU_CELL]}, LSTM_CELL], "unroll": True}
    with pytest.raises(ShapeError, match="inside another stack"):
        parse_layer(spec).apply([Tensor((None, 5, 3))])
    klayer = build_layer(parse_layer(spec))
    assert klayer(np.zeros((2, 5, 3), "float32")).shape == (2, 4)  # Keras runs it on a batch of 2 ...
    with pytest.raises(Exception):
        klayer(np.zeros((1, 5, 3), "float32"))  # ... and fails on a batch of 1


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "RNN", "cell": []},
        {"type": "RNN", "cell": {"type": "StackedRNNCells", "cells": []}},
        {"type": "RNN", "cell": {**LSTM_CELL, "name": "inner"}},
        {"type": "RNN", "cell": [LSTM_CELL, {**GRU_CELL, "inputs": ["x"]}]},
        {"type": "RNN", "cell": LSTM},  # a layer, not a cell
        {"type": "RNN", "cell": LSTM_CELL, "return_state": True},
        {"type": "RNN", "cell": LSTM_CELL, "stateful": True},
        {**GRU, "stateful": True},
        {**LSTM_CELL, "return_sequences": True},  # a cell has no loop arguments
    ],
)
def test_rnn_specs_refused_at_parse(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_return_state_and_stateful_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match="several outputs|one output"):
        parse_layer({**LSTM, "return_state": True})
    with pytest.raises(ValidationError, match="fixed batch size"):
        parse_layer({"type": "RNN", "cell": LSTM_CELL, "stateful": True})


def test_rnn_facts():
    rnn = parse_layer({"type": "RNN", "cell": [LSTM_CELL, {**SIMPLE_CELL, "activation": "relu"}]})
    assert rnn.recurrent() and rnn.loops_over_tensor_lists() and rnn.final_activation() == "relu"
    assert not parse_layer({"type": "RNN", "cell": LSTM_CELL, "unroll": True}).loops_over_tensor_lists()
    assert parse_layer({"type": "Bidirectional", "layer": {"type": "RNN", "cell": GRU_CELL}}).final_activation() == "tanh"


def test_stacked_cells_are_built_with_stable_names():
    klayer = build_layer(parse_layer({"type": "RNN", "cell": [LSTM_CELL, GRU_CELL]}), "seq")
    assert klayer.cell.name == "seq_cell" and [c.name for c in klayer.cell.cells] == ["cell_0", "cell_1"]


@settings(max_examples=12, deadline=None)
@given(st.data())
def test_random_rnns_over_cells_agree_with_keras(data):
    from tests.draws.recurrent import _rnn

    steps = data.draw(st.none() | st.integers(1, 4))
    layer, _ = _rnn(data.draw, steps)
    check_agrees(layer, (steps, data.draw(st.integers(1, 4))))
