"""Operations between tensors: the `keras.ops` functions that functional models apply between layers, as nodes.

`{type: ops.add, x2: 3.0}` is `x + 3.0`, `{type: ops.subtract, x1: 1.0}` is `1.0 - x`, `{type: ops.multiply,
inputs: [a, b]}` is `a * b`, `{type: ops.get_item, key: ":, 0"}` is `x[:, 0]`. Each type is named after its
`keras.ops` function and takes that function's arguments; compiling calls the function on the symbolic
tensors, so the Keras model holds the same operation node that `x + 3.0` makes (`kspec import` reads it back).
Operations have no weights.

The families, one base class each: element-wise functions of one tensor (`_Unary`), arithmetic between two
operands, each a tensor or a constant (`_Binary`), reductions over axes (`_Reduction`), and shape operations.

Shapes follow `keras.ops` (NumPy broadcasting, right-aligned; a known size wins over an unknown one), dtypes
Keras's promotion (`_promotion.result_type`: `int32 + 3.0` is float32, an int8 tensor plus 3 stays int8, the
mean of integers is float32). Two rules are kspec's own:

- Every tensor keeps its batch axis first (policy `batch-axis`): an operation may not reduce, index, move,
  insert or resize axis 0, nor broadcast a constant or another tensor against it. `keras.ops` would (axis 0 is
  an axis like any other there), and every layer after it would take another axis for the batch.
- The arguments whose Keras default acts on axis 0 (`axis=None` of the reductions and `squeeze`, `axis=0` of
  `concatenate` and `stack`) have no default: a spec names its axes.

On integer and boolean tensors, each operation does what Keras does on every backend (measured on TensorFlow,
JAX and PyTorch); where a backend fails, or returns a float where Keras declares an integer, kspec refuses the
dtype (on every backend, naming the failing ones: the `portability` policy).
"""

from math import prod
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..base import Axes
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Shape, ShapeError, Tensor, shape_str
from ._cost import ACTIVATION_FLOPS, elements
from ._opbase import (
    INT32_RANGE,
    MAX_CONSTANT_VALUES,
    ConstantOperand,
    Number,
    Op,
    batch_axis_error,
    broadcast,
    constant_dtype,
    constant_numbers,
    constant_shape,
    keras_constant,
)
from ._opshape import (
    OpsConcatenate,
    OpsExpandDims,
    OpsGetItem,
    OpsReshape,
    OpsSqueeze,
    OpsStack,
    OpsTranspose,
    key_text,
    parse_key,
)
from ._promotion import is_float, result_type

# ---- element-wise functions of one tensor ---------------------------------------------------------


class _Unary(Op):
    """An element-wise function of one tensor: the output has the input's shape."""

    #: The backends (letters T, J, P) on which Keras fails on an integer tensor, or returns a float where it
    #: declares an integer; and the same for a bool tensor.
    integers_fail: ClassVar[str] = ""
    bools_fail: ClassVar[str] = ""
    #: The output dtype: "same" as the input, "float" (integers and bools become float32: `tanh`, `sqrt`),
    #: "no-bool" (the same, bool becomes int32: `square`, `clip`), or "float32" (always).
    result: ClassVar[str] = "same"
    #: The Keras activation this function is, where it is one (for the checks of an output's range).
    keras_activation: ClassVar[str | None] = None

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """Per value: the function's count (`ACTIVATION_FLOPS`, by its keras.ops name), else 1."""
        return ACTIVATION_FLOPS.get(self.function, 1) * elements(output.shape)

    def final_activation(self) -> str | None:
        return self.keras_activation

    def check_dtype(self, x: Tensor) -> None:
        self.fails_on(x, self.bools_fail if x.dtype == "bool" else self.integers_fail)

    def output_dtype(self, dtype: str) -> str:
        if self.result == "float32":
            return "float32"
        if self.result == "float":
            return dtype if is_float(dtype) else "float32"
        if self.result == "no-bool" and dtype == "bool":
            return "int32"
        return dtype

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.check_dtype(x)
        return Inferred(Tensor(x.shape, self.output_dtype(x.dtype)))


class _FloatActivation(_Unary):
    """An activation that Keras computes for floating-point tensors only: on integers it fails on some
    backends and returns floats where it declares integers on others."""

    integers_fail: ClassVar[str] = "TJP"
    bools_fail: ClassVar[str] = "TJP"


class OpsRelu(_Unary):
    """`keras.ops.relu(x)`: max(x, 0)."""

    type: Literal["ops.relu"]
    keras_op: ClassVar[str] = "Relu"
    keras_activation: ClassVar[str | None] = "relu"
    bools_fail: ClassVar[str] = "TP"


class OpsRelu6(_Unary):
    """`keras.ops.relu6(x)`: min(max(x, 0), 6)."""

    type: Literal["ops.relu6"]
    keras_op: ClassVar[str] = "Relu6"
    keras_activation: ClassVar[str | None] = "relu6"
    integers_fail: ClassVar[str] = "J"  # JAX returns float32 where Keras declares the integer dtype
    bools_fail: ClassVar[str] = "TJP"


class OpsSigmoid(_FloatActivation):
    """`keras.ops.sigmoid(x)`: 1 / (1 + exp(-x))."""

    type: Literal["ops.sigmoid"]
    keras_op: ClassVar[str] = "Sigmoid"
    keras_activation: ClassVar[str | None] = "sigmoid"


class OpsHardSigmoid(_FloatActivation):
    """`keras.ops.hard_sigmoid(x)`: relu6(x + 3) / 6, a piecewise-linear sigmoid."""

    type: Literal["ops.hard_sigmoid"]
    keras_op: ClassVar[str] = "HardSigmoid"
    keras_activation: ClassVar[str | None] = "hard_sigmoid"


class OpsHardSilu(_FloatActivation):
    """`keras.ops.hard_silu(x)` (also called hard_swish): x * relu6(x + 3) / 6."""

    type: Literal["ops.hard_silu"]
    keras_op: ClassVar[str] = "HardSilu"
    keras_activation: ClassVar[str | None] = "hard_silu"


class OpsSilu(_FloatActivation):
    """`keras.ops.silu(x)` (also called swish): x * sigmoid(x)."""

    type: Literal["ops.silu"]
    keras_op: ClassVar[str] = "Silu"
    keras_activation: ClassVar[str | None] = "silu"


class OpsGelu(_FloatActivation):
    """`keras.ops.gelu(x, approximate)`: the Gaussian error linear unit."""

    type: Literal["ops.gelu"]
    keras_op: ClassVar[str] = "Gelu"
    keras_activation: ClassVar[str | None] = "gelu"
    approximate: bool = Field(True, description="Whether to use the tanh approximation.")


class OpsElu(_FloatActivation):
    """`keras.ops.elu(x, alpha)`: x for x > 0, alpha * (exp(x) - 1) otherwise."""

    type: Literal["ops.elu"]
    keras_op: ClassVar[str] = "Elu"
    keras_activation: ClassVar[str | None] = "elu"
    alpha: float = Field(1.0, description="Scale of the negative section.")


class OpsSelu(_FloatActivation):
    """`keras.ops.selu(x)`: the scaled exponential linear unit."""

    type: Literal["ops.selu"]
    keras_op: ClassVar[str] = "Selu"
    keras_activation: ClassVar[str | None] = "selu"


class OpsSoftplus(_FloatActivation):
    """`keras.ops.softplus(x)`: log(exp(x) + 1)."""

    type: Literal["ops.softplus"]
    keras_op: ClassVar[str] = "Softplus"
    keras_activation: ClassVar[str | None] = "softplus"


class OpsSoftsign(_FloatActivation):
    """`keras.ops.softsign(x)`: x / (abs(x) + 1)."""

    type: Literal["ops.softsign"]
    keras_op: ClassVar[str] = "Softsign"
    keras_activation: ClassVar[str | None] = "softsign"


class OpsLeakyRelu(_Unary):
    """`keras.ops.leaky_relu(x, negative_slope)`: x for x >= 0, negative_slope * x otherwise."""

    type: Literal["ops.leaky_relu"]
    keras_op: ClassVar[str] = "LeakyRelu"
    keras_activation: ClassVar[str | None] = "leaky_relu"
    integers_fail: ClassVar[str] = "TJP"  # declared integers, float32 on TensorFlow and JAX, PyTorch fails
    bools_fail: ClassVar[str] = "TJP"
    negative_slope: float = Field(0.2, description="Slope of the function for negative inputs.")


class _Softmax(_FloatActivation):
    axis: int = Field(-1, description="The axis the softmax normalizes over; not the batch axis.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        (axis,) = self.canonical_axes((self.axis,), x.rank)
        if x.shape[axis] == 1:
            raise ShapeError(
                f"{self.what()} normalizes over a single value, so its output is always "
                f"{1 if self.keras_activation == 'softmax' else 0} (kspec policy: nothing before it could train). "
                f"Received: axis={self.axis}, input_shape={shape_str(x.shape)}",
                field="axis",
                policy="constant-layer",
            )
        return super().infer(inputs)


class OpsSoftmax(_Softmax):
    """`keras.ops.softmax(x, axis)`: exp(x) / sum(exp(x)) over `axis`."""

    type: Literal["ops.softmax"]
    keras_op: ClassVar[str] = "Softmax"
    keras_activation: ClassVar[str | None] = "softmax"


class OpsLogSoftmax(_Softmax):
    """`keras.ops.log_softmax(x, axis)`: the logarithm of the softmax over `axis`."""

    type: Literal["ops.log_softmax"]
    keras_op: ClassVar[str] = "LogSoftmax"
    keras_activation: ClassVar[str | None] = "log_softmax"


class OpsTanh(_Unary):
    """`keras.ops.tanh(x)`: the hyperbolic tangent (of integers: float32)."""

    type: Literal["ops.tanh"]
    keras_op: ClassVar[str] = "Tanh"
    keras_activation: ClassVar[str | None] = "tanh"
    result: ClassVar[str] = "float"


class OpsAbs(_Unary):
    """`keras.ops.abs(x)`: the absolute value."""

    type: Literal["ops.abs"]
    keras_op: ClassVar[str] = "Absolute"


class OpsNegative(_Unary):
    """`keras.ops.negative(x)`: -x."""

    type: Literal["ops.negative"]
    keras_op: ClassVar[str] = "Negative"
    bools_fail: ClassVar[str] = "TJP"

    def check_dtype(self, x: Tensor) -> None:
        if x.dtype.startswith("uint"):  # TensorFlow has no negation of unsigned integers
            self.fails_on(x, "T")
        super().check_dtype(x)


class OpsSquare(_Unary):
    """`keras.ops.square(x)`: x * x (of bools: int32)."""

    type: Literal["ops.square"]
    keras_op: ClassVar[str] = "Square"
    result: ClassVar[str] = "no-bool"


class OpsSqrt(_Unary):
    """`keras.ops.sqrt(x)`: the square root (of integers: float32)."""

    type: Literal["ops.sqrt"]
    keras_op: ClassVar[str] = "Sqrt"
    result: ClassVar[str] = "float"


class OpsRsqrt(_FloatActivation):
    """`keras.ops.rsqrt(x)`: 1 / sqrt(x)."""

    type: Literal["ops.rsqrt"]
    keras_op: ClassVar[str] = "Rsqrt"


class OpsExp(_Unary):
    """`keras.ops.exp(x)`: e to the x (of integers: float32)."""

    type: Literal["ops.exp"]
    keras_op: ClassVar[str] = "Exp"
    keras_activation: ClassVar[str | None] = "exponential"
    result: ClassVar[str] = "float"


class OpsLog(_Unary):
    """`keras.ops.log(x)`: the natural logarithm (of integers: float32)."""

    type: Literal["ops.log"]
    keras_op: ClassVar[str] = "Log"
    result: ClassVar[str] = "float"


class OpsLog1p(_Unary):
    """`keras.ops.log1p(x)`: log(1 + x) (of integers: float32)."""

    type: Literal["ops.log1p"]
    keras_op: ClassVar[str] = "Log1p"
    result: ClassVar[str] = "float"


class OpsReciprocal(_Unary):
    """`keras.ops.reciprocal(x)`: 1 / x. Keras declares float32 whatever the input."""

    type: Literal["ops.reciprocal"]
    keras_op: ClassVar[str] = "Reciprocal"
    integers_fail: ClassVar[str] = "T"
    bools_fail: ClassVar[str] = "T"
    result: ClassVar[str] = "float32"


class OpsErf(_FloatActivation):
    """`keras.ops.erf(x)`: the Gauss error function."""

    type: Literal["ops.erf"]
    keras_op: ClassVar[str] = "Erf"


class OpsSin(_Unary):
    """`keras.ops.sin(x)` (of integers: float32)."""

    type: Literal["ops.sin"]
    keras_op: ClassVar[str] = "Sin"
    result: ClassVar[str] = "float"


class OpsCos(_Unary):
    """`keras.ops.cos(x)` (of integers: float32)."""

    type: Literal["ops.cos"]
    keras_op: ClassVar[str] = "Cos"
    result: ClassVar[str] = "float"


class OpsClip(_Unary):
    """`keras.ops.clip(x, x_min, x_max)`: x limited to [x_min, x_max] (of bools: int32)."""

    type: Literal["ops.clip"]
    keras_op: ClassVar[str] = "Clip"
    result: ClassVar[str] = "no-bool"
    x_min: Number = Field(description="The smallest value of the output.")
    x_max: Number = Field(description="The largest value of the output; at least `x_min`.")

    def check_dtype(self, x: Tensor) -> None:
        if isinstance(self.x_min, float) or isinstance(self.x_max, float):
            self.fails_on(x, "TJP", " when a bound is a float")
        if self.x_min > self.x_max:
            raise ShapeError(
                f"{self.what()} needs x_min <= x_max (kspec policy: Keras's backends then disagree, TensorFlow "
                f"returning x_max everywhere and JAX and PyTorch x_min). Received: x_min={self.x_min}, "
                f"x_max={self.x_max}",
                field="x_max",
                policy="ordered-bounds",
            )


class OpsCast(_Unary):
    """`keras.ops.cast(x, dtype)`: the values in another dtype."""

    type: Literal["ops.cast"]
    keras_op: ClassVar[str] = "Cast"
    dtype: Literal[FLOAT_DTYPES + INT_DTYPES[:-1] + ("bool",)] = Field(  # type: ignore[valid-type]
        description="The dtype to cast to (not uint64, which PyTorch lacks)."
    )

    def output_dtype(self, dtype: str) -> str:
        return self.dtype


# ---- arithmetic between two operands ---------------------------------------------------------------


class _Binary(Op):
    """Arithmetic between two operands, each a tensor or a constant, with NumPy broadcasting.

    Two input tensors are x1 and x2; with one input tensor, the constant `x1` or `x2` is the other operand."""

    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 2
    operand_fields: ClassVar[tuple[str, ...]] = ("x1", "x2")
    #: The backends (letters) on which Keras fails on two bool tensors.
    bools_fail: ClassVar[str] = "T"
    x1: ConstantOperand | None = Field(
        None, description="The first operand as a constant (a number, or nested lists), when the input is the second."
    )
    x2: ConstantOperand | None = Field(
        None, description="The second operand as a constant (a number, or nested lists), when the input is the first."
    )

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """One operation per output value."""
        return elements(output.shape)

    def result_dtype(self, dtypes: tuple[str, str]) -> str:
        return result_type(*dtypes)

    def refuse_bools(self) -> None:
        failing = tuple(
            b for letter, b in (("T", "tensorflow"), ("J", "jax"), ("P", "torch")) if letter in self.bools_fail
        )
        if failing:
            raise ShapeError(
                f"{self.what()} of two bool operands fails in Keras: expected a numeric operand (cast one first). "
                "Received: dtypes=['bool', 'bool']",
                backends=() if len(failing) == 3 else failing,
            )

    def operands(self, inputs: list) -> list:
        """The two operands in order: the input tensors, and the constant where one is given."""
        given = [f for f in ("x1", "x2") if getattr(self, f) is not None]
        if len(inputs) == 2:
            if given:
                raise ShapeError(
                    f"{self.what()} applied to two tensors takes no constant operand: remove `{given[0]}` or an "
                    f"input. Received: {given[0]}={getattr(self, given[0])!r}",
                    field=given[0],
                )
            return list(inputs)
        if len(given) != 1:
            raise ShapeError(
                f"{self.what()} applied to one tensor needs one constant operand: `x2` (x op constant) or `x1` "
                f"(constant op x). Received: {', '.join(f'{f}={getattr(self, f)!r}' for f in given) or 'neither'}",
                field=given[1] if given else None,
            )
        return [self.x1, inputs[0]] if given == ["x1"] else [inputs[0], self.x2]

    def check_constant(self, field: str, value: Any, tensor: Tensor) -> tuple[tuple[int, ...], str]:
        """The constant's shape (without a batch axis) and dtype; ShapeError if Keras cannot take it here."""
        shape = constant_shape(value)
        if shape is None:
            raise ShapeError(
                f"{self.what()}: the constant `{field}` has rows of different lengths: expected nested lists of "
                f"one shape (a tensor)",
                field=field,
            )
        if prod(shape) > MAX_CONSTANT_VALUES:
            raise ShapeError(
                f"{self.what()}: the constant `{field}` holds {prod(shape):,} numbers, more than the "
                f"{MAX_CONSTANT_VALUES:,} a spec may hold (use a layer with weights for large tensors)",
                field=field,
            )
        dtype = constant_dtype(value)
        ints = [n for n in constant_numbers(value) if isinstance(n, int)]
        if dtype == "int32" and any(not INT32_RANGE[0] <= n <= INT32_RANGE[1] for n in ints):
            raise ShapeError(
                f"{self.what()}: the constant `{field}` is an int32 tensor, whose values lie in "
                f"[{INT32_RANGE[0]}, {INT32_RANGE[1]}]. Received: {field}={value!r}",
                field=field,
            )
        if dtype == "int" and not is_float(tensor.dtype) and not INT32_RANGE[0] <= value <= INT32_RANGE[1]:
            raise ShapeError(
                f"{self.what()}: the integer constant `{field}` lies outside int32, which JAX converts it to. "
                f"Received: {field}={value}",
                field=field,
                backends=("jax",),
            )
        if len(shape) > tensor.rank - 1 and not (len(shape) == tensor.rank and shape[0] == 1):
            raise batch_axis_error(
                f"{self.what()}: the constant `{field}` of shape {shape_str(shape)} reaches the batch axis of a "
                f"tensor of shape {shape_str(tensor.shape)}: expected a rank below {tensor.rank}, or size 1 on its "
                "first axis",
                field,
            )
        return shape, dtype

    def infer(self, inputs: list[Tensor]) -> Inferred:
        operands = self.operands(inputs)
        tensors = [o for o in operands if isinstance(o, Tensor)]
        shapes: list[Shape] = []
        dtypes: list[str] = []
        for field, operand in zip(("x1", "x2"), operands):
            if isinstance(operand, Tensor):
                shapes.append(operand.shape)
                dtypes.append(operand.dtype)
            else:
                shape, dtype = self.check_constant(field, operand, tensors[0])
                shapes.append(shape)
                dtypes.append(dtype)
        if len(tensors) == 2 and tensors[0].rank != tensors[1].rank:
            raise batch_axis_error(
                f"{self.what()} of tensors of ranks {tensors[0].rank} and {tensors[1].rank} would broadcast the batch "
                f"axis of one against another axis of the other: expected tensors of one rank. Received: "
                f"input_shapes={[shape_str(t.shape) for t in tensors]}"
            )
        if dtypes == ["bool", "bool"]:
            self.refuse_bools()
        self.check_operands(operands, tuple(dtypes))  # type: ignore[arg-type]
        return Inferred(Tensor(broadcast(shapes[0], shapes[1], self), self.result_dtype(tuple(dtypes))))  # type: ignore[arg-type]

    def check_operands(self, operands: list, dtypes: tuple[str, str]) -> None:
        """Refusals of one operation (a negative integer power); none by default."""

    def keras_call(self, tensors: list) -> Any:
        import keras

        operands = self.operands(list(tensors))
        args = [keras_constant(o) if isinstance(o, (int, float, list)) else o for o in operands]
        return getattr(keras.ops, self.function)(*args)


class OpsAdd(_Binary):
    """`keras.ops.add(x1, x2)`: x1 + x2."""

    type: Literal["ops.add"]
    keras_op: ClassVar[str] = "Add"


class OpsSubtract(_Binary):
    """`keras.ops.subtract(x1, x2)`: x1 - x2."""

    type: Literal["ops.subtract"]
    keras_op: ClassVar[str] = "Subtract"
    bools_fail: ClassVar[str] = "TJP"


class OpsMultiply(_Binary):
    """`keras.ops.multiply(x1, x2)`: x1 * x2."""

    type: Literal["ops.multiply"]
    keras_op: ClassVar[str] = "Multiply"


class OpsDivide(_Binary):
    """`keras.ops.divide(x1, x2)`: x1 / x2, true division (integers give float32)."""

    type: Literal["ops.divide"]
    keras_op: ClassVar[str] = "Divide"
    bools_fail: ClassVar[str] = ""

    def result_dtype(self, dtypes: tuple[str, str]) -> str:
        return result_type(*dtypes, "float")


class OpsTrueDivide(OpsDivide):
    """`keras.ops.true_divide(x1, x2)`, what the operator `x1 / x2` calls: the same as `ops.divide`."""

    type: Literal["ops.true_divide"]  # type: ignore[assignment]
    keras_op: ClassVar[str] = "TrueDivide"


class OpsPower(_Binary):
    """`keras.ops.power(x1, x2)`: x1 to the power x2."""

    type: Literal["ops.power"]
    keras_op: ClassVar[str] = "Power"
    bools_fail: ClassVar[str] = "TP"

    def check_operands(self, operands: list, dtypes: tuple[str, str]) -> None:
        exponent = operands[1]
        if isinstance(exponent, Tensor) or is_float(self.result_dtype(dtypes)):
            return
        if any(isinstance(n, int) and n < 0 for n in constant_numbers(exponent)):
            raise ShapeError(
                f"{self.what()} raises integers to a negative integer power, which TensorFlow and JAX refuse "
                f"(use a float exponent). Received: x2={exponent!r}",
                field="x2",
                backends=("tensorflow", "jax"),
            )


class OpsMaximum(_Binary):
    """`keras.ops.maximum(x1, x2)`: the element-wise maximum."""

    type: Literal["ops.maximum"]
    keras_op: ClassVar[str] = "Maximum"


class OpsMinimum(_Binary):
    """`keras.ops.minimum(x1, x2)`: the element-wise minimum."""

    type: Literal["ops.minimum"]
    keras_op: ClassVar[str] = "Minimum"


# ---- reductions --------------------------------------------------------------------------------------

#: Axes to reduce over: one int or a non-empty list (never axis 0, the batch axis).
ReductionAxes: Any = Axes


class _Reduction(Op):
    """A reduction over `axis` (required: Keras's default, every axis, includes the batch axis)."""

    axis: ReductionAxes = Field(
        description="The axis or axes to reduce over; negative values count from the end. Not the batch axis (0)."
    )
    keepdims: bool = Field(False, description="Whether the reduced axes stay, with size 1.")

    #: The reduction divides by the count (a mean): one operation more per output value.
    divides: ClassVar[bool] = False

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """n - 1 additions or comparisons for each output value made of n input values (a mean: and a division)."""
        return elements(inputs[0].shape) - (0 if self.divides else elements(output.shape))

    def output_dtype(self, dtype: str) -> str:
        return dtype

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        axes = self.canonical_axes(self.axis, x.rank)
        self.distinct(axes, self.axis)
        shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
        if not self.keepdims:
            shape = [d for i, d in enumerate(shape) if i not in axes]
        return Inferred(Tensor(tuple(shape), self.output_dtype(x.dtype)))


class OpsMean(_Reduction):
    """`keras.ops.mean(x, axis, keepdims)`: the average over `axis` (of integers: float32)."""

    type: Literal["ops.mean"]
    keras_op: ClassVar[str] = "Mean"
    divides: ClassVar[bool] = True
    passes_values: ClassVar[str | None] = "keeps"

    def output_dtype(self, dtype: str) -> str:
        return dtype if is_float(dtype) else "float32"


class OpsSum(_Reduction):
    """`keras.ops.sum(x, axis, keepdims)`: the sum over `axis` (bool, int8 and int16 give int32; uint8, uint16
    give uint32)."""

    type: Literal["ops.sum"]
    keras_op: ClassVar[str] = "Sum"

    def output_dtype(self, dtype: str) -> str:
        return {"bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32", "uint16": "uint32"}.get(
            dtype, dtype
        )


class OpsMax(_Reduction):
    """`keras.ops.max(x, axis, keepdims)`: the largest value over `axis`."""

    type: Literal["ops.max"]
    keras_op: ClassVar[str] = "Max"
    keras_fixed: ClassVar[dict[str, Any]] = {"initial": None}
    passes_values: ClassVar[str | None] = "keeps"


class OpsMin(_Reduction):
    """`keras.ops.min(x, axis, keepdims)`: the smallest value over `axis`."""

    type: Literal["ops.min"]
    keras_op: ClassVar[str] = "Min"
    keras_fixed: ClassVar[dict[str, Any]] = {"initial": None}
    passes_values: ClassVar[str | None] = "keeps"


LAYERS = (
    OpsAdd,
    OpsSubtract,
    OpsMultiply,
    OpsDivide,
    OpsTrueDivide,
    OpsPower,
    OpsMaximum,
    OpsMinimum,
    OpsRelu,
    OpsRelu6,
    OpsSigmoid,
    OpsHardSigmoid,
    OpsHardSilu,
    OpsSilu,
    OpsGelu,
    OpsElu,
    OpsSelu,
    OpsSoftplus,
    OpsSoftsign,
    OpsLeakyRelu,
    OpsSoftmax,
    OpsLogSoftmax,
    OpsTanh,
    OpsAbs,
    OpsNegative,
    OpsSquare,
    OpsSqrt,
    OpsRsqrt,
    OpsExp,
    OpsLog,
    OpsLog1p,
    OpsReciprocal,
    OpsErf,
    OpsSin,
    OpsCos,
    OpsClip,
    OpsCast,
    OpsMean,
    OpsSum,
    OpsMax,
    OpsMin,
    OpsConcatenate,
    OpsStack,
    OpsTranspose,
    OpsExpandDims,
    OpsSqueeze,
    OpsReshape,
    OpsGetItem,
)

#: Keras Operation class name -> kspec operation type (for `kspec import`).
KERAS_OPS: dict[str, type[Op]] = {cls.keras_op: cls for cls in LAYERS}

__all__ = ["KERAS_OPS", "LAYERS", "MAX_CONSTANT_VALUES", "Op", "broadcast", "constant_dtype", "key_text", "parse_key"]
