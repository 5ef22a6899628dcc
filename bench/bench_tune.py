"""Benchmark: `kspec tune` (TPE with median pruning) against Keras Tuner's RandomSearch, same space, in one run.

The space (bench/digits_space.yaml, over the digits demo): depth (conv+pool blocks, 1..4), width (Conv2D
filters, 8..64, log), dropout (0..0.5) and Adam's learning rate (3e-4..3e-2, log). Depth 4 is invalid: the
fourth 2x2 pooling of the 8x8 image receives a 1x1 map (Keras refuses a 0x0 output).

1. kspec: `kspec tune SPEC --trials N -o DIR` in a fresh process (the sampler and pruner the spec declares),
   wall-clock time; best val_accuracy, trial states and per-trial seconds read back from the study
   (study.db, trials.csv). Invalid points trained: trials in state `invalid` that have a run directory,
   a training time or a trials.csv run_dir (must be 0).
2. Keras Tuner: RandomSearch over the same space written with hp.Int / hp.Float, the same model, data
   (kspec's embedded digits, split as kspec splits them: seed 7, 360 test, 288 validation, 1,149 training),
   epochs, batch size and optimizer; objective val_accuracy (best epoch, as kspec), the same number of
   trials, max_consecutive_failed_trials above the trial count. Also in a fresh process and timed from the
   outside, so both include their start-up (Python, TensorFlow, Keras). Trials it spends on invalid models
   are its failed trials (Keras raises when the model is built, so they fail before training; each one
   still uses up one of the N trials).
3. kspec's per-trial checking: the sum of the trained trials' check_seconds against the sum of their
   train_seconds (target: under 1%; the study attribute, which in kspec/tune/study.py today times the whole
   build_and_train call: data, build, fit and artefacts), and against the fit time alone (each run's
   metrics.json `train_seconds`).

Both tools use up a trial on an invalid point (kspec records it as infeasible without building anything);
the figures say how many each drew and how many it trained. It prints figures and ratios; it does not pass
or fail. On a shared 2-core machine the times vary by tens of percent; --rounds N runs both N times, in
alternating order, and reports medians.
Run: python bench/bench_tune.py [--trials 12] [--rounds 3] [--spec bench/digits_space.yaml]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "bench" / "digits_space.yaml"
DIGITS = ROOT / "kspec" / "datasets" / "digits.csv.gz"

# The space and the fixed settings of bench/digits_space.yaml, for the Keras Tuner side.
SEED = 7
EPOCHS = 8
BATCH = 32
TEST_SPLIT = 0.2
VALIDATION_SPLIT = 0.2


def child_env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # as an installed kspec runs: .pyc files written once and read after (see bench_validate.py)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def digits_splits():
    """kspec's embedded digits split as `kspec tune` splits them for a spec with seed 7, test_split 0.2 and
    validation_split 0.2 (kspec/train/data/load.py: one permutation of all examples, then the last 20% held out
    as test, then the last 20% of the rest as validation)."""
    import math

    import numpy as np

    with gzip.open(DIGITS, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = table[:, :64].reshape(-1, 8, 8, 1)
    y = table[:, 64].astype(np.int32)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], y[order]
    keep = math.floor(len(x) * (1 - TEST_SPLIT))
    x, y = x[:keep], y[:keep]  # the rest is the test split, which neither tuner sees
    keep = math.floor(len(x) * (1 - VALIDATION_SPLIT))
    return (x[:keep], y[:keep]), (x[keep:], y[keep:])


def keras_tuner_child(trials: int, workdir: str) -> dict:
    """Keras Tuner's RandomSearch over the space, in this (fresh) process."""
    import keras
    import keras_tuner

    def build(hp):
        depth = hp.Int("depth", 1, 4)
        width = hp.Int("width", 8, 64, sampling="log")
        dropout = hp.Float("dropout", 0.0, 0.5)
        learning_rate = hp.Float("learning_rate", 3e-4, 3e-2, sampling="log")
        layers: list = [keras.Input(shape=(8, 8, 1)), keras.layers.Rescaling(0.0625)]
        for _ in range(depth):
            layers += [
                keras.layers.Conv2D(width, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(2),
            ]
        layers += [
            keras.layers.Flatten(),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
        model = keras.Sequential(layers)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    epochs_run = [0]  # Keras Tuner copies the callbacks of each trial: the count lives outside them

    class CountEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs_run[0] += 1

    (x, y), (vx, vy) = digits_splits()
    keras.utils.set_random_seed(SEED)
    tuner = keras_tuner.RandomSearch(
        build,
        objective="val_accuracy",
        max_trials=trials,
        seed=SEED,
        max_consecutive_failed_trials=trials + 1,
        directory=workdir,
        project_name="keras_tuner",
        overwrite=True,
    )
    tuner.search(x, y, validation_data=(vx, vy), epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[CountEpochs()])
    rows = [
        {
            "state": t.status,
            "depth": t.hyperparameters.values.get("depth"),
            "score": t.score,
            "invalid_model": "Computed output size would be zero" in (t.message or ""),
        }
        for t in tuner.oracle.trials.values()
    ]
    return {"trials": rows, "epochs": epochs_run[0]}


def run_keras_tuner(trials: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, __file__, "--child", "keras-tuner", "--trials", str(trials), "--workdir", tmp]
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=child_env())
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"Keras Tuner run failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = out["trials"]
    done = [r for r in rows if r["state"] == "COMPLETED"]
    failed = [r for r in rows if r["state"] != "COMPLETED"]
    return {
        "wall": wall,
        "best": max((r["score"] for r in done if r["score"] is not None), default=float("nan")),
        "trials": len(rows),
        "trained": len(done),
        "invalid_drawn": sum(1 for r in failed if r["invalid_model"]),
        "invalid_trained": sum(1 for r in done if r["depth"] == 4),  # a 0x0 map that somehow trained
        "other_failures": sum(1 for r in failed if not r["invalid_model"]),
        "epochs": out["epochs"],
        "pruned": 0,
    }


def run_kspec(spec: Path, trials: int) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kspec = Path(sys.executable).with_name("kspec")
    with tempfile.TemporaryDirectory() as tmp:
        study_dir = Path(tmp) / "study"
        argv = [str(kspec), "tune", str(spec), "--trials", str(trials), "-o", str(study_dir)]
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=child_env(), cwd=tmp)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"kspec tune failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        study = optuna.load_study(study_name=None, storage=f"sqlite:///{study_dir / 'study.db'}")
        with open(study_dir / "trials.csv", newline="") as f:
            csv_rows = {int(r["number"]): r for r in csv.DictReader(f)}
        states: dict[str, int] = {}
        invalid_trained = 0
        check_trained = check_all = train = fit = 0.0
        epochs = 0
        best = float("nan")
        for tr in study.trials:
            a = tr.user_attrs
            state = a.get("kspec_state", "?")
            states[state] = states.get(state, 0) + 1
            check_all += a.get("check_seconds", 0.0)
            if state == "invalid":
                trained = (
                    (study_dir / f"trial-{tr.number:04d}").exists()
                    or "train_seconds" in a
                    or "run_dir" in a
                    or bool(csv_rows.get(tr.number, {}).get("run_dir"))
                )
                invalid_trained += trained
                continue
            if state not in ("complete", "pruned"):
                continue
            check_trained += a.get("check_seconds", 0.0)
            train += a.get("train_seconds", 0.0)
            metrics = Path(a["run_dir"]) / "metrics.json"
            if metrics.is_file():
                m = json.loads(metrics.read_text())
                fit += m.get("train_seconds", 0.0)
                epochs += m.get("epochs", 0)
            if state == "complete" and tr.value is not None:
                best = tr.value if best != best else max(best, tr.value)
    return {
        "wall": wall,
        "best": best,
        "trials": len(study.trials),
        "trained": states.get("complete", 0) + states.get("pruned", 0),
        "pruned": states.get("pruned", 0),
        "invalid_drawn": states.get("invalid", 0),
        "invalid_trained": invalid_trained,
        "other_failures": states.get("failed", 0),
        "epochs": epochs,
        "check_trained": check_trained,
        "check_all": check_all,
        "train": train,
        "fit": fit,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool, in alternating order")
    parser.add_argument("--spec", default=str(SPEC), help="the kspec search space (default: bench/digits_space.yaml)")
    parser.add_argument("--child", choices=["keras-tuner"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(keras_tuner_child(args.trials, args.workdir)))
        return

    from importlib.metadata import PackageNotFoundError, version

    def version_of(*names: str) -> str:
        for name in names:
            try:
                return version(name)
            except PackageNotFoundError:
                pass
        return "?"

    print(
        f"Keras {version_of('keras')}, TensorFlow {version_of('tensorflow', 'tensorflow-cpu')}, Keras Tuner "
        f"{version_of('keras-tuner')}, Optuna {version_of('optuna')}, {os.cpu_count()} CPU(s)"
    )
    print(
        f"Space: {Path(args.spec).name}; {args.trials} trials per tool, {EPOCHS} epochs, batch {BATCH}; fresh processes"
    )
    runs: dict[str, list[dict]] = {"kspec": [], "kt": []}
    for r in range(args.rounds):
        order = ("kspec", "kt") if r % 2 == 0 else ("kt", "kspec")
        for which in order:
            result = run_kspec(Path(args.spec), args.trials) if which == "kspec" else run_keras_tuner(args.trials)
            runs[which].append(result)
        k, t = runs["kspec"][-1], runs["kt"][-1]
        print(
            f"  round {r + 1}: kspec tune {k['wall']:6.1f} s, best {k['best']:.4f}, {k['invalid_drawn']} invalid drawn, "
            f"{k['pruned']} pruned; Keras Tuner {t['wall']:6.1f} s, best {t['best']:.4f}, "
            f"{t['invalid_drawn']} invalid drawn ({k['wall'] / t['wall']:.2f}x)",
            flush=True,
        )

    def med(which: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[which])

    label = "median of " + str(args.rounds) + " rounds" if args.rounds > 1 else "one round"
    print(f"\n{'(' + label + ')':36} {'kspec tune':>12} {'Keras Tuner':>12} {'kspec / KT':>11}")
    print(
        f"{'wall-clock seconds':36} {med('kspec', 'wall'):12.1f} {med('kt', 'wall'):12.1f} {med('kspec', 'wall') / med('kt', 'wall'):10.2f}x"
    )
    print(
        f"{'best val_accuracy':36} {med('kspec', 'best'):12.4f} {med('kt', 'best'):12.4f} {med('kspec', 'best') / med('kt', 'best'):10.2f}x"
    )
    for key, text in (
        ("invalid_trained", "trials trained on invalid models"),
        ("invalid_drawn", "invalid points drawn"),
        ("trained", "trials trained (valid models)"),
        ("pruned", "  of which pruned"),
        ("other_failures", "other failed trials"),
        ("epochs", "epochs trained in all"),
    ):
        a, b = med("kspec", key), med("kt", key)
        ratio = f"{a / b:10.2f}x" if b else f"{'-':>11}"
        print(f"{text:36} {a:12g} {b:12g} {ratio}")
    ms_per_trial = 1000 * med("kspec", "check_all") / max(med("kspec", "trials"), 1)
    print("\nkspec's per-trial check (median of rounds; target under 1% of training):")
    print(
        f"  sum of check_seconds, trained trials  {med('kspec', 'check_trained'):9.4f} s   ({ms_per_trial:.2f} ms per trial, all trials)"
    )
    print(
        f"  sum of train_seconds (study attrs)    {med('kspec', 'train'):9.2f} s   ratio {100 * med('kspec', 'check_trained') / med('kspec', 'train'):.3f}%"
    )
    print(
        f"  sum of fit seconds (metrics.json)     {med('kspec', 'fit'):9.2f} s   ratio {100 * med('kspec', 'check_trained') / med('kspec', 'fit'):.3f}%"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
