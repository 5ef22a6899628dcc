"""The keras-sparsemax policy (found by the soundness property with a fresh seed: an accepted spec with a
sparsemax output trained nothing): Keras 3.15 computes sparsemax wrongly, so kspec refuses it. The oracle is
Keras itself: when its sparsemax sums to 1, this test fails, and the policy can go."""

from __future__ import annotations

import numpy as np
import pytest

import kspec

#: the counterexample as the property found it (kld on a sparsemax of six units whose logits tie at 1: Keras's
#: sparsemax gives all zeros there, and a zero gradient)
FOUND = {
    "kspec": 1,
    "name": "image_model",
    "model": {
        "input": {"shape": [14, 20, 2]},
        "layers": [
            {"type": "ZeroPadding2D", "padding": 0},
            {"type": "RandomZoom", "height_factor": 0.1, "width_factor": 0.1},
            {"type": "LayerNormalization", "center": False, "scale": False, "gamma_initializer": "zeros"},
            {"type": "Resizing", "height": 10, "width": 7, "interpolation": "nearest"},
            {"type": "LayerNormalization", "center": False},
            {"type": "GlobalAveragePooling2D"},
            {"type": "Dense", "units": 3, "activation": "relu", "activity_regularizer": {"type": "L1L2"}},
            {"type": "Dense", "units": 6, "activation": "sparsemax", "bias_initializer": "ones"},
        ],
    },
    "training": {"optimizer": {"type": "Adadelta"}, "loss": "kld"},
}


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "Dense", "units": 6, "activation": "sparsemax"},
        {"type": "Dense", "units": 1, "activation": "sparsemax"},
        {"type": "Activation", "activation": "sparsemax"},
        {"type": "SimpleRNN", "units": 2, "activation": "sparsemax"},
    ],
    ids=["Dense", "Dense over one unit", "Activation", "SimpleRNN"],
)
def test_sparsemax_is_refused_by_policy(layer):
    shape = [3, 4] if layer["type"] == "SimpleRNN" else [4]
    spec = {"kspec": 1, "name": "t", "model": {"input": {"shape": shape}, "layers": [layer, {"type": "Flatten"}]},
            "training": {"loss": "mse"}}
    report = kspec.check(spec)
    (error,) = report.errors
    assert (error.code, error.policy, error.path[-1]) == ("value", "keras-sparsemax", "activation")
    assert "keras-team/keras#23425" in error.message


def test_the_counterexample_is_refused():
    report = kspec.check(FOUND)
    assert [(d.code, d.policy) for d in report.errors] == [("value", "keras-sparsemax")]


def test_keras_sparsemax_is_still_wrong():
    pytest.importorskip("tensorflow")
    import keras

    out = np.asarray(keras.activations.sparsemax(np.array([[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]], dtype="float32")))
    right = np.array([[0.0, 0.25, 0.75], [1 / 3, 1 / 3, 1 / 3]])
    # Martins and Astudillo's sparsemax sums to 1; Keras 3.15 gives [0, 0, 0.25] and all zeros
    assert not np.allclose(out, right, atol=1e-6), "Keras's sparsemax is right now: lift the keras-sparsemax policy"
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.25], [0.0, 0.0, 0.0]], atol=1e-6)
