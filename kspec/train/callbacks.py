"""Keras callbacks of kspec's own: per-epoch checkpoints for `--resume`, the guard against a non-finite
loss or non-finite weights, and the check that stops training for an interrupt a finalizer swallowed.

Imports Keras at module level: only `kspec.train.run` imports this, once training starts.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from ..rundir import CHECKPOINT
from . import artifacts


class Checkpointer(keras.callbacks.Callback):
    """At each epoch's end: the model with its optimizer state, the history and the run's status,
    each written atomically (the model first, so state.json never points past a complete file).
    With no run directory (a worker that is not the chief) it only keeps the history.

    An epoch whose loss or weights are not finite is not checkpointed (the last finite one stays). Given
    the run's `guard` (a NanGuard placed before it in the callbacks, so it has checked the epoch already),
    it asks the guard; without one it checks the weights itself."""

    def __init__(
        self,
        run_dir: Path | None,
        history: dict[str, list[float]],
        run_info: dict,
        guard: NanGuard | None = None,
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.history = history
        self.run_info = run_info
        self.guard = guard
        self.epochs_done = int(run_info["epochs_done"])
        self.epoch_seconds: list[float] = []  # wall time of each epoch of this process, checkpoint included
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for k, v in values.items() if k.endswith("loss")):
            return  # NanGuard stops training; the last finite checkpoint stays
        if self.guard is not None:
            if self.guard.bad is not None:
                return
        elif nonfinite_weight(self.model) is not None:
            return
        done = len(next(iter(self.history.values()))) if self.history else 0
        for key, value in values.items():
            self.history.setdefault(key, [math.nan] * done).append(value)
        for series in self.history.values():  # a key missing this epoch
            if len(series) < done + 1:
                series.append(math.nan)
        self.epochs_done = epoch + 1
        self.run_info["epochs_done"] = self.epochs_done
        if self.run_dir is None:  # a multi-worker process: it saves in step with the chief (artifacts.save_model)
            artifacts.save_model(self.model, None)
        else:
            ckpt = self.run_dir / CHECKPOINT
            ckpt.mkdir(exist_ok=True)
            artifacts.save_model(self.model, ckpt / "model.keras")
            artifacts.write_json(ckpt / "state.json", {"epochs_done": self.epochs_done, "history": self.history})
            artifacts.write_json(self.run_dir / "run.json", self.run_info)
        self.epoch_seconds.append(round(time.perf_counter() - self._started, 4))


class NonFinite(NamedTuple):
    """Where training went non-finite: unpacks as (epoch, step, value)."""

    epoch: int  # counting from 0
    step: int  # counting from 0 within the epoch: the step whose loss was not finite, or the epoch's last step
    value: float  # the non-finite loss, or the first non-finite value of the weights (nan, inf or -inf)


class WeightProblem(NamedTuple):
    layer: str  # the layer that owns the variable (its path when no layer of the model does)
    variable: str  # the variable's own name, e.g. "kernel"
    value: float  # its first non-finite value


def _owners(model: Any) -> dict[int, str]:
    """id(variable) -> the name of the innermost layer of `model` (nested models searched) that owns it."""
    owners: dict[int, str] = {}

    def visit(layer: Any) -> None:
        for inner in getattr(layer, "layers", None) or []:
            visit(inner)
        for variable in layer.weights:
            owners.setdefault(id(variable), layer.name)

    for layer in model.layers:
        visit(layer)
    return owners


def nonfinite_weight(model: Any) -> WeightProblem | None:
    """The first floating-point weight of `model` (trainable or not) that holds NaN or infinity, else None.

    Each variable is reduced to one boolean where it lives (keras.ops: any backend or distribution) and the
    booleans come to the host together; only a variable found non-finite is copied whole, for its first bad value.
    """
    variables = [v for v in model.weights if keras.backend.is_float_dtype(v.dtype)]
    if not variables:
        return None
    finite = keras.ops.stack([keras.ops.all(keras.ops.isfinite(v.value)) for v in variables])
    flags = np.asarray(keras.ops.convert_to_numpy(finite)).reshape(-1)
    if flags.all():
        return None
    variable = variables[int(np.argmin(flags))]
    values = np.asarray(keras.ops.convert_to_numpy(variable.value), dtype=np.float64).reshape(-1)
    bad = values[~np.isfinite(values)]
    layer = _owners(model).get(id(variable), variable.path.rsplit("/", 1)[0])
    return WeightProblem(layer, variable.name, float(bad[0]) if bad.size else math.nan)


class NanGuard(keras.callbacks.Callback):
    """Stops training when the loss or the weights become non-finite, and records where.

    The loss is read at each step's end (from the logs: no extra work); every weight is checked once an
    epoch, at its end (NanGuard goes before the Checkpointer, which then writes no checkpoint for it).
    `bad` is None while all is finite, else a NonFinite (epoch, step, value), and `reason` says what
    went non-finite, ready for a message: "the loss became nan" or "the weights of layer 'dense_1'
    became non-finite (its kernel holds nan)".
    """

    def __init__(self) -> None:
        super().__init__()
        self.bad: NonFinite | None = None
        self.reason = ""
        self.epoch = 0
        self.step = 0  # the last step seen in this epoch, counting from 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step = batch
        loss = (logs or {}).get("loss")
        if self.bad is None and loss is not None and not math.isfinite(float(loss)):
            self.bad = NonFinite(self.epoch, batch, float(loss))
            self.reason = f"the loss became {float(loss)}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.bad is not None:
            return
        problem = nonfinite_weight(self.model)
        if problem is not None:
            self.bad = NonFinite(epoch, self.step, problem.value)
            self.reason = f"the weights of layer '{problem.layer}' became non-finite (its {problem.variable} holds {problem.value})"
            self.model.stop_training = True


class InterruptCheck(keras.callbacks.Callback):
    """Raises, at the end of the next step or epoch, a Ctrl-C or SIGTERM that arrived while a finalizer
    ran and was swallowed there (see `run._Interrupts`). Goes last, after the Checkpointer."""

    def __init__(self, interrupts: Any) -> None:
        super().__init__()
        self.interrupts = interrupts

    def on_train_batch_end(self, batch, logs=None):
        self.interrupts.check()

    def on_test_batch_end(self, batch, logs=None):
        self.interrupts.check()

    def on_epoch_end(self, epoch, logs=None):
        self.interrupts.check()


def _learning_rate(model: Any) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None


class EventLog(keras.callbacks.Callback):
    """What the callbacks did, by epoch (from 1), for the report's curves: the learning rate lowered
    (ReduceLROnPlateau, LearningRateScheduler), a better model checkpointed (ModelCheckpoint with
    save_best_only), training stopped early (EarlyStopping, a tuning pruner) and its best weights restored.

    Goes after the spec's callbacks (it reads what they did) and before InterruptCheck. `events` holds the
    events of earlier sessions of the run (after a --resume); all are written to `path` (events.json) at each
    epoch's end, atomically."""

    def __init__(self, path: Path | None, events: list[dict], callbacks: list) -> None:
        super().__init__()
        self.path = path
        self.events = events
        self.watched = [c for c in callbacks if c is not self]
        self._lr: float | None = None
        self._best: dict[int, Any] = {}

    def _add(self, epoch: int, kind: str, text: str) -> None:
        self.events.append({"epoch": epoch, "kind": kind, "text": text})

    def _of(self, kind: type) -> list:
        return [c for c in self.watched if isinstance(c, kind)]

    def on_train_begin(self, logs=None):
        self._lr = _learning_rate(self.model)  # then at each epoch's end: a scheduler sets it at an epoch's begin

    def on_epoch_begin(self, epoch, logs=None):
        self._best = {id(c): c.best for c in self._of(keras.callbacks.ModelCheckpoint) if c.save_best_only}

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        schedulers = self._of(keras.callbacks.ReduceLROnPlateau) + self._of(keras.callbacks.LearningRateScheduler)
        lr = _learning_rate(self.model)
        if schedulers and lr is not None and self._lr is not None and lr != self._lr:
            by = type(schedulers[0]).__name__
            self._add(number, "lr", f"learning rate {self._lr:.3g} → {lr:.3g} ({by})")
        self._lr = lr
        for c in self._of(keras.callbacks.ModelCheckpoint):
            if c.save_best_only and id(c) in self._best and c.best != self._best[id(c)]:
                self._add(
                    number,
                    "checkpoint",
                    f"best {c.monitor} {float(c.best):.4g}: checkpoint saved ({Path(c.filepath).name})",
                )
        if self.model.stop_training:
            self._add(number, *self._why_stopped(epoch))
        if self.path is not None:
            artifacts.write_json(self.path, self.events)

    def _why_stopped(self, epoch: int) -> tuple[str, str]:
        for c in self.watched:
            if isinstance(c, NanGuard) and c.bad is not None:
                return "nan", f"stopped: {c.reason}"
            if getattr(c, "pruned_at", None) == epoch + 1:
                return "prune", "pruned by the tuner: this trial's objective fell behind"
        for c in self._of(keras.callbacks.EarlyStopping):
            if c.stopped_epoch == epoch and epoch > 0:  # stopped_epoch starts at 0; Keras never stops at epoch 0
                text = f"early stop: {c.monitor} did not improve for {c.patience} epoch(s)"
                if c.restore_best_weights and c.best_epoch is not None:
                    text += f"; the weights of epoch {c.best_epoch + 1} restored"
                return "early_stop", text
        return "early_stop", "training stopped by a callback"
