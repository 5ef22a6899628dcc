"""Checking around a broken piece: a spec that the language refuses, repaired so that inference goes on.

In an editor the file is half-typed most of the time. A structural error (a misspelled key, a layer type that
does not exist yet, a missing argument) must not hide every shape error elsewhere. `repair` makes a copy of the
loaded data that validates:

- a layer, node or block use with an error becomes a *stand-in*: an Identity with the item's name and inputs,
  whose output `kspec.infer` leaves unknown (`opaque`), so that nothing depending on it is checked and nothing
  about it is reported twice;
- an unknown key of a layer is read as its did-you-mean (`kernel_initialiser` as `kernel_initializer`, `stride`
  as `strides`), or left out where nothing is close, and a chain's layer with a name that is not a name is left
  unnamed, so that the layer's output stays known;
- a section that does not bear on shapes (`training`, `data`, `tuning`, the name, the description) is replaced by
  one that validates or left out; semantics and lints, which read it, do not run on a repaired spec.

Errors that leave no model to infer (the model's input, its outputs, a block's parameters, the document's shape)
are not repaired: `repair` returns None and the check stops at the structural errors, as it always did.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostic, Path, suggestion
from .load import value_at
from .spec.base import NAME_PATTERN

_NAME = re.compile(NAME_PATTERN)

#: How many times a repaired copy is validated again (each round repairs the items the last one refused).
ROUNDS = 3

#: A stand-in section that validates and says nothing about shapes.
_SECTIONS: dict[str, Any] = {"training": {"loss": "mse"}, "name": "spec", "kspec": 1}
_DROPPED = ("data", "tuning", "description")


@dataclass
class Repair:
    """A repaired copy of a spec's data, and what was changed in it."""

    data: dict
    #: The source paths of the items replaced by stand-ins (`("model", "layers", 3)`, `("blocks", "b", "nodes", 0)`).
    opaque: set[Path] = field(default_factory=set)
    #: A stand-in could not keep the item's inputs or name: which nodes are used cannot be told.
    unknown_references: bool = False


def item_of(path: Path) -> Path | None:
    """The path of the layer, node or block use that `path` lies in, or None."""
    if len(path) >= 3 and path[0] == "model" and path[1] in ("layers", "nodes") and isinstance(path[2], int):
        return path[:3]
    if (
        len(path) >= 4
        and path[0] == "blocks"
        and isinstance(path[1], str)
        and path[2] in ("layers", "nodes")
        and isinstance(path[3], int)
    ):
        return path[:4]
    return None


def repair(data: Any, diagnostics: list[Diagnostic], parse: Any) -> tuple[Repair | None, Any, list[Diagnostic]]:
    """(the repair, the spec it validates to, errors found only once the others were repaired), or
    (None, None, []) where the errors leave nothing to infer. `parse` is `kspec.structure.parse`."""
    if not isinstance(data, dict):
        return None, None, []
    fixed = Repair(copy.deepcopy(data))
    if not _apply(fixed, diagnostics, first=True):
        return None, None, []
    later: list[Diagnostic] = []
    for _ in range(ROUNDS):
        spec, problems = parse(fixed.data)
        if spec is not None:
            return fixed, spec, later
        # Errors the repair revealed: those in repaired items come from the guesses (a renamed key's value),
        # the others (a rule between fields that pydantic checks once each field is valid) are the spec's own.
        later += [d for d in problems if not _within(d.path, fixed)]
        if not _apply(fixed, problems, first=False):
            return None, None, []
    return None, None, []


def _within(path: Path, fixed: Repair) -> bool:
    item = item_of(path)
    return (item is not None and item in fixed.opaque) or (bool(path) and path[0] in (*_SECTIONS, *_DROPPED))


def _apply(fixed: Repair, diagnostics: list[Diagnostic], *, first: bool) -> bool:
    """Repairs each diagnostic's place in `fixed.data`; False where one cannot be repaired."""
    data = fixed.data
    renames: dict[Path, list[Diagnostic]] = {}
    broken: set[Path] = set()
    unnamed: set[Path] = set()
    for d in diagnostics:
        if d.severity != "error":
            continue
        path = d.path
        item = item_of(path)
        if item is not None:
            if first and d.code == "unknown-key" and len(path) == len(item) + 1:
                renames.setdefault(item, []).append(d)
            elif path == item + ("name",) and item[-2] == "layers":
                unnamed.add(item)  # a chain's layer is named by Keras when it has no name: its output stays known
            else:
                broken.add(item)
            continue
        if not path:
            return False
        section = path[0]
        if section in _SECTIONS:
            data[section] = copy.deepcopy(_SECTIONS[section])
        elif section in _DROPPED:
            data.pop(section, None)
        elif len(path) == 1 and d.code == "unknown-key":
            data.pop(section, None)
        else:
            return False  # the model's input or outputs, a block's parameters: nothing to infer from
    for item, unknown in renames.items():
        if item in broken:
            continue
        node = value_at(data, item)
        if not isinstance(node, dict):
            broken.add(item)
            continue
        for d in unknown:
            key = d.path[-1]
            if key not in node:
                continue
            value = node.pop(key)
            target = suggestion(d.hint)
            if target is not None and target not in node:
                node[target] = value
    for item in unnamed - broken:
        node = value_at(data, item)
        if isinstance(node, dict):
            node.pop("name", None)
    for item in broken:
        if item in fixed.opaque:
            return False  # a stand-in refused: give up rather than loop
        _stand_in(fixed, item)
    return True


def _stand_in(fixed: Repair, item: Path) -> None:
    """Replaces the item at `item` by an Identity with its name and inputs (output unknown: `opaque`)."""
    container = value_at(fixed.data, item[:-1])
    index = item[-1]
    assert isinstance(container, list) and isinstance(index, int)
    old = container[index]
    graph = item[-2] == "nodes"
    new: dict[str, Any] = {"type": "Identity"}
    name = old.get("name") if isinstance(old, dict) else None
    if isinstance(name, str) and (_NAME.fullmatch(name) or (item[0] == "blocks" and "${" in name)):
        new["name"] = name
        if isinstance(old, dict) and "block" in old and graph:
            _redirect(value_at(fixed.data, item[:-2]), name)  # `NAME.OUTPUT` of a block use: its stand-in's one output
    elif graph:
        new["name"] = f"kspec_stand_in_{len(fixed.opaque)}"
        fixed.unknown_references = True  # another node may have named it
    if graph:
        inputs = old.get("inputs") if isinstance(old, dict) else None
        if isinstance(inputs, str) or (
            isinstance(inputs, list) and inputs and all(isinstance(i, str) and i for i in inputs)
        ):
            new["inputs"] = inputs
        else:
            new["inputs"] = _any_input(fixed.data, item)
            fixed.unknown_references = True
    container[index] = new
    fixed.opaque.add(item)


def _redirect(body: Any, name: str) -> None:
    """References to one output of the block use `name` (`name.OUTPUT`) in the same body (the model or a block's
    graph), made references to `name`: its stand-in has one output, unknown."""
    prefix = name + "."

    def redirected(refs: Any) -> Any:
        if isinstance(refs, str) and refs.startswith(prefix):
            return name
        if isinstance(refs, list):
            return [name if isinstance(r, str) and r.startswith(prefix) else r for r in refs]
        return refs

    if not isinstance(body, dict):
        return
    for item in body.get("nodes") or ():
        if isinstance(item, dict) and "inputs" in item:
            item["inputs"] = redirected(item["inputs"])
    if "outputs" in body:
        body["outputs"] = redirected(body["outputs"])


def _any_input(data: dict, item: Path) -> str:
    """A name every graph can refer to, for a stand-in whose inputs cannot be read: its body's first input."""
    body = value_at(data, item[:-2])
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, list) and inputs:
        first = inputs[0]
        if isinstance(first, dict) and isinstance(first.get("name"), str):
            return first["name"]
        if isinstance(first, str):
            return first
    return "kspec_no_input"
