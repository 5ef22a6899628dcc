"""Layer types from installed packages: the `kspec.layers` entry point group.

A package adds layer types by declaring, in its own `pyproject.toml`:

    [project.entry-points."kspec.layers"]
    my_layers = "my_package.kspec_layers:LAYERS"

where the object is a `kspec.spec.layers.Layer` subclass or a list of them. Each class is a
pydantic model like the built-in layers: a `type: Literal["Name"]` field, Keras's argument names
and defaults with descriptions, an `infer` rule (output shape and exact parameter counts), and
`keras_layer_class()` returning the Keras layer class to build. The types then appear in the
language like built-ins: in the JSON Schema, in `kspec validate` (with did-you-mean), in
`build_model`. A plugin module should not import TensorFlow or Keras at import time (do it
inside `keras_layer_class`), so that checking stays fast.

Only installed packages can add layer types; a spec still names nothing but a `type` string.
`KSPEC_NO_PLUGINS=1` ignores every plugin.

Discovering entry points means importing `importlib.metadata` and reading every installed
distribution's metadata (about 35 ms, a seventh of a cold `kspec validate`). The list is kept in
kspec's cache directory, keyed by the modification times of the directories on `sys.path`
(installing or removing a package changes them), and read only when it is the user's own.
"""

import hashlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

#: The base class of the layer classes (kspec.spec.layers.Layer): a pydantic model.
_Model = TypeVar("_Model", bound="BaseModel")

GROUP = "kspec.layers"


#: Plugins that could not be used, one message each (the CLI prints them as warnings). A broken
#: plugin is skipped, never fatal: specs that use its types then fail with `unknown-layer`.
PROBLEMS: list[str] = []


def _path_stamp() -> list[list]:
    stamp = []
    for entry in sys.path:
        try:
            stamp.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            continue
    return stamp


def discover() -> list[tuple[str, str]]:
    """(entry point name, "module:attribute") of every installed `kspec.layers` entry point."""
    if os.environ.get("KSPEC_NO_PLUGINS"):
        return []
    from ._cache import _trusted, cache_dir, store

    stamp = _path_stamp()
    try:
        path = cache_dir() / f"plugins-{hashlib.sha256(repr(sys.path).encode()).hexdigest()[:16]}.json"
    except OSError:
        path = None
    if path is not None and not os.environ.get("KSPEC_NO_CACHE") and _trusted(path):
        try:
            cached = json.loads(path.read_text())
            if cached.get("stamp") == stamp:
                return [tuple(e) for e in cached["entries"]]
        except (OSError, ValueError, TypeError, KeyError):
            pass
    from importlib.metadata import entry_points

    entries = sorted({(ep.name, ep.value) for ep in entry_points(group=GROUP)})
    if path is not None and not os.environ.get("KSPEC_NO_CACHE"):
        store(path, json.dumps({"stamp": stamp, "entries": entries}).encode())
    return entries


def load_layers(base: type[_Model], builtin_types: set[str]) -> tuple[type[_Model], ...]:
    """The plugin layer classes that can be used: Layer subclasses with a new `type` each."""
    out: list[type[_Model]] = []
    seen: dict[str, str] = {}
    for name, value in discover():
        where = f"kspec plugin '{name}' ({GROUP} entry point '{value}')"
        module_name, _, attribute = value.partition(":")
        try:
            obj: Any = importlib.import_module(module_name.strip())
            for part in filter(None, attribute.strip().split(".")):
                obj = getattr(obj, part)
        except Exception as exc:  # noqa: BLE001 - any failure of a third-party import is reported as such
            PROBLEMS.append(f"Skipped the {where}: it cannot be loaded ({type(exc).__name__}: {exc}).")
            continue
        for cls in obj if isinstance(obj, (list, tuple)) else [obj]:
            problem = None
            if not (isinstance(cls, type) and issubclass(cls, base)):
                problem = f"it provides {cls!r}, which is not a kspec.spec.layers.Layer subclass"
            else:
                annotation = getattr(cls.model_fields.get("type"), "annotation", None)
                layer_type = (getattr(annotation, "__args__", None) or [None])[0]
                if not isinstance(layer_type, str):
                    problem = f'{cls.__name__} has no `type: Literal["Name"]` field'
                elif layer_type in builtin_types:
                    problem = f"layer type '{layer_type}' is already a built-in layer type"
                elif layer_type in seen:
                    problem = f"layer type '{layer_type}' is also provided by plugin '{seen[layer_type]}'"
            if problem:
                PROBLEMS.append(f"Skipped a layer of the {where}: {problem}.")
                continue
            seen[layer_type] = name
            out.append(cls)
    return tuple(out)


def fingerprint(classes: tuple[type, ...]) -> bytes:
    """What the cached validator depends on besides kspec itself: each plugin module's source."""
    h = hashlib.sha256()
    for cls in classes:
        module = sys.modules.get(cls.__module__)
        h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        file = getattr(module, "__file__", None)
        if file:
            try:
                h.update(Path(file).read_bytes())
            except OSError:
                pass
    return h.digest()
