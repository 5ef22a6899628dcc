"""Regularization layers: SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization.

The dropout and noise layers are active only in training; in inference each returns its input. Their output is
float32 (the layer's compute dtype) and shaped like the input. No weights.

The noise is floating point: on an integer or bool input Keras declares float32 but returns the
input unchanged in inference (or with the noise off), and a training step fails on TensorFlow
while some of these layers run on JAX or PyTorch: such inputs are refused on every backend
(the float-activation policy).

ActivityRegularization returns its input and adds an L1/L2 penalty on it to the loss in training.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from ..base import NonNegativeFloat, PositiveInt, Rate, Seed
from ._base import FLOAT_DTYPES, Inferred, Layer, ShapeError, Tensor, shape_str


def _seed() -> Any:
    return Field(None, description="Random seed, for reproducible noise.")


class _Noise(Layer):
    """Shape-preserving training-time noise."""

    training_only: ClassVar[bool] = True

    #: Exact rank the layer requires, if any.
    ndim: ClassVar[int | None] = None

    def _strength(self) -> float:
        raise NotImplementedError

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if self.ndim is not None:
            self.need_rank(x, self.ndim)
        if x.dtype not in FLOAT_DTYPES:
            # Keras declares float32, but with the noise off returns the input unchanged (integers);
            # with it on, a training step fails on TensorFlow and runs on JAX (or PyTorch) for some
            # of these layers: a kspec policy, the same on every backend.
            raise ShapeError(
                f"Layer '{self.layer_type}' expects a floating-point input (kspec policy: its noise is floating "
                f"point; on dtype {x.dtype} Keras returns the integers unchanged when the noise is off, and a "
                f"training step fails on some backends). Received: dtype={x.dtype}",
                policy="float-activation",
            )
        return Inferred(Tensor(x.shape, "float32"))


class _SpatialDropout(_Noise):
    passes_values: ClassVar[str | None] = "scales"
    drops_values: ClassVar[bool] = True

    rate: Rate = Field(description="Fraction of the feature maps (channels) to drop, in [0, 1).")
    seed: Seed | None = _seed()

    def _strength(self) -> float:
        return self.rate


class SpatialDropout1D(_SpatialDropout):
    """Dropout of entire 1D feature maps: each channel is dropped for all timesteps at once.

    Input shape: 3D `(batch, timesteps, channels)`. Output shape: same as input.
    """

    type: Literal["SpatialDropout1D"]
    ndim: ClassVar[int | None] = 3


class SpatialDropout2D(_SpatialDropout):
    """Dropout of entire 2D feature maps: each channel is dropped for all pixels at once (channels last).

    Input shape: 4D `(batch, rows, cols, channels)`. Output shape: same as input.
    """

    type: Literal["SpatialDropout2D"]
    ndim: ClassVar[int | None] = 4


class SpatialDropout3D(_SpatialDropout):
    """Dropout of entire 3D feature maps: each channel is dropped for all voxels at once (channels last).

    Input shape: 5D `(batch, dim1, dim2, dim3, channels)`. Output shape: same as input.
    """

    type: Literal["SpatialDropout3D"]
    ndim: ClassVar[int | None] = 5


class GaussianNoise(_Noise):
    """Adds zero-centered Gaussian noise with standard deviation `stddev`.

    Input shape: any. Output shape: same as input.
    """

    passes_values: ClassVar[str | None] = "noise"

    type: Literal["GaussianNoise"]
    stddev: Annotated[float, Field(ge=0, le=1)] = Field(
        description="Standard deviation of the noise distribution, in [0, 1]."
    )
    seed: Seed | None = _seed()

    def _strength(self) -> float:
        return self.stddev


class GaussianDropout(_Noise):
    """Multiplies by 1-centered Gaussian noise with standard deviation `sqrt(rate / (1 - rate))`.

    Input shape: any. Output shape: same as input.
    """

    passes_values: ClassVar[str | None] = "noise"

    type: Literal["GaussianDropout"]
    drops_values: ClassVar[bool] = True
    rate: Rate = Field(description="Drop probability, as with Dropout, in [0, 1).")
    seed: Seed | None = _seed()

    def _strength(self) -> float:
        return self.rate


class AlphaDropout(_Noise):
    """Dropout that keeps the mean and variance of its input (for SELU networks): dropped units are set to SELU's
    negative saturation value, then every unit is scaled and shifted.

    Input shape: any. Output shape: same as input.
    """

    passes_values: ClassVar[str | None] = "noise"  # the shift moves values either way

    type: Literal["AlphaDropout"]
    drops_values: ClassVar[bool] = True
    rate: Rate = Field(
        description="Fraction of the input units to drop, in [0, 1) (1 is refused: Keras divides by zero)."
    )
    noise_shape: list[PositiveInt | None] | None = Field(
        None,
        description="Shape of the binary dropout mask, broadcast against the input (batch axis included): each "
        "entry 1, null (the input's size) or the input's size.",
    )
    seed: Seed | None = _seed()

    def _strength(self) -> float:
        return self.rate

    def infer(self, inputs: list[Tensor]) -> Inferred:
        inferred = super().infer(inputs)
        (x,) = inputs
        ns = self.noise_shape
        if ns is not None and (
            len(ns) != x.rank or any(n is not None and n != 1 and d is not None and n != d for n, d in zip(ns, x.shape))
        ):
            # At rate 0 Keras never builds the mask, and runs: refused all the same (the noise-shape policy).
            at_zero = " (kspec policy: at rate 0 Keras never builds the mask, but fails once the rate is raised)"
            raise ShapeError(
                f"Argument `noise_shape` must broadcast to the input shape {shape_str(x.shape)}: each entry 1, null "
                f"or equal to the input's{at_zero if self.rate == 0 else ''}. Received: noise_shape={ns}",
                field="noise_shape",
                policy="noise-shape" if self.rate == 0 else None,
            )
        return inferred


class ActivityRegularization(Layer):
    """Returns its input, and adds `l1 * sum(abs(x)) + l2 * sum(square(x))` of it to the loss in training.

    Input shape: any. Output shape: same as input.
    """

    passes_values: ClassVar[str | None] = "keeps"
    training_only: ClassVar[bool] = True  # at inference, the identity: only its penalty acts, in training

    type: Literal["ActivityRegularization"]
    l1: NonNegativeFloat = Field(0.0, description="L1 regularization factor: adds l1 * sum(abs(x)) to the loss.")
    l2: NonNegativeFloat = Field(0.0, description="L2 regularization factor: adds l2 * sum(square(x)) to the loss.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_float(
            x,
            ": on any other, Keras declares float32 but returns the input's dtype (or fails computing the penalty)",
        )
        return Inferred(Tensor(x.shape, "float32"))


LAYERS = (
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
    GaussianNoise,
    GaussianDropout,
    AlphaDropout,
    ActivityRegularization,
)
