"""Regularization layers: SpatialDropout1D, SpatialDropout2D, GaussianNoise, GaussianDropout.

Active only in training; in inference each returns its input. The output is
float32 (the layer's compute dtype) and shaped like the input. No weights.

The noise is floating point: on an integer or bool input Keras declares float32 but returns the
input unchanged in inference (or with the noise off), and a training step fails on TensorFlow
while some of these layers run on JAX or PyTorch: such inputs are refused on every backend
(the float-activation policy).
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from ..base import Rate, Seed
from ._base import FLOAT_DTYPES, Inferred, Layer, ShapeError, Tensor


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
    rate: Rate = Field(description="Drop probability, as with Dropout, in [0, 1).")
    seed: Seed | None = _seed()

    def _strength(self) -> float:
        return self.rate


LAYERS = (SpatialDropout1D, SpatialDropout2D, GaussianNoise, GaussianDropout)
