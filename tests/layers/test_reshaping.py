"""Reshaping layers against Keras: examples, refusals, kspec's policies, and a property test."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.spec.layers import ShapeError, parse_layer

from .harness import (
    FAILS_FOR_SOME_SIZE,
    FILLS,
    check_agrees,
    check_layer,
    check_refused_when_run,
    check_rejected,
    check_runtime_agreement,
    fit_one_step,
    keras_model,
    kspec_infer,
)


# ---- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Reshape", "target_shape": [3, 4]}, (12,)),
        ({"type": "Reshape", "target_shape": [-1, 2, 2]}, (12,)),
        ({"type": "Reshape", "target_shape": [6, -1]}, (3, 4, 2)),
        ({"type": "Reshape", "target_shape": [-1]}, (None, None, 3)),
        ({"type": "Reshape", "target_shape": [-1, 3]}, (None, 6)),
        ({"type": "Reshape", "target_shape": [2, -1]}, (4, None)),
        ({"type": "Reshape", "target_shape": []}, (1,)),
        ({"type": "Reshape", "target_shape": [-1, 1]}, ()),
        ({"type": "Permute", "dims": [2, 1]}, (10, 64)),
        ({"type": "Permute", "dims": [3, 1, 2]}, (4, None, 6)),
        ({"type": "Permute", "dims": [1]}, (5,)),
        ({"type": "RepeatVector", "n": 3}, (32,)),
        ({"type": "RepeatVector", "n": 1}, (None,)),
        ({"type": "Masking"}, (5, 3)),
        ({"type": "Masking", "mask_value": -1.5}, (None, 4)),
        ({"type": "Masking"}, ()),
        ({"type": "ZeroPadding1D"}, (5, 3)),
        ({"type": "ZeroPadding1D", "padding": 3}, (5, 3)),
        ({"type": "ZeroPadding1D", "padding": [0, 2]}, (None, 3)),
        ({"type": "ZeroPadding2D"}, (4, 5, 3)),
        ({"type": "ZeroPadding2D", "padding": 2}, (4, 5, 3)),
        ({"type": "ZeroPadding2D", "padding": [1, 0]}, (4, 5, 3)),
        ({"type": "ZeroPadding2D", "padding": [[1, 2], [3, 0]]}, (4, None, 3)),
        ({"type": "ZeroPadding2D", "padding": [[1, 2], 3]}, (4, 5, 3)),
        ({"type": "Cropping1D"}, (5, 3)),
        ({"type": "Cropping1D", "cropping": 2}, (5, 3)),
        ({"type": "Cropping1D", "cropping": [0, 4]}, (5, 3)),
        ({"type": "Cropping1D", "cropping": [2, 1]}, (None, 3)),
        ({"type": "Cropping2D"}, (4, 5, 3)),
        ({"type": "Cropping2D", "cropping": 1}, (4, 5, 3)),
        ({"type": "Cropping2D", "cropping": [1, 2]}, (4, 5, 3)),
        ({"type": "Cropping2D", "cropping": [[0, 3], [2, 2]]}, (4, 5, 3)),
        ({"type": "UpSampling1D"}, (5, 3)),
        ({"type": "UpSampling1D", "size": 3}, (None, 3)),
        ({"type": "UpSampling2D"}, (4, 5, 3)),
        ({"type": "UpSampling2D", "size": [1, 3]}, (4, None, 3)),
        ({"type": "UpSampling2D", "size": 3, "interpolation": "bilinear"}, (4, 5, 3)),
        ({"type": "UpSampling2D", "interpolation": "bicubic"}, (4, 5, 2)),
        ({"type": "UpSampling2D", "interpolation": "lanczos3"}, (4, 5, 2)),
        ({"type": "UpSampling2D", "size": [2, 1], "interpolation": "lanczos5"}, (4, 5, 2)),
        ({"type": "ZeroPadding3D"}, (2, 3, 4, 2)),
        ({"type": "ZeroPadding3D", "padding": [1, 0, 2]}, (2, None, 4, 1)),
        ({"type": "ZeroPadding3D", "padding": [[0, 1], 2, [3, 0]]}, (2, 3, 4, 1)),
        ({"type": "Cropping3D"}, (3, 4, 5, 2)),
        ({"type": "Cropping3D", "cropping": [[0, 1], [2, 0], 1]}, (2, None, 4, 1)),
        ({"type": "UpSampling3D"}, (2, 3, 4, 2)),
        ({"type": "UpSampling3D", "size": [1, 3, 2]}, (2, None, 4, 1)),
    ],
)
def test_reshaping_layers_match_keras(spec, shape):
    assert check_layer(spec, shape) is not None
    check_runtime_agreement(spec, shape)


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        ({"type": "Reshape", "target_shape": [-1]}, (3, 4), "int32"),
        ({"type": "Reshape", "target_shape": [2, 6]}, (3, 4), "uint8"),
        ({"type": "Reshape", "target_shape": [-1]}, (3, 4), "float64"),
        ({"type": "Permute", "dims": [2, 1]}, (3, 4), "int64"),
        ({"type": "Permute", "dims": [2, 1]}, (3, 4), "float16"),
        ({"type": "Reshape", "target_shape": [2, -1]}, (3, 4), "bool"),
        ({"type": "Permute", "dims": [2, 1]}, (3, 4), "bool"),
        ({"type": "ZeroPadding2D"}, (4, 5, 3), "float64"),
        ({"type": "UpSampling2D", "interpolation": "bilinear"}, (4, 5, 3), "float16"),
        ({"type": "Masking"}, (4, 5), "float64"),
        ({"type": "UpSampling3D"}, (2, 2, 2, 1), "float16"),
    ],
)
def test_dtypes_match_keras(spec, shape, dtype):
    assert check_layer(spec, shape, [dtype]) is not None


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Reshape", "target_shape": [2, 6]}, (3, 5)),
        ({"type": "Reshape", "target_shape": [-1, 5]}, (3, 4)),
        ({"type": "Permute", "dims": [2, 1]}, (3, 4, 5)),
        ({"type": "Permute", "dims": [2, 1, 3]}, (3, 4)),
        ({"type": "RepeatVector", "n": 2}, (3, 4)),
        ({"type": "ZeroPadding1D"}, (3,)),
        ({"type": "ZeroPadding2D"}, (3, 4)),
        ({"type": "Cropping1D", "cropping": [2, 2]}, (4, 3)),
        ({"type": "Cropping1D", "cropping": [5, 0]}, (4, 3)),
        ({"type": "Cropping2D", "cropping": [[2, 1], [0, 0]]}, (3, 4, 1)),
        ({"type": "Cropping2D", "cropping": [0, 2]}, (3, 4, 1)),
        ({"type": "Cropping2D", "cropping": 1}, (3, 4)),
        ({"type": "UpSampling1D"}, (3, 4, 5)),
        ({"type": "UpSampling2D"}, (3, 4)),
        ({"type": "ZeroPadding3D"}, (3, 4, 5)),
        ({"type": "Cropping3D", "cropping": [0, 2, 0]}, (3, 4, 5, 1)),
        ({"type": "Cropping3D"}, (3, 4, 5, 1, 1)),
        ({"type": "UpSampling3D"}, (3, 4, 5)),
    ],
)
def test_keras_refusals(spec, shape):
    check_rejected(spec, shape)


def test_messages_follow_keras_grammar():
    expected = r"must be unchanged.*Received: input_shape=\(3, 5\), target_shape=\(2, 6\)"
    with pytest.raises(ShapeError, match=expected) as e:
        kspec_infer({"type": "Reshape", "target_shape": [2, 6]}, (3, 5))
    assert e.value.field == "target_shape"
    with pytest.raises(ShapeError, match=r"smaller than.*cropping=\(2, 2\)") as e:
        kspec_infer({"type": "Cropping1D", "cropping": 2}, (4, 3))
    assert e.value.field == "cropping"
    with pytest.raises(ShapeError, match=r"expected ndim=3, found ndim=4"):
        kspec_infer({"type": "Permute", "dims": [2, 1]}, (3, 4, 5))


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Reshape", "target_shape": [-1, -1]},
        {"type": "Reshape", "target_shape": [0, 3]},
        {"type": "Reshape", "target_shape": [-2]},
        {"type": "Reshape", "target_shape": 6},
        {"type": "Permute", "dims": [1, 3]},
        {"type": "Permute", "dims": [0, 1]},
        {"type": "Permute", "dims": [1, 1]},
        {"type": "Permute", "dims": []},
        {"type": "RepeatVector", "n": 0},
        {"type": "ZeroPadding1D", "padding": -1},
        {"type": "ZeroPadding1D", "padding": [1, 2, 3]},
        {"type": "ZeroPadding2D", "padding": [[1, 2, 3], 1]},
        {"type": "Cropping2D", "cropping": [1, 2, 3]},
        {"type": "UpSampling1D", "size": 0},
        {"type": "UpSampling2D", "size": [2, 0]},
        {"type": "UpSampling2D", "interpolation": "area"},
        {"type": "UpSampling2D", "interpolation": "Bilinear"},
        {"type": "Masking", "mask_value": "0"},
        {"type": "UpSampling2D", "data_format": "channels_first"},
        {"type": "ZeroPadding3D", "padding": [1, 2]},
        {"type": "Cropping3D", "cropping": [[1, 2], [1, 2], [1, 2, 3]]},
        {"type": "UpSampling3D", "size": [2, 2]},
        {"type": "UpSampling3D", "interpolation": "bilinear"},  # UpSampling3D only repeats
    ],
)
def test_invalid_arguments_are_refused(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_invalid_keras_arguments_are_refused_by_keras_too():
    for make in (
        lambda: keras.layers.Reshape((-1, -1)),
        lambda: keras.layers.Permute((1, 3)),
        lambda: keras.layers.RepeatVector(0),
        lambda: keras.layers.UpSampling1D(0),
        lambda: keras.layers.ZeroPadding1D(-1),
    ):
        with pytest.raises(Exception):
            make()


def test_arguments_are_normalised():
    assert parse_layer({"type": "ZeroPadding2D", "padding": [1, 2]}).padding == ((1, 1), (2, 2))
    assert parse_layer({"type": "Cropping2D", "cropping": 3}).cropping == ((3, 3), (3, 3))
    assert parse_layer({"type": "Cropping1D", "cropping": 3}).cropping == (3, 3)
    assert parse_layer({"type": "UpSampling2D", "size": 3}).size == (3, 3)
    assert parse_layer({"type": "Reshape", "target_shape": [2, -1]}).target_shape == (2, -1)
    assert parse_layer({"type": "ZeroPadding3D", "padding": [1, 0, 2]}).padding == ((1, 1), (0, 0), (2, 2))
    assert parse_layer({"type": "Cropping3D"}).cropping == ((1, 1), (1, 1), (1, 1))
    assert parse_layer({"type": "UpSampling3D", "size": 3}).size == (3, 3, 3)


# ---- kspec's policies: refusals of what Keras accepts symbolically -----------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [
        # Unknown input dims: the reshape must work whatever their size.
        ({"type": "Reshape", "target_shape": [2, 3]}, (None, 3)),
        ({"type": "Reshape", "target_shape": [-1, 2]}, (None, 3)),
        ({"type": "Reshape", "target_shape": [4, -1]}, (None, 2, None)),
    ],
)
def test_reshape_of_unknown_dims_must_always_work(spec, shape):
    check_refused_when_run(spec, shape, **FAILS_FOR_SOME_SIZE)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "RepeatVector", "n": 2}, (3,)),
        ({"type": "Masking"}, (4, 3)),
        ({"type": "ZeroPadding1D"}, (4, 3)),
        ({"type": "ZeroPadding2D"}, (4, 4, 3)),
        ({"type": "Cropping1D"}, (4, 3)),
        ({"type": "Cropping2D", "cropping": 1}, (4, 4, 3)),
        ({"type": "UpSampling1D"}, (4, 3)),
        ({"type": "UpSampling2D"}, (4, 4, 3)),
        ({"type": "UpSampling2D", "interpolation": "bilinear"}, (4, 4, 3)),
        ({"type": "ZeroPadding3D"}, (2, 2, 2, 1)),
        ({"type": "Cropping3D"}, (3, 3, 3, 1)),
        ({"type": "UpSampling3D"}, (2, 2, 2, 1)),
    ],
)
@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool"])
def test_integer_inputs_are_refused_where_keras_misdeclares_the_dtype(spec, shape, dtype):
    check_refused_when_run(spec, shape, [dtype], **FAILS_FOR_SOME_SIZE)


def test_reshape_of_unknown_dims_that_always_works_is_accepted():
    inferred = kspec_infer({"type": "Reshape", "target_shape": [-1, 2, 3]}, (None, 6))
    assert inferred.output.shape == (None, None, 2, 3)
    check_runtime_agreement({"type": "Reshape", "target_shape": [-1, 2, 3]}, (None, 6))


# ---- a training step --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Reshape", "target_shape": [-1, 2]}, (4, 3)),
        ({"type": "Permute", "dims": [2, 1]}, (4, 3)),
        ({"type": "RepeatVector", "n": 2}, (3,)),
        ({"type": "Masking"}, (4, 3)),
        ({"type": "ZeroPadding1D"}, (4, 3)),
        ({"type": "ZeroPadding2D", "padding": [[1, 0], 2]}, (4, 4, 3)),
        ({"type": "Cropping1D"}, (4, 3)),
        ({"type": "Cropping2D", "cropping": 1}, (4, 4, 3)),
        ({"type": "UpSampling1D"}, (4, 3)),
        ({"type": "UpSampling2D", "interpolation": "bicubic"}, (4, 4, 3)),
        ({"type": "ZeroPadding3D", "padding": [1, 0, [0, 2]]}, (2, 3, 2, 2)),
        ({"type": "Cropping3D", "cropping": [1, 0, 1]}, (3, 3, 3, 2)),
        ({"type": "UpSampling3D", "size": [2, 1, 2]}, (2, 2, 2, 2)),
    ],
)
@pytest.mark.filterwarnings("ignore:.*mask:UserWarning")
def test_trains_one_step_after_a_trainable_layer(spec, shape):
    """Gradients flow through the layer (a Dense before it), in a compiled `fit` step."""
    L = keras.layers
    model = keras_model(spec, shape, before=[L.Dense(shape[-1])], after=[L.Flatten(), L.Dense(1)])
    assert np.isfinite(fit_one_step(model))
    assert tuple(model.layers[2].output.shape) == kspec_infer(spec, shape).output.shape


# ---- property test ----------------------------------------------------------------------------

DTYPES = st.sampled_from(["float32", "float32", "float32", "float64", "float16", "int32", "uint8", "bool"])
DIM = st.integers(1, 6)
MAYBE_DIM = st.one_of(DIM, DIM, DIM, st.none())


@st.composite
def _pair_arg(draw, rank):
    """int | [a, b] (rank 1); int | [h, w] | [[t, b], [l, r]] (rank 2); likewise with three entries (rank 3)."""
    small = st.integers(0, 4)
    if rank == 1:
        return draw(st.one_of(small, st.lists(small, min_size=2, max_size=2)))
    entry = st.one_of(small, st.lists(small, min_size=2, max_size=2))
    return draw(st.one_of(small, st.lists(entry, min_size=rank, max_size=rank)))


@st.composite
def _reshape_case(draw):
    shape = tuple(draw(st.lists(MAYBE_DIM, min_size=0, max_size=4)))
    if draw(st.booleans()):  # regroup the input's dims: often valid
        dims = [d if d is not None else draw(DIM) for d in shape]
        target, unknown, i = [], [], 0
        while i < len(dims):
            j = draw(st.integers(i + 1, len(dims)))
            target.append(int(np.prod(dims[i:j])))
            unknown.append(None in shape[i:j])
            i = j
        if any(unknown) and draw(st.booleans()):  # -1 where the unknown dims are
            target[unknown.index(True)] = -1
    else:
        target = draw(st.lists(DIM, min_size=0, max_size=3))
    if target and -1 not in target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return {"type": "Reshape", "target_shape": target}, shape


@st.composite
def _case(draw):
    kind = draw(
        st.sampled_from(
            ["Reshape", "Permute", "RepeatVector", "Masking", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
             "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"]
        )
    )
    if kind == "Reshape":
        return draw(_reshape_case())
    # Mostly the layer's own rank, sometimes another one.
    natural = {"Permute": draw(st.integers(1, 4)), "RepeatVector": 1, "Masking": draw(st.integers(0, 3))}
    rank = natural[kind] if kind in natural else int(kind[-2]) + 1
    if draw(st.integers(0, 5)) == 0:
        rank = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(MAYBE_DIM, min_size=rank, max_size=rank)))
    if kind == "Permute":
        k = natural["Permute"] if draw(st.integers(0, 5)) else draw(st.integers(1, 4))
        spec = {"type": kind, "dims": list(draw(st.permutations(range(1, k + 1))))}
    elif kind == "RepeatVector":
        spec = {"type": kind, "n": draw(st.integers(1, 4))}
    elif kind == "Masking":
        spec = {"type": kind, "mask_value": draw(st.sampled_from([0.0, 1.0, -2.5]))}
    elif kind.startswith("ZeroPadding"):
        spec = {"type": kind, "padding": draw(_pair_arg(int(kind[-2])))}
    elif kind.startswith("Cropping"):
        spec = {"type": kind, "cropping": draw(_pair_arg(int(kind[-2])))}
    elif kind == "UpSampling1D":
        spec = {"type": kind, "size": draw(st.integers(1, 3))}
    elif kind == "UpSampling3D":
        spec = {"type": kind, "size": draw(st.one_of(st.integers(1, 2), st.lists(st.integers(1, 3), min_size=3, max_size=3)))}
    else:
        size = draw(st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2)))
        interpolation = draw(st.sampled_from(["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"]))
        spec = {"type": kind, "size": size, "interpolation": interpolation}
    return spec, shape


@settings(max_examples=40, deadline=None)
@given(case=_case(), dtype=DTYPES)
def test_property_kspec_agrees_with_keras(case, dtype):
    check_agrees(*case, [dtype], eager=False, runtime_fills=FILLS, **FAILS_FOR_SOME_SIZE)
