"""The strategies cover the language: drawn specs use every layer type, activation, optimizer, learning-rate
schedule, loss and metric that the schema allows, and (being valid by construction) never get a structural
error. A new layer type or loss without a generator for it fails here."""

from __future__ import annotations

import time
from collections import Counter

from hypothesis import HealthCheck, Phase, given, settings

import kspec
from kspec.spec.layers import LAYER_CLASSES
from kspec.spec.objects import ACTIVATIONS
from kspec.spec.training import LOSS_ALIASES, LOSS_CLASS_KIND, LOSSES, METRIC_NAMES, OPTIMIZER_NAMES
from tests.stats import record
from tests.strategies import METRIC_CLASSES, OPTIMIZER_CLASSES, SCHEDULES, valid_specs

STRUCTURAL = {"unknown-key", "missing-key", "type", "unknown-layer", "duplicate-name", "undefined-node",
              "unused-node", "cycle", "arity", "form", "not-a-mapping"}


def _walk(value, seen: Counter) -> None:
    """Counts every `type` and every `activation` / loss / metric / optimizer name in a spec."""
    if isinstance(value, dict):
        if isinstance(value.get("type"), str):
            seen["type:" + value["type"]] += 1
        if isinstance(value.get("activation"), str):
            seen["activation:" + value["activation"]] += 1
        for v in value.values():
            _walk(v, seen)
    elif isinstance(value, list):
        for v in value:
            _walk(v, seen)


def _names(training: dict, seen: Counter) -> None:
    if isinstance(training["optimizer"], str):
        seen["optimizer:" + training["optimizer"]] += 1
    loss = training["loss"]
    for one in (loss.values() if isinstance(loss, dict) and "type" not in loss else [loss]):
        if isinstance(one, str):
            seen["loss:" + one] += 1
    metrics = training.get("metrics", [])
    for group in (metrics.values() if isinstance(metrics, dict) else [metrics]):
        for m in group:
            if isinstance(m, str):
                seen["metric:" + m] += 1


def test_valid_specs_cover_the_language() -> None:
    seen: Counter = Counter()
    structural: list = []

    @settings(max_examples=2000, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(valid_specs())
    def draw(spec):
        _walk(spec["model"], seen)
        _walk(spec["training"], seen)
        _names(spec["training"], seen)
        report = kspec.check(spec)
        structural.extend(f"{d.code}: {d.message}" for d in report.errors if d.code in STRUCTURAL or report.spec is None)

    start = time.perf_counter()
    draw()
    record("strategies: valid specs drawn and checked", 2000, time.perf_counter() - start)
    assert structural == []
    expected = (
        {"type:" + cls.type_name() for cls in LAYER_CLASSES}
        | {"activation:" + a for a in ACTIVATIONS}
        | {"optimizer:" + o for o in OPTIMIZER_NAMES} | {"type:" + o for o in OPTIMIZER_CLASSES}
        | {"type:" + s for s in SCHEDULES}
        | {"loss:" + name for name in [*LOSSES, *LOSS_ALIASES]} | {"type:" + c for c in LOSS_CLASS_KIND}
        | {"metric:" + m for m in METRIC_NAMES} | {"type:" + m for m in METRIC_CLASSES}
    )
    assert sorted(expected - set(seen)) == []
