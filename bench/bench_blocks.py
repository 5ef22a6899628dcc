"""Benchmark: checking the ResNet-50 spec written with blocks (specs/resnet50.yaml), in process.

Each check is the whole pipeline on the text: YAML parse, structure, expansion of the blocks into
the 177 layer calls of ResNet-50, shape and parameter inference, semantics and lints. Side by side
in one run: the same model written out flat (the expanded spec, generated here from the block
spec, graph form), so the cost of expansion shows as a ratio. Target: at least 100 checks per
second for the block spec. It reports; it does not pass or fail.

Run: python bench/bench_blocks.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet50.yaml"
TARGET = 100.0


def flat_text(report) -> str:
    """The expanded model as a graph-form spec without blocks (what people would write by hand)."""
    import kspec
    from kspec.dump import spec_document, yaml_text

    expansion = report.inference.expansion
    document = spec_document(report.spec, defaults=False)
    document.pop("blocks")
    model = expansion.model
    nodes = []
    for node in model.nodes:
        item = node.model_dump(mode="json", exclude_defaults=True)
        item["name"], item["inputs"] = node.name, list(node.inputs)
        nodes.append(item)
    document["model"] = {
        "inputs": [i.model_dump(mode="json", exclude_defaults=True) for i in model.inputs],
        "nodes": nodes,
        "outputs": list(model.outputs),
    }
    text = yaml_text(document)
    again = kspec.check(text)
    assert again.ok and again.param_count == report.param_count, again.diagnostics[:3]
    return text


def rate(text: str, seconds: float) -> tuple[float, float]:
    """Checks per second (best of 3 rounds of about `seconds` / 3 each) and the mean ms per check."""
    import kspec

    for _ in range(5):
        kspec.check(text)
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            kspec.check(text)
            n += 1
        best = max(best, n / (time.perf_counter() - start))
    return best, 1000 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent per measurement")
    args = parser.parse_args()

    import kspec

    text = SPEC.read_text()
    report = kspec.check(text)
    assert report.ok and report.param_count == 25_636_712, report.diagnostics
    flat = flat_text(report)
    blocks_rate, blocks_ms = rate(text, args.seconds)
    flat_rate, flat_ms = rate(flat, args.seconds)
    n = len(report.inference.nodes)
    print(f"spec: {SPEC.relative_to(ROOT)} ({len(text.splitlines())} lines; flat: {len(flat.splitlines())} lines, {n} layer calls)")
    print(f"python {sys.version.split()[0]}   cpus {os.cpu_count()}")
    print(f"{'measurement':<44}{'value':>12}{'target':>14}{'ratio':>10}")
    rows = [
        ("kspec.check, ResNet-50 with blocks", f"{blocks_rate:,.0f}/s", f">= {TARGET:.0f}/s", f"{blocks_rate / TARGET:.2f}x"),
        ("  per check", f"{blocks_ms:.2f} ms", "", ""),
        ("kspec.check, the same model written flat", f"{flat_rate:,.0f}/s", "", ""),
        ("  per check", f"{flat_ms:.2f} ms", "", ""),
        ("blocks / flat (time per check)", f"{blocks_ms / flat_ms:.2f}x", "", ""),
    ]
    for name, value, target, ratio in rows:
        print(f"{name:<44}{value:>12}{target:>14}{ratio:>10}")
    print("(ratio column: how far past the target, >1.00x is better than the target)")


if __name__ == "__main__":
    main()
