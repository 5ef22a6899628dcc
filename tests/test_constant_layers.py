"""The constant-layer policy (found by the soundness property: a spec kspec accepted trained nothing): a layer
whose output cannot depend on its input is refused. Keras builds each of these, and its output is the same for
any two inputs: the oracle that makes the refusal a policy, not a Keras failure."""

from __future__ import annotations

import numpy as np
import pytest

import kspec

CASES = {
    "LayerNormalization over one feature": ({"shape": [3, 1]}, [{"type": "LayerNormalization"}]),
    "UnitNormalization over one feature": ({"shape": [1]}, [{"type": "UnitNormalization"}]),
    "Softmax layer over one value": ({"shape": [4, 1]}, [{"type": "Softmax"}]),
    "GroupNormalization, one channel per group, no other axes": ({"shape": [3]}, [{"type": "GroupNormalization", "groups": -1}]),
    "softmax activation over one unit": ({"shape": [4]}, [{"type": "Dense", "units": 1, "activation": "softmax"}]),
    # (sparsemax over one unit is constant too, but kspec refuses sparsemax first: tests/test_keras_sparsemax.py)
    "log_softmax Activation over one value": ({"shape": [2, 1]}, [{"type": "Activation", "activation": "log_softmax"}]),
}


def _spec(model_input: dict, layers: list) -> dict:
    return {"kspec": 1, "name": "t", "model": {"input": model_input, "layers": [*layers, {"type": "Flatten"}, {"type": "Dense", "units": 2}]},
            "training": {"loss": "mse"}}


def _constant_in_keras(model_input: dict, layers: list) -> bool:
    import keras

    from kspec.compile import build_layer
    from kspec.spec.layers import LAYER_CLASSES

    classes = {cls.type_name(): cls for cls in LAYER_CLASSES}
    x = keras.Input(shape=tuple(model_input["shape"]))
    y = x
    for layer in layers:
        y = build_layer(classes[layer["type"]].model_validate(layer))(y)
    model = keras.Model(x, y)
    rng = np.random.default_rng(0)
    a, c = (rng.standard_normal((2, *model_input["shape"])).astype("float32") for _ in range(2))
    # Scaling the input changes nothing; for UnitNormalization over one value (its sign) only the sign matters.
    others = [7 * a] + ([] if layers[0]["type"] == "UnitNormalization" else [c])
    return all(np.allclose(np.asarray(model(a)), np.asarray(model(b))) for b in others)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_layer_with_a_constant_output_is_refused_by_policy(case):
    model_input, layers = CASES[case]
    report = kspec.check(_spec(model_input, layers))
    assert [(d.code, d.policy) for d in report.errors] == [("shape", "constant-layer")]
    assert _constant_in_keras(model_input, layers)


def test_subtract_of_a_tensor_from_itself_is_refused_by_policy():
    spec = {"kspec": 1, "name": "t", "model": {"inputs": [{"name": "x", "shape": [3]}],
            "nodes": [{"name": "d", "type": "Subtract", "inputs": ["x", "x"]}, {"name": "out", "type": "Dense", "units": 1, "inputs": "d"}],
            "outputs": ["out"]}, "training": {"loss": "mse"}}
    report = kspec.check(spec)
    assert [(d.code, d.policy, d.path) for d in report.errors] == [("shape", "constant-layer", ("model", "nodes", 0, "inputs"))]


def test_the_same_layers_over_more_than_one_value_are_accepted():
    for model_input, layers in [({"shape": [3, 2]}, [{"type": "LayerNormalization"}]), ({"shape": [4]}, [{"type": "Dense", "units": 2, "activation": "softmax"}]),
                                ({"shape": [4, 2]}, [{"type": "GroupNormalization", "groups": -1}])]:
        assert kspec.check(_spec(model_input, layers)).ok


def _seq(layers: list, loss: str = "mse", model_input: dict | None = None) -> dict:
    return {"kspec": 1, "name": "t", "model": {"input": model_input or {"shape": [1, 1]}, "layers": layers}, "training": {"loss": loss}}


@pytest.mark.parametrize(
    "spec",
    [
        # found by the soundness property: hard_shrink on the output is 0 with a zero gradient where a new model's
        # outputs lie; no training step changed a weight, at any initialization tried
        _seq([{"type": "LSTM", "units": 1}, {"type": "Dense", "units": 1}, {"type": "Dense", "units": 1},
              {"type": "Dense", "units": 1, "activation": "hard_shrink"}]),
        # found by the soundness property: soft_shrink zeroed every step at eleven initializations, the LSTM then
        # gave exactly 0 and the relu output stayed at 0, with no gradient
        _seq([{"type": "Embedding", "input_dim": 5, "output_dim": 5}, {"type": "Dense", "units": 8}, {"type": "LayerNormalization"},
              {"type": "SeparableConv1D", "kernel_size": 1, "padding": "same", "filters": 1, "activation": "soft_shrink"},
              {"type": "LSTM", "units": 1}, {"type": "Dense", "units": 1, "activation": "relu"}], "squared_hinge",
             {"shape": [12], "dtype": "int32"}),
    ],
)
def test_shrink_activations_are_not_offered(spec):
    report = kspec.check(spec)
    assert [(d.code, d.path[-1]) for d in report.errors] == [("value", "activation")]
    offered = report.errors[0].message.split("Received")[0]
    assert "'hard_shrink'" not in offered and "'soft_shrink'" not in offered and "'tanh_shrink'" in offered


def test_softmax_layer_on_a_masked_sequence_is_refused_by_policy():
    """Found by the soundness property: Keras's Softmax layer fails on an Embedding's (batch, steps) mask."""
    import keras

    layers = [{"type": "Embedding", "input_dim": 5, "output_dim": 2, "mask_zero": True}, {"type": "Softmax"},
              {"type": "GlobalAveragePooling1D"}, {"type": "Dense", "units": 2}]
    report = kspec.check(_seq(layers, model_input={"shape": [1], "dtype": "int32"}))
    assert [(d.code, d.policy) for d in report.errors] == [("shape", "masked-softmax")]
    model = keras.Sequential([keras.Input((1,), dtype="int32"), keras.layers.Embedding(5, 2, mask_zero=True), keras.layers.Softmax()])
    with pytest.raises(ValueError):
        model(np.array([[1], [2]], "int32"))
    # without the mask, or with the mask ended first, it is accepted
    assert kspec.check(_seq([{**layers[0], "mask_zero": False}, *layers[1:]], model_input={"shape": [1], "dtype": "int32"})).ok
    ended = [layers[0], {"type": "LSTM", "units": 3}, {"type": "Softmax"}, {"type": "Dense", "units": 2}]
    assert kspec.check(_seq(ended, model_input={"shape": [4], "dtype": "int32"})).ok
