"""Preprocessing layers against Keras: examples, refusals, kspec's policies, and a property test."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.compile import build_layer
from kspec.spec.layers import ShapeError, parse_layer

from .harness import (
    BATCH,
    FAILS_FOR_SOME_SIZE,
    FILLS,
    check_agrees,
    check_layer,
    check_refused_when_run,
    check_rejected,
    check_runtime_agreement,
    fit_one_step,
    keras_model,
    keras_symbolic,
    kspec_infer,
    random_batch,
)

IMAGE_LAYERS = [
    {"type": "Resizing", "height": 3, "width": 5},
    {"type": "CenterCrop", "height": 2, "width": 3},
    {"type": "RandomFlip"},
    {"type": "RandomRotation", "factor": 0.2},
    {"type": "RandomZoom", "height_factor": 0.2},
    {"type": "RandomTranslation", "height_factor": 0.2, "width_factor": 0.1},
    {"type": "RandomContrast", "factor": 0.2},
]


# ---- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Rescaling", "scale": 1 / 255}, (4, 4, 3)),
        ({"type": "Rescaling", "scale": 1 / 127.5, "offset": -1}, (None, 3)),
        ({"type": "Rescaling", "scale": 2}, ()),
        ({"type": "Rescaling", "scale": [1, 2, 3]}, (4, 4, 3)),
        ({"type": "Rescaling", "scale": [0.5], "offset": [1, -1]}, (None, 2)),
        ({"type": "Rescaling", "scale": 0.5, "offset": [1]}, ()),
        ({"type": "Resizing", "height": 3, "width": 5}, (4, 4, 3)),
        ({"type": "Resizing", "height": 8, "width": 2}, (None, None, 1)),
        ({"type": "Resizing", "height": 3, "width": 5, "interpolation": "nearest"}, (4, 6, 2)),
        ({"type": "Resizing", "height": 3, "width": 5, "interpolation": "bicubic"}, (4, 6, 2)),
        ({"type": "Resizing", "height": 3, "width": 5, "interpolation": "lanczos3", "antialias": True}, (9, 6, 2)),
        ({"type": "Resizing", "height": 7, "width": 5, "interpolation": "lanczos5"}, (4, 6, 2)),
        ({"type": "Resizing", "height": 3, "width": 5, "crop_to_aspect_ratio": True}, (6, 4, 3)),
        ({"type": "Resizing", "height": 5, "width": 3, "crop_to_aspect_ratio": True}, (None, 4, 3)),
        ({"type": "Resizing", "height": 3, "width": 5, "pad_to_aspect_ratio": True}, (6, 4, 3)),
        ({"type": "Resizing", "height": 5, "width": 3, "pad_to_aspect_ratio": True, "fill_value": 1.5}, (4, 6, 3)),
        ({"type": "CenterCrop", "height": 2, "width": 3}, (4, 5, 3)),
        ({"type": "CenterCrop", "height": 6, "width": 7}, (4, 5, 3)),  # larger: resized instead
        ({"type": "CenterCrop", "height": 6, "width": 2}, (4, 5, 3)),  # larger on one axis
        ({"type": "CenterCrop", "height": 3, "width": 3}, (None, None, 3)),
        ({"type": "RandomFlip"}, (4, 5, 3)),
        ({"type": "RandomFlip", "mode": "horizontal", "seed": 3}, (None, 5, 1)),
        ({"type": "RandomFlip", "mode": "vertical"}, (4, 5, 3)),
        ({"type": "RandomRotation", "factor": 0.2}, (4, 5, 3)),
        ({"type": "RandomRotation", "factor": [-0.1, 0.3], "fill_mode": "constant", "fill_value": 1.0}, (4, 5, 3)),
        ({"type": "RandomRotation", "factor": 1, "fill_mode": "wrap", "interpolation": "nearest"}, (None, 5, 3)),
        ({"type": "RandomRotation", "factor": 0.0, "fill_mode": "nearest", "seed": 1}, (1, 1, 1)),
        ({"type": "RandomZoom", "height_factor": 0.2}, (4, 5, 3)),
        ({"type": "RandomZoom", "height_factor": -0.3, "width_factor": [0.1, 1.0]}, (4, 5, 3)),
        ({"type": "RandomZoom", "height_factor": [-0.5, 0.2], "fill_mode": "constant"}, (None, None, 2)),
        ({"type": "RandomTranslation", "height_factor": 0.2, "width_factor": 0.1}, (4, 5, 3)),
        (
            {"type": "RandomTranslation", "height_factor": [-1, 1], "width_factor": [0, 0.5], "fill_mode": "wrap"},
            (4, 5, 3),
        ),
        ({"type": "RandomContrast", "factor": 0.2}, (4, 5, 3)),
        ({"type": "RandomContrast", "factor": [0.5, 1], "value_range": [0, 1]}, (None, 5, 3)),
        ({"type": "RandomContrast", "factor": 0}, (1, 1, 1)),
    ],
)
def test_preprocessing_layers_match_keras(spec, shape):
    assert check_layer(spec, shape) is not None
    check_runtime_agreement(spec, shape)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Rescaling", "scale": 0.5},
        {"type": "CenterCrop", "height": 2, "width": 7},
        {"type": "RandomFlip"},
        {"type": "RandomRotation", "factor": 0.2},
        {"type": "RandomZoom", "height_factor": 0.2},
        {"type": "RandomTranslation", "height_factor": 0.2, "width_factor": 0.1},
    ],
)
@pytest.mark.parametrize("dtype", ["uint8", "int32", "float16", "float64"])
def test_dtypes_match_keras(spec, dtype):
    """The output is float32, integer images included."""
    inferred = check_layer(spec, (4, 5, 3), [dtype])
    assert inferred is not None and inferred.output.dtype == "float32"
    check_runtime_agreement(spec, (4, 5, 3), [dtype])


@pytest.mark.parametrize("spec", [s for s in IMAGE_LAYERS if s["type"] not in ("Resizing", "RandomContrast")])
def test_boolean_images_are_cast(spec):
    assert check_layer(spec, (4, 5, 3), ["bool"]).output.dtype == "float32"
    check_runtime_agreement(spec, (4, 5, 3), ["bool"])


@pytest.mark.parametrize("spec", IMAGE_LAYERS)
@pytest.mark.parametrize("shape", [(3,), (3, 4, 5, 6)])
def test_image_layers_need_a_batch_of_images(spec, shape):
    """Rank 2 and 5: Keras refuses, or fails when run."""
    with pytest.raises(ShapeError, match="expected ndim=4"):
        kspec_infer(spec, shape)
    check_refused_when_run(spec, shape, at_build=True, in_training=True)


@pytest.mark.parametrize("spec", IMAGE_LAYERS)
def test_rank_3_is_not_an_unbatched_image_in_kspec(spec):
    """Keras reads a rank-3 tensor as one unbatched image, its batch axis as the height: kspec refuses, by
    its documented policy."""
    with pytest.raises(ShapeError, match="unbatched image") as refused:
        kspec_infer(spec, (4, 5))
    assert refused.value.policy == "image-batch-axis"
    out = keras_symbolic(spec, (4, 5))
    if spec["type"] in ("Resizing", "CenterCrop"):
        assert tuple(out.shape) == (spec["height"], spec["width"], 5)  # the batch axis is gone


# ---- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Rescaling"},
        {"type": "Rescaling", "scale": "0.5"},
        {"type": "Rescaling", "scale": []},
        {"type": "Rescaling", "scale": [[1, 2]]},
        {"type": "Rescaling", "scale": 1, "offset": ["1"]},
        {"type": "Resizing", "height": 0, "width": 3},
        {"type": "Resizing", "height": 3, "width": 3, "interpolation": "area"},
        {"type": "Resizing", "height": 3, "width": 3, "fill_mode": "reflect"},
        {"type": "Resizing", "height": 3, "width": 3, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
        {"type": "Resizing", "height": 3, "width": 3, "data_format": "channels_last"},
        {"type": "CenterCrop", "height": 3},
        {"type": "RandomFlip", "mode": "diagonal"},
        {"type": "RandomFlip", "seed": -1},
        {"type": "RandomRotation"},
        {"type": "RandomRotation", "factor": 1.5},
        {"type": "RandomRotation", "factor": [-2, 0.5]},
        {"type": "RandomRotation", "factor": [0.1, 0.2, 0.3]},
        {"type": "RandomRotation", "factor": True},
        {"type": "RandomRotation", "factor": 0.1, "fill_mode": "mirror"},
        {"type": "RandomRotation", "factor": 0.1, "interpolation": "bicubic"},
        {"type": "RandomZoom", "height_factor": -1},
        {"type": "RandomZoom", "height_factor": 1.0},  # Keras: zoom range down to 0, see test below
        {"type": "RandomZoom", "height_factor": [-1, 0.5]},
        {"type": "RandomZoom", "height_factor": 0.1, "width_factor": 1.2},
        {"type": "RandomTranslation", "height_factor": 0.1},
        {"type": "RandomTranslation", "height_factor": 1.1, "width_factor": 0},
        {"type": "RandomContrast", "factor": -0.1},
        {"type": "RandomContrast", "factor": 1.5},
        {"type": "RandomContrast", "factor": [-0.5, 0.5]},
        {"type": "RandomContrast", "factor": 0.1, "value_range": [1, 0]},
        {"type": "RandomContrast", "factor": 0.1, "value_range": [0, 1, 2]},
    ],
)
def test_invalid_arguments_are_refused(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_keras_refuses_the_same_factors():
    L = keras.layers
    for make in (
        lambda: L.RandomRotation(1.5),
        lambda: L.RandomRotation(0.1, fill_mode="mirror"),
        lambda: L.RandomZoom(-1.0),
        lambda: L.RandomZoom((-1.0, 1.0)),  # what RandomZoom(1.0) means: not expressible as a pair
        lambda: L.RandomTranslation(1.1, 0.0),
        lambda: L.RandomContrast(-0.1),
        lambda: L.RandomContrast(1.5),
    ):
        with pytest.raises(Exception):
            make()


@pytest.mark.parametrize(
    "spec, keras_args, attrs",
    [
        ({"type": "RandomRotation", "factor": -0.3}, (-0.3,), ("factor",)),
        ({"type": "RandomRotation", "factor": [0.3, -0.1]}, ([0.3, -0.1],), ("factor",)),
        ({"type": "RandomContrast", "factor": 0.4}, (0.4,), ("factor",)),  # Keras: (0, 0.4), not (0.4, 0.4)
        ({"type": "RandomContrast", "factor": [0.4, 0.1]}, ([0.4, 0.1],), ("factor",)),
        ({"type": "RandomZoom", "height_factor": -0.3}, (-0.3,), ("height_lower", "height_upper")),
        ({"type": "RandomZoom", "height_factor": 0.2, "width_factor": [0.5, -0.1]}, (0.2, [0.5, -0.1]),
         ("height_lower", "height_upper", "width_lower", "width_upper")),
        ({"type": "RandomTranslation", "height_factor": 0.5, "width_factor": [1, -1]}, (0.5, [1, -1]),
         ("height_lower", "height_upper", "width_lower", "width_upper")),
    ],
)
def test_factor_normalisation_keeps_keras_meaning(spec, keras_args, attrs):
    """kspec's (lower, upper) pair gives the Keras layer the same range as the number (or pair) given."""
    ours = build_layer(parse_layer(spec))
    theirs = getattr(keras.layers, spec["type"])(*keras_args)
    for attr in attrs:
        assert np.allclose(getattr(ours, attr), getattr(theirs, attr)), attr


# ---- kspec's policies: refusals of what Keras accepts symbolically -----------------------------


@pytest.mark.parametrize(
    "spec, dtype",
    [
        ({"type": "RandomContrast", "factor": 0.2}, "uint8"),
        ({"type": "RandomContrast", "factor": 0.2}, "int32"),
        ({"type": "Resizing", "height": 3, "width": 5, "pad_to_aspect_ratio": True}, "uint8"),
        ({"type": "Resizing", "height": 3, "width": 5, "pad_to_aspect_ratio": True}, "int64"),
        ({"type": "Resizing", "height": 3, "width": 5}, "uint32"),
        ({"type": "Resizing", "height": 3, "width": 5, "interpolation": "nearest"}, "uint64"),
        ({"type": "Resizing", "height": 3, "width": 5, "interpolation": "nearest"}, "bool"),
        ({"type": "RandomContrast", "factor": 0.2}, "bool"),
    ],
)
def test_refused_where_keras_fails_when_run(spec, dtype):
    check_refused_when_run(spec, (4, 6, 3), [dtype], **FAILS_FOR_SOME_SIZE)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "lanczos3"])
@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_resizing_of_integers_is_refused(interpolation, dtype):
    """Keras declares float32 but returns the integer dtype (a convolution after it then fails when run; on
    PyTorch in `fit` too, and the Lanczos kernels fail there outright); float images resize."""
    spec = {"type": "Resizing", "height": 3, "width": 5, "interpolation": interpolation}
    check_refused_when_run(spec, (4, 6, 3), [dtype], wrong_dtype=True)
    assert check_layer(spec, (4, 6, 3), ["float16"]).output.dtype == "float32"


@pytest.mark.parametrize("shape", [(4, 2), (4, None), (), (None,)])
def test_per_channel_rescaling_needs_as_many_channels(shape):
    """A list of 3 scales (or offsets) on 2 channels, an unknown channel count or no channel axis (the values
    then meet the batch axis: Keras runs only when the batch has 3 examples, or 1): Keras fails when run (for
    some size of the unknown dims; here the batch has 2 examples)."""
    for spec in ({"type": "Rescaling", "scale": [1, 2, 3]}, {"type": "Rescaling", "scale": 1, "offset": [1, 2, 3]}):
        check_refused_when_run(spec, shape, **FAILS_FOR_SOME_SIZE)


def test_per_channel_rescaling_of_one_channel_is_refused():
    """On one channel Keras runs, but returns 3 channels where it declared 1: kspec refuses."""
    with pytest.raises(ShapeError, match=r"expected a last axis of size 3.*found 1 channels"):
        kspec_infer({"type": "Rescaling", "scale": [1, 2, 3]}, (4, 1))
    layer = keras.layers.Rescaling([1.0, 2.0, 3.0])
    assert tuple(layer(keras.Input((4, 1))).shape) == (None, 4, 1)
    assert layer(np.ones((2, 4, 1), "float32")).shape == (2, 4, 3)


def test_per_channel_rescaling_computes_what_keras_computes():
    x = random_batch((4, 3))[0]
    spec = {"type": "Rescaling", "scale": [1, 2, 3], "offset": [0.5, 0, -0.5]}
    ours = build_layer(parse_layer(spec))
    theirs = keras.layers.Rescaling([1.0, 2.0, 3.0], offset=[0.5, 0.0, -0.5])
    assert ours.get_config()["scale"] == theirs.get_config()["scale"] == [1.0, 2.0, 3.0]
    assert np.allclose(ours(x), theirs(x)) and np.allclose(ours(x), x * [1, 2, 3] + [0.5, 0, -0.5])


def test_resizing_crop_and_pad_together_fail_in_keras():
    layer = keras.layers.Resizing(3, 5, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    layer(keras.Input(shape=(4, 6, 3)))  # accepted symbolically
    with pytest.raises(ValueError, match="Only one of"):
        layer(np.zeros((2, 4, 6, 3), "float32"))


def test_messages_follow_keras_grammar():
    with pytest.raises(ShapeError, match=r"expected ndim=4 \(batch, height, width, channels\), found ndim=5"):
        kspec_infer({"type": "RandomFlip"}, (4, 5, 3, 2))
    with pytest.raises(ShapeError, match=r"expects images of shape \(batch, height, width, channels\).*Received: input_shape=\(None, 4, 5\)"):
        kspec_infer({"type": "RandomFlip"}, (4, 5))
    with pytest.raises(ShapeError, match=r"floating-point.*Received: dtype=uint8"):
        kspec_infer({"type": "RandomContrast", "factor": 0.1}, (4, 5, 3), ["uint8"])
    with pytest.raises(ValidationError, match=r"(?s)height_factor.*less than 1"):
        parse_layer({"type": "RandomZoom", "height_factor": 1.0})


# ---- a training step --------------------------------------------------------------------------

TRAINED = IMAGE_LAYERS + [
    {"type": "Rescaling", "scale": 0.5, "offset": 1},
    {"type": "Resizing", "height": 3, "width": 5, "interpolation": "bicubic", "antialias": True},
    {"type": "Resizing", "height": 3, "width": 5, "interpolation": "lanczos5", "crop_to_aspect_ratio": True},
    {"type": "Resizing", "height": 3, "width": 5, "pad_to_aspect_ratio": True},
    {"type": "CenterCrop", "height": 8, "width": 3},
]


@pytest.mark.parametrize("spec", TRAINED)
def test_trains_one_step_and_predicts(spec):
    """A compiled `fit` step with gradients through the layer (a Conv2D before it), then `predict`
    (the Random* layers are then inactive)."""
    L = keras.layers
    shape = (6, 4, 3)
    model = keras_model(spec, shape, before=[L.Conv2D(3, 1)], after=[L.Flatten(), L.Dense(1)])
    assert np.isfinite(fit_one_step(model))
    assert model.predict(random_batch(shape)[0], verbose=0).shape == (BATCH, 1)


# ---- property test ----------------------------------------------------------------------------
# Image layers get rank-4 inputs here; other ranks are kspec's documented refusals, tested above.

DIM = st.integers(1, 8)
MAYBE_DIM = st.one_of(DIM, DIM, DIM, st.none())
DTYPES = st.sampled_from(["float32", "float32", "float32", "float64", "float16", "int32", "uint8", "uint32", "bool"])


def _signed_factor():
    number = st.floats(-1.0, 1.0)
    return st.one_of(number, st.lists(number, min_size=2, max_size=2))


@st.composite
def _case(draw):
    kind = draw(
        st.sampled_from(
            ["Rescaling", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
             "RandomTranslation", "RandomContrast"]
        )
    )
    shape = (draw(MAYBE_DIM), draw(MAYBE_DIM), draw(st.integers(1, 4)))
    seed = draw(st.none() | st.integers(0, 100))
    affine = {
        "fill_mode": draw(st.sampled_from(["reflect", "wrap", "constant", "nearest"])),
        "interpolation": draw(st.sampled_from(["nearest", "bilinear"])),
        "fill_value": draw(st.sampled_from([0.0, 1.0])),
        "seed": seed,
    }
    if kind == "Rescaling":
        shape = shape[: draw(st.integers(0, 3))]

        def per_channel(number):
            # A list of more than one value on one channel, or on the batch axis (no channel axis): Keras returns
            # another shape than it declares, or runs when the batch size happens to match (tested above), which
            # this oracle does not see; any other length mismatch fails when run.
            most = 1 if not shape or shape[-1] == 1 else 4
            return number | st.lists(number, min_size=1, max_size=most)

        spec = {"type": kind, "scale": draw(per_channel(st.floats(-2, 2))), "offset": draw(per_channel(st.floats(-1, 1)))}
    elif kind in ("Resizing", "CenterCrop"):
        spec = {"type": kind, "height": draw(DIM), "width": draw(DIM)}
        if kind == "Resizing":
            aspect = draw(st.sampled_from(["", "crop_to_aspect_ratio", "pad_to_aspect_ratio"]))
            spec.update(
                interpolation=draw(st.sampled_from(["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"])),
                antialias=draw(st.booleans()),
                **({aspect: True} if aspect else {}),
            )
    elif kind == "RandomFlip":
        mode = draw(st.sampled_from(["horizontal", "vertical", "horizontal_and_vertical"]))
        spec = {"type": kind, "seed": seed, "mode": mode}
    elif kind == "RandomRotation":
        spec = {"type": kind, "factor": draw(_signed_factor()), **affine}
    elif kind == "RandomZoom":
        zoom = st.floats(-0.9, 0.9)  # a single number f needs |f| < 1; pairs may reach 1
        spec = {"type": kind, "height_factor": draw(zoom | st.lists(st.floats(-0.9, 1.0), min_size=2, max_size=2)),
                "width_factor": draw(st.none() | zoom), **affine}
    elif kind == "RandomTranslation":
        spec = {"type": kind, "height_factor": draw(_signed_factor()), "width_factor": draw(_signed_factor()), **affine}
    else:
        unit = st.floats(0, 1)
        spec = {"type": kind, "seed": seed, "factor": draw(unit | st.lists(unit, min_size=2, max_size=2)),
                "value_range": draw(st.sampled_from([[0, 255], [0, 1], [-1, 1]]))}
    return spec, shape


@settings(max_examples=40, deadline=None)
@given(case=_case(), dtype=DTYPES)
def test_property_kspec_agrees_with_keras(case, dtype):
    check_agrees(*case, [dtype], eager=False, runtime_fills=FILLS, **FAILS_FOR_SOME_SIZE)


# ---- Normalization ------------------------------------------------------------------------------

NORMALIZATIONS = [
    {"type": "Normalization"},
    {"type": "Normalization", "axis": 3},
    {"type": "Normalization", "axis": [1, 3]},
    {"type": "Normalization", "axis": None},
    {"type": "Normalization", "axis": []},
    {"type": "Normalization", "mean": 2.0, "variance": 4.0},
    {"type": "Normalization", "mean": [0.1, 0.2, 0.3], "variance": [1, 2, 3]},
    {"type": "Normalization", "mean": [0.5], "variance": [2.0], "invert": True},
    {"type": "Normalization", "axis": None, "mean": -1, "variance": 0.25},
    {"type": "Normalization", "axis": [-3, -1], "mean": [1, 2, 3], "variance": [1, 1, 1]},
    {"type": "Normalization", "invert": True},
    {"type": "Normalization", "axis": [2, -1], "mean": [1, 2, 3], "variance": [1, 1, 1]},  # twice, with a mean
]


@pytest.mark.parametrize("spec", NORMALIZATIONS)
@pytest.mark.parametrize("shape", [(4, 5, 3), (None, 5, 3)])
def test_normalization_matches_keras(spec, shape):
    """Weights (mean, variance and count, non-trainable) without `mean`, none with it; output float32."""
    inferred = check_layer(spec, shape)
    if inferred is not None:
        assert inferred.output.dtype == "float32"
        assert inferred.params == inferred.non_trainable == (0 if "mean" in spec else inferred.params)
        check_runtime_agreement(spec, shape)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Normalization", "axis": 0}, (3,)),  # the batch axis has no fixed size
        ({"type": "Normalization", "axis": 1}, (None, 3)),  # a kept axis of unknown size
        ({"type": "Normalization", "axis": 3}, (4, 3)),  # out of range
        ({"type": "Normalization", "axis": [-1, 2]}, (4, 3)),  # the same axis twice (of size > 1)
        ({"type": "Normalization", "mean": [1, 2], "variance": [1, 2]}, (4, 3)),  # does not broadcast
        ({"type": "Normalization", "axis": None, "mean": [1.0], "variance": [1.0]}, (4, 3)),  # rank of mean
        ({"type": "Normalization", "mean": [1, 2, 3], "variance": 1.0}, (4, 3)),  # not the same shape
        ({"type": "Normalization", "mean": [1, 2, 3], "variance": [1, 2]}, (4, 3)),
    ],
)
def test_normalization_refusals_match_keras(spec, shape):
    check_rejected(spec, shape)


def test_normalization_axis_named_twice_works_where_keras_works():
    """Keras keeps an axis named twice: its weights then have that axis twice, which reshapes to the input's axes
    only when it has size 1; with a fixed mean there are no weights, and any size works."""
    assert check_layer({"type": "Normalization", "axis": [2, -1]}, (4, 1)).params == 3
    check_rejected({"type": "Normalization", "axis": [2, -1]}, (4, 3))


@pytest.mark.parametrize("dtype", ["int32", "uint8", "float16", "float64", "bool"])
def test_normalization_casts_to_float32(dtype):
    spec = {"type": "Normalization", "mean": [1, 2, 3], "variance": [1, 4, 9]}
    assert check_layer(spec, (4, 3), [dtype]).output.dtype == "float32"
    check_runtime_agreement(spec, (4, 3), [dtype])


def test_normalization_computes_what_keras_computes():
    """Same values as Keras's own layer built from the same arguments (inverted, too)."""
    x = random_batch((4, 3))[0]
    for spec in ({"type": "Normalization", "mean": [1, 2, 3], "variance": [1, 4, 9]},
                 {"type": "Normalization", "mean": [1, 2, 3], "variance": [1, 4, 9], "invert": True}):
        ours = build_layer(parse_layer(spec))(x)
        theirs = keras.layers.Normalization(mean=[1, 2, 3], variance=[1, 4, 9], invert=spec.get("invert", False))(x)
        assert np.allclose(ours, theirs)
    expected = (x - np.array([1, 2, 3])) / np.array([1, 2, 3])
    assert np.allclose(build_layer(parse_layer({"type": "Normalization", "mean": [1, 2, 3], "variance": [1, 4, 9]}))(x), expected, atol=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Normalization", "mean": 1.0},  # without variance
        {"type": "Normalization", "variance": 1.0},
        {"type": "Normalization", "mean": 0, "variance": -1},
        {"type": "Normalization", "mean": [], "variance": []},
        {"type": "Normalization", "mean": [[1, 2]], "variance": [[1, 2]]},
        {"type": "Normalization", "mean": "1", "variance": 1},
        {"type": "Normalization", "invert": 1},
        {"type": "Normalization", "axis": 1.5},
    ],
)
def test_normalization_invalid_arguments_are_refused(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_keras_refuses_the_same_normalization_arguments():
    L = keras.layers
    for make in (
        lambda: L.Normalization(mean=1.0),
        lambda: L.Normalization(variance=1.0),
        lambda: L.Normalization(mean=[1, 2], variance=1.0),
        lambda: L.Normalization(mean=[1, 2], variance=[1, 2, 3]),
    ):
        with pytest.raises(ValueError):
            make()


@pytest.mark.parametrize("spec", [{"type": "Normalization"}, {"type": "Normalization", "mean": 1, "variance": 2}])
def test_normalization_trains_one_step(spec):
    L = keras.layers
    model = keras_model(spec, (6, 4, 3), before=[L.Conv2D(3, 1)], after=[L.Flatten(), L.Dense(1)])
    assert np.isfinite(fit_one_step(model))


@st.composite
def _normalization_case(draw):
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(MAYBE_DIM) for _ in range(rank))
    axis = draw(st.one_of(st.none(), st.integers(-rank - 1, rank), st.lists(st.integers(-rank, rank), max_size=2, unique=True)))
    spec = {"type": "Normalization", "axis": axis, "invert": draw(st.booleans())}
    if draw(st.booleans()):
        size = draw(st.integers(1, 4))
        if draw(st.booleans()):
            spec.update(mean=draw(st.floats(-2, 2)), variance=draw(st.floats(0, 4)))
        else:
            spec.update(mean=draw(st.lists(st.floats(-2, 2), min_size=size, max_size=size)),
                        variance=draw(st.lists(st.floats(0, 4), min_size=size, max_size=size)))
    return spec, shape


@settings(max_examples=40, deadline=None)
@given(case=_normalization_case(), dtype=st.sampled_from(["float32", "float32", "float64", "int32", "uint8", "bool"]))
def test_property_normalization_agrees_with_keras(case, dtype):
    check_agrees(*case, [dtype], eager=False, runtime_fills=FILLS, **FAILS_FOR_SOME_SIZE)


# ---- values passed on -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, passing",
    [
        ({"type": "RandomFlip"}, "keeps"),
        ({"type": "CenterCrop", "height": 2, "width": 2}, "keeps"),
        ({"type": "Resizing", "height": 2, "width": 2}, "keeps"),
        ({"type": "Resizing", "height": 2, "width": 2, "interpolation": "bicubic"}, "noise"),  # overshoots
        ({"type": "Resizing", "height": 2, "width": 2, "pad_to_aspect_ratio": True, "fill_value": 1.0}, None),
        ({"type": "RandomRotation", "factor": 0.1}, "keeps"),
        ({"type": "RandomZoom", "height_factor": 0.1, "fill_mode": "constant"}, "keeps"),  # fills with 0
        ({"type": "RandomTranslation", "height_factor": 0.1, "width_factor": 0.1, "fill_mode": "constant",
          "fill_value": 1.0}, None),
        ({"type": "RandomContrast", "factor": 0.1}, None),
        ({"type": "Rescaling", "scale": 2.0}, None),
    ],
)
def test_values_passed_on(spec, passing):
    """What the output checks may look through (`Layer.value_passing`): flips, crops and bilinear or nearest
    resampling keep values (inputs, averages of them, zeros); a bicubic resize overshoots; other fills are new."""
    assert parse_layer(spec).value_passing() == passing
