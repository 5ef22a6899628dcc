"""Recurrent layers: LSTM, GRU, SimpleRNN, and the wrappers Bidirectional and TimeDistributed.

kspec v1 policies (a layer has exactly one output tensor, and every accepted
spec must build and train one step on CPU):
- `return_state` and `stateful` are omitted; `return_sequences` is kept.
- `use_cudnn` accepts `"auto"` or `false`: `true` fails without a GPU.
- A recurrent layer needs a 3-D input `(batch, timesteps, features)` with a
  known, non-zero number of features and a non-zero number of timesteps.
- Inner layers of wrappers (`layer`, `backward_layer`) carry no `name` or `inputs`.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic.config import JsonDict

from ..base import PositiveInt, Rate, Seed
from ..objects import Activation, Constraint, Initializer, Regularizer
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, Weights, shape_str

#: `_refuse_wrapped_name`, in the schema: the wrapped layer's `name` and `inputs` are absent or null.
_UNNAMED: JsonDict = {"properties": {"name": {"type": "null"}, "inputs": {"type": "null"}}}


def _refuse_wrapped_name(wrapper: str, field: str, layer: Any) -> None:
    """Inner layers of a wrapper are not graph nodes: they take neither `name` nor `inputs`."""
    if isinstance(layer, Layer) and (layer.name is not None or layer.inputs is not None):
        raise ValueError(
            f"The layer wrapped by `{wrapper}` (argument `{field}`) must not have `name` or `inputs`: "
            f"only the wrapper is a node of the model. Received: name={layer.name!r}, inputs={layer.inputs!r}"
        )


# ---- LSTM, GRU, SimpleRNN ----------------------------------------------------------------------

RecurrentActivation = Annotated[Activation, Field(description="Activation function of the gates; null means linear.")]
UseCudnn = Annotated[
    Literal["auto", False],
    Field(description="Whether to use cuDNN when available: 'auto' or false. true is refused: it fails without a GPU."),
]


class _RNN(Layer):
    """Arguments shared by the three recurrent layers (Keras's `RNN` plus its cell's arguments)."""

    units: PositiveInt = Field(description="Dimensionality of the output space (and of the recurrent state).")
    activation: Activation = Field("tanh", description="Activation function of the cell output; null means linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: Initializer = Field(
        "glorot_uniform", description="Initializer for the `kernel` matrix (the transformation of the inputs)."
    )
    recurrent_initializer: Initializer = Field(
        "orthogonal", description="Initializer for the `recurrent_kernel` matrix (the transformation of the state)."
    )
    bias_initializer: Initializer = Field("zeros", description="Initializer for the bias vector.")
    kernel_regularizer: Regularizer = Field(None, description="Regularizer applied to the `kernel` matrix.")
    recurrent_regularizer: Regularizer = Field(
        None, description="Regularizer applied to the `recurrent_kernel` matrix."
    )
    bias_regularizer: Regularizer = Field(None, description="Regularizer applied to the bias vector.")
    activity_regularizer: Regularizer = Field(None, description="Regularizer applied to the output of the layer.")
    kernel_constraint: Constraint = Field(None, description="Constraint applied to the `kernel` matrix.")
    recurrent_constraint: Constraint = Field(None, description="Constraint applied to the `recurrent_kernel` matrix.")
    bias_constraint: Constraint = Field(None, description="Constraint applied to the bias vector.")
    dropout: Rate = Field(
        0.0, description="Fraction of the units to drop for the transformation of the inputs, in [0, 1)."
    )
    recurrent_dropout: Rate = Field(
        0.0, description="Fraction of the units to drop for the transformation of the recurrent state, in [0, 1)."
    )
    seed: Seed | None = Field(None, description="Random seed for dropout.")
    return_sequences: bool = Field(
        False,
        description="Whether to return the whole output sequence `(batch, timesteps, units)` or only the last output `(batch, units)`.",
    )
    go_backwards: bool = Field(
        False, description="If true, process the input sequence backwards and return the reversed sequence."
    )
    unroll: bool = Field(
        False,
        description="If true, unroll the loop (faster for short sequences, more memory). Needs a known number of timesteps.",
    )

    #: Number of weight blocks of the cell (LSTM: 4 gates, GRU: 3, SimpleRNN: 1).
    _gates: ClassVar[int] = 1

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, 3)
        if x.dtype not in FLOAT_DTYPES + INT_DTYPES + ("bool",):
            raise ShapeError(
                f"Layer '{self.layer_type}' expects a numeric (floating-point, integer or boolean) input. Received: dtype={x.dtype}"
            )
        if self.dropout > 0:  # the dropout mask is float: multiplying integer inputs by it fails on every backend
            self.need_float(x, " when `dropout` is above 0 (its float mask cannot multiply integers)", field="dropout")
        features = self.need_known(x, -1, "feature dimension")
        batch, steps = x.shape[0], x.shape[1]
        if features == 0 or steps == 0:
            raise ShapeError(
                f"Layer '{self.layer_type}' needs at least one timestep and one feature. "
                f"Received: input_shape={shape_str(x.shape)}"
            )
        if self.unroll and steps is None:
            raise ShapeError(
                "Cannot unroll a RNN if the time dimension is undefined: give the input a known number of "
                f"timesteps, or set `unroll` to false. Received: input_shape={shape_str(x.shape)}",
                field="unroll",
                backends=("tensorflow",),  # JAX and PyTorch unroll over the steps of each batch they are given
            )
        u = self.units
        weights: Weights = (("kernel", (features, self._gates * u)), ("recurrent", (u, self._gates * u)))
        if self.use_bias:
            weights += (("bias", self._bias_shape()),)
        shape = (batch, steps, u) if self.return_sequences else (batch, u)
        return Inferred.with_weights(Tensor(shape, "float32"), weights)

    def recurrent(self) -> bool:
        return True

    def loops_over_tensor_lists(self) -> bool:
        """The loop's steps are TensorList ops (TensorListReserve, -SetItem, -Stack) unless it is unrolled."""
        return not self.unroll


class SimpleRNN(_RNN):
    """Fully-connected RNN where the output is fed back as the next input.

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`.
    Parameters: `units * (features + units) + units` (bias).
    """

    type: Literal["SimpleRNN"]


class LSTM(_RNN):
    """Long Short-Term Memory layer (Hochreiter 1997).

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`.
    Parameters: `4 * (units * (features + units) + units)` (the last term with `use_bias`).
    """

    type: Literal["LSTM"]
    recurrent_activation: RecurrentActivation = "sigmoid"
    unit_forget_bias: bool = Field(True, description="If true, add 1 to the bias of the forget gate at initialization.")
    use_cudnn: UseCudnn = "auto"

    _gates: ClassVar[int] = 4


class GRU(_RNN):
    """Gated Recurrent Unit (Cho et al. 2014).

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`.
    Parameters: `3 * units * (features + units)` plus a bias of `3 * units`, or `6 * units`
    with `reset_after` (separate input and recurrent biases).
    """

    type: Literal["GRU"]
    recurrent_activation: RecurrentActivation = "sigmoid"
    reset_after: bool = Field(
        True, description="Apply the reset gate after the matrix multiplication (true, cuDNN-compatible) or before it."
    )
    use_cudnn: UseCudnn = "auto"

    _gates: ClassVar[int] = 3

    def _bias_shape(self) -> tuple[int, ...]:
        # with reset_after, one row of input biases and one of recurrent biases
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)


RecurrentLayer = Annotated[
    LSTM | GRU | SimpleRNN,
    Field(discriminator="type", description="A recurrent layer (LSTM, GRU or SimpleRNN), without `name` or `inputs`."),
]


# ---- wrappers ------------------------------------------------------------------------------------


def _wrapped_infer(layer: Layer, inputs: list[Tensor], where: str) -> Inferred:
    """The wrapped layer's inference, with its arguments checked; its errors point at the wrapper's field that
    holds it."""
    try:
        return layer.apply(inputs)
    except ShapeError as exc:
        if exc.field is not None:
            exc.field = where
        raise


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy (or `backward_layer`) backwards, and merges the outputs.

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: the wrapped layer's, with the last axis doubled when `merge_mode` is "concat".
    Parameters: those of the forward and the backward layer, each built on the input.
    `merge_mode: null` (a list of two outputs in Keras) is refused: a kspec layer has one output.
    """

    type: Literal["Bidirectional"]
    layer: RecurrentLayer = Field(
        description="The recurrent layer run forwards; its copy, run backwards, is the default backward layer.",
        json_schema_extra=_UNNAMED,
    )
    merge_mode: Literal["concat", "sum", "mul", "ave"] = Field(
        "concat",
        description="How the forward and backward outputs are combined. (Keras's null, two outputs, is not supported.)",
    )
    backward_layer: RecurrentLayer | None = Field(
        None,
        description="The recurrent layer run backwards (it must set `go_backwards: true`, and match `layer`'s "
        "`return_sequences` and `units`); default: a copy of `layer` with `go_backwards` flipped.",
        json_schema_extra=_UNNAMED,
    )

    @model_validator(mode="after")
    def _inner_layers_are_not_nodes(self) -> "Bidirectional":
        _refuse_wrapped_name("Bidirectional", "layer", self.layer)
        _refuse_wrapped_name("Bidirectional", "backward_layer", self.backward_layer)
        return self

    def final_activation(self) -> str | None:
        """The wrapped layers' activation, where both apply the same one."""
        forward = self.layer.final_activation()
        backward = forward if self.backward_layer is None else self.backward_layer.final_activation()
        return forward if forward == backward else None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        forward = self.layer
        backward = (
            self.backward_layer
            if self.backward_layer is not None
            else forward.model_copy(update={"go_backwards": True})
        )
        if forward.go_backwards == backward.go_backwards:
            raise ShapeError(
                "Forward layer and backward layer should have different `go_backwards` value "
                "(without `backward_layer`, the wrapped layer must not go backwards). Received: "
                f"forward_layer.go_backwards={forward.go_backwards}, backward_layer.go_backwards={backward.go_backwards}",
                field="backward_layer" if self.backward_layer is not None else "layer",
            )
        if forward.return_sequences != backward.return_sequences:
            raise ShapeError(
                "Forward layer and backward layer are expected to have the same value for attribute "
                f'"return_sequences". Received: {forward.return_sequences} for forward layer and '
                f"{backward.return_sequences} for backward layer",
                field="backward_layer",
            )
        if forward.units != backward.units:
            # Keras accepts this but declares the output with the forward layer's size only.
            raise ShapeError(
                "Forward layer and backward layer must have the same `units` (Keras infers the output shape "
                f"from the forward layer). Received: {forward.units} for forward layer and {backward.units} for backward layer",
                field="backward_layer",
            )
        fwd = _wrapped_infer(forward, inputs, "layer")
        bwd = _wrapped_infer(backward, inputs, "backward_layer" if self.backward_layer is not None else "layer")
        shape = fwd.output.shape
        if self.merge_mode == "concat":
            last = shape[-1]
            shape = shape[:-1] + (None if last is None else 2 * last,)
        return Inferred(
            Tensor(shape, fwd.output.dtype),
            fwd.params + bwd.params,
            fwd.non_trainable + bwd.non_trainable,
            # the wrapped layers check their own arguments: the wrapper has none of its own to fit
            tuple((f"layer.{role}", s) for role, s in fwd.weights + bwd.weights),
        )


class TimeDistributed(Layer):
    """Applies a layer to every temporal slice of an input (axis 1 is the time axis).

    Input shape: `(batch, timesteps, ...)`, at least 3-D; the wrapped layer sees `(batch, ...)`.
    Output shape: `(batch, timesteps, ...)` where `...` is the wrapped layer's output without its batch axis.
    Parameters: those of the wrapped layer, built once on one slice.
    The wrapped layer must take one input. Its output must be float32: Keras declares the
    wrapper's output float32 whatever the wrapped layer computes.
    """

    type: Literal["TimeDistributed"]
    layer: "AnyLayer" = Field(  # type: ignore[name-defined]  # noqa: F821 (the union of every layer, set by the package once it is defined)
        description="The layer applied to each time slice: any one-input layer, without `name` or `inputs`.",
        json_schema_extra=_UNNAMED,
    )

    @model_validator(mode="after")
    def _inner_layer_is_not_a_node(self) -> "TimeDistributed":
        _refuse_wrapped_name("TimeDistributed", "layer", self.layer)
        return self

    def final_activation(self) -> str | None:
        return self.layer.final_activation()

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.rank < 3:
            raise ShapeError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions. "
                f"Received: input_shape={shape_str(x.shape)}"
            )
        if x.shape[1] is None:
            # With an unknown time axis Keras maps over `arange(input_shape[0])` taken before its
            # transpose, i.e. over the batch size: the output gets as many steps as the batch has
            # examples (wrong data when they happen to be equal, a failure otherwise).
            raise ShapeError(
                "`TimeDistributed` needs a known number of timesteps (axis 1): with an unknown time axis, "
                "Keras loops over the batch size instead of the timesteps. "
                f"Received: input_shape={shape_str(x.shape)}",
                backends=("tensorflow",),  # JAX and PyTorch see each batch's real number of steps
            )
        inner = self.layer
        if inner.min_inputs > 1:
            raise ShapeError(
                f"`TimeDistributed` can only wrap a layer that takes one input. Received: layer={inner.layer_type}",
                field="layer",
            )
        # Keras casts floating inputs to the wrapper's compute dtype, then calls the inner layer on slices.
        dtype = "float32" if x.dtype in FLOAT_DTYPES else x.dtype
        child = _wrapped_infer(inner, [Tensor((x.shape[0],) + x.shape[2:], dtype)], "layer")
        out = child.output
        if out.dtype != "float32":
            raise ShapeError(
                "`TimeDistributed` declares a float32 output, so the wrapped layer must compute float32 "
                f"(kspec policy: Keras would produce another dtype when run). Received: layer={inner.layer_type} "
                f"with output dtype={out.dtype}",
                field="layer",
                policy="timedistributed-float32",
            )
        shape = (out.shape[0], x.shape[1]) + out.shape[1:]
        weights = tuple((f"layer.{role}", s) for role, s in child.weights)
        return Inferred(Tensor(shape, "float32"), child.params, child.non_trainable, weights)


LAYERS = (LSTM, GRU, SimpleRNN, Bidirectional, TimeDistributed)
