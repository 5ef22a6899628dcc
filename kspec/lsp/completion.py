"""Completion at a position: layer types (with their required arguments as a snippet), the arguments of the layer
at the cursor, enum values, node and block names, a block's parameters, losses and metrics that fit the output.

The document is usually half-typed where completion is asked for. When the text does not parse there, the cursor's
line is patched (a placeholder key, closing brackets) until it does, and the place is read from that.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from lsprotocol import types as lsp

from ..diagnostics import Path
from ..expand import USE_KEYS
from ..load import value_at
from ..recover import item_of
from ..spec.layers import LAYER_TYPES
from ..spec.losses import LOSS_NAMES, loss_kind
from ..spec.metrics import METRIC_NAMES
from . import walk
from .analysis import Analysis, compose, locate
from .names import Names

PLACEHOLDER = "kspecX"
_WORD = re.compile(r"[A-Za-z0-9_.]*$")
_REF_FIELDS = ("inputs", "outputs", "shares")


def _closers(prefix: str) -> str:
    stack = []
    quote = None
    for ch in prefix:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    return "".join(reversed(stack))


def _place(a: Analysis, line: int, col: int) -> tuple[Path, bool, Analysis, str] | None:
    """(path at the cursor, on a key, the document as read there, the word typed before the cursor). The document
    is `a` itself, or where the text had to be patched to parse, a view of the patched text with `a`'s report."""
    text_line = a.lines[line] if line < len(a.lines) else ""
    before = text_line[:col]
    word = _WORD.search(before).group(0)  # type: ignore[union-attr]
    closers = _closers(before)
    head = before
    tries = [
        head + PLACEHOLDER + closers,
        head + PLACEHOLDER + ": 0" + closers,
    ]
    if a.root is not None:
        path, on_key = a.path_at((line, col))
        if path:
            tries.insert(0, None)  # type: ignore[arg-type]
    lines = list(a.lines) + [""] * (line + 1 - len(a.lines))
    for patched in tries:
        if patched is None:
            path, on_key = a.path_at((line, col))
            return path, on_key, a, word
        text = "\n".join(lines[:line] + [patched] + lines[line + 1 :])
        root = compose(text)
        if root is None:
            continue
        path, on_key = locate(root, (line, len(head) + len(PLACEHOLDER) - 1))
        if not path:
            continue
        view = Analysis(text, a.report, root, text.splitlines())
        if path and isinstance(path[-1], str) and path[-1].endswith(PLACEHOLDER):
            if on_key:
                return path[:-1], True, view, word
            path = path[:-1] + (path[-1][: -len(PLACEHOLDER)],)
        return path, on_key, view, word
    return None


def complete(a: Analysis, pos: tuple[int, int]) -> list[lsp.CompletionItem]:
    place = _place(a, *pos)
    if place is None:
        return []
    path, on_key, view, word = place
    data = view.data
    if on_key:
        return _keys(view, path if not _is_key_path(path, data) else path[:-1], data)
    if isinstance(value_at(data, path), dict):  # inside a mapping, between its entries
        return _keys(view, path, data)
    return _values(view, path, data)


def _is_key_path(path: Path, data: Any) -> bool:
    """Whether `path` ends at a key that the data holds (the cursor on an existing key: complete its siblings)."""
    node = data
    for step in path[:-1]:
        node = (
            node.get(step)
            if isinstance(node, dict)
            else (node[step] if isinstance(node, list) and isinstance(step, int) and step < len(node) else None)
        )
    return (
        isinstance(node, dict) and bool(path) and path[-1] in node and not isinstance(node.get(path[-1]), dict | list)
    )


# ---- keys ---------------------------------------------------------------------------------------------------


def _keys(a: Analysis, parent: Path, data: Any) -> list[lsp.CompletionItem]:
    present = value_at(data, parent)
    present_keys = set(present) if isinstance(present, dict) else set()
    items: list[lsp.CompletionItem] = []
    if isinstance(present, dict) and isinstance(present.get("block"), str) and item_of(parent) == parent:
        blocks = data.get("blocks") if isinstance(data, dict) else None
        block = blocks.get(present["block"]) if isinstance(blocks, dict) else None
        params = block.get("params") if isinstance(block, dict) else None
        for name, p in (params or {}).items():
            if name in present_keys:
                continue
            required = isinstance(p, str) or (isinstance(p, dict) and "default" not in p)
            detail = f"{p if isinstance(p, str) else p.get('type')}" + (
                " (required)" if required else f" = {p.get('default')}"
            )
            items.append(_key_item(str(name), detail, None, required))
        for name in USE_KEYS - present_keys:
            items.append(_key_item(name, "block use", None, False))
        return items
    model = walk.model_at(parent, data)
    if model is None:
        return []
    chain = item_of(parent) == parent and parent[-2] == "layers"
    for name, field in model.model_fields.items():
        if name in present_keys or (chain and name == "inputs"):  # a chain's layer takes the previous output
            continue
        default = walk.default_of(field)
        detail = walk.describe_annotation(field.annotation) + (
            f" = {default}" if default is not None else " (required)"
        )
        items.append(_key_item(name, detail, field.description, field.is_required()))
    return items


def _key_item(name: str, detail: str, doc: str | None, required: bool) -> lsp.CompletionItem:
    return lsp.CompletionItem(
        label=name,
        kind=lsp.CompletionItemKind.Property,
        detail=detail,
        documentation=doc,
        insert_text=f"{name}: ",
        sort_text=("0" if required else "1") + name,
    )


# ---- values --------------------------------------------------------------------------------------------------


def _values(a: Analysis, path: Path, data: Any) -> list[lsp.CompletionItem]:
    if not path:
        return []
    last = path[-1]
    item = item_of(path)
    # A layer's type.
    if last == "type" and item is not None and len(path) == len(item) + 1:
        flow = _flow(a, item)
        return [_layer_item(name, cls, flow, _indent(a, path)) for name, cls in LAYER_TYPES.items()]
    # Names: inputs, outputs, shares.
    field = next((p for p in reversed(path) if isinstance(p, str)), None)
    if field in _REF_FIELDS and (item is not None or path[:2] == ("model", "outputs") or path[:1] == ("blocks",)):
        scope = str(path[1]) if path[0] == "blocks" else "model"
        names = _outputs(data, Names(a).defined("node", scope), path[:2] if scope == "model" else path[:2])
        own = value_at(data, item + ("name",)) if item is not None else None
        return [
            lsp.CompletionItem(label=n, kind=lsp.CompletionItemKind.Reference, detail=_shape_of(a, scope, n))
            for n in names
            if n != own
        ]
    if last == "block" and item is not None:
        blocks = data.get("blocks") if isinstance(data, dict) else None
        return [
            lsp.CompletionItem(label=str(b), kind=lsp.CompletionItemKind.Module, detail="block") for b in (blocks or {})
        ]
    if path[:2] == ("training", "loss") and len(path) <= 3:
        return _losses(a, path)
    if path[:2] == ("training", "metrics"):
        return _metrics(a, path)
    annotation, _owner, _name = walk.annotation_at(path, data)
    if annotation is None:
        return []
    if last == "type":
        tags = [t for m in walk.models_in(walk.annotation_at(path[:-1], data)[0]) for t in walk.type_tags(m)]
        return [lsp.CompletionItem(label=t, kind=lsp.CompletionItemKind.Class) for t in dict.fromkeys(tags)]
    values = walk.literals(annotation)
    out = [
        lsp.CompletionItem(label=_yaml(v), kind=lsp.CompletionItemKind.EnumMember)
        for v in values
        if not isinstance(v, bool)
    ]
    if any(o is bool for o in walk._options(annotation)) or any(isinstance(v, bool) for v in values):
        out += [lsp.CompletionItem(label=b, kind=lsp.CompletionItemKind.Keyword) for b in ("true", "false")]
    return out


def _outputs(data: Any, names: list[str], body_path: Path) -> list[str]:
    """The names a reference may take: a block use with several outputs as `NAME.OUTPUT`, each."""
    body = value_at(data, body_path[:1] if body_path[:1] == ("model",) else body_path)
    blocks = data.get("blocks") if isinstance(data, dict) else None
    several: dict[str, list[str]] = {}
    for section in ("layers", "nodes"):
        for item in (body.get(section) if isinstance(body, dict) else None) or ():
            if isinstance(item, dict) and isinstance(item.get("block"), str) and isinstance(item.get("name"), str):
                block = blocks.get(item["block"]) if isinstance(blocks, dict) else None
                outs = block.get("outputs") if isinstance(block, dict) else None
                if isinstance(outs, list) and len(outs) > 1:
                    several[item["name"]] = [f"{item['name']}.{o}" for o in outs if isinstance(o, str)]
    out: list[str] = []
    for n in names:
        out += several.get(n, [n])
    return out


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    return str(value)


def _flow(a: Analysis, item: Path) -> bool:
    """Whether the layer at `item` is a flow mapping (`{type: ..., ...}`) rather than a block mapping."""
    node = a.node(item)
    return isinstance(node, yaml.MappingNode) and bool(node.flow_style) if node is not None else True


def _indent(a: Analysis, path: Path) -> str:
    """For a block mapping's `type:`: the spaces from the start of its line's indentation to the key (the editor
    indents each inserted line like the cursor's line, `InsertTextMode.AdjustIndentation`)."""
    key = a.node(path, key=True)
    if key is None:
        return ""
    line = a.lines[key.start_mark.line] if key.start_mark.line < len(a.lines) else ""
    return " " * max(0, key.start_mark.column - (len(line) - len(line.lstrip(" "))))


def _layer_item(name: str, cls: Any, flow: bool, indent: str = "") -> lsp.CompletionItem:
    required = [f for f, info in cls.model_fields.items() if info.is_required() and f != "type"]
    snippet = name
    for i, f in enumerate(required, 1):
        snippet += f", {f}: ${{{i}}}" if flow else f"\n{indent}{f}: ${{{i}}}"
    return lsp.CompletionItem(
        label=name,
        kind=lsp.CompletionItemKind.Class,
        detail=walk.first_line(cls.__doc__)[:120],
        documentation=walk.first_line(cls.__doc__),
        insert_text=snippet,
        insert_text_format=lsp.InsertTextFormat.Snippet if required else lsp.InsertTextFormat.PlainText,
        insert_text_mode=lsp.InsertTextMode.AdjustIndentation,
    )


def _shape_of(a: Analysis, scope: str, name: str) -> str | None:
    inference = a.report.inference
    if inference is None or scope != "model":
        return None
    t = inference.tensor(name)
    return str(t) if t is not None else None


def _output_for(a: Analysis, path: Path) -> tuple[str, Any] | None:
    inference = a.report.inference
    if inference is None or not inference.outputs:
        return None
    name = path[2] if len(path) > 2 and isinstance(path[2], str) else inference.outputs[0]
    t = inference.tensor(name)
    return (name, t) if t is not None else None


def _losses(a: Analysis, path: Path) -> list[lsp.CompletionItem]:
    from ..infer import output_end
    from ..training_checks import loss_fits, probability_output

    target = _output_for(a, path)
    out = []
    for name in LOSS_NAMES:
        fits = True
        if target is not None and a.report.inference is not None:
            output, tensor = target
            end = output_end(a.report.inference, output)
            fits = not (loss_fits(output, name, tensor, path) or probability_output(output, name, end, path))
        if fits:
            out.append(lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail="fits the output"))
    return out


def _metrics(a: Analysis, path: Path) -> list[lsp.CompletionItem]:
    from ..training_checks import metric_problems

    spec = a.report.draft
    output = path[2] if len(path) > 2 and isinstance(path[2], str) else None
    target = _output_for(a, ("training", "metrics", output) if output else ("training", "metrics"))
    kind = None
    if spec is not None and target is not None:
        loss = spec.training.loss
        loss = loss.get(target[0]) if isinstance(loss, dict) else loss
        try:
            kind = loss_kind(loss) if loss is not None else None
        except (KeyError, TypeError, ValueError):
            kind = None
    out = []
    for name in METRIC_NAMES:
        if target is not None and kind is not None and metric_problems(target[0], name, kind, target[1], path):
            continue
        out.append(lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function))
    return out
