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
   horizontal bands of the image is brightest), same epochs. Target: kspec >= 1.5x steps per second,
   with the same final loss within noise (30% of the labels are random, so the loss has a floor).

It prints figures and ratios; it does not pass or fail.
Run: python bench/bench_train.py [--builds 15] [--examples 9600] [--epochs 3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
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
    """Random images; the label is the brightest of 10 horizontal bands, except for 30% of the
    examples whose label is random: a learnable task with a loss floor, so final losses compare."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    bands = x[:, :20, :, 0].reshape(n, 10, 2 * 28).mean(axis=2)
    y = bands.argmax(axis=1).astype("int32")
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


def bench_train(examples: int, epochs: int) -> dict:
    import keras
    import numpy as np

    import kspec

    x, y = task(examples)
    steps = epochs * math.ceil(examples / 32)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "data.npz", x=x, y=y)
        spec_path = Path(tmp) / "mnist_classic.yaml"
        spec_path.write_text(SPEC)
        result = kspec.build_and_train(str(spec_path), epochs=epochs, output=str(Path(tmp) / "run"), verbose=0)
        kspec_seconds = result.metrics["train_seconds"]
        kspec_loss = result.history["loss"][-1]

    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    model = hand_written_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    keras_seconds = time.perf_counter() - t
    return {
        "steps": steps,
        "kspec_steps_per_s": steps / kspec_seconds,
        "keras_steps_per_s": steps / keras_seconds,
        "kspec_loss": kspec_loss,
        "keras_loss": history.history["loss"][-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=15)
    parser.add_argument("--examples", type=int, default=9600)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    print(f"Keras {keras.__version__}, TensorFlow {tf.__version__}, backend {keras.backend.backend()}, {os.cpu_count()} CPU(s)")
    kspec_build, keras_build = bench_build(args.builds)
    print(f"\nBuild (median of {args.builds}):")
    print(f"  kspec.build_model(spec text)   {kspec_build * 1000:8.1f} ms  (parse + check + build + shape assertion)")
    print(f"  hand-written keras.Sequential  {keras_build * 1000:8.1f} ms")
    print(f"  ratio kspec / hand-written     {kspec_build / keras_build:8.2f}x   (target <= 1.10x)")

    r = bench_train(args.examples, args.epochs)
    print(f"\nTraining ({args.examples} examples, batch 32, {args.epochs} epochs = {r['steps']} steps, time of fit):")
    print(f"  kspec build-and-train          {r['kspec_steps_per_s']:8.1f} steps/s   final loss {r['kspec_loss']:.4f}")
    print(f"  Keras tutorial (NumPy, default compile) {r['keras_steps_per_s']:8.1f} steps/s   final loss {r['keras_loss']:.4f}")
    print(f"  ratio kspec / tutorial         {r['kspec_steps_per_s'] / r['keras_steps_per_s']:8.2f}x   (target >= 1.50x)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
