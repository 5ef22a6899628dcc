"""Shape operations (`ops.concatenate`, `ops.stack`, `ops.transpose`, `ops.expand_dims`, `ops.squeeze`,
`ops.reshape`) and indexing (`ops.get_item`, with a parser of Python's index syntax that evaluates nothing): they
move values, never compute new ones. Each keeps the batch axis first (policy `batch-axis`)."""

from math import prod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from ..base import END, Axes, IntList
from ._base import Inferred, ShapeError, Tensor, shape_str
from ._opbase import Op, batch_axis_error, shown_axes
from ._promotion import result_type

# ---- shape operations ------------------------------------------------------------------------------


Permutation: Any = IntList()


class _ShapeOp(Op):
    """Moves values, never computes new ones."""

    passes_values: ClassVar[str | None] = "keeps"


class _Join(_ShapeOp):
    """`concatenate` and `stack`: a list of tensors, joined on `axis` (required: Keras's default is 0, the
    batch axis)."""

    call_style: ClassVar[str] = "list"
    max_inputs: ClassVar[int] = 64
    axis: int = Field(description="The axis to join on; negative values count from the end. Not the batch axis (0).")

    def keras_call(self, tensors: list) -> Any:
        import keras

        return getattr(keras.ops, self.function)(list(tensors), axis=self.axis)


def _shapes_str(inputs: list[Tensor]) -> str:
    return "[" + ", ".join(shape_str(t.shape) for t in inputs) + "]"


class OpsConcatenate(_Join):
    """`keras.ops.concatenate(xs, axis)`: tensors of one rank joined along an existing axis, where the others
    agree (an unknown size agrees with any; the output takes the first tensor's)."""

    type: Literal["ops.concatenate"]
    keras_op: ClassVar[str] = "Concatenate"

    def infer(self, inputs: list[Tensor]) -> Inferred:
        first = inputs[0]
        (axis,) = self.canonical_axes((self.axis,), first.rank)
        for t in inputs:
            if t.rank != first.rank or any(
                a != axis and None not in (d, e) and d != e for a, (d, e) in enumerate(zip(t.shape, first.shape))
            ):
                raise ShapeError(
                    f"{self.what()} needs tensors of one shape except on the `axis` dim. Received: axis={self.axis}, "
                    f"input_shapes={_shapes_str(inputs)}"
                )
        sizes = [t.shape[axis] for t in inputs]
        out = list(first.shape)
        out[axis] = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
        return Inferred(Tensor(tuple(out), result_type(*[t.dtype for t in inputs])))


class OpsStack(_Join):
    """`keras.ops.stack(x, axis)`: tensors of one shape joined along a new axis (an unknown size agrees with
    any; the output takes the first tensor's)."""

    type: Literal["ops.stack"]
    keras_op: ClassVar[str] = "Stack"

    def infer(self, inputs: list[Tensor]) -> Inferred:
        first = inputs[0]
        (axis,) = self.canonical_axes((self.axis,), first.rank + 1)
        for t in inputs:
            if t.rank != first.rank or any(None not in (d, e) and d != e for d, e in zip(t.shape, first.shape)):
                raise ShapeError(
                    f"{self.what()} needs tensors of one shape. Received: input_shapes={_shapes_str(inputs)}"
                )
        out = list(first.shape)
        out.insert(axis, len(inputs))
        return Inferred(Tensor(tuple(out), result_type(*[t.dtype for t in inputs])))


class OpsTranspose(_ShapeOp):
    """`keras.ops.transpose(x, axes)`: the axes in a new order (the batch axis stays first)."""

    type: Literal["ops.transpose"]
    keras_op: ClassVar[str] = "Transpose"
    axes: Permutation = Field(
        description="The new order of the axes, the batch axis first: a permutation of 0 .. rank - 1 "
        "(negative values count from the end).",
    )

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        given = tuple(self.axes)
        if len(given) != x.rank or sorted(a % x.rank for a in given if -x.rank <= a < x.rank) != list(range(x.rank)):
            raise ShapeError(
                f"{self.what()} needs `axes` to be a permutation of the {x.rank} axes of its input. Received: "
                f"axes={list(given)}, input_shape={shape_str(x.shape)}",
                field="axes",
            )
        if given[0] % x.rank != 0:
            raise batch_axis_error(f"{self.what()} moves the batch axis. Received: axes={list(given)}", "axes")
        return Inferred(Tensor(tuple(x.shape[a] for a in given), x.dtype))


class OpsExpandDims(_ShapeOp):
    """`keras.ops.expand_dims(x, axis)`: new axes of size 1 at `axis` (positions in the output)."""

    type: Literal["ops.expand_dims"]
    keras_op: ClassVar[str] = "ExpandDims"
    axis: Axes = Field(description="Where the new axes go, in the output; negative values count from the end.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        rank = x.rank + len(self.axis)
        axes = self.canonical_axes(self.axis, rank)
        self.distinct(axes, self.axis)
        rest = iter(x.shape)
        return Inferred(Tensor(tuple(1 if a in axes else next(rest) for a in range(rank)), x.dtype))


class OpsSqueeze(_ShapeOp):
    """`keras.ops.squeeze(x, axis)`: axes of size 1 removed (required: Keras's default removes every axis of size 1,
    the batch axis too when a batch holds one example)."""

    type: Literal["ops.squeeze"]
    keras_op: ClassVar[str] = "Squeeze"
    axis: Axes = Field(description="The axes to remove, each of size 1; negative values count from the end.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        axes = self.canonical_axes(self.axis, x.rank)
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(
                    f"{self.what()} cannot squeeze axis {a}, because the dimension is not 1. Received: "
                    f"axis={shown_axes(self.axis)}, input_shape={shape_str(x.shape)}",
                    field="axis",
                )
        self.distinct(axes, self.axis, backends=("jax", "torch"))
        return Inferred(Tensor(tuple(d for a, d in enumerate(x.shape) if a not in axes), x.dtype))


NewShape: Any = IntList(minimum=-1)


class OpsReshape(_ShapeOp):
    """`keras.ops.reshape(x, newshape)`: the values in a new shape, the batch axis first (-1) and the others known."""

    type: Literal["ops.reshape"]
    keras_op: ClassVar[str] = "Reshape"
    newshape: NewShape = Field(
        description="The new shape, the batch axis included: -1 first (the batch), then positive sizes whose "
        "product is the number of values in one example."
    )

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        rest = self.newshape[1:]
        if any(d < 1 for d in rest):
            raise ShapeError(
                f"{self.what()} needs positive sizes after the batch axis (-1). Received: newshape={list(self.newshape)}",
                field="newshape",
            )
        size = None if None in x.shape[1:] else prod(x.shape[1:])  # type: ignore[arg-type]
        if self.newshape[0] != -1 or size != prod(rest):
            raise batch_axis_error(
                f"{self.what()} keeps the batch size only with -1 first and sizes whose product is the number of "
                f"values in one example ({'unknown' if size is None else size}). Received: "
                f"newshape={list(self.newshape)}, input_shape={shape_str(x.shape)}",
                "newshape",
            )
        return Inferred(Tensor((x.shape[0],) + tuple(rest), x.dtype))


# ---- indexing -------------------------------------------------------------------------------------

_INDEX = r"-?[0-9]{1,9}"
# Spaces only around the parts (not `\s`: Python's `re` takes the separators \x1c-\x1f and \x85 as spaces there,
# which int() refuses, and JSON Schema's regexes have yet another set).
_ITEM = rf" *(?:\.\.\.|None|{_INDEX}|(?:{_INDEX})? *: *(?:{_INDEX})?(?: *: *(?:{_INDEX})?)?) *"
_ITEMS = rf"{_ITEM}(?:,{_ITEM}){{0,15}}"
KEY_PATTERN = rf"^(?:\[{_ITEMS}\]|{_ITEMS}){END}"

KeyItem = Any  # int | slice | None | Ellipsis


def parse_key(text: str) -> tuple[KeyItem, ...]:
    """The items of an index written as in Python (`":, 0"`, `"[..., 1:3]"`, `":, None"`); the text matches
    KEY_PATTERN. Never evaluated: ints, colons, `...` and `None` only."""
    items: list[KeyItem] = []
    for part in text.strip().removeprefix("[").removesuffix("]").split(","):
        part = part.strip()
        if part == "...":
            items.append(Ellipsis)
        elif part == "None":
            items.append(None)
        elif ":" in part:
            bounds = [int(b) if b.strip() else None for b in part.split(":")]
            items.append(slice(*bounds))
        else:
            items.append(int(part))
    return tuple(items)


def key_text(items: tuple[KeyItem, ...]) -> str:
    """The canonical text of an index: `:, 0`, `..., 1:3`, `::2`."""

    def one(item: KeyItem) -> str:
        if item is Ellipsis:
            return "..."
        if isinstance(item, slice):
            text = "" if item.start is None else str(item.start)
            text += ":" + ("" if item.stop is None else str(item.stop))
            return text + ("" if item.step is None else f":{item.step}")
        return str(item)

    return ", ".join(one(i) for i in items)


def _canonical_key(text: str) -> str:
    """The key written the one way kspec writes it (a named function: the validator cache pickles it)."""
    return key_text(parse_key(text))


Key = Annotated[str, Field(pattern=KEY_PATTERN, max_length=256), AfterValidator(_canonical_key)]


class OpsGetItem(_ShapeOp):
    """`keras.ops.get_item(x, key)`, `x[key]`: indexing and slicing with constant bounds.

    The key is written as in Python, without `x`: `":, 0"` (the first item of axis 1, which goes), `"..., 1:3"`,
    `":, None"` (a new axis of size 1), `":, ::2"`. ints, slices, `...` and `None` only; axis 0, the batch axis,
    takes `:` or `...`. On an axis of unknown size an index is 0 or -1 and a slice never empty (`:n`, `-n:`)."""

    type: Literal["ops.get_item"]
    keras_op: ClassVar[str] = "GetItem"
    operand_fields: ClassVar[tuple[str, ...]] = ("key",)
    key: Key = Field(
        description='The index, as in Python without `x` (`":, 0"`, `"..., 1:3"`, `":, None"`): ints, slices '
        "with constant bounds, `...` and `None`. The batch axis takes `:` (or `...`)."
    )

    @property
    def items(self) -> tuple[KeyItem, ...]:
        return parse_key(self.key)

    def keras_call(self, tensors: list) -> Any:
        import keras

        (x,) = tensors
        return keras.ops.get_item(x, self.items)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        items = list(self.items)
        if items.count(Ellipsis) > 1:
            raise ShapeError(f"{self.what()}: an index holds at most one `...`. Received: key={self.key!r}", "key")
        if Ellipsis not in items:
            items.append(Ellipsis)
        out: list[tuple[int | None, int | None, bool]] = []  # (size, input axis, whole axis)
        axis = 0
        for i, item in enumerate(items):
            if item is Ellipsis:
                needed = len(items) - i - 1 - items[i + 1 :].count(None)
                while axis < x.rank - needed:
                    out.append((x.shape[axis], axis, True))
                    axis += 1
                continue
            if item is None:
                out.append((1, None, False))
                continue
            if axis >= x.rank:
                raise ShapeError(
                    f"{self.what()}: the index has more items than the {x.rank} axes of the tensor. Received: "
                    f"key={self.key!r}, input_shape={shape_str(x.shape)}",
                    field="key",
                )
            whole = item in (slice(None), slice(None, None, 1))
            size = x.shape[axis] if whole else self._index(item, x.shape[axis], axis, x)
            if isinstance(item, slice):
                out.append((size, axis, whole))
            axis += 1
        if not out or out[0][1:] != (0, True):
            raise batch_axis_error(
                f"{self.what()} indexes, slices or moves the batch axis: expected `:` or `...` first. Received: "
                f"key={self.key!r}",
                "key",
            )
        return Inferred(Tensor(tuple(size for size, _, _ in out), x.dtype))

    def _index(self, item: KeyItem, size: int | None, axis: int, x: Tensor) -> int | None:
        """The size an int (None: the axis goes) or a slice leaves of an axis of this size."""
        where = f"Received: key={self.key!r}, input_shape={shape_str(x.shape)}"
        if axis == 0:
            raise batch_axis_error(
                f"{self.what()} indexes or slices the batch axis: expected `:` or `...` first. {where}", "key"
            )
        if isinstance(item, int):
            if size is not None and not -size <= item < size:
                raise ShapeError(f"{self.what()}: index {item} is out of bounds for axis {axis}. {where}", "key")
            if size is None and item not in (0, -1):
                raise ShapeError(
                    f"{self.what()}: index {item} on axis {axis}, of unknown size, is out of bounds when the axis is "
                    f"shorter: expected 0 or -1 there. {where}",
                    field="key",
                )
            return None
        if item.step == 0:
            raise ShapeError(f"{self.what()}: a slice step cannot be zero. {where}", field="key")
        if size is not None:
            length = len(range(*item.indices(size)))
            if length == 0:
                raise ShapeError(
                    f"{self.what()}: the slice {key_text((item,))} of axis {axis} is empty. {where}", "key"
                )
            return length
        start, stop, step = item.start, item.stop, item.step
        forward = (step is None or step > 0) and (
            (start in (None, 0) and (stop is None or stop >= 1)) or (start is not None and start < 0 and stop is None)
        )
        if not (forward or (start is None and stop is None)):
            raise ShapeError(
                f"{self.what()}: the slice {key_text((item,))} of axis {axis}, of unknown size, is empty when the axis "
                f"is shorter: expected one that keeps at least one value of every size (`:n`, `-n:`). {where}",
                field="key",
            )
        return None
