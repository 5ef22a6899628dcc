"""`kspec tune` end to end on the digits search space (specs/digits_tune.yaml), with real Optuna and Keras.

Invalid points are never trained; pruning stops poor trials; a worker killed mid-trial leaves its trial failed
and the study usable, and rerunning continues the killed trial's own run directory; the best spec trains as it
is. (Two workers sharing a study through PostgreSQL: tests/test_tune_postgres.py.)
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "digits_tune.yaml"
KSPEC = [sys.executable, "-c", "from kspec.cli import entry; entry()"]


def study_of(study_dir: Path, name: str = "digits_tune"):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{study_dir / 'study.db'}")


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """Six trained trials of three epochs; the per-trial parameter budget makes the widest models invalid too."""
    out = tmp_path_factory.mktemp("tune") / "study"
    args = ["tune", str(SPEC), "--trials", "6", "-o", str(out), "--set", "training.epochs=3", "--param-budget", "40000"]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout), args


def test_invalid_points_are_listed_with_their_diagnostics_and_never_trained(searched) -> None:
    out, doc, _ = searched
    states = [t["state"] for t in doc["trials"]]
    assert set(states) <= {"complete", "pruned", "invalid"}
    assert len([s for s in states if s != "invalid"]) == 6  # an invalid point is not a trial spent
    invalid = [t for t in doc["trials"] if t["state"] == "invalid"]
    assert invalid, states
    for t in invalid:
        assert t["run_dir"] is None and not (out / f"trial-{t['number']:04d}").exists()
        assert t["note"].startswith(("shape:", "param-budget:")), t["note"]
        if t["note"].startswith("shape:"):
            assert t["params"]["depth"] == 4
    trained = [t for t in doc["trials"] if t["state"] != "invalid"]
    for t in trained:
        run = json.loads((Path(t["run_dir"]) / "run.json").read_text())
        assert run["status"] == "complete" and (Path(t["run_dir"]) / "model.keras").is_file()
    # the sampler is told: an invalid trial is recorded as pruned with a violated constraint
    study = study_of(out)
    for t in study.trials:
        violated = t.system_attrs.get("constraints:kspec_valid")
        assert (violated == 1.0) == (t.user_attrs["kspec_state"] == "invalid")


def test_the_study_directory_holds_the_results(searched) -> None:
    out, doc, _ = searched
    assert set(doc["files"]) == {"trials.csv", "best.yaml", "importances.json", "history.png", "params.png"}
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [int(r["number"]) for r in rows] == list(range(len(doc["trials"])))
    assert set(rows[0]) >= {"state", "val_accuracy", "seconds", "depth", "width", "dropout", "optimizer", "run_dir"}
    complete = [t for t in doc["trials"] if t["state"] == "complete"]
    best = max(complete, key=lambda t: t["value"])
    assert doc["best"]["number"] == best["number"] and doc["objective"] == "val_accuracy"
    importances = json.loads((out / "importances.json").read_text())
    assert set(importances) <= set(doc["best"]["params"]) | {"nesterov", "optimizer", "learning_rate"}
    for png in ("history.png", "params.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_best_spec_validates_and_trains_as_it_is(searched, tmp_path) -> None:
    out, doc, _ = searched
    best = out / "best.yaml"
    text = best.read_text()
    assert "tuning" not in text and f"trial ({doc['best']['number']}" in text.splitlines()[0]
    check = CliRunner().invoke(main, ["validate", str(best), "--strict"])
    assert check.exit_code == 0, check.output
    result = CliRunner().invoke(
        main, ["build-and-train", str(best), "--epochs", "1", "-o", str(tmp_path / "run"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"
    params = doc["best"]["params"]
    assert f"filters: {params['width']}" in text and f"repeat: {params['depth']}" in text


def test_rerunning_a_finished_study_trains_nothing_and_gives_the_same_best(searched) -> None:
    out, doc, args = searched
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "already has 6 finished trial(s)" in result.stderr
    assert f"Best: trial {doc['best']['number']}," in result.stdout
    assert len(study_of(out).trials) == len(doc["trials"])


def test_poor_trials_are_pruned_at_an_epoch(tmp_path) -> None:
    # A grid (its order drawn from the seed, the one that learns first): one learning rate that learns, three
    # that cannot; the median pruner, after one trial, stops a trial whose validation accuracy is below the
    # median of the earlier trials' at that epoch.
    out = tmp_path / "study"
    spec = tmp_path / "grid.yaml"
    text = SPEC.read_text()
    head, _, _ = text.partition("tuning:")
    spec.write_text(
        head
        + "tuning:\n  objective: {metric: val_accuracy, direction: maximize}\n  sampler: grid\n  trials: 4\n  seed: 4\n"
        "  pruner: {type: median, startup_trials: 1, warmup_epochs: 1}\n  params:\n"
        "    learning_rate: {type: choice, path: training.optimizer.learning_rate, choices: [0.01, 1e-7, 1e-8, 1e-9]}\n"
    )
    result = CliRunner().invoke(main, ["tune", str(spec), "-o", str(out), "--set", "training.epochs=4", "--format", "json"])
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)["trials"]
    assert sorted(t["params"]["learning_rate"] for t in trials) == [1e-9, 1e-8, 1e-7, 0.01]  # the grid, once
    assert trials[0]["params"]["learning_rate"] == 0.01 and trials[0]["state"] == "complete"
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert len(pruned) == 3, [(t["state"], t["params"]) for t in trials]
    for t in pruned:
        run = json.loads((Path(t["run_dir"]) / "run.json").read_text())
        assert run["status"] == "complete" and run["epochs_done"] < 4  # stopped early, its run directory whole


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])  # SIGTERM: as Ctrl-C (exit 130); SIGKILL: no goodbye
def test_a_killed_worker_leaves_its_trial_failed_and_a_rerun_continues_its_run(tmp_path, how: str) -> None:
    out = tmp_path / "study"
    cmd = [*KSPEC, "tune", str(SPEC), "--trials", "2", "-o", str(out), "--set", "training.epochs=30",
           "--set", "tuning.params.depth.high=3", "--set", "tuning.sampler=random"]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    worker = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    first = out / "trial-0000" / "run.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and worker.poll() is None:
        if first.is_file() and json.loads(first.read_text()).get("epochs_done", 0) >= 2:
            break
        time.sleep(0.2)
    assert worker.poll() is None, worker.communicate()
    worker.send_signal(getattr(signal, how))
    _, err = worker.communicate()
    killed_at = json.loads(first.read_text())
    assert 2 <= killed_at["epochs_done"] < 30
    if how == "SIGTERM":
        assert worker.returncode == 130 and killed_at["status"] == "interrupted"
        assert "Error: Interrupted. The trial that was running is queued again" in err.decode()
        assert "Traceback" not in err.decode()
    else:
        assert killed_at["status"] == "running"

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr
    if how == "SIGKILL":  # the trial is still marked running: the next worker on the locked study fails it
        assert "Trial 0 was cut short; it is queued again and continues its run directory." in again.stderr
    study = study_of(out)
    by_number = {t.number: t for t in study.trials}
    assert by_number[0].state.name == "FAIL" and by_number[0].user_attrs["kspec_state"] == "interrupted"
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == 0)
    assert retry.state.name == "COMPLETE" and retry.params == by_number[0].params
    assert retry.user_attrs["run_dir"] == str(out / "trial-0000")  # the same run, continued
    assert not (out / f"trial-{retry.number:04d}").exists()
    done = json.loads(first.read_text())
    assert done["status"] == "complete" and done["epochs_done"] == 30
    assert len([t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]) >= 2
    assert (out / "best.yaml").is_file()


def test_a_spec_without_a_search_space_or_with_a_bad_one_is_refused(tmp_path) -> None:
    plain = CliRunner().invoke(main, ["tune", str(ROOT / "specs" / "digits_cnn.yaml"), "-o", str(tmp_path / "a")])
    assert plain.exit_code == 1 and "has no `tuning` section" in plain.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.read_text().replace("low: 8, high: 64", "low: 64, high: 8"))
    result = CliRunner().invoke(main, ["tune", str(bad), "-o", str(tmp_path / "b"), "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["error"]["kind"] == "spec"
    assert [(d["code"], d["path"]) for d in doc["diagnostics"]] == [("tuning", "tuning.params.width.high")]
    assert not (tmp_path / "b").exists()  # nothing is made for a spec that is refused


# ---- Keras is the oracle of the space check -----------------------------------------------------------------


def _keras_digits(depth: int, width: int):
    """The example spec's model written in Keras directly."""
    import keras

    layers = [keras.Input((8, 8, 1)), keras.layers.Rescaling(0.0625)]
    for _ in range(depth):
        layers += [keras.layers.Conv2D(width, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.Flatten(), keras.layers.Dropout(0.3), keras.layers.Dense(64, activation="relu")]
    return keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])


@pytest.mark.parametrize("width", [8, 64])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_the_space_check_agrees_with_keras_at_every_depth(depth: int, width: int) -> None:
    import kspec
    from kspec.compile import build_model
    from kspec.load import load_text
    from kspec.tune import space

    report = kspec.check(SPEC)
    assert report.spec is not None and report.spec.tuning is not None
    data, _ = space.apply(load_text(SPEC.read_text()).data, report.spec.tuning, {"depth": depth, "width": width})
    point = kspec.check(data)
    try:
        reference = _keras_digits(depth, width)
    except ValueError:
        reference = None
    assert point.ok == (reference is not None), (depth, width, [d.message for d in point.errors])
    if reference is not None:
        assert build_model(point.spec).count_params() == reference.count_params() == point.param_count


@pytest.mark.parametrize("pruner", ["none", "median", "hyperband", "successive_halving"])
@pytest.mark.parametrize("sampler", ["tpe", "random", "grid"])
def test_every_sampler_and_pruner_is_optunas_own(sampler: str, pruner: str) -> None:
    import optuna

    import kspec
    from kspec.tune.study import pruner_of, sampler_of

    text = SPEC.read_text().replace("dropout:\n      {type: float, path: model.layers.3.rate, low: 0.0, high: 0.5}",
                                    "dropout:\n      {type: float, path: model.layers.3.rate, low: 0.0, high: 0.5, step: 0.1}")  # fmt: skip
    text = text.replace("low: 0.0003, high: 0.03, log: true}", "low: 0.001, high: 0.01, step: 0.001}")
    text = text.replace("  pruner: {type: median, startup_trials: 3, warmup_epochs: 2}", f"  pruner: {{type: {pruner}}}")
    text = text.replace("  trials: 12\n", f"  trials: 12\n  sampler: {sampler}\n")
    report = kspec.check(text)
    assert report.ok, [d.message for d in report.errors]
    tuning = report.spec.tuning
    expected_sampler = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler"}[sampler]
    expected_pruner = {"none": "NopPruner", "median": "MedianPruner", "hyperband": "HyperbandPruner",
                       "successive_halving": "SuccessiveHalvingPruner"}[pruner]  # fmt: skip
    assert type(sampler_of(tuning, 0)).__name__ == expected_sampler
    made = pruner_of(tuning, report.spec.training.epochs)
    assert type(made).__name__ == expected_pruner and isinstance(made, optuna.pruners.BasePruner)
