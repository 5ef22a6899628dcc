"""The layer classes of keras.applications (LayerScale, StochasticDepth, CustomScaleLayer) against Keras's own."""

import numpy as np
import pydantic
import pytest
from hypothesis import event, given, settings, strategies as st

from kspec.compile import build_layer
from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import check_agrees, check_layer, check_rejected, check_trains, random_batch

DTYPES = st.sampled_from(["float32", "float16", "bfloat16", "float64", "int32", "int8", "uint8", "bool"])


def test_the_keras_classes_are_the_applications_own():
    from keras.src.applications import convnext, inception_resnet_v2

    assert type(build_layer(parse_layer({"type": "LayerScale", "init_values": 0.1, "projection_dim": 3}))) is (
        convnext.LayerScale
    )
    assert type(build_layer(parse_layer({"type": "StochasticDepth", "drop_path_rate": 0.1}))) is (
        convnext.StochasticDepth
    )
    assert type(build_layer(parse_layer({"type": "CustomScaleLayer", "scale": 0.2}))) is (
        inception_resnet_v2.CustomScaleLayer
    )


@pytest.mark.parametrize(
    "spec, shape, dtype, params",
    [
        ({"type": "LayerScale", "init_values": 1e-6, "projection_dim": 4}, (5, 4), "float32", 4),
        ({"type": "LayerScale", "init_values": 0.5, "projection_dim": 3}, (2, None, 3), "float16", 3),
        ({"type": "LayerScale", "init_values": 0.5, "projection_dim": 3}, (6, 1), "float32", 3),  # broadcast: (6, 3)
        ({"type": "LayerScale", "init_values": 1.0, "projection_dim": 1}, (4, 5), "float32", 1),
        ({"type": "LayerScale", "init_values": 1.0, "projection_dim": 2}, (3, 2), "int32", 2),
        ({"type": "StochasticDepth", "drop_path_rate": 0.1}, (4, 4, 3), "float32", 0),
        ({"type": "StochasticDepth", "drop_path_rate": 0.0}, (None, 2), "bfloat16", 0),
        ({"type": "StochasticDepth", "drop_path_rate": 0.5}, (3,), "float64", 0),
    ],
)
def test_one_input_layers_match_keras(spec, shape, dtype, params):
    inferred = check_layer(spec, shape, [dtype])
    assert inferred is not None and inferred.params == params


@pytest.mark.parametrize(
    "shapes, dtypes",
    [
        ([(4, 3), (4, 3)], ["float32", "float32"]),
        ([(None, 3), (None, 3)], ["float32", "float16"]),
        ([(4, 1), (1, 3)], ["float32", "float32"]),  # broadcast both ways: (4, 3)
        ([(2, 2), (2, 2)], ["float64", "bfloat16"]),
    ],
)
def test_custom_scale_layer_matches_keras(shapes, dtypes):
    inferred = check_layer({"type": "CustomScaleLayer", "scale": 0.17}, shapes, dtypes)
    assert inferred is not None and inferred.params == 0


@pytest.mark.parametrize("dtypes", [["int32", "float32"], ["float32", "int32"], ["int32", "int32"], ["bool", "bool"]])
def test_custom_scale_layer_refuses_integers_as_tensorflow_does(dtypes):
    """The TensorFlow backend's operators neither promote integers nor multiply them by a float: refused (on
    every backend, the portability policy)."""
    check_rejected({"type": "CustomScaleLayer", "scale": 0.17}, [(2, 2), (2, 2)], dtypes)
    with pytest.raises(ShapeError) as refused:
        parse_layer({"type": "CustomScaleLayer", "scale": 0.17}).apply([Tensor((None, 2, 2), d) for d in dtypes])
    assert refused.value.backends == ("tensorflow",)


def test_custom_scale_layer_computes_the_scaled_sum():
    x, y = random_batch([(3, 2), (3, 2)])
    layer = build_layer(parse_layer({"type": "CustomScaleLayer", "scale": 0.25}))
    np.testing.assert_allclose(np.asarray(layer([x, y])), x + 0.25 * y, rtol=1e-6)


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ({"type": "LayerScale", "init_values": 0.1, "projection_dim": 4}, (5, 3)),
        ({"type": "CustomScaleLayer", "scale": 0.1}, [(4, 3), (4, 2)]),
    ],
)
def test_rejections_match_keras(spec, shapes):
    check_rejected(spec, shapes)
    with pytest.raises(ShapeError, match="cannot broadcast"):
        parse_layer(spec).infer([Tensor((None,) + s) for s in (shapes if isinstance(shapes, list) else [shapes])])


@pytest.mark.parametrize(
    "spec, inputs, policy",
    [
        # gamma broadcast against the batch axis
        ({"type": "LayerScale", "init_values": 0.1, "projection_dim": 4}, [Tensor((None,))], "batch-axis"),
        ({"type": "CustomScaleLayer", "scale": 0.1}, [Tensor((None, 3)), Tensor((None, 2, 3))], "batch-axis"),
        ({"type": "StochasticDepth", "drop_path_rate": 0.1}, [Tensor((None, 3), "int32")], "float-activation"),
    ],
)
def test_refusals_by_policy(spec, inputs, policy):
    with pytest.raises(ShapeError) as refused:
        parse_layer(spec).apply(inputs)
    assert refused.value.policy == policy


def test_x_plus_minus_x_is_a_constant_layer():
    assert parse_layer({"type": "CustomScaleLayer", "scale": -1.0}).constant_on_equal_inputs() == "0"
    assert parse_layer({"type": "CustomScaleLayer", "scale": 0.5}).constant_on_equal_inputs() is None


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "LayerScale", "projection_dim": 3},  # Keras has no defaults for them
        {"type": "LayerScale", "init_values": 0.1},
        {"type": "LayerScale", "init_values": 0.1, "projection_dim": 0},
        {"type": "LayerScale", "init_values": "0.1", "projection_dim": 2},
        {"type": "StochasticDepth"},
        {"type": "StochasticDepth", "drop_path_rate": 1.0},  # Keras divides by 1 - rate
        {"type": "StochasticDepth", "drop_path_rate": -0.1},
        {"type": "CustomScaleLayer"},
        {"type": "CustomScaleLayer", "scale": 0.1, "activation": "relu"},
    ],
)
def test_argument_validation(spec):
    with pytest.raises(pydantic.ValidationError):
        parse_layer(spec)


def test_stochastic_depth_acts_in_training_only():
    layer = parse_layer({"type": "StochasticDepth", "drop_path_rate": 0.3})
    assert layer.training_only and layer.drops_values and layer.value_passing() == "scales"
    (x,) = random_batch((4,))
    keras_layer = build_layer(layer)
    np.testing.assert_array_equal(np.asarray(keras_layer(x)), x)


@pytest.mark.parametrize(
    "spec, count",
    [
        ({"type": "LayerScale", "init_values": 0.1, "projection_dim": 2}, 1),
        ({"type": "StochasticDepth", "drop_path_rate": 0.1}, 1),
        ({"type": "CustomScaleLayer", "scale": 0.5}, 2),
    ],
)
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
def test_a_mask_stops_at_them_as_in_keras(spec, count):
    import keras

    x = keras.Input((3,), dtype="int32")
    h = keras.layers.Embedding(5, 2, mask_zero=True)(x)
    layer = parse_layer(spec)
    assert layer.ends_mask()
    out = build_layer(layer)(h if count == 1 else [h, h])
    assert getattr(out, "_keras_mask", None) is None


@st.composite
def cases(draw):
    """A layer of one of the three types and an input (two for CustomScaleLayer), mostly shaped to fit."""
    kind = draw(st.sampled_from(["LayerScale", "StochasticDepth", "CustomScaleLayer"]))
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.sampled_from([None, 1, 2, 3]), min_size=rank, max_size=rank)))
    if kind == "LayerScale":
        dim = shape[-1] if shape[-1] and draw(st.integers(0, 3)) else draw(st.integers(1, 3))
        return {"type": kind, "init_values": draw(st.sampled_from([1e-6, 0.5])), "projection_dim": dim}, shape
    if kind == "StochasticDepth":
        return {"type": kind, "drop_path_rate": draw(st.sampled_from([0.0, 0.2]))}, shape
    other = tuple(draw(st.sampled_from([d, 1, None, 2])) for d in shape)
    return {"type": kind, "scale": draw(st.sampled_from([0.17, -1.0, 2.0]))}, [shape, other]


@settings(max_examples=30, deadline=None)
@given(case=cases(), dtype=DTYPES)
def test_property_kspec_agrees_with_keras(case, dtype):
    spec, shapes = case
    dtypes = [dtype] * (2 if isinstance(shapes, list) else 1)
    event("accepted" if check_agrees(spec, shapes, dtypes, train_step=True) else "refused")


@settings(max_examples=10, deadline=None)
@given(case=cases())
def test_property_accepted_specs_train(case):
    spec, shapes = case
    event("trained" if check_trains(spec, shapes) else "refused")
