"""Activation layers with parameters: ReLU, LeakyReLU, PReLU, ELU, Softmax.

Each keeps its input's shape and returns float32 (the layer's compute dtype).
Use these, not `activation=`, for parameterised activations (a clipped or
thresholded ReLU, a softmax over another axis, a learned slope).

Integer and bool inputs: Keras builds these layers on them, but many of the
underlying kernels refuse them when run, and which ones depends on the backend
(JAX promotes integers to float32 in most of them). The rules below refuse
exactly the combinations that fail on some backend, and name the backends that
fail when another runs it (portability policy); each was measured on all three
(scripts/dtype_matrix.py measures them all again; tests/test_backends.py and the
layer tests keep examples).
"""

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..base import Axes, IntList, NonNegativeFloat
from ..objects import Constraint, Initializer, Regularizer
from ._base import Inferred, Layer, ShapeError, Tensor, shape_str
from ._cost import elements

SharedAxes: Any = IntList(minimum=1, min_items=0)


class _Activation(Layer):
    """Shape- and weight-free activations: the output is float32 and shaped like the input."""

    #: FLOPs per value, as XLA counts Keras's implementation (`kspec.spec.layers._cost.ACTIVATION_FLOPS`).
    flops_per_value: ClassVar[int] = 1

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        return self.flops_per_value * elements(output.shape)

    def _check_dtype(self, x: Tensor) -> None:
        """Refuse the input dtypes on which Keras's kernel fails when run. Default: floating point only."""
        self.need_float(x)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self._check_dtype(x)
        return Inferred(Tensor(x.shape, "float32"))


class ReLU(_Activation):
    """Rectified Linear Unit, with optional clipping, threshold and leak.

    `f(x) = max_value` for `x >= max_value`, `x` for `threshold <= x < max_value`,
    `negative_slope * (x - threshold)` otherwise.

    Input shape: any. Output shape: same as input.
    """

    type: Literal["ReLU"]
    max_value: NonNegativeFloat | None = Field(None, description="Largest output value; null means unbounded.")
    negative_slope: NonNegativeFloat = Field(0.0, description="Slope of the function below the threshold.")
    threshold: NonNegativeFloat = Field(
        0.0, description="Inputs at or below this value are 0 (or leak with `negative_slope`)."
    )

    def final_activation(self) -> str:
        return "relu" if self.negative_slope == 0 else "leaky_relu"

    def _check_dtype(self, x: Tensor) -> None:
        leak = self.negative_slope != 0
        leak_clip = leak and (self.max_value is not None or self.threshold != 0)
        if x.dtype == "bool":
            # JAX runs a leak alone, or a max_value alone, on booleans
            alone = (leak and not leak_clip) or (not leak and self.max_value is not None and self.threshold == 0)
            self.refuse_on(x, "TP" if alone else "TJP", " (or integer)")
        elif leak_clip:  # the int-minus-float of a leaky, clipped ReLU: JAX promotes the integers
            self.refuse_on(x, "TP", " when `negative_slope` is combined with `max_value` or `threshold`")
        elif leak:  # PyTorch has no leaky ReLU kernel for integers
            self.refuse_on(x, "P", " when `negative_slope` is set")
        else:
            # Keras declares float32 but returns the integers (JAX: float32 for a max_value alone), which the
            # next layers then get: a convolution after it fails when run
            alone = self.max_value is not None and self.threshold == 0
            self.refuse_on(
                x, "TP" if alone else "TJP", ": on integers Keras declares float32 but returns the integer dtype"
            )


class LeakyReLU(_Activation):
    """Leaky ReLU: `f(x) = negative_slope * x` for `x < 0`, `x` otherwise.

    Input shape: any, not bool. Output shape: same as input.
    """

    type: Literal["LeakyReLU"]
    flops_per_value: ClassVar[int] = 3
    negative_slope: NonNegativeFloat = Field(0.3, description="Slope of the function for negative inputs.")

    def final_activation(self) -> str:
        return "leaky_relu"

    def _check_dtype(self, x: Tensor) -> None:
        # PyTorch has no leaky ReLU kernel for integers; JAX runs it on booleans too
        self.refuse_on(x, "TP" if x.dtype == "bool" else "P")


class PReLU(Layer):
    """Parametric ReLU: `f(x) = alpha * x` for `x < 0`, `x` otherwise, with `alpha` learned per element.

    `alpha` has the shape of one example, except 1 on each of `shared_axes`.

    Input shape: any, floating point; known sizes on the axes that are not shared.
    Output shape: same as input.
    """

    type: Literal["PReLU"]
    alpha_initializer: Initializer = Field("zeros", description="Initializer for the alpha weights.")
    alpha_regularizer: Regularizer = Field(None, description="Optional regularizer for the alpha weights.")
    alpha_constraint: Constraint = Field(None, description="Optional constraint for the alpha weights.")
    shared_axes: SharedAxes | None = Field(
        None,
        description=(
            "Axes along which alpha is shared (one value for the whole axis), e.g. [1, 2] for "
            "per-channel alphas on images. Axis indices count the batch axis as 0 and must be "
            "positive: Keras's PReLU shifts negative indices by one."
        ),
    )

    def final_activation(self) -> str:
        return "prelu"

    def _shown_shared(self) -> list[int] | None:
        return None if self.shared_axes is None else list(self.shared_axes)

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A compare, a multiply and a select per value."""
        return 3 * elements(output.shape)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        # JAX and PyTorch promote integers to the float alpha (PyTorch has no uint64 kernel)
        self.refuse_on(x, "TJP" if x.dtype == "bool" else "TP" if x.dtype == "uint64" else "T")
        shared = set(self.shared_axes or ())
        for axis in sorted(shared):
            if axis >= x.rank:
                raise ShapeError(
                    f"Shared axis {axis} is out of bounds for input shape {shape_str(x.shape)}: "
                    f"expected axes in [1, {x.rank}). Received: shared_axes={self._shown_shared()}",
                    field="shared_axes",
                )
        alpha = []
        for axis in range(1, x.rank):
            if axis in shared:
                alpha.append(1)
                continue
            size = x.shape[axis]
            if size is None:
                raise ShapeError(
                    f"Layer 'PReLU' learns one alpha per element, so axis {axis} needs a defined size "
                    f"unless it is in `shared_axes`. Received: shared_axes={self._shown_shared()}, "
                    f"input_shape={shape_str(x.shape)}",
                    field="shared_axes",
                )
            alpha.append(size)
        return Inferred.with_weights(Tensor(x.shape, "float32"), (("alpha", tuple(alpha)),))


class ELU(_Activation):
    """Exponential Linear Unit: `f(x) = alpha * (exp(x) - 1)` for `x < 0`, `x` otherwise.

    Input shape: any, floating point. Output shape: same as input.
    """

    type: Literal["ELU"]
    flops_per_value: ClassVar[int] = 3
    alpha: float = Field(1.0, description="Scale of the negative section.")

    def final_activation(self) -> str:
        return "elu"

    def _check_dtype(self, x: Tensor) -> None:
        self.refuse_on(x, "TP")  # JAX promotes integers and booleans to float32


class Softmax(_Activation):
    """Softmax: `exp(x) / sum(exp(x))` over `axis`.

    Input shape: any, floating point. Output shape: same as input.
    """

    type: Literal["Softmax"]
    flops_per_value: ClassVar[int] = 4
    fails_on_mask: ClassVar[bool] = True
    axis: Axes = Field(
        -1,
        validate_default=True,
        description="The axis or axes along which the softmax normalizes; negative values count from the end.",
    )

    def final_activation(self) -> str:
        return "softmax"

    def _check_dtype(self, x: Tensor) -> None:
        if len(self.axis) == 1:  # the backends' softmax kernel: JAX promotes signed integers
            self.refuse_on(x, "TP" if x.dtype in ("int8", "int16", "int32", "int64") else "TJP")
        else:  # Keras's exp-over-sum: JAX and PyTorch promote integers (PyTorch: not uint64, not bool)
            self.refuse_on(x, "TP" if x.dtype in ("uint64", "bool") else "T")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self._check_dtype(x)
        self.refuse_constant(x, self.normalize_axes(self.axis, x), "1")
        return Inferred(Tensor(x.shape, "float32"))


LAYERS = (ReLU, LeakyReLU, PReLU, ELU, Softmax)
