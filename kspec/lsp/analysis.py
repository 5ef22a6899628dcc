"""One version of a document, checked: `kspec.check` on its text, and where every path of the spec is in it.

No pygls here: positions are (0-based line, 0-based column in characters), as YAML counts them; the server turns
them into the client's encoding. An `Analysis` is made once per version of a document and every feature (hover,
inlay hints, completion, ...) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..check import Report, check
from ..diagnostics import Diagnostic, Path, Span
from ..graph import NodeInfo
from ..load import _Composer, walk_nodes

#: (line, column), both 0-based, the column in characters.
Pos = tuple[int, int]
Range = tuple[Pos, Pos]


@dataclass
class Analysis:
    text: str
    report: Report
    root: yaml.Node | None
    lines: list[str] = field(default_factory=list)
    _nodes_by_source: dict[Path, list[NodeInfo]] | None = None

    @property
    def data(self) -> Any:
        """The loaded document (plain data), or None when it does not parse."""
        return _plain(self.root)

    # ---- where a path is --------------------------------------------------------------------------------

    def node(self, path: Path, *, key: bool = False) -> yaml.Node | None:
        """The YAML node at `path` (the key's node if `key`), or None where the path goes nowhere."""
        return walk_nodes(self.root, path, key=key)[0]

    def range_of(self, path: Path, *, key: bool = False) -> Range:
        """The range of the deepest node along `path`: a scalar whole, a collection's first line."""
        deepest = walk_nodes(self.root, path, key=key)[1]
        return self.node_range(deepest) if deepest is not None else ((0, 0), (0, 0))

    def node_range(self, node: yaml.Node) -> Range:
        start = (node.start_mark.line, node.start_mark.column)
        end = (node.end_mark.line, node.end_mark.column)
        if isinstance(node, yaml.ScalarNode):
            if end[0] != start[0]:  # a folded scalar: its first line
                end = (start[0], len(self._line(start[0])))
            return start, end
        if end[0] != start[0] or end == start:
            line = self._line(start[0])
            end = (start[0], max(len(line.rstrip()), start[1] + 1))
        return start, end

    def span_range(self, span: Span) -> Range:
        """A range for a diagnostic that has only a position (a YAML syntax error): the word there."""
        line, column = span.line - 1, span.column - 1
        text = self._line(line)
        end = column
        while end < len(text) and not text[end].isspace() and text[end] not in ",:{}[]":
            end += 1
        return (line, column), (line, max(end, column + 1))

    def diagnostic_range(self, d: Diagnostic) -> Range:
        if d.code == "duplicate-key" and d.span is not None:
            return self.span_range(d.span)  # the second key (the path finds the first)
        if d.path and self.root is not None:
            return self.range_of(d.path, key=d.code in ("unknown-key", "duplicate-key"))
        if d.span is not None:
            return self.span_range(d.span)
        return (0, 0), (0, len(self._line(0)))

    def _line(self, line: int) -> str:
        return self.lines[line] if 0 <= line < len(self.lines) else ""

    # ---- what is at a position -----------------------------------------------------------------------------

    def path_at(self, pos: Pos) -> tuple[Path, bool]:
        """The path of the deepest node at `pos`, and whether `pos` is on a key (else on a value)."""
        return locate(self.root, pos)

    # ---- the inferred nodes of a place in the spec -------------------------------------------------------

    def nodes_at(self, path: Path) -> list[NodeInfo]:
        """The flat nodes written at `path` (several for a node of a block used several times), in order."""
        if self._nodes_by_source is None:
            by: dict[Path, list[NodeInfo]] = {}
            inference = self.report.inference
            if inference is not None:
                for n in inference.nodes:
                    source = n.origin.path if n.origin is not None else n.path
                    by.setdefault(tuple(source), []).append(n)
            self._nodes_by_source = by
        return self._nodes_by_source.get(tuple(path), [])


def analyse(text: str, file: str | None = None) -> Analysis:
    """Check `text` (as the file `file`) and keep its node tree."""
    source = text if "\n" in text else text + "\n"  # a one-line text is never taken for a path
    report = check(source, file=file)
    root = report.source_map.root if report.source_map is not None else None
    return Analysis(text, report, root, text.splitlines() or [""])


def compose(text: str) -> yaml.Node | None:
    """The node tree of a text, None when it is not YAML."""
    try:
        composer = _Composer(text)
        try:
            return composer.get_single_node()
        finally:
            composer.dispose()
    except (yaml.YAMLError, ValueError, RecursionError, UnicodeEncodeError):
        return None


def _contains(node: yaml.Node, pos: Pos) -> bool:
    start = (node.start_mark.line, node.start_mark.column)
    end = (node.end_mark.line, node.end_mark.column)
    return start <= pos <= end


def locate(root: yaml.Node | None, pos: Pos) -> tuple[Path, bool]:
    path: list[Any] = []
    node = root
    while node is not None:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if _contains(k, pos):
                    key = k.value if isinstance(k, yaml.ScalarNode) else None
                    if key is not None:
                        path.append(key)
                    return tuple(path), True
                value_empty = isinstance(v, yaml.ScalarNode) and v.value == "" and not v.style
                after_key = pos[0] == k.end_mark.line and pos[1] > k.end_mark.column
                if _contains(v, pos) or (value_empty and after_key):
                    if isinstance(k, yaml.ScalarNode):
                        path.append(k.value)
                        nxt = v
                    break
            if nxt is None:
                return tuple(path), False
            node = nxt
        elif isinstance(node, yaml.SequenceNode):
            nxt = None
            for i, item in enumerate(node.value):
                if _contains(item, pos):
                    path.append(i)
                    nxt = item
                    break
            if nxt is None:
                return tuple(path), False
            node = nxt
        else:
            return tuple(path), False
    return tuple(path), False


def _plain(node: yaml.Node | None) -> Any:
    """The node tree as plain data (scalars as their text, numbers where they look like numbers), for the
    features that read the document as written (names, types, keys)."""
    if node is None:
        return None
    if isinstance(node, yaml.MappingNode):
        return {k.value: _plain(v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v) for v in node.value]
    value = node.value
    if node.tag.endswith(":int"):
        try:
            return int(value, 0) if not value.lstrip("+-").startswith("0") or value in ("0",) else int(value)
        except ValueError:
            return value
    if node.tag.endswith(":float"):
        try:
            return float(value)
        except ValueError:
            return value
    if node.tag.endswith(":bool"):
        return value.lower() == "true"
    if node.tag.endswith(":null"):
        return None
    return value
