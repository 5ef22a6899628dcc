"""Image augmentation layers: Keras's random colour and geometry transforms (RandomCrop, RandomBrightness,
RandomSaturation, RandomHue, RandomGrayscale, RandomInvert, RandomPosterization, RandomSharpness, RandomShear,
RandomPerspective, RandomElasticTransform, RandomErasing, RandomGaussianBlur, RandomColorJitter,
RandomColorDegeneration, Solarization, AugMix, RandAugment), the deterministic AutoContrast, Equalization and
ContrastLimitedAdaptiveHistogramEqualization, the batch-mixing CutMix and MixUp, and Pipeline (layers applied in
turn).

Images are `(batch, height, width, channels)`, rank 4, as for the image layers of `preprocessing.py`, whose bases
these share; the output is float32 and shaped like the input. None of these layers has weights (a Pipeline has its
layers' weights).

In training only (`training_only`: at inference they pass their input on): the Random* layers, Solarization,
Equalization, AugMix, RandAugment, CutMix and MixUp. AutoContrast and ContrastLimitedAdaptiveHistogramEqualization
act at inference too.

What Keras 3.15 needs, and kspec checks:
- channels: RandomSaturation, RandomHue, RandomColorDegeneration and a RandomColorJitter with a saturation or hue
  factor need 3 (RGB); RandomGrayscale, AugMix (with `all_ops`) and RandAugment need 1 or 3 (they convert RGB to
  grayscale, and fail on other counts).
- dtypes: where Keras returns an integer or boolean image unchanged at inference while it declares float32 (or fails
  on one in training), floating-point images only: RandomBrightness, RandomSaturation, RandomHue, RandomInvert,
  RandomPosterization, RandomColorJitter, RandomColorDegeneration, Equalization and
  ContrastLimitedAdaptiveHistogramEqualization; RandomCrop, which does not even cast, float32 only.
  RandomGrayscale keeps an integer or boolean dtype.
- refused: RandomCrop where it would change the image size (Keras crops in training only and returns its input
  unchanged at inference, keras-team/keras#21868: the model would get other shapes in validation and prediction);
  Equalization outside a Pipeline (its symbolic output is its input tensor itself, so that Keras cannot build a
  model with it, or silently leaves it out); CutMix and MixUp, by the `batch-mixing-labels` policy (as layers of a
  model they mix each image with another of its batch, but cannot mix their labels); RandomPerspective on images one
  pixel high or wide (a singular transform); and, by the portability policy, what fails on one backend:
  RandomElasticTransform (a JAX training step), a RandomGaussianBlur kernel of two sizes (PyTorch),
  ContrastLimitedAdaptiveHistogramEqualization where its tiles pad an axis by more than its size (TensorFlow).
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic.config import JsonDict

from ..base import IntTuple, NonNegativeInt, PositiveFloat, PositiveInt, list_to_tuple
from ._base import Inferred, Layer, ShapeError, Tensor, autocast, shape_str
from ._opbase import Op
from .preprocessing import (
    Dim,
    FillValue,
    Interpolation,
    ValueRange,
    _AffineRandomLayer,
    _FactorPair,
    _ImageLayer,
    _RandomImageLayer,
    _SignedFactor,
    _UnitFactor,
)

#: Why an integer or boolean image is refused (after "expects a floating-point input").
_UNCAST = (
    ": on an integer or boolean image Keras declares float32 but returns the image unchanged at inference. Cast it "
    "first, e.g. with a Rescaling layer"
)
_RGB = (3,)
_RGB_OR_GRAY = (1, 3)


def _value_range(what: str = "") -> Any:
    return Field((0.0, 255.0), description=f"[low, high] range of the pixel values{what}.")


_Probability = Annotated[float, Field(ge=0, le=1)]
_Bits = Annotated[int, Field(ge=1, le=8)]
#: Bits kept: an int in [1, 8] (n means [1, n]) or [a, b], normalised to a sorted pair as Keras does.
_BitsFactor = Annotated[_Bits | tuple[_Bits, _Bits], BeforeValidator(list_to_tuple), AfterValidator(_FactorPair(1))]


def _sorted(value: float | tuple[float, float]) -> float | tuple[float, float]:
    return tuple(sorted(value)) if isinstance(value, tuple) else value  # type: ignore[return-value]


#: A shear factor: f in [0, 1] means [-f, f]; [a, b] (each in [0, 1]) means [a, b].
_ShearFactor = Annotated[
    _Probability | tuple[_Probability, _Probability], BeforeValidator(list_to_tuple), AfterValidator(_sorted)
]


def _odd(value: tuple[int, int]) -> tuple[int, int]:
    if value[0] % 2 == 0 or value[1] % 2 == 0:
        raise ValueError(f"kernel_size must be an odd number. Received: kernel_size={list(value)}")
    return value


_ODD = {"type": "integer", "minimum": 1, "not": {"multipleOf": 2}}
_OddPair: Any = Annotated[
    IntTuple(2),
    AfterValidator(_odd),
    WithJsonSchema({"anyOf": [_ODD, {"type": "array", "items": _ODD, "minItems": 2, "maxItems": 2}]}),
]
_Pair: Any = IntTuple(2)


# ---- crops ----------------------------------------------------------------------------------------


class RandomCrop(_RandomImageLayer):
    """Crops each batch of images to `(height, width)` at a random place in training (an image smaller than that is
    resized to it).

    Keras 3.15 returns its input unchanged at inference (keras-team/keras#21868: neither cropped nor resized), so
    that the model would see other image sizes in validation and prediction than in training: kspec accepts the
    layer only where it keeps the size (where it leaves the images as they are), on float32 images (Keras does not
    cast them at inference). Random crops that keep the size: RandomTranslation, RandomZoom.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, height, width, channels)`.
    """

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["RandomCrop"]
    height: PositiveInt = Field(description="Height of the output images.")
    width: PositiveInt = Field(description="Width of the output images.")

    def _check_dtype(self, x: Tensor) -> None:
        if x.dtype != "float32":
            raise ShapeError(
                "Layer 'RandomCrop' expects a float32 input: at inference Keras returns the input unchanged, of "
                f"another dtype than the float32 it declares. Cast it first. Received: dtype={x.dtype}"
            )

    def _check_image(self, x: Tensor) -> None:
        if (x.shape[1], x.shape[2]) != (self.height, self.width):
            raise ShapeError(
                f"Layer 'RandomCrop' would crop (or resize) images of size {_size(x)} to ({self.height}, "
                f"{self.width}) in training only: Keras 3.15 returns its input unchanged at inference "
                "(keras-team/keras#21868), of another shape than the one it declares. Use RandomTranslation or "
                "RandomZoom for random crops, CenterCrop or Resizing for a fixed size. "
                f"Received: height={self.height}, width={self.width}, input_shape={shape_str(x.shape)}",
                field="height" if x.shape[1] != self.height else "width",
            )

    def _output_size(self, height: Dim, width: Dim) -> tuple[Dim, Dim]:
        return self.height, self.width


def _size(x: Tensor) -> str:
    return shape_str(x.shape[1:3])


# ---- colour -------------------------------------------------------------------------------------


class RandomBrightness(_RandomImageLayer):
    """Adds a random brightness delta (a fraction of the value range) to each image, then clips to `value_range`.

    Floating-point images only. Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = _UNCAST

    type: Literal["RandomBrightness"]
    factor: _SignedFactor = Field(
        description="Brightness delta range, as a fraction of the value range, in [-1, 1]: f means [-|f|, |f|], "
        "[a, b] means [a, b]. -1 makes the image black, 1 white.",
    )
    value_range: ValueRange = _value_range("; the output is clipped to it")


class RandomSaturation(_RandomImageLayer):
    """Scales each image's saturation by a random factor (RGB images).

    Floating-point images with 3 channels. Input shape: `(batch, height, width, 3)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = " (Keras fails on an integer image in training)"
    channels: ClassVar[tuple[int, ...] | None] = _RGB

    type: Literal["RandomSaturation"]
    factor: _SignedFactor = Field(
        description="Saturation range, in [-1, 1]: a value s drawn from it scales the saturation by s / (1 - s) (0.5 "
        "keeps it, 0 and below make the image gray, 1 saturates it fully). f means [-|f|, |f|], [a, b] means [a, b].",
    )
    value_range: ValueRange = _value_range()


class RandomHue(_RandomImageLayer):
    """Shifts each image's hue by a random amount (RGB images).

    Floating-point images with 3 channels. Input shape: `(batch, height, width, 3)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = _UNCAST
    channels: ClassVar[tuple[int, ...] | None] = _RGB

    type: Literal["RandomHue"]
    factor: _UnitFactor = Field(
        description="Hue shift range, in [0, 1], as a fraction of half a turn of the colour wheel, either way: f "
        "means [0, f], [a, b] means [a, b].",
    )
    value_range: ValueRange = _value_range()


class RandomGrayscale(_RandomImageLayer):
    """Turns each image to grayscale with probability `factor` (kept with its channels: RGB images stay 3 channels).

    Images with 1 or 3 channels, of any dtype; the output keeps an integer or boolean dtype.
    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    passes_values: ClassVar[str | None] = "keeps"  # a weighted average of the channels
    channels: ClassVar[tuple[int, ...] | None] = _RGB_OR_GRAY

    type: Literal["RandomGrayscale"]
    factor: _Probability = Field(0.5, description="Probability of turning an image to grayscale, in [0, 1].")

    def _output_dtype(self, x: Tensor) -> str:
        return autocast(x.dtype)  # Keras declares and returns the input's dtype


class RandomInvert(_RandomImageLayer):
    """Inverts each image (`value_range[1] - x`) with a random probability.

    Floating-point images only. Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = _UNCAST

    type: Literal["RandomInvert"]
    factor: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the probability of inverting an image, in [0, 1]: a probability p is drawn from it "
        "per image (f means [0, f], so on average f / 2).",
    )
    value_range: ValueRange = _value_range("; an image x becomes value_range[1] - x")


class RandomPosterization(_RandomImageLayer):
    """Keeps a random number of the high bits of each 8-bit colour value (values scaled from `value_range`).

    Floating-point images only; no gradient flows through it to the layers before.
    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = _UNCAST

    type: Literal["RandomPosterization"]
    factor: _BitsFactor = Field(
        description="Bits kept per colour value, integers in [1, 8]: n means [1, n], [a, b] means [a, b]; a number "
        "of bits is drawn from [lower, upper) (exactly `lower` when they are equal).",
    )
    value_range: ValueRange = _value_range()


class RandomSharpness(_RandomImageLayer):
    """Sharpens or blurs each image by a random factor, then clips to `value_range`.

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomSharpness"]
    factor: _UnitFactor = Field(
        description="Sharpness range, in [0, 1]: a value s drawn from it blends the image with a smoothed copy "
        "(0.5 keeps it, below blurs, above sharpens). f means [0, f], [a, b] means [a, b].",
    )
    value_range: ValueRange = _value_range("; the output is clipped to it")


class RandomColorJitter(_RandomImageLayer):
    """Applies RandomBrightness, RandomContrast, RandomSaturation and RandomHue in turn, each where its factor is
    given.

    Floating-point images; 3 channels with a saturation or hue factor.
    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = _UNCAST

    type: Literal["RandomColorJitter"]
    value_range: ValueRange = _value_range()
    brightness_factor: _SignedFactor | None = Field(
        None, description="RandomBrightness's factor, in [-1, 1]; null: no brightness change."
    )
    contrast_factor: _UnitFactor | None = Field(
        None, description="RandomContrast's factor, in [0, 1]; null: no contrast change."
    )
    saturation_factor: _SignedFactor | None = Field(
        None, description="RandomSaturation's factor, in [-1, 1]; null: no saturation change."
    )
    hue_factor: _UnitFactor | None = Field(None, description="RandomHue's factor, in [0, 1]; null: no hue change.")

    def _needed_channels(self) -> tuple[int, ...] | None:
        return _RGB if self.saturation_factor is not None or self.hue_factor is not None else None


class RandomColorDegeneration(_RandomImageLayer):
    """Blends each image with its grayscale version by a random factor, then clips to `value_range`.

    Floating-point images with 3 channels. Input shape: `(batch, height, width, 3)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = _UNCAST
    channels: ClassVar[tuple[int, ...] | None] = _RGB

    type: Literal["RandomColorDegeneration"]
    factor: _SignedFactor = Field(
        description="Blend range, in [-1, 1]: 0 keeps the image, 1 makes it gray (negative values move away from "
        "gray). f means [-|f|, |f|], [a, b] means [a, b].",
    )
    value_range: ValueRange = _value_range("; the output is clipped to it")


class AutoContrast(_ImageLayer):
    """Stretches each channel of each image to span `value_range` (in training and at inference).

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["AutoContrast"]
    value_range: ValueRange = _value_range()


class Equalization(_ImageLayer):
    """Equalizes the histogram of each channel of each image, in training only.

    Only inside a Pipeline: Keras 3.15 gives the layer's input tensor itself as its symbolic output, so that a model
    cannot be built with it ("part of a cycle"), or silently leaves it out when it takes the model's input.
    Floating-point images only. Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    training_only: ClassVar[bool] = True
    float_only: ClassVar[str | None] = _UNCAST

    type: Literal["Equalization"]
    value_range: ValueRange = _value_range()
    bins: PositiveInt = Field(256, description="Number of histogram bins.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        self.infer_in_pipeline(inputs)
        raise ShapeError(
            "Layer 'Equalization' gives its input tensor itself as its symbolic output in Keras 3.15, so that Keras "
            "cannot build a model with it (a cycle) or leaves it out; put it inside a Pipeline. "
            f"Received: input_shape={shape_str(inputs[0].shape)}"
        )

    def infer_in_pipeline(self, inputs: list[Tensor]) -> Inferred:
        """The layer inside a Pipeline, where Keras handles it."""
        return super().infer(inputs)


class Solarization(_RandomImageLayer):
    """Adds a random amount to each image's values, then inverts those above a random threshold (on the 0..255
    scale of `value_range`).

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["Solarization"]
    addition_factor: _UnitFactor = Field(
        0.0,
        validate_default=True,
        description="Range of the amount added, as a fraction of 255, in [0, 1]: f means [0, f], [a, b] means [a, b].",
    )
    threshold_factor: _UnitFactor = Field(
        0.0,
        validate_default=True,
        description="Range of the threshold above which values are inverted, as a fraction of 255, in [0, 1]: f "
        "means [0, f], [a, b] means [a, b].",
    )
    value_range: ValueRange = _value_range()


class ContrastLimitedAdaptiveHistogramEqualization(_ImageLayer):
    """Equalizes the histogram of each tile of each image, with a limit on the contrast (in training and at
    inference). No gradient flows through it to the layers before.

    Floating-point images only (Keras returns an integer image's dtype where it declares float32).
    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = (
        ": on an integer or boolean image Keras declares float32 but returns the image's dtype. Cast it first, e.g. "
        "with a Rescaling layer"
    )

    type: Literal["ContrastLimitedAdaptiveHistogramEqualization"]
    value_range: ValueRange = _value_range()
    clip_limit: float = Field(
        4.0, description="Contrast limit per histogram bin, in multiples of the mean; <= 0: none."
    )
    tile_grid_size: _Pair = Field(
        (8, 8), description="Number of tiles along the height and the width: an int or [rows, columns]."
    )

    def _check_image(self, x: Tensor) -> None:
        for size, tiles, axis in zip(x.shape[1:3], self.tile_grid_size, ("height", "width")):
            pad = None if size is None else -size % tiles  # Keras pads to tiles * ceil(size / tiles)
            if size is not None and pad is not None and pad > size:
                raise ShapeError(
                    f"Layer 'ContrastLimitedAdaptiveHistogramEqualization' pads the {axis} of the images ({size}) by "
                    f"{pad} to fit {tiles} tiles, more than the {axis} itself: Keras's symmetric padding fails there. "
                    f"Received: tile_grid_size={list(self.tile_grid_size)}, input_shape={shape_str(x.shape)}",
                    field="tile_grid_size",
                    backends=("tensorflow",),
                )


# ---- geometry -----------------------------------------------------------------------------------


class RandomShear(_AffineRandomLayer):
    """Shears each image by a random amount along the x and y axes.

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomShear"]
    x_factor: _ShearFactor = Field(
        0.0, description="Horizontal shear range: f in [0, 1] means [-f, f]; [a, b] (each in [0, 1]) means [a, b]."
    )
    y_factor: _ShearFactor = Field(
        0.0, description="Vertical shear range: f in [0, 1] means [-f, f]; [a, b] (each in [0, 1]) means [a, b]."
    )


class RandomPerspective(_RandomImageLayer):
    """Moves the corners of each image by random amounts (with a random probability) and warps it to them.

    Images at least 2 pixels high and wide (Keras's transform is singular otherwise).
    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomPerspective"]
    factor: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the probability of warping an image, in [0, 1]: f means [0, f].",
    )
    scale: _Probability = Field(
        1.0, description="How far the corners move, in [0, 1], as a fraction of the image size (up to half of it)."
    )
    interpolation: Interpolation = "bilinear"
    fill_value: FillValue = 0.0

    def value_passing(self) -> str | None:
        return "keeps" if self.fill_value == 0 else None

    def _check_image(self, x: Tensor) -> None:
        if 1 in (x.shape[1], x.shape[2]):
            raise ShapeError(
                "Layer 'RandomPerspective' needs images at least 2 pixels high and wide: on a single row or column "
                "Keras's perspective transform is singular (it fails when run, or returns NaN). "
                f"Received: input_shape={shape_str(x.shape)}"
            )


class RandomElasticTransform(_RandomImageLayer):
    """Distorts each image by a smoothed random displacement field (with a random probability), then clips to
    `value_range`.

    Refused by the portability policy where it acts: Keras fails in a JAX training step (its random seed escapes
    the traced function). Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomElasticTransform"]
    factor: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the probability of distorting an image, in [0, 1]: f means [0, f].",
    )
    scale: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the distortion's strength, in [0, 1]: f means [0, f].",
    )
    interpolation: Interpolation = "bilinear"
    fill_mode: Literal["reflect", "wrap", "constant", "nearest", "mirror"] = Field(
        "reflect", description="How points outside the image are filled (as in RandomRotation; 'mirror' too)."
    )
    fill_value: FillValue = 0.0
    value_range: ValueRange = _value_range("; the output is clipped to it")

    def _check_image(self, x: Tensor) -> None:
        if self.factor[1] > 0 and self.scale[1] > 0:
            raise ShapeError(
                "Layer 'RandomElasticTransform' fails in a training step on JAX: Keras passes its random seed "
                "generator into the traced step, where JAX refuses it. "
                f"Received: factor={list(self.factor)}, scale={list(self.scale)}",
                backends=("jax",),
            )


class RandomErasing(_RandomImageLayer):
    """Fills a random rectangle of each image (with a random probability) with noise or `fill_value`.

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomErasing"]
    factor: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the probability of erasing in an image, in [0, 1]: f means [0, f].",
    )
    scale: _UnitFactor = Field(
        (0.02, 0.33),
        validate_default=True,
        description="Range of the erased area, as a fraction of the image, in [0, 1]: f means [0, f].",
    )
    fill_value: float | None = Field(
        None,
        description="Value of the erased pixels (clipped to value_range); null: Gaussian noise scaled by "
        "value_range[1]. (Keras's list of 3 values fails on JAX: not offered.)",
    )
    value_range: ValueRange = _value_range()


class RandomGaussianBlur(_RandomImageLayer):
    """Blurs each image (with a random probability) with a Gaussian kernel of random width, then clips to
    `value_range`.

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomGaussianBlur"]
    factor: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the probability of blurring an image, in [0, 1]: f means [0, f].",
    )
    kernel_size: _OddPair = Field((3, 3), description="Size of the kernel, odd: an int or [height, width].")
    sigma: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the Gaussian's standard deviation, in [0, 1]: f means [0, f].",
    )
    value_range: ValueRange = _value_range("; the output is clipped to it")

    def _check_image(self, x: Tensor) -> None:
        if self.kernel_size[0] != self.kernel_size[1]:
            raise ShapeError(
                "Layer 'RandomGaussianBlur' with a kernel of two sizes fails on PyTorch (Keras builds it square). "
                f"Received: kernel_size={list(self.kernel_size)}",
                field="kernel_size",
                backends=("torch",),
            )


# ---- several augmentations ------------------------------------------------------------------------


class AugMix(_RandomImageLayer):
    """Mixes each image with chains of random augmentations of it (AugMix).

    With `all_ops`, images with 1 or 3 channels. Input shape: `(batch, height, width, channels)`. Output shape:
    same as input.
    """

    type: Literal["AugMix"]
    value_range: ValueRange = _value_range("; the output is clipped to it")
    num_chains: NonNegativeInt = Field(3, description="Number of augmentation chains mixed.")
    chain_depth: NonNegativeInt = Field(3, description="Number of augmentations drawn per chain (each may be none).")
    factor: _UnitFactor = Field(
        0.3,
        validate_default=True,
        description="Strength of the augmentations, in [0, 1]: f means [0, f].",
    )
    alpha: PositiveFloat = Field(1.0, description="Parameter of the Dirichlet and Beta mixing weights.")
    all_ops: bool = Field(
        True, description="Use brightness, colour degeneration, contrast and sharpness too (1 or 3 channels only)."
    )
    interpolation: Interpolation = "bilinear"

    def _needed_channels(self) -> tuple[int, ...] | None:
        return _RGB_OR_GRAY if self.all_ops else None


class RandAugment(_RandomImageLayer):
    """Applies `num_ops` augmentations drawn from Keras's list to each batch (RandAugment).

    Images with 1 or 3 channels. Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    channels: ClassVar[tuple[int, ...] | None] = _RGB_OR_GRAY

    type: Literal["RandAugment"]
    value_range: ValueRange = _value_range()
    num_ops: NonNegativeInt = Field(2, description="Number of augmentations applied.")
    factor: _UnitFactor = Field(
        0.5,
        validate_default=True,
        description="Strength of the augmentations, in [0, 1]: f means [0, f].",
    )
    interpolation: Interpolation = "bilinear"


# ---- mixing images of a batch ------------------------------------------------------------------------


class _BatchMixing(_RandomImageLayer):
    """Mixes each image with another of its batch: refused in a model by the `batch-mixing-labels` policy."""

    passes_values: ClassVar[str | None] = "keeps"

    def _check_image(self, x: Tensor) -> None:
        raise ShapeError(
            f"Layer '{self.layer_type}' mixes each image with another of its batch, but as a layer of a model it "
            "cannot mix their labels: the model would learn one image's label from a blend of two (kspec policy). "
            "Mix images and labels together in the input pipeline instead.",
            policy="batch-mixing-labels",
        )


class CutMix(_BatchMixing):
    """Pastes a random rectangle of another image of the batch into each image, in training only.

    Refused in a model by the `batch-mixing-labels` policy. Input shape: `(batch, height, width, channels)`.
    Output shape: same as input.
    """

    type: Literal["CutMix"]
    factor: _UnitFactor = Field(
        1.0,
        validate_default=True,
        description="Range of the Beta distribution's parameter for the pasted area, in [0, 1]: f means [0, f].",
    )


class MixUp(_BatchMixing):
    """Blends each image with another of the batch, in training only.

    Refused in a model by the `batch-mixing-labels` policy. Input shape: `(batch, height, width, channels)`.
    Output shape: same as input.
    """

    type: Literal["MixUp"]
    alpha: PositiveFloat = Field(0.2, description="Parameter of the Beta distribution of the mixing weights.")


# ---- Pipeline -------------------------------------------------------------------------------------

#: The nested layers' `name` and `inputs` are absent or null, in the schema.
_UNNAMED_ITEMS: JsonDict = {
    "allOf": [{"items": {"properties": {"name": {"type": "null"}, "inputs": {"type": "null"}}}}]
}


class Pipeline(Layer):
    """Applies its layers in turn (Keras's Pipeline: a sequence of preprocessing layers as one layer).

    Input shape: what the first layer takes. Output shape: what the last layer gives. Parameters: those of the
    layers. Each layer is a Keras layer (not an operation such as `ops.relu`) that takes one input, with neither
    `name` nor `inputs`; none adapts (`adapt: true`).
    """

    type: Literal["Pipeline"]
    layers: list["_recurrent.AnyLayer"] = Field(  # type: ignore[name-defined]
        min_length=1,
        description="The layers applied in turn: one-input layers, without `name` or `inputs`.",
        json_schema_extra=_UNNAMED_ITEMS,
    )

    @model_validator(mode="after")
    def _nested_layers_are_not_nodes(self) -> "Pipeline":
        for i, layer in enumerate(self.layers):
            if layer.name is not None or layer.inputs is not None:
                raise ValueError(
                    f"Layer {i} of a Pipeline must not have `name` or `inputs`: only the Pipeline is a node of the "
                    f"model. Received: name={layer.name!r}, inputs={layer.inputs!r}"
                )
        return self

    @property
    def training_only(self) -> bool:  # type: ignore[override]
        return all(layer.training_only for layer in self.layers)

    def value_passing(self) -> str | None:
        passing = [layer.value_passing() for layer in self.layers]
        for kind in (None, "noise", "scales"):
            if kind in passing:
                return kind
        return "keeps"

    def final_activation(self) -> str | None:
        last = self.layers[-1]
        return last.final_activation() if last.value_passing() is None else None

    def recurrent(self) -> bool:
        return any(layer.recurrent() for layer in self.layers)

    def loops_over_tensor_lists(self) -> bool:
        return any(layer.loops_over_tensor_lists() for layer in self.layers)

    def inert_until_loaded(self) -> bool:
        return any(layer.inert_until_loaded() for layer in self.layers)

    def keras_kwargs(self) -> dict[str, Any]:
        # The nested layers are built as the compiler builds a wrapper's layer, named after the Pipeline.
        from ...compile import build_layer

        return {
            "layers": [
                build_layer(layer, f"{self.name}_layers_{i}" if self.name else None)
                for i, layer in enumerate(self.layers)
            ]
        }

    def infer(self, inputs: list[Tensor]) -> Inferred:
        x = inputs[0]
        weights: list = []
        params = non_trainable = 0
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Op):
                raise ShapeError(
                    f"Layer {i} of the Pipeline ({layer.layer_type}) is an operation, not a Keras layer: a Pipeline "
                    "calls Keras layers only.",
                    field="layers",
                )
            if layer.min_inputs > 1:
                raise ShapeError(
                    f"Layer {i} of the Pipeline ({layer.layer_type}) takes {layer.min_inputs} or more inputs: a "
                    "Pipeline passes one tensor from layer to layer.",
                    field="layers",
                )
            if layer.adapts():
                raise ShapeError(
                    f"Layer {i} of the Pipeline ({layer.layer_type}) has `adapt: true`; kspec adapts layers that the "
                    "model calls directly, not inside a Pipeline.",
                    field="layers",
                    policy="adapt-before-training",
                )
            nested = getattr(layer, "infer_in_pipeline", None)
            try:
                inferred = nested([x]) if nested is not None else layer.apply([x])
            except ShapeError as exc:
                error = ShapeError(
                    f"Layer {i} of the Pipeline ({layer.layer_type}): {exc}",
                    field="layers",
                    code=exc.code,
                    policy=exc.policy,
                )
                error.backends = exc.backends
                raise error from None
            x = inferred.output
            weights.extend(inferred.weights)
            params += inferred.params
            non_trainable += inferred.non_trainable
        return Inferred(x, params, non_trainable, tuple(weights))


LAYERS = (
    RandomCrop,
    RandomBrightness,
    RandomSaturation,
    RandomHue,
    RandomGrayscale,
    RandomInvert,
    RandomPosterization,
    RandomSharpness,
    RandomShear,
    RandomPerspective,
    RandomElasticTransform,
    RandomErasing,
    RandomGaussianBlur,
    RandomColorJitter,
    RandomColorDegeneration,
    AutoContrast,
    Equalization,
    Solarization,
    AugMix,
    CutMix,
    MixUp,
    RandAugment,
    ContrastLimitedAdaptiveHistogramEqualization,
    Pipeline,
)

# The union of every layer type, for Pipeline's `layers`: the package sets it as `recurrent.AnyLayer` once it is
# defined, and models are built lazily (defer_build). Imported last, so that the annotation is still a forward
# reference when the class is created.
from . import recurrent as _recurrent  # noqa: E402
