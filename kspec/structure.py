"""Stage: parse. Plain data -> a frozen `Spec`, with pydantic's errors turned into kspec diagnostics.

Pydantic reports every error at once; this module gives each one a data
path (pydantic's `loc` minus union tags and branch labels), a stable code,
a message in the Keras grammar and, for unknown keys and values, a
did-you-mean. When a value could match several branches of a union (a name
or a `{type: ...}` mapping), only the errors of the branch that fits best
are kept, so one mistake gives one diagnostic.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from typing_extensions import TypeAliasType

from .diagnostics import Diagnostic, Path, did_you_mean, suggestion
from .spec import Spec, validate_data
from .spec.blocks import BlockUse
from .spec.layers import LAYER_TYPES
from .spec.losses import loss_range_policy
from .spec.model import GraphModel, SequentialModel, SharedNode
from .spec.optimizers import optimizer_range_policy
from .text import cut, digits_of

#: One of pydantic's errors (`ValidationError.errors()`: a `pydantic_core.ErrorDetails`), read only.
_Error = Mapping[str, Any]

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def parse(data: Any) -> tuple[Spec | None, list[Diagnostic]]:
    if not isinstance(data, dict):
        return None, [
            Diagnostic(
                "not-a-mapping",
                "A spec must be a mapping with the keys 'kspec', 'name', 'model' and 'training'. "
                f"Received: a {_type_name(data)}",
            )
        ]
    try:
        return validate_data(data), []
    except ValidationError as exc:
        return None, translate(exc.errors(include_url=False, include_context=True), data)


# ---- error translation ---------------------------------------------------------------------------


def translate(errors: Sequence[_Error], data: Any) -> list[Diagnostic]:
    located = [_locate(err, data) for err in errors]
    kept = _best_branches(located)
    out: list[Diagnostic] = []
    seen: set[tuple] = set()
    for err, path, _branches in kept:
        diag = _diagnostic(err, path, data)
        key = (diag.code, diag.path, diag.message)
        if key not in seen:
            seen.add(key)
            out.append(diag)
    return _merge_misspelled(out)


def _merge_misspelled(diags: list[Diagnostic]) -> list[Diagnostic]:
    """`filter: 32` where `filters` is required is one mistake: keep the unknown key, drop the missing one."""
    suggested = set()
    for d in diags:
        if d.code == "unknown-key" and (meant := suggestion(d.hint)) is not None:
            suggested.add(d.path[:-1] + (meant,))
    return [d for d in diags if not (d.code == "missing-key" and d.path in suggested)]


def _locate(err: _Error, data: Any) -> tuple[_Error, Path, tuple]:
    """Split pydantic's loc into the data path and the union branches taken (with the path where each was taken)."""
    path: list[Any] = []
    branches: list[tuple[Path, str]] = []
    node = data
    for item in err["loc"]:
        if isinstance(node, dict) and isinstance(item, str) and item in node:
            path.append(item)
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            path.append(item)
            node = node[item]
        elif (isinstance(node, dict) and item == node.get("type")) or str(item).startswith(("node:", "model:")):
            continue  # a discriminator tag: the branch is determined by the data, not a choice
        elif err["type"] in ("extra_forbidden", "missing") and item is err["loc"][-1]:
            path.append(item)  # the key itself (absent from the data for `missing`)
        else:
            branches.append((tuple(path), str(item)))
    return err, tuple(path), tuple(branches)


def _best_branches(located: list[tuple[_Error, Path, tuple]]) -> list[tuple[_Error, Path, tuple]]:
    """Where errors come from several branches of one union, keep the branch with the fewest errors."""
    while True:
        groups: dict[Path, dict[str, list[int]]] = {}
        for i, (_err, _path, branches) in enumerate(located):
            if branches:
                at, label = branches[0]
                groups.setdefault(at, {}).setdefault(label, []).append(i)
        if not groups:
            return located
        drop: set[int] = set()
        for at, by_label in groups.items():
            if len(by_label) > 1:
                best = min(by_label.values(), key=lambda idx: (_branch_cost(located, idx, at), idx[0]))
                for idx in by_label.values():
                    if idx is not best:
                        drop.update(idx)
        # Strip the decided level of branching and repeat for nested unions.
        located = [(err, path, branches[1:]) for i, (err, path, branches) in enumerate(located) if i not in drop]


def _branch_cost(located, idx: list[int], at: Path) -> tuple[int, int]:
    """Lower is a better fit. A branch that got *into* the value (its errors lie deeper, e.g. a
    wrong key inside a `{type: ...}` mapping) is what the user meant; one that refused the value
    where it stands did not fit, and a refusal of the value's type fits least."""
    at_point = [
        located[i][0] for i in idx if located[i][1] == at and not located[i][0]["type"].startswith("union_tag_")
    ]
    if len(at_point) < len(idx):
        rank = 0
    elif all(e["type"].endswith("_type") or _kind_mismatch(e) for e in at_point):
        rank = 2
    else:
        rank = 1
    return (rank, len(idx))


def _kind_mismatch(err: _Error) -> bool:
    """A name (a literal) refused for a mapping or a list: the value is of another kind than the branch takes."""
    return err["type"] in ("literal_error", "enum") and isinstance(err.get("input"), dict | list)


def _diagnostic(err: _Error, path: Path, data: Any) -> Diagnostic:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    name = _short(_field_name(path))
    received = f"Received: {name}={_show(value)}"
    owner = _owner(err["loc"])
    where = f" in {owner}" if owner else ""

    if kind == "extra_forbidden":
        key = path[-1]
        allowed = _allowed_keys(err["loc"][:-1])
        hint = did_you_mean(str(key), allowed) if allowed else None
        if hint is None and allowed:
            hint = f"Allowed keys: {', '.join(allowed)}."
        return Diagnostic("unknown-key", f"Unknown key '{_short(str(key))}'{where}. {received}", path, hint=hint)
    if kind == "missing":
        field = path[-1]
        description = _field_description(err["loc"])
        return Diagnostic(
            "missing-key",
            f"Missing required key '{field}'{where}.",
            path,
            hint=f"{field}: {description}" if description else None,
        )
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        expected = _QUOTED.findall(str(ctx.get("expected_tags", "")))
        is_layer = set(expected) <= set(LAYER_TYPES) and len(expected) > 3
        code = "unknown-layer" if is_layer else "value"
        what = "layer type" if is_layer else "type"
        hint = did_you_mean(str(tag), expected)
        if hint is None and not is_layer:
            hint = f"Expected one of: {', '.join(expected)}."
        return Diagnostic(
            code,
            f"Unknown {what} '{_short(str(tag))}'{where}. Received: type={_show(tag)}",
            path + ("type",),
            hint=hint,
        )
    if kind == "union_tag_not_found":
        return Diagnostic("missing-key", f"Missing required key 'type'{where}.", path + ("type",))
    if kind == "literal_error":
        expected = _QUOTED.findall(str(ctx.get("expected", "")))
        hint = did_you_mean(str(value), expected) if isinstance(value, str) else None
        listed = ", ".join(repr(e) for e in expected[:40]) + (", ..." if len(expected) > 40 else "")
        if not expected:  # numbers (kspec: 1) are not quoted in pydantic's list
            listed = str(ctx.get("expected", ""))
        return Diagnostic(
            "value", f"Invalid value for `{name}`{where}: expected one of {listed}. {received}", path, hint=hint
        )
    if kind.endswith("_type") or kind in ("model_attributes_type", "is_instance_of", "dataclass_type"):
        expected = _TYPE_WORDS.get(kind, kind.removesuffix("_type").replace("_", " "))
        hint = None
        if isinstance(value, str) and kind in ("int_type", "float_type") and _looks_numeric(value):
            hint = f"Write the number without quotes: {name}: {value.strip()}"
        elif isinstance(value, bool) and kind in ("int_type", "float_type"):
            hint = "Booleans are not numbers here; write the number itself."
        return Diagnostic(
            "type",
            f"`{name}`{where} must be {expected}, not {_type_name(value)}. {received}",
            path,
            hint=hint,
            # Python (and so Keras) would take "64" or true for a number: kspec refuses to coerce.
            policy="no-coercion" if hint is not None else None,
        )
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        # A rate of exactly 1 is Keras's upper bound, but it zeroes everything: kspec's policy.
        policy = _optimizer_policy(path, value, data)
        if policy is None and kind == "less_than" and ctx.get(key) == 1 and value == 1:
            policy = "rate-below-one"
        return Diagnostic("value", f"`{name}`{where} must be {op} {ctx.get(key)}. {received}", path, policy=policy)
    if kind == "finite_number":
        return Diagnostic(
            "value",
            f"`{name}`{where} must be a finite number (not NaN or infinity). {received}",
            path,
            policy="no-coercion",
        )
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        count = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return Diagnostic("value", f"`{name}`{where} must have {bound} {count} item(s). {received}", path)
    if kind in ("string_too_short", "string_too_long"):
        bound = "at least" if kind == "string_too_short" else "at most"
        count = ctx.get("min_length") if kind == "string_too_short" else ctx.get("max_length")
        return Diagnostic("value", f"`{name}`{where} must have {bound} {count} character(s). {received}", path)
    if kind == "string_pattern_mismatch":
        return Diagnostic(
            "value",
            f"`{name}`{where} is not in the expected form ({_pattern_words(ctx.get('pattern'))}). {received}",
            path,
        )
    if kind == "value_error":
        error = ctx.get("error")
        message = str(error if error is not None else err.get("msg", ""))
        return Diagnostic(
            "value",
            f"{message}{'' if message.endswith('.') else '.'} (at {owner or name})",
            path,
            policy=getattr(error, "policy", None),  # a PolicyError: a documented kspec policy
        )
    return Diagnostic("value", f"{err.get('msg', 'Invalid value')}{where}. {received}", path)


_TYPE_WORDS = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean (true or false)",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_type": "null",
}


def _optimizer_policy(path: Path, value: Any, data: Any) -> str | None:
    """The optimizer-range (or loss-range) policy for an optimizer (or loss) argument out of kspec's bounds that
    Keras's constructor takes."""
    return optimizer_range_policy(path, value, data) or loss_range_policy(path, value, data)


_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}


def _pattern_words(pattern: str | None) -> str:
    if pattern and pattern.startswith("^[A-Za-z_]"):
        return "letters, digits and '_', not starting with a digit"
    if pattern and "(?!/)" in (pattern or ""):
        return "a relative path inside the run directory: no '..' or '.' components, not one of kspec's own run files"
    return f"pattern {pattern}"


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


#: The longest quotation of the spec's own text (a key, a value) in a message.
_QUOTE = 80


def _short(text: str) -> str:
    return cut(text, _QUOTE)


def _show(value: Any) -> str:
    if isinstance(value, str):
        # repr of the first characters only: a 5M-character value is not copied for 80 of them.
        text = repr(value) if len(value) <= 4 * _QUOTE else repr(value[: 4 * _QUOTE])
    else:
        text = _compact(value)
    return _short(text)


def _compact(value: Any, budget: int = _QUOTE + 1) -> str:
    """YAML-ish flow text of a value, cut off once longer than `budget`: never more of a large or
    deep value than the message shows, and never the digits of an integer Python refuses to write."""
    out: list[str] = []
    size = 0

    def emit(text: str) -> None:
        nonlocal size
        out.append(text[: budget - size + 1])
        size += len(out[-1])

    def walk(v: Any) -> None:  # recursion ends with the budget, so at most `budget` levels deep
        if size > budget:
            return
        if v is None:
            emit("null")
        elif isinstance(v, bool):
            emit("true" if v else "false")
        elif isinstance(v, int) and v.bit_length() > 1000:
            emit(f"<an integer of about {digits_of(v)} digits>")
        elif isinstance(v, dict):
            emit("{")
            for i, (k, x) in enumerate(v.items()):
                if size > budget:
                    return
                emit(f"{', ' if i else ''}{k}: ")
                walk(x)
            emit("}")
        elif isinstance(v, (list, tuple)):
            emit("[")
            for i, x in enumerate(v):
                if size > budget:
                    return
                if i:
                    emit(", ")
                walk(x)
            emit("]")
        else:
            emit(repr(v[: budget + 1]) if isinstance(v, str) else repr(v))

    walk(value)
    return "".join(out)


def _field_name(path: Path) -> str:
    for item in reversed(path):
        if isinstance(item, str):
            return item
    return "value"


# ---- which model a loc points into -------------------------------------------------------------

_TAGGED: dict[str, type[BaseModel]] = {}
_CALLABLE_TAGS: dict[str, type[BaseModel]] = {
    "model:sequential": SequentialModel,
    "model:graph": GraphModel,
    "node:shared": SharedNode,
    "node:block": BlockUse,
}


def _collect_tagged(model: type[BaseModel], seen: set) -> None:
    if model in seen:
        return
    seen.add(model)
    for tag in _tags_of(model):  # the type, then any aliases Keras knows it by
        _TAGGED.setdefault(tag, model)
    for f in model.model_fields.values():
        for sub in _models_in(f.annotation):
            _collect_tagged(sub, seen)


def _tags_of(model: type[BaseModel]) -> tuple:
    type_field = model.model_fields.get("type")
    if type_field is not None and typing.get_origin(type_field.annotation) is typing.Literal:
        return typing.get_args(type_field.annotation)
    return ()


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Model classes reachable through Annotated/Union/Optional/list/tuple/dict values."""
    out: list[type[BaseModel]] = []
    stack = [annotation]
    seen = set()
    while stack:
        a = stack.pop()
        if id(a) in seen:
            continue
        seen.add(id(a))
        if isinstance(a, type) and issubclass(a, BaseModel):
            out.append(a)
            continue
        if isinstance(a, TypeAliasType):  # a union written once in the schema's $defs
            stack.append(a.__value__)
            continue
        origin = typing.get_origin(a)
        if origin is typing.Annotated:
            stack.append(typing.get_args(a)[0])
        elif origin in (typing.Union, types.UnionType, list, tuple, dict):
            args = typing.get_args(a)
            stack.extend(args[1:] if origin is dict else args)
    return out


def _models_at(loc: tuple) -> list[type[BaseModel]]:
    if not _TAGGED:
        _collect_tagged(Spec, set())
    current: list[type[BaseModel]] = [Spec]
    for item in loc:
        if isinstance(item, str) and item in _CALLABLE_TAGS:
            current = [_CALLABLE_TAGS[item]]
            continue
        fields = [m.model_fields[item] for m in current if isinstance(item, str) and item in m.model_fields]
        if fields:
            current = [m for f in fields for m in _models_in(f.annotation)]
        elif isinstance(item, str) and (local := [m for m in current if item in _tags_of(m)]):
            current = local  # a tag of a candidate here (tuning's `int`) before one of a model elsewhere (a block's)
        elif isinstance(item, str) and item in _TAGGED:
            current = [_TAGGED[item]]
        # else: a list index, a dict key or a branch label: same candidates
    return current


def _allowed_keys(loc: tuple) -> list[str]:
    models = _models_at(loc)
    if len(models) != 1:
        return []
    return [k for k in models[0].model_fields]


def _owner(loc: tuple) -> str:
    models = _models_at(tuple(loc[:-1]))
    if len(models) != 1:
        return ""
    m = models[0]
    if m is Spec:
        return "the spec"
    if m.__name__ in LAYER_TYPES and LAYER_TYPES[m.__name__] is m:
        return f"layer {m.__name__}"
    return m.__name__


def _field_description(loc: tuple) -> str | None:
    models = _models_at(tuple(loc[:-1]))
    if len(models) == 1:
        f = models[0].model_fields.get(loc[-1])
        if f is not None and f.description:
            return f.description
    return None
