"""`kspec evaluate`: the run's own test split gives the run's own test metrics; other data is checked and
preprocessed as the run was; classifiers get per-class precision, recall, F1 and the confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from click.testing import CliRunner  # noqa: E402

from kspec.cli import main  # noqa: E402
from kspec.rundir import RunDirError  # noqa: E402
from kspec.train.run import TrainOptions, build_and_train  # noqa: E402
from kspec.use.evaluate import EvaluateError, classification_report, evaluate_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("digits")
    result = build_and_train(
        str(ROOT / "specs" / "digits_cnn.yaml"),
        TrainOptions(output=str(base / "run"), epochs=1, steps=3, verbose=0),
        echo=lambda m: None,
    )
    return result.run_dir, result.metrics


def test_the_test_split_gives_the_runs_own_test_metrics(digits_run) -> None:
    run_dir, metrics = digits_run
    result = evaluate_run(run_dir)
    assert result.examples == metrics["test_examples"] == 360
    assert result.data == "the run's test split (360 examples of embedded digits)"
    assert result.metrics.keys() == metrics["test"].keys()
    for key, value in metrics["test"].items():
        assert result.metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6)
    report = result.outputs["digit"]
    assert report["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    assert np.asarray(report["confusion_matrix"]).sum() == 360 and len(report["per_class"]) == 10
    written = json.loads((run_dir / "evaluation.json").read_text())
    assert written["metrics"] == result.metrics and written["outputs"]["digit"] == report


def test_other_data_is_checked_like_training_data(digits_run, tmp_path) -> None:
    run_dir, _ = digits_run
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "more.npz", x=rng.integers(0, 17, (20, 8, 8)).astype(np.float32), y=rng.integers(0, 10, 20))
    result = evaluate_run(run_dir, data=str(tmp_path / "more.npz"), output=tmp_path / "e.json")
    assert result.examples == 20 and result.written == tmp_path / "e.json"  # (20, 8, 8) gains its channel axis
    np.savez(tmp_path / "wrong.npz", x=np.zeros((4, 9, 9), np.float32), y=np.zeros(4, np.int64))
    from kspec.train.data import DataError

    with pytest.raises(DataError, match=r"field 'x' of wrong.npz"):
        evaluate_run(run_dir, data=str(tmp_path / "wrong.npz"), output=tmp_path / "e2.json")
    assert not (tmp_path / "e2.json").exists()


def test_the_command_prints_the_report_and_json(digits_run) -> None:
    run_dir, metrics = digits_run
    text = CliRunner().invoke(main, ["evaluate", str(run_dir)])
    assert text.exit_code == 0, text.output
    assert text.output.startswith(f"Evaluated {run_dir} on the run's test split (360 examples")
    assert "Output 'digit': accuracy" in text.output and "confusion matrix (rows: true class" in text.output
    as_json = CliRunner().invoke(main, ["evaluate", str(run_dir), "--format", "json"])
    document = json.loads(as_json.output)
    assert document["examples"] == 360 and document["metrics"]["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-5)


def test_a_run_without_a_test_split_or_unfinished_is_refused(tmp_path) -> None:
    with pytest.raises(RunDirError, match="holds no kspec run: it has no run.json"):
        evaluate_run(tmp_path)
    (tmp_path / "run.json").write_text('{"status": "interrupted"}')
    with pytest.raises(RunDirError, match=r"is not complete \(status: interrupted\)"):
        evaluate_run(tmp_path)
    spec = ROOT / "specs" / "digits_cnn.yaml"
    out = tmp_path / "notest"
    build_and_train(
        str(spec),
        TrainOptions(output=str(out), epochs=1, steps=1, verbose=0, overrides=("data.test_split=0",)),
        echo=lambda m: None,
    )
    with pytest.raises(EvaluateError, match="held out no test split") as err:
        evaluate_run(out)
    assert err.value.exit_code == 2
    result = CliRunner().invoke(main, ["evaluate", str(out)])
    assert result.exit_code == 2 and "Error: The run in" in result.output and "Traceback" not in result.output


def test_the_classification_report_by_hand() -> None:
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    report = classification_report(true, pred, 3, ["cat", "dog", "owl"])
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    rows = {r["class"]: r for r in report["per_class"]}
    assert rows["cat"] == {"class": "cat", "precision": 1.0, "recall": 0.666667, "f1": 0.8, "support": 3}
    assert rows["dog"]["precision"] == 0.5 and rows["dog"]["recall"] == 0.5 and rows["dog"]["f1"] == 0.5
    assert rows["owl"]["precision"] == 0.5 and rows["owl"]["recall"] == 1.0 and rows["owl"]["f1"] == 0.666667
    assert report["accuracy"] == 0.666667 and report["examples"] == 6
    # a class never predicted and never present: precision, recall and F1 of 0, no division by zero
    empty = classification_report(np.array([0, 0]), np.array([0, 0]), 2, None)
    assert empty["class_names"] == ["0", "1"] and empty["per_class"][1]["f1"] == 0.0
