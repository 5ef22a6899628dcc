"""`kspec build-and-train` as a user runs it: a separate process, its exit code, its stderr (one
paragraph per error, never a traceback), the run directory it leaves, and signals (Ctrl-C,
SIGTERM, SIGKILL) followed by `--resume`.

Each call starts a Python process that imports TensorFlow (a few seconds), so the specs are tiny
and the number of calls is kept small; the library-level behaviour is tested in tests/test_train.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.training_specs import TINY

ROOT = Path(__file__).resolve().parent.parent
_SCRIPT = Path(sys.executable).parent / "kspec"
KSPEC = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-c", "from kspec.cli import entry; entry()"]


#: 16 epochs of 128 single-step executions on a learnable linear target (the loss falls from
#: ~12 to ~0.1): slow enough to signal after epoch 2 with a wide margin, quick to finish
SLOW = """\
kspec: 1
name: slow
model:
  input: {shape: [4]}
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, units: 1}
training:
  optimizer: {type: Adam, learning_rate: 0.002}
  loss: mse
  epochs: 16
  batch_size: 8
  steps_per_execution: 1
  seed: 3
data:
  source: {type: npz, path: slow.npz}
"""
SLOW_EPOCHS = 16


# ---- helpers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> dict[str, str]:
    """The environment of every kspec process: quiet TensorFlow, and an empty Keras home (so no
    Keras dataset is in the cache, and nothing is written to the user's ~/.keras)."""
    keras_home = tmp_path_factory.mktemp("keras_home")
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_HOME": str(keras_home)}


@pytest.fixture
def kspec(env):
    def run(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*KSPEC, "build-and-train", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=timeout,
        )
        assert_no_traceback(result.stdout, result.stderr)
        return result

    return run


def assert_no_traceback(stdout: str, stderr: str) -> None:
    assert "Traceback" not in stdout + stderr, stderr
    assert "internal error" not in stderr, stderr


def error_line(stderr: str, prefix: str = "Error: ") -> str:
    """The error paragraph: the last line of stderr, the only one starting with `prefix`."""
    lines = stderr.splitlines()
    assert [line for line in lines if line.startswith(prefix)] == [lines[-1]], stderr
    return lines[-1]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def try_read_json(path: Path) -> dict:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return {}


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def visible(directory: Path) -> set[str]:
    return {name for name in listing(directory) if not name.startswith(".")}


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.rglob("*") if p.is_file()}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def slow_spec(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 4)).astype(np.float32)
    np.savez(directory / "slow.npz", x=x, y=x @ np.array([1.0, -2.0, 3.0, 0.5], np.float32))
    return write(directory / "slow.yaml", SLOW)


def default_signal_handling() -> None:
    """In the kspec process, before it starts: SIGINT and SIGTERM handled as in a process started from a
    terminal. A command run in the background of a non-interactive shell (`pytest ... &`, a CI step's
    background job) has SIGINT ignored; its children inherit that, and Python keeps an ignored SIGINT
    ignored (it installs its KeyboardInterrupt handler only over the default), so the Ctrl-C of these
    tests would silently never reach kspec and the run would finish with exit 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_and_signal(env, cwd: Path, run_dir: Path, sig: int, *args: str, after: int = 2, timeout: float = 180):
    """Start a run, send `sig` once run.json shows `after` complete epochs: (returncode, stdout, stderr).
    The run has SLOW_EPOCHS - `after` epochs left when the signal is sent: far more than the signal takes."""
    proc = subprocess.Popen(
        [*KSPEC, "build-and-train", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_signal_handling,
    )
    deadline = time.monotonic() + timeout
    sent = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if try_read_json(run_dir / "run.json").get("epochs_done", 0) >= after:
                proc.send_signal(sig)
                sent = True
                break
            time.sleep(0.02)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert sent, f"the run ended before {after} epochs were done:\n{err}"
    return proc.returncode, out, err


# ---- 1. the example specs ------------------------------------------------------------------------------


def test_an_example_spec_trains_one_step(kspec, tmp_path):
    result = kspec(ROOT / "specs" / "two_tower.yaml", "--steps", "1", "--seed", "1", "-o", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Trained 'two_tower' for 1 epoch(s). Run directory: run"
    for line in (
        "Run directory: run",
        "Data: synthetic (256 samples, seed 1): 256 train examples",
        "Model 'two_tower': 4,246 parameters; training 1 epoch(s) of 1 step(s), batch size 32.",  # --steps: 1 epoch
        "Test: no held-out split (set data.test_split to hold some examples out).",
    ):
        assert line in result.stderr.splitlines()
    assert listing(tmp_path) == {"run"}
    run_info = read_json(tmp_path / "run" / "run.json")
    assert run_info["status"] == "complete" and run_info["epochs_done"] == run_info["epochs"] == 1
    assert read_json(tmp_path / "run" / "history.json")["epoch"] == [1]


def test_the_digits_demo_quietly(kspec, tmp_path):
    result = kspec(ROOT / "specs" / "digits_cnn.yaml", "--steps", "1", "-q", "-o", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    line = result.stdout.strip()
    assert line.startswith("Trained 'digits_cnn' for 1 epoch(s); test accuracy ") and " loss " in line
    assert line.endswith(". Run directory: run") and "\n" not in line
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert metrics["test_examples"] == 360 and f"test accuracy {metrics['test']['accuracy']:.4f}" in line


@pytest.mark.parametrize("name,dataset", [("mnist_cnn", "mnist"), ("text_classifier", "imdb")])
def test_a_keras_dataset_not_in_the_cache_exits_1_without_a_run_dir(kspec, env, tmp_path, name, dataset):
    if list(Path("/tmp/.keras/datasets").glob(f"{dataset}*")):
        pytest.skip(f"{dataset} is in /tmp/.keras/datasets on this machine")
    result = kspec(ROOT / "specs" / f"{name}.yaml", "--steps", "1", cwd=tmp_path)  # default run dir: runs/...
    assert result.returncode == 1
    line = error_line(result.stderr, "Data error: ")
    expected = Path(env["KERAS_HOME"]) / "datasets"
    assert line.startswith(f"Data error: Dataset '{dataset}' is not in the local Keras cache: expected {expected}")
    assert "cannot download" in line and "KERAS_HOME" in line
    assert listing(tmp_path) == set()  # no runs/ directory
    assert result.stdout == ""


# ---- 2./3. one complete run, shared by tests that must not change it ---------------------------------


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory, env):
    base = tmp_path_factory.mktemp("complete")
    spec = write(base / "tiny.yaml", TINY)
    result = subprocess.run(
        [*KSPEC, "build-and-train", "tiny.yaml", "-o", "run", "--seed", "5"], cwd=base, env=env,
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result.stdout, result.stderr)
    return {"base": base, "spec": spec, "run": base / "run"}


def test_a_complete_run_directory(complete_run):
    out = complete_run["run"]
    assert listing(complete_run["base"]) == {"tiny.yaml", "run"}
    assert {"run.json", "spec.yaml", "model.keras", "saved_model", "history.csv", "history.json", "metrics.json",
            "curves.png", "summary.txt", "model.dot"} <= visible(out)
    assert "checkpoint" not in listing(out)
    run_info = read_json(out / "run.json")
    assert (run_info["status"], run_info["epochs_done"], run_info["seed"]) == ("complete", 3, 5)
    assert set(read_json(out / "metrics.json")["test"]) == {"loss", "accuracy"}


def test_same_seed_in_another_process_gives_the_same_history(kspec, complete_run, tmp_path):
    result = kspec(complete_run["spec"], "-o", tmp_path / "again", "--seed", "5", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_json(tmp_path / "again" / "history.json") == read_json(complete_run["run"] / "history.json")
    assert read_json(tmp_path / "again" / "metrics.json")["test"] == read_json(complete_run["run"] / "metrics.json")["test"]


def test_an_existing_run_directory_is_left_untouched(kspec, complete_run):
    before = snapshot(complete_run["run"])
    result = kspec("tiny.yaml", "-o", "run", "--steps", "1", cwd=complete_run["base"])
    assert result.returncode == 2
    assert error_line(result.stderr) == (
        "Error: The run directory 'run' already holds a run (status: complete); kspec never overwrites one. "
        "Continue it with --resume, or choose another --output."
    )
    assert snapshot(complete_run["run"]) == before


def test_resuming_a_complete_run_needs_more_epochs(kspec, complete_run):
    before = snapshot(complete_run["run"])
    result = kspec("tiny.yaml", "-o", "run", "--resume", cwd=complete_run["base"])
    assert result.returncode == 2
    assert error_line(result.stderr) == "Error: The run in 'run' is already complete; give --epochs N to train it further."
    assert snapshot(complete_run["run"]) == before


def test_resuming_a_complete_run_with_more_epochs_trains_further(kspec, complete_run, tmp_path):
    shutil.copy(complete_run["spec"], tmp_path / "tiny.yaml")
    shutil.copytree(complete_run["run"], tmp_path / "run")
    result = kspec("tiny.yaml", "-o", "run", "--resume", "--epochs", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Resuming after epoch 3 of 5." in result.stderr.splitlines()
    assert result.stdout.splitlines()[-1].startswith("Trained 'tiny' for 5 epoch(s); test accuracy")
    old, new = read_json(complete_run["run"] / "history.json"), read_json(tmp_path / "run" / "history.json")
    assert new["epoch"] == [1, 2, 3, 4, 5]
    assert all(new[key][:3] == old[key] for key in old)
    run_info = read_json(tmp_path / "run" / "run.json")
    assert run_info["status"] == "complete" and run_info["epochs"] == run_info["epochs_done"] == 5
    assert yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())["training"]["epochs"] == 5


def test_resuming_with_a_different_model_is_refused(kspec, complete_run):
    before = snapshot(complete_run["run"])
    changed = (complete_run["base"] / "tiny.yaml").read_text().replace("units: 8,", "units: 16,")
    assert "units: 16," in changed
    (complete_run["base"] / "changed.yaml").write_text(changed)
    result = kspec("changed.yaml", "-o", "run", "--resume", "--epochs", "5", cwd=complete_run["base"])
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert line.startswith("Error: Cannot resume 'run' with this spec: its model differs from the one the run started with.")
    assert snapshot(complete_run["run"]) == before


def test_resuming_with_overrides_is_refused(kspec, complete_run):
    before = snapshot(complete_run["run"])
    result = kspec("tiny.yaml", "-o", "run", "--resume", "--epochs", "5", "--set", "training.optimizer=sgd",
                   cwd=complete_run["base"])
    assert result.returncode == 2
    assert error_line(result.stderr) == (
        "Error: --resume continues a run exactly as it started; it cannot take --set (only --epochs, to train further). "
        "Start a new run to change the spec or the data."
    )
    assert snapshot(complete_run["run"]) == before


def test_resuming_a_run_in_use_by_another_process_is_refused(kspec, complete_run):
    before = snapshot(complete_run["run"])
    with open(complete_run["run"] / ".lock", "a+") as held:  # as the kspec process training it holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = kspec("tiny.yaml", "-o", "run", "--resume", "--epochs", "5", cwd=complete_run["base"])
    assert result.returncode == 2
    assert error_line(result.stderr) == (
        "Error: The run in 'run' is in use by another kspec process; wait for it to finish or stop it first."
    )
    assert snapshot(complete_run["run"]) == before


# ---- 3. signals and --resume ---------------------------------------------------------------------------


def check_interrupted_state(run_dir: Path, status: str) -> dict:
    run_info = read_json(run_dir / "run.json")
    assert run_info["status"] == status and run_info["epochs_done"] >= 2
    assert {"model.keras", "state.json"} <= listing(run_dir / "checkpoint")
    state = read_json(run_dir / "checkpoint" / "state.json")
    assert state["epochs_done"] == run_info["epochs_done"] and len(state["history"]["loss"]) == state["epochs_done"]
    assert "model.keras" not in listing(run_dir) and "history.csv" not in listing(run_dir)
    return state


def check_resumed(kspec, cwd: Path, run_dir: Path, state: dict) -> None:
    done = state["epochs_done"]
    result = kspec("slow.yaml", "-o", "run", "--resume", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert f"Resuming after epoch {done} of {SLOW_EPOCHS}." in result.stderr.splitlines()
    history = read_json(run_dir / "history.json")
    assert history["epoch"] == list(range(1, SLOW_EPOCHS + 1))
    loss = history["loss"]
    assert loss[:done] == state["history"]["loss"]  # the stopped run's epochs, exactly
    # the first resumed epoch continues from the checkpoint: near the last complete epoch's loss,
    # far below the first epoch's (which a restart from the initial weights would repeat)
    assert loss[done] < 1.1 * loss[done - 1] and loss[done] < 0.7 * loss[0]
    run_info = read_json(run_dir / "run.json")
    assert run_info["status"] == "complete" and run_info["epochs_done"] == SLOW_EPOCHS
    assert "checkpoint" not in listing(run_dir) and "model.keras" in listing(run_dir)


def test_ctrl_c_keeps_the_complete_epochs_and_resume_finishes_the_run(kspec, env, tmp_path):
    slow_spec(tmp_path)
    code, out, err = start_and_signal(env, tmp_path, tmp_path / "run", signal.SIGINT, "slow.yaml", "-o", "run")
    assert_no_traceback(out, err)
    assert code == 130, err
    line = error_line(err)
    assert line.startswith("Error: Interrupted during epoch ")
    assert line.endswith("continue with `kspec build-and-train slow.yaml --output run --resume`.")
    state = check_interrupted_state(tmp_path / "run", "interrupted")
    assert f"keeps the {state['epochs_done']} complete epoch(s)" in line
    check_resumed(kspec, tmp_path, tmp_path / "run", state)


#: `kspec build-and-train` with the Ctrl-C of epoch 2's end arriving while a finalizer runs, as TensorFlow's
#: (`__del__` methods, weakref callbacks) do during training: Python cannot raise out of a finalizer, so the
#: KeyboardInterrupt ends the finalizer instead of the training, and is reported as "Exception ignored"
#: (or swallowed silently where the finalizer catches everything, as ConcreteFunctionGarbageCollector does).
INTERRUPT_IN_A_FINALIZER = """\
import os, signal, time

from kspec.train import import_tensorflow_quietly

import_tensorflow_quietly()
from kspec.train import callbacks


class Finalizer:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the SIGINT handler runs here; its KeyboardInterrupt ends __del__
            pass


checkpoint = callbacks.Checkpointer.on_epoch_end


def on_epoch_end(self, epoch, logs=None):
    checkpoint(self, epoch, logs)
    if epoch == 1:
        Finalizer()  # freed at once: __del__ runs here


callbacks.Checkpointer.on_epoch_end = on_epoch_end

from kspec.cli import entry

entry()
"""


def test_ctrl_c_during_a_finalizer_still_stops_the_run(env, tmp_path):
    """The interrupt the finalizer swallowed stops training at the next step's or epoch's end: with the
    same message and run directory as any Ctrl-C, and without the "Exception ignored" traceback."""
    slow_spec(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPT_IN_A_FINALIZER, "build-and-train", "slow.yaml", "-o", "run"], cwd=tmp_path,
        env=env, capture_output=True, text=True, timeout=180, preexec_fn=default_signal_handling,
    )
    assert_no_traceback(result.stdout, result.stderr)
    assert "Exception ignored" not in result.stderr, result.stderr
    assert result.returncode == 130, result.stderr
    assert error_line(result.stderr) == (
        "Error: Interrupted during epoch 3. The run directory 'run' keeps the 2 complete epoch(s); "
        "continue with `kspec build-and-train slow.yaml --output run --resume`."
    )
    state = check_interrupted_state(tmp_path / "run", "interrupted")
    assert state["epochs_done"] == 2


def test_sigkill_leaves_a_running_run_that_resumes(kspec, env, tmp_path):
    slow_spec(tmp_path)
    code, out, err = start_and_signal(env, tmp_path, tmp_path / "run", signal.SIGKILL, "slow.yaml", "-o", "run")
    assert code == -signal.SIGKILL
    state = check_interrupted_state(tmp_path / "run", "running")  # no chance to say otherwise
    check_resumed(kspec, tmp_path, tmp_path / "run", state)


def test_sigterm_is_an_interrupt(env, tmp_path):
    slow_spec(tmp_path)
    code, out, err = start_and_signal(env, tmp_path, tmp_path / "run", signal.SIGTERM, "slow.yaml", "-o", "run")
    assert_no_traceback(out, err)
    assert code == 130 and "--resume" in error_line(err)
    check_interrupted_state(tmp_path / "run", "interrupted")


# ---- 4. overrides ---------------------------------------------------------------------------------------


def test_overrides_and_options_end_up_in_the_resolved_spec(kspec, tmp_path):
    write(tmp_path / "tiny.yaml", TINY)
    result = kspec(
        "tiny.yaml", "-o", "run", "--set", "training.optimizer.learning_rate=0.05", "--set", "model.layers.0.units=16",
        "--epochs", "2", "--batch-size", "8", "--seed", "3", "-q", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    doc = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text(encoding="utf-8"))
    assert doc["training"]["optimizer"]["learning_rate"] == 0.05 and doc["model"]["layers"][0]["units"] == 16
    assert (doc["training"]["epochs"], doc["training"]["batch_size"], doc["training"]["seed"]) == (2, 8, 3)
    assert doc["model"]["layers"][0]["use_bias"] is True  # defaults filled in
    assert read_json(tmp_path / "run" / "run.json")["seed"] == 3
    assert read_json(tmp_path / "run" / "history.json")["epoch"] == [1, 2]
    summary = (tmp_path / "run" / "summary.txt").read_text(encoding="utf-8")
    assert f"Trainable params: {4 * 16 + 16 + 16 * 3 + 3}" in summary


def test_a_bad_override_prints_the_diagnostic_and_creates_nothing(kspec, tmp_path):
    write(tmp_path / "tiny.yaml", TINY)
    result = kspec("tiny.yaml", "-o", "run", "--set", "training.optimizer.learning_rate=fast", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "--set training.optimizer.learning_rate=fast: error[type]: `learning_rate` must be a number, not a string. "
        "Received: learning_rate='fast'"
    )
    assert "  at training.optimizer.learning_rate" in lines
    assert lines[-1] == "1 file(s) checked: 1 error(s), 0 warning(s)"
    assert listing(tmp_path) == {"tiny.yaml"} and result.stdout == ""


# ---- 6. bad input ----------------------------------------------------------------------------------------


def test_a_missing_spec_file_exits_2(kspec, tmp_path):
    result = kspec("nope.yaml", "-o", "run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "Error: Cannot read 'nope.yaml': No such file or directory.\n"
    assert listing(tmp_path) == set()


def test_an_invalid_spec_exits_1_with_diagnostics(kspec, tmp_path):
    write(tmp_path / "bad.yaml", TINY.replace("units: 8,", "unit: 8,"))
    result = kspec("bad.yaml", "-o", "run", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "bad.yaml:6:21: error[unknown-key]: Unknown key 'unit' in layer Dense. Received: unit=8"
    assert "  hint: Did you mean 'units'?" in lines
    assert listing(tmp_path) == {"bad.yaml"}


def test_a_missing_data_file_exits_1(kspec, tmp_path):
    write(tmp_path / "tiny.yaml", TINY)
    result = kspec("tiny.yaml", "-o", "run", "--data", "missing.npz", cwd=tmp_path)
    assert result.returncode == 1
    assert error_line(result.stderr, "Data error: ") == (
        f"Data error: The npz file {tmp_path / 'missing.npz'} does not exist; expected a readable file."
    )
    assert listing(tmp_path) == {"tiny.yaml"}


def test_data_of_the_wrong_shape_names_the_field_and_both_shapes(kspec, tmp_path):
    write(tmp_path / "tiny.yaml", TINY)
    np.savez(tmp_path / "wrong.npz", x=np.zeros((10, 5), np.float32), y=np.zeros(10, np.int32))
    result = kspec("tiny.yaml", "-o", "run", "--data", "wrong.npz", cwd=tmp_path)
    assert result.returncode == 1
    line = error_line(result.stderr, "Data error: ")
    assert "field 'x' of wrong.npz" in line and "shape (5,)" in line and "expects shape (4,)" in line
    assert listing(tmp_path) == {"tiny.yaml", "wrong.npz"}


def test_an_unknown_data_form_exits_1(kspec, tmp_path):
    write(tmp_path / "tiny.yaml", TINY)
    result = kspec("tiny.yaml", "-o", "run", "--data", "synthetic:0", cwd=tmp_path)
    assert result.returncode == 1
    line = error_line(result.stderr, "Data error: ")
    assert line.startswith("Data error: --data 'synthetic:0': the number of synthetic samples must be a positive integer")
    assert listing(tmp_path) == {"tiny.yaml"}


def test_an_output_under_a_regular_file_exits_2(kspec, tmp_path):
    write(tmp_path / "tiny.yaml", TINY)
    write(tmp_path / "afile", "")
    result = kspec("tiny.yaml", "-o", "afile/run", cwd=tmp_path)
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert line.startswith("Error: Cannot create the run directory 'afile/run':") and "--output" in line
    assert listing(tmp_path) == {"tiny.yaml", "afile"} and (tmp_path / "afile").read_text() == ""


def test_a_nan_loss_exits_1_and_marks_the_run_failed(kspec, tmp_path):
    write(tmp_path / "reg.yaml", """\
kspec: 1
name: reg
model:
  input: {shape: [4]}
  layers:
    - {type: Dense, units: 8}
    - {type: Dense, units: 1}
training:
  optimizer: {type: SGD, learning_rate: 1000000.0}
  loss: mse
  epochs: 3
  batch_size: 8
data:
  source: {type: synthetic, samples: 64}
""")
    result = kspec("reg.yaml", "-o", "run", "--seed", "0", cwd=tmp_path)
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert line.startswith("Error: Training stopped: the loss became nan in epoch 1")
    assert "the final model was not written" in line and "learning_rate" in line
    run_info = read_json(tmp_path / "run" / "run.json")
    assert run_info["status"] == "failed" and run_info["error"] == "the loss became nan"
    assert visible(tmp_path / "run") == {"run.json", "spec.yaml", "events.json", "report.html"}  # no model, no checkpoint


# ---- 8. --data forms --------------------------------------------------------------------------------------


def test_data_npz_path_relative_to_the_working_directory(kspec, tmp_path):
    write(tmp_path / "specs" / "tiny.yaml", TINY)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((20, 4)).astype(np.float32), y=np.arange(20) % 3)
    result = kspec("specs/tiny.yaml", "--data", "d.npz", "-o", "run", "--steps", "1", "--seed", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Data: d.npz: 11 train / 4 validation / 5 test examples" in result.stderr.splitlines()
    doc = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text(encoding="utf-8"))
    assert doc["data"]["source"]["type"] == "npz" and doc["data"]["source"]["path"] == str(tmp_path / "d.npz")
    assert listing(tmp_path) == {"specs", "d.npz", "run"} and listing(tmp_path / "specs") == {"tiny.yaml"}
