"""Stage: compile. The only module that builds Keras objects from a spec (Keras is imported lazily).

- `build_model(spec)`: `keras.Sequential` for the sequential form, a Functional model for the
  graph form; layer names are the spec's names, shared nodes call one layer object. After
  building, Keras's output shape and parameter counts of every layer call are compared with the
  checker's static inference; any difference is a kspec bug and raises `KspecBug`.
- `compile_model(model, training)`: `model.compile` from the `training` section.

Only classes of `keras.layers`, `keras.optimizers`, `keras.losses`, `keras.metrics` and
`keras.callbacks` whose names are in the closed sets of `kspec.spec` are instantiated; a spec can
never name Python code.
"""

from __future__ import annotations

import math
from typing import Any

from .diagnostics import format_path
from .infer import Inference, infer
from .spec import Spec
from .spec.layers import Layer, shape_str
from .spec.training import Training


class KspecBug(RuntimeError):
    """Keras disagrees with kspec's static inference: a bug in kspec's shape or parameter rules."""


def build_layer(layer: Layer, name: str | None = None) -> Any:
    """The Keras layer for a layer spec: a class of `keras.layers` named by the closed layer set,
    or the class an installed plugin registered for its own layer type."""
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


def call_layer(layer: Layer, keras_layer: Any, tensors: list) -> Any:
    """Apply a Keras layer to its input tensors the way that layer type is called."""
    if len(tensors) == 1:
        return keras_layer(tensors[0])
    if layer.call_style == "positional":
        return keras_layer(*tensors)
    return keras_layer(list(tensors))


def build_model(spec: Spec, inference: Inference | None = None, *, file: str | None = None) -> Any:
    """The Keras model for a validated Spec, checked against the static inference.

    Raises `KspecBug` when Keras's shapes or parameter counts differ from kspec's, and
    `ValueError` when the inference has errors (check the spec first: `kspec.load_spec`).
    """
    import keras

    inference = inference or infer(spec)
    if inference.diagnostics or not inference.complete:
        first = inference.diagnostics[0].message if inference.diagnostics else "incomplete inference"
        raise ValueError(f"The spec has errors; check it with `kspec validate` first. First error: {first}")

    built: list[tuple[Any, Any, Any]] = []  # (node, keras layer, output tensor)
    if inference.sequential:
        ((name, tensor),) = inference.inputs.items()
        layers = [keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=name)]
        for node in inference.nodes:
            layers.append(build_layer(node.layer, node.name))
        model = keras.Sequential(layers, name=spec.name)
        for node, klayer in zip(inference.nodes, model.layers):
            built.append((node, klayer, klayer.output))
    else:
        tensors: dict[str, Any] = {
            name: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name) for name, t in inference.inputs.items()
        }
        keras_layers: dict[str, Any] = {}
        for node in inference.nodes:
            if node.shares is not None:
                klayer = keras_layers[node.shares]
            else:
                klayer = keras_layers[node.name] = build_layer(node.layer, node.name)
            tensors[node.name] = call_layer(node.layer, klayer, [tensors[r] for r in node.inputs])
            built.append((node, klayer, tensors[node.name]))
        outputs = []
        for name in inference.outputs:
            output = inference.node(name)
            if output is not None and output.shares is not None:
                # Keras names an output after the layer that made it, so a shared layer's later call would be
                # known by the first call's name (the loss, metrics and labels are keyed by the node's name)
                outputs.append(keras.layers.Identity(name=name)(tensors[name]))
            else:
                outputs.append(tensors[name])
        model = keras.Model(inputs=[tensors[name] for name in inference.inputs], outputs=outputs, name=spec.name)
    assert_agrees(model, built, inference, file=file)
    return model


def assert_agrees(
    model: Any, built: list[tuple[Any, Any, Any]], inference: Inference, *, file: str | None = None
) -> None:
    """Every layer call's output shape and every layer's parameter counts equal kspec's; else `KspecBug`."""
    problems = []
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


# ---- training objects ------------------------------------------------------------------------


def _object(module: Any, value: Any) -> Any:
    """A Keras object from a name (Keras resolves it) or a `{type: ...}` model (a class of `module`)."""
    if isinstance(value, str):
        return value
    config = value.to_keras()["config"]
    for key, item in config.items():
        if isinstance(item, dict) and "class_name" in item:  # a learning-rate schedule
            import keras

            config[key] = getattr(keras.optimizers.schedules, item["class_name"])(**item["config"])
    return getattr(module, value.type)(**config)


def optimizer(training: Training) -> Any:
    import keras

    if isinstance(training.optimizer, str):
        return keras.optimizers.get(training.optimizer)
    return _object(keras.optimizers, training.optimizer)


def losses(training: Training) -> Any:
    import keras

    if isinstance(training.loss, dict):
        return {name: _object(keras.losses, loss) for name, loss in training.loss.items()}
    return _object(keras.losses, training.loss)


def metrics(training: Training, outputs: list[str] | None = None) -> Any:
    """The metrics for `model.compile`. A list applies to every output: with several outputs, each gets its
    own metric objects (Keras reads a flat list as one metric per output)."""
    import keras

    if isinstance(training.metrics, dict):
        return {name: [_object(keras.metrics, m) for m in ms] for name, ms in training.metrics.items()}
    if outputs and len(outputs) > 1:
        return {name: [_object(keras.metrics, m) for m in training.metrics] for name in outputs}
    return [_object(keras.metrics, m) for m in training.metrics]


AUTO_STEPS_PER_EXECUTION = 32


def auto_steps_per_execution(training: Training, steps_per_epoch: int | None = None) -> int:
    """The spec's steps_per_execution; 'auto' is 32 steps per call, at most one epoch's steps. Always 1 on the
    PyTorch backend, where Keras runs one step per call (and refuses more)."""
    import keras

    if keras.backend.backend() == "torch":
        return 1
    if training.steps_per_execution != "auto":
        spe = training.steps_per_execution
    else:
        spe = AUTO_STEPS_PER_EXECUTION
    return max(1, min(spe, steps_per_epoch)) if steps_per_epoch else spe


def compile_model(
    model: Any, training: Training, *, steps_per_execution: int | None = None, jit_compile: Any = "auto"
) -> Any:
    """`model.compile` from the training section: optimizer (with its schedule), losses per output,
    loss weights, metrics, steps_per_execution."""
    model.compile(
        optimizer=optimizer(training),
        loss=losses(training),
        loss_weights=dict(training.loss_weights) if training.loss_weights else None,
        metrics=metrics(training, list(getattr(model, "output_names", None) or [])),
        steps_per_execution=steps_per_execution or auto_steps_per_execution(training),
        jit_compile=jit_compile,
    )
    return model
