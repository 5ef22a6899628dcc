import pydantic
import pytest
from hypothesis import event, given, settings, strategies as st

from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import (
    check_agrees,
    check_layer,
    check_refused_when_run,
    check_rejected,
    check_trains,
    keras_failure,
    kspec_refusal,
)

# ---- examples --------------------------------------------------------------------------------

BN = "BatchNormalization"
LN = "LayerNormalization"
GN = "GroupNormalization"
UN = "UnitNormalization"


@pytest.mark.parametrize(
    "spec, shape, params, non_trainable",
    [
        ({"type": BN}, (8,), 32, 16),
        ({"type": BN, "axis": 1}, (3, 4), 12, 6),
        ({"type": BN, "axis": -2}, (5, None, 2, 3), 8, 4),
        ({"type": BN, "center": False}, (6, 6, 3), 9, 6),
        ({"type": BN, "scale": False, "center": False, "momentum": 0.9, "epsilon": 1e-5}, (4,), 8, 8),
        ({"type": BN, "renorm": True}, (3, 4), 28, 20),
        ({"type": BN, "renorm": True, "renorm_clipping": {"rmax": 3.0, "rmin": 0.3, "dmax": 5.0}}, (4,), 28, 20),
        ({"type": BN, "gamma_regularizer": "l2", "beta_constraint": "non_neg", "moving_variance_initializer": {"type": "Constant", "value": 2.0}}, (4,), 16, 8),
        ({"type": LN}, (3, 4), 8, 0),
        ({"type": LN, "axis": [1, 2]}, (3, 4), 24, 0),
        ({"type": LN, "axis": [-1, 1]}, (3, 4), 24, 0),
        ({"type": LN, "axis": [-2, -1], "center": False}, (None, 5, 2), 10, 0),
        ({"type": LN, "axis": [2, 3], "scale": False, "epsilon": 1e-6}, (None, 4, 2), 8, 0),
        ({"type": GN, "groups": 2}, (3, 4), 8, 0),
        ({"type": GN, "groups": 32}, (None, None, 64), 128, 0),
        ({"type": GN, "groups": 3, "axis": 1}, (3, 4), 6, 0),
        ({"type": GN, "groups": -1, "axis": -2}, (3, 4, 5), 8, 0),
        ({"type": GN, "groups": 1, "center": False}, (5, 6), 6, 0),
        ({"type": GN, "groups": 2, "axis": -3, "scale": False}, (4, 3, 2), 4, 0),
        ({"type": UN}, (3, 4), 0, 0),
        ({"type": UN, "axis": [1, -1]}, (3, 4), 0, 0),
        ({"type": UN, "axis": 0}, (3,), 0, 0),
        ({"type": UN, "axis": 2}, (None, 4), 0, 0),
    ],
)
def test_normalization_layers_match_keras(spec, shape, params, non_trainable):
    inferred = check_layer(spec, shape)
    assert inferred is not None
    assert (inferred.params, inferred.non_trainable) == (params, non_trainable)
    assert inferred.output.shape == (None,) + shape and inferred.output.dtype == "float32"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int32", "uint8", "bool"])
def test_normalization_dtypes_match_keras(dtype):
    specs = [{"type": BN}, {"type": LN, "center": False, "scale": False}, {"type": GN, "groups": 2, "center": False, "scale": False}]
    if dtype in ("float16", "bfloat16"):
        specs += [{"type": LN}, {"type": GN, "groups": 2}, {"type": UN}]
    for spec in specs:
        assert check_layer(spec, (3, 4), [dtype]).output.dtype == "float32"


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": BN, "axis": 0}, (3, 4)),  # the batch axis has no size
        ({"type": BN, "axis": 3}, (3, 4)),
        ({"type": BN, "axis": -4}, (3, 4)),
        ({"type": BN}, (3, None)),
        ({"type": BN}, ()),
        ({"type": LN, "axis": [0]}, (3, 4)),
        ({"type": LN, "axis": [1, 3]}, (3, 4)),
        ({"type": LN, "axis": 1}, (None, 4)),
        ({"type": GN, "groups": 3}, (4,)),  # 3 does not divide 4
        ({"type": GN, "groups": 8}, (4,)),  # more groups than channels
        ({"type": GN}, (None,)),
        ({"type": GN, "groups": 1, "axis": 0}, (4,)),
        ({"type": GN, "groups": 1, "axis": 2}, (4,)),
        ({"type": UN, "axis": 3}, (3, 4)),
        ({"type": UN, "axis": [1, -4]}, (3, 4)),
    ],
)
def test_normalization_rejections_match_keras(spec, shape):
    check_rejected(spec, shape)


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        ({"type": LN, "axis": [1, -2]}, (3, 4), "float32"),  # the same axis twice
        ({"type": LN, "axis": [2, 2]}, (3, 1), "float32"),
        ({"type": UN, "axis": [1, 1]}, (3, 4), "float32"),
        ({"type": UN}, (3, 4), "int32"),
        # LN and GN cast back to the input dtype: on integers gamma and beta get no gradient.
        ({"type": LN}, (3, 4), "int32"),
        ({"type": LN, "center": False}, (3, 4), "bool"),
        ({"type": GN, "groups": 2, "scale": False}, (3, 4), "uint8"),
        ({"type": UN}, (3, 4), "bool"),
    ],
)
def test_normalization_refused_where_keras_fails_at_run_time(spec, shape, dtype):
    check_refused_when_run(spec, shape, [dtype], train_step=True)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": BN, "momentum": 1.5},
        {"type": BN, "epsilon": 0.0},
        {"type": BN, "renorm": True, "renorm_clipping": {"rmax": 1.0, "rmin": 2.0}},
        {"type": BN, "renorm": True, "renorm_clipping": {"rmax": 1.0, "r": 2.0}},
        {"type": BN, "axis": [1]},
        {"type": BN, "synchronized": True},
        {"type": BN, "dtype": "float16"},
        {"type": LN, "axis": []},
        {"type": LN, "axis": "1"},
        {"type": GN, "groups": 0},
        {"type": GN, "groups": -2},
        {"type": UN, "axis": True},
    ],
)
def test_normalization_argument_validation(spec):
    with pytest.raises(pydantic.ValidationError):
        parse_layer(spec)


def test_normalization_keras_kwargs():
    layer = parse_layer({"type": BN, "renorm": True, "renorm_clipping": {"dmax": 2.0}})
    assert layer.keras_kwargs()["renorm_clipping"] == {"dmax": 2.0}
    assert parse_layer({"type": LN}).axis == (-1,)
    assert parse_layer({"type": UN, "axis": [1, 2]}).axis == (1, 2)


def test_renorm_clipping_without_renorm_is_a_policy():
    """Keras ignores `renorm_clipping` without `renorm` (and trains): kspec refuses it, as a documented policy."""
    spec = {"type": BN, "renorm_clipping": {"rmax": 2.0}}
    assert keras_failure(spec, (4,), train_step=True) is None
    with pytest.raises(ShapeError, match=r"`renorm_clipping` is used only with renorm=true") as exc:
        parse_layer(spec).apply([Tensor((None, 4))])
    assert (exc.value.policy, exc.value.field) == ("ignored-argument", "renorm_clipping")


def test_normalization_messages():
    with pytest.raises(ShapeError, match=r"Number of groups \(3\) must divide .* Received: groups=3") as exc:
        parse_layer({"type": GN, "groups": 3}).infer([Tensor((None, 4))])
    assert exc.value.field == "groups"
    with pytest.raises(ShapeError, match=r"Axis 3 is out of bounds .* Received: axis=3"):
        parse_layer({"type": BN, "axis": 3}).infer([Tensor((None, 4))])
    with pytest.raises(ShapeError, match=r"axis 0 is the batch axis"):
        parse_layer({"type": LN, "axis": 0}).infer([Tensor((None, 4))])


# ---- properties ------------------------------------------------------------------------------

DIM = st.sampled_from([4, 2, 3, 6, 1, None])
SHAPES = st.lists(DIM, min_size=0, max_size=3).map(tuple)
DTYPES = st.sampled_from(["float32", "float32", "float32", "float16", "int32", "bool"])
AFFINE = {"center": st.booleans(), "scale": st.booleans()}


def axis_in(rank: int):
    """Mostly a non-batch axis of a tensor of this rank (batch axis included), sometimes anything."""
    valid = [st.integers(1, rank - 1), st.integers(-rank + 1, -1)] if rank > 1 else []
    return st.one_of(*valid, st.integers(-rank - 1, rank))


@st.composite
def normalization_cases(draw):
    shape = draw(SHAPES)
    axis = axis_in(len(shape) + 1)
    axes = st.one_of(axis, st.lists(axis, min_size=1, max_size=3))
    kind = draw(st.sampled_from([BN, LN, GN, UN]))
    if kind == BN:
        spec = {"type": BN, "axis": draw(axis), "renorm": draw(st.booleans())}
    elif kind == LN:
        spec = {"type": LN, "axis": draw(axes)}
    elif kind == GN:
        spec = {"type": GN, "groups": draw(st.one_of(st.just(-1), st.integers(1, 6))), "axis": draw(axis)}
    else:
        return {"type": UN, "axis": draw(axes)}, shape
    return {**spec, **{k: draw(v) for k, v in AFFINE.items()}}, shape


@settings(max_examples=40, deadline=None)
@given(case=normalization_cases(), dtype=DTYPES)
def test_normalization_property_kspec_agrees_with_keras(case, dtype):
    spec, shape = case
    event("accepted" if check_agrees(spec, shape, [dtype], train_step=True) else "refused")


@settings(max_examples=15, deadline=None)
@given(case=normalization_cases(), dtype=DTYPES)
def test_normalization_property_accepted_specs_train(case, dtype):
    spec, shape = case
    event("trained" if check_trains(spec, shape, [dtype]) else "refused")


# ---- RMSNormalization and SpectralNormalization --------------------------------------------------

RMS = "RMSNormalization"
SN = "SpectralNormalization"


@pytest.mark.parametrize(
    "spec, shape, dtype, params, non_trainable",
    [
        ({"type": RMS}, (3, 4), "float32", 4, 0),
        ({"type": RMS, "axis": [-2, -1], "epsilon": 1e-5}, (None, 3, 4), "float32", 12, 0),
        ({"type": RMS, "axis": [2, 1]}, (3, 4), "float16", 12, 0),
        ({"type": RMS, "axis": 1}, (4,), "bfloat16", 4, 0),
        ({"type": SN, "layer": {"type": "Dense", "units": 3}}, (4,), "float32", 15 + 3, 3),
        ({"type": SN, "layer": {"type": "Dense", "units": 3, "activation": "relu"}, "power_iterations": 3}, (5, 4), "float16", 15 + 3, 3),
        ({"type": SN, "layer": {"type": "Conv2D", "filters": 2, "kernel_size": 2}}, (5, 5, 3), "float32", 26 + 2, 2),
        ({"type": SN, "layer": {"type": "Conv1DTranspose", "filters": 2, "kernel_size": 2}}, (5, 3), "float32", 14 + 3, 3),
        ({"type": SN, "layer": {"type": "DepthwiseConv2D", "kernel_size": 2}}, (5, 5, 3), "float32", 15 + 1, 1),
        ({"type": SN, "layer": {"type": "EinsumDense", "equation": "abc,cde->abde", "output_shape": [5, 3, 2]}}, (5, 4), "float32", 24 + 2, 2),
    ],
)
def test_rms_and_spectral_normalization_match_keras(spec, shape, dtype, params, non_trainable):
    inferred = check_layer(spec, shape, [dtype])
    assert inferred is not None and (inferred.params, inferred.non_trainable) == (params, non_trainable)
    assert inferred.output.dtype == "float32"


def test_spectral_normalization_trains():
    assert check_trains({"type": SN, "layer": {"type": "Dense", "units": 3}}, (4,))
    assert check_trains({"type": SN, "layer": {"type": "Conv1D", "filters": 2, "kernel_size": 2, "kernel_initializer": "zeros"}}, (5, 3))


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": RMS}, (3, None)),  # the scale needs the size of the normalized axis
        ({"type": RMS, "axis": 0}, (3,)),  # the batch axis
        ({"type": RMS, "axis": 2}, (3,)),  # out of range
        ({"type": SN, "layer": {"type": "Dense", "units": 3}}, (None,)),  # the wrapped layer refuses it
    ],
)
def test_rms_and_spectral_normalization_rejected_like_keras(spec, shape):
    check_rejected(spec, shape)


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        ({"type": RMS}, (3, 4), "int32"),  # the output comes back as int32, declared float32
        ({"type": RMS}, (3, 4), "bool"),
        ({"type": RMS, "axis": 1}, (4, 8), "float32"),  # the scale (4,) against the last axis (8)
        ({"type": SN, "layer": {"type": "Dense", "units": 3}}, (4,), "uint8"),  # cast back to uint8
    ],
)
def test_rms_and_spectral_normalization_refused_where_keras_fails_when_run(spec, shape, dtype):
    check_refused_when_run(spec, shape, [dtype], wrong_dtype=True, train_step=True)


def test_spectral_normalization_of_a_lora_layer_fails_in_training():
    spec = {"type": SN, "layer": {"type": "EinsumDense", "equation": "ab,bc->ac", "output_shape": 3, "lora_rank": 2}}
    refusal = kspec_refusal(spec, (4,))
    assert refusal is not None and refusal.field == "layer"
    assert keras_failure(spec, (4,), train_step=True) is not None


def test_rms_normalization_over_other_axes_is_a_policy_where_keras_runs():
    """Keras multiplies by the scale broadcast against the last axes, whatever `axis` says: where the sizes
    happen to broadcast it runs, normalizing one axis and scaling another (PyTorch normalizes the last axis)."""
    spec = {"type": RMS, "axis": 1}
    refusal = kspec_refusal(spec, (8, 8))
    assert (refusal.policy, refusal.field) == ("rms-axes", "axis")
    assert keras_failure(spec, (8, 8), train_step=True) is None
    assert kspec_refusal({"type": RMS}, (3, 1)).policy == "constant-layer"  # x / |x|: the sign of the input


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "LSTM", "units": 2},  # Keras: no attribute 'kernel' nor 'embeddings'
        {"type": "SeparableConv2D", "filters": 2, "kernel_size": 2},
        {"type": "BatchNormalization"},
        {"type": "Embedding", "input_dim": 5, "output_dim": 2},  # Keras takes it: its output is cast back to ints
        {"type": "Dense", "units": 2, "name": "inner"},  # a wrapped layer is no node of the model
    ],
)
def test_spectral_normalization_wraps_layers_with_a_kernel(layer):
    with pytest.raises(pydantic.ValidationError):
        parse_layer({"type": SN, "layer": layer})
    with pytest.raises(pydantic.ValidationError):  # Keras: `power_iterations` should be greater than zero
        parse_layer({"type": SN, "layer": {"type": "Dense", "units": 2}, "power_iterations": 0})


@st.composite
def rms_cases(draw):
    shape = draw(SHAPES)
    axis = axis_in(len(shape) + 1)
    return {"type": RMS, "axis": draw(st.one_of(axis, st.lists(axis, min_size=1, max_size=3)))}, shape


@settings(max_examples=15, deadline=None)
@given(case=rms_cases(), dtype=DTYPES)
def test_rms_normalization_property_kspec_agrees_with_keras(case, dtype):
    spec, shape = case
    event("accepted" if check_agrees(spec, shape, [dtype], wrong_dtype=True, train_step=True) else "refused")
