"""Image augmentation layers and Pipeline against Keras: examples, refusals, kspec's policies, a training step and
a property test."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.compile import build_layer
from kspec.spec.layers import ShapeError, parse_layer

from .harness import (
    FAILS_FOR_SOME_SIZE,
    check_layer,
    check_refused_when_run,
    check_rejected,
    check_runtime_agreement,
    check_trains,
    keras_failure,
    keras_model,
    kspec_infer,
    kspec_refusal,
    random_batch,
)

#: One of each layer type that kspec accepts on RGB images.
ACCEPTED = [
    {"type": "RandomBrightness", "factor": 0.2},
    {"type": "RandomSaturation", "factor": [-0.5, 0.5], "value_range": [0, 1]},
    {"type": "RandomHue", "factor": 0.3},
    {"type": "RandomGrayscale", "factor": 1.0, "seed": 1},
    {"type": "RandomInvert"},
    {"type": "RandomPosterization", "factor": [2, 6]},
    {"type": "RandomSharpness", "factor": 0.7},
    {"type": "RandomShear", "x_factor": 0.3, "y_factor": [0.1, 0.2], "fill_mode": "constant"},
    {"type": "RandomPerspective", "scale": 0.5, "fill_value": 1.0},
    {"type": "RandomElasticTransform", "factor": 0.0},
    {"type": "RandomErasing", "fill_value": 5.0},
    {"type": "RandomGaussianBlur", "kernel_size": 5, "sigma": [0.2, 0.8]},
    {"type": "RandomColorJitter", "brightness_factor": 0.2, "contrast_factor": 0.2, "saturation_factor": 0.3,
     "hue_factor": 0.2},
    {"type": "RandomColorDegeneration", "factor": 0.5},
    {"type": "AutoContrast", "value_range": [-1, 1]},
    {"type": "Solarization", "addition_factor": 0.5, "threshold_factor": [0.2, 0.8]},
    {"type": "AugMix", "num_chains": 2, "chain_depth": 2},
    {"type": "RandAugment", "num_ops": 3},
    {"type": "ContrastLimitedAdaptiveHistogramEqualization", "tile_grid_size": [2, 3]},
    {"type": "RandomCrop", "height": 6, "width": 5},
    {"type": "Pipeline", "layers": [{"type": "RandomFlip"}, {"type": "Equalization", "bins": 16},
                                    {"type": "RandomHue", "factor": 0.1}]},
]
#: Layers that return an integer or boolean image unchanged at inference (declaring float32), or fail on it.
FLOAT_ONLY = ["RandomBrightness", "RandomSaturation", "RandomHue", "RandomInvert", "RandomPosterization",
              "RandomColorJitter", "RandomColorDegeneration", "ContrastLimitedAdaptiveHistogramEqualization"]
TYPES = {spec["type"]: spec for spec in ACCEPTED}


# ---- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ACCEPTED, ids=lambda spec: spec["type"])
def test_layers_match_keras(spec):
    """Shape, dtype and parameters as Keras declares them, and when run, in training and at inference."""
    inferred = check_layer(spec, (6, 5, 3))
    assert inferred is not None and inferred.output.shape == (None, 6, 5, 3)
    check_runtime_agreement(spec, (6, 5, 3), fills=(6,))


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "RandomGrayscale"}, (4, 5, 1)),
        ({"type": "RandAugment"}, (None, None, 1)),
        ({"type": "AugMix", "all_ops": False}, (4, 5, 4)),
        ({"type": "RandomColorJitter", "brightness_factor": 0.1, "contrast_factor": 0.5}, (4, 5, 2)),
        ({"type": "RandomGaussianBlur", "kernel_size": [3, 3]}, (None, None, 2)),
        ({"type": "ContrastLimitedAdaptiveHistogramEqualization"}, (4, 4, 1)),  # pads by 4: as much as it can
        ({"type": "RandomPerspective"}, (2, 2, 4)),
        ({"type": "Solarization"}, (None, 5, 1)),
    ],
)
def test_channels_and_sizes_that_keras_takes(spec, shape):
    assert check_layer(spec, shape) is not None
    check_runtime_agreement(spec, shape, fills=(4,))


@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool", "float64"])
def test_dtypes_of_layers_that_cast(dtype):
    """Integer and boolean images are cast to float32; RandomGrayscale keeps the input's dtype."""
    for spec in (TYPES["RandomSharpness"], TYPES["AutoContrast"], TYPES["RandomErasing"]):
        assert check_layer(spec, (4, 5, 3), [dtype]).output.dtype == "float32"
    gray = check_layer(TYPES["RandomGrayscale"], (4, 5, 3), [dtype])
    assert gray.output.dtype == ("float32" if dtype == "float64" else dtype)
    check_runtime_agreement(TYPES["RandomGrayscale"], (4, 5, 3), [dtype])


# ---- refusals -------------------------------------------------------------------------------------


def _inference_mismatch(spec, shape, dtype="float32") -> str | None:
    """How the Keras layer's output at inference (`training=False`, as in `predict`; the harness's calls leave
    `training` unset, which these layers take as True) differs from what it declares, in words; None if it does not."""
    layer = build_layer(parse_layer(spec))
    declared = layer(keras.Input(shape, dtype=dtype))
    out = layer(random_batch(shape, [dtype], fill=4)[0], training=False)
    if keras.backend.standardize_dtype(out.dtype) != declared.dtype:
        return f"dtype {out.dtype} instead of {declared.dtype}"
    if tuple(out.shape[1:]) != tuple(4 if d is None else d for d in declared.shape[1:]):
        return f"shape {tuple(out.shape)} instead of {tuple(declared.shape)}"
    return None


@pytest.mark.parametrize("layer_type", FLOAT_ONLY)
def test_integer_images_are_refused_where_keras_returns_them_uncast(layer_type):
    """At inference Keras returns the integer image where it declares float32 (some fail in training too)."""
    spec = TYPES[layer_type]
    with pytest.raises(ShapeError, match="floating-point"):
        kspec_infer(spec, (4, 5, 3), ["uint8"])
    assert _inference_mismatch(spec, (4, 5, 3), "uint8") is not None


@pytest.mark.parametrize(
    "layer_type, channels",
    [("RandomSaturation", 1), ("RandomHue", 4), ("RandomGrayscale", 4), ("RandomColorJitter", 1), ("AugMix", 2),
     ("RandAugment", 4)],
)
def test_channels_keras_cannot_process_are_refused(layer_type, channels):
    """Keras builds these, then fails in training (RGB or gray images only)."""
    spec = TYPES[layer_type]
    with pytest.raises(ShapeError, match="channels"):
        kspec_infer(spec, (4, 5, channels))
    if layer_type != "AugMix":
        check_refused_when_run(spec, (4, 5, channels), in_training=True)
        return
    # AugMix draws the augmentations of its chains at random (Python's `random`): it fails once one of them
    # converts RGB to grayscale
    random.seed(0)
    layer, x = build_layer(parse_layer(spec)), random_batch((4, 5, channels))[0]
    with pytest.raises(Exception, match="channel"):
        for _ in range(30):
            layer(x, training=True)


def test_unknown_channels_are_refused_where_keras_needs_a_count():
    with pytest.raises(ShapeError, match="defined number of channels"):
        kspec_infer(TYPES["RandomHue"], (4, 5, None))
    check_refused_when_run(TYPES["RandomHue"], (4, 5, None), **FAILS_FOR_SOME_SIZE)


def test_color_degeneration_needs_rgb_as_keras_does():
    check_rejected(TYPES["RandomColorDegeneration"], (4, 5, 1))


@pytest.mark.parametrize("shape", [(1, 5, 3), (3, 1, 3)])
def test_perspective_of_a_single_row_or_column_is_refused(shape):
    check_refused_when_run(TYPES["RandomPerspective"], shape, in_training=True)


def test_clahe_padding_more_than_an_axis_is_refused_for_tensorflow():
    """8 tiles on 3 rows pad them by 5: TensorFlow's symmetric padding fails (JAX and PyTorch run it)."""
    spec = {"type": "ContrastLimitedAdaptiveHistogramEqualization"}
    refusal = kspec_refusal(spec, (3, 8, 3))
    assert refusal.policy == "portability" and refusal.backends == ("tensorflow",)
    if keras.backend.backend() == "tensorflow":
        check_refused_when_run(spec, (3, 8, 3))


@pytest.mark.parametrize(
    "spec, backend",
    [
        ({"type": "RandomElasticTransform"}, "jax"),
        ({"type": "RandomGaussianBlur", "kernel_size": [3, 5]}, "torch"),
    ],
)
def test_portability_refusals(spec, backend):
    """Refused on every backend, naming the one that fails; elsewhere Keras runs and trains it."""
    refusal = kspec_refusal(spec, (6, 7, 3))
    assert refusal.policy == "portability" and refusal.backends == (backend,)
    if keras.backend.backend() != backend:
        assert keras_failure(spec, (6, 7, 3), in_training=True) is None


@pytest.mark.parametrize("shape", [(8, 9, 3), (None, None, 3), (4, 4, 3)])
def test_random_crop_that_changes_the_size_is_refused(shape):
    """Keras 3.15 crops in training, but returns its input unchanged at inference (keras-team/keras#21868): another
    shape than it declares (and float16 images stay float16)."""
    spec = {"type": "RandomCrop", "height": 4, "width": 5}
    with pytest.raises(ShapeError, match="keras-team/keras#21868"):
        kspec_infer(spec, shape)
    assert _inference_mismatch(spec, shape).startswith("shape")
    with pytest.raises(ShapeError, match="float32"):
        kspec_infer({"type": "RandomCrop", "height": 4, "width": 5}, (4, 5, 3), ["float16"])
    assert _inference_mismatch({"type": "RandomCrop", "height": 4, "width": 5}, (4, 5, 3), "float16").startswith("dtype")


def test_equalization_outside_a_pipeline_is_refused():
    """Keras gives the input tensor itself as Equalization's symbolic output: a model cannot hold it after another
    layer (a cycle), and leaves it out on the model's input; inside a Pipeline it works."""
    with pytest.raises(ShapeError, match="Pipeline"):
        kspec_infer({"type": "Equalization"}, (4, 5, 3))
    inputs = keras.Input((4, 5, 3))
    x = keras.layers.Rescaling(1.0)(inputs)
    assert keras.layers.Equalization()(x) is x
    with pytest.raises(ValueError, match="cycle"):
        keras.Model(inputs, keras.layers.Equalization()(x))
    dropped = keras.Model(inputs, keras.layers.Flatten()(keras.layers.Equalization()(inputs)))
    assert not any(isinstance(layer, keras.layers.Equalization) for layer in dropped.layers)
    assert check_layer({"type": "Pipeline", "layers": [{"type": "Equalization"}]}, (4, 5, 3)) is not None


@pytest.mark.parametrize("spec", [{"type": "MixUp"}, {"type": "CutMix"}])
def test_batch_mixing_layers_are_refused_by_policy(spec):
    """As layers of a model they mix each image with another of the batch, labels untouched."""
    with pytest.raises(ShapeError, match="cannot mix their labels") as refused:
        kspec_infer(spec, (4, 5, 3))
    assert refused.value.policy == "batch-mixing-labels"
    layer = build_layer(parse_layer({**spec, "seed": 3}))
    x = np.stack([np.zeros((4, 5, 3)), np.ones((4, 5, 3))]).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    assert np.allclose(layer(x, training=False), x) and y.shape == x.shape
    inside = {"type": "Pipeline", "layers": [{"type": "RandomFlip"}, spec]}
    assert kspec_refusal(inside, (4, 5, 3)).policy == "batch-mixing-labels"


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "RandomBrightness"},
        {"type": "RandomBrightness", "factor": 1.5},
        {"type": "RandomHue", "factor": -0.1},
        {"type": "RandomHue", "factor": [-5, 0.5]},  # Keras takes it (it checks one end of each pair)
        {"type": "RandomGrayscale", "factor": [0.1, 0.2]},
        {"type": "RandomPosterization", "factor": 3.5},  # fails on TensorFlow and PyTorch
        {"type": "RandomPosterization", "factor": 9},
        {"type": "RandomPosterization", "factor": 0},
        {"type": "RandomShear", "x_factor": -0.1},
        {"type": "RandomPerspective", "scale": [0.1, 0.2]},
        {"type": "RandomErasing", "fill_value": [1, 2, 3]},  # fails on JAX
        {"type": "RandomGaussianBlur", "kernel_size": 4},
        {"type": "RandomGaussianBlur", "sigma": 2.0},
        {"type": "RandomElasticTransform", "fill_mode": "mirrors"},
        {"type": "RandomContrast", "factor": 0.1, "value_range": [1, 1]},
        {"type": "AutoContrast", "value_range": [255, 0]},
        {"type": "AugMix", "alpha": 0},
        {"type": "MixUp", "alpha": -1},
        {"type": "RandAugment", "num_ops": -1},
        {"type": "ContrastLimitedAdaptiveHistogramEqualization", "tile_grid_size": [0, 2]},
        {"type": "RandomCrop", "height": 4},
        {"type": "Pipeline", "layers": []},
        {"type": "Pipeline", "layers": [{"type": "RandomFlip", "name": "flip"}]},
        {"type": "Pipeline", "layers": [{"type": "Bogus"}]},
    ],
)
def test_invalid_arguments_are_refused(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_factors_keep_keras_meaning():
    """kspec's normalised pairs give the Keras layers the ranges Keras derives from the numbers given."""
    L = keras.layers
    for spec, theirs, attr in [
        ({"type": "RandomHue", "factor": 0.3}, L.RandomHue(0.3), "factor"),
        ({"type": "RandomSaturation", "factor": -0.4}, L.RandomSaturation(-0.4), "factor"),
        ({"type": "RandomPosterization", "factor": 5}, L.RandomPosterization(5), "factor"),
        ({"type": "RandomPosterization", "factor": [6, 2]}, L.RandomPosterization([6, 2]), "factor"),
        ({"type": "Solarization", "addition_factor": 0.4}, L.Solarization(0.4), "addition_factor"),
        ({"type": "RandomShear", "x_factor": 0.4}, L.RandomShear(0.4), "x_factor"),
        ({"type": "RandomErasing"}, L.RandomErasing(), "scale"),
        ({"type": "RandomGaussianBlur", "kernel_size": 5}, L.RandomGaussianBlur(kernel_size=5), "kernel_size"),
    ]:
        assert np.allclose(getattr(build_layer(parse_layer(spec)), attr), getattr(theirs, attr)), spec


def test_facts_about_the_layers():
    assert parse_layer({"type": "RandomHue", "factor": 0.1}).training_only
    assert parse_layer({"type": "Equalization"}).training_only
    assert not parse_layer({"type": "AutoContrast"}).training_only
    assert not parse_layer({"type": "ContrastLimitedAdaptiveHistogramEqualization"}).training_only
    assert parse_layer({"type": "RandomShear"}).value_passing() == "keeps"
    assert parse_layer({"type": "RandomShear", "fill_mode": "constant", "fill_value": 1}).value_passing() is None
    assert parse_layer({"type": "RandomBrightness", "factor": 0.1}).value_passing() is None
    # AutoContrast acts at inference too; Equalization, Solarization do not
    x = random_batch((4, 5, 3))[0] * 50
    assert not np.allclose(build_layer(parse_layer({"type": "AutoContrast"}))(x, training=False), x)
    for spec in ({"type": "Solarization", "addition_factor": 0.5}, {"type": "Pipeline", "layers": [{"type": "Equalization"}]}):
        assert np.allclose(build_layer(parse_layer(spec))(x, training=False), x)


# ---- Pipeline -------------------------------------------------------------------------------------


def test_pipeline_of_layers_with_weights_matches_keras():
    spec = {"type": "Pipeline", "name": "augment", "layers": [
        {"type": "RandomFlip"}, {"type": "Conv2D", "filters": 4, "kernel_size": 3}, {"type": "BatchNormalization"}]}
    inferred = check_layer(spec, (6, 7, 3))
    assert inferred.output.shape == (None, 4, 5, 4) and (inferred.params, inferred.non_trainable) == (128, 8)
    pipeline = parse_layer(spec)
    assert not pipeline.training_only and pipeline.value_passing() is None
    assert [layer.name for layer in build_layer(pipeline).layers] == ["augment_layers_0", "augment_layers_1",
                                                                      "augment_layers_2"]
    flips = parse_layer({"type": "Pipeline", "layers": [{"type": "RandomFlip"}, {"type": "RandomRotation", "factor": 0.1}]})
    assert flips.training_only and flips.value_passing() == "keeps"


@pytest.mark.parametrize(
    "inner, match, policy",
    [
        ({"type": "RandomHue", "factor": 0.1}, r"Layer 1 of the Pipeline \(RandomHue\).*3 channels", None),
        ({"type": "Add"}, "takes 2 or more inputs", None),
        ({"type": "ops.relu"}, "an operation, not a Keras layer", None),
        ({"type": "Normalization", "adapt": True}, "adapt", "adapt-before-training"),
        ({"type": "RandomElasticTransform"}, "JAX", "portability"),
    ],
)
def test_pipeline_refuses_what_its_layers_refuse(inner, match, policy):
    spec = {"type": "Pipeline", "layers": [{"type": "RandomFlip"}, inner]}
    with pytest.raises(ShapeError, match=match) as refused:
        kspec_infer(spec, (4, 5, 1))
    assert refused.value.field == "layers" and refused.value.policy == policy


# ---- a training step --------------------------------------------------------------------------------

TRAINED = [TYPES["RandomPosterization"], TYPES["RandomShear"],
           {"type": "Pipeline", "layers": [{"type": "RandomFlip"}, {"type": "RandomSharpness", "factor": 0.5}]}]


@pytest.mark.parametrize("spec", TRAINED, ids=lambda spec: spec["type"])
def test_trains_one_step_and_predicts(spec):
    """A compiled `fit` step (a Conv2D before the layer), then `predict`, where the training-only layers pass
    their input on. (No gradient flows through RandomPosterization: the Conv2D before it does not train.)"""
    L = keras.layers
    model = keras_model(spec, (6, 5, 3), before=[L.Conv2D(3, 1)], after=[L.GlobalAveragePooling2D(), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = random_batch((6, 5, 3))[0] * 100
    assert np.isfinite(model.fit(x, np.zeros((2, 1)), verbose=0).history["loss"][0])
    assert model.predict(x, verbose=0).shape == (2, 1)


# ---- property test ---------------------------------------------------------------------------------

DTYPES = st.sampled_from(["float32", "float32", "float32", "float64", "uint8", "int32"])
UNIT = st.sampled_from([0.0, 0.3, 1.0, [0.2, 0.6]])


@st.composite
def _case(draw):
    shape = (draw(st.sampled_from([1, 2, 5, None])), draw(st.sampled_from([1, 4, None])), draw(st.sampled_from([1, 2, 3, 4])))
    t = draw(st.sampled_from(sorted(TYPES) + ["MixUp", "CutMix"]))
    spec = dict(TYPES.get(t, {"type": t}))
    if t in ("RandomHue", "RandomSharpness", "RandomInvert", "RandomErasing", "RandomPerspective", "AugMix",
             "RandAugment", "CutMix"):
        spec["factor"] = draw(UNIT)
    if t == "RandomCrop":
        spec.update(height=draw(st.sampled_from([1, 2, 5])), width=draw(st.sampled_from([1, 4])))
    if t == "ContrastLimitedAdaptiveHistogramEqualization":
        spec["tile_grid_size"] = [draw(st.integers(1, 6)), draw(st.integers(1, 6))]
    if t == "RandomGaussianBlur":
        spec["kernel_size"] = draw(st.sampled_from([1, 3, 7]))
    if t == "AugMix" and shape[2] not in (1, 3):  # fails only where its random chains convert to grayscale (above)
        spec["all_ops"] = False
    return spec, shape


def _runs(spec, shape, dtype, fill) -> tuple | None:
    """The output shape of the Keras layer on a random batch (unknown dims set to `fill`) where it runs both in
    training and at inference with the same shape and the dtype it declares; None where it does not."""
    layer = build_layer(parse_layer(spec))
    declared = layer(keras.Input(shape, dtype=dtype))
    x = random_batch(shape, [dtype], fill=fill)[0]
    try:
        outs = [layer(x, training=training) for training in (True, False)]
    except Exception:  # noqa: BLE001 - any Keras failure counts
        return None
    if len({tuple(out.shape) for out in outs} | {(2,) + tuple(fill if d is None else d for d in declared.shape[1:])}) > 1:
        return None
    return None if keras.backend.standardize_dtype(outs[1].dtype) != declared.dtype else tuple(outs[0].shape)


def _kspec_agrees(spec, shape, dtype):
    """kspec accepts exactly what Keras runs, in training and at inference, with the shapes and dtype it declares
    (a refusal by a policy is only counted)."""
    refusal = kspec_refusal(spec, shape, [dtype])
    if refusal is None:
        check_layer(spec, shape, [dtype], eager=False)
        for fill in (1, 4) if None in shape else (4,):
            filled = tuple(fill if d is None else d for d in shape)
            refused = kspec_refusal(spec, filled, [dtype])
            expected = None if refused is not None else (2,) + kspec_infer(spec, filled, [dtype]).output.shape[1:]
            if refused is None or not refused.policy:
                assert _runs(spec, shape, dtype, fill) == expected, (spec, shape, dtype, fill, refused)
    elif refusal.policy is None or keras.backend.backend() in refusal.backends:
        failure = keras_failure(spec, shape, [dtype], at_build=True, **FAILS_FOR_SOME_SIZE)
        if failure is None:  # another dtype or shape than Keras declares, at inference
            failure = _inference_mismatch(spec, shape, dtype)
        assert failure, f"kspec refuses {spec} on {shape} {dtype} ({refusal}), but Keras runs it"


@settings(max_examples=12, deadline=None)
@given(case=_case(), dtype=DTYPES)
def test_property_kspec_agrees_with_keras(case, dtype):
    _kspec_agrees(*case, dtype)
