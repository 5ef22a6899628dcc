"""Benchmark: `kspec import` of NASNetMobile (771 layers), excluding the TensorFlow import.

Measures, in one run:
  1. in-process `kspec.import_model` + `spec_text` (the spec and its text, checked by `kspec.check`) on an
     in-memory NASNetMobile (weights=None), on its JSON (`model.to_json()`, a file) and on its `.keras` file:
     the first call in the process (pydantic validators built, Keras signatures read) and the median of the
     following ones;
  2. the command `kspec import NASNetMobile.keras -o spec.yaml` in a fresh process, minus the median time of a
     fresh process that only imports Keras (and TensorFlow).
Prints the figures and the ratios against the target (< 5 s, TensorFlow import excluded). It reports; it does
not pass or fail.

Run: python bench/bench_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 5.0


def wall(argv: list[str]) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {' '.join(argv)}\n{proc.stderr.decode()}")
    return time.perf_counter() - start


def kspec_command() -> list[str]:
    script = Path(sys.executable).with_name("kspec")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from kspec.cli import entry; entry()"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed calls per input kind, and fresh processes")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    start = time.perf_counter()
    import keras

    tf_import = time.perf_counter() - start
    import kspec
    from kspec.importer import spec_text

    model = keras.applications.NASNetMobile(weights=None)
    tmp = Path(tempfile.mkdtemp(prefix="kspec-bench-import-"))
    keras_file, json_file = tmp / "nasnet.keras", tmp / "nasnet.json"
    model.save(keras_file)
    json_file.write_text(model.to_json())

    def once(source) -> float:
        begin = time.perf_counter()
        spec_text(kspec.import_model(source))
        return time.perf_counter() - begin

    kinds = {"in-memory keras.Model": model, "JSON file (to_json)": str(json_file), ".keras file": keras_file}
    first = {name: None for name in kinds}
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    for name, source in kinds.items():
        first[name] = once(source)
    for _ in range(args.runs):
        for name, source in kinds.items():
            timings[name].append(once(source))

    out = tmp / "spec.yaml"
    keras_only = [wall([sys.executable, "-c", "import keras"]) for _ in range(args.runs)]
    cli = []
    for _ in range(args.runs):
        out.unlink(missing_ok=True)
        cli.append(wall(kspec_command() + ["import", str(keras_file), "-o", str(out)]))
    keras_s, cli_s = statistics.median(keras_only), statistics.median(cli)

    print(f"model: NASNetMobile, {len(model.layers)} layers, {model.count_params():,} parameters   "
          f"python {sys.version.split()[0]}   cpus {os.cpu_count()}")
    print(f"import keras (TensorFlow) in this process: {tf_import:.2f} s (excluded)")
    print(f"{'measurement':<52}{'value':>10}{'target':>10}{'ratio':>9}")
    rows: list[tuple[str, float, bool]] = []  # (measurement, seconds, against the target)
    for name in kinds:
        rows.append((f"{name}: first call", first[name], True))
        rows.append((f"{name}: median of the next {args.runs}", statistics.median(timings[name]), True))
    rows.append(("`kspec import x.keras -o spec.yaml` (fresh process)", cli_s, False))
    rows.append(("  a fresh process that only imports keras", keras_s, False))
    rows.append(("  the difference: kspec import without TensorFlow", cli_s - keras_s, True))
    print("import_model + spec_text (in process):")
    for name, seconds, targeted in rows:
        target, ratio = ("< 5 s", f"{TARGET_S / seconds:.1f}x") if targeted else ("", "")
        print(f"{name:<52}{seconds:>8.2f} s{target:>10}{ratio:>9}")
    print("(ratio column: target / value, >1.0x is faster than the target)")


if __name__ == "__main__":
    main()
