"""`import kspec`, `kspec.check` and `kspec validate` must never import TensorFlow or Keras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
HEAVY = ("tensorflow", "keras", "jax", "torch", "optuna")  # optuna: a search space is checked without it

PROGRAM = """
import sys
import kspec
from kspec.cli import main
from click.testing import CliRunner
report = kspec.check({spec!r})
assert report.ok, report.diagnostics
kspec.json_schema()
result = CliRunner().invoke(main, ["validate", {spec!r}])
assert result.exit_code == 0, result.output
result = CliRunner().invoke(main, ["summary", {spec!r}])
assert result.exit_code == 0, result.output
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print("HEAVY:", loaded)
"""


@pytest.mark.parametrize("name", ["mnist_cnn", "resnet50", "digits_tune"])  # resnet50: blocks; digits_tune: a search space
def test_checking_never_imports_tensorflow_or_keras(name: str) -> None:
    spec = str(ROOT / "specs" / f"{name}.yaml")
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(spec=spec, heavy=set(HEAVY))],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    assert "HEAVY: []" in out, out


def test_console_script_validate_does_not_import_tensorflow() -> None:
    # The real entry point, with Python's own import log: no TensorFlow/Keras module is ever imported.
    spec = str(ROOT / "specs" / "two_tower.yaml")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from kspec.cli import entry; import sys; sys.argv=['kspec','validate',%r]; entry()" % spec],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert imported, "no import log"
    assert not [m for m in imported if m.split(".")[0] in HEAVY]
