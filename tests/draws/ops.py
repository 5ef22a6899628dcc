"""Drawers for the operations (`ops.*`), on any rank from 1 to 4, each keeping its input's rank.

- Element-wise functions, alone, or after `abs` and `+ 1` where they need positive values (sqrt, log, rsqrt,
  reciprocal, log1p) and after `tanh` where they grow fast (exp), so that a training step stays finite.
- Arithmetic with a constant, on either side: a number, or a tensor shaped to broadcast against the input (a
  vector of the last size, ones on the other axes); division by a constant only.
- Reductions over a non-batch axis with `keepdims`.
- Shape operations: a transpose of the non-batch axes, slices of each axis, expand_dims then squeeze, a stack of
  one tensor then squeeze, a concatenate of one tensor, a reshape to other sizes of the same product (known
  sizes only), a cast to float32.

Arithmetic between two tensors (`{type: ops.add, inputs: [x, y]}`) cannot be drawn through the single-input
interface of tests/draws (each drawn layer gets one input); tests/layers/test_ops.py checks it against Keras.
"""

from __future__ import annotations

from math import prod
from typing import Any

from hypothesis import strategies as st

from tests.draws import Drawer

RANKS = frozenset({1, 2, 3, 4})

#: Element-wise functions defined (and finite) everywhere.
ANYWHERE = [
    "ops.relu", "ops.relu6", "ops.sigmoid", "ops.tanh", "ops.hard_sigmoid", "ops.hard_silu", "ops.silu", "ops.gelu",
    "ops.elu", "ops.selu", "ops.softplus", "ops.softsign", "ops.leaky_relu", "ops.abs", "ops.negative",
    "ops.square", "ops.sin", "ops.cos", "ops.erf",
]  # fmt: skip
#: Element-wise functions of positive values.
POSITIVE = ["ops.sqrt", "ops.log", "ops.rsqrt", "ops.reciprocal", "ops.log1p"]
BINARY = ["ops.add", "ops.subtract", "ops.multiply", "ops.maximum", "ops.minimum"]
REDUCTIONS = ["ops.mean", "ops.sum", "ops.max", "ops.min"]


def _chance(draw, percent: int) -> bool:
    return draw(st.integers(0, 99)) < percent


def _elementwise(draw, shape: tuple) -> tuple[list[dict], tuple]:
    kind = draw(st.sampled_from(["anywhere", "anywhere", "positive", "exp", "softmax", "clip"]))
    if kind == "positive":
        return [{"type": "ops.abs"}, {"type": "ops.add", "x2": 1.0}, {"type": draw(st.sampled_from(POSITIVE))}], shape
    if kind == "exp":
        return [{"type": "ops.tanh"}, {"type": "ops.exp"}], shape
    if kind == "clip":
        low = draw(st.sampled_from([-1.0, 0.0, 0]))
        return [{"type": "ops.clip", "x_min": low, "x_max": draw(st.sampled_from([1.0, 6.0, 6]))}], shape
    if kind == "softmax":
        axes = [i for i, d in enumerate(shape) if d is not None and d > 1]
        if axes:
            axis = draw(st.sampled_from(axes))
            layer = {"type": draw(st.sampled_from(["ops.softmax", "ops.log_softmax"]))}
            if axis != len(shape) - 1 or _chance(draw, 30):
                layer["axis"] = axis + 1
            return [layer], shape
    layer: dict[str, Any] = {"type": draw(st.sampled_from(ANYWHERE))}
    if layer["type"] == "ops.gelu" and _chance(draw, 40):
        layer["approximate"] = False
    if layer["type"] == "ops.leaky_relu" and _chance(draw, 40):
        layer["negative_slope"] = 0.1
    if layer["type"] == "ops.elu" and _chance(draw, 40):
        layer["alpha"] = 0.5
    return [layer], shape


def _constant(draw, shape: tuple) -> Any:
    """A number, or nested lists that broadcast against a tensor of this shape (no batch axis) without changing
    it: of a rank up to the input's, each axis 1 or the input's size (the last one only, where known)."""
    number = draw(st.sampled_from([0.5, 2.0, -1.5, 3, 1]))
    if _chance(draw, 50):
        return number
    rank = draw(st.integers(1, len(shape)))
    last = shape[-1] if shape[-1] is not None and shape[-1] <= 16 and _chance(draw, 70) else 1
    value: Any = [float(number + i) for i in range(last)]
    for _ in range(rank - 1):
        value = [value]
    return value


def _arithmetic(draw, shape: tuple) -> tuple[list[dict], tuple]:
    kind = draw(st.sampled_from(BINARY + ["ops.divide", "ops.true_divide", "ops.power"]))
    if kind in ("ops.divide", "ops.true_divide"):
        return [{"type": kind, "x2": draw(st.sampled_from([2.0, -4, 0.5]))}], shape
    if kind == "ops.power":
        return [{"type": kind, "x2": draw(st.sampled_from([2, 2.0, 3]))}], shape
    side = draw(st.sampled_from(["x1", "x2"]))
    return [{"type": kind, side: _constant(draw, shape)}], shape


def _reduction(draw, shape: tuple) -> tuple[list[dict], tuple]:
    rank = len(shape)
    axes = sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank)))
    given = [a + 1 if _chance(draw, 50) else a - rank for a in axes]
    layer = {"type": draw(st.sampled_from(REDUCTIONS)), "axis": given[0] if len(given) == 1 else given}
    layer["keepdims"] = True
    return [layer], tuple(1 if i in axes else d for i, d in enumerate(shape))


def _slice(draw, size: int | None) -> tuple[str, int | None]:
    """A slice of an axis that keeps at least one value of every size it may have, and the size it leaves."""
    if size is None:
        n = draw(st.integers(1, 3))
        return draw(st.sampled_from([":", f":{n}", f"-{n}:", "::-1", "0:"])), None
    start = draw(st.integers(0, size - 1))
    stop = draw(st.integers(start + 1, size))
    step = draw(st.sampled_from([1, 1, 2]))
    text = f"{start}:{stop}" + (f":{step}" if step != 1 else "")
    return text, len(range(start, stop, step))


def _shape_op(draw, shape: tuple) -> tuple[list[dict], tuple]:
    rank = len(shape)
    kinds = ["slice", "expand", "stack", "concatenate", "cast"] + (["transpose"] * 2 if rank > 1 else [])
    if None not in shape:
        kinds.append("reshape")
    kind = draw(st.sampled_from(kinds))
    if kind == "transpose":
        order = draw(st.permutations(list(range(rank))))
        return [{"type": "ops.transpose", "axes": [0] + [a + 1 for a in order]}], tuple(shape[a] for a in order)
    if kind == "slice":
        parts, out = [], []
        for d in shape:
            text, size = _slice(draw, d) if _chance(draw, 60) else (":", d)
            parts.append(text)
            out.append(size)
        key = ":, " + ", ".join(parts)
        if _chance(draw, 30):  # the same, with `...` for the leading whole axes
            whole = 0
            while whole < rank and parts[whole] == ":":
                whole += 1
            key = ", ".join(["..."] + parts[whole:]) if whole < rank else "..."
        return [{"type": "ops.get_item", "key": key}], tuple(out)
    axis = draw(st.integers(1, rank + 1))
    if kind == "expand":
        return [{"type": "ops.expand_dims", "axis": axis}, {"type": "ops.squeeze", "axis": axis}], shape
    if kind == "stack":
        return [{"type": "ops.stack", "axis": axis}, {"type": "ops.squeeze", "axis": axis}], shape
    if kind == "concatenate":
        return [{"type": "ops.concatenate", "axis": draw(st.integers(1, rank))}], shape
    if kind == "cast":
        return [{"type": "ops.cast", "dtype": "float32"}], shape
    sizes = list(shape)
    if rank > 1 and _chance(draw, 70):  # move a factor of 2 from one axis to another
        a, b = draw(st.permutations(list(range(rank))))[:2]
        if sizes[a] % 2 == 0:
            sizes[a] //= 2
            sizes[b] *= 2
    assert prod(sizes) == prod(shape)
    return [{"type": "ops.reshape", "newshape": [-1, *sizes]}], tuple(sizes)


def _run(fn, longest: int):
    """A drawer function that draws a run of 1 to `longest` of `fn`'s layers, each on the previous output (more
    operations per draw: the families are large, and drawers are drawn one family at a time)."""

    def draw_run(draw, shape: tuple) -> tuple[list[dict], tuple]:
        layers: list[dict] = []
        for _ in range(draw(st.integers(1, longest))):
            more, shape = fn(draw, shape)
            layers.extend(more)
        return layers, shape

    return draw_run


DRAWERS = (
    Drawer(
        types=(*ANYWHERE, *POSITIVE, "ops.exp", "ops.softmax", "ops.log_softmax", "ops.clip"),
        ranks=RANKS,
        fn=_run(_elementwise, 4),
    ),
    Drawer(types=(*BINARY, "ops.divide", "ops.true_divide", "ops.power"), ranks=RANKS, fn=_run(_arithmetic, 3)),
    Drawer(types=tuple(REDUCTIONS), ranks=RANKS, fn=_run(_reduction, 2)),
    Drawer(
        types=("ops.get_item", "ops.transpose", "ops.expand_dims", "ops.squeeze", "ops.stack", "ops.concatenate",
               "ops.cast", "ops.reshape"),
        ranks=RANKS,
        fn=_run(_shape_op, 3),
    ),
)  # fmt: skip
