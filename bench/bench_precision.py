"""Benchmark: training throughput (examples per second) under `training.precision`, on this machine's CPU.

For each example spec (default: mnist_cnn, a convnet, and text_classifier, an Embedding and an LSTM), the model is
built and compiled as kspec builds it (`kspec.compile`: the layers under the precision's dtype policy, the outputs in
float32, loss scaling under mixed_float16) and fitted on random data of the spec's input shape and dtype, with the
spec's batch size. The throughput is that of the epochs after the first (the first traces the training step).

It prints figures and the ratio of each mixed precision to float32; it does not pass or fail. Each measurement runs
in a fresh process (no shared threads, caches or traced graphs), in interleaved rounds whose order rotates, and a
figure is the median over the rounds: on a shared 2-core machine one fit's speed varies by tens of percent. Whether
half precision is faster on a CPU depends on its instructions (AVX512-BF16, AMX) and on oneDNN's kernels; on GPUs
with tensor cores it is typically much faster.
Run: python bench/bench_precision.py [--specs mnist_cnn text_classifier] [--examples 4096] [--epochs 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def random_data(spec, inference, examples: int):
    """Inputs of the spec's shapes and dtypes (ids below an Embedding's input_dim for integer inputs) and labels
    that fit its loss (class ids for sparse losses, else values shaped like the output)."""
    import numpy as np

    from kspec.spec.losses import loss_kind

    rng = np.random.default_rng(0)
    xs = {}
    for name, tensor in inference.inputs.items():
        shape = (examples, *tensor.shape[1:])
        if tensor.dtype.startswith("int"):
            top = min(getattr(n.layer, "input_dim", 1000) for n in inference.nodes if name in n.inputs)
            xs[name] = rng.integers(1, top, size=shape).astype(tensor.dtype)
        else:
            xs[name] = rng.uniform(0, 1, size=shape).astype("float32")
    ((output, out_tensor),) = inference.output_tensors.items()
    if loss_kind(spec.training.loss) == "sparse":
        y = rng.integers(0, out_tensor.shape[-1], size=examples).astype("int32")
    else:
        y = (rng.random((examples, *out_tensor.shape[1:])) < 0.5).astype("float32")
    x = next(iter(xs.values())) if len(xs) == 1 else xs
    return x, y


def child(spec_name: str, precision: str, examples: int, epochs: int) -> dict:
    """One measurement in this (fresh) process: examples per second after the first epoch, and the final loss."""
    import keras

    import kspec
    from kspec.compile import build_model, compile_model

    report = kspec.check(ROOT / "specs" / f"{spec_name}.yaml", overrides=[f"training.precision={precision}"])
    if not report.ok:
        raise SystemExit(f"{spec_name} under {precision}: {[d.message for d in report.errors]}")
    spec, inference = report.spec, report.inference
    x, y = random_data(spec, inference, examples)
    keras.utils.set_random_seed(1)
    model = compile_model(build_model(spec, inference), spec.training)

    class EpochTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t)

    timer = EpochTimes()
    batch = spec.training.batch_size
    history = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
    return {
        "examples_per_s": examples * (epochs - 1) / sum(timer.seconds[1:]),
        "first_epoch_s": timer.seconds[0],
        "loss": history.history["loss"][-1],
        "optimizer": type(model.optimizer).__name__,
        "batch_size": batch,
    }


def run_child(spec_name: str, precision: str, args) -> dict:
    argv = [sys.executable, __file__, "--child", spec_name, precision, "--examples", str(args.examples)]
    argv += ["--epochs", str(args.epochs)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if proc.returncode != 0:
        raise SystemExit(f"{spec_name} under {precision} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_flags() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16")
    return " ".join(f for f in wanted if f in flags) or "none of " + ", ".join(wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["mnist_cnn", "text_classifier"])
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the machine is noisy")
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.examples, args.epochs)))
        return

    from importlib.metadata import version

    print(
        f"Keras {version('keras')}, backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}, {os.cpu_count()} CPU(s) "
        f"({platform.processor() or platform.machine()}; flags: {cpu_flags()}); {args.examples} examples, "
        f"{args.epochs} epochs, throughput of epochs 2..{args.epochs}, median of {args.rounds} rounds"
    )
    results: dict[tuple[str, str], list[dict]] = {}
    for r in range(args.rounds):
        shift = r % len(args.precisions)
        for spec_name in args.specs:
            order = args.precisions[shift:] + args.precisions[:shift]
            figures = []
            for precision in order:
                result = run_child(spec_name, precision, args)
                results.setdefault((spec_name, precision), []).append(result)
                figures.append(f"{precision} {result['examples_per_s']:7.1f}")
            print(f"  round {r + 1}, {spec_name}: " + ", ".join(figures) + " examples/s", flush=True)
    print()
    header = (
        f"{'spec':<18}{'precision':<16}{'examples/s':>12}{'(min-max)':>16}{'vs float32':>12}{'1st epoch s':>13}"
        f"{'final loss':>12}  optimizer"
    )
    print(header)
    print("-" * len(header))
    for spec_name in args.specs:
        base_runs = results.get((spec_name, "float32"), [])
        base = statistics.median(r["examples_per_s"] for r in base_runs) if base_runs else 0.0
        for precision in args.precisions:
            runs = results[(spec_name, precision)]
            speeds = [r["examples_per_s"] for r in runs]
            speed = statistics.median(speeds)
            spread = f"{min(speeds):.0f}-{max(speeds):.0f}"
            ratio = f"{speed / base:.2f}x" if base else "-"
            first = statistics.median(r["first_epoch_s"] for r in runs)
            print(
                f"{spec_name:<18}{precision:<16}{speed:>12.1f}{spread:>16}{ratio:>12}{first:>13.2f}"
                f"{runs[-1]['loss']:>12.4f}  {runs[-1]['optimizer']} (batch {runs[-1]['batch_size']})"
            )


if __name__ == "__main__":
    main()
