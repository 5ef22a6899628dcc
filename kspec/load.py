"""Stage 1, load: YAML 1.2 / JSON text to plain data, keeping where every node came from.

Parsing is libyaml's (through PyYAML's `CParser`, with PyYAML's pure-Python
parser as the fallback where libyaml is missing); it is safe by construction,
since we never run a constructor: we walk the composed node tree ourselves.
Plain scalars are typed by the YAML 1.2 *core schema* (`_Resolver12`), so
`yes`/`no`/`on`/`off` stay strings, `0o17` is octal and `1e3` is a float,
as in YAML 1.2 and unlike PyYAML's default YAML 1.1 resolver.

Only the core schema's tags are allowed (str, int, float, bool, null, seq,
map); anything else (`!!python/object`, `!!binary`, `!!timestamp`, local
tags) is an error, never constructed. Duplicate keys are errors. Aliases are
expanded with a bound on the total number of nodes and on the depth, so an
alias bomb is reported instead of eating memory.

Positions are not copied into a map up front: `SourceMap` keeps the node tree
and walks it only when a diagnostic needs a line and column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .diagnostics import Diagnostic, Path, Span

try:  # libyaml: ~20x faster than the pure-Python parser.
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.composer import Composer as _PyComposer
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader as _PyReader
    from yaml.scanner import Scanner as _PyScanner

    class _Parser(_PyReader, _PyScanner, _PyParser, _PyComposer):  # type: ignore[no-redef]
        def __init__(self, stream):
            _PyReader.__init__(self, stream)
            _PyScanner.__init__(self)
            _PyParser.__init__(self)
            _PyComposer.__init__(self)


MAX_NODES = 200_000
MAX_DEPTH = 100
MAX_BYTES = 20 * 1024 * 1024

_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, SEQ, MAP = (_T + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))


class _Resolver12(yaml.resolver.BaseResolver):
    """The YAML 1.2 core schema (spec section 10.3.2) for plain scalars.

    `resolve` is called by the parser for every node; this version skips PyYAML's
    path resolvers (unused here) and looks only at plain scalars' first character.
    """

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return STR
        return SEQ if kind is yaml.SequenceNode else MAP


for _tag, _pattern, _first in [
    (NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
]:
    _Resolver12.add_implicit_resolver(_tag, re.compile(_pattern), _first)


class _Composer(_Parser, _Resolver12):
    def __init__(self, stream: str):
        _Parser.__init__(self, stream)
        _Resolver12.__init__(self)


_DECIMAL = re.compile(r"[-+]?[0-9]+")


def span_of(node: yaml.Node) -> Span:
    return Span(node.start_mark.line + 1, node.start_mark.column + 1)


class SourceMap:
    """Finds the line and column of a path in the composed document."""

    def __init__(self, root: yaml.Node | None):
        self._root = root

    def locate(self, path: Path, *, key: bool = False) -> Span | None:
        """The span of the deepest node along `path` (of the key itself if `key`)."""
        node = self._root
        if node is None:
            return None
        found: Span = span_of(node)
        for i, item in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode) and isinstance(item, str):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == item:
                        if last and key:
                            return span_of(k)
                        node = v
                        break
                else:
                    return found
            elif isinstance(node, yaml.SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
                node = node.value[item]
            else:
                return found
            found = span_of(node)
        return found


@dataclass
class Loaded:
    """The result of loading: plain data (None when loading failed) and where it came from."""

    data: Any
    source_map: SourceMap
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diagnostics


class _Limit(Exception):
    pass


class _Converter:
    """Node tree -> plain Python data, collecting every problem on the way."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.count = 0

    def convert(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise _Limit(span_of(node))
        tag = node.tag
        if type(node) is yaml.ScalarNode:
            return node.value if tag == STR else self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if tag != SEQ:
                return self.bad_tag(node, path)
            return [self.convert(child, path + (i,), depth + 1) for i, child in enumerate(node.value)]
        if tag != MAP:
            return self.bad_tag(node, path)
        out: dict[Any, Any] = {}
        first_seen: dict[Any, yaml.Node] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.diagnostics.append(
                    Diagnostic("type", "Mapping keys must be plain scalars, not collections.", path, span=span_of(knode))
                )
                continue
            k = knode.value if knode.tag == STR else self.scalar(knode, path)
            if not isinstance(k, str):
                # Keys are names in the spec language; `1: x` and `true: x` are mistakes.
                k = knode.value
            if k in first_seen:
                first = span_of(first_seen[k])
                self.diagnostics.append(
                    Diagnostic(
                        "duplicate-key",
                        f"Duplicate key '{k}'; each key may appear once in a mapping. "
                        f"First defined at line {first.line}, column {first.column}.",
                        path + (k,),
                        span=span_of(knode),
                        hint="Remove one of the two entries.",
                    )
                )
                continue
            first_seen[k] = knode
            out[k] = self.convert(vnode, path + (k,), depth + 1)
        return out

    def bad_tag(self, node: yaml.Node, path: Path) -> None:
        self.diagnostics.append(
            Diagnostic(
                "forbidden-tag",
                f"YAML tag '{node.tag.replace(_T, '!!', 1)}' is not allowed; specs may use only the YAML 1.2 core schema "
                "(str, int, float, bool, null, seq, map) and never construct objects.",
                path,
                span=span_of(node),
                hint="Remove the tag and write the value as plain YAML.",
            )
        )
        return None

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        tag, value = node.tag, node.value
        try:
            if tag == STR:
                return value
            if tag == NULL:
                if value not in ("", "~", "null", "Null", "NULL"):
                    raise ValueError
                return None
            if tag == BOOL:
                if value not in ("true", "True", "TRUE", "false", "False", "FALSE"):
                    raise ValueError
                return value in ("true", "True", "TRUE")
            if tag == INT:
                if value.startswith("0o"):
                    return int(value[2:], 8)
                if value.startswith("0x"):
                    return int(value[2:], 16)
                if not _DECIMAL.fullmatch(value):
                    raise ValueError
                return int(value)
            if tag == FLOAT:
                low = value.lower()
                if low in (".inf", "+.inf"):
                    return math.inf
                if low == "-.inf":
                    return -math.inf
                if low == ".nan":
                    return math.nan
                return float(value)
        except ValueError:
            self.diagnostics.append(
                Diagnostic(
                    "type",
                    f"Value {value!r} is not a valid {tag.rsplit(':', 1)[-1]}.",
                    path,
                    span=span_of(node),
                )
            )
            return None
        return self.bad_tag(node, path)


def load_text(text: str) -> Loaded:
    """Parse YAML 1.2 or JSON text. Never raises on bad input: problems come back as diagnostics."""
    if len(text) > MAX_BYTES:
        return Loaded(None, SourceMap(None), [Diagnostic("too-large", f"The file is larger than {MAX_BYTES} bytes.")])
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        composer = _Composer(text)
        try:
            root = composer.get_single_node()
        finally:
            composer.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        message = f"Invalid YAML: {problem}."
        if exc.context and exc.problem:
            message = f"Invalid YAML: {problem} ({exc.context})."
        return Loaded(None, SourceMap(None), [Diagnostic("yaml-syntax", message, span=span)])
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # reader errors, e.g. control characters
        return Loaded(None, SourceMap(None), [Diagnostic("yaml-syntax", f"Invalid YAML: {exc}.")])
    source_map = SourceMap(root)
    if root is None:
        return Loaded(None, source_map, [Diagnostic("not-a-mapping", "The spec is empty; expected a mapping with 'kspec', 'name' and 'model'.")])
    converter = _Converter()
    try:
        data = converter.convert(root, (), 0)
    except _Limit as limit:
        return Loaded(
            None,
            source_map,
            [
                Diagnostic(
                    "too-large",
                    f"The document expands to more than {MAX_NODES} nodes or nests deeper than {MAX_DEPTH} levels "
                    "(through aliases, perhaps); a model spec never needs that.",
                    span=limit.args[0],
                )
            ],
        )
    return Loaded(data, source_map, converter.diagnostics)
