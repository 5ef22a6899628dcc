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
alias bomb is reported instead of eating memory; a long text's nodes are
counted before they are composed (`_crowded`). Integers are 64-bit (`MAX_INT`):
a larger literal is refused where it is written. `load_data` holds data given
by a caller (a dict) to the same limits, without recursion.

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
from .text import cut, int_text

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
#: Integers are 64-bit, as Keras and TensorFlow hold sizes and arguments; a larger one is refused where
#: it is written, before any arithmetic on it (its product with others, its digits in a message).
MIN_INT, MAX_INT = -(2**63), 2**63 - 1

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


#: The YAML 1.2 core schema's implicit resolvers: (tag, pattern of a plain scalar, its possible first
#: characters). Shared with `kspec.dump`, which quotes every string that one of them would match.
CORE_SCHEMA_RESOLVERS = [
    (NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")),
    (
        FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    ),
]
for _tag, _pattern, _first in CORE_SCHEMA_RESOLVERS:
    _Resolver12.add_implicit_resolver(_tag, _pattern, _first)


class _Composer(_Parser, _Resolver12):
    def __init__(self, stream: str):
        _Parser.__init__(self, stream)
        _Resolver12.__init__(self)


_INT_LITERAL = re.compile(r"([-+]?)0*([0-9]+)|0o0*([0-7]+)|0x0*([0-9a-fA-F]+)")


def _int_literal(value: str) -> int | None:
    """The integer of a core-schema int literal, None when it lies outside 64 bits; ValueError when it is none.

    A literal too long for 64 bits is never converted: Python refuses to convert more than 4300
    decimal digits (a ValueError), and converts a hexadecimal one of any length, slowly.
    """
    match = _INT_LITERAL.fullmatch(value)
    if match is None:
        raise ValueError(value)
    sign, decimal, octal, hexadecimal = match.groups()
    digits, base, longest = (decimal, 10, 19) if decimal else ((octal, 8, 21) if octal else (hexadecimal, 16, 16))
    if len(digits) > longest:
        return None
    number = int(digits, base) * (-1 if sign == "-" else 1)
    return number if MIN_INT <= number <= MAX_INT else None


def _quote(text: str) -> str:
    """At most 80 characters of the document's own text in a message (a key, a tag, a value)."""
    return cut(text)


def _out_of_range(text: str, path: Path, span: Span | None = None) -> Diagnostic:
    shown = text if len(text) <= 40 else f"{text[:20]}...{text[-4:]} ({len(text)} characters)"
    return Diagnostic(
        "value",
        f"The integer {shown} is outside the 64-bit range that Keras and TensorFlow hold sizes and "
        f"arguments in ({MIN_INT} to {MAX_INT}).",
        path,
        span=span,
    )


def span_of(node: yaml.Node) -> Span:
    return Span(node.start_mark.line + 1, node.start_mark.column + 1)


class SourceMap:
    """Finds the line and column of a path in the composed document."""

    def __init__(self, root: yaml.Node | None):
        self._root = root

    @property
    def root(self) -> yaml.Node | None:
        """The composed document (None for data given by a caller, or text that did not parse)."""
        return self._root

    def locate(self, path: Path, *, key: bool = False) -> Span | None:
        """The span of the deepest node along `path` (of the key itself if `key`)."""
        _node, deepest = walk_nodes(self._root, path, key=key)
        return span_of(deepest) if deepest is not None else None


def walk_nodes(root: yaml.Node | None, path: Path, *, key: bool = False) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(the node at `path`, or None where the path goes nowhere; the deepest node along it). With `key`, the node
    at the end is the key's own node (for a path that ends at a mapping key)."""
    node = root
    for i, item in enumerate(path):
        if isinstance(node, yaml.MappingNode) and isinstance(item, str):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == item:
                    if key and i == len(path) - 1:
                        return k, k
                    node = v
                    break
            else:
                return None, node
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
            node = node.value[item]
        else:
            return None, node
    return node, node


def value_at(data: Any, path: Path) -> Any:
    """The value at `path` in loaded data (mappings by key, lists by index), None where the path goes nowhere."""
    for step in path:
        if isinstance(data, dict) and isinstance(step, str):
            data = data.get(step)
        elif isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        else:
            return None
    return data


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
                    Diagnostic(
                        "type", "Mapping keys must be plain scalars, not collections.", path, span=span_of(knode)
                    )
                )
                continue
            k = knode.value if knode.tag == STR else self.scalar(knode, path, key=True)
            if not isinstance(k, str):
                # Keys are names in the spec language; `1: x` and `true: x` are mistakes.
                k = knode.value
            if k in first_seen:
                first = span_of(first_seen[k])
                self.diagnostics.append(
                    Diagnostic(
                        "duplicate-key",
                        f"Duplicate key '{_quote(k)}'; each key may appear once in a mapping. "
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
                f"YAML tag '{_quote(node.tag.replace(_T, '!!', 1))}' is not allowed; specs may use only the YAML 1.2 core schema "
                "(str, int, float, bool, null, seq, map) and never construct objects.",
                path,
                span=span_of(node),
                hint="Remove the tag and write the value as plain YAML.",
            )
        )
        return None

    def scalar(self, node: yaml.ScalarNode, path: Path, *, key: bool = False) -> Any:
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
                number = _int_literal(value)
                if number is None and not key:  # a key is only its text
                    self.diagnostics.append(_out_of_range(value, path, span_of(node)))
                return number
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
                    f"Value {_quote(value)!r} is not a valid {tag.rsplit(':', 1)[-1]}.",
                    path,
                    span=span_of(node),
                )
            )
            return None
        return self.bad_tag(node, path)


# What JSON writers may put inside a string that the YAML parser (libyaml) refuses or reads otherwise:
# a character beyond U+FFFF escaped as a surrogate pair (`"\ud83d\ude00"`, Python's `json.dumps`
# default: YAML escapes code points, and a lone surrogate is none), and raw characters YAML does not
# allow in a stream (DEL, the C1 controls, U+FFFE, U+FFFF) or reads as a line break (NEL, folded to
# a space). YAML 1.2 says that quoted scalars must allow every non-C0 character, for JSON's sake.
_JSON_ONLY = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}|[\x7f-\x9f\ufffe\uffff]")
_JSON_STRING_PART = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\.|[\x7f-\x9f\ufffe\uffff]", re.DOTALL
)


def _json_as_yaml(text: str) -> str:
    """JSON text as YAML reads it the way JSON does (see `_JSON_ONLY`); any other text unchanged.

    Only text that is JSON is rewritten: there every backslash and every such character is inside a
    double-quoted string, where a YAML escape means the same character. Each escape is matched from
    left to right (`\\\\` is one), so a backslash written as `\\\\` never starts one. Columns after
    a rewritten character on its line move by a few places (a surrogate pair is 2 characters shorter,
    a raw character 3-5 longer); lines do not move.
    """
    if _JSON_ONLY.search(text) is None:
        return text
    import json

    try:
        json.loads(text)
    except (ValueError, RecursionError):  # not JSON (YAML, or broken), or nested past Python's recursion
        return text  # limit: the parser reports it as it is

    def escape(match: re.Match) -> str:
        if match.group(1):
            high, low = int(match.group(1), 16), int(match.group(2), 16)
            return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"
        token = match.group(0)
        if token.startswith("\\"):
            return token  # another escape, YAML's too (a lone surrogate stays, and YAML refuses it)
        return f"\\x{ord(token):02x}" if ord(token) <= 0xFF else f"\\u{ord(token):04x}"

    return _JSON_STRING_PART.sub(escape, text)


def load_text(text: str) -> Loaded:
    """Parse YAML 1.2 or JSON text. Never raises on bad input: problems come back as diagnostics."""
    if len(text) > MAX_BYTES:
        return Loaded(None, SourceMap(None), [Diagnostic("too-large", f"The file is larger than {MAX_BYTES} bytes.")])
    if text.startswith("\ufeff"):
        text = text[1:]
    crowded = _crowded(text) if len(text) > MAX_NODES // 4 else None
    if crowded is not None:
        message = (
            f"The document has more than {2 * MAX_NODES} YAML nodes (keys and values); a model spec never needs that."
        )
        return Loaded(None, SourceMap(None), [Diagnostic("too-large", message, span=crowded)])
    text = _json_as_yaml(text)
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
    except yaml.reader.ReaderError as exc:  # a character that YAML does not allow in a stream
        character = f"#x{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        span = _span_at(text, _char_index(text, exc.position))
        message = f"Invalid YAML: unacceptable character {character} ({exc.reason})."
        return Loaded(None, SourceMap(None), [Diagnostic("yaml-syntax", message, span=span)])
    except UnicodeEncodeError as exc:  # a lone surrogate (from "\ud800" in Python, never from a UTF-8 file)
        bad = exc.object[exc.start : exc.start + 1]
        message = (
            f"Invalid YAML: U+{ord(bad):04X} is a lone surrogate, not a Unicode character."
            if bad
            else f"Invalid YAML: {exc}."
        )
        return Loaded(None, SourceMap(None), [Diagnostic("yaml-syntax", message, span=_span_at(text, exc.start))])
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        return Loaded(None, SourceMap(None), [Diagnostic("yaml-syntax", f"Invalid YAML: {exc}.")])
    source_map = SourceMap(root)
    if root is None:
        return Loaded(
            None,
            source_map,
            [Diagnostic("not-a-mapping", "The spec is empty; expected a mapping with 'kspec', 'name' and 'model'.")],
        )
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


_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)


def _crowded(text: str) -> Span | None:
    """Where the text's 2 * MAX_NODES + 1st node starts, if it has that many (aliases count once).

    The composer builds every node of the text, with two marks each, before the converter can
    count: ~280 bytes a node, so 20 MB of `1,` would take ~3 GB and a minute; and `_json_as_yaml`
    builds the objects of a JSON text (15 MB of `{},` took 360 MB). Counting the parser's events
    first takes constant memory. Each node takes at least a character or two of text, so texts of
    under MAX_NODES // 4 characters are not counted. JSON-only characters (`_JSON_ONLY`, inside
    strings) are blanked for the count; text that YAML refuses is left for the parser to report.
    """
    parser = _Parser(_JSON_ONLY.sub("x", text))
    try:
        count = 0
        while (event := parser.get_event()) is not None:
            if isinstance(event, _NODE_EVENTS):
                count += 1
                if count > 2 * MAX_NODES:
                    return Span(event.start_mark.line + 1, event.start_mark.column + 1)
        return None
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    finally:
        parser.dispose()


_LINE_BREAK = re.compile(r"\r\n?|[\n\x85\u2028\u2029]")


def _char_index(text: str, position: int) -> int:
    """libyaml counts a reader error's position in bytes of UTF-8, PyYAML's reader in characters."""
    if _Parser.__module__ != "yaml._yaml":  # pragma: no cover - depends on how PyYAML was built
        return position
    return len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))


def _span_at(text: str, index: int) -> Span:
    """The 1-based line and column of a character index, counting line breaks as YAML does."""
    line, start = 1, 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, match.end()
    return Span(line, index - start + 1)


def load_data(data: Any) -> Loaded:
    """Data loaded by the caller (a dict from Python), held to the limits of loaded text.

    At most MAX_NODES values, nested at most MAX_DEPTH levels (so a structure that contains itself
    is too deep), integers within 64 bits. Walked without recursion: any depth is refused, not a crash.
    """
    diagnostics: list[Diagnostic] = []
    count = 0
    stack: list[tuple[Any, tuple | None, int]] = [(data, None, 0)]  # (value, its path as a linked list, depth)
    while stack:
        value, where, depth = stack.pop()
        count += 1
        size = len(value) if isinstance(value, (dict, list, tuple)) else 0
        if count + len(stack) + size > MAX_NODES or depth > MAX_DEPTH:  # all on the stack are still to come
            message = (
                f"The data holds more than {MAX_NODES} values or nests deeper than {MAX_DEPTH} levels "
                "(or contains itself); a model spec never needs that."
            )
            return Loaded(None, SourceMap(None), [Diagnostic("too-large", message)])
        if isinstance(value, dict):
            stack.extend((v, (k, where), depth + 1) for k, v in reversed(value.items()))
        elif isinstance(value, (list, tuple)):
            stack.extend((value[i], (i, where), depth + 1) for i in range(len(value) - 1, -1, -1))
        elif isinstance(value, int) and not isinstance(value, bool) and not MIN_INT <= value <= MAX_INT:
            path: list = []
            while where is not None:
                item, where = where
                path.append(item)
            diagnostics.append(_out_of_range(int_text(value), tuple(reversed(path))))
    return Loaded(data, SourceMap(None), diagnostics)
