import pydantic
import pytest
from hypothesis import event, given, settings, strategies as st

from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import check_agrees, check_layer, check_refused_when_run, check_rejected, check_trains, kspec_refusal


@pytest.mark.parametrize(
    "spec, shape, params",
    [
        ({"type": "ReLU"}, (4,), 0),
        ({"type": "ReLU", "max_value": 6.0}, (3, 4), 0),
        ({"type": "ReLU", "max_value": 2.5, "threshold": 0.5}, (None, 4), 0),
        ({"type": "ReLU", "negative_slope": 0.1}, (4,), 0),
        ({"type": "ReLU", "negative_slope": 0.1, "max_value": 3.0, "threshold": 1.0}, (2, 2, 2), 0),
        ({"type": "LeakyReLU"}, (4,), 0),
        ({"type": "LeakyReLU", "negative_slope": 0.01}, (None, 3), 0),
        ({"type": "PReLU"}, (3, 4), 12),
        ({"type": "PReLU", "shared_axes": [1, 2]}, (5, 5, 3), 3),
        ({"type": "PReLU", "shared_axes": 1}, (None, 4), 4),
        ({"type": "PReLU", "shared_axes": [1, 1]}, (2, 4), 4),
        ({"type": "PReLU", "shared_axes": []}, (2, 4), 8),
        ({"type": "PReLU", "alpha_initializer": {"type": "Constant", "value": 0.25}, "alpha_constraint": "non_neg"}, (4,), 4),
        ({"type": "PReLU"}, (), 1),
        ({"type": "ELU"}, (3, 4), 0),
        ({"type": "ELU", "alpha": 0.5}, (None,), 0),
        ({"type": "Softmax"}, (10,), 0),
        ({"type": "Softmax", "axis": 1}, (3, 4), 0),
        ({"type": "Softmax", "axis": [-1, -2]}, (None, 4), 0),
        ({"type": "Softmax", "axis": [1, 2]}, (3, 4, 2), 0),
        ({"type": "Softmax", "axis": 0}, (3,), 0),
    ],
)
def test_activation_layers_match_keras(spec, shape, params):
    inferred = check_layer(spec, shape)
    assert inferred is not None and inferred.params == params
    assert inferred.output.shape == (None,) + shape and inferred.output.dtype == "float32"


@pytest.mark.parametrize(
    "spec, dtype",
    [
        ({"type": "Softmax"}, "float16"),
        ({"type": "ELU"}, "bfloat16"),
        ({"type": "PReLU"}, "float64"),
    ],
)
def test_activation_dtypes_match_keras(spec, dtype):
    assert check_layer(spec, (3, 4), [dtype]).output.dtype == "float32"


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "PReLU"}, (None, 4)),  # one alpha per element needs every size
        ({"type": "PReLU", "shared_axes": [3]}, (3, 4)),
    ],
)
def test_activation_rejections_match_keras(spec, shape):
    check_rejected(spec, shape)


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        ({"type": "Softmax", "axis": 3}, (3, 4), "float32"),
        ({"type": "Softmax", "axis": -4}, (3, 4), "float32"),
        ({"type": "Softmax", "axis": [1, -2]}, (3, 4), "float32"),
        ({"type": "Softmax"}, (3, 4), "int32"),
        ({"type": "ELU"}, (3, 4), "uint8"),
        ({"type": "PReLU"}, (3, 4), "int32"),
        ({"type": "ReLU"}, (3, 4), "bool"),
        ({"type": "LeakyReLU"}, (3, 4), "bool"),
        ({"type": "ReLU", "negative_slope": 0.1, "max_value": 2.0}, (3, 4), "int32"),
        ({"type": "ReLU", "negative_slope": 0.1, "threshold": 2.0}, (3, 4), "int16"),
        # Keras declares float32 but returns the integers, which a convolution after it then fails on
        ({"type": "ReLU"}, (3, 4), "int32"),
        ({"type": "ReLU", "max_value": 2.0, "threshold": 1.0}, (3, 4), "uint8"),
        ({"type": "ReLU", "max_value": 2.0}, (3, 4), "int64"),  # not on JAX (float32 there): portability
    ],
)
def test_activation_refused_where_keras_fails_at_run_time(spec, shape, dtype):
    check_refused_when_run(spec, shape, [dtype], train_step=True, wrong_dtype=True)


@pytest.mark.parametrize(
    "spec, dtype, backends",
    [
        ({"type": "ReLU", "negative_slope": 0.2}, "int64", ("torch",)),  # no leaky ReLU kernel for integers there
        ({"type": "LeakyReLU"}, "int8", ("torch",)),
        ({"type": "PReLU"}, "int32", ("tensorflow",)),
        ({"type": "Softmax", "axis": [1, 2]}, "uint8", ("tensorflow",)),
        ({"type": "ELU"}, "int32", ("tensorflow", "torch")),
    ],
)
def test_activation_portability_refusals(spec, dtype, backends):
    """Refused on every backend, naming the ones that fail; on this backend Keras fails exactly when it is named
    (and otherwise runs the layer and trains it one step)."""
    refusal = kspec_refusal(spec, (3, 4), [dtype])
    assert refusal is not None and (refusal.policy, refusal.backends) == ("portability", backends)
    check_agrees(spec, (3, 4), [dtype], train_step=True, wrong_dtype=True)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "ReLU", "max_value": -1.0},
        {"type": "ReLU", "negative_slope": -0.1},
        {"type": "ReLU", "threshold": -1.0},
        {"type": "ReLU", "threshold": "1"},
        {"type": "LeakyReLU", "negative_slope": -0.3},
        {"type": "LeakyReLU", "alpha": 0.3},
        {"type": "PReLU", "shared_axes": [0]},
        {"type": "PReLU", "shared_axes": [-1]},  # Keras's PReLU shifts negative axes by one
        {"type": "ELU", "alpha": float("nan")},
        {"type": "Softmax", "axis": []},
        {"type": "Softmax", "axis": 1.0},
    ],
)
def test_activation_argument_validation(spec):
    with pytest.raises(pydantic.ValidationError):
        parse_layer(spec)


def test_activation_messages():
    with pytest.raises(ShapeError, match=r"Axis 3 is out of bounds for input shape \(None, 3, 4\).*Received: axis=3"):
        parse_layer({"type": "Softmax", "axis": 3}).infer([Tensor((None, 3, 4))])
    with pytest.raises(ShapeError, match=r"axis 1 needs a defined size .* Received: shared_axes=None") as exc:
        parse_layer({"type": "PReLU"}).infer([Tensor((None, None, 4))])
    assert exc.value.field == "shared_axes"
    assert parse_layer({"type": "PReLU", "shared_axes": 2}).shared_axes == (2,)
    assert parse_layer({"type": "Softmax"}).keras_kwargs() == {"axis": (-1,)}


# ---- property --------------------------------------------------------------------------------

DIM = st.one_of(st.none(), st.integers(1, 5))
SHAPES = st.lists(DIM, min_size=0, max_size=3).map(tuple)
DTYPES = st.sampled_from(["float32", "float32", "float16", "int32", "uint8", "bool"])
AXIS = st.integers(-4, 3)
FLOAT = st.sampled_from([0.0, 0.1, 0.5, 1.0, 6.0])


@st.composite
def activation_specs(draw):
    kind = draw(st.sampled_from(["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]))
    if kind == "ReLU":
        return {
            "type": "ReLU",
            "max_value": draw(st.one_of(st.none(), FLOAT)),
            "negative_slope": draw(FLOAT),
            "threshold": draw(FLOAT),
        }
    if kind == "LeakyReLU":
        return {"type": "LeakyReLU", "negative_slope": draw(FLOAT)}
    if kind == "PReLU":
        return {"type": "PReLU", "shared_axes": draw(st.one_of(st.none(), st.lists(st.integers(1, 4), max_size=3)))}
    if kind == "ELU":
        return {"type": "ELU", "alpha": draw(st.floats(-2, 2))}
    return {"type": "Softmax", "axis": draw(st.one_of(AXIS, st.lists(AXIS, min_size=1, max_size=3)))}


@settings(max_examples=40, deadline=None)
@given(spec=activation_specs(), shape=SHAPES, dtype=DTYPES)
def test_activation_property_kspec_agrees_with_keras(spec, shape, dtype):
    event("accepted" if check_agrees(spec, shape, [dtype], train_step=True, wrong_dtype=True) else "refused")


@settings(max_examples=15, deadline=None)
@given(spec=activation_specs(), shape=SHAPES, dtype=DTYPES)
def test_activation_property_accepted_specs_train(spec, shape, dtype):
    event("trained" if check_trains(spec, shape, [dtype]) else "refused")
