import pydantic
import pytest
from hypothesis import event, given, settings, strategies as st

from kspec.compile import build_layer
from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import check_agrees, check_layer, check_refused_when_run, check_rejected, check_trains


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        ({"type": "SpatialDropout1D", "rate": 0.5}, (10, 4), "float32"),
        ({"type": "SpatialDropout1D", "rate": 0.2, "seed": 3}, (None, 4), "float16"),
        ({"type": "SpatialDropout2D", "rate": 0.3}, (8, 8, 3), "float32"),
        ({"type": "SpatialDropout2D", "rate": 0.1}, (None, None, 3), "float32"),
        ({"type": "GaussianNoise", "stddev": 0.1}, (4,), "float32"),
        ({"type": "GaussianNoise", "stddev": 1.0, "seed": 0}, (3, None, 2), "bfloat16"),
        ({"type": "GaussianDropout", "rate": 0.4}, (4, 5), "float32"),
        ({"type": "SpatialDropout3D", "rate": 0.3}, (2, 3, 4, 2), "float32"),
        ({"type": "SpatialDropout3D", "rate": 0.5, "seed": 1}, (None, 3, None, 2), "float64"),
        ({"type": "AlphaDropout", "rate": 0.2}, (4, 5), "float32"),
        ({"type": "AlphaDropout", "rate": 0.5, "noise_shape": [None, 1, 5], "seed": 2}, (None, 5), "float16"),
        ({"type": "AlphaDropout", "rate": 0.0}, (), "float32"),
        ({"type": "ActivityRegularization"}, (4,), "float32"),
        ({"type": "ActivityRegularization", "l1": 0.01, "l2": 0.1}, (3, None, 2), "bfloat16"),
    ],
)
def test_regularization_layers_match_keras(spec, shape, dtype):
    inferred = check_layer(spec, shape, [dtype])
    assert inferred is not None and inferred.params == 0
    assert inferred.output.shape == (None,) + shape and inferred.output.dtype == "float32"


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        ({"type": "SpatialDropout1D", "rate": 0.0}, (5, 2), "int32"),  # rate 0: Keras returns the integers
        ({"type": "SpatialDropout2D", "rate": 0.0}, (4, 4, 1), "int32"),
        ({"type": "GaussianNoise", "stddev": 0.0}, (4,), "bool"),
        ({"type": "GaussianDropout", "rate": 0.4}, (4, 5), "bool"),  # runs on TensorFlow, not as declared everywhere
        ({"type": "GaussianDropout", "rate": 0.0}, (), "uint8"),
        ({"type": "SpatialDropout3D", "rate": 0.0}, (2, 2, 2, 1), "int32"),
        ({"type": "AlphaDropout", "rate": 0.0}, (4,), "int32"),
    ],
)
def test_regularization_integer_inputs_refused_by_policy(spec, shape, dtype):
    """Keras declares float32 but returns the integers unchanged with the noise off, and fails a training
    step on some backends with it on: refused on every backend (float-activation policy; the properties on
    JAX found SpatialDropout2D(rate 0) on integers feeding a convolution that then failed)."""
    with pytest.raises(ShapeError) as refused:
        parse_layer(spec).infer([Tensor((None,) + shape, dtype)])
    assert refused.value.policy == "float-activation"


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "SpatialDropout1D", "rate": 0.5}, (4,)),
        ({"type": "SpatialDropout1D", "rate": 0.5}, (4, 4, 4)),
        ({"type": "SpatialDropout2D", "rate": 0.5}, (4, 4)),
        ({"type": "SpatialDropout2D", "rate": 0.5}, (4, 4, 4, 4)),
        ({"type": "SpatialDropout3D", "rate": 0.5}, (4, 4, 4)),
        ({"type": "SpatialDropout3D", "rate": 0.5}, (4, 4, 4, 4, 4)),
    ],
)
def test_regularization_rejections_match_keras(spec, shape):
    check_rejected(spec, shape)


@pytest.mark.parametrize(
    "spec, dtype",
    [
        ({"type": "SpatialDropout1D", "rate": 0.5}, "int32"),
        ({"type": "GaussianNoise", "stddev": 0.1}, "int32"),
        ({"type": "GaussianNoise", "stddev": 0.1}, "bool"),
        ({"type": "GaussianDropout", "rate": 0.1}, "uint8"),
        ({"type": "AlphaDropout", "rate": 0.3}, "int32"),
    ],
)
def test_regularization_refused_where_training_fails(spec, dtype):
    check_refused_when_run(spec, (3, 4), [dtype], train_step=True)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "SpatialDropout1D"},
        {"type": "SpatialDropout1D", "rate": 1.0},  # policy: drops everything
        {"type": "SpatialDropout2D", "rate": -0.1},
        {"type": "SpatialDropout2D", "rate": 0.5, "data_format": "channels_first"},
        {"type": "GaussianNoise", "stddev": 1.5},
        {"type": "GaussianNoise", "stddev": -0.1},
        {"type": "GaussianDropout", "rate": 1.0},  # Keras accepts it and divides by zero
        {"type": "GaussianDropout", "rate": 0.5, "seed": -1},
        {"type": "GaussianDropout", "rate": "0.5"},
        {"type": "SpatialDropout3D", "rate": 0.5, "data_format": "channels_last"},
        {"type": "AlphaDropout"},
        {"type": "AlphaDropout", "rate": 1.0},  # Keras divides by zero
        {"type": "AlphaDropout", "rate": 0.5, "noise_shape": [0, 1]},
        {"type": "ActivityRegularization", "l1": -0.1},  # Keras: "expected a non-negative float"
        {"type": "ActivityRegularization", "l2": "0.1"},
        {"type": "ActivityRegularization", "activity_regularizer": "l2"},  # l1 and l2 are its arguments
    ],
)
def test_regularization_argument_validation(spec):
    with pytest.raises(pydantic.ValidationError):
        parse_layer(spec)


def test_regularization_messages():
    with pytest.raises(ShapeError, match=r"expected ndim=4, found ndim=3"):
        parse_layer({"type": "SpatialDropout2D", "rate": 0.5}).infer([Tensor((None, 3, 4))])
    with pytest.raises(ShapeError, match=r"Received: dtype=int32"):
        parse_layer({"type": "GaussianNoise", "stddev": 0.5}).infer([Tensor((None, 3), "int32")])


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "AlphaDropout", "rate": 0.3, "noise_shape": [None, 2]}, (3, 4)),  # too short
        ({"type": "AlphaDropout", "rate": 0.3, "noise_shape": [None, 2, 4]}, (3, 4)),  # 2 does not broadcast to 3
        ({"type": "AlphaDropout", "rate": 0.3, "noise_shape": [None, 1, 4, 1]}, (3, 4)),  # too long
    ],
)
def test_alpha_dropout_noise_shape_must_broadcast(spec, shape):
    check_refused_when_run(spec, shape, in_training=True)
    zero = {**spec, "rate": 0.0}  # Keras never builds the mask at rate 0, and runs: refused by policy
    with pytest.raises(ShapeError) as refused:
        parse_layer(zero).infer([Tensor((None,) + shape)])
    assert (refused.value.policy, refused.value.field) == ("noise-shape", "noise_shape")


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])
def test_activity_regularization_of_integers_is_refused(dtype):
    """Keras declares float32 but returns the input's integers (or fails computing the penalty)."""
    check_refused_when_run({"type": "ActivityRegularization", "l1": 0.01}, (3, 4), [dtype], wrong_dtype=True)


def test_activity_regularization_adds_its_penalty_in_training():
    import keras
    import numpy as np

    layer = build_layer(parse_layer({"type": "ActivityRegularization", "l1": 0.5, "l2": 0.25}))
    x = np.array([[1.0, -2.0]], "float32")
    assert np.allclose(np.asarray(layer(x)), x)
    assert np.isclose(float(sum(keras.ops.convert_to_numpy(loss) for loss in layer.losses)), 0.5 * 3 + 0.25 * 5)


# ---- property --------------------------------------------------------------------------------

DIM = st.one_of(st.none(), st.integers(1, 5))
DTYPES = st.sampled_from(["float32", "float32", "float32", "float16", "int32", "uint8", "bool"])
RATE = st.sampled_from([0.0, 0.1, 0.5, 0.9])
RANKS = {"SpatialDropout1D": 2, "SpatialDropout2D": 3, "SpatialDropout3D": 4}  # without the batch axis
KINDS = ["SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
         "ActivityRegularization"]


@st.composite
def regularization_cases(draw):
    kind = draw(st.sampled_from(KINDS))
    if kind == "ActivityRegularization":
        spec = {"type": kind, "l1": draw(st.sampled_from([0.0, 0.01])), "l2": draw(st.sampled_from([0.0, 0.1]))}
    else:
        spec = {"type": kind, "stddev" if kind == "GaussianNoise" else "rate": draw(RATE)}
        if draw(st.booleans()):
            spec["seed"] = draw(st.integers(0, 1000))
    # Mostly the rank the layer needs, sometimes any rank.
    rank = draw(st.one_of(st.just(RANKS.get(kind, 2)), st.integers(0, 4)))
    shape = tuple(draw(st.lists(DIM, min_size=rank, max_size=rank)))
    if kind == "AlphaDropout" and draw(st.booleans()):  # a mask of the input's shape, some axes 1 or null
        spec["noise_shape"] = [draw(st.sampled_from([None, 1, d])) for d in (None, *shape)]
    return spec, shape


@settings(max_examples=30, deadline=None)
@given(case=regularization_cases(), dtype=DTYPES)
def test_regularization_property_kspec_agrees_with_keras(case, dtype):
    spec, shape = case
    event("accepted" if check_agrees(spec, shape, [dtype], train_step=True) else "refused")


@settings(max_examples=15, deadline=None)
@given(case=regularization_cases(), dtype=DTYPES)
def test_regularization_property_accepted_specs_train(case, dtype):
    spec, shape = case
    event("trained" if check_trains(spec, shape, [dtype]) else "refused")
