"""Preprocessing layers: Rescaling, Normalization, and the image layers Resizing, CenterCrop, RandomFlip,
RandomRotation, RandomZoom, RandomTranslation, RandomContrast; the bases of the image layers, shared with the
augmentation family (`augmentation.py`).

Channels-last only (kspec has no `data_format`). None of these layers has trainable weights (Normalization without
`mean` keeps its mean and variance as non-trainable weights).

Image layers take `(batch, height, width, channels)`. Keras also takes a
rank-3 tensor as one unbatched image, but every kspec tensor has a batch
axis, which Keras would then read as the height: kspec requires rank 4.

The Random* layers act only in training (`training=True`, as in `fit`); at
inference they return their input (cast to float32). Their factors are
normalised to Keras's own `(lower, upper)` pairs.

Dtypes: the output is float32 (Keras casts the input to float32). Integer
and boolean images are accepted, except where Keras fails when run eagerly:
RandomContrast (in training), and Resizing of any non-float image: Keras declares
float32 but returns the integer dtype (in TensorFlow's `fit` and `predict` it
returns float32), and a convolution after it then fails, on PyTorch in `fit` too.

Values passed on (`Layer.passes_values`): flips, crops and the affine transforms keep values (each output value is
an input value, an average of them, or a fill of 0), unless they fill with another constant; a bicubic or Lanczos
resize overshoots ("noise").
"""

from math import prod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from ...diagnostics import PolicyError
from ..base import FLOAT_MAX, IntList, PositiveInt, Seed, list_to_tuple
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, shape_str

# built at run time: to a type checker, any value
_NormalizationAxes: Any = IntList(min_items=0, nullable=True)

Dim = int | None


def _factor(low: float, high: float, *, low_open: bool = False) -> Any:
    """`f | [a, b]`, each in [low, high] ((low, high] if low_open), normalised as Keras does.

    A pair is sorted; a number f means `(max(-|f|, low), |f|)`. Keras must accept that
    pair in turn, so with an open lower bound (RandomZoom: -1 would be a zoom to 0) a
    single number must lie in (low, -low).
    """
    number = Annotated[float, Field(gt=low, le=high) if low_open else Field(ge=low, le=high)]
    single = Annotated[float, Field(gt=low, lt=-low)] if low_open else number
    return Annotated[single | tuple[number, number], BeforeValidator(list_to_tuple), AfterValidator(_FactorPair(low))]


class _FactorPair:
    """A sorted (lower, upper) pair; a number f means `(max(-|f|, low), |f|)`, as in Keras.

    A class rather than a closure so the compiled validator can be cached (pickled).
    """

    def __init__(self, low: float):
        self.low = low

    def __call__(self, value: float | tuple[float, float]) -> tuple[float, float]:
        if isinstance(value, tuple):
            return tuple(sorted(value))  # type: ignore[return-value]
        return (max(-abs(value), self.low), abs(value))


_SignedFactor: Any = _factor(-1.0, 1.0)
_ZoomFactor: Any = _factor(-1.0, 1.0, low_open=True)
#: A factor in [0, 1]; a single number f means (0, f).
_UnitFactor: Any = _factor(0.0, 1.0)


def _check_range(value: tuple[float, float]) -> tuple[float, float]:
    if not value[0] < value[1]:
        raise PolicyError(
            "`value_range` must be [low, high] with low < high (kspec policy: Keras would train with it, reversed or "
            f"empty). Received: value_range={list(value)}",
            "ordered-bounds",
        )
    return value


#: `[low, high]`, the range of the pixel values (low < high).
ValueRange = Annotated[tuple[float, float], BeforeValidator(list_to_tuple), AfterValidator(_check_range)]

# Keras casts these to float32 first (Resizing, which resizes the input's own dtype, takes floats only).
_ANY_DTYPE = FLOAT_DTYPES + INT_DTYPES + ("bool",)


def _need_dtype(layer: Layer, x: Tensor, accepted: tuple[str, ...] = _ANY_DTYPE) -> None:
    if x.dtype not in accepted:
        raise ShapeError(
            f"Layer '{layer.layer_type}' expects one of the dtypes {', '.join(accepted)}. Received: dtype={x.dtype}"
        )


_NUMBER = {"type": "number", "minimum": -FLOAT_MAX, "maximum": FLOAT_MAX}  # finite, as kspec refuses inf
_NON_NEGATIVE = {"type": "number", "minimum": 0, "maximum": FLOAT_MAX}


def _number_or_list(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


#: A number, or one number per channel (the last axis; a list of 1 broadcasts everywhere).
PerChannel = Annotated[
    float | Annotated[tuple[float, ...], Field(min_length=1)],
    BeforeValidator(_number_or_list),
    WithJsonSchema({"anyOf": [_NUMBER, {"type": "array", "items": _NUMBER, "minItems": 1}]}),
]


class Rescaling(Layer):
    """Multiplies the input by `scale` and adds `offset` (e.g. scale=1/255 maps [0, 255] to [0, 1]); either may
    be one number per channel (e.g. EfficientNet's division by the ImageNet standard deviations).

    Input shape: any; integer and boolean inputs are cast; with a list of more than one number, a last axis
    (the channels, not the batch axis) of that known size. Output shape: same as input, float32.
    """

    type: Literal["Rescaling"]
    scale: PerChannel = Field(
        description="The scale to multiply the inputs by: a number, or one per channel (the last axis)."
    )
    offset: PerChannel = Field(
        0.0, description="The offset to add after scaling: a number, or one per channel (the last axis)."
    )

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        _need_dtype(self, x)
        for field in ("scale", "offset"):
            value = getattr(self, field)
            if isinstance(value, tuple) and len(value) > 1 and (x.rank < 2 or x.shape[-1] != len(value)):
                # Keras declares the input's shape whatever the lengths, then broadcasts when run: it fails
                # on another channel count, or returns another shape than it declared on 1 channel.
                channels = "the batch axis" if x.rank < 2 else f"{x.shape[-1]} channels"
                raise ShapeError(
                    f"Layer 'Rescaling' multiplies (or offsets) each channel by its own value: expected a last axis "
                    f"of size {len(value)} (one per value of `{field}`), found {channels}. "
                    f"Received: {field}={list(value)}, input_shape={shape_str(x.shape)}",
                    field=field,
                )
        return Inferred(Tensor(x.shape, "float32"))

    def keras_kwargs(self) -> dict[str, Any]:
        # Lists, as Keras's own configuration has them (it serialises a tuple differently).
        return {k: list(v) if isinstance(v, tuple) else v for k, v in super().keras_kwargs().items()}


_MEAN_SCHEMA = {"anyOf": [_NUMBER, {"type": "array", "items": _NUMBER, "minItems": 1}, {"type": "null"}]}
_VARIANCE_SCHEMA = {
    "anyOf": [_NON_NEGATIVE, {"type": "array", "items": _NON_NEGATIVE, "minItems": 1}, {"type": "null"}]
}
Statistic = Annotated[
    float | Annotated[tuple[float, ...], Field(min_length=1)] | None,
    BeforeValidator(_number_or_list),
    WithJsonSchema(_MEAN_SCHEMA),
]
NonNegativeFloat = Annotated[float, Field(ge=0)]
VarianceStatistic = Annotated[
    NonNegativeFloat | Annotated[tuple[NonNegativeFloat, ...], Field(min_length=1)] | None,
    BeforeValidator(_number_or_list),
    WithJsonSchema(_VARIANCE_SCHEMA),
]


class Normalization(Layer):
    """Shifts and scales the input: `(x - mean) / sqrt(variance)` (`invert`: `mean + x * sqrt(variance)`),
    with one mean and variance per index of the kept `axis` (e.g. per channel).

    With `mean` and `variance` given, the layer has no weights. Without them, the mean and variance
    are non-trainable weights (shaped like the kept axes, plus an integer count), 0 and 1 until they
    are set: with `adapt: true`, by Keras's `adapt()` on the training split before training (saved with
    the model); otherwise only by weights loaded into the model (as with an imported model), or the
    layer divides by 1 (the lint `lint-inert-normalization` says so).

    Input shape: any, with known sizes on the kept axes (never the batch axis). Output shape: same as input, float32.
    """

    # `_both_or_neither` and `_adapt_or_statistics`, in the schema.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"required": ["mean"], "properties": {"mean": {"not": {"type": "null"}}}},
                    "then": {"required": ["variance"], "properties": {"variance": {"not": {"type": "null"}}}},
                    "else": {"properties": {"variance": {"type": "null"}}},
                },
                {
                    "if": {"required": ["adapt"], "properties": {"adapt": {"const": True}}},
                    "then": {"properties": {"mean": {"type": "null"}}},
                },
            ]
        }
    )
    #: `adapt` is kspec's: it says when to call `layer.adapt()`, and is no argument of the Keras layer.
    _non_keras_fields: ClassVar[frozenset[str]] = Layer._non_keras_fields | {"adapt"}

    type: Literal["Normalization"]
    axis: _NormalizationAxes = Field(
        -1,
        validate_default=True,
        description="The axis or axes kept: each index along them has its own mean and variance (e.g. -1, the "
        "channels); null or [] normalizes every element with one scalar mean and variance. Negative values count "
        "from the end; never the batch axis.",
    )
    mean: Statistic = Field(
        None,
        description="The mean: a number, or one number per index of the last kept axis (a list of 1 broadcasts); "
        "given together with `variance`. Null: a non-trainable weight, 0 until set.",
    )
    variance: VarianceStatistic = Field(
        None,
        description="The variance (>= 0), shaped like `mean`; given together with it. Null: a non-trainable weight, "
        "1 until set.",
    )
    invert: bool = Field(
        False, description="Apply the inverse transformation, `mean + x * sqrt(variance)`: turn normalized values back."
    )

    adapt: bool = Field(
        False,
        description="Compute the mean and variance from the training split before training (Keras's `adapt()`; "
        "never the validation or test examples); they are saved with the model. Not together with `mean` and "
        "`variance`. Everything between the model inputs and this layer must be free of trainable weights.",
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> "Normalization":
        if (self.mean is None) != (self.variance is None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={self.mean} and variance={self.variance}"
            )
        if self.adapt and self.mean is not None:
            raise ValueError(
                "`adapt: true` computes `mean` and `variance` from the training data, so they cannot also be given. "
                f"Received: adapt=true, mean={self.mean} and variance={self.variance}"
            )
        return self

    def adapts(self) -> bool:
        """The layer's state is computed from the training data before training (`kspec.train.adapt`)."""
        return self.adapt

    def inert_until_loaded(self) -> bool:
        return self.mean is None and not self.adapt

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        # Checked here rather than when the layer is parsed: JSON Schema cannot say "the same length".
        if self.mean is not None and _rank_and_size(self.mean) != _rank_and_size(self.variance):
            raise ShapeError(
                "When setting values directly, `mean` and `variance` must have the same shape. "
                f"Received: mean={_shown(self.mean)} and variance={_shown(self.variance)}",
                field="variance",
                code="value",
            )
        _need_dtype(self, x)
        axes = tuple(self.axis or ())
        if isinstance(self.mean, tuple) and not axes:
            raise ShapeError(
                f"The rank of `mean` must be less than or equal to the number of axes (0). Received: mean shape "
                f"({len(self.mean)},) for axis {self.axis}",
                field="mean",
            )
        rank = x.rank
        for a in axes:
            if not -rank <= a < rank:
                raise ShapeError(
                    f"Axis {a} is out of bounds for input shape {shape_str(x.shape)}: expected an axis in "
                    f"[{-rank}, {rank}). Received: axis={_shown(self.axis)}",
                    field="axis",
                )
        kept = sorted(a % rank for a in axes)  # an axis named twice is kept twice, as Keras does
        for a in sorted(set(kept)):
            if x.shape[a] is None:
                what = "the batch axis, which has no fixed size" if a == 0 else "an axis of unknown size"
                raise ShapeError(
                    f"All `axis` values to be kept must have a known shape, but axis {a} is {what}. "
                    f"Received: axis={_shown(self.axis)}, input_shape={shape_str(x.shape)}",
                    field="axis",
                )
        sizes = [x.shape[a] for a in kept]
        if isinstance(self.mean, tuple) and len(self.mean) not in (1, sizes[-1]):
            raise ShapeError(
                f"`mean` and `variance` must broadcast to the kept axes {shape_str(tuple(sizes))}: expected 1 or "
                f"{sizes[-1]} values (the size of the last kept axis). Received: mean={_shown(self.mean)}, "
                f"input_shape={shape_str(x.shape)}",
                field="mean",
            )
        if self.mean is not None:
            return Inferred(Tensor(x.shape, "float32"))
        if prod(sizes) != prod(x.shape[a] for a in set(kept)):
            # Keras makes the weights one axis per entry of `axis` and reshapes them to the input's axes.
            raise ShapeError(
                f"Argument `axis` of layer 'Normalization' names the same axis twice for input shape "
                f"{shape_str(x.shape)}: the mean and variance weights (shape {shape_str(tuple(sizes))}) cannot "
                f"be reshaped to the kept axes. Expected distinct axes. Received: axis={_shown(self.axis)}",
                field="axis",
            )
        # mean, variance and the count of adapted examples, all non-trainable
        weights = (("mean", tuple(sizes)), ("variance", tuple(sizes)), ("count", ()))
        return Inferred.with_weights(Tensor(x.shape, "float32"), weights, 2 * prod(sizes) + 1)


def _rank_and_size(value: float | tuple[float, ...] | None) -> tuple[int, int]:
    return (1, len(value)) if isinstance(value, tuple) else (0, 1)


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# ---- image layers ------------------------------------------------------------------------------


class _ImageLayer(Layer):
    """A layer on a batch of images `(batch, height, width, channels)`; output float32.

    Subclasses state what else Keras needs: `channels` (the channel counts it can process), `float_only` (why an
    integer or boolean image is refused), `_check_image` (sizes it cannot process), `_output_size` and
    `_output_dtype`.
    """

    #: The channel counts Keras can process; None: any.
    channels: ClassVar[tuple[int, ...] | None] = None
    #: Why an integer or boolean image is refused (after "expects a floating-point input"); None: it is accepted.
    float_only: ClassVar[str | None] = None

    def _output_size(self, height: Dim, width: Dim) -> tuple[Dim, Dim]:
        return height, width

    def _output_dtype(self, x: Tensor) -> str:
        return "float32"

    def _check_dtype(self, x: Tensor) -> None:
        _need_dtype(self, x)
        if self.float_only is not None:
            self.need_float(x, self.float_only)

    def _needed_channels(self) -> tuple[int, ...] | None:
        return self.channels

    def _check_image(self, x: Tensor) -> None:
        """ShapeError where Keras fails on images of this size (rank, dtype and channels are checked already)."""

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.rank == 3:
            raise ShapeError(
                f"Layer '{self.layer_type}' expects images of shape (batch, height, width, channels) (kspec policy: "
                "Keras would read a rank-3 tensor as one unbatched image, the batch axis as its height). "
                f"Received: input_shape={shape_str(x.shape)}",
                policy="image-batch-axis",
            )
        self.need_rank(x, 4, what=" (batch, height, width, channels)")
        self._check_dtype(x)
        channels = self._needed_channels()
        if channels is not None:
            expected = " or ".join(str(c) for c in channels)
            self.need_known(x, 3, f"number of channels (Keras processes {expected} only)")
            if x.shape[3] not in channels:
                raise ShapeError(
                    f"Layer '{self.layer_type}' expects images with {expected} channels, found {x.shape[3]}. "
                    f"Received: input_shape={shape_str(x.shape)}"
                )
        self._check_image(x)
        height, width = self._output_size(x.shape[1], x.shape[2])
        return Inferred(Tensor((x.shape[0], height, width, x.shape[3]), self._output_dtype(x)))


class Resizing(_ImageLayer):
    """Resizes images to `(height, width)`; optionally crops or pads first to keep the aspect ratio.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, height, width, channels)`
    with the layer's height and width.
    """

    # `_crop_or_pad`, in the schema.
    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["crop_to_aspect_ratio", "pad_to_aspect_ratio"],
                "properties": {"crop_to_aspect_ratio": {"const": True}, "pad_to_aspect_ratio": {"const": True}},
            }
        }
    )

    # On integers Keras declares float32 but returns the integer dtype, which the next layers then get (a
    # convolution after it fails when run); Lanczos interpolation and padding fail outright.
    float_only: ClassVar[str | None] = (
        ": on integers Keras declares float32 but returns the integer dtype. Cast it first, e.g. with a Rescaling layer"
    )

    type: Literal["Resizing"]
    height: PositiveInt = Field(description="Height of the output images.")
    width: PositiveInt = Field(description="Width of the output images.")
    # "area" (TensorFlow backend only, not documented by Keras) is left out: it has no gradient.
    interpolation: Literal["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"] = Field(
        "bilinear", description="Interpolation method."
    )
    crop_to_aspect_ratio: bool = Field(
        False,
        description="Crop the largest centred window with the target aspect ratio before resizing, "
        "so that the image is not distorted.",
    )
    pad_to_aspect_ratio: bool = Field(
        False,
        description="Pad the short side evenly (with fill_value) to the target aspect ratio before resizing, "
        "so that the image is not distorted. Floating-point inputs only.",
    )
    fill_mode: Literal["constant"] = Field(
        "constant", description="How pad_to_aspect_ratio fills: only 'constant' (with fill_value)."
    )
    fill_value: float = Field(0.0, description="Padding value when pad_to_aspect_ratio is true.")
    antialias: bool = Field(False, description="Use an anti-aliasing filter when downsampling.")

    @model_validator(mode="after")
    def _crop_or_pad(self) -> "Resizing":
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError(
                "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`. "
                "Received: crop_to_aspect_ratio=True, pad_to_aspect_ratio=True"
            )
        return self

    def value_passing(self) -> str | None:
        if self.pad_to_aspect_ratio and self.fill_value != 0:
            return None  # a new value where it pads
        return "keeps" if self.interpolation in ("bilinear", "nearest") else "noise"  # bicubic, Lanczos overshoot

    def _output_size(self, height: Dim, width: Dim) -> tuple[Dim, Dim]:
        return self.height, self.width


class CenterCrop(_ImageLayer):
    """Crops the central `(height, width)` window of each image.

    An image smaller than the target (on either axis) is instead resized to it, after
    cropping to the target aspect ratio, so the output always has the target size.
    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, height, width, channels)`
    with the layer's height and width.
    """

    passes_values: ClassVar[str | None] = "keeps"  # a crop; a smaller image is resized (bilinear)

    type: Literal["CenterCrop"]
    height: PositiveInt = Field(description="Height of the output images.")
    width: PositiveInt = Field(description="Width of the output images.")

    def _output_size(self, height: Dim, width: Dim) -> tuple[Dim, Dim]:
        return self.height, self.width


# ---- random augmentation -----------------------------------------------------------------------


class _RandomImageLayer(_ImageLayer):
    """Random augmentation, applied in training only. Output shape: same as input."""

    training_only: ClassVar[bool] = True

    seed: Seed | None = Field(None, description="Random seed, for reproducible results; null: not seeded.")


class RandomFlip(_RandomImageLayer):
    """Randomly flips each image horizontally and/or vertically (each image flips with probability 1/2).

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["RandomFlip"]
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = Field(
        "horizontal_and_vertical",
        description="'horizontal' flips left-right, 'vertical' top-bottom, 'horizontal_and_vertical' both "
        "(together, for the images drawn).",
    )


FillMode = Annotated[
    Literal["reflect", "wrap", "constant", "nearest"],
    Field(
        description="How points outside the image are filled: 'reflect' (d c b a | a b c d | d c b a), "
        "'wrap' (a b c d | a b c d | a b c d), 'constant' (k k k k | a b c d | k k k k, k = fill_value), "
        "'nearest' (a a a a | a b c d | d d d d)."
    ),
]
Interpolation = Annotated[Literal["nearest", "bilinear"], Field(description="Interpolation method.")]
FillValue = Annotated[float, Field(description="Value of the points outside the image when fill_mode is 'constant'.")]


class _AffineRandomLayer(_RandomImageLayer):
    """A random affine transform of each image (Keras's rotation, zoom and translation layers)."""

    fill_mode: FillMode = "reflect"
    interpolation: Interpolation = "bilinear"
    fill_value: FillValue = 0.0

    def value_passing(self) -> str | None:
        # nearest or bilinear interpolation: input values or averages of them; a constant fill other than 0 is new
        return None if self.fill_mode == "constant" and self.fill_value != 0 else "keeps"


class RandomRotation(_AffineRandomLayer):
    """Randomly rotates each image about its centre.

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomRotation"]
    factor: _SignedFactor = Field(
        description="Rotation range as a fraction of a full turn, in [-1, 1]: f means [-|f|, |f|], "
        "[a, b] means [a, b] (positive: counter-clockwise). E.g. 0.1 rotates by up to 36 degrees either way.",
    )


class RandomZoom(_AffineRandomLayer):
    """Randomly zooms each image in or out.

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomZoom"]
    height_factor: _ZoomFactor = Field(
        description="Vertical zoom range as a fraction of the height, in (-1, 1]: f means [-|f|, |f|] "
        "(then |f| < 1), [a, b] means [a, b]. A positive value zooms out, a negative one zooms in.",
    )
    width_factor: _ZoomFactor | None = Field(
        None,
        description="Horizontal zoom range, like height_factor; null means the same zoom as the height "
        "(the aspect ratio is kept).",
    )


class RandomTranslation(_AffineRandomLayer):
    """Randomly shifts each image vertically and horizontally.

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    type: Literal["RandomTranslation"]
    height_factor: _SignedFactor = Field(
        description="Vertical shift range as a fraction of the height, in [-1, 1]: f means [-|f|, |f|], "
        "[a, b] means [a, b] (negative: up, positive: down).",
    )
    width_factor: _SignedFactor = Field(
        description="Horizontal shift range as a fraction of the width, in [-1, 1]: f means [-|f|, |f|], "
        "[a, b] means [a, b] (negative: left, positive: right).",
    )


class RandomContrast(_RandomImageLayer):
    """Randomly scales each image's deviation from its per-channel mean by a contrast factor, then clips
    to `value_range`. Floating-point inputs only (Keras fails on integer images in training).

    Input shape: `(batch, height, width, channels)`. Output shape: same as input.
    """

    float_only: ClassVar[str | None] = (
        " (Keras fails on an integer image in training). Cast it first, e.g. with a Rescaling layer"
    )

    type: Literal["RandomContrast"]
    factor: _UnitFactor = Field(
        description="Contrast range, in [0, 1]: [a, b] draws the contrast factor from [1 - a, 1 + b]. "
        "A single number f means [0, f] (Keras's normalisation): the contrast is only increased, up to 1 + f.",
    )
    value_range: ValueRange = Field(
        (0.0, 255.0), description="[low, high] range of the pixel values; the output is clipped to it."
    )


LAYERS = (
    Rescaling,
    Normalization,
    Resizing,
    CenterCrop,
    RandomFlip,
    RandomRotation,
    RandomZoom,
    RandomTranslation,
    RandomContrast,
)
