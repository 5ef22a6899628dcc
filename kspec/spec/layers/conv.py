"""Convolution layers: Conv1D/2D/3D, Conv1D/2D/3DTranspose, SeparableConv1D/2D, DepthwiseConv1D/2D.

Channels-last only (kspec has no `data_format`: channels-first convolutions do
not run on CPU in TensorFlow). The families share their work through private
bases, as Keras's `BaseConv`, `BaseConvTranspose`, `BaseSeparableConv` and
`BaseDepthwiseConv` do; the shape arithmetic is Keras's
`compute_conv_output_shape` and `compute_conv_transpose_output_shape`.

The output dtype is float32: Keras casts floating inputs to the layer's compute
dtype. Integer inputs are refused: Keras builds the layer, but the convolution
of an integer tensor with a float kernel fails when run.
"""

from math import prod
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from ...shapes import conv_output_length, deconv_output_length
from ..base import IntTuple, PositiveInt
from ..objects import Activation, Constraint, Initializer, Regularizer
from ._base import Inferred, Layer, Shape, ShapeError, Tensor, Weights, shape_str
from ._cost import activation_flops, elements, transpose_pairs, window_pairs

# ---- field types ------------------------------------------------------------------------------

_WINDOW = "an int (the same for every spatial axis) or one int per spatial axis"


def _window(n: int, what: str) -> Any:
    return Annotated[IntTuple(n), Field(description=f"{what}: {_WINDOW}.")]


# built at run time: to a type checker, any value
_KERNEL, _STRIDES, _DILATION = (
    "Size of the convolution window",
    "Step of the convolution window",
    "Dilation rate (step between the window's taps)",
)
Kernel1: Any = _window(1, _KERNEL)
Kernel2: Any = _window(2, _KERNEL)
Kernel3: Any = _window(3, _KERNEL)
Strides1: Any = _window(1, _STRIDES)
Strides2: Any = _window(2, _STRIDES)
Strides3: Any = _window(3, _STRIDES)
Dilation1: Any = _window(1, _DILATION)
Dilation2: Any = _window(2, _DILATION)
Dilation3: Any = _window(3, _DILATION)
OutputPadding1: Any
OutputPadding2: Any
OutputPadding3: Any
OutputPadding1, OutputPadding2, OutputPadding3 = (
    Annotated[
        IntTuple(n, minimum=0, nullable=True),
        Field(
            description="Extra size added to one side of each spatial output axis, each strictly less than the "
            "stride along that axis; null infers the output size from the input size and strides."
        ),
    ]
    for n in (1, 2, 3)
)

_SAME = '"valid": no padding; "same": zero-pad evenly so that the output size is ceil(input size / strides)'
Padding = Annotated[Literal["valid", "same"], Field(description=f"{_SAME}.")]
CausalPadding = Annotated[
    Literal["valid", "same", "causal"],
    Field(description=f'{_SAME}; "causal": zero-pad on the left only, so that output[t] does not see input[t + 1:].'),
]
Filters = Annotated[PositiveInt, Field(description="Number of output channels (filters).")]
DepthMultiplier = Annotated[PositiveInt, Field(description="Number of depthwise output channels per input channel.")]
UseBias = Annotated[bool, Field(description="Whether the layer adds a bias vector to its output.")]
KernelInit = Annotated[Initializer, Field(description="Initializer for the convolution kernel.")]
DepthwiseInit = Annotated[Initializer, Field(description="Initializer for the depthwise kernel.")]
PointwiseInit = Annotated[Initializer, Field(description="Initializer for the pointwise (1x1) kernel.")]
BiasInit = Annotated[Initializer, Field(description="Initializer for the bias vector.")]
KernelReg = Annotated[Regularizer, Field(description="Regularizer for the convolution kernel.")]
DepthwiseReg = Annotated[Regularizer, Field(description="Regularizer for the depthwise kernel.")]
PointwiseReg = Annotated[Regularizer, Field(description="Regularizer for the pointwise kernel.")]
BiasReg = Annotated[Regularizer, Field(description="Regularizer for the bias vector.")]
ActivityReg = Annotated[Regularizer, Field(description="Regularizer for the layer's output.")]
KernelConstraint = Annotated[Constraint, Field(description="Constraint on the convolution kernel.")]
DepthwiseConstraint = Annotated[Constraint, Field(description="Constraint on the depthwise kernel.")]
PointwiseConstraint = Annotated[Constraint, Field(description="Constraint on the pointwise kernel.")]
BiasConstraint = Annotated[Constraint, Field(description="Constraint on the bias vector.")]


# ---- shared work ------------------------------------------------------------------------------
#
# A layer class is its family base (Keras's leading arguments, in Keras's order, with placeholders
# for the per-rank fields), plus mixins listed before it: `_Rank1`/`_Rank2`/`_Rank3` narrow the per-rank
# fields to the rank, `_KernelAndBias` adds the trailing arguments of the one-kernel convolutions.
# Pydantic orders the fields by where they are first declared, base classes first (the reversed
# MRO), so listed before the family base, the mixins keep Keras's argument order: the schema,
# and the keys that error messages list, follow it.


class _Conv(Layer):
    """Shared by every convolution: the argument, rank, dtype and window checks."""

    #: Number of spatial axes.
    rank: ClassVar[int]
    #: Whether Keras refuses `strides > 1` together with `dilation_rate > 1`.
    refuses_strided_dilation: ClassVar[bool] = True
    #: The Keras backends that fail on an integer input, where the others run it; empty: every backend fails.
    integer_backends: ClassVar[tuple[str, ...]] = ()

    if TYPE_CHECKING:
        kernel_size: tuple[int, ...]
        strides: tuple[int, ...]
        padding: str
        dilation_rate: tuple[int, ...]
        use_bias: bool

    def _check_input(self, inputs: list[Tensor]) -> tuple[Tensor, int]:
        """The input tensor and its channel count; checks the arguments, rank and dtype."""
        (x,) = inputs
        if self.refuses_strided_dilation and max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ShapeError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}",
                field="dilation_rate",
                code="value",
            )
        self.need_rank(x, self.rank + 2, what=" (batch, spatial axes..., channels)")
        self.need_float(
            x,
            ": the convolution of an integer tensor with a float kernel fails when run",
            backends=self.integer_backends,
        )
        return x, self.need_known(x, -1, "channel dimension")

    def _spatial(self, x: Tensor) -> Shape:
        """Output spatial dims of a (not transposed) convolution; refuses empty outputs."""
        out = []
        for axis, (n, k, s, d) in enumerate(zip(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)):
            length = conv_output_length(n, k, s, self.padding, d)
            if length is not None and length <= 0:
                raise ShapeError(
                    f"Computed output size would be zero or negative along spatial axis {axis + 1}: "
                    f"the input size {n} is smaller than the dilated kernel size {d * (k - 1) + 1}. "
                    "Expected an input at least as large as the dilated kernel, or padding='same'. "
                    f"Received: input_shape={shape_str(x.shape)}, kernel_size={self.kernel_size}, "
                    f"dilation_rate={self.dilation_rate}, strides={self.strides}, padding={self.padding}",
                    field="kernel_size",
                )
            out.append(length)
        return tuple(out)

    def _output(self, x: Tensor, spatial: Shape, channels: int, kernels: Weights) -> Inferred:
        bias: Weights = (("bias", (channels,)),) if self.use_bias else ()
        return Inferred.with_weights(Tensor((x.shape[0],) + spatial + (channels,), "float32"), kernels + bias)

    def _taps(self, x: Tensor, output: Tensor) -> int:
        """The (output position, kernel tap) pairs over every spatial axis whose tap reads an input value, not
        padding (what XLA counts)."""
        axes = zip(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, output.shape[1:-1])
        return prod(window_pairs(n or 1, k, s, d, self.padding, o or 1) for n, k, s, d, o in axes)

    def _bias_and_activation(self, output: Tensor) -> int:
        out = elements(output.shape)
        return out * self.use_bias + activation_flops(getattr(self, "activation", None), out)


class _Rank1(_Conv):
    """One spatial axis: the window arguments are one int each."""

    rank: ClassVar[int] = 1
    kernel_size: Kernel1
    strides: Strides1 = (1,)
    dilation_rate: Dilation1 = (1,)


class _Rank2(_Conv):
    """Two spatial axes: the window arguments are two ints each."""

    rank: ClassVar[int] = 2
    kernel_size: Kernel2
    strides: Strides2 = (1, 1)
    dilation_rate: Dilation2 = (1, 1)


class _Rank3(_Conv):
    """Three spatial axes: the window arguments are three ints each."""

    rank: ClassVar[int] = 3
    kernel_size: Kernel3
    strides: Strides3 = (1, 1, 1)
    dilation_rate: Dilation3 = (1, 1, 1)


class _KernelAndBias(Layer):
    """The trailing arguments of the convolutions with one kernel (regular and transposed)."""

    activation: Activation = None
    use_bias: UseBias = True
    kernel_initializer: KernelInit = "glorot_uniform"
    bias_initializer: BiasInit = "zeros"
    kernel_regularizer: KernelReg = None
    bias_regularizer: BiasReg = None
    activity_regularizer: ActivityReg = None
    kernel_constraint: KernelConstraint = None
    bias_constraint: BiasConstraint = None


# ---- regular convolution ----------------------------------------------------------------------


class _BaseConv(_Conv):
    """Keras's `BaseConv`: `activation(conv(inputs, kernel) + bias)`, optionally grouped."""

    # JAX runs a plain convolution of integers (it promotes them); every other backend and kind of
    # convolution fails when run (tests/test_backends.py measures each)
    integer_backends: ClassVar[tuple[str, ...]] = ("tensorflow", "torch")

    filters: Filters
    kernel_size: tuple[int, ...]  # narrowed to `rank` ints by each layer class; so are the tuples below
    strides: tuple[int, ...]
    padding: Padding = "valid"
    dilation_rate: tuple[int, ...]
    groups: PositiveInt = Field(
        1,
        description="Number of groups the input channels are split into, each convolved with filters / groups "
        "filters; filters and the input channels must both be divisible by groups.",
    )

    def infer(self, inputs: list[Tensor]) -> Inferred:
        if self.filters % self.groups:
            raise ShapeError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={self.groups}, filters={self.filters}",
                field="groups",
                code="value",
            )
        x, channels = self._check_input(inputs)
        if channels % self.groups:
            raise ShapeError(
                "The number of input channels must be evenly divisible by the number of groups. "
                f"Received: groups={self.groups}, input_shape={shape_str(x.shape)} ({channels} channels)",
                field="groups",
            )
        kernel = self.kernel_size + (channels // self.groups, self.filters)
        return self._output(x, self._spatial(x), self.filters, (("kernel", kernel),))

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A multiply-add per tap that reads an input value, input channel of the group and filter."""
        channels = inputs[0].shape[-1] or 1
        taps = self._taps(inputs[0], output)
        return 2 * taps * (channels // self.groups) * self.filters + self._bias_and_activation(output)


class Conv1D(_Rank1, _KernelAndBias, _BaseConv):
    """1D convolution (e.g. temporal convolution).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, new_steps, filters)`.
    """

    type: Literal["Conv1D", "Convolution1D"]
    padding: CausalPadding = "valid"  # type: ignore[assignment]  # Conv1D alone adds "causal"


class Conv2D(_Rank2, _KernelAndBias, _BaseConv):
    """2D convolution (e.g. spatial convolution over images).

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, new_height, new_width, filters)`.
    """

    type: Literal["Conv2D", "Convolution2D"]


class Conv3D(_Rank3, _KernelAndBias, _BaseConv):
    """3D convolution (e.g. spatial convolution over volumes).

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, new_dim1, new_dim2, new_dim3, filters)`.
    """

    type: Literal["Conv3D", "Convolution3D"]


# ---- transposed convolution -------------------------------------------------------------------


class _BaseConvTranspose(_Conv):
    """Keras's `BaseConvTranspose`: the gradient of a convolution, as a layer."""

    filters: Filters
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Padding = "valid"
    output_padding: tuple[int, ...] | None = None
    dilation_rate: tuple[int, ...]

    def infer(self, inputs: list[Tensor]) -> Inferred:
        op = self.output_padding
        if op is not None and any(p >= s for p, s in zip(op, self.strides)):
            raise ShapeError(
                "`output_padding` must be strictly less than `strides` for all dimensions. "
                f"Received: output_padding={op}, strides={self.strides}",
                field="output_padding",
                code="value",
            )
        x, channels = self._check_input(inputs)
        if set(self.kernel_size) == {1} and max(self.strides) > 1:
            raise ShapeError(
                "A transposed convolution with a 1x1 kernel and strides above 1 is refused (kspec policy: TensorFlow's "
                "CPU kernel crashes the process with a segmentation fault when it trains on larger inputs, e.g. "
                "25x29). Use UpSampling with a 1x1 convolution, or a kernel at least as large as the strides. "
                f"Received: kernel_size={self.kernel_size}, strides={self.strides}",
                field="kernel_size",
                policy="transposed-1x1-strides",
            )
        if op is not None and self.padding == "same":
            dilated = [d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
            if any(p == 0 and k % 2 == 0 for p, k in zip(op, dilated)):
                # Keras's output size there is (n - 1) * strides: empty when n is 1, and otherwise
                # one that TensorFlow's transposed convolution refuses when run (JAX and PyTorch run it).
                empty = any(p == 0 and k % 2 == 0 and n == 1 for p, k, n in zip(op, dilated, x.shape[1:-1]))
                raise ShapeError(
                    "With padding='same', `output_padding` must be at least 1 along every axis where the dilated "
                    "kernel size is even: 0 there gives an output size that the transposed convolution cannot "
                    f"produce. Received: output_padding={op}, kernel_size={self.kernel_size}, "
                    f"dilation_rate={self.dilation_rate}",
                    field="output_padding",
                    code="value",
                    backends=() if empty else ("tensorflow",),
                )
        spatial = tuple(
            deconv_output_length(n, k, s, self.padding, None if op is None else op[i], d)
            for i, (n, k, s, d) in enumerate(zip(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate))
        )
        return self._output(x, spatial, self.filters, (("kernel", self.kernel_size + (self.filters, channels)),))

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A multiply-add per (input position, tap) pair that lands inside the output, input channel and filter."""
        x = inputs[0]
        axes = zip(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, output.shape[1:-1])
        pairs = prod(transpose_pairs(n or 1, k, s, d, o or 1) for n, k, s, d, o in axes)
        return 2 * pairs * (x.shape[-1] or 1) * self.filters + self._bias_and_activation(output)


class Conv1DTranspose(_Rank1, _KernelAndBias, _BaseConvTranspose):
    """1D transposed convolution (sometimes called deconvolution).

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, new_steps, filters)`; with
    `output_padding: null`, new_steps is `steps * strides` ("same") or
    `steps * strides + max(dilated_kernel_size - strides, 0)` ("valid").
    """

    type: Literal["Conv1DTranspose", "Convolution1DTranspose"]
    output_padding: OutputPadding1 = None


class Conv2DTranspose(_Rank2, _KernelAndBias, _BaseConvTranspose):
    """2D transposed convolution (sometimes called deconvolution).

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, new_height, new_width, filters)`,
    each spatial axis computed as in Conv1DTranspose.
    """

    type: Literal["Conv2DTranspose", "Convolution2DTranspose"]
    output_padding: OutputPadding2 = None


class Conv3DTranspose(_Rank3, _KernelAndBias, _BaseConvTranspose):
    """3D transposed convolution (sometimes called deconvolution).

    Input shape: `(batch, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, new_dim1, new_dim2, new_dim3, filters)`, each spatial axis computed as in
    Conv1DTranspose.
    """

    type: Literal["Conv3DTranspose", "Convolution3DTranspose"]
    output_padding: OutputPadding3 = None


# ---- separable and depthwise convolution ------------------------------------------------------


class _BaseSeparableConv(_Conv):
    """Keras's `BaseSeparableConv`: a depthwise convolution, then a pointwise (1x1) one mixing channels.

    Keras computes `strides > 1` with `dilation_rate > 1` here (a dilated convolution at
    stride 1, then subsampled), so that combination is accepted.
    """

    refuses_strided_dilation: ClassVar[bool] = False

    filters: Filters
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Padding = "valid"
    dilation_rate: tuple[int, ...]
    depth_multiplier: DepthMultiplier = 1
    activation: Activation = None
    use_bias: UseBias = True
    depthwise_initializer: DepthwiseInit = "glorot_uniform"
    pointwise_initializer: PointwiseInit = "glorot_uniform"
    bias_initializer: BiasInit = "zeros"
    depthwise_regularizer: DepthwiseReg = None
    pointwise_regularizer: PointwiseReg = None
    bias_regularizer: BiasReg = None
    activity_regularizer: ActivityReg = None
    depthwise_constraint: DepthwiseConstraint = None
    pointwise_constraint: PointwiseConstraint = None
    bias_constraint: BiasConstraint = None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        x, channels = self._check_input(inputs)
        middle = channels * self.depth_multiplier
        kernels = (
            ("depthwise", self.kernel_size + (channels, self.depth_multiplier)),
            ("pointwise", (1,) * self.rank + (middle, self.filters)),
        )
        return self._output(x, self._spatial(x), self.filters, kernels)

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """The depthwise convolution (a multiply-add per tap, channel and multiplier), then the pointwise one."""
        middle = (inputs[0].shape[-1] or 1) * self.depth_multiplier
        depthwise = 2 * self._taps(inputs[0], output) * middle
        pointwise = 2 * elements(output.shape[:-1]) * middle * self.filters
        return depthwise + pointwise + self._bias_and_activation(output)


class SeparableConv1D(_Rank1, _BaseSeparableConv):
    """1D depthwise-separable convolution.

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, new_steps, filters)`.
    """

    type: Literal["SeparableConv1D", "SeparableConvolution1D"]


class SeparableConv2D(_Rank2, _BaseSeparableConv):
    """2D depthwise-separable convolution.

    Input shape: `(batch, height, width, channels)`. Output shape: `(batch, new_height, new_width, filters)`.
    """

    type: Literal["SeparableConv2D", "SeparableConvolution2D"]


class _BaseDepthwiseConv(_Conv):
    """Keras's `BaseDepthwiseConv`: each input channel convolved with its own `depth_multiplier` kernels.

    As for the separable convolution, `strides > 1` with `dilation_rate > 1` is accepted.
    """

    refuses_strided_dilation: ClassVar[bool] = False

    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Padding = "valid"
    depth_multiplier: DepthMultiplier = 1
    dilation_rate: tuple[int, ...]
    activation: Activation = None
    use_bias: UseBias = True
    depthwise_initializer: DepthwiseInit = "glorot_uniform"
    bias_initializer: BiasInit = "zeros"
    depthwise_regularizer: DepthwiseReg = None
    bias_regularizer: BiasReg = None
    activity_regularizer: ActivityReg = None
    depthwise_constraint: DepthwiseConstraint = None
    bias_constraint: BiasConstraint = None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        x, channels = self._check_input(inputs)
        out_channels = channels * self.depth_multiplier
        kernel = self.kernel_size + (channels, self.depth_multiplier)
        return self._output(x, self._spatial(x), out_channels, (("depthwise", kernel),))

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A multiply-add per tap that reads an input value, channel and multiplier."""
        return 2 * self._taps(inputs[0], output) * (output.shape[-1] or 1) + self._bias_and_activation(output)


class DepthwiseConv1D(_Rank1, _BaseDepthwiseConv):
    """1D depthwise convolution.

    Input shape: `(batch, steps, channels)`. Output shape: `(batch, new_steps, channels * depth_multiplier)`.
    """

    type: Literal["DepthwiseConv1D"]


class DepthwiseConv2D(_Rank2, _BaseDepthwiseConv):
    """2D depthwise convolution.

    Input shape: `(batch, height, width, channels)`.
    Output shape: `(batch, new_height, new_width, channels * depth_multiplier)`.
    """

    type: Literal["DepthwiseConv2D"]


LAYERS = (
    Conv1D,
    Conv2D,
    Conv3D,
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3DTranspose,
    SeparableConv1D,
    SeparableConv2D,
    DepthwiseConv1D,
    DepthwiseConv2D,
)
