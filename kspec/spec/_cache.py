"""The compiled validator of `Spec`, reused across processes.

Generating pydantic's core schema for the ~140 models of the spec language
takes about 0.1 s, which was most of a cold `kspec validate`. The result is a
pure function of the modules in `kspec/spec/` and of the pydantic version, so
it is kept in the user's cache directory, keyed by a hash of exactly those,
the way Python keeps `.pyc` files: an edit to any spec module, or another
pydantic, makes a new key. The file is written atomically and read only when
it belongs to the current user and nobody else can write it; any problem
(missing, corrupt, stale, unwritable directory) falls back to building the
validator normally. Spec *contents* never reach the cache: it holds kspec's
own schema only.

`KSPEC_CACHE_DIR` moves the cache (default `$XDG_CACHE_HOME/kspec` or
`~/.cache/kspec`); `KSPEC_NO_CACHE=1` turns it off.
"""

import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

import pydantic
import pydantic_core

_SPEC_DIR = Path(__file__).resolve().parent


def cache_dir() -> Path:
    if os.environ.get("KSPEC_CACHE_DIR"):
        return Path(os.environ["KSPEC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kspec"


def _key() -> str:
    h = hashlib.sha256()
    # pickle.format_version exists at run time but is missing from typeshed's stubs.
    for part in (pydantic.VERSION, pydantic_core.__version__, sys.version, pickle.format_version):  # type: ignore[attr-defined]
        h.update(part.encode())
    for path in sorted(_SPEC_DIR.rglob("*.py")):
        h.update(str(path.relative_to(_SPEC_DIR)).encode())
        h.update(path.read_bytes())
    from . import plugins
    from .layers import PLUGIN_LAYER_CLASSES

    h.update(plugins.fingerprint(PLUGIN_LAYER_CLASSES))
    return h.hexdigest()[:24]


def _trusted(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    owner_ok = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return owner_ok and not (st.st_mode & 0o022)


def spec_validator(build: Any) -> pydantic_core.SchemaValidator:
    """The validator for `Spec`: from the cache when a valid entry exists, else `build()` and store it."""
    if os.environ.get("KSPEC_NO_CACHE"):
        return build()
    try:
        path = cache_dir() / f"spec-validator-{_key()}.pickle"
    except OSError:
        return build()
    if _trusted(path):
        try:
            validator = pickle.loads(path.read_bytes())
            if isinstance(validator, pydantic_core.SchemaValidator):
                return validator
        except Exception:  # noqa: BLE001 - a bad cache entry is rebuilt, never an error
            pass
    validator = build()
    try:
        store(path, pickle.dumps(validator, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - e.g. an unpicklable validator: simply not cached
        pass
    return validator


def store(path: Path, data: bytes) -> None:
    """Write a cache file atomically, readable by others but writable only by the user; never raises."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception:  # noqa: BLE001 - caching is an optimisation; never fail a check over it
        pass
