"""The checker never crashes: on arbitrary text, arbitrary JSON values and mutated specs it returns
diagnostics (each with a known code and a message), and never raises."""

from __future__ import annotations

import copy
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

import kspec
from kspec.diagnostics import CODES
from kspec.load import load_text

ROOT = Path(__file__).parent.parent
SPECS = [load_text(p.read_text()).data for p in sorted((ROOT / "specs").glob("*.yaml"))]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


def assert_well_formed(report: kspec.Report) -> None:
    for d in report.diagnostics:
        assert d.code in CODES and d.message
        assert d.severity in ("error", "warning")
    if not report.ok:
        assert report.errors


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    assert_well_formed(kspec.check(text + "\n"))


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_values(value) -> None:
    report = kspec.check(value if isinstance(value, dict) else {"kspec": 1, "model": value})
    assert_well_formed(report)
    assert not report.ok


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_specs(draw):
    spec = copy.deepcopy(draw(st.sampled_from(SPECS)))
    paths = [p for p in _paths(spec) if p]
    path = draw(st.sampled_from(paths))
    parent = spec
    for item in path[:-1]:
        parent = parent[item]
    action = draw(st.sampled_from(["replace", "delete", "rename"]))
    if action == "replace":
        parent[path[-1]] = draw(json_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(path[-1])
    return spec


@settings(max_examples=300, deadline=None)
@given(mutated_specs())
def test_mutated_specs(spec) -> None:
    assert_well_formed(kspec.check(spec))
