"""The run directory: the one place that knows its layout, its lock and where resumable runs are.

A run directory is the contract between training and everything after it (`kspec predict`,
`evaluate`, `export`): it holds the model, the preprocessing the loaders learned from the data and
a description of the model's inputs and outputs, so that nothing else is needed to use the model.

    run.json            status (running, interrupted, failed, complete), epochs done, seed, timings
    spec.yaml           the resolved spec: overrides applied, every default filled in, the seed fixed
    interface.json      the model's inputs and outputs and the raw forms they accept (see kspec.use.interface)
    preprocessing/      what the data loaders learned: the text vocabulary (vocabulary.txt)
    model.keras         the trained model (keras.saving.load_model), adapted layers' state included
    serving.keras       the model with its preprocessing in front: it takes raw inputs (strings, decoded images)
    saved_model/        SavedModel export for serving (TensorFlow backend)
    history.csv/.json   per-epoch loss and metrics (training and validation)
    metrics.json        final metrics: last epoch's, and the held-out test split's
    curves.png          training curves
    summary.txt         the model's layers, shapes and parameters (the same figures as `kspec summary`)
    model.dot (+.png)   the model graph (PNG where Graphviz's `dot` is installed)
    checkpoint/         the last complete epoch (model + optimizer state), while the run is unfinished
    export/FORMAT/      `kspec export`: the exported model and its parity.json
    evaluation.json     `kspec evaluate`'s last report
    events.json         what the callbacks did, by epoch (learning rate lowered, early stop, best checkpoint)
    analysis.json       the model on its test split, for the report (kspec.report.analysis)
    report.html         the report: one self-contained page (kspec.report)

This module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RUNS_DIR = "runs"
RUN_JSON = "run.json"
SPEC = "spec.yaml"
INTERFACE = "interface.json"
PREPROCESSING = "preprocessing"
VOCABULARY = "vocabulary.txt"
MODEL = "model.keras"
SERVING = "serving.keras"
SAVED_MODEL = "saved_model"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
METRICS = "metrics.json"
CURVES = "curves.png"
SUMMARY = "summary.txt"
DOT = "model.dot"
DOT_PNG = "model.png"
CHECKPOINT = "checkpoint"
CHECKPOINT_STATE = "state.json"
EXPORT = "export"
EVALUATION = "evaluation.json"
EVENTS = "events.json"
ANALYSIS = "analysis.json"
REPORT = "report.html"
LOCK = ".lock"

#: What kspec itself writes at the top of a run directory; the spec's callbacks may not write there.
RUN_FILES = (
    RUN_JSON,
    SPEC,
    INTERFACE,
    PREPROCESSING,
    MODEL,
    SERVING,
    SAVED_MODEL,
    HISTORY_CSV,
    HISTORY_JSON,
    METRICS,
    CURVES,
    SUMMARY,
    DOT,
    DOT_PNG,
    CHECKPOINT,
    EXPORT,
    EVALUATION,
    EVENTS,
    ANALYSIS,
    REPORT,
    LOCK,
)


class RunDirError(Exception):
    """A run directory that cannot be used as asked: one paragraph for the user, and an exit code."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def read_json(path: Path) -> dict:
    """A JSON object from `path`, or {} when it is missing or unreadable."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def new_run_dir(spec_name: str, output: str | None) -> Path:
    """Where a new run goes: `--output`, else `runs/NAME-YYYYmmdd-HHMMSS` (with `-2`, `-3`... when taken)."""
    if output:
        return Path(output)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(RUNS_DIR) / f"{spec_name}-{stamp}"
    n = 1
    while run_dir.exists():  # two runs started in the same second
        n += 1
        run_dir = Path(RUNS_DIR) / f"{spec_name}-{stamp}-{n}"
    return run_dir


def check_new(run_dir: Path) -> None:
    """A new run needs a directory that does not exist, or an empty one; kspec never overwrites a run."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"Cannot use '{run_dir}' as the run directory: it is a file. Choose another --output.")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if (run_dir / RUN_JSON).exists():
            status = read_json(run_dir / RUN_JSON).get("status", "unknown")
            raise RunDirError(
                f"The run directory '{run_dir}' already holds a run (status: {status}); kspec never overwrites one. "
                f"Continue it with --resume, or choose another --output."
            )
        raise RunDirError(f"The run directory '{run_dir}' exists and is not empty; choose another --output.")
    for parent in run_dir.absolute().parents:
        if parent.exists():
            if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                raise RunDirError(
                    f"Cannot create the run directory '{run_dir}': '{parent}' is not a writable directory. "
                    "Choose another --output."
                )
            break


def create(run_dir: Path) -> Path:
    """Make the (checked) run directory and prove it writable."""
    check_new(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".kspec-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(
            f"Cannot write the run directory '{run_dir}': {exc.strerror or exc}. Choose a writable --output."
        ) from None
    return run_dir


def find_resumable(spec_name: str, output: str | None) -> Path:
    """The run `--resume` continues: `--output`, else the newest unfinished run of the spec under runs/."""
    if output:
        run_dir = Path(output)
        if not (run_dir / RUN_JSON).is_file():
            raise RunDirError(f"Nothing to resume: '{run_dir}' holds no kspec run (no {RUN_JSON}).")
        return run_dir
    candidates = sorted(Path(RUNS_DIR).glob(f"{spec_name}-*/{RUN_JSON}"), key=lambda p: p.stat().st_mtime)
    unfinished = [p.parent for p in candidates if read_json(p).get("status") != "complete"]
    if not unfinished:
        raise RunDirError(
            f"Nothing to resume: no unfinished run of '{spec_name}' under '{RUNS_DIR}/'. "
            "Give the run directory with --output DIR --resume."
        )
    return unfinished[-1]


def open_complete(path: str | Path) -> Path:
    """A finished run's directory, for predict, evaluate and export: it must hold a complete run and its model."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RunDirError(f"'{run_dir}' is not a directory; expected a kspec run directory (it holds {RUN_JSON}).")
    info = run_dir / RUN_JSON
    if not info.is_file():
        raise RunDirError(f"'{run_dir}' holds no kspec run: it has no {RUN_JSON}. Give the directory a run wrote.")
    status = read_json(info).get("status", "unknown")
    if status != "complete" or not (run_dir / MODEL).is_file():
        raise RunDirError(
            f"The run in '{run_dir}' is not complete (status: {status}), so it has no final model; "
            "finish it with `kspec build-and-train SPEC --output DIR --resume`."
        )
    return run_dir


def inside(run_dir: Path, relative: str) -> Path:
    """A path from the spec (callback files), checked to stay inside the run directory; its parent is made."""
    target = (run_dir / relative).resolve()
    if not target.is_relative_to(run_dir.resolve()):
        raise RunDirError(f"The path '{relative}' would leave the run directory '{run_dir}'.")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


class Lock:
    """One process per run directory: a second `--resume` while the run is still going is refused.
    Held from the moment the directory is chosen until the work on it ends (`release`)."""

    def __init__(self) -> None:
        self.handle: Any = None

    def acquire(self, run_dir: Path) -> None:
        import fcntl

        try:
            handle = open(run_dir / LOCK, "a+")  # noqa: SIM115 - closed by release()
        except OSError as exc:
            raise RunDirError(
                f"Cannot use the run directory '{run_dir}': its lock file cannot be opened ({exc.strerror or exc}); "
                "kspec needs to write in it."
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise RunDirError(
                f"The run in '{run_dir}' is in use by another kspec process; wait for it to finish or stop it first."
            ) from None
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the flock
            self.handle = None
