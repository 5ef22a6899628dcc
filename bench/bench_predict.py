"""Benchmark: `kspec predict` over a directory of small PNG images vs. a hand-written Keras loop, in one run.

The model is a small CNN (32x32x3 -> Rescaling, Conv2D 16, MaxPooling, Conv2D 32, GlobalAveragePooling, Dense 10
softmax) trained for one step from a generated image directory; the images to predict are generated 32x32 RGB
PNGs in one directory.

1. Throughput: `kspec.use.predict.predict_run(run_dir, [directory])` (reads the run directory, loads its
   serving model, lists the directory, decodes, resizes and predicts in batches of 64, yields one Prediction
   per image) vs. the loop a Keras user writes: `keras.saving.load_model`, then for each batch of 64 files
   `tf.io.decode_image` + `tf.image.resize` per file and `model.predict(batch)`. Examples per second from the
   start of the call (model loading included on both sides; imports excluded) to the last prediction.
   Target: kspec >= 1.0x the hand-written loop. Also shown: the same loop with `model.predict_on_batch(batch)`
   (what kspec calls; `model.predict` builds a data pipeline per call, which dominates for small batches).
2. Memory: the peak resident memory (getrusage's ru_maxrss) of a process that predicts N and 10N images:
   streaming keeps it flat (it does not grow with the number of images).

It prints figures and ratios; it does not pass or fail. Each measurement runs in a fresh process (so neither
side inherits the other's threads, caches, traced graphs or memory), in interleaved rounds whose order
alternates; the ratio is that of the medians.
Run: python bench/bench_predict.py [--images 5000] [--small 500] [--rounds 3] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SPEC = """
kspec: 1
name: small_cnn
model:
  input: {shape: [32, 32, 3]}
  layers:
    - {type: Rescaling, scale: 0.00392156862745098}
    - {type: Conv2D, filters: 16, kernel_size: 3, activation: relu}
    - {type: MaxPooling2D, pool_size: 2}
    - {type: Conv2D, filters: 32, kernel_size: 3, activation: relu}
    - {type: GlobalAveragePooling2D}
    - {type: Dense, units: 10, activation: softmax}
training:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  batch_size: 32
  seed: 1
data:
  source: {type: image_directory, path: train}
"""


def write_pngs(directory: Path, count: int, seed: int, classes: int = 0) -> None:
    """`count` random 32x32 RGB PNGs in `directory` (spread over `classes` sub-directories when given)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(count):
        target = directory / f"c{i % classes}" if classes else directory
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(target / f"{i:05d}.png")


def setup(workdir: Path, counts: list[int]) -> Path:
    """A trained run in workdir/run, and a directory workdir/images-N of N PNGs for each N."""
    write_pngs(workdir / "train", 40, seed=0, classes=10)
    for n in counts:
        write_pngs(workdir / f"images-{n}", n, seed=n)
    (workdir / "spec.yaml").write_text(SPEC)
    argv = [sys.executable, __file__, "--train", str(workdir)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stderr[-3000:]}")
    return workdir / "run"


def train(workdir: Path) -> None:
    from kspec.train.run import TrainOptions, build_and_train

    run = workdir / "run"
    build_and_train(
        str(workdir / "spec.yaml"), TrainOptions(epochs=1, steps=1, verbose=0, output=str(run)), echo=lambda _: None
    )


def child(which: str, run: Path, images: Path, batch_size: int) -> dict:
    """One measurement in this (fresh) process: examples per second and the peak resident memory."""
    from kspec.train import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import numpy as np
    import tensorflow as tf

    from kspec.use.predict import Prediction, predict_run

    t = time.perf_counter()
    if which == "kspec":
        predicted = sum(
            isinstance(r, Prediction) for r in predict_run(run, [str(images)], top_k=1, batch_size=batch_size)
        )
    else:
        model = keras.saving.load_model(run / "model.keras")
        files = sorted(images.glob("*.png"))
        predicted = 0
        for start in range(0, len(files), batch_size):
            batch = np.stack(
                [
                    tf.image.resize(
                        tf.io.decode_image(tf.io.read_file(str(f)), channels=3, expand_animations=False), (32, 32)
                    ).numpy()
                    for f in files[start : start + batch_size]
                ]
            )
            if which == "keras":
                predicted += len(model.predict(batch, verbose=0))
            else:  # the faster call for in-memory batches
                predicted += len(model.predict_on_batch(batch))
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"examples": predicted, "per_s": predicted / seconds, "seconds": seconds, "peak_mib": peak}


def measure(which: str, run: Path, images: Path, batch_size: int) -> dict:
    argv = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--run",
        str(run),
        "--dir",
        str(images),
        "--batch-size",
        str(batch_size),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if proc.returncode != 0:
        raise SystemExit(f"{which} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="images for the throughput (10N for memory)")
    parser.add_argument("--small", type=int, default=500, help="N: the smaller count for the memory comparison")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds; the machine is noisy")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--child", choices=["kspec", "keras", "on_batch"], help=argparse.SUPPRESS)
    parser.add_argument("--train", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train:
        train(Path(args.train))
        return
    if args.child:
        print(json.dumps(child(args.child, Path(args.run), Path(args.dir), args.batch_size)))
        return

    with tempfile.TemporaryDirectory(prefix="kspec-bench-predict-") as tmp:
        workdir = Path(tmp)
        t = time.perf_counter()
        run = setup(workdir, [args.small, args.images])
        print(
            f"Setup: {args.small} + {args.images} PNGs (32x32 RGB) and a one-step run, {time.perf_counter() - t:.1f} s; "
            f"{os.cpu_count()} CPU(s), batch size {args.batch_size}"
        )
        big, small = workdir / f"images-{args.images}", workdir / f"images-{args.small}"

        print(f"\nThroughput ({args.images} images, {args.rounds} interleaved rounds of fresh processes):")
        rates: dict[str, list[float]] = {"kspec": [], "keras": [], "on_batch": []}
        peaks: dict[str, list[float]] = {"kspec": [], "keras": [], "on_batch": []}
        for r in range(args.rounds):
            order = ("keras", "on_batch", "kspec") if r % 2 == 0 else ("kspec", "on_batch", "keras")
            for which in order:
                result = measure(which, run, big, args.batch_size)
                assert result["examples"] == args.images, result
                rates[which].append(result["per_s"])
                peaks[which].append(result["peak_mib"])
            print(
                f"  round {r + 1}: kspec predict {rates['kspec'][-1]:7.0f}/s, hand-written {rates['keras'][-1]:7.0f}/s "
                f"({rates['kspec'][-1] / rates['keras'][-1]:.2f}x); with predict_on_batch {rates['on_batch'][-1]:7.0f}/s "
                f"({rates['kspec'][-1] / rates['on_batch'][-1]:.2f}x)",
                flush=True,
            )
        med = statistics.median
        print(f"  kspec predict (median)             {med(rates['kspec']):8.0f} images/s")
        print(f"  hand-written Keras loop (median)   {med(rates['keras']):8.0f} images/s")
        print(
            f"  ratio of medians kspec / hand      {med(rates['kspec']) / med(rates['keras']):8.2f}x   (target >= 1.0x)"
        )

        print(f"\nPeak resident memory (ru_maxrss of the process), {args.small} vs {args.images} images:")
        for which, label in (("kspec", "kspec predict"), ("keras", "hand-written loop")):
            few = measure(which, run, small, args.batch_size)
            assert few["examples"] == args.small, few
            many = med(peaks[which])
            print(
                f"  {label:18s} {few['peak_mib']:7.0f} MiB at {args.small:>6}   {many:7.0f} MiB at {args.images:>6}   "
                f"(+{many - few['peak_mib']:.0f} MiB, {many / few['peak_mib']:.2f}x)"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
