"""Core layers: Dense, Activation, Dropout, Flatten, Identity."""

from typing import ClassVar, Literal

from pydantic import Field

from ...shapes import known_prod
from ..base import PositiveInt, Rate, Seed
from ..objects import ACTIVATIONS, Constraint, Initializer, Regularizer
from ..objects import Activation as ActivationField
from ._base import FLOAT_DTYPES, Inferred, Layer, ShapeError, Tensor, autocast


class Dense(Layer):
    """Just your regular densely-connected NN layer: `activation(dot(input, kernel) + bias)`.

    Input shape: N-D tensor `(batch, ..., input_dim)`. Output shape: `(batch, ..., units)`.
    """

    type: Literal["Dense"]
    units: PositiveInt = Field(description="Dimensionality of the output space.")
    activation: ActivationField = None
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_min_rank(x, 2)
        input_dim = self.need_known(x, -1, "last dimension")
        weights = (("kernel", (input_dim, self.units)),) + ((("bias", (self.units,)),) if self.use_bias else ())
        return Inferred.with_weights(Tensor(x.shape[:-1] + (self.units,), "float32"), weights)


class Activation(Layer):
    """Applies an activation function to an output. Output shape: same as input."""

    type: Literal["Activation"]
    activation: Literal[ACTIVATIONS] = Field(description="Activation function by Keras name.")  # type: ignore[valid-type]

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        # kspec policy: Keras declares float32, but on integers most activations fail (softmax,
        # sigmoid, ...) or return integers (linear, relu, relu6); a few (tanh) happen to work.
        if x.dtype not in FLOAT_DTYPES:
            raise ShapeError(
                "Layer 'Activation' expects a floating-point input (kspec policy: on integers most "
                "activations fail or keep the integer dtype). Received: dtype=" + x.dtype,
                policy="float-activation",
            )
        return Inferred(Tensor(x.shape, "float32"))


class Dropout(Layer):
    """Randomly sets input units to 0 with frequency `rate` during training; scales the rest by 1/(1 - rate)."""

    training_only: ClassVar[bool] = True
    passes_values: ClassVar[str | None] = "scales"

    type: Literal["Dropout"]
    rate: Rate = Field(
        description="Fraction of the input units to drop, in [0, 1) (1 is refused: it zeroes everything)."
    )
    noise_shape: list[PositiveInt | None] | None = Field(
        None, description="Shape of the binary dropout mask, broadcast against the input (batch axis included)."
    )
    seed: Seed | None = Field(None, description="Random seed for the dropout mask, for reproducible runs.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        # Keras declares float32, but returns the integer dtype unchanged (and cannot drop from it).
        self.need_float(x, ": dropout of integers keeps their dtype, unlike what Keras declares")
        if self.noise_shape is not None:
            _check_noise_shape(self, x)
        return Inferred(Tensor(x.shape, "float32"))


def _check_noise_shape(layer: Dropout, x: Tensor) -> None:
    from ._base import ShapeError, shape_str

    ns = layer.noise_shape or []
    if len(ns) != x.rank or any(n is not None and n != 1 and d is not None and n != d for n, d in zip(ns, x.shape)):
        raise ShapeError(
            f"Argument `noise_shape` must broadcast to the input shape {shape_str(x.shape)}: "
            f"each entry 1, null or equal to the input's"
            + (
                " (kspec policy: at rate 0 Keras never builds the mask, but fails once the rate is raised)"
                if layer.rate == 0
                else ""
            )
            + f". Received: noise_shape={list(ns)}",
            field="noise_shape",
            policy="noise-shape" if layer.rate == 0 else None,
        )


class Flatten(Layer):
    """Flattens the input, not the batch axis. `(batch, d1, d2, ...)` -> `(batch, d1*d2*...)`."""

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["Flatten"]

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_min_rank(x, 1)
        return Inferred(Tensor((x.shape[0], known_prod(x.shape[1:])), autocast(x.dtype)))


class Identity(Layer):
    """Returns its input unchanged; a placeholder."""

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["Identity"]

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        return Inferred(Tensor(x.shape, autocast(x.dtype)))


LAYERS = (Dense, Activation, Dropout, Flatten, Identity)
