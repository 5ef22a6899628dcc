"""Benchmark: static checking vs. loading Keras, side by side in one run.

Measures, for specs/mnist_cnn.yaml:
  1. cold `kspec validate` in a fresh process (wall time and peak RSS), median of N runs;
  2. a fresh process that imports Keras and builds the same model in hand-written Keras code;
  3. in-process `kspec.check` throughput (text in, report out: YAML parse included).
Prints the figures and the ratios against the targets (cold validate <= 0.3 s and >= 10x faster
than Keras, peak memory < 100 MB, >= 2,000 checks per second). It reports; it does not pass or fail.

Run: python bench/bench_validate.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "mnist_cnn.yaml"

KERAS_PROGRAM = """
import keras
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(10, activation="softmax"),
])
assert model.count_params() == 34826
"""


def run_child(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # As an installed kspec runs: its .pyc files written once and read after (a shell that sets
    # PYTHONDONTWRITEBYTECODE would compile every module from source on every start, ~0.1 s here).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.stderr and proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {' '.join(argv)}\n{err}")
    return wall, usage.ru_maxrss / 1024


def kspec_command() -> list[str]:
    script = Path(sys.executable).with_name("kspec")
    if script.exists():
        return [str(script), "validate", str(SPEC)]
    return [sys.executable, "-c", "from kspec.cli import entry; entry()", "validate", str(SPEC)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per measurement")
    parser.add_argument("--keras-runs", type=int, default=3)
    parser.add_argument("--checks", type=int, default=5000, help="in-process checks to time")
    args = parser.parse_args()

    run_child(kspec_command())  # warm the file cache and .pyc files
    cold = [run_child(kspec_command()) for _ in range(args.runs)]
    keras = [run_child([sys.executable, "-c", KERAS_PROGRAM]) for _ in range(args.keras_runs)]
    python = [run_child([sys.executable, "-c", "pass"]) for _ in range(args.runs)]

    import kspec

    text = SPEC.read_text()
    assert kspec.check(text).ok
    for _ in range(200):
        kspec.check(text)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(args.checks):
            kspec.check(text)
        best = max(best, args.checks / (time.perf_counter() - start))

    cold_s = statistics.median(w for w, _ in cold)
    cold_mb = max(m for _, m in cold)
    keras_s = statistics.median(w for w, _ in keras)
    keras_mb = max(m for _, m in keras)
    python_s = statistics.median(w for w, _ in python)
    schema_kb = (ROOT / "schema" / "kspec.schema.json").stat().st_size / 1000
    from kspec.spec.layers import BUILTIN_LAYER_CLASSES

    layer_types = len(BUILTIN_LAYER_CLASSES)
    print(f"spec: {SPEC.relative_to(ROOT)}   python {sys.version.split()[0]}   cpus {os.cpu_count()}")
    print(f"{'measurement':<46}{'value':>12}{'target':>14}{'ratio':>10}")
    rows = [
        ("cold `kspec validate` (median wall)", f"{cold_s:.3f} s", "<= 0.300 s", f"{0.3 / cold_s:.2f}x"),
        ("  of which bare python start-up", f"{python_s:.3f} s", "", ""),
        ("import keras + build model (median wall)", f"{keras_s:.3f} s", "", ""),
        ("keras / kspec", f"{keras_s / cold_s:.1f}x", ">= 10x", f"{keras_s / cold_s / 10:.2f}x"),
        ("peak RSS, kspec validate", f"{cold_mb:.1f} MB", "< 100 MB", f"{100 / cold_mb:.2f}x"),
        ("peak RSS, keras build", f"{keras_mb:.1f} MB", "", ""),
        ("in-process kspec.check (best of 3)", f"{best:,.0f}/s", ">= 2,000/s", f"{best / 2000:.2f}x"),
        ("published JSON Schema (schema/)", f"{schema_kb:.0f} KB", "<= 400 KB", f"{400 / schema_kb:.2f}x"),
        ("layer types (Keras aliases not counted)", f"{layer_types}", "", ""),
    ]
    for name, value, target, ratio in rows:
        print(f"{name:<46}{value:>12}{target:>14}{ratio:>10}")
    print("(ratio column: how far past the target, >1.00x is better than the target)")


if __name__ == "__main__":
    main()
