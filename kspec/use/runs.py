"""A finished run, opened for use: its directory, run.json, resolved spec, inference and backend.

`open_run` checks everything it can without Keras; `start_keras` then selects the run's backend and
imports Keras (quietly). Both raise `kspec.rundir.RunDirError` for a run that cannot be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import rundir
from ..rundir import RunDirError


@dataclass
class UsableRun:
    run_dir: Path
    info: dict  # run.json
    spec: Any  # the resolved Spec the run trained
    inference: Any
    backend: str

    def interface(self) -> dict:
        """interface.json ({} for a run written before kspec wrote one)."""
        return rundir.read_json(self.run_dir / rundir.INTERFACE)

    def class_names(self, output: str) -> list[str] | None:
        for item in self.interface().get("outputs", []):
            if item.get("name") == output:
                return item.get("class_names")
        return None


def open_run(path: str | Path) -> UsableRun:
    """The complete run in `path`, with its spec checked again (it must still validate)."""
    from ..check import check

    run_dir = rundir.open_complete(path)
    info = rundir.read_json(run_dir / rundir.RUN_JSON)
    report = check(run_dir / rundir.SPEC)
    if not report.ok or report.spec is None or report.inference is None:
        first = report.errors[0].message if report.errors else "it cannot be read"
        raise RunDirError(f"The run's resolved spec '{run_dir / rundir.SPEC}' does not validate: {first}")
    backend = str(info.get("backend") or "tensorflow")
    return UsableRun(run_dir, info, report.spec, report.inference, backend)


def start_keras(backend: str, run_dir: Path | None = None, verb: str = "Use") -> Any:
    """Keras, on the run's backend, with TensorFlow imported quietly (the input pipelines use it on every
    backend). The backend is chosen before Keras loads: with Keras already loaded on another backend in this
    process, RunDirError says to `verb` the run in a new process."""
    import sys

    from ..backends import DISPLAY
    from ..train import import_tensorflow_quietly
    from ..train.runtime import RuntimeSetupError, prepare_devices, select_backend

    if "keras" in sys.modules:
        import keras

        loaded = keras.backend.backend()
        if loaded != backend:
            raise RunDirError(
                f"The run in '{run_dir}' was trained with the {DISPLAY.get(backend, backend)} backend, but Keras is "
                f"already loaded in this process with the {DISPLAY.get(loaded, loaded)} backend; the backend is "
                f"chosen before Keras loads. {verb} it in a new process (KERAS_BACKEND={backend})."
            )
    try:
        select_backend(backend)
    except RuntimeSetupError as exc:
        raise RunDirError(str(exc)) from None
    import_tensorflow_quietly()
    prepare_devices(backend, None)  # TensorFlow (the input pipelines) keeps off the GPUs another backend uses
    import keras

    return keras


def load_model(run: UsableRun, *, compile: bool = True) -> Any:
    """The trained model, compiled as the spec compiles it (its loss, metrics and loss weights)."""
    keras = start_keras(run.backend, run.run_dir, "Evaluate")
    path = run.run_dir / rundir.MODEL
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - a damaged model file: say so, no traceback
        raise RunDirError(f"Cannot load the model '{path}': {exc}") from None
    if compile:
        from ..compile import compile_model

        compile_model(model, run.spec.training, steps_per_execution=1)
    return model


def first_line(exc: BaseException) -> str:
    """An exception's message in one line (a runtime's or converter's first line; its type when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
