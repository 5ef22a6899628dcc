"""Benchmark: building and training from a spec vs. the hand-written Keras tutorial code, in one run.

The model is the classic MNIST CNN (Conv2D 32 3x3, MaxPooling 2x2, Flatten, Dense 128, Dense 10)
on synthetic 28x28x1 data, batch 32, on this machine's CPU.

1. Build: `kspec.build_model(spec text)` (YAML parse, checking, building, and the shape/parameter
   assertion against the static inference) vs. the same `keras.Sequential` written by hand.
   Median of N builds each, interleaved. Target: kspec at most 1.1x the hand-written time.
2. Training: `kspec.build_and_train` (kspec's data pipeline, compile defaults and per-epoch
   checkpoints; the time is that of `fit`, as recorded in the run's metrics.json) vs. the Keras
   tutorial: `model.compile(optimizer="adam", loss=..., metrics=["accuracy"])` with default settings
   and `model.fit` on NumPy arrays. Same data (a learnable synthetic task: the label is which of 10
   horizontal bands of the image is brighter, with 30% of the labels random, so that the loss
   settles on a floor), same epochs. Target: kspec >= 1.5x steps per second, with the same final
   loss within noise.

It prints figures and ratios; it does not pass or fail.
Each training measurement runs in a fresh process (so neither side inherits the other's threads,
caches or traced graphs), in interleaved rounds whose order alternates, and the ratio is that of
the medians: on a shared 2-core machine one fit's speed varies by tens of percent.
Run: python bench/bench_train.py [--builds 15] [--examples 9600] [--epochs 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SPEC = """
kspec: 1
name: mnist_classic
model:
  input: {shape: [28, 28, 1]}
  layers:
    - {type: Conv2D, filters: 32, kernel_size: 3, activation: relu}
    - {type: MaxPooling2D, pool_size: 2}
    - {type: Flatten}
    - {type: Dense, units: 128, activation: relu}
    - {type: Dense, units: 10, activation: softmax}
training:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  batch_size: 32
  seed: 1
data:
  source: {type: npz, path: data.npz}
  shuffle: true
"""


def hand_written_model():
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def task(n: int, seed: int = 0):
    """Random images in which one of 10 horizontal bands is brighter; the label is that band, except
    for 30% of the examples whose label is random. Both trainings learn the signal within the
    first epoch and then sit on the loss floor the noise sets (about 1.17 nats), so the final
    losses compare."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype("int32")
    for band in range(10):
        x[y == band, 2 * band : 2 * band + 2, :, 0] += 0.3
    noisy = rng.random(n) < 0.3
    y[noisy] = rng.integers(0, 10, size=int(noisy.sum()))
    return x, y


def bench_build(builds: int) -> tuple[float, float]:
    import keras

    import kspec

    kspec_times, keras_times = [], []
    for i in range(builds + 2):  # two warm-up rounds
        keras.backend.clear_session()
        t = time.perf_counter()
        kspec.build_model(SPEC)
        t1 = time.perf_counter()
        keras.backend.clear_session()
        t2 = time.perf_counter()
        hand_written_model()
        t3 = time.perf_counter()
        if i >= 2:
            kspec_times.append(t1 - t)
            keras_times.append(t3 - t2)
    return statistics.median(kspec_times), statistics.median(keras_times)


def child(which: str, examples: int, epochs: int, workdir: str) -> dict:
    """One training measurement in this (fresh) process: steps per second of the fit, final loss."""
    import keras
    import numpy as np

    x, y = task(examples)
    steps = epochs * math.ceil(examples / 32)
    per_epoch = math.ceil(examples / 32)
    if which == "keras":

        class EpochTimes(keras.callbacks.Callback):
            seconds: list = []

            def on_epoch_begin(self, epoch, logs=None):
                self.t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.t)

        keras.utils.set_random_seed(1)
        model = hand_written_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = EpochTimes()
        t = time.perf_counter()
        history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[timer])
        return {
            "steps_per_s": steps / (time.perf_counter() - t),
            "steady_steps_per_s": per_epoch * (epochs - 1) / sum(timer.seconds[1:]),
            "loss": history.history["loss"][-1],
        }
    import kspec

    np.savez(Path(workdir) / "data.npz", x=x, y=y)
    spec_path = Path(workdir) / "mnist_classic.yaml"
    spec_path.write_text(SPEC)
    result = kspec.build_and_train(str(spec_path), epochs=epochs, output=str(Path(workdir) / "run"), verbose=0)
    return {
        "steps_per_s": steps / result.metrics["train_seconds"],
        "steady_steps_per_s": per_epoch * (epochs - 1) / sum(result.metrics["epoch_seconds"][1:]),
        "loss": result.history["loss"][-1],
    }


def bench_train(examples: int, epochs: int, rounds: int) -> dict:
    """`rounds` interleaved pairs of fresh processes (tutorial, kspec; then kspec, tutorial; ...)."""
    out: dict[str, list] = {k: [] for k in ("kspec", "keras", "kspec_loss", "keras_loss", "kspec_steady", "keras_steady")}
    for r in range(rounds):
        order = ("keras", "kspec") if r % 2 == 0 else ("kspec", "keras")
        for which in order:
            with tempfile.TemporaryDirectory() as tmp:
                argv = [sys.executable, __file__, "--child", which, "--examples", str(examples), "--epochs", str(epochs), "--workdir", tmp]
                proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
                if proc.returncode != 0:
                    raise SystemExit(f"{which} run failed:\n{proc.stderr[-3000:]}")
                result = json.loads(proc.stdout.strip().splitlines()[-1])
            out[which].append(result["steps_per_s"])
            out[f"{which}_steady"].append(result["steady_steps_per_s"])
            out[f"{which}_loss"].append(result["loss"])
        print(
            f"  round {r + 1}: whole fit: kspec {out['kspec'][-1]:6.1f}, tutorial {out['keras'][-1]:6.1f} steps/s "
            f"({out['kspec'][-1] / out['keras'][-1]:.2f}x); after the first epoch: kspec {out['kspec_steady'][-1]:6.1f}, "
            f"tutorial {out['keras_steady'][-1]:6.1f} ({out['kspec_steady'][-1] / out['keras_steady'][-1]:.2f}x)",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=15)
    parser.add_argument("--examples", type=int, default=9600)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved training rounds; the machine is noisy")
    parser.add_argument("--child", choices=["kspec", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.examples, args.epochs, args.workdir)))
        return

    import keras
    import tensorflow as tf

    print(f"Keras {keras.__version__}, TensorFlow {tf.__version__}, backend {keras.backend.backend()}, {os.cpu_count()} CPU(s)")
    kspec_build, keras_build = bench_build(args.builds)
    print(f"\nBuild (median of {args.builds}):")
    print(f"  kspec.build_model(spec text)   {kspec_build * 1000:8.1f} ms  (parse + check + build + shape assertion)")
    print(f"  hand-written keras.Sequential  {keras_build * 1000:8.1f} ms")
    print(f"  ratio kspec / hand-written     {kspec_build / keras_build:8.2f}x   (target <= 1.10x)")

    print(f"\nTraining ({args.examples} examples, batch 32, {args.epochs} epochs per fit, {args.rounds} interleaved rounds of fresh processes, time of fit):")
    r = bench_train(args.examples, args.epochs, args.rounds)
    med = statistics.median
    print(f"  kspec build-and-train (median)           {med(r['kspec']):8.1f} steps/s   final loss {med(r['kspec_loss']):.4f}")
    print(f"  Keras tutorial, NumPy + default compile  {med(r['keras']):8.1f} steps/s   final loss {med(r['keras_loss']):.4f}")
    print(f"  ratio of medians kspec / tutorial        {med(r['kspec']) / med(r['keras']):8.2f}x   (target >= 1.50x)")
    print("  after the first epoch (graph tracing excluded on both sides; kspec's checkpoints included):")
    print(f"  kspec build-and-train (median)           {med(r['kspec_steady']):8.1f} steps/s")
    print(f"  Keras tutorial (median)                  {med(r['keras_steady']):8.1f} steps/s")
    print(f"  ratio of medians kspec / tutorial        {med(r['kspec_steady']) / med(r['keras_steady']):8.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
