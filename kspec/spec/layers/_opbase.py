"""The base of the operations (`kspec.spec.layers.ops`): the `Op` class, constant operands, broadcasting, and the
`batch-axis` policy. Operations are `keras.ops` functions applied to a node's input tensors; they have no weights.
"""

from typing import Annotated, Any, ClassVar

from pydantic import AllowInfNan, Field, Strict, StrictInt
from typing_extensions import TypeAliasType

from ...naming import to_snake_case
from ._base import FLOAT_DTYPES, Layer, Shape, ShapeError, Tensor, shape_str
from ._promotion import INT_RANGES

# ---- constants -----------------------------------------------------------------------------------

#: The most numbers a constant tensor may hold.
MAX_CONSTANT_VALUES = 4096
INT32_RANGE = INT_RANGES["int32"]

#: Strict and finite here too: a type alias is validated apart from the model's configuration.
Number = StrictInt | Annotated[float, Strict(), AllowInfNan(False)]
_Row = Annotated[list[Number], Field(min_length=1)]
_Matrix = Annotated[list[_Row], Field(min_length=1)]
_Cube = Annotated[list[_Matrix], Field(min_length=1)]
_Block = Annotated[list[_Cube], Field(min_length=1)]
#: A number (a Python scalar to Keras), or a constant tensor of rank 1 to 4 as nested lists (written once in the
#: JSON Schema's `$defs`).
ConstantOperand = TypeAliasType("ConstantOperand", Number | _Row | _Matrix | _Cube | _Block)


def constant_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a constant (() for a number), or None where its lists are ragged."""
    if not isinstance(value, list):
        return ()
    inner = [constant_shape(v) for v in value]
    if any(s is None or s != inner[0] for s in inner):
        return None
    return (len(value),) + inner[0]  # type: ignore[operator]


def constant_numbers(value: Any) -> list:
    return [n for v in value for n in constant_numbers(v)] if isinstance(value, list) else [value]


def constant_dtype(value: Any) -> str:
    """A number is weak ("int", "float": it takes the tensor's dtype where it can); a list is a constant tensor,
    float32 if it holds a float, else int32 (`keras.ops.convert_to_tensor`)."""
    if not isinstance(value, list):
        return "float" if isinstance(value, float) else "int"
    return "float32" if any(isinstance(n, float) for n in constant_numbers(value)) else "int32"


def keras_constant(value: Any) -> Any:
    """The value compile passes to `keras.ops`: a number as it is, a list as a NumPy array of its dtype."""
    if not isinstance(value, list):
        return value
    import numpy as np

    return np.array(value, dtype=constant_dtype(value))


# ---- the base ------------------------------------------------------------------------------------


def batch_axis_error(message: str, field: str | None = None) -> ShapeError:
    return ShapeError(
        f"{message} (kspec policy: every tensor keeps its batch axis first, or the layers after it would take "
        "another axis for the batch)",
        field=field,
        policy="batch-axis",
    )


class Op(Layer):
    """An operation: a `keras.ops` function applied to the node's input tensors. No weights."""

    call_style: ClassVar[str] = "positional"
    #: The Keras Operation class the function makes (its `class_name` in a saved model): Add, TrueDivide, ...
    keras_op: ClassVar[str]
    #: Constructor arguments of the Keras Operation that kspec does not offer, with the only value it takes.
    keras_fixed: ClassVar[dict[str, Any]] = {}
    #: Fields that are operands of the call, not arguments of the Operation.
    operand_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def function(self) -> str:
        """The `keras.ops` function: the type after `ops.`."""
        return self.type.partition(".")[2]

    def base_name(self) -> str:
        return to_snake_case(self.keras_op)

    @classmethod
    def keras_layer_class(cls) -> Any:
        raise TypeError(f"'{cls.type_name()}' is an operation, not a Keras layer: compile calls keras.ops instead")

    def keras_kwargs(self) -> dict[str, Any]:
        """The arguments of the `keras.ops` function besides the operands; one axis as an int, as Keras writes it."""
        kwargs = super().keras_kwargs()
        for key in self.operand_fields:
            kwargs.pop(key, None)
        if isinstance(kwargs.get("axis"), tuple) and len(kwargs["axis"]) == 1:
            kwargs["axis"] = kwargs["axis"][0]
        return kwargs

    def keras_call(self, tensors: list) -> Any:
        """`keras.ops.<function>(*tensors, **arguments)`: symbolic tensors make one Operation node."""
        import keras

        return getattr(keras.ops, self.function)(*tensors, **self.keras_kwargs())

    def what(self) -> str:
        return f"Operation '{self.type}'"

    def fails_on(self, tensor: Tensor, failing: str, why: str = "") -> None:
        """Refuse a non-float tensor on which Keras fails (or returns a float where it declares an integer) on
        the backends `failing` names by their letters (T, J, P; "TJP": a plain refusal)."""
        backends = tuple(b for letter, b in (("T", "tensorflow"), ("J", "jax"), ("P", "torch")) if letter in failing)
        if backends and tensor.dtype not in FLOAT_DTYPES:
            raise ShapeError(
                f"{self.what()} expects a floating-point tensor{why}. Received: dtype={tensor.dtype}",
                backends=() if len(backends) == 3 else backends,
            )

    def canonical_axes(self, axes: tuple[int, ...], rank: int, field: str = "axis") -> list[int]:
        """The axes as indices in [1, rank): ShapeError if one is out of range, refused by policy for axis 0."""
        out = []
        for axis in axes:
            if not -rank <= axis < rank:
                raise ShapeError(
                    f"Axis {axis} is out of bounds for a tensor of rank {rank}: expected an axis in [{-rank}, "
                    f"{rank}). Received: {field}={shown_axes(axes)}",
                    field=field,
                )
            if axis % rank == 0:
                raise batch_axis_error(
                    f"{self.what()} acts on axis 0, the batch axis. Received: {field}={shown_axes(axes)}", field
                )
            out.append(axis % rank)
        return out

    def distinct(self, axes: list[int], given: tuple[int, ...], field: str = "axis", backends: tuple = ()) -> None:
        if len(set(axes)) != len(axes):
            raise ShapeError(
                f"{self.what()} names the same axis twice: expected distinct axes. Received: {field}={list(given)}",
                field=field,
                backends=backends,
            )


def shown_axes(axes: tuple[int, ...]) -> Any:
    return axes[0] if len(axes) == 1 else list(axes)


def broadcast(shape1: Shape, shape2: Shape, op: Op) -> Shape:
    """`keras.src.ops.operation_utils.broadcast_shapes`: right-aligned; a size of 1 broadcasts; an unknown size
    against a known one gives the known one (Keras checks the sizes when it runs)."""
    rank = max(len(shape1), len(shape2))
    a = (1,) * (rank - len(shape1)) + tuple(shape1)
    b = (1,) * (rank - len(shape2)) + tuple(shape2)
    out: list[int | None] = []
    for i, j in zip(a, b):
        if i == 1:
            out.append(j)
        elif i is None:
            out.append(None if j == 1 else j)
        elif j in (1, None, i):
            out.append(i)
        else:
            raise ShapeError(
                f"{op.what()} cannot broadcast shapes {shape_str(tuple(shape1))} and {shape_str(tuple(shape2))}: "
                f"expected sizes that are equal or 1 on each axis (aligned from the last), found {i} and {j}"
            )
    return tuple(out)
