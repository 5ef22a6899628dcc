"""Operations (`ops.add`, `ops.mean`, `ops.get_item`, ...) against `keras.ops`: shapes and dtypes symbolically and
when run, every dtype, the refusals (Keras's and kspec's `batch-axis` policy), and property tests."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import kspec
from kspec.compile import build_layer, call_layer
from tests.draws.ops import DRAWERS as OPS_DRAWERS
from kspec.spec.layers import ShapeError, parse_layer
from kspec.spec.layers.ops import KERAS_OPS, LAYERS, _Binary, _Reduction, _Unary, parse_key

from .harness import (
    FAILS_FOR_SOME_SIZE,
    check_agrees,
    check_refused_when_run,
    check_rejected,
    fit_one_step,
    kspec_infer,
    kspec_refusal,
    random_batch,
)

UNARY = sorted(c.type_name() for c in LAYERS if issubclass(c, _Unary) and c.type_name() not in ("ops.clip", "ops.cast"))
REDUCTIONS = sorted(c.type_name() for c in LAYERS if issubclass(c, _Reduction))
BINARY = sorted(c.type_name() for c in LAYERS if issubclass(c, _Binary))
DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "bool"]

#: One configuration of each operation that takes one tensor, for the dtype table.
ONE_TENSOR = (
    [{"type": t} for t in UNARY]
    + [{"type": t, "axis": 1} for t in REDUCTIONS]
    + [{"type": t, "x2": c} for t in BINARY for c in (3, 2.5, [1.0, 2.0, 3.0], [[1, 2, 3]])]
    + [{"type": t, "x1": 2} for t in BINARY]
    + [
        {"type": "ops.clip", "x_min": 0, "x_max": 6},
        {"type": "ops.clip", "x_min": 0.0, "x_max": 6.0},
        {"type": "ops.cast", "dtype": "float32"},
        {"type": "ops.cast", "dtype": "int8"},
        {"type": "ops.expand_dims", "axis": 1},
        {"type": "ops.reshape", "newshape": [-1, 3]},
        {"type": "ops.transpose", "axes": [0, 2, 1]},
        {"type": "ops.squeeze", "axis": 1},
        {"type": "ops.get_item", "key": "..., 1:3"},
        {"type": "ops.concatenate", "axis": 1},
        {"type": "ops.stack", "axis": -1},
    ]
)


def _id(spec: dict) -> str:
    return ",".join(f"{v}" for v in spec.values())


def keras_outcome(spec: dict, shape: tuple, dtype: str) -> tuple[str | None, str | None]:
    """What Keras does with the operation on a tensor of this dtype: the dtype it declares symbolically (None
    where it refuses) and the dtype of its output when run on a batch (None where that fails)."""
    layer = parse_layer(spec)
    tensors = [keras.Input(shape, dtype=dtype)] * (2 if spec["type"] in ("ops.concatenate", "ops.stack") else 1)
    try:
        symbolic = call_layer(layer, build_layer(layer), tensors)
        declared = keras.backend.standardize_dtype(symbolic.dtype)
    except Exception:  # noqa: BLE001 - any refusal counts
        return None, None
    shapes, dtypes = [shape] * len(tensors), [dtype] * len(tensors)
    if kspec_refusal(spec, shapes, dtypes) is None:  # the same shape and dtype (JAX, PyTorch: may be narrowed)
        inferred = kspec_infer(spec, shapes, dtypes).output
        assert tuple(symbolic.shape) == inferred.shape, (spec, dtype, symbolic.shape, inferred)
        assert declared in (inferred.dtype, narrowed(inferred.dtype)), (spec, dtype, declared, inferred.dtype)
    data = np.abs(random_batch([shape], ["float32"])[0]) + 1
    batch = [keras.ops.cast(keras.ops.convert_to_tensor(data), dtype)] * len(tensors)
    try:
        return declared, keras.backend.standardize_dtype(call_layer(layer, build_layer(layer), batch).dtype)
    except Exception:  # noqa: BLE001 - any failure counts
        return declared, None


def narrowed(dtype: str) -> str:
    """The dtype Keras declares on this backend for one kspec infers (TensorFlow's): JAX and PyTorch narrow
    64-bit dtypes to 32 bits."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return dtype
    narrow = {"int64": "int32", "uint64": "uint32", "float64": "float32"}
    return {**narrow, "uint32": "int32"}.get(dtype, dtype) if backend == "torch" else narrow.get(dtype, dtype)


def _kind(dtype: str | None) -> str | None:
    return None if dtype is None else "float" if "float" in dtype else "integer"


# ---- every operation, every dtype ----------------------------------------------------------------------


@pytest.mark.parametrize("spec", ONE_TENSOR, ids=_id)
def test_every_dtype_agrees_with_keras(spec):
    """On this backend: where kspec accepts a dtype, Keras declares the dtype (and shape) kspec infers, and
    returns one of the same kind (an integer or a float) when run; where kspec refuses plainly, Keras refuses,
    fails when run or returns another kind than it declares; a `portability` refusal names this backend
    exactly when one of those happens here. Run with KERAS_BACKEND=jax and torch to check the others."""
    shape = (1, 3)
    here = keras.backend.backend()
    for dtype in DTYPES:
        joins = 2 if spec["type"] in ("ops.concatenate", "ops.stack") else 1
        refusal = kspec_refusal(spec, [shape] * joins, [dtype] * joins)
        declared, ran = keras_outcome(spec, shape, dtype)
        fails_here = declared is None or ran is None or _kind(ran) != _kind(declared)
        if refusal is None:
            assert not fails_here, (spec, dtype, declared, ran)
        elif refusal.policy == "portability":
            assert fails_here == (here in refusal.backends), (spec, dtype, declared, ran, str(refusal))
        elif refusal.policy is None:
            assert fails_here, (spec, dtype, declared, ran, str(refusal))


def test_every_operation_is_in_the_dtype_table():
    assert {s["type"] for s in ONE_TENSOR} == {c.type_name() for c in LAYERS}


def test_keras_operation_classes_and_names():
    """Each type names the Operation class `keras.ops` makes (what a saved model holds), and an unnamed node is
    named like Keras names it (`x + 1`: add; `abs(x)`: absolute)."""
    x = keras.Input((1, 3))
    for spec in ONE_TENSOR:
        layer = parse_layer(spec)
        out = build_layer(layer)(x if spec["type"] not in ("ops.concatenate", "ops.stack") else [x, x])
        operation = out._keras_history.operation
        assert type(operation).__name__ == layer.keras_op, spec
        assert KERAS_OPS[layer.keras_op] is type(layer)
        assert operation.name.rpartition("_")[0] == layer.base_name() or operation.name == layer.base_name()


# ---- arithmetic -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BINARY)
@pytest.mark.parametrize(
    "shapes, out",
    [
        ([(4,), (4,)], (None, 4)),
        ([(3, 1), (1, 4)], (None, 3, 4)),
        ([(None, 4), (5, 4)], (None, 5, 4)),  # a known size wins over an unknown one (keras.ops, not the merges)
        ([(1, 4), (None, 4)], (None, None, 4)),
    ],
)
def test_two_tensors_broadcast_like_keras(kind, shapes, out):
    assert check_agrees({"type": kind}, shapes).output.shape == out


@pytest.mark.parametrize(
    "spec, shape, out",
    [
        ({"type": "ops.add", "x2": 3.0}, (4,), (None, 4)),
        ({"type": "ops.subtract", "x1": 1.0}, (2, 3), (None, 2, 3)),
        ({"type": "ops.multiply", "x2": [1.0, 2.0, 3.0]}, (2, 3), (None, 2, 3)),
        ({"type": "ops.multiply", "x2": [[1.0], [2.0]]}, (2, 3), (None, 2, 3)),
        ({"type": "ops.divide", "x2": [[[2], [3]]]}, (2, 3), (None, 2, 3)),  # size 1 on the batch axis
        ({"type": "ops.power", "x2": 2}, (None, 3), (None, None, 3)),
        ({"type": "ops.maximum", "x2": [0.0, 1.0, 2.0]}, (None, 1), (None, None, 3)),
        ({"type": "ops.minimum", "x1": 6.0}, (5,), (None, 5)),
    ],
)
def test_constants_broadcast_like_keras(spec, shape, out):
    assert check_agrees(spec, shape).output.shape == out


@pytest.mark.parametrize(
    "spec, shapes, dtypes, out",
    [
        ({"type": "ops.add", "x2": 3.0}, (3,), ["int32"], "float32"),
        ({"type": "ops.add", "x2": 3}, (3,), ["int8"], "int8"),
        ({"type": "ops.add", "x2": 3}, (3,), ["bool"], "int32"),
        ({"type": "ops.add", "x2": 3.0}, (3,), ["float16"], "float16"),
        ({"type": "ops.add", "x2": [3.0, 1.0, 2.0]}, (3,), ["float16"], "float32"),
        ({"type": "ops.add", "x2": [3, 1, 2]}, (3,), ["uint8"], "int32"),
        ({"type": "ops.add"}, [(3,), (3,)], ["int8", "uint8"], "int16"),
        ({"type": "ops.divide", "x2": 2}, (3,), ["int8"], "float32"),
        ({"type": "ops.multiply"}, [(3,), (3,)], ["float16", "int32"], "float16"),
    ],
)
def test_dtype_promotion_like_keras(spec, shapes, dtypes, out):
    assert check_agrees(spec, shapes, dtypes).output.dtype == out


def test_operands_of_binary_operations():
    x = [(None, 3)]
    assert "needs one constant operand" in str(kspec_refusal({"type": "ops.add"}, (3,)))
    assert "needs one constant operand" in str(kspec_refusal({"type": "ops.add", "x1": 1, "x2": 2}, (3,)))
    assert kspec_refusal({"type": "ops.add", "x2": 1}, [(3,), (3,)]).field == "x2"
    with pytest.raises(ShapeError, match="rows of different lengths"):
        kspec_infer({"type": "ops.add", "x2": [[1, 2], [3]]}, x[0][1:])
    with pytest.raises(ShapeError, match="more than the 4,096"):
        kspec_infer({"type": "ops.add", "x2": [[0.0] * 100] * 50}, (50, 100))
    with pytest.raises(ShapeError, match="int32 tensor"):
        kspec_infer({"type": "ops.add", "x2": [2**31]}, (1,))
    for bad in (True, "3", [True], [], [[]], [[[[[1]]]]], float("nan"), [float("inf")]):
        with pytest.raises(ValidationError):
            parse_layer({"type": "ops.add", "x2": bad})


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ({"type": "ops.add"}, [(3, 4), (3, 5)]),
        ({"type": "ops.add", "x2": [1.0, 2.0]}, (3,)),
        ({"type": "ops.multiply", "x2": [[1.0, 2.0, 3.0]] * 2}, (4, 3)),
    ],
)
def test_shapes_that_do_not_broadcast_are_refused_like_keras(spec, shapes):
    check_rejected(spec, shapes)


@pytest.mark.parametrize(
    "spec, shapes, dtypes",
    [
        ({"type": "ops.add"}, [(3,), (3,)], ["bool", "bool"]),  # TensorFlow has no bool add
        ({"type": "ops.subtract"}, [(3,), (3,)], ["bool", "bool"]),
        ({"type": "ops.power", "x2": -1}, (3,), ["int32"]),  # TensorFlow and JAX refuse negative integer powers
        ({"type": "ops.negative"}, (3,), ["uint8"]),
        ({"type": "ops.sigmoid"}, (3,), ["int32"]),
        ({"type": "ops.clip", "x_min": 0.0, "x_max": 1.5}, (3,), ["int32"]),
    ],
)
def test_dtypes_that_fail_when_run(spec, shapes, dtypes):
    refusal = kspec_refusal(spec, shapes, dtypes)
    assert refusal is not None
    if not refusal.backends or keras.backend.backend() in refusal.backends:
        check_refused_when_run(spec, shapes, dtypes, wrong_dtype=True)


def test_integer_constants_that_jax_cannot_convert():
    refusal = kspec_refusal({"type": "ops.add", "x2": 2**40}, (3,), ["int32"])
    assert refusal.policy == "portability" and refusal.backends == ("jax",)
    assert kspec_refusal({"type": "ops.add", "x2": 2**40}, (3,)) is None  # a float tensor takes it


# ---- the batch axis ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ({"type": "ops.mean", "axis": 0}, (3,)),
        ({"type": "ops.sum", "axis": [-1, 0]}, (3,)),
        ({"type": "ops.transpose", "axes": [1, 0]}, (3,)),
        ({"type": "ops.expand_dims", "axis": 0}, (3,)),
        ({"type": "ops.expand_dims", "axis": -3}, (3,)),
        ({"type": "ops.squeeze", "axis": 0}, (3,)),
        ({"type": "ops.concatenate", "axis": 0}, [(3,), (3,)]),
        ({"type": "ops.stack", "axis": 0}, [(3,), (3,)]),
        ({"type": "ops.reshape", "newshape": [-1, 6]}, (3, 4)),  # twice the examples
        ({"type": "ops.reshape", "newshape": [2, 6]}, (6,)),
        ({"type": "ops.reshape", "newshape": [-1, 3]}, (None, 3)),
        ({"type": "ops.get_item", "key": "0"}, (3,)),
        ({"type": "ops.get_item", "key": "1:"}, (3,)),
        ({"type": "ops.get_item", "key": "None"}, (3,)),
        ({"type": "ops.add", "x2": [[1.0, 2.0, 3.0]] * 2}, (3,)),  # a constant of the tensor's rank
        ({"type": "ops.add", "x2": [[[1.0, 2.0, 3.0]]]}, (3,)),  # of a higher rank
        ({"type": "ops.add"}, [(3,), (2, 3)]),  # tensors of two ranks
    ],
)
def test_the_batch_axis_stays_first(spec, shapes):
    refusal = kspec_refusal(spec, shapes)
    assert refusal is not None and refusal.policy == "batch-axis", (spec, refusal)


@pytest.mark.parametrize("kind", REDUCTIONS + ["ops.squeeze", "ops.concatenate", "ops.stack"])
def test_axes_whose_keras_default_takes_in_the_batch_axis_have_none(kind):
    with pytest.raises(ValidationError, match="axis"):
        parse_layer({"type": kind})


# ---- reductions and shape operations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape, out",
    [
        ({"type": "ops.mean", "axis": -1}, (2, 3), (None, 2)),
        ({"type": "ops.mean", "axis": [1, 2], "keepdims": True}, (2, 3), (None, 1, 1)),
        ({"type": "ops.sum", "axis": 1}, (None, 3), (None, 3)),
        ({"type": "ops.max", "axis": -2}, (4, 2, 3), (None, 4, 3)),
        ({"type": "ops.min", "axis": [1, -1]}, (4, 2, 3), (None, 2)),
        ({"type": "ops.transpose", "axes": [0, 2, 1]}, (2, None), (None, None, 2)),
        ({"type": "ops.transpose", "axes": [0, -1, -2, 1]}, (2, 3, 4), (None, 4, 3, 2)),
        ({"type": "ops.expand_dims", "axis": -1}, (2, 3), (None, 2, 3, 1)),
        ({"type": "ops.expand_dims", "axis": [1, 3]}, (2,), (None, 1, 2, 1)),
        ({"type": "ops.squeeze", "axis": [1, -1]}, (1, 4, 1), (None, 4)),
        ({"type": "ops.reshape", "newshape": [-1, 6]}, (2, 3), (None, 6)),
        ({"type": "ops.reshape", "newshape": [-1, 3, 2, 1]}, (6,), (None, 3, 2, 1)),
        ({"type": "ops.softmax", "axis": 1}, (4, 3), (None, 4, 3)),
        ({"type": "ops.log_softmax"}, (4, 3), (None, 4, 3)),
        ({"type": "ops.gelu", "approximate": False}, (3,), (None, 3)),
        ({"type": "ops.leaky_relu", "negative_slope": 0.1}, (3,), (None, 3)),
        ({"type": "ops.elu", "alpha": 0.5}, (3,), (None, 3)),
    ],
)
def test_shapes_match_keras(spec, shape, out):
    assert check_agrees(spec, shape).output.shape == out


@pytest.mark.parametrize(
    "spec, shapes, out",
    [
        ({"type": "ops.concatenate", "axis": -1}, [(2, 3), (2, 4)], (None, 2, 7)),
        ({"type": "ops.concatenate", "axis": 1}, [(2, 3), (None, 3), (1, 3)], (None, None, 3)),
        ({"type": "ops.concatenate", "axis": -1}, [(None, 3), (2, 4)], (None, None, 7)),  # the first tensor's size
        ({"type": "ops.stack", "axis": 1}, [(2, 3), (2, 3), (2, 3)], (None, 3, 2, 3)),
        ({"type": "ops.stack", "axis": -1}, [(None, 3), (2, 3)], (None, None, 3, 2)),
        ({"type": "ops.stack", "axis": 1}, [(3,)], (None, 1, 3)),
    ],
)
def test_joins_match_keras(spec, shapes, out):
    assert check_agrees(spec, shapes).output.shape == out


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ({"type": "ops.concatenate", "axis": 1}, [(2, 3), (2, 4)]),
        ({"type": "ops.concatenate", "axis": 1}, [(2, 3), (2, 3, 1)]),
        ({"type": "ops.stack", "axis": 1}, [(2, 3), (3, 3)]),
        ({"type": "ops.transpose", "axes": [0, 1, 1]}, (2, 3)),
        ({"type": "ops.transpose", "axes": [0, 1]}, (2, 3)),
        ({"type": "ops.squeeze", "axis": 1}, (2, 3)),
        ({"type": "ops.squeeze", "axis": 1}, (None, 3)),
        ({"type": "ops.expand_dims", "axis": [1, 1]}, (3,)),
        ({"type": "ops.mean", "axis": 3}, (2, 3)),
        ({"type": "ops.softmax", "axis": 3}, (2, 3)),
        ({"type": "ops.get_item", "key": ":, ::0"}, (3,)),
    ],
)
def test_shape_refusals_match_keras(spec, shapes):
    check_rejected(spec, shapes)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "ops.mean", "axis": [1, 1]}, (2, 3)),  # Keras declares it, every backend refuses it
        ({"type": "ops.sum", "axis": [1, -2]}, (2, 3)),
        ({"type": "ops.get_item", "key": ":, ::0"}, (None,)),
    ],
)
def test_refused_when_run(spec, shape):
    check_refused_when_run(spec, shape)


def test_other_refusals():
    assert kspec_refusal({"type": "ops.squeeze", "axis": [1, 1]}, (1, 2)).backends == ("jax", "torch")
    assert kspec_refusal({"type": "ops.clip", "x_min": 1, "x_max": 0}, (3,)).policy == "ordered-bounds"
    assert kspec_refusal({"type": "ops.softmax"}, (3, 1)).policy == "constant-layer"
    assert kspec_refusal({"type": "ops.reshape", "newshape": [-1, 0]}, (3,)).field == "newshape"


# ---- indexing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, shape",
    [
        (":, 0", (4, 3)),
        (":, -1", (None, 3)),
        ("..., 1:3", (4, 3)),
        ("[..., 0]", (4, 3)),
        (":, None", (4,)),
        (":, :, None, 1", (4, 3)),
        (":, ::2", (5,)),
        (":, ::-1", (None, 2)),
        (":, :2", (None, 3)),
        (":, -2:", (None, 3)),
        (":, 1:, -1", (4, 3)),
        ("...", (4,)),
        (":, 10:", (None,)),  # refused: empty for axes of 10 or fewer
        (":, 1:-1", (None,)),
        (":, 3", (None,)),
        (":, 5", (4,)),  # refused by Keras: out of bounds
        (":, 4:", (4,)),  # empty
        ("..., 0, ...", (4,)),
        (":, 0, 0, 0", (4, 3)),
    ],
)
def test_get_item_matches_keras(key, shape):
    check_agrees({"type": "ops.get_item", "key": key}, shape, fills=range(1, 9), empty_output=True)


@pytest.mark.parametrize(
    "text, items",
    [
        (":, 0", (slice(None), 0)),
        ("[ ... , 1 : 3 ]", (Ellipsis, slice(1, 3))),
        ("::-1, None", (slice(None, None, -1), None)),
        ("-2:", (slice(-2, None),)),
    ],
)
def test_keys_parse_without_evaluating_anything(text, items):
    assert parse_key(text) == items
    assert parse_layer({"type": "ops.get_item", "key": text}).key == parse_layer(
        {"type": "ops.get_item", "key": parse_layer({"type": "ops.get_item", "key": text}).key}
    ).key


@pytest.mark.parametrize("text", ["x[0]", "0; import os", "__import__('os')", "1.5", ":, 1e3", "[:, 0", "", "a", "0,,1"])
def test_keys_that_are_not_indexes_are_refused(text):
    with pytest.raises(ValidationError):
        parse_layer({"type": "ops.get_item", "key": text})


# ---- facts on the classes ---------------------------------------------------------------------------------------


def test_facts_about_operations():
    assert parse_layer({"type": "ops.sigmoid"}).final_activation() == "sigmoid"
    assert parse_layer({"type": "ops.relu6"}).final_activation() == "relu6"
    assert parse_layer({"type": "ops.add", "x2": 1}).final_activation() is None  # cannot tell
    assert parse_layer({"type": "ops.get_item", "key": ":, 0"}).value_passing() == "keeps"
    assert parse_layer({"type": "ops.transpose", "axes": [0, 1]}).value_passing() == "keeps"
    assert parse_layer({"type": "ops.sum", "axis": 1}).value_passing() is None
    assert parse_layer({"type": "ops.abs"}).base_name() == "absolute"  # Keras names `abs(x)` so
    assert parse_layer({"type": "ops.true_divide", "x2": 2}).base_name() == "true_divide"  # `x / 2`


# ---- properties ---------------------------------------------------------------------------------------------------


@st.composite
def _constant_case(draw):
    """A tensor shape and a constant whose shape is a right-aligned part of it, each axis 1 or the tensor's."""
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, None]), min_size=1, max_size=3)))
    rank = draw(st.integers(0, len(shape)))
    dims = [draw(st.sampled_from([1, d or 2])) for d in shape[len(shape) - rank :]]
    value: object = draw(st.sampled_from([2.5, 3, -1.0]))
    for d in reversed(dims):
        value = [value] * d
    return shape, value


@settings(max_examples=25, deadline=None)
@given(
    case=_constant_case(),
    kind=st.sampled_from(BINARY),
    side=st.sampled_from(["x1", "x2"]),
    dtype=st.sampled_from(["float32", "int32", "uint8", "bool", "float16"]),
)
def test_property_constants_agree_with_keras(case, kind, side, dtype):
    shape, value = case
    check_agrees({"type": kind, side: value}, shape, [dtype], **FAILS_FOR_SOME_SIZE)


@st.composite
def _key_case(draw):
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 4, None]), min_size=1, max_size=3)))
    items = [":"]
    for _ in range(draw(st.integers(0, len(shape)))):
        kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis"]))
        if kind == "int":
            items.append(str(draw(st.integers(-3, 3))))
        elif kind == "slice":
            bounds = [draw(st.sampled_from(["", "0", "1", "-1", "2", "-2"])) for _ in range(2)]
            step = draw(st.sampled_from(["", ":2", ":-1"]))
            items.append(":".join(bounds) + step)
        else:
            items.append("None" if kind == "none" else "...")
    return ", ".join(items), shape


@settings(max_examples=40, deadline=None)
@given(case=_key_case())
def test_property_get_item_agrees_with_keras(case):
    key, shape = case
    check_agrees({"type": "ops.get_item", "key": key}, shape, fills=range(1, 9), empty_output=True)


@settings(max_examples=10, deadline=None)
@given(
    shape=st.lists(st.sampled_from([1, 2, 3, 4, None]), min_size=1, max_size=3),
    drawer=st.sampled_from(OPS_DRAWERS),
    data=st.data(),
)
def test_property_drawn_operations_are_accepted_and_train(shape, drawer, data):
    """The drawers of tests/draws/ops.py draw runs kspec accepts, with the output shape they track, and Keras builds
    and trains a model of each one step, with a finite loss."""
    layers, out = drawer.fn(data.draw, tuple(shape))
    spec = {"kspec": 1, "name": "ops", "model": {"input": {"shape": shape}, "layers": layers}, "training": {"loss": "mse"}}
    report = kspec.check(spec)
    assert report.ok, [d.message for d in report.diagnostics]
    assert report.inference.output_tensors[report.inference.outputs[0]].shape == (None, *out)
    assert np.isfinite(fit_one_step(kspec.build_model(report.spec)))
