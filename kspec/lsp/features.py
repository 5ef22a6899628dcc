"""What the editor shows, computed from an `Analysis`: diagnostics, inlay hints, hover, completion, definitions,
references, code actions and the outline. Positions here are characters (`analysis.Pos`); `kspec.lsp.server`
converts them to the client's encoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from lsprotocol import types as lsp

from ..diagnostics import Diagnostic, Path, suggestion
from ..expand import USE_KEYS
from ..load import value_at
from ..recover import item_of
from ..spec.layers import LAYER_TYPES, shape_str
from ..spec.layers._base import Layer
from . import walk
from .analysis import Analysis, Pos, Range
from .names import Names

_SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning}
_NDIM = re.compile(r"expected ndim=(\d+), found ndim=(\d+)")
MODELINE = "# yaml-language-server: $schema="


def rng(r: Range) -> lsp.Range:
    (l0, c0), (l1, c1) = r
    return lsp.Range(lsp.Position(l0, c0), lsp.Position(l1, c1))


# ---- diagnostics ------------------------------------------------------------------------------------------


def diagnostics(a: Analysis, uri: str) -> list[lsp.Diagnostic]:
    out = []
    for d in a.report.diagnostics:
        related = []
        for n in d.notes:
            if n.path and a.root is not None:
                related.append(lsp.DiagnosticRelatedInformation(lsp.Location(uri, rng(a.range_of(n.path))), n.message))
            elif n.span is not None:
                related.append(
                    lsp.DiagnosticRelatedInformation(lsp.Location(uri, rng(a.span_range(n.span))), n.message)
                )
        related += _uses(a, d, uri, {(r.location.range.start.line, r.location.range.start.character) for r in related})
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        if d.policy:
            message += f"\n(kspec policy: {d.policy})"
        out.append(
            lsp.Diagnostic(
                range=rng(a.diagnostic_range(d)),
                message=message,
                severity=_SEVERITY.get(d.severity, lsp.DiagnosticSeverity.Error),
                code=d.code,
                source="kspec",
                related_information=related or None,
                data={"path": list(d.path), "hint": d.hint, "code": d.code},
            )
        )
    return out


def _uses(a: Analysis, d: Diagnostic, uri: str, seen: set) -> list[lsp.DiagnosticRelatedInformation]:
    """A diagnostic in a block definition points at every block use that instantiated the place (outermost)."""
    item = item_of(d.path)
    if item is None or item[0] != "blocks":
        return []
    out = []
    for node in a.nodes_at(item):
        if node.origin is None:
            continue
        for use in node.origin.uses[-1:]:
            r = a.range_of(use.path)
            if (r[0][0], r[0][1]) in seen:
                continue
            seen.add((r[0][0], r[0][1]))
            out.append(lsp.DiagnosticRelatedInformation(lsp.Location(uri, rng(r)), f"block '{d.path[1]}' used here"))
    return out


# ---- inlay hints ------------------------------------------------------------------------------------------


def _shape(shape: Any) -> str:
    return shape_str(shape) if shape is not None else "?"


@dataclass
class Hint:
    pos: Pos
    label: str
    path: Path


def hints(a: Analysis) -> list[Hint]:
    """After each layer, node and block use: its output shape and parameters; inputs' shapes; the model's totals."""
    inference = a.report.inference
    spec = a.report.draft
    if inference is None or spec is None:
        return []
    out: list[Hint] = []
    model = a.data.get("model") if isinstance(a.data, dict) else None
    if not isinstance(model, dict):
        return []
    # Inputs.
    if isinstance(model.get("input"), dict):
        for t in list(inference.inputs.values())[:1]:
            out.append(_at_end(a, ("model", "input"), f"→ {_shape(t.shape)}"))
    for i, item in enumerate(model.get("inputs") or []):
        if isinstance(item, dict) and item.get("name") in inference.inputs:
            out.append(_at_end(a, ("model", "inputs", i), f"→ {_shape(inference.inputs[item['name']].shape)}"))
    # Model-level items (a block use as one).
    section = "layers" if isinstance(model.get("layers"), list) else "nodes"
    expansion = inference.expansion
    if expansion is not None:
        for use in expansion.uses:
            if len(use.path) != 3 or use.path[:2] != ("model", section):
                continue
            members = [inference.node(n) for n in use.nodes]
            if any(m is None or m.output is None for m in members) or not use.outputs:
                continue
            params = sum(m.params for m in members if m is not None and m.shares is None)
            shapes = ", ".join(_shape(t.shape) if t is not None else "?" for t in map(inference.tensor, use.outputs))
            out.append(_at_end(a, use.path, f"→ {shapes} · {params:,}"))
    else:
        for n in inference.nodes:
            if n.output is not None:
                out.append(_at_end(a, n.path, f"→ {_shape(n.output.shape)} · {n.params if n.shares is None else 0:,}"))
    # Nodes inside block definitions: the shape of each instantiation, once each.
    by_source: dict[Path, list] = {}
    for n in inference.nodes:
        if n.origin is not None and n.origin.path[:1] == ("blocks",) and n.output is not None:
            item = item_of(n.origin.path)
            if item is not None:
                by_source.setdefault(item, []).append(n)
    for item, nodes in by_source.items():
        shown = list(dict.fromkeys(_shape(n.output.shape) for n in nodes))
        counts = list(dict.fromkeys(n.params for n in nodes if n.shares is None))
        label = "→ " + " | ".join(shown[:2]) + (f" | … ({len(shown)} shapes)" if len(shown) > 2 else "")
        if counts:
            label += " · " + " | ".join(f"{p:,}" for p in counts[:2]) + (" | …" if len(counts) > 2 else "")
        uses = len(nodes)
        label += f"  ({uses} use{'s' if uses != 1 else ''})"
        out.append(_at_end(a, item, label))
    if inference.complete:
        total = f"Σ {inference.total_params:,} params"
        if inference.non_trainable_params:
            total += f" ({inference.trainable_params:,} trainable)"
        out.append(Hint(_line_end(a, ("model",), key=True), total, ("model",)))
    return [h for h in out if h.pos is not None]


def _at_end(a: Analysis, path: Path, label: str) -> Hint:
    return Hint(_line_end(a, path), label, path)


def _line_end(a: Analysis, path: Path, *, key: bool = False) -> Pos:
    """The end of the first line of the node at `path` (without a trailing comment)."""
    node = a.node(path, key=key)
    if node is None:
        return None  # type: ignore[return-value]
    line = node.start_mark.line
    if isinstance(node, yaml.MappingNode) and node.flow_style and node.end_mark.line == line:
        return line, node.end_mark.column
    text = a.lines[line] if line < len(a.lines) else ""
    code = _strip_comment(text).rstrip()
    return line, len(code)


def _strip_comment(text: str) -> str:
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    return text


# ---- hover ------------------------------------------------------------------------------------------------


def hover(a: Analysis, pos: Pos) -> tuple[str, Range] | None:
    path, on_key = a.path_at(pos)
    if not path:
        return None
    data = a.data
    node = a.node(path, key=on_key)
    r = a.node_range(node) if node is not None else a.range_of(path)
    item = item_of(path)
    # A layer's type: the Keras one-liner, its arguments, its shapes here.
    if path[-1] == "type" and not on_key:
        value = value_at(data, path)
        cls = LAYER_TYPES.get(value) if isinstance(value, str) and item is not None else None
        if cls is not None:
            return _layer_hover(a, cls, item), r  # type: ignore[arg-type]
        model = walk.model_at(path[:-1], data)
        if model is not None and model.__doc__:
            return f"**{value}**\n\n{walk.first_line(model.__doc__)}", r
    # A block use: its parameters and what it expands to.
    if item is not None and isinstance(value_at(data, item), dict) and "block" in value_at(data, item):
        use = value_at(data, item)
        if path[-1] == "block" or (on_key and path[-1] not in USE_KEYS and len(path) == len(item) + 1):
            key = path[-1] if on_key and isinstance(path[-1], str) and path[-1] not in USE_KEYS else None
            text = _block_use_hover(a, item, use, key)
            if text:
                return text, r
    if on_key:
        found = walk.field_at(path, data)
        if found is not None:
            model, name, field = found
            tags = walk.type_tags(model)
            owner = tags[0] if tags else model.__name__
            text = f"**{name}** ({owner}): `{walk.describe_annotation(field.annotation)}`"
            default = walk.default_of(field)
            text += f", default `{default}`" if default is not None else ", required"
            if field.description:
                text += f"\n\n{field.description}"
            return text, r
    return None


def _layer_hover(a: Analysis, cls: type[Layer], item: Path) -> str:
    lines = [f"**{cls.type_name()}**: {walk.first_line(cls.__doc__)}", ""]
    rows = []
    for name, field in cls.model_fields.items():
        if name in ("type", "name", "inputs"):
            continue
        default = walk.default_of(field)
        rows.append(f"- `{name}`" + (f" = `{default}`" if default is not None else " (required)"))
    if rows:
        lines += ["Arguments:", *rows, ""]
    nodes = a.nodes_at(item)
    inference = a.report.inference
    if nodes and inference is not None:
        n = nodes[0]
        ins = ", ".join(_shape(t.shape) if t is not None else "?" for t in map(inference.tensor, n.inputs))
        out = _shape(n.output.shape) if n.output is not None else "?"
        lines.append(f"Here: {ins} → {out}, {n.params if n.shares is None else 0:,} parameters")
        if len(nodes) > 1:
            lines.append(f"({len(nodes)} instantiations; the first shown)")
    return "\n".join(lines).strip()


def _block_use_hover(a: Analysis, item: Path, use: dict, param: str | None) -> str | None:
    data = a.data
    blocks = data.get("blocks") if isinstance(data, dict) else None
    block = blocks.get(use.get("block")) if isinstance(blocks, dict) else None
    if not isinstance(block, dict):
        return None
    found = block.get("params")
    params: dict = found if isinstance(found, dict) else {}
    if param is not None:
        spec = params.get(param)
        return (
            f"**{param}**: parameter of block `{use.get('block')}`: {_param_text(spec)}" if spec is not None else None
        )
    lines = [f"**block {use.get('block')}**" + (f": {block['description']}" if block.get("description") else "")]
    if params:
        lines += ["", "Parameters:"] + [f"- `{k}`: {_param_text(v)}" for k, v in params.items()]
    inference = a.report.inference
    if inference is not None and inference.expansion is not None:
        for u in inference.expansion.uses:
            if tuple(u.path) == tuple(item):
                members = [inference.node(n) for n in u.nodes]
                params_total = sum(m.params for m in members if m is not None and m.shares is None)
                shapes = ", ".join(_shape(t.shape) if t is not None else "?" for t in map(inference.tensor, u.outputs))
                lines += ["", f"Expands to {len(u.nodes)} layers, {params_total:,} parameters → {shapes}"]
    return "\n".join(lines)


def _param_text(spec: Any) -> str:
    if isinstance(spec, str):
        return f"`{spec}` (required)"
    if isinstance(spec, dict):
        text = f"`{spec.get('type')}`"
        text += f", default `{spec['default']}`" if "default" in spec else " (required)"
        if spec.get("description"):
            text += f": {spec['description']}"
        return text
    return str(spec)


# ---- definition and references -------------------------------------------------------------------------


def definition(a: Analysis, pos: Pos) -> list[Range]:
    names = Names(a)
    o = names.at(pos)
    if o is None:
        return []
    return [d.range for d in names.definitions(o)]


def references(a: Analysis, pos: Pos, include_declaration: bool) -> list[Range]:
    names = Names(a)
    o = names.at(pos)
    if o is None:
        return []
    return [r.range for r in names.references(o, include_declaration)]


# ---- document symbols ---------------------------------------------------------------------------------


def symbols(a: Analysis) -> list[lsp.DocumentSymbol]:
    data = a.data
    if not isinstance(data, dict):
        return []
    out: list[lsp.DocumentSymbol] = []

    def sym(name: str, detail: str | None, kind: lsp.SymbolKind, path: Path, children=None) -> lsp.DocumentSymbol:
        node = a.node(path)
        full = a.node_range(node) if node is not None else a.range_of(path)
        if node is not None:
            full = ((node.start_mark.line, node.start_mark.column), (node.end_mark.line, node.end_mark.column))
        key = a.node(path, key=True) if path and isinstance(path[-1], str) else None
        sel = a.node_range(key) if key is not None else a.node_range(node) if node is not None else full
        if not (full[0] <= sel[0] and sel[1] <= full[1]):
            full = (min(full[0], sel[0]), max(full[1], sel[1]))
        return lsp.DocumentSymbol(name, kind, rng(full), rng(sel), detail=detail, children=children or None)

    def body(items: Any, at: Path) -> list[lsp.DocumentSymbol]:
        kids = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            kind_name = item.get("type") or (f"block {item['block']}" if "block" in item else "?")
            shares = item.get("shares")
            label = str(item.get("name") or kind_name)
            detail = f"shares {shares}" if shares else str(kind_name)
            nodes = a.nodes_at(at + (i,))
            if nodes and nodes[-1].output is not None:
                detail += f" → {_shape(nodes[-1].output.shape)}"
            kind = lsp.SymbolKind.Module if "block" in item else lsp.SymbolKind.Function
            kids.append(sym(label, detail, kind, at + (i,)))
        return kids

    blocks = data.get("blocks")
    if isinstance(blocks, dict):
        kids = []
        for name, block in blocks.items():
            if isinstance(block, dict):
                inner = body(block.get("layers"), ("blocks", name, "layers")) + body(
                    block.get("nodes"), ("blocks", name, "nodes")
                )
                kids.append(sym(str(name), "block", lsp.SymbolKind.Class, ("blocks", name), inner))
        out.append(sym("blocks", None, lsp.SymbolKind.Namespace, ("blocks",), kids))
    model = data.get("model")
    if isinstance(model, dict):
        kids = []
        if isinstance(model.get("input"), dict):
            kids.append(
                sym(str(model["input"].get("name") or "input"), "input", lsp.SymbolKind.Variable, ("model", "input"))
            )
        inputs = model.get("inputs")
        for i, inp in enumerate(inputs if isinstance(inputs, list) else []):
            if isinstance(inp, dict):
                kids.append(
                    sym(str(inp.get("name") or "input"), "input", lsp.SymbolKind.Variable, ("model", "inputs", i))
                )
        kids += body(model.get("layers"), ("model", "layers")) + body(model.get("nodes"), ("model", "nodes"))
        if "outputs" in model:
            kids.append(sym("outputs", str(model.get("outputs")), lsp.SymbolKind.Event, ("model", "outputs")))
        out.append(sym("model", None, lsp.SymbolKind.Namespace, ("model",), kids))
    for section in ("training", "data", "tuning"):
        if section in data:
            out.append(sym(section, None, lsp.SymbolKind.Namespace, (section,)))
    return out


# ---- code actions -------------------------------------------------------------------------------------------


def code_actions(a: Analysis, uri: str, r: Range, schema: str | None) -> list[lsp.CodeAction]:
    out: list[lsp.CodeAction] = []
    for d in a.report.diagnostics:
        dr = a.diagnostic_range(d)
        if dr[1] < r[0] or r[1] < dr[0]:
            continue
        out += _fix(a, uri, d, dr)
    if schema is not None and not any(line.startswith(MODELINE) for line in a.lines[:5]):
        edit = lsp.TextEdit(rng(((0, 0), (0, 0))), f"{MODELINE}{schema}\n")
        out.append(
            lsp.CodeAction(
                "Add the yaml-language-server schema modeline",
                kind=lsp.CodeActionKind.Source,
                edit=lsp.WorkspaceEdit(changes={uri: [edit]}),
            )
        )
    return out


def _action(title: str, uri: str, edits: list[lsp.TextEdit]) -> lsp.CodeAction:
    return lsp.CodeAction(
        title,
        kind=lsp.CodeActionKind.QuickFix,
        edit=lsp.WorkspaceEdit(changes={uri: edits}),
        is_preferred=True,
    )


def _fix(a: Analysis, uri: str, d: Diagnostic, dr: Range) -> list[lsp.CodeAction]:
    out = []
    target = suggestion(d.hint)
    if target is not None:
        node = a.node(d.path, key=d.code in ("unknown-key", "duplicate-key"))
        if node is None and d.path and isinstance(d.path[-1], int):  # `inputs: aa`, one name for a list of them
            node = a.node(d.path[:-1])
        if node is not None and isinstance(node, yaml.ScalarNode):
            out.append(_action(f"Change to '{target}'", uri, [lsp.TextEdit(rng(a.node_range(node)), target)]))
    if d.code == "lint-softmax-from-logits":
        out += _drop_softmax(a, uri, d)
    match = _NDIM.search(d.message) if d.code == "shape" else None
    if match is not None:
        out += _insert_reshaping(a, uri, d, int(match.group(1)), int(match.group(2)))
    return out


def _drop_softmax(a: Analysis, uri: str, d: Diagnostic) -> list[lsp.CodeAction]:
    out = []
    inference = a.report.inference
    if inference is not None:
        for name in inference.outputs:
            node = inference.node(name)
            if node is None:
                continue
            source = node.origin.path if node.origin is not None else node.path
            value = a.node(tuple(source) + ("activation",))
            if isinstance(value, yaml.ScalarNode) and value.value in ("softmax", "sigmoid"):
                edit = lsp.TextEdit(rng(a.node_range(value)), "linear")
                out.append(_action(f"Drop the {value.value} of '{name}' (activation: linear)", uri, [edit]))
    flag = a.node(d.path + ("from_logits",))
    if isinstance(flag, yaml.ScalarNode):
        out.append(_action("Set from_logits: false", uri, [lsp.TextEdit(rng(a.node_range(flag)), "false")]))
    return out


def _insert_reshaping(a: Analysis, uri: str, d: Diagnostic, expected: int, found: int) -> list[lsp.CodeAction]:
    """Before a layer that needs a lower rank in a chain (`layers`): Flatten, global pooling, or a Reshape."""
    item = item_of(d.path)
    if item is None or item[-2] != "layers" or found <= expected:
        return []
    node = a.node(item)
    if node is None:
        return []
    nodes = a.nodes_at(item)
    inference = a.report.inference
    shape = None
    if nodes and inference is not None and nodes[0].inputs:
        t = inference.tensor(nodes[0].inputs[0])
        shape = t.shape if t is not None else None
    choices: list[tuple[str, str]] = []
    if expected == 2:
        choices.append(("Flatten", "{type: Flatten}"))
        if 3 <= found <= 5:
            pool = f"GlobalAveragePooling{found - 2}D"
            choices.append((pool, f"{{type: {pool}}}"))
    elif expected == 3 and found == 4 and shape is not None and isinstance(shape[1], int) and isinstance(shape[2], int):
        steps = shape[1] * shape[2]
        choices.append((f"Reshape to ({steps}, {shape[3]})", f"{{type: Reshape, target_shape: [{steps}, {shape[3]}]}}"))
    line = node.start_mark.line
    text = a.lines[line] if line < len(a.lines) else ""
    dash = text.find("- ")
    if dash < 0 or text[:dash].strip():
        return []
    out = []
    for title, item_text in choices:
        edit = lsp.TextEdit(rng(((line, 0), (line, 0))), f"{text[:dash]}- {item_text}\n")
        out.append(_action(f"Insert {title} before this layer", uri, [edit]))
    return out
