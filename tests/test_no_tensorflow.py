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


def _lsp_messages(spec: Path) -> bytes:
    """An editor's session: initialize, open a spec, ask for hover, completion and inlay hints, shut down, exit."""
    import json

    uri = spec.as_uri()
    text = spec.read_text()
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}},
        {"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": {"textDocument": {"uri": uri}, "position": {"line": 10, "character": 12}}},
        {"jsonrpc": "2.0", "id": 3, "method": "textDocument/completion", "params": {"textDocument": {"uri": uri}, "position": {"line": 10, "character": 12}}},
        {"jsonrpc": "2.0", "id": 4, "method": "textDocument/inlayHint", "params": {"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 999, "character": 0}}}},
        {"jsonrpc": "2.0", "id": 5, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]
    out = b""
    for m in messages:
        body = json.dumps(m).encode()
        out += b"Content-Length: %d\r\n\r\n" % len(body) + body
    return out


@pytest.mark.parametrize("name", ["resnet50", "digits_tune"])
def test_the_language_server_does_not_import_tensorflow(name: str) -> None:
    # `kspec lsp` itself, over stdio, with Python's import log: a whole editor session imports no heavy module.
    spec = ROOT / "specs" / f"{name}.yaml"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kspec.cli", "lsp"],
        input=_lsp_messages(spec), capture_output=True, cwd=ROOT, timeout=120,
    )
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, stderr[-2000:]
    assert '"id": 4' in stdout.replace('"id":4', '"id": 4') and "publishDiagnostics" in stdout, stdout[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")]
    assert "kspec.lsp.server" in imported and "pygls" in {m.split(".")[0] for m in imported}
    assert not [m for m in imported if m.split(".")[0] in HEAVY]
