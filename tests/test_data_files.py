"""Data-driven: tests/data/valid/* must pass; tests/data/invalid/* must give exactly the
diagnostics listed in their `# expect: <code> [<path>]` header lines (warnings included)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kspec

DATA = Path(__file__).parent / "data"
SPECS = Path(__file__).parent.parent / "specs"
VALID = sorted((DATA / "valid").iterdir()) + sorted(SPECS.glob("*.yaml"))
INVALID = sorted((DATA / "invalid").iterdir())


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid(path: Path) -> None:
    report = kspec.check(path)
    assert report.ok, [d.to_json() for d in report.diagnostics]
    # A valid spec has no warnings but those its `# expect-warning: <code> <path>` lines list (specs/resnet50.yaml
    # reproduces Keras's ResNet-50, biases before BatchNormalization included).
    got = {(d.code, d.location) for d in report.warnings}
    assert got == _expected(path, "expect-warning"), [d.to_json() for d in report.warnings]
    assert report.param_count and report.param_count > 0


def _expected(path: Path, tag: str = "expect") -> set[tuple[str, str]]:
    out = set()
    for line in path.read_text().splitlines():
        m = re.match(rf"#\s*{tag}:\s*(\S+)\s*(\S*)", line)
        if m:
            out.add((m.group(1), m.group(2)))
    return out


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} has no '# expect:' lines"
    report = kspec.check(path)
    assert not report.ok
    got = {(d.code, d.location) for d in report.diagnostics}
    assert got == expected, "\n".join(f"{d.code} {d.location}: {d.message}" for d in report.diagnostics)
    for d in report.diagnostics:
        assert d.file == str(path)
        assert d.span is not None and d.span.line >= 1 and d.span.column >= 1, d
        assert d.message
