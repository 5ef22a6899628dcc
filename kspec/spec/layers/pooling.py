"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, Global{Average,Max}Pooling1D/2D/3D,
Adaptive{Average,Max}Pooling1D/2D/3D.

Channels-last only (kspec has no `data_format`). The windowed layers share
Keras's `BasePooling` arithmetic (`compute_pooling_output_shape`), the global
ones Keras's `BaseGlobalPooling`, the adaptive ones Keras's `BaseAdaptivePooling`
(the output's spatial sizes are `output_size`, whatever the input's; see
`_AdaptivePooling` for where Keras's backends fail). No pooling layer has weights.

Dtypes: Keras casts floating inputs to float32. On an integer input the
symbolic output is float32 while max pooling really returns the integer dtype
(adaptive max pooling fails on PyTorch), and windowed and adaptive average pooling
fail when run on TensorFlow and PyTorch (JAX averages integers into float32: the
portability policy refuses them on every backend); only the global average, which
really returns float32 everywhere, accepts integer (and boolean) inputs.
"""

import math
import struct
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import Field

from ...backends import BACKENDS
from ...shapes import conv_output_length
from ..base import IntTuple
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, shape_str
from ._cost import elements

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
    #: The layer averages its window (its FLOPs: a division more than a max's comparisons).
    averages: ClassVar[bool] = False

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

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """Per output value, a max of the window's values (size - 1 comparisons) or their average (size - 1
        additions and a division)."""
        window = math.prod(self.pool_size)
        return elements(output.shape) * (window if self.averages else window - 1)


class _MaxPooling(_BasePooling):
    """The max-pooling layers: on a non-float input Keras declares float32 but returns the input's dtype."""

    integer_problem: ClassVar[str] = "returns the input's dtype when run, not the float32 that Keras declares"


class MaxPooling1D(_MaxPooling):
    """Max pooling over a 1D window (temporal data).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, pooled_steps, channels)`.
    """

    type: Literal["MaxPooling1D", "MaxPool1D"]
    rank: ClassVar[int] = 1
    pool_size: PoolSize1 = (2,)
    strides: Strides1 = None


class MaxPooling2D(_MaxPooling):
    """Max pooling over a 2D window (spatial data).

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, pooled_height, pooled_width, channels)`.
    """

    type: Literal["MaxPooling2D", "MaxPool2D"]
    rank: ClassVar[int] = 2
    pool_size: PoolSize2 = (2, 2)
    strides: Strides2 = None


class MaxPooling3D(_MaxPooling):
    """Max pooling over a 3D window (spatial or spatio-temporal data).

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, pooled_dim1, pooled_dim2, pooled_dim3, channels)`.
    """

    type: Literal["MaxPooling3D", "MaxPool3D"]
    rank: ClassVar[int] = 3
    pool_size: PoolSize3 = (2, 2, 2)
    strides: Strides3 = None


class _AveragePooling(_BasePooling):
    """The windowed average-pooling layers: TensorFlow and PyTorch fail on integers (PyTorch averages int64 into
    int64, not the float32 Keras declares); JAX averages them into float32 (tests/test_backends.py measures it)."""

    integer_backends: ClassVar[tuple[str, ...]] = ("tensorflow", "torch")
    averages: ClassVar[bool] = True


class AveragePooling1D(_AveragePooling):
    """Average pooling over a 1D window (temporal data).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, pooled_steps, channels)`.
    """

    type: Literal["AveragePooling1D", "AvgPool1D"]
    rank: ClassVar[int] = 1
    pool_size: PoolSize1
    strides: Strides1 = None


class AveragePooling2D(_AveragePooling):
    """Average pooling over a 2D window (spatial data).

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, pooled_height, pooled_width, channels)`.
    """

    type: Literal["AveragePooling2D", "AvgPool2D"]
    rank: ClassVar[int] = 2
    pool_size: PoolSize2
    strides: Strides2 = None


class AveragePooling3D(_AveragePooling):
    """Average pooling over a 3D window (spatial or spatio-temporal data).

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, pooled_dim1, pooled_dim2, pooled_dim3, channels)`.
    """

    type: Literal["AveragePooling3D", "AvgPool3D"]
    rank: ClassVar[int] = 3
    pool_size: PoolSize3
    strides: Strides3 = None


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

    #: The layer averages (its FLOPs: a division more than a max's comparisons).
    averages: ClassVar[bool] = False

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """Per output value, the average (n - 1 additions and a division) or max (n - 1) of its n input values."""
        return elements(inputs[0].shape) - (0 if self.averages else elements(output.shape))

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, self.rank + 2, what=" (batch, spatial axes..., channels)")
        if x.dtype not in self.accepted_dtypes:
            raise ShapeError(f"Layer '{self.layer_type}' expects {self.expected}. Received: dtype={x.dtype}")
        spatial = (1,) * self.rank if self.keepdims else ()
        return Inferred(Tensor((x.shape[0],) + spatial + (x.shape[-1],), "float32"))


class _GlobalAveragePooling(_BaseGlobalPooling):
    averages: ClassVar[bool] = True
    accepted_dtypes: ClassVar[tuple[str, ...]] = FLOAT_DTYPES + INT_DTYPES + ("bool",)
    expected: ClassVar[str] = "a numeric or boolean input"


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """Global average over the steps axis (a mask, if the input has one, excludes masked steps).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, channels)`, or `(batch, 1, channels)`
    with `keepdims`.
    """

    type: Literal["GlobalAveragePooling1D", "GlobalAvgPool1D"]
    mask_passing: ClassVar[str] = "ends"
    rank: ClassVar[int] = 1


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """Global average over the height and width axes.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, channels)`, or
    `(batch, 1, 1, channels)` with `keepdims`.
    """

    type: Literal["GlobalAveragePooling2D", "GlobalAvgPool2D"]
    rank: ClassVar[int] = 2


class GlobalAveragePooling3D(_GlobalAveragePooling):
    """Global average over the three spatial axes.

    Input shape: `(batch, dim1, dim2, dim3, channels)`. Output shape: `(batch, channels)`, or
    `(batch, 1, 1, 1, channels)` with `keepdims`.
    """

    type: Literal["GlobalAveragePooling3D", "GlobalAvgPool3D"]
    rank: ClassVar[int] = 3


class GlobalMaxPooling1D(_BaseGlobalPooling):
    """Global max over the steps axis.

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, channels)`, or `(batch, 1, channels)`
    with `keepdims`.
    """

    type: Literal["GlobalMaxPooling1D", "GlobalMaxPool1D"]
    mask_passing: ClassVar[str] = "ends"
    rank: ClassVar[int] = 1


class GlobalMaxPooling2D(_BaseGlobalPooling):
    """Global max over the height and width axes.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, channels)`, or
    `(batch, 1, 1, channels)` with `keepdims`.
    """

    type: Literal["GlobalMaxPooling2D", "GlobalMaxPool2D"]
    rank: ClassVar[int] = 2


class GlobalMaxPooling3D(_BaseGlobalPooling):
    """Global max over the three spatial axes.

    Input shape: `(batch, dim1, dim2, dim3, channels)`. Output shape: `(batch, channels)`, or
    `(batch, 1, 1, 1, channels)` with `keepdims`.
    """

    type: Literal["GlobalMaxPooling3D", "GlobalMaxPool3D"]
    rank: ClassVar[int] = 3


# ---- adaptive pooling -------------------------------------------------------------------------


def _output_size(n: int) -> Any:
    return Annotated[
        IntTuple(n),
        Field(description=f"Spatial size of the output: {_WINDOW}. Any input size is pooled to it."),
    ]


# built at run time: to a type checker, any value
OutputSize1: Any = _output_size(1)
OutputSize2: Any = _output_size(2)
OutputSize3: Any = _output_size(3)


def adaptive_windows(length: int, size: int) -> list[tuple[int, int]]:
    """The windows `[start, end)` that adaptive pooling reduces, one per output element, on an axis of `length`
    pooled to `size` (PyTorch's rule, which Keras follows): `start = floor(i * length / size)`,
    `end = ceil((i + 1) * length / size)`. Where `size` does not divide `length` the windows differ by one in
    size and may overlap; where `size` exceeds `length`, input elements repeat.

    >>> adaptive_windows(5, 3)
    [(0, 2), (1, 4), (3, 5)]
    >>> adaptive_windows(2, 3)
    [(0, 1), (0, 2), (1, 2)]
    """
    return [(i * length // size, -(-(i + 1) * length // size)) for i in range(size)]


def _float32(value: float) -> float:
    """`value` rounded to the nearest float32."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def windows_wrong_on_jax(length: int, size: int) -> bool:
    """Keras 3.15's JAX backend pools some window other than `adaptive_windows(length, size)` says.

    It computes the window bounds `i * length / size` in float32, where XLA divides by multiplying by the
    float32 reciprocal of `size`; where that rounds a whole bound up (21 * (1/7) -> 3.0000002), or a fraction
    across a whole number, the window it gathers is another one: a wrong value, or NaN past the end
    (`jnp.take` fills). Keras's JAX code, step by step: a window is a "big" one when its size is
    `ceil(length / size) + 1`, read at `start + length - ceil(length / size) + 1` in the big windows' pool, and
    a small one otherwise, read at `start`.

    >>> windows_wrong_on_jax(7, 7), windows_wrong_on_jax(8, 7), windows_wrong_on_jax(64, 8)
    (True, False, False)
    """
    reciprocal = _float32(1 / size)
    small = -(-length // size)
    small_windows = length - small + 1

    def read_at(start: int, end: int) -> int:
        return start + small_windows if end - start == small + 1 else start

    for i, (start, end) in enumerate(adaptive_windows(length, size)):
        jax_start = math.floor(_float32(i * length * reciprocal))
        jax_end = math.ceil(_float32((i + 1) * length * reciprocal))
        if read_at(jax_start, jax_end) != read_at(start, end):
            return True
    return False


#: The policy of the sizes that TensorFlow cannot pool adaptively (see `_AdaptivePooling`).
SIZES_POLICY = "adaptive-pooling-sizes"


class _Failure(NamedTuple):
    """A way Keras fails to run a layer: the problem in words, the backends that fail, the argument at fault, and
    the kspec policy that refuses it (None: the portability policy where only some backends fail)."""

    problem: str
    backends: tuple[str, ...]
    field: str | None = None
    policy: str | None = None


class _AdaptivePooling(Layer):
    """Keras's `BaseAdaptivePooling`: a max or average over windows that Keras chooses so that the output has
    `output_size` along each spatial axis (`adaptive_windows`).

    Keras declares `(batch, *output_size, channels)` and float32 for any input. Where its backends fail:
    - an input of another rank: the layer runs a pooling of the input's own rank, which fails or returns
      another shape than declared;
    - an unknown spatial size: TensorFlow needs every spatial size when it traces the layer (a training step
      with two sizes fails: "Input spatial dimensions must be statically known");
    - a spatial size of 1, or an `output_size` of 1: TensorFlow pools the whole input with windows of
      `ceil(size / output_size) + 1` too, which are then larger than the input; its max pooling crashes the
      process (a floating-point exception), its average pooling fails a training step ("Negative dimension size");
    - some pairs of input and output sizes, on JAX (`windows_wrong_on_jax`): a wrong value or NaN.
    Where only some backends fail, kspec refuses on every one (the portability policy). The refusals for
    TensorFlow's sizes (unknown, or 1; and an input of rank 3 that Keras would pool in 1-D with such a size) name
    the `adaptive-pooling-sizes` policy, whatever else fails: no check may run them, since TensorFlow may crash.
    """

    passes_values: ClassVar[str | None] = "keeps"

    rank: ClassVar[int]
    #: The backends that fail on an integer (not boolean) input, where the others run it; empty: all fail.
    integer_backends: ClassVar[tuple[str, ...]] = ()
    #: What goes wrong on a non-float (integer or boolean) input, for the error message.
    integer_problem: ClassVar[str] = "fails when run"

    output_size: tuple[int, ...]  # narrowed to `rank` ints by each layer class

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """About one operation per input value (each window's values are added or compared)."""
        return elements(inputs[0].shape)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        try:
            self.need_rank(x, self.rank + 2, what=" (batch, spatial axes..., channels)")
        except ShapeError as refusal:
            if x.rank == 3 and (x.shape[1] in (None, 1) or self.output_size[0] == 1):
                raise ShapeError(
                    f"{refusal}. Keras would pool its steps in 1-D, to {self.output_size[0]} (kspec policy: TensorFlow "
                    "may then pool windows larger than the input, which crashes the process)",
                    policy=SIZES_POLICY,
                ) from None
            raise
        failures = self._failures(x)
        if failures:
            backends = tuple(b for b in BACKENDS if any(b in f.backends for f in failures))
            raise ShapeError(
                f"Layer '{self.layer_type}' cannot pool this input: {'; '.join(f.problem for f in failures)}. "
                f"Received: input_shape={shape_str(x.shape)}, dtype={x.dtype}, output_size={self.output_size}",
                field=next((f.field for f in failures if f.field), None),
                backends=() if backends == BACKENDS else backends,
                policy=next((f.policy for f in failures if f.policy), None),
            )
        return Inferred(Tensor((x.shape[0],) + self.output_size + (x.shape[-1],), "float32"))

    def _failures(self, x: Tensor) -> list[_Failure]:
        """How Keras fails on this input of the right rank, on which backends."""
        failures = []
        if x.dtype not in FLOAT_DTYPES:
            backends = (self.integer_backends if x.dtype in INT_DTYPES else ()) or BACKENDS
            problem = f"it expects a floating-point input (on dtype {x.dtype} it {self.integer_problem})"
            failures.append(_Failure(problem, backends))
        spatial = x.shape[1:-1]
        if None in spatial:
            problem = (
                "it needs every spatial size of its input known (kspec policy: TensorFlow traces it with static sizes)"
            )
            failures.append(_Failure(problem, ("tensorflow",), None, SIZES_POLICY))
            return failures
        if 1 in spatial or 1 in self.output_size:
            problem = (
                "no spatial size of its input or output may be 1 (kspec policy: TensorFlow then pools windows larger "
                "than the input, which crashes the process (max) or fails a training step (average); for an output "
                "of 1, use global pooling)"
            )
            failures.append(_Failure(problem, ("tensorflow",), "output_size", SIZES_POLICY))
        if any(windows_wrong_on_jax(n, size) for n, size in zip(spatial, self.output_size)):  # type: ignore[arg-type]
            problem = (
                "for these sizes, Keras's JAX backend computes the windows in float32 and pools wrong ones (or NaN)"
            )
            failures.append(_Failure(problem, ("jax",), "output_size"))
        return failures


class _AdaptiveAveragePooling(_AdaptivePooling):
    """The adaptive average-pooling layers: TensorFlow and PyTorch fail on integers; JAX averages them into
    float32."""

    integer_backends: ClassVar[tuple[str, ...]] = ("tensorflow", "torch")


class _AdaptiveMaxPooling(_AdaptivePooling):
    """The adaptive max-pooling layers: on a non-float input Keras declares float32 but returns the input's dtype
    (JAX, TensorFlow) or fails (PyTorch)."""

    integer_problem: ClassVar[str] = "returns the input's dtype when run, not the float32 that Keras declares"


class AdaptiveAveragePooling1D(_AdaptiveAveragePooling):
    """Average pooling of the steps axis to `output_size` steps, whatever the input's length.

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, output_size, channels)`.
    """

    type: Literal["AdaptiveAveragePooling1D"]
    rank: ClassVar[int] = 1
    output_size: OutputSize1


class AdaptiveAveragePooling2D(_AdaptiveAveragePooling):
    """Average pooling of the height and width axes to `output_size`, whatever the input's size.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, *output_size, channels)`.
    """

    type: Literal["AdaptiveAveragePooling2D"]
    rank: ClassVar[int] = 2
    output_size: OutputSize2


class AdaptiveAveragePooling3D(_AdaptiveAveragePooling):
    """Average pooling of the three spatial axes to `output_size`, whatever the input's size.

    Input shape: `(batch, dim1, dim2, dim3, channels)`. Output shape: `(batch, *output_size, channels)`.
    """

    type: Literal["AdaptiveAveragePooling3D"]
    rank: ClassVar[int] = 3
    output_size: OutputSize3


class AdaptiveMaxPooling1D(_AdaptiveMaxPooling):
    """Max pooling of the steps axis to `output_size` steps, whatever the input's length.

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, output_size, channels)`.
    """

    type: Literal["AdaptiveMaxPooling1D"]
    rank: ClassVar[int] = 1
    output_size: OutputSize1


class AdaptiveMaxPooling2D(_AdaptiveMaxPooling):
    """Max pooling of the height and width axes to `output_size`, whatever the input's size.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, *output_size, channels)`.
    """

    type: Literal["AdaptiveMaxPooling2D"]
    rank: ClassVar[int] = 2
    output_size: OutputSize2


class AdaptiveMaxPooling3D(_AdaptiveMaxPooling):
    """Max pooling of the three spatial axes to `output_size`, whatever the input's size.

    Input shape: `(batch, dim1, dim2, dim3, channels)`. Output shape: `(batch, *output_size, channels)`.
    """

    type: Literal["AdaptiveMaxPooling3D"]
    rank: ClassVar[int] = 3
    output_size: OutputSize3


LAYERS = (
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
)
