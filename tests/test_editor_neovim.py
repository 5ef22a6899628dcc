"""A real editor pointed at `kspec lsp`: Neovim (headless, Debian's package) starts the server as its own LSP client
on a spec, and what Neovim holds afterwards (its diagnostics, the inlay hints it asked for) is what kspec knows.

`scripts/_neovim.sh` installs Neovim when the test command runs as root with apt-get and then sets
KSPEC_REQUIRE_NEOVIM=1, so these tests fail rather than skip where the editor could have been there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kspec.lsp import features
from kspec.lsp.analysis import analyse
from tests.lsp_client import MISTAKES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "editors" / "neovim_check.lua"
NVIM = shutil.which("nvim")

if NVIM is None:
    if os.environ.get("KSPEC_REQUIRE_NEOVIM") == "1":
        pytest.fail("Neovim is not installed (scripts/_neovim.sh installs it as root)", pytrace=False)
    pytest.skip("Neovim is not installed", allow_module_level=True)

def _neovim(spec: Path, tmp_path: Path) -> dict:
    out = tmp_path / "neovim.json"
    env = dict(os.environ, KSPEC_NVIM_OUT=str(out), KSPEC_NVIM_CMD=json.dumps([sys.executable, "-m", "kspec.cli", "lsp"]))
    proc = subprocess.run(
        [NVIM, "--headless", "-n", "-u", "NONE", "-i", "NONE", str(spec), "-c", f"luafile {SCRIPT}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0 and out.exists(), proc.stdout + proc.stderr
    got = json.loads(out.read_text())
    assert got["published"], "Neovim never received diagnostics"
    return got


def test_neovim_shows_the_errors_where_they_are(tmp_path: Path) -> None:
    spec = tmp_path / "mistakes.yaml"
    spec.write_text(MISTAKES)
    got = _neovim(spec, tmp_path)
    lines = MISTAKES.splitlines()
    shown = {(d["code"], lines[d["lnum"]][d["col"] : d["end_col"]]) for d in got["diagnostics"]}
    assert shown == {("unknown-key", "kernel_initialiser"), ("shape", "40")}, got["diagnostics"]
    assert all(d["source"] == "kspec" for d in got["diagnostics"])


@pytest.mark.parametrize("name", ["resnet50", "two_tower", "unet"])
def test_neovim_gets_every_shape(name: str, tmp_path: Path) -> None:
    spec = ROOT / "specs" / f"{name}.yaml"
    got = _neovim(spec, tmp_path)
    expected = [(h.pos[0], h.label) for h in features.hints(analyse(spec.read_text(), str(spec)))]
    assert sorted((h["line"], h["label"]) for h in got["hints"]) == sorted(expected)
    assert len(expected) > 5
