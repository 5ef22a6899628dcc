"""Reshaping layers: Reshape, Permute, RepeatVector, Masking, ZeroPadding1D/2D/3D, Cropping1D/2D/3D,
UpSampling1D/2D/3D.

Channels-last only (kspec has no `data_format`). None of these layers has weights.

Dtypes: Keras casts floating inputs to float32. Reshape and Permute keep an
integer or boolean dtype, symbolically and when run. The other layers declare
a float32 output for any input, yet really return an integer dtype on an
integer or boolean input (so a following Conv2D, say, fails in a training
step); they accept floating inputs only.

Unknown dims: Keras checks sizes only where they are known, and so does kspec,
with one exception. A Reshape of an input with unknown dims is accepted only
when it works for every size those dims may take at run time: `target_shape`
must then hold a -1, and the product of its other entries must divide the
product of the known input dims.
"""

from math import prod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from ..base import IntPairs, IntTuple, PositiveInt, list_to_tuple
from ._base import FLOAT_DTYPES, Inferred, Layer, ShapeError, Tensor, shape_str

# built at run time: to a type checker, any value
_NonNegativePair: Any = IntTuple(2, minimum=0)
_Pairs2: Any = IntPairs(2)
_Pairs3: Any = IntPairs(3)
_Pair: Any = IntTuple(2)
_Triple: Any = IntTuple(3)

Dim = int | None


def _float_dtype(dtype: str) -> str:
    """Keras's autocast: floating inputs become float32, integer and boolean dtypes are kept."""
    return "float32" if dtype in FLOAT_DTYPES else dtype


def _need_float(layer: Layer, x: Tensor) -> None:
    layer.need_float(
        x,
        ": on an integer or boolean input Keras declares a float32 output but really returns an integer dtype. "
        "Cast the input first (e.g. with a Rescaling layer)",
    )


# ---- Reshape ----------------------------------------------------------------------------------


def _check_target_shape(value: tuple[int, ...]) -> tuple[int, ...]:
    if any(d == 0 or d < -1 for d in value):
        raise ValueError(
            "Each dimension in `target_shape` must be a positive integer, or `-1` for a single unknown "
            f"dimension. Received: target_shape={value}"
        )
    if value.count(-1) > 1:
        raise ValueError(
            f"There must be at most one unknown dimension (-1) in `target_shape`. Received: target_shape={value}"
        )
    return value


_TARGET_DIM = {"anyOf": [{"type": "integer", "const": -1}, {"type": "integer", "minimum": 1}]}
TargetShape = Annotated[
    tuple[int, ...],
    BeforeValidator(list_to_tuple),
    AfterValidator(_check_target_shape),
    # `_check_target_shape`, in the schema: positive integers, and at most one -1.
    WithJsonSchema({"type": "array", "items": _TARGET_DIM, "not": {"contains": {"const": -1}, "minContains": 2}}),
    Field(
        description="Output shape, without the batch axis. One entry may be -1: it is inferred from the size "
        "of the input. Zero-size dimensions are not allowed."
    ),
]


class Reshape(Layer):
    """Reshapes the input (not the batch axis) into `target_shape`.

    Input shape: `(batch, ...)`, of the same total size as `target_shape`.
    Output shape: `(batch, *target_shape)`, -1 replaced by the inferred size (None if unknown).
    """

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["Reshape"]
    mask_passing: ClassVar[str] = "ends"
    target_shape: TargetShape

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        dims, target = x.shape[1:], self.target_shape
        known_target = prod(d for d in target if d != -1)
        if None in dims:
            known_input = prod(d for d in dims if d is not None)
            if -1 not in target or known_input % known_target:
                raise ShapeError(
                    "The total size of the tensor must be unchanged for every size of the unknown input "
                    "dimensions: `target_shape` needs a -1, and the product of its other entries "
                    f"({known_target}) must divide the product of the known input dimensions ({known_input}). "
                    f"Received: input_shape={shape_str(dims)}, target_shape={target}",
                    field="target_shape",
                )
            out: tuple[Dim, ...] = tuple(None if d == -1 else d for d in target)
        else:
            size = prod(dims)  # type: ignore[arg-type]  # every dim is known on this branch
            if -1 not in target:
                if size != known_target:
                    raise ShapeError(
                        "The total size of the tensor must be unchanged. "
                        f"Received: input_shape={shape_str(dims)}, target_shape={target}",
                        field="target_shape",
                    )
                out = target
            else:
                if size % known_target:
                    raise ShapeError(
                        "The total size of the tensor must be unchanged, however, the input size cannot be "
                        "divided by the specified dimensions in target_shape. "
                        f"Received: input_shape={shape_str(dims)}, target_shape={target}",
                        field="target_shape",
                    )
                out = tuple(size // known_target if d == -1 else d for d in target)
        return Inferred(Tensor((x.shape[0],) + out, _float_dtype(x.dtype)))


# ---- Permute, RepeatVector, Masking -----------------------------------------------------------


def _check_permutation(value: tuple[int, ...]) -> tuple[int, ...]:
    if sorted(value) != list(range(1, len(value) + 1)):
        raise ValueError(
            "Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` must be "
            f"consecutive and start from 1. Received: dims={value}"
        )
    return value


class Permute(Layer):
    """Permutes the non-batch axes of the input: output axis i is input axis `dims[i-1]`.

    Input shape: `(batch, d1, ..., dn)` with n = len(dims).
    Output shape: `(batch, d_dims[0], ..., d_dims[n-1])`.
    """

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["Permute"]
    dims: Annotated[tuple[PositiveInt, ...], BeforeValidator(list_to_tuple), AfterValidator(_check_permutation)] = (
        Field(
            min_length=1,
            description="Permutation of the non-batch axes, numbered from 1 (the batch axis is not included); "
            "e.g. [2, 1] swaps the two axes of a (batch, steps, features) input.",
        )
    )

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, len(self.dims) + 1)
        return Inferred(Tensor((x.shape[0],) + tuple(x.shape[d] for d in self.dims), _float_dtype(x.dtype)))


class RepeatVector(Layer):
    """Repeats the input n times along a new axis 1.

    Input shape: `(batch, features)`. Output shape: `(batch, n, features)`.
    """

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["RepeatVector"]
    n: PositiveInt = Field(description="Number of repetitions.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, 2)
        _need_float(self, x)
        return Inferred(Tensor((x.shape[0], self.n, x.shape[1]), "float32"))


class Masking(Layer):
    """Masks the timesteps (axis 1) whose values along the last axis all equal `mask_value`, and zeroes them.

    Downstream layers that support masking skip the masked timesteps.
    Input shape: any, typically `(batch, timesteps, features)`. Output shape: same as input.
    """

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["Masking"]
    mask_value: float = Field(0.0, description="A timestep whose values all equal this one is masked.")

    def makes_mask(self) -> bool:
        return True

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        _need_float(self, x)
        return Inferred(Tensor(x.shape, "float32"))


# ---- padding, cropping, up-sampling: one rule per spatial axis --------------------------------


class _Spatial(Layer):
    """A layer on `(batch, *spatial, channels)` that maps each spatial axis on its own."""

    rank: ClassVar[int]

    def _per_axis(self) -> tuple:
        """One argument (a pair or a factor) per spatial axis."""
        raise NotImplementedError

    def _axis(self, x: Tensor, axis: int, arg: Any) -> Dim:
        raise NotImplementedError

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, self.rank + 2)
        _need_float(self, x)
        spatial = tuple(self._axis(x, i + 1, arg) for i, arg in enumerate(self._per_axis()))
        return Inferred(Tensor((x.shape[0],) + spatial + (x.shape[-1],), "float32"))


class _ZeroPadding(_Spatial):
    passes_values: ClassVar[str | None] = "keeps"

    def _axis(self, x: Tensor, axis: int, arg: tuple[int, int]) -> Dim:
        dim = x.shape[axis]
        return None if dim is None else dim + arg[0] + arg[1]


class ZeroPadding1D(_ZeroPadding):
    """Pads the steps axis with zeros at its start and end.

    Input shape: `(batch, steps, features)`. Output shape: `(batch, steps + before + after, features)`.
    """

    type: Literal["ZeroPadding1D"]
    padding: _NonNegativePair = Field(
        (1, 1),
        description="Zeros to add: an int (the same at both ends) or [before, after].",
    )
    rank: ClassVar[int] = 1

    def _per_axis(self) -> tuple:
        return (self.padding,)


class ZeroPadding2D(_ZeroPadding):
    """Pads the height and width axes of an image with zeros.

    Input shape: `(batch, height, width, channels)`.
    Output shape: `(batch, height + top + bottom, width + left + right, channels)`.
    """

    type: Literal["ZeroPadding2D"]
    padding: _Pairs2 = Field(
        ((1, 1), (1, 1)),
        description="Zeros to add: an int (the same on all four sides), [height_pad, width_pad] "
        "(symmetric), or [[top, bottom], [left, right]].",
    )
    rank: ClassVar[int] = 2

    def _per_axis(self) -> tuple:
        return self.padding


class ZeroPadding3D(_ZeroPadding):
    """Pads the three spatial axes of a volume with zeros.

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, dim1 + before1 + after1, dim2 + before2 + after2, dim3 + before3 + after3, channels)`.
    """

    type: Literal["ZeroPadding3D"]
    padding: _Pairs3 = Field(
        ((1, 1), (1, 1), (1, 1)),
        description="Zeros to add: an int (the same on every side), [pad1, pad2, pad3] (symmetric), or "
        "[[before1, after1], [before2, after2], [before3, after3]].",
    )
    rank: ClassVar[int] = 3

    def _per_axis(self) -> tuple:
        return self.padding


class _Cropping(_Spatial):
    passes_values: ClassVar[str | None] = "keeps"

    def _axis(self, x: Tensor, axis: int, arg: tuple[int, int]) -> Dim:
        dim = x.shape[axis]
        if dim is None:
            return None
        if arg[0] + arg[1] >= dim:
            raise ShapeError(
                f"Values in `cropping` argument of layer '{self.layer_type}' should be smaller than the "
                "corresponding dimension of the input: at least one element must be left on each cropped axis. "
                f"Received: input_shape={shape_str(x.shape)}, cropping={self.cropping}",
                field="cropping",
            )
        return dim - arg[0] - arg[1]


class Cropping1D(_Cropping):
    """Crops the steps axis at its start and end.

    Input shape: `(batch, steps, features)`. Output shape: `(batch, steps - start - end, features)`.
    """

    type: Literal["Cropping1D"]
    cropping: _NonNegativePair = Field(
        (1, 1),
        description="Elements to remove: an int (the same at both ends) or [start, end].",
    )
    rank: ClassVar[int] = 1

    def _per_axis(self) -> tuple:
        return (self.cropping,)


class Cropping2D(_Cropping):
    """Crops the height and width axes of an image.

    Input shape: `(batch, height, width, channels)`.
    Output shape: `(batch, height - top - bottom, width - left - right, channels)`.
    """

    type: Literal["Cropping2D"]
    cropping: _Pairs2 = Field(
        ((0, 0), (0, 0)),
        description="Pixels to remove: an int (the same on all four sides), [height_crop, width_crop] "
        "(symmetric), or [[top, bottom], [left, right]].",
    )
    rank: ClassVar[int] = 2

    def _per_axis(self) -> tuple:
        return self.cropping


class Cropping3D(_Cropping):
    """Crops the three spatial axes of a volume.

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, dim1 - start1 - end1, dim2 - start2 - end2, dim3 - start3 - end3, channels)`.
    """

    type: Literal["Cropping3D"]
    cropping: _Pairs3 = Field(
        ((1, 1), (1, 1), (1, 1)),
        description="Elements to remove: an int (the same on every side), [crop1, crop2, crop3] (symmetric), or "
        "[[start1, end1], [start2, end2], [start3, end3]].",
    )
    rank: ClassVar[int] = 3

    def _per_axis(self) -> tuple:
        return self.cropping


class _UpSampling(_Spatial):
    passes_values: ClassVar[str | None] = "keeps"

    def _axis(self, x: Tensor, axis: int, arg: int) -> Dim:
        dim = x.shape[axis]
        return None if dim is None else dim * arg


class UpSampling1D(_UpSampling):
    """Repeats each step `size` times along the steps axis.

    Input shape: `(batch, steps, features)`. Output shape: `(batch, steps * size, features)`.
    """

    type: Literal["UpSampling1D"]
    size: PositiveInt = Field(2, description="Upsampling factor.")
    rank: ClassVar[int] = 1

    def _per_axis(self) -> tuple:
        return (self.size,)


class UpSampling2D(_UpSampling):
    """Upsamples an image: repeats rows and columns (`nearest`) or resizes with the given interpolation.

    Input shape: `(batch, height, width, channels)`.
    Output shape: `(batch, height * size[0], width * size[1], channels)`.
    """

    type: Literal["UpSampling2D"]
    size: _Pair = Field((2, 2), description="Upsampling factors: an int (both axes) or [height_factor, width_factor].")
    # "area" (TensorFlow backend only, not documented by Keras) is left out: it has no gradient.
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"] = Field(
        "nearest", description="Interpolation method; 'nearest' repeats rows and columns."
    )
    rank: ClassVar[int] = 2

    def value_passing(self) -> str | None:
        # nearest repeats values and bilinear averages them; bicubic and Lanczos kernels overshoot either way (a
        # ReLU's zeros can come out negative)
        return self.passes_values if self.interpolation in ("nearest", "bilinear") else "noise"

    def _per_axis(self) -> tuple:
        return self.size


class UpSampling3D(_UpSampling):
    """Repeats each element `size[i]` times along spatial axis i of a volume.

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, dim1 * size[0], dim2 * size[1], dim3 * size[2], channels)`.
    """

    type: Literal["UpSampling3D"]
    size: _Triple = Field(
        (2, 2, 2), description="Upsampling factors: an int (every axis) or [factor1, factor2, factor3]."
    )
    rank: ClassVar[int] = 3

    def _per_axis(self) -> tuple:
        return self.size


LAYERS = (
    Reshape,
    Permute,
    RepeatVector,
    Masking,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
)
