"""Keras callbacks of kspec's own: per-epoch checkpoints for `--resume`, the NaN guard, and the
check that stops training for an interrupt a finalizer swallowed.

Imports Keras at module level: only `kspec.train.run` imports this, once training starts.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import keras

from ..rundir import CHECKPOINT
from . import artifacts


class Checkpointer(keras.callbacks.Callback):
    """At each epoch's end: the model with its optimizer state, the history and the run's status,
    each written atomically (the model first, so state.json never points past a complete file).
    With no run directory (a worker that is not the chief) it only keeps the history."""

    def __init__(self, run_dir: Path | None, history: dict[str, list[float]], run_info: dict) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.history = history
        self.run_info = run_info
        self.epochs_done = int(run_info["epochs_done"])
        self.epoch_seconds: list[float] = []  # wall time of each epoch of this process, checkpoint included
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for k, v in values.items() if k.endswith("loss")):
            return  # NanGuard stops training; the last finite checkpoint stays
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


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where (epoch, step, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.bad: tuple[int, int, float] | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad = (self.epoch, batch, float(loss))
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
