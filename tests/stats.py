"""How many specs (or documents) each property checked, and how fast: printed at the end of the run.

Under pytest-xdist each worker records the properties of the test files it ran; tests/conftest.py hands each
worker's figures to the controller, which adds them up and prints the table."""

from __future__ import annotations

from collections import defaultdict

#: property -> [examples checked, seconds]
STATS: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])


def record(prop: str, examples: int, seconds: float) -> None:
    entry = STATS[prop]
    entry[0] += examples
    entry[1] += seconds


def summary() -> list[str]:
    lines = [f"{'property':<44} {'checked':>8} {'seconds':>8} {'per s':>7}"]
    for prop, (n, seconds) in sorted(STATS.items()):
        rate = n / seconds if seconds else float("nan")
        lines.append(f"{prop:<44} {int(n):>8} {seconds:>8.1f} {rate:>7.1f}")
    return lines
