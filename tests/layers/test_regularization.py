import pydantic
import pytest
from hypothesis import event, given, settings, strategies as st

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


# ---- property --------------------------------------------------------------------------------

DIM = st.one_of(st.none(), st.integers(1, 5))
DTYPES = st.sampled_from(["float32", "float32", "float32", "float16", "int32", "uint8", "bool"])
RATE = st.sampled_from([0.0, 0.1, 0.5, 0.9])
RANKS = {"SpatialDropout1D": 2, "SpatialDropout2D": 3}  # without the batch axis


@st.composite
def regularization_cases(draw):
    kind = draw(st.sampled_from(["SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"]))
    strength = "stddev" if kind == "GaussianNoise" else "rate"
    spec = {"type": kind, strength: draw(RATE)}
    if draw(st.booleans()):
        spec["seed"] = draw(st.integers(0, 1000))
    # Mostly the rank the layer needs, sometimes any rank.
    rank = draw(st.one_of(st.just(RANKS.get(kind, 2)), st.integers(0, 4)))
    shape = tuple(draw(st.lists(DIM, min_size=rank, max_size=rank)))
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
