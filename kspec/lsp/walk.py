"""The spec language at a place in a document: which pydantic model a mapping is, what a key means, which values a
field takes. Read from the models themselves (the single source of truth), never from a table of names.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from typing_extensions import TypeAliasType

from ..diagnostics import Path
from ..load import value_at
from ..spec import Spec


def _unwrap(annotation: Any) -> Any:
    while True:
        if isinstance(annotation, TypeAliasType):
            annotation = annotation.__value__
        elif typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


@functools.lru_cache(maxsize=4096)
def _options(annotation: Any) -> tuple[Any, ...]:
    """The members of a union (through aliases and Annotated), flattened; one member for anything else."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_options(arg))
        return tuple(out)
    return (annotation,)


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def type_tags(model: type[BaseModel]) -> tuple[str, ...]:
    """The values of a model's `type` field (its discriminator), if it has one."""
    field = model.model_fields.get("type")
    if field is None:
        return ()
    return tuple(v for v in literals(field.annotation) if isinstance(v, str))


def literals(annotation: Any) -> list[Any]:
    """The values a Literal (or a union of Literals) allows."""
    out: list[Any] = []
    for option in _options(annotation):
        if typing.get_origin(option) is Literal:
            out.extend(typing.get_args(option))
    return out


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a value of this annotation may be (a union's members; not list items)."""
    return [o for o in _options(annotation) if _is_model(o)]


def pick(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The model of a union that a mapping `value` is: by its `type` tag, by `block:` for a block use, else the
    member whose fields cover most of its keys."""
    candidates = models_in(annotation)
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if isinstance(value, dict):
        tag = value.get("type")
        if isinstance(tag, str):
            for c in candidates:
                if tag in type_tags(c):
                    return c
        keys = set(value)
        best = max(candidates, key=lambda c: (len(keys & set(c.model_fields)), -len(c.model_fields)))
        return best
    return None


def _container(annotation: Any, step: Any) -> Any:
    """The annotation of an item (`list[X]` at an int, `dict[K, X]` at a str), or None."""
    for option in _options(annotation):
        origin = typing.get_origin(option)
        if origin is list and isinstance(step, int):
            return typing.get_args(option)[0]
        if origin is dict and isinstance(step, str):
            return typing.get_args(option)[1]
    return None


def annotation_at(path: Path, data: Any) -> tuple[Any, type[BaseModel] | None, str | None]:
    """(the annotation of the value at `path`, the model whose field it is, the field's name)."""
    annotation: Any = Spec
    owner: type[BaseModel] | None = None
    name: str | None = None
    node = data
    for step in path:
        model = pick(annotation, node)
        if model is not None and isinstance(step, str) and step in model.model_fields:
            owner, name = model, step
            annotation = model.model_fields[step].annotation
        else:
            inner = _container(annotation, step)
            if inner is None:
                return None, None, None
            annotation, owner, name = inner, None, None
        node = _child(node, step)
    return annotation, owner, name


def model_at(path: Path, data: Any) -> type[BaseModel] | None:
    """The model of the mapping at `path` (a layer's class, `Training`, `BlockUse`, ...)."""
    annotation, _owner, _name = annotation_at(path, data)
    if annotation is None:
        return None
    return pick(annotation, value_at(data, path))


def field_at(path: Path, data: Any) -> tuple[type[BaseModel], str, FieldInfo] | None:
    """The model, name and pydantic field of the key at the end of `path`."""
    if not path or not isinstance(path[-1], str):
        return None
    model = model_at(path[:-1], data)
    if model is None or path[-1] not in model.model_fields:
        return None
    return model, path[-1], model.model_fields[path[-1]]


def _child(node: Any, step: Any) -> Any:
    if isinstance(node, dict) and isinstance(step, str):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    return None


def describe_annotation(annotation: Any) -> str:
    """A short human form of a field's type: `int`, `'same' | 'valid'`, `list[int]`, `Conv2D | ...`."""
    parts: list[str] = []
    for option in _options(annotation):
        origin = typing.get_origin(option)
        if origin is Literal:
            values = typing.get_args(option)
            shown = " | ".join(repr(v) for v in values[:6]) + (" | ..." if len(values) > 6 else "")
            parts.append(shown)
        elif _is_model(option):
            tags = type_tags(option)
            parts.append(tags[0] if tags else option.__name__)
        elif origin in (list, tuple, dict):
            parts.append(origin.__name__)
        elif option is type(None):
            parts.append("null")
        elif isinstance(option, type):
            parts.append(option.__name__)
        else:
            parts.append(str(option))
    unique = list(dict.fromkeys(parts))
    if len(unique) > 6:
        unique = unique[:6] + ["..."]
    return " | ".join(unique)


def default_of(field: FieldInfo) -> str | None:
    """A field's default as YAML would show it, None when it is required."""
    if field.is_required():
        return None
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return None
    else:
        value = field.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        return None
    if isinstance(value, tuple):
        value = list(value)
    return repr(value) if isinstance(value, str) else str(value)


def first_line(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ").strip()
