"""Stage: compile, the training half: the Keras optimizer, losses and metrics of a spec's `training` section,
and `model.compile` (Keras is imported lazily).

Only classes of `keras.optimizers`, `keras.losses` and `keras.metrics` whose names are in the closed sets of
`kspec.spec` are instantiated; a spec can never name Python code.
"""

from __future__ import annotations

from typing import Any

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
