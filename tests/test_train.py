"""`kspec.train.run.build_and_train` at the library level: the run directory, resume, overrides,
determinism, data forms, spec callbacks and the failures a user can cause.

Every run is tiny (a few dozen synthetic examples, a few epochs, or one step) and happens in this
process, so TensorFlow is imported once. The command line (exit codes, signals, stderr) is
tested in tests/test_cli_train.py.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import kspec
from kspec.train import session as session_module
from kspec.train.data import DataError
from kspec.train.run import InvalidSpec, RunResult, TrainError, TrainOptions, build_and_train
from tests.browser import open_once
from tests.training_specs import TINY

pytest.importorskip("tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from kspec.compile import build_model  # noqa: E402
from kspec.train import callbacks as callbacks_module  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
#: example specs whose data is a Keras dataset that is not in this machine's cache
KERAS_DATASET_SPECS = {"mnist_cnn": "mnist", "text_classifier": "imdb"}

#: example specs that train on a directory of the user's own photos
PHOTO_SPECS = {"image_classifier"}

TINY_PARAMS = 4 * 8 + 8 + 8 * 3 + 3  # 67

#: learns quickly (loss 10 -> 1 in six epochs), so a restart from the initial weights is obvious
LINEAR = """\
kspec: 1
name: lin
model:
  input: {shape: [4]}
  layers:
    - {type: Dense, units: 1}
training:
  optimizer: {type: Adam, learning_rate: 0.05}
  loss: mse
  epochs: 6
  batch_size: 32
  seed: 4
data:
  source: {type: npz, path: lin.npz}
"""

#: SGD with a learning rate of 1e6: the loss is NaN within the first epoch
REGRESSION = """\
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
  seed: 0
data:
  source: {type: synthetic, samples: 64}
"""

RUN_FILES = {
    "run.json", "spec.yaml", "model.keras", "saved_model", "history.csv", "history.json", "metrics.json",
    "curves.png", "summary.txt", "model.dot", "interface.json", "events.json", "report.html",
}


# ---- helpers ------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def train(spec: Path | str, messages: list[str] | None = None, **options) -> RunResult:
    options.setdefault("verbose", 0)
    echo = messages.append if messages is not None else (lambda msg: None)
    return build_and_train(str(spec), TrainOptions(**options), echo=echo)


def write_photos(root: Path, classes=("a", "b"), per_class: int = 3, size=(16, 16)) -> Path:
    """PNG photos (seeded noise, a different mean colour per class) in one sub-directory per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(60 + 70 * c, 30, size=(*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def visible(directory: Path) -> set[str]:
    return {name for name in listing(directory) if not name.startswith(".")}


def linear_data(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 3.0, 0.5], np.float32) + 0.1 * rng.standard_normal(256)).astype(np.float32)
    np.savez(directory / "lin.npz", x=x, y=y)
    return write(directory / "lin.yaml", LINEAR)


@pytest.fixture
def interrupt_after(monkeypatch):
    """`interrupt_after(n)`: the next run raises KeyboardInterrupt (Ctrl-C) right after epoch n's
    checkpoint is written, as a Ctrl-C between two epochs would."""
    original = callbacks_module.Checkpointer.on_epoch_end

    def arm(n: int) -> None:
        def on_epoch_end(self, epoch, logs=None):
            original(self, epoch, logs)
            if self.epochs_done == n:
                raise KeyboardInterrupt

        monkeypatch.setattr(callbacks_module.Checkpointer, "on_epoch_end", on_epoch_end)

    yield arm
    monkeypatch.setattr(callbacks_module.Checkpointer, "on_epoch_end", original)


def serve_batch(saved_model_dir: Path, batch: int = 2) -> tuple[dict, dict]:
    """Calls the SavedModel's serving signature on zeros: (inputs, outputs) as NumPy arrays."""
    loaded = tf.saved_model.load(str(saved_model_dir))
    assert "serve" in loaded.signatures and "serving_default" in loaded.signatures
    signature = loaded.signatures["serving_default"]
    _, specs = signature.structured_input_signature
    inputs = {
        name: tf.zeros([batch if d is None else d for d in s.shape], dtype=s.dtype) for name, s in specs.items()
    }
    outputs = signature(**inputs)
    return {k: v.numpy() for k, v in inputs.items()}, {k: v.numpy() for k, v in outputs.items()}


def keras_predict(model, inputs: dict) -> list[np.ndarray]:
    ordered = [inputs[t.name] for t in model.inputs]
    out = model(ordered if len(ordered) > 1 else ordered[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


# ---- 1. every example spec trains -------------------------------------------------------------------


def test_the_example_specs_are_the_ones_this_file_knows():
    names = {p.stem for p in SPECS}
    assert set(KERAS_DATASET_SPECS) <= names and "digits_cnn" in names and len(names) >= 5


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.stem)
def test_every_example_spec_trains_one_step(spec_path, tmp_path):
    name = spec_path.stem
    data = "synthetic" if name in KERAS_DATASET_SPECS else None
    if name in PHOTO_SPECS:  # its data is the user's own photos: a small directory of them stands in
        data = str(write_photos(tmp_path / "photos", classes=("cat", "dog", "owl"), per_class=4, size=(20, 30)))
    messages: list[str] = []
    out = tmp_path / name
    result = train(spec_path, messages, data=data, epochs=1, steps=1, output=str(out))

    assert result.epochs_done == 1 and result.run_dir == out
    assert any("training 1 epoch(s) of 1 step(s)" in m for m in messages), messages
    run_info = read_json(out / "run.json")
    assert run_info["status"] == "complete" and run_info["epochs_done"] == 1 and run_info["epochs"] == 1
    assert RUN_FILES <= visible(out) and not (out / "checkpoint").exists()
    assert result.history and all(len(v) == 1 and math.isfinite(v[0]) for v in result.history.values())
    if data is None:  # its own data
        own = kspec.check(spec_path).spec.data.source
        assert result.spec.data.source.type == own.type
        assert result.spec.data.source.model_dump(exclude={"seed"}) == own.model_dump(exclude={"seed"})
    elif name in KERAS_DATASET_SPECS:
        assert result.spec.data.source.type == "synthetic"

    expected = kspec.check(spec_path)
    resolved = kspec.check(out / "spec.yaml")
    assert resolved.ok, resolved.diagnostics
    assert resolved.param_count == expected.param_count
    assert resolved.spec.model == expected.spec.model

    model = keras.saving.load_model(out / "model.keras")
    assert model.count_params() == expected.param_count
    inputs, served = serve_batch(out / "saved_model")
    predicted = keras_predict(model, inputs)
    assert len(served) == len(predicted)
    for i, array in enumerate(predicted):
        assert array.shape[0] == 2 and np.all(np.isfinite(array))
        np.testing.assert_allclose(served[f"output_{i}"], array, rtol=1e-5, atol=1e-6)
    if name == "digits_cnn":  # data.test_split: 0.2 of the 1,797 digits
        assert result.metrics["test_examples"] == 360 and set(result.metrics["test"]) == {"loss", "accuracy"}
    # the report's analysis of the test split: every output analysed or said why not, and nothing failed
    assert not any("Note: the report" in m for m in messages), messages
    assert any(m == f"Report: {out / 'report.html'}" for m in messages), messages
    opened = open_once(out / "report.html")  # None without a browser (a failure where one is required)
    if opened is not None:
        assert not opened.errors and not opened.external and not opened.dialogs and not opened.error_boxes
        assert {"run-run0", "graph-run0", "curves-run0"} <= set(opened.sections) and opened.charts >= 2
    if result.metrics.get("test"):
        analysis = read_json(out / "analysis.json")
        assert analysis["of"] >= result.metrics["test_examples"] and analysis["examples"] > 0
        assert len(analysis["outputs"]) + len(analysis["notes"]) >= len(expected.inference.outputs)


@pytest.mark.parametrize("name", sorted(KERAS_DATASET_SPECS))
def test_keras_dataset_specs_without_data_fail_before_making_a_run_dir(name, tmp_path, monkeypatch):
    dataset = KERAS_DATASET_SPECS[name]
    if list(Path("/tmp/.keras/datasets").glob(f"{dataset}*")):
        pytest.skip(f"{dataset} is in /tmp/.keras/datasets on this machine")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    out = tmp_path / "run"
    with pytest.raises(DataError) as err:
        train(ROOT / "specs" / f"{name}.yaml", output=str(out), steps=1, epochs=1)
    message = str(err.value)
    assert message.startswith(f"Dataset '{dataset}' is not in the local Keras cache: expected {tmp_path / 'keras_home' / 'datasets'}")
    assert "cannot download" in message and "\n" not in message
    assert not out.exists() and listing(tmp_path) <= {"keras_home"}


# ---- 2. the run directory -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One complete run of TINY (seed 11, 3 epochs), with cwd in its folder; read-only for the tests."""
    base = tmp_path_factory.mktemp("tiny_run")
    spec = write(base / "tiny.yaml", TINY)
    before = listing(base)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        messages: list[str] = []
        result = train(spec, messages, output=str(base / "run"), seed=11)
    return {"base": base, "spec": spec, "result": result, "messages": messages, "before": before, "after": listing(base)}


def test_run_directory_holds_every_file_and_nothing_is_written_outside(tiny_run):
    out, result = tiny_run["base"] / "run", tiny_run["result"]
    assert tiny_run["after"] - tiny_run["before"] == {"run"} and tiny_run["before"] <= tiny_run["after"]
    expected = RUN_FILES | {"analysis.json"} | ({"model.png"} if shutil.which("dot") else set())  # TINY has a test split
    assert visible(out) == expected  # no checkpoint/ once complete
    assert listing(out) - visible(out) == {".lock"}  # no temporary file left behind
    assert result.run_dir == out and result.epochs_done == 3 and result.resumed_from == 0
    assert tiny_run["messages"][:3] == [
        f"Run directory: {out}",
        "Backend: TensorFlow; one device.",
        "Data: synthetic (64 samples, seed 11): 36 train / 12 validation / 16 test examples",
    ]

    run_info = read_json(out / "run.json")
    assert run_info["status"] == "complete" and run_info["epochs_done"] == 3 and run_info["epochs"] == 3
    assert run_info["seed"] == 11 and run_info["spec"] == "tiny" and run_info["started"] and run_info["finished"]

    history = result.history
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 and all(math.isfinite(x) for x in v) for v in history.values())
    assert read_json(out / "history.json") == {"epoch": [1, 2, 3], **history}
    with open(out / "history.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key, values in history.items():
        assert [float(r[key]) for r in rows] == values  # exactly the same numbers

    metrics = read_json(out / "metrics.json")
    assert metrics == result.metrics
    assert metrics["epochs"] == 3 and metrics["final_epoch"] == {k: v[-1] for k, v in history.items()}
    assert metrics["test_examples"] == 16 and set(metrics["test"]) == {"loss", "accuracy"}
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    dot = (out / "model.dot").read_text(encoding="utf-8")
    for layer in ("dense", "probs"):
        assert f"{layer} (Dense)" in summary and f'"{layer}"' in dot
    assert f"Trainable params: {TINY_PARAMS}" in summary and dot.startswith('digraph "tiny"')


def test_run_result_files_are_what_the_run_directory_holds(tiny_run):
    out, result = tiny_run["base"] / "run", tiny_run["result"]
    assert result.files == sorted(visible(out))


def test_model_keras_and_saved_model_are_the_trained_model(tiny_run):
    out, result = tiny_run["base"] / "run", tiny_run["result"]
    first, second = keras.saving.load_model(out / "model.keras"), keras.saving.load_model(out / "model.keras")
    assert first.count_params() == second.count_params() == TINY_PARAMS
    assert [layer.name for layer in first.layers] == ["dense", "probs"]
    batch = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    p1, p2 = first.predict(batch, verbose=0), second.predict(batch, verbose=0)
    assert p1.shape == (5, 3) and np.all(np.isfinite(p1)) and np.array_equal(p1, p2)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, rtol=1e-5)  # softmax

    saved_model = tf.saved_model.load(str(out / "saved_model"))  # kept referenced while serve runs
    served = saved_model.serve(tf.constant(batch))
    np.testing.assert_allclose(np.asarray(served), p1, rtol=1e-5, atol=1e-6)

    # the saved model is the final one: it reproduces the test metrics on the run's own test split
    from kspec.train.data import load_data, make_tf_dataset

    report = kspec.check(out / "spec.yaml")
    loaded = load_data(report.spec, report.inference, base_dir=out, seed=report.spec.training.seed)
    assert len(loaded.test) == 16
    test_ds = make_tf_dataset(loaded.test, batch_size=16, shuffle=False, seed=None)
    scores = first.evaluate(test_ds, verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(result.metrics["test"]["loss"], rel=1e-5)
    assert scores["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])


def test_resolved_spec_fills_every_default_and_rebuilds_the_same_model(tiny_run, tmp_path):
    base, result = tiny_run["base"], tiny_run["result"]
    resolved_path = base / "run" / "spec.yaml"
    report = kspec.check(resolved_path)
    assert report.ok and not report.errors, report.diagnostics

    doc = yaml.safe_load(resolved_path.read_text(encoding="utf-8"))
    layer = doc["model"]["layers"][0]
    assert layer["type"] == "Dense" and layer["use_bias"] is True and layer["kernel_initializer"] == "glorot_uniform"
    assert doc["training"]["optimizer"]["beta_1"] == 0.9 and doc["training"]["steps_per_execution"] == "auto"
    assert doc["training"]["seed"] == 11 and doc["training"]["epochs"] == 3 and doc["training"]["callbacks"] == []
    assert doc["data"]["source"] == {"type": "synthetic", "samples": 64, "seed": 11}
    assert doc["data"]["shuffle"] is True and doc["data"]["test_split"] == 0.25

    original = kspec.check(tiny_run["spec"])
    assert report.spec.model == original.spec.model and report.param_count == original.param_count
    m1, m2 = build_model(original.spec, original.inference), build_model(report.spec, report.inference)
    assert m1.count_params() == m2.count_params() == TINY_PARAMS
    assert [layer.name for layer in m1.layers] == [layer.name for layer in m2.layers] == ["dense", "probs"]
    assert [tuple(layer.output.shape) for layer in m1.layers] == [tuple(layer.output.shape) for layer in m2.layers]

    # the resolved spec alone reproduces the run: same seed, same data, same history
    again = train(resolved_path, output=str(tmp_path / "again"))
    assert again.spec.training.seed == 11
    assert again.history == result.history
    assert again.metrics["test"] == result.metrics["test"]


# ---- 5. determinism -------------------------------------------------------------------------------------


def test_same_seed_same_history_and_different_seed_different(tiny_run, tmp_path):
    same = train(tiny_run["spec"], output=str(tmp_path / "same"), seed=11)
    assert same.history == tiny_run["result"].history  # exact float equality
    assert same.metrics["test"] == tiny_run["result"].metrics["test"]
    other = train(tiny_run["spec"], output=str(tmp_path / "other"), seed=12)
    assert other.history["loss"] != same.history["loss"]
    assert read_json(tmp_path / "other" / "run.json")["seed"] == 12


def test_without_a_seed_one_is_chosen_and_recorded(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    result = train(spec, output=str(tmp_path / "run"), epochs=1, steps=1)
    seed = result.spec.training.seed
    assert isinstance(seed, int) and 0 <= seed < 2**31
    assert read_json(tmp_path / "run" / "run.json")["seed"] == seed
    assert kspec.check(tmp_path / "run" / "spec.yaml").spec.training.seed == seed


# ---- 3. resume --------------------------------------------------------------------------------------------


def test_interrupted_run_keeps_its_checkpoint_and_resumes_from_the_saved_weights(tmp_path, interrupt_after):
    spec = linear_data(tmp_path)
    out = tmp_path / "run"
    interrupt_after(2)
    with pytest.raises(TrainError) as err:
        train(spec, output=str(out))
    assert err.value.exit_code == 130
    message = str(err.value)
    assert "Interrupted during epoch 3" in message and "2 complete epoch(s)" in message
    assert f"--output {out} --resume" in message and "\n" not in message

    run_info = read_json(out / "run.json")
    assert run_info["status"] == "interrupted" and run_info["epochs_done"] == 2
    # no final model for an unfinished run; what it got to is in its report
    assert visible(out) == {"run.json", "spec.yaml", "checkpoint", "events.json", "report.html"}
    assert visible(out / "checkpoint") == {"model.keras", "state.json"}
    state = read_json(out / "checkpoint" / "state.json")
    assert state["epochs_done"] == 2 and len(state["history"]["loss"]) == 2
    saved = keras.saving.load_model(out / "checkpoint" / "model.keras")
    assert int(saved.optimizer.iterations.numpy()) == 2 * 8  # 256 examples, batch 32

    messages: list[str] = []
    resumed = train(spec, messages, output=str(out), resume=True)
    assert "Resuming after epoch 2 of 6." in messages
    assert resumed.resumed_from == 2 and resumed.epochs_done == 6
    loss = resumed.history["loss"]
    assert len(loss) == 6 and loss[:2] == state["history"]["loss"]  # the interrupted run's epochs, exactly
    # the third epoch continues from the checkpoint's weights: well below the first epoch's loss
    # (a restart from the initial weights would give about loss[0] again) and below the second's
    assert loss[2] < loss[1] < loss[0] and loss[2] < 0.6 * loss[0]
    run_info = read_json(out / "run.json")
    assert run_info["status"] == "complete" and run_info["epochs_done"] == 6
    assert not (out / "checkpoint").exists() and RUN_FILES <= visible(out)
    assert read_json(out / "history.json")["epoch"] == [1, 2, 3, 4, 5, 6]
    final = keras.saving.load_model(out / "model.keras")
    assert int(final.optimizer.iterations.numpy()) == 6 * 8  # the optimizer state was restored too


def test_resume_without_output_continues_the_latest_unfinished_run(tmp_path, monkeypatch, interrupt_after):
    spec = write(tmp_path / "tiny.yaml", TINY)
    monkeypatch.chdir(tmp_path)
    interrupt_after(1)
    with pytest.raises(TrainError):
        train(spec, seed=1)
    (unfinished,) = (tmp_path / "runs").iterdir()
    assert unfinished.name.startswith("tiny-") and read_json(unfinished / "run.json")["status"] == "interrupted"
    interrupt_after(99)  # disarmed
    complete = train(spec, seed=1).run_dir  # a newer, complete run of the same spec
    assert complete != unfinished and complete.parent.resolve() == (tmp_path / "runs").resolve()
    resumed = train(spec, resume=True)
    assert resumed.run_dir.resolve() == unfinished.resolve() and resumed.resumed_from == 1 and resumed.epochs_done == 3
    with pytest.raises(TrainError) as err:  # nothing unfinished is left
        train(spec, resume=True)
    assert err.value.exit_code == 2 and "Nothing to resume" in str(err.value)


def test_complete_run_resumes_only_with_more_epochs(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"
    first = train(spec, output=str(out), seed=3, epochs=2)
    with pytest.raises(TrainError) as err:
        train(spec, output=str(out), resume=True)
    assert err.value.exit_code == 2 and "already complete" in str(err.value) and "--epochs" in str(err.value)
    further = train(spec, output=str(out), resume=True, epochs=4)
    assert further.resumed_from == 2 and further.epochs_done == 4
    assert all(len(v) == 4 and v[:2] == first.history[k] for k, v in further.history.items())
    run_info = read_json(out / "run.json")
    assert run_info["status"] == "complete" and run_info["epochs"] == run_info["epochs_done"] == 4
    assert kspec.check(out / "spec.yaml").spec.training.epochs == 4
    model = keras.saving.load_model(out / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 4 * 3  # 36 training examples, batch 16


def test_ctrl_c_while_writing_the_final_files_is_an_interrupt_too(tmp_path, monkeypatch):
    spec = write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"

    def interrupted_export(model, path):
        (Path(path) / "partial").write_text("half an export")
        raise KeyboardInterrupt

    monkeypatch.setattr(session_module, "export_saved_model", interrupted_export)
    with pytest.raises(TrainError) as err:
        train(spec, output=str(out), seed=1)
    assert err.value.exit_code == 130
    assert str(err.value).startswith(f"Interrupted. The run directory '{out}' keeps the 3 complete epoch(s)")
    assert read_json(out / "run.json")["status"] == "interrupted"
    assert "saved_model" not in listing(out) and listing(out) - visible(out) == {".lock"}  # no half-written export
    assert read_json(out / "checkpoint" / "state.json")["epochs_done"] == 3

    monkeypatch.undo()
    resumed = train(spec, output=str(out), resume=True)
    assert resumed.resumed_from == 3 and resumed.epochs_done == 3 and len(resumed.history["loss"]) == 3
    assert read_json(out / "run.json")["status"] == "complete"
    assert RUN_FILES <= visible(out) and "checkpoint" not in listing(out)


def test_an_unexpected_failure_marks_the_run_failed(tmp_path, monkeypatch):
    spec = write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"

    def broken_export(model, path):
        raise RuntimeError("export broke")

    monkeypatch.setattr(session_module, "export_saved_model", broken_export)
    with pytest.raises(RuntimeError):
        train(spec, output=str(out), seed=1, epochs=1)
    run_info = read_json(out / "run.json")
    assert run_info["status"] == "failed" and run_info["error"] == "RuntimeError: export broke"
    assert "saved_model" not in listing(out)


def test_the_run_lock_is_released_when_build_and_train_returns(tmp_path, interrupt_after):
    spec = write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"
    interrupt_after(1)
    with pytest.raises(TrainError):
        train(spec, output=str(out), seed=1)
    interrupt_after(99)
    # no release_run_locks() here: a notebook user resuming after Ctrl-C is told the run is in use
    resumed = train(spec, output=str(out), resume=True)
    assert resumed.epochs_done == 3


def test_resume_with_fewer_epochs_than_done_is_refused(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"
    train(spec, output=str(out), seed=1, epochs=3)
    before = (out / "spec.yaml").read_bytes()
    with pytest.raises(TrainError) as err:
        train(spec, output=str(out), resume=True, epochs=2)
    assert err.value.exit_code == 2
    assert (out / "spec.yaml").read_bytes() == before


def test_resume_with_a_different_model_is_refused_and_changes_nothing(tiny_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(tiny_run["base"] / "run", out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    changed = write(tmp_path / "tiny.yaml", TINY.replace("units: 8,", "units: 16,"))
    with pytest.raises(TrainError) as err:
        train(changed, output=str(out), resume=True, epochs=5)
    assert err.value.exit_code == 2 and "model differs" in str(err.value)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("option", [{"overrides": ("training.epochs=5",)}, {"data": "synthetic"}, {"seed": 3}, {"batch_size": 4}])
def test_resume_refuses_options_that_would_change_the_run(tiny_run, tmp_path, option):
    out = tmp_path / "run"
    shutil.copytree(tiny_run["base"] / "run", out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(TrainError) as err:
        train(tiny_run["spec"], output=str(out), resume=True, epochs=5, **option)
    assert err.value.exit_code == 2 and "--resume continues a run exactly as it started" in str(err.value)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_resume_of_a_directory_without_a_run_is_refused(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainError) as err:
        train(spec, output=str(tmp_path / "empty"), resume=True)
    assert err.value.exit_code == 2 and "no run.json" in str(err.value)
    assert listing(tmp_path / "empty") == set()


# ---- 4. overrides ------------------------------------------------------------------------------------------


def test_overrides_change_the_resolved_spec_and_the_model(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"
    messages: list[str] = []
    result = train(
        spec, messages, output=str(out), epochs=2, batch_size=8, seed=3,
        overrides=("training.optimizer.learning_rate=0.05", "model.layers.0.units=16"),
    )
    params = 4 * 16 + 16 + 16 * 3 + 3
    assert f"Model 'tiny': {params:,} parameters; training 2 epoch(s) of 5 step(s), batch size 8." in messages
    doc = yaml.safe_load((out / "spec.yaml").read_text(encoding="utf-8"))
    assert doc["training"]["optimizer"]["learning_rate"] == 0.05
    assert doc["model"]["layers"][0]["units"] == 16
    assert (doc["training"]["epochs"], doc["training"]["batch_size"], doc["training"]["seed"]) == (2, 8, 3)
    assert kspec.check(out / "spec.yaml").param_count == params
    assert keras.saving.load_model(out / "model.keras").count_params() == params
    assert len(result.history["loss"]) == 2 and read_json(out / "run.json")["seed"] == 3


def test_an_invalid_override_raises_invalid_spec_and_writes_nothing(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    before = listing(tmp_path)
    with pytest.raises(InvalidSpec) as err:
        train(spec, output=str(tmp_path / "run"), overrides=("training.optimizer.learning_rate=fast",))
    (error,) = err.value.report.errors
    assert tuple(error.path) == ("training", "optimizer", "learning_rate")
    assert error.span is None and error.file == "--set training.optimizer.learning_rate=fast"  # the option, not a line
    assert listing(tmp_path) == before


# ---- 6. bad input ------------------------------------------------------------------------------------------


def test_missing_spec_file_is_an_io_error(tmp_path):
    with pytest.raises(TrainError) as err:
        train(tmp_path / "nope.yaml", output=str(tmp_path / "run"))
    assert err.value.exit_code == 2 and "nope.yaml" in str(err.value) and "No such file" in str(err.value)
    assert listing(tmp_path) == set()


def test_data_that_does_not_fit_the_model_names_the_field_and_both_shapes(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    np.savez(tmp_path / "wrong.npz", x=np.zeros((10, 5), np.float32), y=np.zeros(10, np.int32))
    before = listing(tmp_path)
    with pytest.raises(DataError) as err:
        train(spec, output=str(tmp_path / "run"), data=str(tmp_path / "wrong.npz"))
    message = str(err.value)
    assert "field 'x' of wrong.npz" in message and "shape (5,)" in message and "shape (4,)" in message
    assert listing(tmp_path) == before


def test_a_nan_loss_in_the_first_epoch_fails_without_a_model(tmp_path):
    spec = write(tmp_path / "reg.yaml", REGRESSION)
    out = tmp_path / "run"
    with pytest.raises(TrainError) as err:
        train(spec, output=str(out))
    message = str(err.value)
    assert err.value.exit_code == 1 and "the loss became nan in epoch 1" in message
    assert "No epoch completed" in message and "learning_rate" in message and "\n" not in message
    run_info = read_json(out / "run.json")
    assert run_info["status"] == "failed" and run_info["error"] == "the loss became nan" and run_info["epochs_done"] == 0
    assert visible(out) == {"run.json", "spec.yaml", "events.json", "report.html"}  # no model.keras, no checkpoint


def test_a_nan_loss_after_a_complete_epoch_keeps_that_epoch(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    x[2:] = 1e30  # the second batch (finite: NaN in data is refused); its squared error overflows to inf
    np.savez(tmp_path / "nan.npz", x=x, y=np.zeros((4, 1), np.float32))
    spec = write(tmp_path / "reg.yaml", LINEAR.replace("batch_size: 32", "batch_size: 2")
                 .replace("{type: npz, path: lin.npz}", "{type: npz, path: nan.npz}\n  shuffle: false"))
    out = tmp_path / "run"
    with pytest.raises(TrainError) as err:
        train(spec, output=str(out), epochs=3, steps=1)
    assert err.value.exit_code == 1
    assert "the loss became inf in epoch 2" in str(err.value) and "1 complete epoch(s)" in str(err.value)
    assert read_json(out / "run.json")["status"] == "failed"
    assert visible(out) == {
        "run.json", "spec.yaml", "checkpoint", "history.csv", "history.json", "curves.png", "events.json", "report.html"
    }
    assert read_json(out / "history.json")["epoch"] == [1]
    assert read_json(out / "checkpoint" / "state.json")["epochs_done"] == 1


def test_an_existing_run_directory_is_never_overwritten(tiny_run):
    out = tiny_run["base"] / "run"
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    with pytest.raises(TrainError) as err:
        train(tiny_run["spec"], output=str(out), steps=1, epochs=1)
    assert err.value.exit_code == 2 and "already holds a run (status: complete)" in str(err.value)
    assert "--resume" in str(err.value)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()} == before


# ---- 7. callbacks from the spec -----------------------------------------------------------------------------


def test_spec_callbacks_write_inside_the_run_directory(tmp_path, monkeypatch):
    spec = write(tmp_path / "cb.yaml", TINY.replace("  validation_split: 0.25\n", (
        "  validation_split: 0.25\n"
        "  callbacks:\n"
        "    - {type: ModelCheckpoint}\n"
        "    - {type: CSVLogger}\n"
        "    - {type: EarlyStopping, monitor: loss, min_delta: 100, patience: 0}\n"  # stops after epoch 2
    )).replace("epochs: 3", "epochs: 5"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    result = train(spec, output=str(out), seed=2)
    assert listing(tmp_path) == {"cb.yaml", "run"}
    assert result.epochs_done == 2 and read_json(out / "run.json")["status"] == "complete"
    assert visible(out / "checkpoints") == {"epoch-001.keras", "epoch-002.keras"}
    assert keras.saving.load_model(out / "checkpoints" / "epoch-002.keras").count_params() == TINY_PARAMS
    with open(out / "training.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["loss"]) for r in rows] == pytest.approx(result.history["loss"])
    expected = RUN_FILES | {"checkpoints", "training.csv", "analysis.json"}  # TINY has a test split
    assert visible(out) == expected | ({"model.png"} if shutil.which("dot") else set())


@pytest.mark.parametrize(
    "callback, field",
    [
        ("{type: CSVLogger, filename: spec.yaml}", "filename"),  # would replace the resolved spec
        ("{type: ModelCheckpoint, filepath: model.keras}", "filepath"),  # the final model
        ("{type: BackupAndRestore, backup_dir: .}", "backup_dir"),  # Keras deletes it at the end: the whole run
        ("{type: TensorBoard, log_dir: checkpoint/logs}", "log_dir"),  # kspec's own checkpoint directory
    ],
)
def test_a_callback_cannot_write_over_the_run_s_own_files(tmp_path, callback, field):
    spec = write(tmp_path / "cb.yaml", TINY.replace("  validation_split: 0.25\n", (
        f"  validation_split: 0.25\n  callbacks: [{callback}]\n")))
    out = tmp_path / "run"
    with pytest.raises(InvalidSpec) as err:
        train(spec, output=str(out), seed=1, epochs=1)
    (d,) = err.value.report.errors
    assert (d.code, d.path) == ("value", ("training", "callbacks", 0, field))
    assert "not one of kspec's own run files" in d.message
    assert not out.exists()


def test_reduce_lr_on_plateau_with_a_schedule_is_refused_by_the_checker(tmp_path):
    text = TINY.replace("{type: Adam, learning_rate: 0.01}", (
        "{type: Adam, learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 100, decay_rate: 0.9}}"
    )).replace("  validation_split: 0.25\n", (
        "  validation_split: 0.25\n"
        "  callbacks: [{type: ReduceLROnPlateau, monitor: val_loss, patience: 0, min_delta: 1000}]\n"  # reduces at epoch 2
    ))
    spec = write(tmp_path / "plateau.yaml", text)
    with pytest.raises(InvalidSpec) as err:
        train(spec, output=str(tmp_path / "run"), seed=1)
    (d,) = err.value.report.errors
    assert (d.code, d.path) == ("callback", ("training", "callbacks", 0))
    # What Keras does with it (why the checker refuses): it fails when it first lowers the rate.
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.9)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    x = np.zeros((8, 2), "float32")
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=1000)
    with pytest.raises(TypeError):
        model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[plateau])
    # With a fixed rate the same callback trains.
    fixed = write(tmp_path / "fixed.yaml", text.replace(
        "{type: Adam, learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 100, decay_rate: 0.9}}",
        "{type: Adam, learning_rate: 0.01}"))
    assert train(fixed, output=str(tmp_path / "run2"), seed=1).epochs_done == 3


def test_a_tensorboard_callback_logs_inside_the_run_directory(tmp_path):
    spec = write(tmp_path / "tb.yaml", TINY.replace("  validation_split: 0.25\n", (
        "  validation_split: 0.25\n  callbacks: [{type: TensorBoard}]\n")))
    out = tmp_path / "run"
    result = train(spec, output=str(out), seed=1, epochs=1)
    assert result.epochs_done == 1 and list((out / "logs").rglob("*.v2"))  # event files inside the run dir


def test_a_tensorboard_callback_without_tensorboard_is_refused_with_a_message(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    spec = write(tmp_path / "tb.yaml", TINY.replace("  validation_split: 0.25\n", (
        "  validation_split: 0.25\n  callbacks: [{type: TensorBoard}]\n")))
    with pytest.raises(TrainError) as err:
        train(spec, output=str(tmp_path / "run"), seed=1, epochs=1)
    assert err.value.exit_code == 2 and "not installed: `tensorboard` (the spec's TensorBoard callback)" in str(err.value)
    assert not (tmp_path / "run").exists()  # refused before anything trains or is written


def test_a_missing_plotting_package_is_refused_before_training(tmp_path, monkeypatch):
    """Without matplotlib a run used to train to its end, then stop with an internal error drawing its curves."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    spec = write(tmp_path / "tiny.yaml", TINY)
    with pytest.raises(TrainError) as err:
        train(spec, output=str(tmp_path / "run"), seed=1, epochs=1)
    assert err.value.exit_code == 2
    assert str(err.value) == (
        "Training needs packages that are not installed: `matplotlib` (the training curves). Install kspec's "
        "`train` extra (`pip install 'kspec[train]'`), or the package itself."
    )
    assert not (tmp_path / "run").exists()


# ---- 8. --data forms ----------------------------------------------------------------------------------------


def test_data_synthetic_with_a_sample_count(tmp_path):
    spec = write(tmp_path / "tiny.yaml", TINY)
    messages: list[str] = []
    result = train(spec, messages, output=str(tmp_path / "run"), data="synthetic:40", seed=5, epochs=1)
    assert "Data: synthetic (40 samples, seed 5): 22 train / 8 validation / 10 test examples" in messages
    assert result.metrics["test_examples"] == 10
    doc = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text(encoding="utf-8"))
    assert doc["data"]["source"] == {"type": "synthetic", "samples": 40, "seed": 5}
    assert doc["data"]["test_split"] == 0.25  # the rest of the data section is kept


def test_data_embedded_digits_on_an_8x8_model(tmp_path):
    spec = write(tmp_path / "d.yaml", """\
kspec: 1
name: d
model:
  input: {shape: [8, 8, 1]}
  layers:
    - {type: Flatten}
    - {type: Dense, units: 10, activation: softmax}
training: {loss: sparse_categorical_crossentropy, epochs: 1, batch_size: 64}
""")
    messages: list[str] = []
    result = train(spec, messages, output=str(tmp_path / "run"), data="embedded:digits", steps=2, seed=1)
    assert any(m.startswith("Data: ") and "1,797 train examples" in m for m in messages), messages
    assert any("training 1 epoch(s) of 2 step(s), batch size 64." in m for m in messages), messages
    assert result.spec.data.source.type == "embedded" and result.spec.data.source.name == "digits"
    assert kspec.check(tmp_path / "run" / "spec.yaml").spec.data.source.type == "embedded"


def test_npz_paths_are_relative_to_the_spec_file_and_recorded_absolute(tmp_path, monkeypatch):
    spec = linear_data(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the spec's `path: lin.npz` is next to the spec, not in the cwd
    result = train(spec, output=str(tmp_path / "run"), epochs=1)
    assert result.spec.data.source.path == str(tmp_path / "project" / "lin.npz")
    doc = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text(encoding="utf-8"))
    assert doc["data"]["source"]["path"] == str(tmp_path / "project" / "lin.npz")
    assert listing(elsewhere) == set()
    # --data paths, in contrast, are relative to the cwd
    shutil.copy(tmp_path / "project" / "lin.npz", elsewhere / "other.npz")
    result = train(spec, output=str(tmp_path / "run2"), epochs=1, data="other.npz")
    assert result.spec.data.source.path == str(elsewhere / "other.npz")


def test_keras_warnings_do_not_reach_the_user_raw(tmp_path, capfd):
    """Keras warns (a Python UserWarning, with its own file and line) of a softmax fed to a from_logits loss;
    kspec's lint said it first, in kspec's words, so Keras's repeat is dropped and nothing raw is printed."""
    spec = write(tmp_path / "logits.yaml", TINY.replace(
        "loss: sparse_categorical_crossentropy", "loss: {type: SparseCategoricalCrossentropy, from_logits: true}"))
    assert "activation: softmax" in TINY and "from_logits: true" in spec.read_text()
    messages: list[str] = []
    train(spec, messages, output=str(tmp_path / "run"), epochs=1, steps=1)
    assert messages[0].startswith("Warning[lint-softmax-from-logits]: Output ")
    assert not any("Keras warned" in m for m in messages), messages
    captured = capfd.readouterr()
    assert "UserWarning" not in captured.err and "keras/src" not in captured.err


def test_other_keras_warnings_become_notes(tmp_path):
    from kspec.train.session import keras_warnings

    notes: list[str] = []
    with keras_warnings(notes, set()):
        import warnings

        warnings.warn("Something odd happened.", UserWarning, stacklevel=1)
        warnings.warn("Something odd happened.", UserWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    assert notes == ["Keras warned: Something odd happened."]


# ---- labels of the losses that read no class per output: Circle's group ids, CTC's label sequences ----------


CIRCLE_SPEC = """
kspec: 1
name: digits_circle
model:
  input: {name: image, shape: [8, 8, 1]}
  layers:
    - {type: Flatten}
    - {type: Dense, units: 16}
    - {type: UnitNormalization}
training: {optimizer: adam, loss: circle, epochs: 1, batch_size: 64, seed: 1}
data: {source: {type: embedded, name: digits}, test_split: 0.2}
"""

CTC_SPEC = """
kspec: 1
name: steps_ctc
model:
  input: {name: x, shape: [6, 3]}
  layers:
    - {type: LSTM, units: 4, return_sequences: true}
    - {type: Dense, units: 5}
training: {optimizer: adam, loss: ctc, epochs: 1, batch_size: 8, seed: 1}
"""


def test_circle_trains_on_the_class_ids_as_group_ids(tmp_path):
    """Circle reads one group id per example: the digits' class ids are taken as they are, and the loss falls."""
    result = train(write(tmp_path / "circle.yaml", CIRCLE_SPEC), epochs=3, output=str(tmp_path / "run"))
    losses = result.history["loss"]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_ctc_trains_on_label_sequences_and_refuses_ids_beyond_its_classes(tmp_path):
    spec = write(tmp_path / "ctc.yaml", CTC_SPEC)
    result = train(spec, data="synthetic", output=str(tmp_path / "run"))
    assert math.isfinite(result.history["loss"][0])
    x = np.zeros((16, 6, 3), "float32")
    npz = tmp_path / "seq.npz"
    for labels, expected in (
        (np.full((16, 2), 7), "holds the class id 7, but output 'dense' has 5 classes"),
        (np.ones((16, 7)), "a label sequence of 7 cannot be aligned to fewer steps"),
        (np.ones(16), "expects one sequence of class ids per example"),
    ):
        np.savez(npz, x=x, y=labels)
        with pytest.raises(DataError, match=expected):
            train(spec, data=str(npz), output=str(tmp_path / "bad"))
        assert not (tmp_path / "bad").exists()
