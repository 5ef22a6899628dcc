"""Benchmark: streamed image directories, in one run.

1. Memory: peak resident memory of `kspec build-and-train` on an image directory of 2,000 images and of 20,000
   images (64x64 RGB PNGs, 10 classes), the same small model (a strided Conv2D, global pooling, Dense) and batch
   (32), one epoch each, each in a fresh process (its peak from the kernel's rusage). Target: the larger at most
   1.2x the smaller (the examples are streamed: memory depends on the batch and the buffers, not on their number).
2. Throughput, for the image-directory demo (specs/image_classifier.yaml, 64x64 RGB, batch 32) on 2,000 images:
   the examples per second the input pipeline delivers with the model removed (iterating the training pipeline:
   listing, decoding and resizing in parallel, checking, batching) in its first epoch (every image decoded) and in
   a later one (the decoded images, 98 MB, are kept in memory: stream.CACHE_BYTES), and over the demo's 10 epochs,
   against the examples per second that training consumes (`fit` on the same batches held in memory, after an
   epoch of tracing). Target: the pipeline at least 3x what training consumes.

It prints figures and ratios; it does not pass or fail.
Run: python bench/bench_stream.py [--small 2000] [--large 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]

MEMORY_SPEC = """
kspec: 1
name: stream_memory
model:
  input: {name: image, shape: [64, 64, 3]}
  layers:
    - {type: Conv2D, filters: 8, kernel_size: 4, strides: 4, activation: relu}
    - {type: GlobalAveragePooling2D}
    - {type: Dense, name: label, units: 10, activation: softmax}
training: {loss: sparse_categorical_crossentropy, epochs: 1, batch_size: 32, seed: 1}
data: {source: {type: image_directory, path: imgs}}
"""

CHILD = """
import resource, sys, time
from kspec.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def write_images(root: Path, count: int) -> None:
    """`count` 64x64 RGB PNGs in 10 class directories: a class colour plus noise (incompressible enough to be
    realistic: about 12 KB each)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        c = i % 10
        pixels = (np.full((64, 64, 3), 20 * c, np.int16) + rng.integers(0, 60, (64, 64, 3))).astype(np.uint8)
        (root / f"class{c}" / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())


def peak_memory(workdir: Path) -> tuple[float, float]:
    """(peak resident MiB, seconds) of one build-and-train in a fresh process."""
    (workdir / "spec.yaml").write_text(MEMORY_SPEC)
    script = workdir / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), "build-and-train", "spec.yaml", "--output", "run", "-q"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("MAXRSS_KB")]
    if done.returncode or not line:
        raise SystemExit(f"training failed in {workdir}:\n{done.stderr[-2000:]}")
    return int(line[-1].split()[1]) / 1024, seconds


def throughput(workdir: Path, steps: int) -> tuple[float, float]:
    """(pipeline examples/s with the model removed, training examples/s) for specs/image_classifier.yaml."""
    import kspec
    from kspec.infer import infer
    from kspec.train.data import load_data

    text = (ROOT / "specs" / "image_classifier.yaml").read_text().replace("path: photos", f"path: {workdir / 'imgs'}")
    text = text.replace("units: 3, activation: softmax", "units: 10, activation: softmax")
    spec = kspec.load_spec(text)
    inference = infer(spec)
    loaded = load_data(spec, inference, base_dir=workdir, seed=1)
    batch = spec.training.batch_size

    dataset = loaded.train.dataset(batch_size=batch, shuffle=True, seed=1)
    epochs = []
    for _ in range(2):  # the first epoch reads and decodes every image; the next reads them from memory
        started, seen = time.perf_counter(), 0
        for x, _ in dataset:
            seen += int(x.shape[0])
        epochs.append((seen, time.perf_counter() - started))
    (n, first), (_, later) = epochs
    pipeline = (n / first, n / later, 10 * n / (first + 9 * later))  # the demo trains 10 epochs

    # what training consumes: the same model fitted on batches already in memory (so that the model alone sets
    # the pace), one epoch to trace, then one timed
    import numpy as np
    import tensorflow as tf

    from kspec.compile import build_model, compile_model

    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset.take(steps)], strict=True)
    in_memory = tf.data.Dataset.from_tensor_slices((np.concatenate(xs), np.concatenate(ys))).batch(batch).cache()
    model = build_model(spec, inference)
    compile_model(model, spec.training)
    model.fit(in_memory, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(in_memory, epochs=1, verbose=0)
    training = sum(len(x) for x in xs) / (time.perf_counter() - started)
    return pipeline, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=40, help="training steps timed for the throughput")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        figures = {}
        for name, count in (("small", args.small), ("large", args.large)):
            work = base / name
            started = time.perf_counter()
            write_images(work / "imgs", count)
            print(f"wrote {count:,} images in {time.perf_counter() - started:.0f} s", flush=True)
            figures[name] = peak_memory(work)
        (small_mib, small_s), (large_mib, large_s) = figures["small"], figures["large"]
        print("\n1. Peak memory of training on an image directory (one epoch, batch 32, fresh process each)")
        print(f"   {args.small:>6,} images: {small_mib:7.0f} MiB  ({small_s:.0f} s)")
        print(f"   {args.large:>6,} images: {large_mib:7.0f} MiB  ({large_s:.0f} s)")
        print(f"   ratio large/small: {large_mib / small_mib:.2f}x (target <= 1.2x)")
        (first, later, average), training = throughput(base / "small", args.steps)
        print(f"\n2. specs/image_classifier.yaml on the 64x64 image directory ({args.small:,} images), batch 32")
        print(f"   training consumes:                          {training:8.0f} examples/s")
        print(f"   input pipeline alone, first epoch (decoding): {first:8.0f} examples/s  {first / training:5.2f}x")
        print(f"   input pipeline alone, later epochs (memory):  {later:8.0f} examples/s  {later / training:5.2f}x")
        print(f"   over the demo's 10 epochs:                    {average:8.0f} examples/s  {average / training:5.2f}x"
              " (target >= 3x)")
        print(json.dumps({"memory_mib": {"small": small_mib, "large": large_mib},
                          "pipeline": {"first": first, "later": later, "ten_epochs": average}, "training": training}))


if __name__ == "__main__":
    main()
