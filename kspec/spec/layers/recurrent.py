"""Recurrent layers: LSTM, GRU, SimpleRNN; RNN, which runs a cell (SimpleRNNCell, LSTMCell, GRUCell, or a
StackedRNNCells of several) over the timesteps; and the wrappers Bidirectional and TimeDistributed.

kspec policies (a layer has exactly one output tensor, and every accepted spec must build and train one
step on CPU):
- `return_state: true` is refused: it makes a layer return its last states as more outputs. `stateful: true`
  is refused: it needs a fixed batch size, and kspec models take batches of any size (Keras refuses it on a
  dynamic batch size). `return_sequences` is kept.
- `use_cudnn` accepts `"auto"` or `false`: `true` fails without a GPU.
- A recurrent layer needs a 3-D input `(batch, timesteps, features)` with a known, non-zero number of
  features and a non-zero number of timesteps.
- Cells are nested objects, not graph nodes: they live in RNN's `cell` (one cell, a list of cells, which Keras
  stacks, or an explicit StackedRNNCells). A cell alone in a model is refused: Keras calls a cell on one
  timestep and its states, never on a tensor alone. A StackedRNNCells of one cell is refused where Keras
  mishandles its states (JAX and masked loops fail; unrolled loops fail or skip cells): give the cell itself.
- Inner layers of wrappers (`layer`, `backward_layer`) and cells carry no `name` or `inputs`.
"""

from math import prod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic.config import JsonDict

from ..base import PositiveInt, Rate, Seed
from ..objects import Activation, Constraint, Initializer, Regularizer
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, Weights, check_arguments, shape_str
from ._cost import activation_flops, elements

#: `_refuse_wrapped_name`, in the schema: the wrapped layer's `name` and `inputs` are absent or null.
_UNNAMED: JsonDict = {"properties": {"name": {"type": "null"}, "inputs": {"type": "null"}}}


def _refuse_wrapped_name(wrapper: str, field: str, layer: Any) -> None:
    """Inner layers of a wrapper are not graph nodes: they take neither `name` nor `inputs`."""
    if isinstance(layer, Layer) and (layer.name is not None or layer.inputs is not None):
        raise ValueError(
            f"The layer wrapped by `{wrapper}` (argument `{field}`) must not have `name` or `inputs`: "
            f"only the wrapper is a node of the model. Received: name={layer.name!r}, inputs={layer.inputs!r}"
        )


def _inner_field(exc: ShapeError, field: str) -> ShapeError:
    """A nested layer's or cell's refusal, pointing at the field of the outer layer that holds it."""
    if exc.field is not None:
        exc.field = field
    return exc


# ---- arguments shared by the recurrent layers, the cells and ConvLSTM ---------------------------


def _refuse_return_state(value: Any) -> Any:
    if value is True:
        raise ValueError(
            "Argument `return_state` is not supported: it makes the layer return its last states as further "
            "outputs, and a kspec layer has one output (use `return_sequences: true` for the output at every "
            "timestep). Received: return_state=True"
        )
    return value


def _refuse_stateful(value: Any) -> Any:
    if value is True:
        raise ValueError(
            "Argument `stateful` is not supported: a stateful layer needs a fixed batch size, and kspec models "
            "take batches of any size (Keras refuses `stateful=True` on a dynamic batch size). "
            "Received: stateful=True"
        )
    return value


RecurrentActivation = Annotated[Activation, Field(description="Activation function of the gates; null means linear.")]
UnitForgetBias = Annotated[bool, Field(description="If true, add 1 to the bias of the forget gate at initialization.")]
Unroll = Annotated[
    bool,
    Field(
        description="If true, unroll the loop (faster for short sequences, more memory). Needs a known number of "
        "timesteps."
    ),
]
UseCudnn = Annotated[
    Literal["auto", False],
    Field(description="Whether to use cuDNN when available: 'auto' or false. true is refused: it fails without a GPU."),
]


class SequenceLoop(Layer):
    """Keras's `RNN` arguments: what every layer that runs a loop over the timesteps shares."""

    return_sequences: bool = Field(
        False,
        description="Whether to return the whole output sequence `(batch, timesteps, ...)` or only the last "
        "output `(batch, ...)`.",
    )
    return_state: Annotated[Literal[False], BeforeValidator(_refuse_return_state)] = Field(
        False,
        description="Always false: returning the last states too would give the layer several outputs, and a "
        "kspec layer has one.",
    )
    go_backwards: bool = Field(
        False, description="If true, process the input sequence backwards and return the reversed sequence."
    )
    stateful: Annotated[Literal[False], BeforeValidator(_refuse_stateful)] = Field(
        False,
        description="Always false: a stateful layer needs a fixed batch size, and kspec models take batches of "
        "any size.",
    )

    def recurrent(self) -> bool:
        return True

    def ends_mask(self) -> bool:
        return not self.return_sequences  # the last step only: no steps left to mask

    def loops_over_tensor_lists(self) -> bool:
        """The loop's steps are TensorList ops (TensorListReserve, -SetItem, -Stack) unless it is unrolled."""
        return not getattr(self, "unroll", False)

    def _steps(self, x: Tensor, *, unroll: bool) -> None:
        """Refuses an empty time axis, and an unknown one when the loop is unrolled."""
        if x.shape[1] == 0:
            raise ShapeError(
                f"Layer '{self.layer_type}' needs at least one timestep. Received: input_shape={shape_str(x.shape)}"
            )
        if unroll and x.shape[1] is None:
            raise ShapeError(
                "Cannot unroll a RNN if the time dimension is undefined: give the input a known number of "
                f"timesteps, or set `unroll` to false. Received: input_shape={shape_str(x.shape)}",
                field="unroll",
                backends=("tensorflow",),  # JAX and PyTorch unroll over the steps of each batch they are given
            )

    def _sequence_input(self, x: Tensor, *, unroll: bool) -> int:
        """The number of features of a `(batch, timesteps, features)` input; refuses other inputs."""
        self.need_rank(x, 3)
        if x.dtype not in FLOAT_DTYPES + INT_DTYPES + ("bool",):
            raise ShapeError(
                f"Layer '{self.layer_type}' expects a numeric (floating-point, integer or boolean) input. "
                f"Received: dtype={x.dtype}"
            )
        features = self.need_known(x, -1, "feature dimension")
        if features == 0:
            raise ShapeError(
                f"Layer '{self.layer_type}' needs at least one feature. Received: input_shape={shape_str(x.shape)}"
            )
        self._steps(x, unroll=unroll)
        return features


class GateArguments(Layer):
    """The arguments of a recurrent cell's transformations (shared with ConvLSTM's convolutional cell)."""

    activation: Activation = Field("tanh", description="Activation function of the cell output; null means linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: Initializer = Field(
        "glorot_uniform", description="Initializer for the `kernel` weights (the transformation of the inputs)."
    )
    recurrent_initializer: Initializer = Field(
        "orthogonal",
        description="Initializer for the `recurrent_kernel` weights (the transformation of the state).",
    )
    bias_initializer: Initializer = Field("zeros", description="Initializer for the bias vector.")
    kernel_regularizer: Regularizer = Field(None, description="Regularizer applied to the `kernel` weights.")
    recurrent_regularizer: Regularizer = Field(
        None, description="Regularizer applied to the `recurrent_kernel` weights."
    )
    bias_regularizer: Regularizer = Field(None, description="Regularizer applied to the bias vector.")
    kernel_constraint: Constraint = Field(None, description="Constraint applied to the `kernel` weights.")
    recurrent_constraint: Constraint = Field(None, description="Constraint applied to the `recurrent_kernel` weights.")
    bias_constraint: Constraint = Field(None, description="Constraint applied to the bias vector.")
    dropout: Rate = Field(
        0.0, description="Fraction of the units to drop for the transformation of the inputs, in [0, 1)."
    )
    recurrent_dropout: Rate = Field(
        0.0, description="Fraction of the units to drop for the transformation of the recurrent state, in [0, 1)."
    )
    seed: Seed | None = Field(None, description="Random seed for dropout.")

    def _dropout_input(self, x: Tensor) -> None:
        """The dropout mask is float: multiplying integer inputs by it fails on every backend."""
        if self.dropout > 0:
            self.need_float(x, " when `dropout` is above 0 (its float mask cannot multiply integers)", field="dropout")


class _Units(Layer):
    """A cell's first argument (a base of its own, so that it comes first in the schema, as in Keras)."""

    units: PositiveInt = Field(description="Dimensionality of the output space (and of the recurrent state).")


class _Cell(GateArguments, _Units):
    """A cell's arguments and weights, and one timestep: shared by the cells and the layers made of one."""

    #: Number of weight blocks of the cell (LSTM: 4 gates, GRU: 3, SimpleRNN: 1).
    _gates: ClassVar[int] = 1

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _step(self, x: Tensor) -> Inferred:
        """One timestep: the input `(batch, features)` to the output `(batch, units)`, and the cell's weights."""
        self._dropout_input(x)
        features, u = x.shape[-1], self.units
        assert features is not None  # the layers running the cell need a known feature dimension
        weights: Weights = (("kernel", (features, self._gates * u)), ("recurrent", (u, self._gates * u)))
        if self.use_bias:
            weights += (("bias", self._bias_shape()),)
        return Inferred.with_weights(Tensor((x.shape[0], u), "float32"), weights)

    def _step_flops(self, features: int) -> int:
        """One timestep: the input and recurrent multiply-adds of every gate, their sum and bias, then the gates'
        activations and the state updates (LSTM: c = f * c + i * g, h = o * act(c); GRU: the reset, the update
        h = z * h + (1 - z) * candidate)."""
        u, gates = self.units, self._gates
        count = 2 * (features + u) * gates * u + gates * u + self.use_bias * int(prod(self._bias_shape()))
        recurrent = getattr(self, "recurrent_activation", None)
        if gates == 4:
            return count + activation_flops(recurrent, 3 * u) + activation_flops(self.activation, 2 * u) + 4 * u
        if gates == 3:
            return count + activation_flops(recurrent, 2 * u) + activation_flops(self.activation, u) + 6 * u
        return count + activation_flops(self.activation, u)


class _LSTMGates(_Cell):
    recurrent_activation: RecurrentActivation = "sigmoid"
    unit_forget_bias: UnitForgetBias = True

    _gates: ClassVar[int] = 4


class _GRUGates(_Cell):
    recurrent_activation: RecurrentActivation = "sigmoid"
    reset_after: bool = Field(
        True, description="Apply the reset gate after the matrix multiplication (true, cuDNN-compatible) or before it."
    )

    _gates: ClassVar[int] = 3

    def _bias_shape(self) -> tuple[int, ...]:
        # with reset_after, one row of input biases and one of recurrent biases
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)


# ---- LSTM, GRU, SimpleRNN ----------------------------------------------------------------------


class _RNN(SequenceLoop, _Cell):
    """A recurrent layer with its own cell: Keras's `RNN` plus the cell's arguments."""

    activity_regularizer: Regularizer = Field(None, description="Regularizer applied to the output of the layer.")
    unroll: Unroll = False

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        features = self._sequence_input(x, unroll=self.unroll)
        step = self._step(Tensor((x.shape[0], features), x.dtype))
        u = self.units
        shape = (x.shape[0], x.shape[1], u) if self.return_sequences else (x.shape[0], u)
        return Inferred.with_weights(Tensor(shape, "float32"), step.weights)

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """One cell step per timestep."""
        x = inputs[0]
        return (x.shape[1] or 1) * self._step_flops(x.shape[-1] or 1)

    def saved_values(self, inputs: list[Tensor], output: Tensor) -> int:
        """The gates and the state of every timestep."""
        return (inputs[0].shape[1] or 1) * (self._gates + 1) * self.units


class SimpleRNN(_RNN):
    """Fully-connected RNN where the output is fed back as the next input.

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`.
    Parameters: `units * (features + units) + units` (bias).
    """

    type: Literal["SimpleRNN"]


class LSTM(_LSTMGates, _RNN):
    """Long Short-Term Memory layer (Hochreiter 1997).

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`.
    Parameters: `4 * (units * (features + units) + units)` (the last term with `use_bias`).
    """

    type: Literal["LSTM"]
    use_cudnn: UseCudnn = "auto"


class GRU(_GRUGates, _RNN):
    """Gated Recurrent Unit (Cho et al. 2014).

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`.
    Parameters: `3 * units * (features + units)` plus a bias of `3 * units`, or `6 * units`
    with `reset_after` (separate input and recurrent biases).
    """

    type: Literal["GRU"]
    use_cudnn: UseCudnn = "auto"


# ---- cells, and RNN ----------------------------------------------------------------------------


def _not_a_layer(cell: Layer, x: Tensor) -> ShapeError:
    return ShapeError(
        f"Layer '{cell.layer_type}' is an RNN cell: it computes one timestep from an input and the previous "
        "states, so Keras cannot call it on a tensor alone. Use it as the `cell` of an RNN layer: "
        f"{{type: RNN, cell: {{type: {cell.layer_type}, ...}}}}. Received: input_shape={shape_str(x.shape)}"
    )


class _OneCell(_Cell):
    """A cell: one timestep, run over the timesteps by the RNN layer that holds it."""

    def step(self, x: Tensor) -> Inferred:
        """One timestep: the input `(batch, features)` to the output `(batch, units)`, and the cell's weights;
        each initializer, regularizer and constraint of the cell must fit the weight it lands on."""
        inferred = self._step(x)
        check_arguments(self, inferred)
        return inferred

    def infer(self, inputs: list[Tensor]) -> Inferred:
        raise _not_a_layer(self, inputs[0])


class SimpleRNNCell(_OneCell):
    """The cell of SimpleRNN (one timestep), for the `cell` of an RNN layer.

    `output = activation(inputs @ kernel + state @ recurrent_kernel + bias)`; only inside an RNN layer (or a
    StackedRNNCells). Step input `(batch, features)`, output `(batch, units)`.
    Parameters: `units * (features + units) + units` (bias).
    """

    type: Literal["SimpleRNNCell"]


class LSTMCell(_LSTMGates, _OneCell):
    """The cell of LSTM (one timestep), for the `cell` of an RNN layer.

    Only inside an RNN layer (or a StackedRNNCells). Step input `(batch, features)`, output
    `(batch, units)`. Parameters: `4 * (units * (features + units) + units)` (the last term with `use_bias`).
    """

    type: Literal["LSTMCell"]


class GRUCell(_GRUGates, _OneCell):
    """The cell of GRU (one timestep), for the `cell` of an RNN layer.

    Only inside an RNN layer (or a StackedRNNCells). Step input `(batch, features)`, output
    `(batch, units)`. Parameters: `3 * units * (features + units)` plus a bias of `3 * units`, or `6 * units`
    with `reset_after`.
    """

    type: Literal["GRUCell"]


AnyCell = Annotated[
    "SimpleRNNCell | LSTMCell | GRUCell | StackedRNNCells",
    Field(discriminator="type", description="An RNN cell, without `name` or `inputs`."),
]
_CellItem = Annotated[AnyCell, Field(json_schema_extra=_UNNAMED)]


class StackedRNNCells(Layer):
    """Several cells run as one, for the `cell` of an RNN layer: each cell's output is the next cell's input.

    Only inside an RNN layer (or another StackedRNNCells); an RNN given a list of cells stacks them in one. A
    stack of one cell is refused where Keras mishandles its states (see `RNN._refuse_stacks_of_one`).
    Step output: the last cell's. Parameters: those of the cells, each built on the output size of the one
    before (the first on the input's features).
    """

    type: Literal["StackedRNNCells"]
    cells: list[_CellItem] = Field(
        min_length=1, description="The cells, in order: the first takes the layer's input at each timestep."
    )

    @model_validator(mode="after")
    def _cells_are_not_nodes(self) -> "StackedRNNCells":
        for cell in self.cells:
            _refuse_wrapped_name("StackedRNNCells", "cells", cell)
        return self

    def keras_kwargs(self) -> dict[str, Any]:
        """Keras takes the cells as built layers: each is built here, by its class and arguments, named by its
        place in the stack (unnamed, Keras would number it from a process-wide counter)."""
        return {
            "cells": [
                type(cell).keras_layer_class()(**cell.keras_kwargs(), name=f"cell_{i}")
                for i, cell in enumerate(self.cells)
            ]
        }

    def final_activation(self) -> str | None:
        return self.cells[-1].final_activation()

    def step(self, x: Tensor) -> Inferred:
        """One timestep through every cell in turn (see `_OneCell.step`)."""
        params = non_trainable = 0
        weights: Weights = ()
        for i, cell in enumerate(self.cells):
            inferred = cell.step(x)
            params, non_trainable = params + inferred.params, non_trainable + inferred.non_trainable
            weights += tuple((f"cells.{i}.{role}", shape) for role, shape in inferred.weights)
            x = inferred.output
        return Inferred(x, params, non_trainable, weights)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        raise _not_a_layer(self, inputs[0])


# `cells` refers to the class itself: resolved here, with the class's own configuration (`KspecModel`'s
# regex engine), rather than in whichever union first meets it.
StackedRNNCells.model_rebuild()


class _CellField(Layer):
    """RNN's first argument (a base of its own, so that it comes first in the schema, as in Keras)."""

    cell: _CellItem | Annotated[list[_CellItem], Field(min_length=1)] = Field(
        description="The cell run at each timestep: one cell, or a list of cells (stacked: each cell's output is "
        "the next cell's input).",
    )


class RNN(SequenceLoop, _CellField):
    """Runs a cell over the timesteps of a sequence: Keras's base recurrent layer.

    `cell` is one cell (`{type: LSTMCell, units: 8}`), a list of cells (stacked in a StackedRNNCells, as
    Keras does), or an explicit StackedRNNCells. The cells' initializers, regularizers and constraints land on
    their own weights.

    Input shape: 3-D `(batch, timesteps, features)`.
    Output shape: `(batch, timesteps, size)` with `return_sequences`, else `(batch, size)`, where `size` is the
    (last) cell's `units`.
    Parameters: those of the cell(s).
    """

    type: Literal["RNN"]
    unroll: Unroll = False
    zero_output_for_mask: bool = Field(
        False,
        description="With a mask and `return_sequences`: output zeros at masked timesteps (true) or repeat the "
        "last unmasked output (false). Bidirectional sets it to `return_sequences`.",
    )

    @field_validator("cell", mode="after")
    @classmethod
    def _stacked(cls, cell: Any) -> Any:
        """A list of cells is a StackedRNNCells, as Keras's RNN makes it."""
        return StackedRNNCells(type="StackedRNNCells", cells=cell) if isinstance(cell, list) else cell

    @model_validator(mode="after")
    def _cell_is_not_a_node(self) -> "RNN":
        _refuse_wrapped_name("RNN", "cell", self.cell)
        return self

    @property
    def the_cell(self) -> "SimpleRNNCell | LSTMCell | GRUCell | StackedRNNCells":
        """The cell (a list of cells is a StackedRNNCells once validated)."""
        assert not isinstance(self.cell, list)
        return self.cell

    def final_activation(self) -> str | None:
        return self.the_cell.final_activation()

    def _refuse_stacks_of_one(self, cell: Layer, nested: bool = False) -> None:
        """Keras's StackedRNNCells unwraps the states of a stack of one cell after each step (its list of one
        becomes the cell's own states), so the next step gets states of another structure: JAX's loop, and any
        loop over a mask, refuse that; an unrolled loop hands the next step the wrong states, and fails or
        silently skips cells, unless the stack is the layer's cell and its one cell has one state."""
        if not isinstance(cell, StackedRNNCells):
            return
        if len(cell.cells) == 1:
            where = "a StackedRNNCells of one cell (or a list of one cell)"
            hint = f"Give the cell itself rather than a stack of one. Received: cell={_shown_cell(self.the_cell)}"
            if not self.unroll:
                raise ShapeError(
                    f"Layer 'RNN' over {where}: Keras changes the structure of the stack's states after the first "
                    f"step, which a loop over a mask and JAX's loop refuse. {hint}",
                    field="cell",
                    backends=("jax",),
                )
            if nested or _state_count(cell.cells[0]) > 1:
                raise ShapeError(
                    f"Layer 'RNN' unrolled over {where}{' inside another stack' if nested else ' with several states'}: "
                    "Keras changes the structure of the stack's states after the first step, so the next step gets "
                    f"the wrong states and fails, or silently skips cells (for some batch sizes). {hint}",
                    field="cell",
                )
        for inner in cell.cells:
            self._refuse_stacks_of_one(inner, nested=True)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        features = self._sequence_input(x, unroll=self.unroll)
        self._refuse_stacks_of_one(self.the_cell)
        try:
            step = self.the_cell.step(Tensor((x.shape[0], features), x.dtype))
        except ShapeError as exc:
            raise _inner_field(exc, "cell") from None
        (size,) = step.output.shape[1:]
        shape = (x.shape[0], x.shape[1], size) if self.return_sequences else (x.shape[0], size)
        # the cells check their own arguments: the layer has none of its own to fit
        weights = tuple((f"cell.{role}", s) for role, s in step.weights)
        return Inferred(Tensor(shape, "float32"), step.params, step.non_trainable, weights)


def _state_count(cell: Layer) -> int:
    """How many state tensors a cell carries from one step to the next (an LSTM cell: h and c)."""
    if isinstance(cell, StackedRNNCells):
        return sum(_state_count(inner) for inner in cell.cells)
    return 2 if isinstance(cell, LSTMCell) else 1


def _shown_cell(cell: Layer) -> str:
    """A cell as written in a spec, by its types: `[LSTMCell, [GRUCell]]` for stacks."""
    if isinstance(cell, StackedRNNCells):
        return "[" + ", ".join(_shown_cell(inner) for inner in cell.cells) + "]"
    return cell.layer_type


RecurrentLayer = Annotated[
    LSTM | GRU | SimpleRNN | RNN,
    Field(
        discriminator="type",
        description="A recurrent layer (LSTM, GRU, SimpleRNN or RNN), without `name` or `inputs`.",
    ),
]


# ---- wrappers ------------------------------------------------------------------------------------


def _wrapped_infer(layer: Layer, inputs: list[Tensor], where: str) -> Inferred:
    """The wrapped layer's inference, with its arguments checked; its errors point at the wrapper's field that
    holds it."""
    try:
        return layer.apply(inputs)
    except ShapeError as exc:
        raise _inner_field(exc, where) from None


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
        "`return_sequences` and output size); default: a copy of `layer` with `go_backwards` flipped.",
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

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """Both directions, then their merge (one operation per output value, none for concat)."""
        backward = self.backward_layer if self.backward_layer is not None else self.layer
        halves = self.layer.flops(inputs, output) + backward.flops(inputs, output)
        return halves + (0 if self.merge_mode == "concat" else elements(output.shape))

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
        fwd = _wrapped_infer(forward, inputs, "layer")
        bwd = _wrapped_infer(backward, inputs, "backward_layer" if self.backward_layer is not None else "layer")
        if fwd.output.shape[-1] != bwd.output.shape[-1]:
            # Keras accepts this but declares the output with the forward layer's size only.
            raise ShapeError(
                "Forward layer and backward layer must have the same `units` (output size): Keras infers the output "
                f"shape from the forward layer. Received: {fwd.output.shape[-1]} for forward layer and "
                f"{bwd.output.shape[-1]} for backward layer",
                field="backward_layer",
            )
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

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """The wrapped layer's, on each timestep."""
        x = inputs[0]
        step = Tensor((x.shape[0],) + x.shape[2:], x.dtype)
        return (x.shape[1] or 1) * self.layer.flops([step], Tensor((output.shape[0],) + output.shape[2:], output.dtype))

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


LAYERS = (
    LSTM,
    GRU,
    SimpleRNN,
    RNN,
    SimpleRNNCell,
    LSTMCell,
    GRUCell,
    StackedRNNCells,
    Bidirectional,
    TimeDistributed,
)
