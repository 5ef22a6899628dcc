"""Benchmark: the MNIST CNN's training steps per second on each Keras 3 backend, and with two logical
devices vs. one, side by side in one run.

The spec is specs/mnist_cnn.yaml (the Keras tutorial's convnet, batch 128) on synthetic 28x28x1 data
(`--data synthetic:N`, no download), trained with `kspec build-and-train` itself, each configuration in a
fresh process:

- tensorflow, jax, torch: one device (`--backend B`);
- tensorflow x2: MirroredStrategy over two logical CPU devices (`--distribution mirrored --cpu-devices 2`);
- jax x2: keras.distribution.DataParallel over two CPU devices (same options, `--backend jax`).

Steps per second = steps per epoch / the median time of the epochs after the first (the first includes
tracing and compilation), from the run's metrics.json (`epoch_seconds`, which includes the per-epoch
checkpoint). Rounds are interleaved and the figure is the median over rounds: the machine is shared.
On a CPU, two logical devices share the same cores, so "x2" measures the cost of the distribution
machinery (splitting, all-reduce), not a speed-up; on a machine with two GPUs the same options use both.

It prints figures and ratios; it does not pass or fail.
Run: python bench/bench_backends.py [--examples 5120] [--epochs 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KSPEC = str(Path(sys.executable).parent / "kspec")

CONFIGS = {
    "tensorflow": ["--backend", "tensorflow"],
    "jax": ["--backend", "jax"],
    "torch": ["--backend", "torch"],
    "tensorflow x2": ["--backend", "tensorflow", "--distribution", "mirrored", "--cpu-devices", "2"],
    "jax x2": ["--backend", "jax", "--distribution", "mirrored", "--cpu-devices", "2"],
}


def run(config: str, examples: int, epochs: int, batch: int) -> tuple[float, int]:
    """(steps per second after the first epoch, steps per epoch) of one fresh training process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS")}
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        cmd = [KSPEC, "build-and-train", str(ROOT / "specs" / "mnist_cnn.yaml"), "--data", f"synthetic:{examples}",
               "--epochs", str(epochs), "--batch-size", str(batch), "--seed", "1", "-q", "-o", str(out),
               "--set", "training.validation_split=0", *CONFIGS[config]]
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            raise SystemExit(f"{config} failed:\n{r.stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
        info = json.loads((out / "run.json").read_text())
        whole = config.startswith("jax x")  # JAX distributions feed whole batches only
        steps = examples // batch if whole else math.ceil(examples / batch)
        later = metrics["epoch_seconds"][1:]
        assert info["replicas"] == (2 if "x2" in config else 1), info
        return steps / statistics.median(later), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=5120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    configs = [c for c in CONFIGS if importlib.util.find_spec(CONFIGS[c][1]) is not None]
    figures: dict[str, list[float]] = {c: [] for c in configs}
    steps = {}
    for rnd in range(args.rounds):
        order = configs if rnd % 2 == 0 else configs[::-1]
        for config in order:
            rate, steps[config] = run(config, args.examples, args.epochs, args.batch)
            figures[config].append(rate)
            print(f"round {rnd + 1}: {config:14s} {rate:7.2f} steps/s", flush=True)
    median = {c: statistics.median(v) for c, v in figures.items()}
    print(f"\nMNIST CNN (specs/mnist_cnn.yaml), batch {args.batch}, {args.examples} synthetic examples, "
          f"median of {args.rounds} round(s), epochs after the first:")
    print(f"{'configuration':16s}{'steps/s':>10s}{'vs tensorflow':>16s}{'steps/epoch':>14s}")
    for c in configs:
        print(f"{c:16s}{median[c]:10.2f}{median[c] / median['tensorflow']:15.2f}x{steps[c]:14d}")
    for base in ("tensorflow", "jax"):
        if f"{base} x2" in median:
            print(f"two logical devices vs one, {base}: {median[f'{base} x2'] / median[base]:.2f}x steps/s")


if __name__ == "__main__":
    main()
