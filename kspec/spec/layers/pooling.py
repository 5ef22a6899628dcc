"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D, Global{Average,Max}Pooling1D/2D.

Channels-last only (kspec has no `data_format`). The windowed layers share
Keras's `BasePooling` arithmetic (`compute_pooling_output_shape`), the global
ones Keras's `BaseGlobalPooling`. No pooling layer has weights.

Dtypes: Keras casts floating inputs to float32. On an integer input the
symbolic output is float32 while max pooling really returns the integer dtype,
and windowed average pooling fails when run on TensorFlow and PyTorch (JAX
averages integers into float32: the portability policy refuses them on every
backend); only the global average, which really returns float32 everywhere,
accepts integer (and boolean) inputs.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from ...shapes import conv_output_length
from ..base import IntTuple
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, shape_str

_WINDOW = "an int (the same for every spatial axis) or one int per spatial axis"


def _pool_size(n: int) -> Any:
    return Annotated[IntTuple(n), Field(description=f"Size of the pooling window: {_WINDOW}.")]


def _strides(n: int) -> Any:
    return Annotated[
        IntTuple(n, nullable=True),
        Field(description=f"Step of the pooling window: {_WINDOW}; null means the same as pool_size."),
    ]


# built at run time: to a type checker, any value
PoolSize1: Any = _pool_size(1)
PoolSize2: Any = _pool_size(2)
PoolSize3: Any = _pool_size(3)
Strides1: Any = _strides(1)
Strides2: Any = _strides(2)
Strides3: Any = _strides(3)
Padding = Annotated[
    Literal["valid", "same"],
    Field(
        description='"valid": no padding; "same": pad evenly so that the output size is ceil(input size / strides) '
        "(padding is not counted in averages)."
    ),
]
KeepDims = Annotated[
    bool,
    Field(description="Keep the spatial axes, with size 1: output `(batch, 1, ..., 1, channels)`."),
]


class _BasePooling(Layer):
    """Keras's `BasePooling`: a max or average over a window sliding along each spatial axis."""

    passes_values: ClassVar[str | None] = "keeps"

    rank: ClassVar[int]
    #: What goes wrong on a non-float (integer or boolean) input, for the error message.
    integer_problem: ClassVar[str] = "fails when run"
    #: The backends that fail on an integer (not boolean) input, where the others run it; empty: all fail.
    integer_backends: ClassVar[tuple[str, ...]] = ()

    pool_size: tuple[int, ...]  # narrowed to `rank` ints by each layer class; so is strides
    strides: tuple[int, ...] | None = None
    padding: Padding = "valid"

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, self.rank + 2, what=" (batch, spatial axes..., channels)")
        self.need_float(
            x,
            f": on any other, it {self.integer_problem}",
            backends=self.integer_backends if x.dtype in INT_DTYPES else (),
        )
        strides = self.pool_size if self.strides is None else self.strides
        spatial = []
        for axis, (n, p, s) in enumerate(zip(x.shape[1:-1], self.pool_size, strides)):
            length = conv_output_length(n, p, s, self.padding)
            if length is not None and length <= 0:
                raise ShapeError(
                    f"Computed output size would be zero or negative along spatial axis {axis + 1}: "
                    f"the input size {n} is smaller than the pool size {p}. "
                    "Expected an input at least as large as the pooling window, or padding='same'. "
                    f"Received: input_shape={shape_str(x.shape)}, pool_size={self.pool_size}, "
                    f"strides={strides}, padding={self.padding}",
                    field="pool_size",
                )
            spatial.append(length)
        return Inferred(Tensor((x.shape[0],) + tuple(spatial) + (x.shape[-1],), "float32"))


class _MaxPooling(_BasePooling):
    """The max-pooling layers: on a non-float input Keras declares float32 but returns the input's dtype."""

    integer_problem: ClassVar[str] = "returns the input's dtype when run, not the float32 that Keras declares"


class MaxPooling1D(_MaxPooling):
    """Max pooling over a 1D window (temporal data).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, pooled_steps, channels)`.
    """

    type: Literal["MaxPooling1D"]
    rank: ClassVar[int] = 1
    pool_size: PoolSize1 = (2,)
    strides: Strides1 = None


class MaxPooling2D(_MaxPooling):
    """Max pooling over a 2D window (spatial data).

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, pooled_height, pooled_width, channels)`.
    """

    type: Literal["MaxPooling2D"]
    rank: ClassVar[int] = 2
    pool_size: PoolSize2 = (2, 2)
    strides: Strides2 = None


class MaxPooling3D(_MaxPooling):
    """Max pooling over a 3D window (spatial or spatio-temporal data).

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, pooled_dim1, pooled_dim2, pooled_dim3, channels)`.
    """

    type: Literal["MaxPooling3D"]
    rank: ClassVar[int] = 3
    pool_size: PoolSize3 = (2, 2, 2)
    strides: Strides3 = None


class _AveragePooling(_BasePooling):
    """The windowed average-pooling layers: TensorFlow and PyTorch fail on integers (PyTorch averages int64 into
    int64, not the float32 Keras declares); JAX averages them into float32 (tests/test_backends.py measures it)."""

    integer_backends: ClassVar[tuple[str, ...]] = ("tensorflow", "torch")


class AveragePooling1D(_AveragePooling):
    """Average pooling over a 1D window (temporal data).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, pooled_steps, channels)`.
    """

    type: Literal["AveragePooling1D"]
    rank: ClassVar[int] = 1
    pool_size: PoolSize1
    strides: Strides1 = None


class AveragePooling2D(_AveragePooling):
    """Average pooling over a 2D window (spatial data).

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, pooled_height, pooled_width, channels)`.
    """

    type: Literal["AveragePooling2D"]
    rank: ClassVar[int] = 2
    pool_size: PoolSize2
    strides: Strides2 = None


# ---- global pooling ---------------------------------------------------------------------------


class _BaseGlobalPooling(Layer):
    """Keras's `BaseGlobalPooling`: a max or average over all spatial axes."""

    passes_values: ClassVar[str | None] = "keeps"

    rank: ClassVar[int]
    #: Input dtypes the layer accepts (its output is float32 for each), and what it expects, in words.
    accepted_dtypes: ClassVar[tuple[str, ...]] = FLOAT_DTYPES
    expected: ClassVar[str] = (
        "a floating-point input: on any other it returns the input's dtype when run, not the float32 that Keras declares"
    )

    keepdims: KeepDims = False

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, self.rank + 2, what=" (batch, spatial axes..., channels)")
        if x.dtype not in self.accepted_dtypes:
            raise ShapeError(f"Layer '{self.layer_type}' expects {self.expected}. Received: dtype={x.dtype}")
        spatial = (1,) * self.rank if self.keepdims else ()
        return Inferred(Tensor((x.shape[0],) + spatial + (x.shape[-1],), "float32"))


class _GlobalAveragePooling(_BaseGlobalPooling):
    accepted_dtypes: ClassVar[tuple[str, ...]] = FLOAT_DTYPES + INT_DTYPES + ("bool",)
    expected: ClassVar[str] = "a numeric or boolean input"


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """Global average over the steps axis (a mask, if the input has one, excludes masked steps).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, channels)`, or `(batch, 1, channels)`
    with `keepdims`.
    """

    type: Literal["GlobalAveragePooling1D"]
    rank: ClassVar[int] = 1


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """Global average over the height and width axes.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, channels)`, or
    `(batch, 1, 1, channels)` with `keepdims`.
    """

    type: Literal["GlobalAveragePooling2D"]
    rank: ClassVar[int] = 2


class GlobalMaxPooling1D(_BaseGlobalPooling):
    """Global max over the steps axis.

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, channels)`, or `(batch, 1, channels)`
    with `keepdims`.
    """

    type: Literal["GlobalMaxPooling1D"]
    rank: ClassVar[int] = 1


class GlobalMaxPooling2D(_BaseGlobalPooling):
    """Global max over the height and width axes.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, channels)`, or
    `(batch, 1, 1, channels)` with `keepdims`.
    """

    type: Literal["GlobalMaxPooling2D"]
    rank: ClassVar[int] = 2


LAYERS = (
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
