"""Stage: compile, the training half: the Keras optimizer, losses and metrics of a spec's `training` section,
and `model.compile` (Keras is imported lazily).

Only classes of `keras.optimizers`, `keras.losses` and `keras.metrics` whose names are in the closed sets of
`kspec.spec` are instantiated; a spec can never name Python code. The layers an optimizer names (MultiOptimizer's
`optimizer_map`, Muon's `exclude_layers`) become patterns that match exactly the paths of those layers' weights
in the built model.
"""

from __future__ import annotations

from typing import Any

from .spec.optimizers import layer_pattern
from .spec.training import Training


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


def _paths(model: Any, name: str) -> list[str]:
    """The paths of the trainable weights of the model's layer `name` (a name semantics checked)."""
    if model is None:
        raise ValueError(f"The optimizer names the layer '{name}': building it needs the model.")
    return [v.path for v in model.get_layer(name).trainable_variables]


def _optimizer(value: Any, model: Any) -> Any:
    import keras

    if isinstance(value, str):
        return keras.optimizers.get(value)
    kind = value.type
    if kind == "LossScaleOptimizer":
        return keras.optimizers.LossScaleOptimizer(
            _optimizer(value.inner_optimizer, model),
            initial_scale=value.initial_scale,
            dynamic_growth_steps=value.dynamic_growth_steps,
        )
    if kind == "MultiOptimizer":
        mapping = {
            layer_pattern(_paths(model, name)): _optimizer(inner, model) for name, inner in value.optimizer_map.items()
        }
        optimizer_map = keras.optimizers.OptimizerMap(_optimizer(value.default_optimizer, model), mapping)
        return keras.optimizers.MultiOptimizer(optimizer_map, loss_scale_factor=value.loss_scale_factor)
    if kind == "Muon" and value.exclude_layers:
        optimizer = _object(keras.optimizers, value.model_copy(update={"exclude_layers": []}))
        optimizer.exclude_layers = [layer_pattern(_paths(model, name)) for name in value.exclude_layers]
        return optimizer
    return _object(keras.optimizers, value)


def optimizer(training: Training, model: Any = None) -> Any:
    """The Keras optimizer of the training section; `model` (built) resolves the layers it names."""
    return _optimizer(training.optimizer, model)


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
        optimizer=optimizer(training, model),
        loss=losses(training),
        loss_weights=dict(training.loss_weights) if training.loss_weights else None,
        metrics=metrics(training, list(getattr(model, "output_names", None) or [])),
        steps_per_execution=steps_per_execution or auto_steps_per_execution(training),
        jit_compile=jit_compile,
    )
    return model
