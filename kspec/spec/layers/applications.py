"""The layer classes that Keras defines inside `keras.applications` rather than `keras.layers`: LayerScale and
StochasticDepth (ConvNeXt, `keras.src.applications.convnext`), CustomScaleLayer (InceptionResNetV2,
`keras.src.applications.inception_resnet_v2`).

They are Keras's own code, built from the module that defines them (`keras_module`), with Keras's argument names;
Keras gives them no defaults. LayerScale multiplies by a trained vector, StochasticDepth drops whole examples of a
residual branch in training, CustomScaleLayer adds a scaled residual to its first input.
"""

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..base import PositiveInt, Rate
from ._base import Inferred, Layer, ShapeError, Tensor, autocast
from ._opbase import batch_axis_error, broadcast
from ._promotion import result_type
from .ops import OpsAdd, OpsMultiply
from .regularization import _Noise


class _ApplicationLayer(Layer):
    """A layer class of a `keras.applications` module."""

    #: The module that defines the Keras class (the `module` Keras writes in a saved model).
    keras_module: ClassVar[str]
    #: Plain Keras layers (no `supports_masking`): a mask that comes with the input stops here.
    mask_passing: ClassVar[str] = "ends"

    @classmethod
    def keras_layer_class(cls) -> Any:
        import importlib

        return getattr(importlib.import_module(cls.keras_module), cls.keras_class or cls.type_name())

    def what(self) -> str:
        """The layer, as the shared broadcasting rule names what it checks."""
        return f"Layer '{self.layer_type}'"


class LayerScale(_ApplicationLayer):
    """Multiplies its input by a trained vector `gamma` of `projection_dim` values, set to `init_values` at first
    (ConvNeXt's layer scale): `x * gamma`, broadcast against the last axis.

    Input shape: rank >= 2, last axis `projection_dim` (or 1). Output shape: the input's, with the last axis
    `projection_dim`. Weights: `projection_dim`.
    """

    keras_module: ClassVar[str] = "keras.src.applications.convnext"

    type: Literal["LayerScale"]
    init_values: float = Field(description="The value every entry of gamma starts at (ConvNeXt uses 1e-6).")
    projection_dim: PositiveInt = Field(description="The number of values of gamma: the input's last axis.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.rank < 2:
            raise batch_axis_error(
                f"Layer 'LayerScale' multiplies a tensor of shape {x} by a vector of {self.projection_dim}, which "
                "broadcasts against its batch axis: expected an input of rank 2 or more",
                "projection_dim",
            )
        try:
            shape = broadcast(x.shape, (self.projection_dim,), self)  # type: ignore[arg-type]  # it asks `what` only
        except ShapeError as exc:
            exc.field = "projection_dim"
            raise
        gamma = ("gamma", (self.projection_dim,))
        return Inferred.with_weights(Tensor(shape, result_type(autocast(x.dtype), "float32")), (gamma,))


class StochasticDepth(_Noise, _ApplicationLayer):
    """Drops the whole input of an example at random in training, with probability `drop_path_rate`, and scales
    the examples kept by `1 / (1 - drop_path_rate)` (ConvNeXt's drop path, on a residual branch). In inference it
    returns its input.

    Input shape: any. Output shape: same as input.
    """

    keras_module: ClassVar[str] = "keras.src.applications.convnext"
    passes_values: ClassVar[str | None] = "scales"
    drops_values: ClassVar[bool] = True

    type: Literal["StochasticDepth"]
    drop_path_rate: Rate = Field(
        description="Probability of dropping an example's input, in [0, 1) (1 is refused: Keras divides by zero)."
    )

    def _strength(self) -> float:
        return self.drop_path_rate


class CustomScaleLayer(_ApplicationLayer):
    """`inputs[0] + inputs[1] * scale` (InceptionResNetV2's scaled residual), called on a list of two tensors
    (NumPy broadcasting).

    Input shape: two floating-point tensors of one rank that broadcast. Output shape: their broadcast shape.
    """

    keras_module: ClassVar[str] = "keras.src.applications.inception_resnet_v2"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2

    type: Literal["CustomScaleLayer"]
    scale: float = Field(description="The factor of the second input.")

    def constant_on_equal_inputs(self) -> str | None:
        return "0" if self.scale == -1 else None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        for tensor in inputs:
            self.need_float(
                tensor,
                ": Keras computes inputs[0] + inputs[1] * scale with the backend's operators, which on TensorFlow "
                "neither promote integers nor take a float scale for them",
                backends=("tensorflow",),
            )
        # Keras casts the inputs to float32, then computes what ops.add(x, ops.multiply(y, scale)) computes.
        x, y = (Tensor(t.shape, autocast(t.dtype)) for t in inputs)
        try:
            scaled = OpsMultiply(type="ops.multiply", x2=self.scale).infer([y]).output
            return Inferred(OpsAdd(type="ops.add").infer([x, scaled]).output)
        except ShapeError as exc:
            exc.args = (f"Layer 'CustomScaleLayer' computes inputs[0] + inputs[1] * scale: {exc}",)
            raise


LAYERS = (LayerScale, StochasticDepth, CustomScaleLayer)
