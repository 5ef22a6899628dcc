"""Benchmark: batch-1 latency of a run's ONNX export under ONNX Runtime vs. calling the Keras model.

A tiny run of specs/digits_cnn.yaml (one training step on synthetic data; the weights do not matter for
speed) is exported with `kspec.use.export.export_run(run, ["onnx"])`, which verifies it against Keras.
Then one seeded batch-1 input is fed, N times each, interleaved in rounds so that a busy moment of the
shared machine hits all three alike, to:

- ONNX Runtime: `InferenceSession.run` on the exported model.onnx (CPU provider, default threads);
- Keras `model(x)` (eager call, training=False);
- Keras `model.predict_on_batch(x)` (the compiled predict function).

The figure is the median per call, in microseconds, and the ratio to ONNX Runtime's. The backend is
KERAS_BACKEND's (TensorFlow by default); `--backend` sets it for this process.

It prints figures and ratios; it does not pass or fail.
Run: python bench/bench_export.py [--calls 300] [--rounds 5] [--backend tensorflow|jax|torch] [--run DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_us(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per side per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--run", help="a finished run directory to use instead of training a tiny one")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))

    from kspec.use.export import ExportError, export_run, input_specs, sample_batch

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else Path(tmp) / "run"
        if not args.run:
            from kspec.train.run import TrainOptions, build_and_train

            opts = TrainOptions(
                data="synthetic", epochs=1, steps=1, verbose=0, output=str(run), seed=1, backend=args.backend
            )
            build_and_train(str(ROOT / "specs" / "digits_cnn.yaml"), opts, echo=lambda _: None)
        try:
            (result,) = export_run(run, ["onnx"], echo=lambda _: None)
        except ExportError as exc:
            raise SystemExit(str(exc)) from None

        import keras
        import numpy as np
        import onnxruntime as ort

        model = keras.saving.load_model(run / "model.keras", compile=False)
        inputs = input_specs(run, model)
        batch = sample_batch(inputs, 1, np.random.default_rng(0))
        arrays = [batch[spec.name] for spec in inputs]
        x = arrays if len(arrays) > 1 else arrays[0]
        session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
        sides: dict[str, Callable[[], object]] = {
            "ONNX Runtime": lambda: session.run(None, batch),
            "Keras model(x)": lambda: model(x, training=False),
            "Keras predict_on_batch": lambda: model.predict_on_batch(x),
        }
        for fn in sides.values():  # warm up: tracing, compilation, thread pools
            for _ in range(20):
                fn()
        figures: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, fn in sides.items():
                figures[name].append(median_us(fn, args.calls))
        median = {name: statistics.median(v) for name, v in figures.items()}

    print(
        f"digits_cnn ({'--run ' + args.run if args.run else 'specs/digits_cnn.yaml'}), batch 1, "
        f"{keras.backend.backend()} backend, Keras {keras.__version__}, ONNX Runtime {ort.__version__}; "
        f"median of {args.rounds} rounds x {args.calls} calls (export verified: max |diff| {result.max_abs_diff:.2g})"
    )
    base = median["ONNX Runtime"]
    print(f"{'':26s}{'us/call':>10s}{'vs ONNX Runtime':>18s}")
    for name, us in median.items():
        print(f"{name:26s}{us:10.1f}{us / base:17.1f}x")


if __name__ == "__main__":
    main()
