import pytest

from .harness import check_layer, check_rejected


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
