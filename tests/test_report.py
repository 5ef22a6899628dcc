"""`kspec report` and the analysis every run writes for it: the figures against Keras and NumPy, the
events against what the callbacks did, the page data against the run, and the command's errors.
The page itself in a browser: tests/test_report_page.py (sample data) and tests/test_report_browser.py."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import kspec
from kspec.cli import main
from kspec.report import curves
from kspec.report.collect import collect, diff, highlight_yaml
from kspec.report.page import render, script_json
from kspec.train.run import TrainOptions, build_and_train

pytest.importorskip("tensorflow")
import keras  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

DIGITS = (
    (ROOT / "specs" / "digits_cnn.yaml")
    .read_text(encoding="utf-8")
    .replace(
        "learning_rate: {type: CosineDecay, initial_learning_rate: 0.003, decay_steps: 1640}  # 40 epochs x 41 steps",
        "learning_rate: 0.003",
    )
    .replace(
        "  seed: 7\n",
        "  seed: 7\n"
        "  callbacks:\n"
        "    - {type: ReduceLROnPlateau, monitor: val_loss, patience: 0, min_delta: 1000}\n"  # lowers the rate from epoch 2
        "    - {type: ModelCheckpoint, filepath: best.keras, monitor: val_loss, save_best_only: true}\n"
        "    - {type: EarlyStopping, monitor: loss, min_delta: 100, patience: 2}\n",  # stops after epoch 3
    )
)


def train(spec: Path, out: Path, messages: list[str] | None = None, **options):
    options.setdefault("verbose", 0)
    echo = messages.append if messages is not None else (lambda m: None)
    return build_and_train(str(spec), TrainOptions(output=str(out), **options), echo=echo)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    spec = root / "digits.yaml"
    spec.write_text(DIGITS.replace("epochs: 40", "epochs: 6"), encoding="utf-8")
    messages: list[str] = []
    result = train(spec, root / "run", messages)
    return root / "run", result, messages


# ---- the figures ----------------------------------------------------------------------------------------------


def test_roc_and_pr_on_a_worked_example():
    # scikit-learn's documented example: ROC AUC 0.75, average precision 0.8333
    scores, labels = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    roc, pr = curves.roc_curve(scores, labels), curves.pr_curve(scores, labels)
    assert roc["auc"] == pytest.approx(0.75)
    assert pr["ap"] == pytest.approx(0.833333, abs=1e-6)
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    assert pr["recall"][-1] == 1.0 and pr["precision"][-1] == 0.5
    assert curves.roc_curve(scores, np.zeros(4))["auc"] is None  # no positive example: no curve


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_agrees_with_keras(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 500)
    scores = np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1), 3)  # ties, as real scores have
    ours = curves.roc_curve(scores, labels)
    auc = keras.metrics.AUC(num_thresholds=4001, curve="ROC", summation_method="interpolation")
    auc.update_state(labels, scores)
    assert ours["auc"] == pytest.approx(float(auc.result()), abs=2e-3)
    assert len(ours["fpr"]) <= curves.CURVE_POINTS and np.all(np.diff(ours["fpr"]) >= 0)


def test_calibration_and_regression_figures():
    confidence = np.array([0.95, 0.95, 0.55, 0.55, 0.55, 0.15])
    correct = np.array([1, 1, 1, 0, 0, 0])
    cal = curves.calibration(confidence, correct)
    assert cal["count"] == [1, 3, 2] and cal["accuracy"] == [0.0, pytest.approx(1 / 3, abs=1e-5), 1.0]
    assert cal["ece"] == pytest.approx((0.15 + 3 * abs(1 / 3 - 0.55) + 2 * 0.05) / 6, abs=1e-5)
    rng = np.random.default_rng(0)
    true = rng.normal(size=300)
    pred = true + rng.normal(scale=0.3, size=300)
    reg = curves.regression(true, pred)
    r2 = keras.metrics.R2Score()
    r2.update_state(true[:, None], pred[:, None])
    assert reg["r2"] == pytest.approx(float(r2.result()), abs=1e-5)
    assert reg["mae"] == pytest.approx(np.abs(pred - true).mean(), abs=1e-5)
    assert sum(reg["residual_hist"]["counts"]) == 300 and reg["true"] == sorted(reg["true"])


# ---- a run's analysis and events ----------------------------------------------------------------------------


def test_events_are_what_the_callbacks_did(digits_run):
    run_dir, result, _ = digits_run
    events = json.loads((run_dir / "events.json").read_text())
    assert result.epochs_done == 3  # EarlyStopping: no improvement of 100 in the loss for one epoch
    kinds = [(e["epoch"], e["kind"]) for e in events]
    assert (2, "lr") in kinds and (3, "lr") in kinds and (3, "early_stop") in kinds
    assert (1, "checkpoint") in kinds
    lowered = [e for e in events if e["kind"] == "lr"]
    final = float(keras.ops.convert_to_numpy(result.model.optimizer.learning_rate))
    assert re.search(r"→ ([0-9.e-]+)", lowered[-1]["text"]).group(1) == f"{final:.3g}"
    assert "did not improve for 2 epoch" in next(e["text"] for e in events if e["kind"] == "early_stop")


def test_the_analysis_agrees_with_kspec_evaluate(digits_run):
    run_dir, result, _ = digits_run
    analysis = json.loads((run_dir / "analysis.json").read_text())
    from kspec.use.evaluate import evaluate_run

    evaluated = evaluate_run(run_dir, output=run_dir.parent / "evaluation.json").outputs["digit"]
    (out,) = analysis["outputs"]
    assert analysis["examples"] == analysis["of"] == 360
    assert out["confusion_matrix"] == evaluated["confusion_matrix"]
    assert out["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"], abs=1e-6)
    assert len(out["curves"]) == 10 and all(0.5 < c["auc"] <= 1 for c in out["curves"])
    assert sum(out["calibration"]["count"]) == 360
    wrong = 360 - sum(out["confusion_matrix"][i][i] for i in range(10))
    mistakes = out["mistakes"]
    assert len(mistakes) == min(wrong, 12) and all(m["true"] != m["pred"] for m in mistakes)
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    from PIL import Image

    for m in mistakes:
        assert m["example"]["kind"] == "image"
        image = Image.open(io.BytesIO(base64.b64decode(m["example"]["src"].split(",", 1)[1])))
        assert image.size == (8, 8)  # smaller than a thumbnail: kept as it is (the page scales it up)


def test_integrated_gradients_are_complete(digits_run):
    """The attributions of integrated gradients add up to the change of the explained score from the
    baseline (Sundararajan et al.'s completeness axiom), here to within the error of 64 steps."""
    from kspec.report.analysis import _gradients

    run_dir, result, _ = digits_run
    model = result.model
    from kspec.train.data import load_data

    x = load_data(result.spec, kspec.check(run_dir / "spec.yaml").inference, base_dir=ROOT, seed=7).test.x["image"][:3]
    probs = model.predict(x, verbose=0)
    base = model.predict(np.zeros_like(x[:1]), verbose=0)[0]
    steps = 64
    for i in range(3):
        cls = int(probs[i].argmax())
        alphas = ((np.arange(steps) + 0.5) / steps).reshape(-1, 1, 1, 1).astype("float32")
        grads = _gradients(model, alphas * x[i : i + 1], cls, 0, 1, False).mean(axis=0)
        total = float((grads * x[i]).sum())
        assert total == pytest.approx(float(probs[i, cls] - base[cls]), abs=0.03)


def test_the_page_data_describes_the_run(digits_run):
    run_dir, result, messages = digits_run
    assert f"Report: {run_dir / 'report.html'}" in messages
    data = collect([run_dir])
    (run,) = data["runs"]
    expected = kspec.check(run_dir / "spec.yaml")
    assert run["totals"]["params"] == expected.param_count == result.model.count_params()
    assert len(run["graph"]["nodes"]) == len(expected.inference.nodes) + 1  # and the input
    assert [n["role"] for n in run["graph"]["nodes"]][0] == "input" and run["graph"]["nodes"][-1]["role"] == "output"
    assert run["graph"]["edges"][0] == ["image", run["graph"]["nodes"][1]["id"]]
    info = dict(run["info"])
    assert info["status"] == "complete" and info["epochs"] == "3 of 6" and info["backend"] == "tensorflow"
    assert run["history"]["epoch"] == [1, 2, 3] and run["panels"][0]["series"] == ["accuracy", "val_accuracy"]
    assert run["analysis"]["outputs"][0]["name"] == "digit" and run["analysis_note"] is None
    page = (run_dir / "report.html").read_text()
    assert "<script src" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert 'id="kspec-data"' in page


def test_two_runs_are_compared_with_their_spec_diff(digits_run, tmp_path):
    run_dir, _, _ = digits_run
    spec = tmp_path / "digits.yaml"
    spec.write_text(DIGITS.replace("epochs: 40", "epochs: 2").replace("rate: 0.3", "rate: 0.5"), encoding="utf-8")
    other = tmp_path / "other"
    train(spec, other)
    result = CliRunner().invoke(main, ["report", str(run_dir), str(other), "-o", str(tmp_path / "both.html")])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Report written to .*both\.html \(\d+ KiB\)\.\n", result.output)
    data = collect([run_dir, other])
    comparison = data["comparison"]
    assert comparison["runs"] == ["run", "other"]
    lines = comparison["diffs"][0]["lines"]
    assert ["-", "    - {type: Dropout, rate: 0.3}"] in lines or any(k == "-" and "rate: 0.3" in t for k, t in lines)
    assert any(k == "+" and "rate: 0.5" in t for k, t in lines)
    assert any(k == "-" and "epochs: 6" in t for k, t in lines)
    assert {c["metric"] for c in comparison["curves"]} >= {"loss", "val_loss", "accuracy"}
    loss = next(c for c in comparison["curves"] if c["metric"] == "loss")
    assert loss["epochs"] == [1, 2, 3] and loss["series"]["other"][2] is None


# ---- other kinds of model -------------------------------------------------------------------------------------


REGRESSION = """\
kspec: 1
name: reg
model:
  input: {shape: [4]}
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, units: 1}
training:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: mse
  epochs: 2
  batch_size: 16
  seed: 3
data:
  source: {type: synthetic, samples: 80}
  test_split: 0.25
"""


def test_a_regression_run_shows_predicted_against_true(tmp_path):
    spec = tmp_path / "reg.yaml"
    spec.write_text(REGRESSION, encoding="utf-8")
    result = train(spec, tmp_path / "run")
    (out,) = json.loads((tmp_path / "run" / "analysis.json").read_text())["outputs"]
    assert out["kind"] == "regression" and len(out["true"]) == 20
    assert out["mae"] == pytest.approx(result.metrics["test"]["loss"] ** 0.5, rel=2) and out[
        "rmse"
    ] ** 2 == pytest.approx(result.metrics["test"]["loss"], rel=1e-3)


def write_texts(root: Path) -> Path:
    words = {"pos": "good great fine superb", "neg": "bad awful poor dreadful"}
    rng = np.random.default_rng(0)
    for label, vocab in words.items():
        (root / label).mkdir(parents=True)
        for i in range(20):
            text = " ".join(rng.choice(vocab.split() + ["film", "plot", "the"], 8))
            (root / label / f"{i}.txt").write_text(text, encoding="utf-8")
    return root


TEXTS = """\
kspec: 1
name: texts
model:
  input: {name: tokens, shape: [8], dtype: int32}
  layers:
    - {type: Embedding, input_dim: 20, output_dim: 8}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, name: sentiment, units: 2, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.05}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 3
  batch_size: 8
  seed: 1
data:
  source: {type: text_directory, path: texts}
  test_split: 0.25
"""


def test_a_text_run_shows_texts_and_the_tokens_that_weigh_most(tmp_path):
    write_texts(tmp_path / "texts")
    spec = tmp_path / "texts.yaml"
    spec.write_text(TEXTS, encoding="utf-8")
    train(spec, tmp_path / "run")
    analysis = json.loads((tmp_path / "run" / "analysis.json").read_text())
    explanation = analysis["explanation"]
    assert explanation["kind"] == "text" and explanation["method"].startswith("Occlusion")
    vocabulary = set((tmp_path / "run" / "preprocessing" / "vocabulary.txt").read_text().split("\n"))
    for item in explanation["items"]:
        assert item["tokens"] and all(t in vocabulary for t, _ in item["tokens"])
        assert max(abs(w) for _, w in item["tokens"]) == pytest.approx(1.0) or all(w == 0 for _, w in item["tokens"])
        assert item["true"] in ("neg", "pos") and item["pred"] in ("neg", "pos")
    for mistake in analysis["outputs"][0]["mistakes"]:
        assert mistake["example"]["kind"] == "text" and set(mistake["example"]["text"].split()) <= vocabulary


# ---- escaping -------------------------------------------------------------------------------------------------


def test_the_page_escapes_what_comes_from_the_user():
    evil = "</script><script>alert(1)</script>"
    assert "<" not in script_json({"a": evil}) and json.loads(script_json({"a": evil})) == {"a": evil}
    assert "<script>" not in highlight_yaml(f"name: '{evil}'\n# {evil}\n- {evil}")
    lines = diff(f"a: 1\nname: {evil}\n", "a: 2\n", "x", "y")
    assert ["-", f"name: {evil}"] in lines


# ---- the command ----------------------------------------------------------------------------------------------


def test_report_errors_are_clear(tmp_path):
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for args, expected in [
        ([str(tmp_path / "missing")], "is not a directory"),
        ([str(tmp_path / "empty")], "holds no kspec run (no run.json) and no study"),
        ([str(tmp_path / "file.txt")], "file.txt' is a file"),
    ]:
        result = runner.invoke(main, ["report", *args])
        assert result.exit_code == 2, result.output
        assert expected in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["report", str(tmp_path / "empty"), "--format", "json"])
    assert result.exit_code == 2 and json.loads(result.stdout)["ok"] is False


def test_a_report_into_a_directory_is_refused(digits_run, tmp_path):
    run_dir, _, _ = digits_run
    result = CliRunner().invoke(main, ["report", str(run_dir), "-o", str(tmp_path)])
    assert result.exit_code == 2 and f"'{tmp_path}' is a directory" in result.output


def test_render_needs_nothing_from_the_network(digits_run):
    run_dir, _, _ = digits_run
    page = render(collect([run_dir]))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page


def test_report_imports_neither_tensorflow_nor_keras(digits_run, tmp_path):
    import subprocess
    import sys

    run_dir, _, _ = digits_run
    program = (
        "import sys\nfrom click.testing import CliRunner\nfrom kspec.cli import main\n"
        f"result = CliRunner().invoke(main, ['report', {str(run_dir)!r}, '-o', {str(tmp_path / 'r.html')!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('HEAVY:', sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'keras', 'jax', 'torch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    assert "HEAVY: []" in out and (tmp_path / "r.html").stat().st_size > 0


# ---- edge cases: sequences, logits, a NaN run, a study's relative paths, a run without a spec --------------------


def test_a_binary_output_per_position_counts_every_position():
    from kspec.report.analysis import _classifier

    spec = kspec.load_spec(
        REGRESSION.replace("loss: mse", "loss: binary_crossentropy").replace(
            "units: 1}", "units: 1, activation: sigmoid}"
        )
    )
    labels = np.zeros((50, 6, 1))
    scores = np.full((50, 6, 1), 0.1)
    scores[:, 0] = 0.9  # wrong at the first position of every example, right at the five others
    out, per_example = _classifier("y", {"kind": "binary_probability"}, spec, scores, labels)
    assert not per_example and sum(map(sum, out["confusion_matrix"])) == 300
    assert out["accuracy"] == pytest.approx(250 / 300, abs=1e-6) and out["mistake_rows"] == []


def test_logits_become_probabilities_before_they_are_explained():
    from kspec.report.analysis import _probabilities

    binary = _probabilities(np.array([[0.3], [-2.0]]), 0, 1, {"binary": True, "logits": True})
    np.testing.assert_allclose(binary[:, 1], 1 / (1 + np.exp(-np.array([0.3, -2.0]))))
    classes = _probabilities(np.array([[0.2, 0.5, 0.1]]), 0, 1, {"binary": False, "logits": True})
    np.testing.assert_allclose(classes.sum(-1), 1.0) and np.testing.assert_allclose(
        classes, np.exp([[0.2, 0.5, 0.1]]) / np.exp([[0.2, 0.5, 0.1]]).sum()
    )


def test_a_run_that_fails_on_a_nan_loss_says_so_and_still_gets_its_report(tmp_path):
    from kspec.train.run import TrainError

    spec = tmp_path / "nan.yaml"
    spec.write_text(
        REGRESSION.replace("{type: Adam, learning_rate: 0.01}", "{type: SGD, learning_rate: 1000000.0}").replace(
            "  seed: 3\n", "  seed: 3\n  callbacks: [{type: EarlyStopping, monitor: loss, patience: 3}]\n"
        ),
        encoding="utf-8",
    )
    with pytest.raises(TrainError):
        train(spec, tmp_path / "run")
    events = (
        json.loads((tmp_path / "run" / "events.json").read_text())
        if (tmp_path / "run" / "events.json").exists()
        else []
    )
    assert all(e["kind"] != "early_stop" for e in events)
    data = collect([tmp_path / "run"])
    assert data["runs"][0]["status"] == "failed" and "no analysis" in data["runs"][0]["analysis_note"].lower()
    assert "failed" in (tmp_path / "run" / "report.html").read_text()


def test_a_study_s_best_run_is_found_from_a_relative_path(tmp_path):
    study = tmp_path / "runs" / "s-study"
    (study / "trial-0001").mkdir(parents=True)
    (study / "trial-0001" / "run.json").write_text('{"status": "complete", "spec": "s"}')
    (study / "trial-0001" / "spec.yaml").write_text(REGRESSION)
    (study / "trials.csv").write_text(
        "number,state,val_loss,seconds,lr,run_dir,note\n"
        "0,invalid,,,0.1,,the model does not fit\n"
        "1,complete,0.5,2.000,0.01,runs/s-study/trial-0001,\n"
        "2,failed,,1.000,0.02,runs/s-study/trial-0002,NaN loss\n"
    )
    data = collect([study])
    assert data["study"]["direction"] == "minimize" and data["study"]["best"] == 1
    assert data["runs"][0]["dir"] == str((study / "trial-0001").resolve())
    assert [t["state"] for t in data["study"]["trials"]] == ["invalid", "complete", "failed"]
    assert "the model does not fit" in render(data)


def test_a_run_whose_spec_no_longer_checks_still_gets_a_page(tmp_path):
    (tmp_path / "run.json").write_text('{"status": "complete", "spec": "gone"}')
    (tmp_path / "spec.yaml").write_text("kspec: 1\nname: gone\nmodel: {input: {shape: [4]}, layers: [{type: Nope}]}\n")
    page = render(collect([tmp_path]))
    assert "no longer checks, so its model cannot be drawn" in page
