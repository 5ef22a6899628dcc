"""The compiled-validator cache: reused across processes, keyed by the spec modules, never trusted blindly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PROGRAM = "import kspec, sys; r = kspec.check(sys.argv[1]); print(r.ok, r.param_count)"


def run(cache: Path, *extra_env: tuple[str, str]) -> str:
    env = dict(os.environ, KSPEC_CACHE_DIR=str(cache))
    env.pop("KSPEC_NO_CACHE", None)
    env.update(dict(extra_env))
    spec = str(ROOT / "specs" / "mnist_cnn.yaml")
    return subprocess.run([sys.executable, "-c", PROGRAM, spec], env=env, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_first_run_writes_the_cache_and_later_runs_agree(tmp_path: Path) -> None:
    first = run(tmp_path)
    files = list(tmp_path.glob("spec-validator-*.pickle"))
    assert len(files) == 1 and files[0].stat().st_size > 10_000
    assert (files[0].stat().st_mode & 0o022) == 0
    mtime = files[0].stat().st_mtime_ns
    second = run(tmp_path)
    assert first == second == "True 34826\n"
    assert files[0].stat().st_mtime_ns == mtime  # read, not rewritten


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    run(tmp_path)
    (path,) = tmp_path.glob("spec-validator-*.pickle")
    path.write_bytes(b"not a pickle")
    assert run(tmp_path) == "True 34826\n"
    assert path.read_bytes() != b"not a pickle"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_group_or_world_writable_cache_is_not_trusted(tmp_path: Path) -> None:
    run(tmp_path)
    (path,) = tmp_path.glob("spec-validator-*.pickle")
    # A file others could have written is never unpickled: replace it with a pickle that would
    # fail loudly if it were loaded, and make it world-writable.
    path.write_bytes(b"cos\nsystem\n(S'exit 3'\ntR.")
    path.chmod(0o666)
    assert run(tmp_path) == "True 34826\n"


def test_unwritable_cache_dir_and_disabled_cache_still_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run(blocker / "cache") == "True 34826\n"
    assert run(tmp_path / "off", ("KSPEC_NO_CACHE", "1")) == "True 34826\n"
    assert not (tmp_path / "off").exists()


def test_key_changes_with_the_spec_modules(tmp_path: Path, monkeypatch) -> None:
    from kspec.spec import _cache

    before = _cache._key()
    fake = tmp_path / "spec"
    fake.mkdir()
    (fake / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(_cache, "_SPEC_DIR", fake)
    one = _cache._key()
    (fake / "a.py").write_text("x = 2\n")
    assert _cache._key() != one != before
