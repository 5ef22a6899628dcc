"""Stage: compile. The only module that builds Keras objects from a spec (Keras is imported lazily).

- `build_model(spec)`: `keras.Sequential` for the sequential form, a Functional model for the
  graph form (and for a sequential form with an operation: keras.Sequential takes layers only); layer names
  are the spec's names, shared nodes call one layer object. Operations (`ops.add`, ...) call their
  `keras.ops` function on the symbolic tensors, which makes the same Operation node as `x + 3.0`. After
  building, Keras's output shape and parameter counts of every layer call are compared with the
  checker's static inference; any difference is a kspec bug and raises `KspecBug`.
- `compile_model(model, training)`: `model.compile` from the `training` section (`kspec.keras_objects`, which
  builds the optimizer, losses and metrics), with its `jit_compile`.
- `training.precision`: the layers are built under that Keras dtype policy (set for the build, then restored),
  and each model output is computed in float32 (the mixed-precision guide's float32 output layer): the layer or
  operation that makes an output computes in float32. The model's own policy is the mixed one, so under
  mixed_float16 `model.compile` wraps the optimizer in a LossScaleOptimizer (unless the spec's is one).

Only classes of `keras.layers`, `keras.optimizers`, `keras.losses`, `keras.metrics` and
`keras.callbacks` whose names are in the closed sets of `kspec.spec` are instantiated; a spec can
never name Python code.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from . import keras_objects
from .diagnostics import format_path
from .infer import Inference, infer
from .keras_objects import auto_steps_per_execution
from .spec import Spec
from .spec.layers import Layer, shape_str
from .spec.layers.ops import Op
from .spec.training import Training

__all__ = [
    "KspecBug",
    "OpCall",
    "assert_agrees",
    "auto_steps_per_execution",
    "build_layer",
    "build_model",
    "call_layer",
    "compile_model",
    "dtype_policy",
]


class KspecBug(RuntimeError):
    """Keras disagrees with kspec's static inference: a bug in kspec's shape or parameter rules."""


def build_layer(layer: Layer, name: str | None = None) -> Any:
    """The Keras layer for a layer spec: a class of `keras.layers` named by the closed layer set,
    or the class an installed plugin registered for its own layer type; for an operation (`ops.add`, ...),
    an `OpCall` that calls its `keras.ops` function."""
    if isinstance(layer, Op):
        return OpCall(layer, name or layer.name)
    if name and not layer.name:  # the name the compiler gives it: what its nested layers are named after (Pipeline)
        layer = layer.model_copy(update={"name": name})
    kwargs = layer.keras_kwargs()
    outer = name or layer.name
    for field_name, value in layer:
        if isinstance(value, Layer):
            # A wrapped layer named after its wrapper: unnamed, Keras would number it from a process-wide
            # counter, and the same spec built twice would give different layer names.
            kwargs[field_name] = build_layer(value, f"{outer}_{field_name}" if outer and not value.name else None)
    if name or layer.name:
        kwargs["name"] = name or layer.name
    return type(layer).keras_layer_class()(**kwargs)


class OpCall:
    """An operation of a spec as Keras runs it: its `keras.ops` function, called on the tensors. On symbolic
    tensors the call makes one Operation node of the Functional model (what `x + 3.0` makes), which is given the
    node's name; an operation has no weights, so nothing is shared between two calls."""

    weights: tuple = ()
    trainable_weights: tuple = ()
    non_trainable_weights: tuple = ()

    def __init__(self, op: Op, name: str | None):
        self.op = op
        self.name = name

    def count_params(self) -> int:
        return 0

    def __call__(self, *tensors: Any, training: Any = None) -> Any:
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tuple(tensors[0])
        output = self.op.keras_call(list(tensors))
        history = getattr(output, "_keras_history", None)
        operation = getattr(history, "operation", None)
        if self.name and operation is not None and all(output is not t for t in tensors):
            operation.name = self.name
        return output


def call_layer(layer: Layer, keras_layer: Any, tensors: list) -> Any:
    """Apply a Keras layer (or an `OpCall`) to its input tensors the way that layer type is called."""
    if len(tensors) == 1:
        return keras_layer(tensors[0])
    if layer.call_style == "positional":
        return keras_layer(*tensors)
    return keras_layer(list(tensors))


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras's global dtype policy set to `name` inside the block, and restored after it (also on an error): the
    layers and models made inside take it, and nothing leaks to a later build in the process."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def build_model(spec: Spec, inference: Inference | None = None, *, file: str | None = None) -> Any:
    """The Keras model for a validated Spec, checked against the static inference, built under the dtype policy
    of `training.precision` (the layer or operation that makes each output computes in float32).

    Raises `KspecBug` when Keras's shapes or parameter counts differ from kspec's, and
    `ValueError` when the inference has errors (check the spec first: `kspec.load_spec`).
    """
    inference = inference or infer(spec)
    if inference.diagnostics or not inference.complete:
        first = inference.diagnostics[0].message if inference.diagnostics else "incomplete inference"
        raise ValueError(f"The spec has errors; check it with `kspec validate` first. First error: {first}")
    precision = spec.training.precision
    with dtype_policy(precision):
        built: list[tuple[Any, Any, Any]] = []  # (node, keras layer, output tensor)
        model = _build(spec, inference, built, mixed=precision != "float32")
    assert_agrees(model, built, inference, file=file, output_dtypes=precision != "float32")
    return model


def _build(spec: Spec, inference: Inference, built: list[tuple[Any, Any, Any]], *, mixed: bool) -> Any:
    """The model, under the global dtype policy; with `mixed`, the layers that make outputs are built under
    float32, an operation that makes one gets its floating-point inputs in float32, and a shared layer's
    later call that is an output ends in a float32 Identity."""
    import keras

    outputs_at = set(inference.outputs) if mixed else set()

    def make(node: Any) -> Any:
        if node.name not in outputs_at:
            return build_layer(node.layer, node.name)
        with dtype_policy("float32"):
            return build_layer(node.layer, node.name)

    # keras.Sequential takes layers only: a sequential spec with an operation builds a Functional model.
    if inference.sequential and not any(isinstance(node.layer, Op) for node in inference.nodes):
        ((name, tensor),) = inference.inputs.items()
        layers = [keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=name)]
        for node in inference.nodes:
            layers.append(make(node))
        model = keras.Sequential(layers, name=spec.name)
        for node, klayer in zip(inference.nodes, model.layers):
            built.append((node, klayer, klayer.output))
        return model
    tensors: dict[str, Any] = {
        name: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name) for name, t in inference.inputs.items()
    }
    keras_layers: dict[str, Any] = {}
    for node in inference.nodes:
        if node.shares is not None:
            klayer = keras_layers[node.shares]
            if isinstance(klayer, OpCall):  # an operation called again: a new node, with this node's name
                klayer = OpCall(klayer.op, node.name)
        else:
            klayer = keras_layers[node.name] = make(node)
        inputs = [tensors[r] for r in node.inputs]
        if isinstance(klayer, OpCall) and node.name in outputs_at:
            inputs = [_float32(t) for t in inputs]
        tensors[node.name] = call_layer(node.layer, klayer, inputs)
        built.append((node, klayer, tensors[node.name]))
    outputs = []
    for name in inference.outputs:
        output = inference.node(name)
        if output is not None and output.shares is not None and not isinstance(output.layer, Op):
            # Keras names an output after the layer that made it, so a shared layer's later call would be
            # known by the first call's name (the loss, metrics and labels are keyed by the node's name); an
            # operation's second call is a new Operation, with the node's name already
            identity = keras.layers.Identity(name=name, dtype="float32" if mixed else None)
            outputs.append(identity(tensors[name]))
        else:
            outputs.append(tensors[name])
    inputs = [tensors[name] for name in inference.inputs]
    if inference.sequential:  # one input, taken as keras.Sequential takes it (a tensor, not a list of one)
        (single,) = inputs
        return keras.Model(inputs=single, outputs=outputs[0], name=spec.name)
    return keras.Model(inputs=inputs, outputs=outputs, name=spec.name)


def _float32(tensor: Any) -> Any:
    """A half-precision tensor cast to float32 (an unnamed Operation node, as `x + 3.0` makes); others as they are."""
    import keras

    if keras.backend.standardize_dtype(tensor.dtype) in ("float16", "bfloat16"):
        return keras.ops.cast(tensor, "float32")
    return tensor


def compile_model(
    model: Any, training: Training, *, steps_per_execution: int | None = None, jit_compile: Any = None
) -> Any:
    """`model.compile` from the training section (`kspec.keras_objects.compile_model`), with its `jit_compile`
    (or this one). Loss scaling is Keras's: under a mixed_float16 model policy (`build_model` gives the model the
    spec's precision) `model.compile` wraps the optimizer in a LossScaleOptimizer unless it is one already."""
    return keras_objects.compile_model(
        model,
        training,
        steps_per_execution=steps_per_execution,
        jit_compile=training.jit_compile if jit_compile is None else jit_compile,
    )


def assert_agrees(
    model: Any,
    built: list[tuple[Any, Any, Any]],
    inference: Inference,
    *,
    file: str | None = None,
    output_dtypes: bool = False,
) -> None:
    """Every layer call's output shape and every layer's parameter counts equal kspec's; with `output_dtypes`
    (a mixed precision, whose outputs are cast to float32), every model output's dtype too; else `KspecBug`."""
    problems = []
    if output_dtypes:
        import keras

        for name, tensor in zip(inference.outputs, model.outputs):
            got = keras.backend.standardize_dtype(tensor.dtype)
            inferred = inference.output_tensors[name]
            want = inferred.dtype if inferred is not None else got
            if got != want:
                problems.append(f"output '{name}': Keras's dtype is {got}, kspec inferred {want}")
    for node, klayer, output in built:
        where = f"{file + ': ' if file else ''}{format_path(node.path)} ('{node.name}', {node.layer_type})"
        got = tuple(output.shape)
        if got != node.output.shape:
            problems.append(
                f"{where}: Keras's output shape is {shape_str(got)}, kspec inferred {shape_str(node.output.shape)}"
            )
        if node.shares is None:
            total = klayer.count_params()
            non_trainable = sum(math.prod(w.shape) for w in klayer.non_trainable_weights)
            if (total, non_trainable) != (node.params, node.non_trainable):
                problems.append(
                    f"{where}: Keras counts {total:,} parameters ({non_trainable:,} non-trainable), "
                    f"kspec inferred {node.params:,} ({node.non_trainable:,} non-trainable)"
                )
    if not problems and model.count_params() != inference.total_params:
        problems.append(
            f"the model has {model.count_params():,} parameters in Keras, kspec inferred {inference.total_params:,}"
        )
    if problems:
        raise KspecBug(
            "kspec bug: Keras built the model differently from kspec's static inference, so `kspec validate` "
            f"would have reported wrong shapes or parameter counts. {'; '.join(problems)}. "
            "Please report it to the kspec maintainers together with the spec."
        )
