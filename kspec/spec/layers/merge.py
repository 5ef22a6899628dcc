"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Each is called on a list of tensors (`layer([a, b, ...])`) and returns one
float32 tensor (the layer's compute dtype). No weights.

The element-wise merges broadcast like NumPy, right-aligned, excluding the
batch axis (Keras's `_compute_elemwise_op_output_shape`): per axis, two sizes
are compatible when equal or one is 1; an unknown size makes the output's
unknown. Known batch sizes must agree.
"""

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..base import IntTuple
from ._base import FLOAT_DTYPES, Inferred, Layer, Shape, ShapeError, Tensor, shape_str
from ._cost import elements

MAX_MERGE_INPUTS = 64


def _shapes_str(inputs: list[Tensor]) -> str:
    return "[" + ", ".join(shape_str(t.shape) for t in inputs) + "]"


class _Merge(Layer):
    """The n-ary merges: at least 2 inputs, called as a list."""

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = MAX_MERGE_INPUTS
    call_style: ClassVar[str] = "list"
    #: Whether the merge computes floats from integers (Average divides); the others keep the integer dtype.
    floats_integers: ClassVar[bool] = False

    def _refuse_integer_result(self, inputs: list[Tensor]) -> None:
        """Keras declares float32, but a merge of integers (or bools) alone returns them on every backend: the
        next layers then see another dtype than declared (a Dropout fails)."""
        if not self.floats_integers and all(t.dtype not in FLOAT_DTYPES for t in inputs):
            raise ShapeError(
                f"Layer '{self.layer_type}' of inputs none of which is floating point returns their integer (or "
                f"bool) dtype, where Keras declares float32: cast one input to float first (e.g. with Rescaling). "
                f"Received: dtypes={[t.dtype for t in inputs]}"
            )

    def _batch(self, inputs: list[Tensor]) -> int | None:
        sizes = {t.shape[0] for t in inputs if t.rank} - {None}
        if len(sizes) > 1:
            raise ShapeError(
                f"Cannot merge tensors with different batch sizes: expected one batch size. "
                f"Received: input_shapes={_shapes_str(inputs)}"
            )
        return sizes.pop() if sizes else None


class _Elementwise(_Merge):
    """Element-wise merges with broadcasting (Keras's `base_merge.Merge`)."""

    #: The merge divides its sum by the number of inputs (Average): one operation more per value.
    divides: ClassVar[bool] = False

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """One operation per output value for each input after the first (Average: and a division)."""
        return (len(inputs) - 1 + self.divides) * elements(output.shape)

    def _check_dtypes(self, inputs: list[Tensor]) -> None:
        """Dtype rule of the element-wise op: it folds left, pairwise, so the first pair sets the kernel."""
        if inputs[0].dtype == "bool" and inputs[1].dtype == "bool":
            raise ShapeError(
                f"Layer '{self.layer_type}' cannot combine two bool tensors (its arithmetic kernel has no bool "
                f"version): expected a numeric first or second input. "
                f"Received: dtypes={[t.dtype for t in inputs]}"
            )

    def infer(self, inputs: list[Tensor]) -> Inferred:
        self._check_dtypes(inputs)
        self._refuse_integer_result(inputs)
        batch = self._batch(inputs)
        out = inputs[0].shape[1:]
        for t in inputs[1:]:
            out = _broadcast(out, t.shape[1:], inputs)
        return Inferred(Tensor((batch,) + out, "float32"))


def _broadcast(shape1: Shape, shape2: Shape, inputs: list[Tensor]) -> Shape:
    """`_compute_elemwise_op_output_shape`: right-aligned; None wins over everything, 1 broadcasts."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return shape1
    out = list(shape1[: len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2) :], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ShapeError(
                f"Inputs have incompatible shapes: expected sizes that are equal or 1 on each axis "
                f"(aligned from the last), found {i} and {j}. Received: input_shapes={_shapes_str(inputs)}"
            )
    return tuple(out)


class Add(_Elementwise):
    """Adds a list of inputs element-wise. Input shapes: broadcastable. Output shape: the broadcast shape."""

    type: Literal["Add"]


class Subtract(_Elementwise):
    """Subtracts the second input from the first, element-wise. Input shapes: two, broadcastable."""

    type: Literal["Subtract"]
    max_inputs: ClassVar[int] = 2

    def constant_on_equal_inputs(self) -> str | None:
        return "0"


class Multiply(_Elementwise):
    """Multiplies a list of inputs element-wise. Input shapes: broadcastable. Output shape: the broadcast shape."""

    type: Literal["Multiply"]


class Average(_Elementwise):
    """Averages a list of inputs element-wise. Input shapes: broadcastable. Output shape: the broadcast shape."""

    type: Literal["Average"]
    floats_integers: ClassVar[bool] = True
    divides: ClassVar[bool] = True

    def _check_dtypes(self, inputs: list[Tensor]) -> None:
        if inputs[0].dtype == "bool" and inputs[1].dtype == "bool":  # JAX and PyTorch average booleans
            raise ShapeError(
                f"Layer 'Average' cannot combine two bool tensors on TensorFlow (its add kernel has no bool version): "
                f"expected a numeric first or second input. Received: dtypes={[t.dtype for t in inputs]}",
                backends=("tensorflow",),
            )


class Maximum(_Elementwise):
    """Element-wise maximum of a list of inputs. Input shapes: broadcastable. Output shape: the broadcast shape."""

    type: Literal["Maximum"]


class Minimum(_Elementwise):
    """Element-wise minimum of a list of inputs. Input shapes: broadcastable. Output shape: the broadcast shape."""

    type: Literal["Minimum"]


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis`.

    Input shapes: same rank, same sizes except on `axis` (an unknown size matches any).
    Output shape: the first input's shape, with the sum of the sizes on `axis` (unknown if any is).
    """

    type: Literal["Concatenate"]
    mask_passing: ClassVar[str] = "ends"
    axis: int = Field(-1, description="Concatenation axis; negative values count from the end. Not the batch axis.")

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        return 0

    def infer(self, inputs: list[Tensor]) -> Inferred:
        self._refuse_integer_result(inputs)
        for t in inputs:
            if not -t.rank <= self.axis < t.rank:
                raise ShapeError(
                    f"Axis {self.axis} is out of bounds for input shape {shape_str(t.shape)}: expected an axis "
                    f"in [{-t.rank}, {t.rank}) for every input. Received: axis={self.axis}",
                    field="axis",
                )
        if len({t.rank for t in inputs}) > 1:
            raise ShapeError(
                f"A `Concatenate` layer requires inputs of the same rank: expected matching shapes except "
                f"for the concatenation axis. Received: input_shapes={_shapes_str(inputs)}"
            )
        rank = inputs[0].rank
        axis = self.axis % rank
        if axis == 0:
            raise ShapeError(
                f"Concatenating along the batch axis changes the batch size, and the training step "
                f"fails comparing outputs with targets: expected a non-batch axis in [1, {rank}) or "
                f"[{-rank + 1}, 0). Received: axis={self.axis}",
                field="axis",
            )
        for a in range(rank):
            if a != axis and len({t.shape[a] for t in inputs} - {None}) > 1:
                raise ShapeError(
                    f"A `Concatenate` layer requires inputs with matching shapes except for the "
                    f"concatenation axis: axis {a} differs. Received: input_shapes={_shapes_str(inputs)}"
                )
        out = list(inputs[0].shape)
        sizes = [t.shape[axis] for t in inputs]
        out[axis] = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
        return Inferred(Tensor(tuple(out), "float32"))


AxesPair: Any = IntTuple(2, minimum=None)


class Dot(_Merge):
    """Dot product of two inputs over one axis of each (per example: `batch_dot`).

    Input shapes: two tensors of rank >= 2 with equal sizes on the contracted axes.
    Output shape: the first input's shape without its contracted axis, followed by the
    second's without its batch and contracted axes; `(batch, 1)` if that leaves one axis.
    """

    type: Literal["Dot"]
    mask_passing: ClassVar[str] = "ends"
    max_inputs: ClassVar[int] = 2
    axes: AxesPair = Field(
        description=(
            "The axis of each input to take the dot product over: one int for both, or [axis_1, axis_2]. "
            "Negative values count from the end of each input; never the batch axis (0)."
        )
    )
    normalize: bool = Field(
        False, description="Whether to L2-normalize the inputs along the dot-product axes first (cosine similarity)."
    )

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A multiply-add per output value and contracted value (with `normalize`, a square, a sum and a
        multiply per input value first)."""
        x = inputs[0]
        contracted = x.shape[self.axes[0] % x.rank] or 1
        normalize = 3 * sum(elements(t.shape) for t in inputs) if self.normalize else 0
        return 2 * elements(output.shape) * contracted + normalize

    def infer(self, inputs: list[Tensor]) -> Inferred:
        self._refuse_integer_result(inputs)
        x1, x2 = inputs
        if self.normalize:
            for t in inputs:
                if t.dtype not in FLOAT_DTYPES:
                    raise ShapeError(
                        f"Layer 'Dot' with normalize=true expects floating-point inputs: the L2 norm fails on "
                        f"integers. Received: dtypes={[x1.dtype, x2.dtype]}",
                        field="normalize",
                    )
        for t in inputs:
            if t.rank < 2:
                raise ShapeError(
                    f"Cannot do batch_dot on inputs with rank < 2: expected rank >= 2. "
                    f"Received: input_shapes={_shapes_str(inputs)}"
                )
        axes = []
        for t, a in zip(inputs, self.axes):
            if not -t.rank <= a < t.rank:
                raise ShapeError(
                    f"Axis {a} is out of bounds for input shape {shape_str(t.shape)}: expected an axis in "
                    f"[{-t.rank}, {t.rank}). Received: axes={list(self.axes)}",
                    field="axes",
                )
            if a % t.rank == 0:
                raise ShapeError(
                    f"Cannot perform batch_dot over axis 0 (the batch axis): expected axes in [1, rank). "
                    f"Received: axes={list(self.axes)}",
                    field="axes",
                )
            axes.append(a % t.rank)
        d1, d2 = x1.shape[axes[0]], x2.shape[axes[1]]
        if d1 != d2:
            raise ShapeError(
                f"Incompatible input shapes: expected equal sizes on the dot-product axes, found {d1} "
                f"(axis {axes[0]}) and {d2} (axis {axes[1]}). Received: input_shapes={_shapes_str(inputs)}",
                field="axes",
            )
        self._batch(inputs)  # batch_dot refuses different known batch sizes when run
        # Keras takes the batch size from the first input, even when only the second's is known.
        out = [d for i, d in enumerate(x1.shape) if i != axes[0]]
        out += [d for i, d in enumerate(x2.shape) if i not in (0, axes[1])]
        if len(out) == 1:
            out.append(1)
        return Inferred(Tensor(tuple(out), "float32"))


LAYERS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot)
