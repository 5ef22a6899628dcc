"""Convolutional recurrent layers: ConvLSTM1D, ConvLSTM2D, ConvLSTM3D.

An LSTM whose input and recurrent transformations are convolutions (Keras's `ConvLSTM`, an `RNN` over a
`ConvLSTMCell`). The input is a sequence of images: `(batch, timesteps, spatial axes..., channels)`,
channels-last only. The window arguments follow the convolutions (`kernel_size`, `strides`, `padding`,
`dilation_rate`; `strides > 1` together with `dilation_rate > 1` is refused), with the same shape arithmetic
(`kspec.shapes.conv_output_length`); the recurrent convolution keeps the state's size (stride 1, "same").

As for the other recurrent layers (`recurrent.py`), `return_state` and `stateful` are refused: a kspec layer has
one output, and no fixed batch size. Keras's ConvLSTM documents no `unroll`: the loop is never unrolled.
"""

from typing import Any, ClassVar, Literal

from pydantic import Field

from ...shapes import conv_output_length
from ..objects import Regularizer
from ._base import Inferred, Layer, ShapeError, Tensor, Weights, shape_str
from .conv import (
    Dilation1,
    Dilation2,
    Dilation3,
    Filters,
    Kernel1,
    Kernel2,
    Kernel3,
    Padding,
    Strides1,
    Strides2,
    Strides3,
)
from .recurrent import GateArguments, RecurrentActivation, SequenceLoop, UnitForgetBias


class _Window(Layer):
    """The convolution window of the input transformation, in Keras's argument order."""

    filters: Filters
    kernel_size: Any  # narrowed to `rank` ints by each layer class; so are strides and dilation_rate
    strides: Any
    padding: Padding = "valid"
    dilation_rate: Any


class _ConvLSTM(SequenceLoop, GateArguments, _Window):
    """Keras's `ConvLSTM`: the LSTM gates are convolutions of the input and of the state."""

    #: Number of spatial axes.
    rank: ClassVar[int]

    recurrent_activation: RecurrentActivation = "sigmoid"
    unit_forget_bias: UnitForgetBias = True
    activity_regularizer: Regularizer = Field(None, description="Regularizer applied to the output of the layer.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ShapeError(
                "Specifying `strides > 1` is not compatible with `dilation_rate > 1`. Please provide `strides=1` or "
                f"`dilation_rate=1`. Received: strides={self.strides} and dilation_rate={self.dilation_rate}",
                field="dilation_rate",
                code="value",
            )
        self.need_rank(x, self.rank + 3, what=" (batch, timesteps, spatial axes..., channels)")
        # JAX promotes integers in the convolution; TensorFlow and PyTorch fail when run
        self.need_float(
            x,
            ": the convolution of an integer tensor with a float kernel fails when run",
            backends=("tensorflow", "torch"),
        )
        self._dropout_input(x)
        spatial = x.shape[2:-1]
        if None in spatial:
            raise ShapeError(
                "ConvLSTM layers only support static input shapes for the spatial dimension. "
                f"Received invalid input shape: input_shape={shape_str(x.shape)}"
            )
        channels = self.need_known(x, -1, "channel dimension")
        if channels == 0:
            raise ShapeError(
                f"Layer '{self.layer_type}' needs at least one input channel. Received: input_shape={shape_str(x.shape)}"
            )
        self._steps(x, unroll=False)
        out = []
        for axis, (n, k, s, d) in enumerate(zip(spatial, self.kernel_size, self.strides, self.dilation_rate)):
            length = conv_output_length(n, k, s, self.padding, d)
            assert length is not None  # the spatial dims are known
            if length <= 0:
                raise ShapeError(
                    "Computed output size would be zero or negative along spatial axis "
                    f"{axis + 1}: the input size {n} is smaller than the dilated kernel size {d * (k - 1) + 1}. "
                    "Expected an input at least as large as the dilated kernel, or padding='same'. "
                    f"Received: input_shape={shape_str(x.shape)}, kernel_size={self.kernel_size}, "
                    f"dilation_rate={self.dilation_rate}, strides={self.strides}, padding={self.padding}",
                    field="kernel_size",
                )
            out.append(length)
        f = self.filters
        weights: Weights = (
            ("kernel", self.kernel_size + (channels, 4 * f)),
            ("recurrent", self.kernel_size + (f, 4 * f)),
        )
        if self.use_bias:
            weights += (("bias", (4 * f,)),)
        steps = (x.shape[1],) if self.return_sequences else ()
        return Inferred.with_weights(Tensor((x.shape[0], *steps, *out, f), "float32"), weights)


class ConvLSTM1D(_ConvLSTM):
    """1D convolutional LSTM: an LSTM over a sequence of 1-D signals, its gates convolutions.

    Input shape: `(batch, timesteps, steps, channels)`.
    Output shape: `(batch, timesteps, new_steps, filters)` with `return_sequences`, else
    `(batch, new_steps, filters)`; `new_steps` as for Conv1D.
    Parameters: `4 * filters * kernel * (channels + filters)`, plus `4 * filters` with `use_bias`.
    """

    type: Literal["ConvLSTM1D"]
    rank: ClassVar[int] = 1
    kernel_size: Kernel1
    strides: Strides1 = (1,)
    dilation_rate: Dilation1 = (1,)


class ConvLSTM2D(_ConvLSTM):
    """2D convolutional LSTM: an LSTM over a sequence of images, its gates convolutions.

    Input shape: `(batch, timesteps, height, width, channels)`.
    Output shape: `(batch, timesteps, new_height, new_width, filters)` with `return_sequences`, else
    `(batch, new_height, new_width, filters)`; the new sizes as for Conv2D.
    Parameters: `4 * filters * kh * kw * (channels + filters)`, plus `4 * filters` with `use_bias`.
    """

    type: Literal["ConvLSTM2D"]
    rank: ClassVar[int] = 2
    kernel_size: Kernel2
    strides: Strides2 = (1, 1)
    dilation_rate: Dilation2 = (1, 1)


class ConvLSTM3D(_ConvLSTM):
    """3D convolutional LSTM: an LSTM over a sequence of volumes, its gates convolutions.

    Input shape: `(batch, timesteps, dim1, dim2, dim3, channels)`.
    Output shape: `(batch, timesteps, new_dim1, new_dim2, new_dim3, filters)` with `return_sequences`, else
    `(batch, new_dim1, new_dim2, new_dim3, filters)`; the new sizes as for Conv3D.
    Parameters: `4 * filters * k1 * k2 * k3 * (channels + filters)`, plus `4 * filters` with `use_bias`.
    """

    type: Literal["ConvLSTM3D"]
    rank: ClassVar[int] = 3
    kernel_size: Kernel3
    strides: Strides3 = (1, 1, 1)
    dilation_rate: Dilation3 = (1, 1, 1)


LAYERS = (ConvLSTM1D, ConvLSTM2D, ConvLSTM3D)
