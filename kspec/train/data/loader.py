"""The loader interface, and the registry of source types.

A loader is a function `(source, ctx) -> Loaded`: `source` is the spec's source (its pydantic model, after
`resolve_source`), `ctx` the `Context` (the model, the base directory, the seed and the field mapping); the `Loaded`
says which fields the source has, how to read each one (`get` -> `Field`), which fields a model reads by default,
and what to do after the hold-outs. `load_data` maps, splits, checks and adapts from there. Each source type is one
module of this package that calls `register(Loader(type, load, ...))` once; `load_data` and `resolve_source` find it
in `LOADERS` by the source's `type`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .checks import _embedding_consumers
from .core import Split

if TYPE_CHECKING:  # pragma: no cover
    from ...infer import Inference
    from ...spec import Spec


class Context:
    """What the loaders may need to know about the model and the mapping."""

    def __init__(self, spec: Spec, inference: Inference, base_dir: pathlib.Path, seed: int | None, source: Any):
        self.spec = spec
        self.inference = inference
        self.base_dir = base_dir
        self.seed = seed
        self.source = source
        self.data = spec.data
        self.input_map = dict(spec.data.inputs or {}) if spec.data is not None else {}
        self.label_map = dict(spec.data.labels or {}) if spec.data is not None else {}
        self.vocabulary: list[str] | None = None  # a trained run's text vocabulary, reused rather than adapted

    def resolve(self, path: str) -> pathlib.Path:
        p = pathlib.Path(os.path.expanduser(path))
        return p if p.is_absolute() else self.base_dir / p

    def input_fields(self, default: str | None) -> dict[str, str | None]:
        """Model input -> field; `default` is the field of a one-input model (None: the source decides)."""
        names = list(self.inference.inputs)
        out: dict[str, str | None] = {}
        for name in names:
            if name in self.input_map:
                out[name] = self.input_map[name]
            else:
                out[name] = default if len(names) == 1 else name
        return out

    def label_fields(self, default: str) -> dict[str, str]:
        names = list(self.inference.outputs)
        return {name: self.label_map.get(name, default if len(names) == 1 else name) for name in names}

    def target_of(self, field_name: str, default: str | None) -> Any:
        """The model input Tensor fed by `field_name`, or None."""
        for name, mapped in self.input_fields(default).items():
            if mapped == field_name:
                return self.inference.inputs[name]
        return None

    def embedding_dim_for_field(self, field_name: str, default: str | None) -> int | None:
        for name, mapped in self.input_fields(default).items():
            if mapped == field_name:
                found = _embedding_consumers(self.inference, name)
                if found:
                    return min(dim for _, dim in found)
        return None


@dataclass
class Field:
    train: np.ndarray
    test: np.ndarray | None
    origin: str  # "field 'x' of mnist.npz"
    test_origin: str | None = None


@dataclass
class Loaded:
    """A read source: how to resolve its fields and what to do after splitting."""

    title: str  # "mnist.npz", "embedded digits": description prefix and file in messages
    available: list[str]
    get: Callable[[str], Field | None]
    default_input: str | None  # None: `rest` decides (csv)
    default_label: str
    rest: Callable[[list[str]], str] | None = None  # csv: the default features, given the label fields
    class_names: list[str] | None = None
    class_field: str | None = None  # directories: the field whose values index class_names ("label")
    #: after the hold-outs, in place: model input -> its preprocessing (text: vectorised with the vocabulary)
    finish: Callable[[Split, Split | None, Split | None], dict[str, dict[str, Any]]] | None = None
    pool: Split | None = None  # synthetic: already mapped
    #: the examples are in random order already (synthetic): `load_data` does not shuffle them again
    shuffled: bool = False
    close: Callable[[], None] | None = None
    #: a field -> how its raw examples become an array (LoadedData.preprocessing); default: an array as stored
    describe: Callable[[str], dict[str, Any]] = lambda field_name: {"kind": "array", "field": field_name}
    columns: Callable[[str], list[str]] | None = None  # csv: a field -> its columns, in order
    #: a streamed source (image_directory, parquet): its examples are read while training (`stream.Stream`);
    #: `get` is then unused
    stream: Any = None


@dataclass(frozen=True)
class Loader:
    """One source type: how it is read and, for `resolve_source`, what it takes from the model."""

    type: str  # the source's `type` in the spec ("npz")
    load: Callable[[Any, Context], Loaded]
    #: (source, ctx, the settings the source gives) -> the settings it leaves out that the model implies
    resolve: Callable[[Any, Context, set[str]], dict[str, Any]] | None = None
    #: what a source setting left out (null) becomes when the model does not imply a value
    fallbacks: dict[str, Any] = field(default_factory=dict)


#: source type -> its loader; filled by the loader modules, which the package imports
LOADERS: dict[str, Loader] = {}


def register(loader: Loader) -> Loader:
    """Make `loader` the one that reads sources of its type."""
    LOADERS[loader.type] = loader
    return loader
