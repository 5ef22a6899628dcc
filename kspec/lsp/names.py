"""Every name of a document, where it is defined and where it is used: node and input names (in the model, or in
one block's body), block names, and block parameters (`${param}` in a block, `param: value` in a use).

Definitions and references are `Occurrence`s with the range of the name itself; go to definition, references,
rename-free navigation and completion of names all read this index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..diagnostics import Path
from ..expand import USE_KEYS
from .analysis import Analysis, Range

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPR = re.compile(r"\$\{(.*?)\}", re.DOTALL)

#: A scope: "model", or the name of a block (its body's names and its parameters).
Scope = str


@dataclass(frozen=True)
class Occurrence:
    kind: str  # "node" (an input or node name), "block", "param"
    scope: Scope  # "model" or a block's name; "" for block names
    name: str
    range: Range
    definition: bool
    path: Path


class Names:
    def __init__(self, analysis: Analysis):
        self.a = analysis
        self.items: list[Occurrence] = []
        data = analysis.data
        if isinstance(data, dict):
            self._walk(data)

    # ---- queries --------------------------------------------------------------------------------------

    def at(self, pos: tuple[int, int]) -> Occurrence | None:
        for o in self.items:
            (l0, c0), (l1, c1) = o.range
            if (l0, c0) <= pos <= (l1, c1):
                return o
        return None

    def definitions(self, o: Occurrence) -> list[Occurrence]:
        return [d for d in self.items if d.definition and (d.kind, d.scope, d.name) == (o.kind, o.scope, o.name)]

    def references(self, o: Occurrence, include_declaration: bool = True) -> list[Occurrence]:
        return [
            r
            for r in self.items
            if (r.kind, r.scope, r.name) == (o.kind, o.scope, o.name) and (include_declaration or not r.definition)
        ]

    def defined(self, kind: str, scope: Scope) -> list[str]:
        return list(dict.fromkeys(o.name for o in self.items if o.definition and o.kind == kind and o.scope == scope))

    # ---- building -------------------------------------------------------------------------------------

    def _add(self, kind: str, scope: Scope, name: Any, path: Path, definition: bool, *, key: bool = False) -> None:
        if not isinstance(name, str) or not name:
            return
        node = self.a.node(path, key=key)
        if node is None:
            return
        shown = name.split(".")[0] if kind == "node" and not definition else name
        (l0, c0), (l1, c1) = self.a.node_range(node)
        if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            c0 += 1
        self.items.append(Occurrence(kind, scope, shown, ((l0, c0), (l0, c0 + len(shown))), definition, path))

    def _refs(self, scope: Scope, value: Any, path: Path) -> None:
        if isinstance(value, str):
            self._add("node", scope, value, path, False)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._add("node", scope, v, path + (i,), False)

    def _walk(self, data: dict) -> None:
        blocks = data.get("blocks")
        if isinstance(blocks, dict):
            for bname, block in blocks.items():
                self._add("block", "", bname, ("blocks", bname), True, key=True)
                if not isinstance(block, dict):
                    continue
                params = block.get("params")
                if isinstance(params, dict):
                    for p in params:
                        self._add("param", bname, p, ("blocks", bname, "params", p), True, key=True)
                inputs = block.get("inputs")
                if isinstance(inputs, str):
                    self._add("node", bname, inputs, ("blocks", bname, "inputs"), True)
                elif isinstance(inputs, list):
                    for i, v in enumerate(inputs):
                        self._add("node", bname, v, ("blocks", bname, "inputs", i), True)
                self._body(bname, block, ("blocks", bname))
                self._refs(bname, block.get("outputs"), ("blocks", bname, "outputs"))
                self._expressions(bname, block, ("blocks", bname))
        model = data.get("model")
        if isinstance(model, dict):
            inp = model.get("input")
            if isinstance(inp, dict):
                self._add("node", "model", inp.get("name"), ("model", "input", "name"), True)
            inputs = model.get("inputs")
            if isinstance(inputs, list):
                for i, item in enumerate(inputs):
                    if isinstance(item, dict):
                        self._add("node", "model", item.get("name"), ("model", "inputs", i, "name"), True)
            self._body("model", model, ("model",))
            self._refs("model", model.get("outputs"), ("model", "outputs"))
        training = data.get("training")
        if isinstance(training, dict):
            for section in ("loss", "loss_weights", "metrics"):
                value = training.get(section)
                if isinstance(value, dict) and not isinstance(value.get("type"), str):
                    for out in value:
                        self._add("node", "model", out, ("training", section, out), False, key=True)

    def _body(self, scope: Scope, body: dict, at: Path) -> None:
        for section in ("layers", "nodes"):
            items = body.get(section)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                path = at + (section, i)
                self._add("node", scope, item.get("name"), path + ("name",), True)
                self._refs(scope, item.get("inputs"), path + ("inputs",))
                self._add("node", scope, item.get("shares"), path + ("shares",), False)
                block = item.get("block")
                if isinstance(block, str):
                    self._add("block", "", block, path + ("block",), False)
                    for key in item:
                        if key not in USE_KEYS:
                            self._add("param", block, key, path + (key,), False, key=True)

    def _expressions(self, scope: Scope, value: Any, path: Path) -> None:
        """`${name}` in the block `scope`'s strings: references to its parameters."""
        if isinstance(value, dict):
            for k, v in value.items():
                self._expressions(scope, v, path + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._expressions(scope, v, path + (i,))
        elif isinstance(value, str) and "${" in value:
            node = self.a.node(path)
            if not isinstance(node, yaml.ScalarNode) or node.start_mark.line != node.end_mark.line:
                return
            offset = node.start_mark.column + (1 if node.style in ("'", '"') else 0)
            line = node.start_mark.line
            for m in _EXPR.finditer(value):
                for ident in _IDENT.finditer(m.group(1)):
                    start = offset + m.start(1) + ident.start()
                    self.items.append(
                        Occurrence(
                            "param",
                            scope,
                            ident.group(0),
                            ((line, start), (line, start + len(ident.group(0)))),
                            False,
                            path,
                        )
                    )
