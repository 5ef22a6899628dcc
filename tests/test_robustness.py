"""The checker never crashes (issue 4, property 5): on arbitrary JSON values and arbitrary text
`kspec.check` returns diagnostics; it never raises, hangs or allocates without bound.

What this module proves, part by part:

- never raises, on
  * arbitrary text, and YAML-ish text generated from a grammar of YAML/JSON tokens (keys of the spec
    language, `:`, `-`, brackets, anchors and aliases, tags, quotes, indentation, numbers such as
    `1e400`, `.nan`, `0x1F` and integers with thousands of digits), alone, as whole documents and
    spliced into the example specs, so that it reaches the structure, inference and semantics stages
    and not only the parser's syntax errors (the stages reached are counted and printed);
  * arbitrary JSON values put at every level of a valid spec (`tests.strategies.valid_specs`): in
    place of any value, as a new key of any mapping, as a new item of any list, and as the whole
    document;
  * valid specs mutated at random paths (nudge to a value of the same kind, replace with any JSON
    value, delete, rename, duplicate, insert), checked as data (now and then `strict`), as YAML text,
    as JSON text, and as YAML text with a line duplicated (duplicate keys);
  * `--set KEY=VALUE` overrides (dotted keys, list indices, YAML values) on the example specs;
  * the CLI, `kspec validate --format json FILE` (and the text format, and stdin): exit status 0 or 1
    (`kspec/cli.py`: 0 valid, 1 invalid; 2 is for usage and I/O errors, which none of these texts is),
    output that is the JSON contract, no traceback;
- never hangs and never allocates without bound: named pathologies (deep nesting, alias bombs, very
  long strings and keys, huge integers, enormous shapes, very many layers, huge `units`, Reshape
  products that overflow, repeated keys), each run under a hang guard with its Python heap peak
  (tracemalloc) and its resident-memory high-water mark measured; each must be refused with the
  diagnostic that names the problem;
- every diagnostic is well formed: a known code, a non-empty message, severity error or warning,
  and, where the source is text, a line and column for every diagnostic that points at a place in
  the document (a non-empty path, a syntax error, a duplicate key, a forbidden tag), within the text;
  for data (no file positions) none. Both reporters render every report.

Every failure found is kept as a regression example (`@example` or a parametrised case) with a comment.
Hypothesis budgets scale with the profile (`tests/conftest.py`): `thorough` runs ~20x the examples of `ci`.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tempfile
import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings, strategies as st

import kspec
from kspec.check import Report
from kspec.cli import main as cli
from kspec.diagnostics import CODES
from kspec.load import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_text
from kspec.reporters import render_json, render_text
from tests.stats import record
from tests.strategies import valid_specs

ROOT = Path(__file__).parent.parent
EXAMPLE_TEXTS = [p.read_text() for p in sorted((ROOT / "specs").glob("*.yaml"))]
SPECS = [load_text(text).data for text in EXAMPLE_TEXTS]

#: The `thorough` profile (max_examples 2000) runs SCALE times the examples of `ci` (100).
SCALE = max(1, settings.default.max_examples // 100)
#: The hang guard: a check that takes this long is a hang. Typical checks take milliseconds, the slowest
#: case here ~5 s (~30 s in `thorough`, where "very many layers" are 20,000: see MANY).
HANG_S = 60.0 if SCALE < 10 else 180.0

# Documents checked and seconds spent, per property; which stage each document got to.
COUNTS: Counter = Counter()
TIMES: dict[str, float] = defaultdict(float)
STAGES: dict[str, Counter] = defaultdict(Counter)
PATHOLOGIES: dict[str, tuple[float, float, float]] = {}  # case -> (seconds, heap peak MB, RSS growth MB)


@pytest.fixture(scope="module", autouse=True)
def _print_counters():
    yield
    print("\n\nThe checker never crashes (documents checked per property):")
    for prop, n in COUNTS.items():
        seconds = TIMES[prop]
        record(f"never crashes: {prop}", n, seconds)
        rate = f", {n / seconds:,.{0 if n / seconds >= 10 else 1}f}/s" if seconds else ""
        print(f"  {prop}: {n} documents in {seconds:.1f} s{rate}")
        for stage, k in sorted(STAGES[prop].items()):
            print(f"    {k:6d}  {stage}")
    if PATHOLOGIES:
        print("  pathological inputs (seconds, Python heap peak MB, resident growth MB):")
        for case, (seconds, heap, rss) in PATHOLOGIES.items():
            print(f"    {case:32s} {seconds:6.2f} s {heap:7.1f} MB {rss:7.1f} MB")


def _examples(n: int):
    """Hypothesis settings for n examples in `ci`, SCALE * n in `thorough`."""
    return settings(max_examples=n * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ==== the guard and the well-formedness of a report ==============================================


class Hang(AssertionError):
    pass


def guarded(fn, timeout: float = HANG_S):
    """fn() in a daemon thread; a hang (still running after `timeout`) fails the test instead of the run."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise Hang(f"kspec.check still running after {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


LOAD_CODES = {"io-error", "yaml-syntax", "duplicate-key", "forbidden-tag", "too-large"}
#: Diagnostics that come from the text itself, so they always have a position in it.
TEXT_CODES = {"duplicate-key", "forbidden-tag"}


def _stage(report: Report) -> str:
    if report.spec is None:
        if any(d.code in LOAD_CODES or "64-bit range" in d.message for d in report.errors):
            return "refused when loading"
        return "refused by the structure"
    if report.ok:
        return "valid" if not report.warnings else "valid, with warnings"
    return "refused after parsing (graph, shapes, semantics)"


def checked(prop: str, source, *, text: str | None = None, **options) -> Report:
    """kspec.check(source) under the hang guard, counted, and checked for well-formedness."""
    start = time.perf_counter()
    report = guarded(lambda: kspec.check(source, **options))
    TIMES[prop] += time.perf_counter() - start
    COUNTS[prop] += 1
    STAGES[prop][_stage(report)] += 1
    assert_well_formed(report, text=text if text is not None else (source if isinstance(source, str) else None))
    return report


def _line_count(text: str) -> int:
    # YAML's line breaks (\n, \r, \r\n, NEL, LS, PS) are all among str.splitlines's.
    return len(text.splitlines()) + 1


def assert_well_formed(report: Report, *, text: str | None = None, max_message: int = 4000) -> None:
    """Known codes, messages, severities; positions where the text has them; both reporters render it.
    Messages quote at most 80 characters of the spec, so they are short whatever the input."""
    assert isinstance(report, Report)
    lines = _line_count(text) if text is not None else 0
    for d in report.diagnostics:
        assert d.code in CODES, d
        assert isinstance(d.message, str) and d.message.strip(), d
        assert d.severity in ("error", "warning"), d
        assert len(d.message) <= max_message, (d.code, d.message[:200])
        for note in d.notes:
            assert note.message.strip()
        if text is None:
            assert d.span is None, d  # data has no file positions
        else:
            from_option = (d.file or "").startswith("--")  # a --set option's value: the option, not a line
            if (d.path or d.code in TEXT_CODES or d.code == "yaml-syntax") and not from_option:
                assert d.span is not None, f"no line/column for {d.code} at {d.location}: {d.message[:200]}"
            if d.span is not None:
                assert 1 <= d.span.line <= lines, (d.span, d.message[:200])
                assert d.span.column >= 1, d
    if report.ok:
        assert report.spec is not None and report.inference is not None
    else:
        assert report.errors
    # Both reporters render every report, and the JSON one is the documented contract.
    doc = json.loads(render_json([report]))
    assert doc["version"] == 1 and doc["ok"] is report.ok
    assert [d["code"] for d in doc["files"][0]["diagnostics"]] == [d.code for d in report.diagnostics]
    render_text([report], {report.file: text} if text is not None else None)


# ==== arbitrary text ==============================================================================


@_examples(200)
@given(st.text(max_size=300))
@example("a: \x07\n")  # a reader error had no line/column (it has now: libyaml's byte offset, converted)
@example("a: \ud800\n")  # a lone surrogate: no line/column before, either
@example("k: " + "1" * 5000 + "\n")  # an int literal over Python's 4300 digits: a 5000-character message before
def test_arbitrary_text(text: str) -> None:
    checked("arbitrary text", text + "\n")


# ---- YAML-ish text from a grammar of tokens ----

KEYS = [
    "kspec", "name", "description", "model", "input", "inputs", "shape", "dtype", "layers", "nodes", "outputs",
    "type", "units", "filters", "kernel_size", "strides", "padding", "activation", "rate", "target_shape",
    "pool_size", "size", "input_dim", "output_dim", "shares", "training", "loss", "optimizer", "metrics",
    "epochs", "batch_size", "validation_split", "data", "source", "learning_rate", "a", "b", "x y",
    '"quoted key"', "'single key'", "<<", "? complex", "1", "true", "null",
]
LAYER_NAMES = [
    "Dense", "Conv2D", "Conv1D", "Flatten", "Reshape", "Dropout", "MaxPooling2D", "Embedding", "LSTM",
    "Concatenate", "Add", "UpSampling1D", "UpSampling2D", "Conv2DTranspose", "Identity", "Dence",
]
NUMBERS = [
    "0", "1", "-1", "2", "3", "4", "28", "1000000000", "1e400", "-1e400", "1e-400", ".nan", ".NaN", ".inf",
    "-.inf", "0x1F", "0o17", "0b101", "1_000", "012", "1.5", "1e3", "-0", "+12", "0.5", "9223372036854775807",
    "9223372036854775808", "-9223372036854775809", "1" + "0" * 30, "1" + "0" * 5000, "0x" + "F" * 40,
    "0o" + "7" * 30, "4611686018427387904",
]
WORDS = [
    "null", "~", "true", "false", "yes", "no", "on", "relu", "softmax", "same", "valid", "mse", "adam",
    "sparse_categorical_crossentropy", "float32", "int32", "2001-12-14", "1:30", "''", '""', "'64'",
    '"\\u0041"', '"\\x"', '"\\ud83d\\ude00"', "'it''s'", '"a\\nb"',
]
TAGS = [
    "!!str", "!!int", "!!float", "!!bool", "!!null", "!!seq", "!!map", "!!binary", "!!set", "!!timestamp",
    "!!python/object:os.system", "!!python/name:os.system", "!!python/object/apply:os.system", "!custom", "!",
]
ANCHORS = ["&a", "&b", "&l", "*a", "*b", "*l", "*zz"]
PUNCT = [":", ": ", "- ", "[", "]", "{", "}", ", ", ",", "?", "|", ">", "#c", "---", "...", "%YAML 1.2", "'", '"', "\t"]

SMALL_NUMBERS = ["0", "1", "2", "3", "5", "7", "28", "64", "1000", "1000000000", "0x1F", "0o17", "-1", "0.5"]
scalar_tokens = st.sampled_from(NUMBERS) | st.sampled_from(WORDS) | st.sampled_from(LAYER_NAMES)
tokens = st.one_of(
    scalar_tokens, scalar_tokens, st.sampled_from(KEYS), st.sampled_from(TAGS), st.sampled_from(ANCHORS),
    st.sampled_from(PUNCT), st.sampled_from(PUNCT),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4),
)


@st.composite
def flow_value(draw, depth: int = 0) -> str:
    """A JSON/flow-style value: a scalar, [..] or {k: v, ..}, with a tag or an anchor now and then."""
    prefix = draw(st.sampled_from(["", "", "", "", "!!str ", "!!int ", "!!seq ", "&a ", "&l ", "!!python/tuple "]))
    kind = draw(st.integers(0, 5 if depth < 3 else 1))
    if kind <= 1:
        return prefix + draw(scalar_tokens | st.sampled_from(ANCHORS[3:]))
    if kind <= 3:
        items = draw(st.lists(flow_value(depth + 1), max_size=4))
        return prefix + "[" + ", ".join(items) + "]"
    pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), flow_value(depth + 1)), max_size=4))
    return prefix + "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"


@st.composite
def yaml_line(draw) -> str:
    indent = " " * draw(st.sampled_from([0, 0, 2, 2, 4, 4, 6, 8, 1, 3]))
    dash = draw(st.sampled_from(["", "", "", "- ", "- - "]))
    shape = draw(st.integers(0, 9))
    if shape <= 5:  # key: value
        key = draw(st.sampled_from(KEYS))
        value = draw(st.sampled_from(["", "", ""]) | flow_value() | st.sampled_from(LAYER_NAMES))
        return f"{indent}{dash}{key}: {value}".rstrip()
    if shape <= 7:  # - value
        return f"{indent}- {draw(flow_value())}"
    return indent + draw(st.sampled_from(["", " ", "", "\t"])).join(draw(st.lists(tokens, max_size=8)))


yaml_documents = st.lists(yaml_line(), min_size=1, max_size=25).map(lambda lines: "\n".join(lines) + "\n")
token_soup = st.lists(tokens, max_size=40).flatmap(
    lambda ts: st.lists(st.sampled_from([" ", "\n", "\n  ", ", ", "", ": "]), min_size=len(ts), max_size=len(ts)).map(
        lambda seps: "".join(t + s for t, s in zip(ts, seps)) + "\n"
    )
)


@st.composite
def spliced_examples(draw) -> str:
    """An example spec's text with a few lines replaced, inserted, deleted or duplicated: mostly still a
    spec, so the damage reaches the structure, inference and semantics stages."""
    lines = draw(st.sampled_from(EXAMPLE_TEXTS)).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete", "duplicate", "value"] + ["scalar"] * 5))
        if action == "replace":
            lines[i] = draw(yaml_line())
        elif action == "insert":
            lines.insert(i, draw(yaml_line()))
        elif action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "scalar":  # a plain scalar for one of its kind: 3 -> 28, 0x1F or 1e400; relu -> softmax or Dense
            scalars = list(re.finditer(r"(?<=[:\[,] )[\w.+-]+(?=[,}\]]|$)", lines[i]))
            if scalars:
                m = draw(st.sampled_from(scalars))
                like = SMALL_NUMBERS if m.group()[0].isdigit() or m.group()[0] == "-" else LAYER_NAMES + WORDS[7:15]
                new = draw(st.sampled_from(like) | scalar_tokens) if draw(st.booleans()) else draw(st.sampled_from(like))
                lines[i] = lines[i][: m.start()] + new + lines[i][m.end() :]
        elif ":" in lines[i]:  # keep the key and its indentation, change the value
            lines[i] = lines[i].split(":", 1)[0] + ": " + draw(flow_value())
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


yamlish_texts = st.one_of(yaml_documents, token_soup, spliced_examples(), spliced_examples())


@_examples(400)
@given(yamlish_texts)
@example("units: 1" + "0" * 5000 + "\n")  # ValueError from int(): 5000 digits are over Python's limit
@example("units: 0x" + "F" * 5000 + "\n")  # hex converts, then repr() of it in a message raised ValueError
@example("a: &a [*a]\n")  # a recursive alias
@example("[" * 500 + "]" * 500 + "\n")  # deeper than MAX_DEPTH, within libyaml's own limit
@example("\x7f" + "[" * 5000 + "\n")  # DEL, which only JSON allows: not JSON, so the parser refuses it, with a position
@example('["\x7f", ' + "[" * 5000 + "]" * 5000 + "]\n")  # JSON with DEL goes to json.loads first, which raised RecursionError
def test_yamlish_text(text: str) -> None:
    checked("YAML-ish text (grammar)", text)


# ==== arbitrary JSON values at every level of a valid spec ======================================

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**30, 0, -1, 1e308, math.inf, "Dense", "relu", "mse", ""])
)


def _json_collections(children):
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8) | st.sampled_from(KEYS), children, max_size=4)


json_values = st.recursive(json_scalars, _json_collections, max_leaves=30)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, prefix + (i,))


def _at(data, path):
    for item in path:
        data = data[item]
    return data


@st.composite
def json_value_anywhere(draw):
    """A valid spec with an arbitrary JSON value put at one of its levels (the root included)."""
    spec = copy.deepcopy(draw(valid_specs() | st.sampled_from(SPECS)))
    path = draw(st.sampled_from(list(_paths(spec))))
    value = draw(json_values)
    target = _at(spec, path)
    action = draw(st.sampled_from(["replace", "replace", "add"]))
    if action == "add" and isinstance(target, dict):
        target[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = value
    elif action == "add" and isinstance(target, list):
        target.insert(draw(st.integers(0, len(target))), value)
    elif path:
        _at(spec, path[:-1])[path[-1]] = value
    else:
        return value  # the whole document
    return spec


@_examples(300)
@given(json_value_anywhere())
@example([[[[1]]]])  # a document that is a list
@example({"kspec": 1, "name": "x", "model": 10**5000})  # repr() of an int of 5001 digits raised ValueError
@example({"kspec": 1, "name": "x", "model": {"input": {"shape": [10**4000, 10**4000]}, "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2}]},
          "training": {"loss": "mse"}})  # an 8000-digit parameter count: `{total:,}` in semantics raised ValueError
@example({"kspec": 1, "name": "x", "model": {"input": {"shape": [4]}, "layers": [{"type": "Dense", "units": 10**4000}]},
          "training": {"loss": "mse"}})  # lint's 0.8 * params: OverflowError (int too large to convert to float)
def test_json_value_at_any_level(doc) -> None:
    if isinstance(doc, dict):
        checked("JSON value at any level (data)", doc)
    else:  # check() takes a dict or text: a document that is not a mapping goes as JSON text
        text = json.dumps(doc) + "\n"
        report = checked("JSON value at any level (data)", text)
        assert not report.ok


def _nested(depth: int, kind: str):
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("where", ["model", "units", "name", "new key"])
def test_deep_json_value_at_any_level(kind: str, where: str) -> None:
    # Regression: data nested 1,000 levels deep (no text, so no loader limits) raised RecursionError
    # in pydantic and in the structure's message formatting. Data is now held to the loader's limits.
    spec = copy.deepcopy(SPECS[2])
    deep = _nested(10_000, kind)
    if where == "model":
        spec["model"] = deep
    elif where == "units":
        spec["model"]["layers"][-1]["units"] = deep
    elif where == "name":
        spec["name"] = deep
    else:
        spec["deep"] = deep
    report = checked("JSON value at any level (data)", spec)
    assert [d.code for d in report.diagnostics] == ["too-large"]


def test_data_that_contains_itself() -> None:
    spec = copy.deepcopy(SPECS[0])
    spec["model"]["layers"].append(spec["model"])
    assert [d.code for d in checked("JSON value at any level (data)", spec).diagnostics] == ["too-large"]


# ==== mutated valid specs, as data, YAML text and JSON text =====================================


NUDGED_INTS = [0, 1, 2, 3, -1, 7, 64, 1000, 10**9, 2**62, 2**63 - 1]
NUDGED_WORDS = LAYER_NAMES + ["relu", "softmax", "linear", "same", "valid", "causal", "mse", "int32", "float16", "bool", ""]


def _nudge(draw, value):
    """A value of the same kind: what a typo or a wrong number makes, so the spec still gets past the
    structure and the damage reaches inference and semantics."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.sampled_from(NUDGED_INTS))
    if isinstance(value, float):
        return draw(st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e300, math.nan]))
    if isinstance(value, str):
        return draw(st.sampled_from(NUDGED_WORDS))
    if isinstance(value, list) and value:
        return value[: draw(st.integers(0, len(value) - 1))] if draw(st.booleans()) else value + value[-1:]
    return draw(json_values)


@st.composite
def mutated_specs(draw):
    """A valid spec with 1-3 mutations at random paths: nudge (a value of the same kind), replace (any
    JSON value), delete, rename, duplicate, insert."""
    spec = copy.deepcopy(draw(valid_specs() | st.sampled_from(SPECS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(spec) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, last = _at(spec, path[:-1]), path[-1]
        action = draw(st.sampled_from(["nudge", "nudge", "replace", "delete", "rename", "duplicate", "insert"]))
        if action == "nudge":
            parent[last] = _nudge(draw, parent[last])
        elif action == "replace":
            parent[last] = draw(json_values | st.sampled_from(LAYER_NAMES) | st.integers(-3, 3))
        elif action == "delete":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=10))] = parent.pop(last)
        elif action == "duplicate" and isinstance(parent, list):  # e.g. a layer or node twice: same name
            parent.insert(last, copy.deepcopy(parent[last]))
        elif action == "duplicate":  # the same value under a second key
            parent[draw(st.sampled_from(KEYS))] = copy.deepcopy(parent[last])
        elif isinstance(parent, list):
            parent.insert(last, draw(json_values))
        else:
            parent[draw(st.sampled_from(KEYS))] = draw(json_values)
    return spec


def _duplicate_a_line(text: str, i: int) -> str:
    lines = text.splitlines()
    i %= len(lines)
    return "\n".join(lines[: i + 1] + lines[i:]) + "\n"


@_examples(300)
@given(mutated_specs(), st.integers(0, 10_000))
@example({"kspec": 1, "name": "x", "model": {"input": {"shape": [4]}, "layers": [{"type": "Dense", "units": 2**63}]},
          "training": {"loss": "mse"}}, 0)  # units past 64 bits: refused where written, before any arithmetic
def test_mutated_specs(spec, line: int) -> None:
    checked("mutated specs (data)", spec, strict=line % 3 == 0)
    as_yaml = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    checked("mutated specs (YAML text)", as_yaml)
    checked("mutated specs (JSON text)", json.dumps(spec, indent=None if line % 2 else 2) + "\n")
    checked("mutated specs (YAML, a line twice)", _duplicate_a_line(as_yaml, line))


def test_mutations_reach_every_stage() -> None:
    # The mutation and grammar properties are only as good as the stages they reach: each reached
    # the stages past loading, not only the parser (their counts are printed at the end).
    # Each stage (or group of stages) asserted takes 5% of the examples or more: missing one by
    # chance is a 1-in-10^6 event.
    loading, structure = {"refused when loading"}, {"refused by the structure"}
    after, valid = {"refused after parsing (graph, shapes, semantics)"}, {"valid", "valid, with warnings"}
    expected = {
        "YAML-ish text (grammar)": [loading, structure, after | valid],
        "mutated specs (data)": [structure, after, valid],
        "mutated specs (YAML text)": [structure, after, valid],
    }
    for prop, groups in expected.items():
        if COUNTS[prop]:  # when run with the properties above (not with -k on this test alone)
            for group in groups:
                assert sum(STAGES[prop][stage] for stage in group), (prop, group, STAGES[prop])


# ---- `--set KEY=VALUE` overrides (kspec build-and-train --set), applied before validation ----

override_parts = st.sampled_from(KEYS) | st.sampled_from(["0", "1", "7", "99", "-1", "²", "9" * 30, "", " "])
override_keys = st.lists(override_parts, min_size=1, max_size=5).map(".".join)
overrides = st.lists(
    st.tuples(override_keys, flow_value() | tokens).map("=".join) | st.text(max_size=30), max_size=4
)


@_examples(100)
@given(st.sampled_from(range(len(SPECS))), overrides, st.booleans())
@example(0, ["model.layers.²=1"], True)  # "²".isdigit(), and int("²") raised ValueError
@example(0, ["model.layers." + "9" * 5000 + "=1"], True)  # int() of 5000 digits raised ValueError
@example(0, ["model=" + "[" * 60 + "]" * 60, "model.0" + ".0" * 59 + "=" + "[" * 60 + "]" * 60], False)
# ^ a value set inside a value: 120 levels, each within MAX_DEPTH, together not; now refused like a file's
def test_overrides(index: int, sets: list[str], as_text: bool) -> None:
    source = EXAMPLE_TEXTS[index] if as_text else copy.deepcopy(SPECS[index])
    checked("overrides", source, overrides=sets)


# ==== the CLI =====================================================================================

cli_texts = st.one_of(
    yamlish_texts,
    valid_specs().map(lambda s: yaml.safe_dump(s, sort_keys=False)),
    mutated_specs().map(lambda s: yaml.safe_dump(s, sort_keys=False)),
    mutated_specs().map(json.dumps),
    st.text(max_size=200),
)


@_examples(15)
@given(cli_texts)
@example("a: \x07\n")  # a reader error
@example("units: 0x" + "F" * 5000 + "\n")  # was a ValueError from repr() of the int: exit 1 with a traceback in CliRunner
@example(EXAMPLE_TEXTS[0])  # valid: exit 0
def test_cli_validate_json(text: str) -> None:
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        start = time.perf_counter()
        result = guarded(lambda: runner.invoke(cli, ["validate", "--format", "json", str(path)]))
        TIMES["CLI validate"] += time.perf_counter() - start
        COUNTS["CLI validate"] += 1
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output
        doc = json.loads(result.output)
        assert doc["version"] == 1 and doc["ok"] is (result.exit_code == 0)
        (file,) = doc["files"]
        STAGES["CLI validate"]["exit 0" if result.exit_code == 0 else "exit 1"] += 1
        for d in file["diagnostics"]:
            assert d["code"] in CODES and d["message"] and d["severity"] in ("error", "warning")
        # The text format and stdin: the same exit status, no traceback.
        for args, stdin in ((["validate", str(path)], None), (["validate", "-"], path.read_text(encoding="utf-8"))):
            other = guarded(lambda: runner.invoke(cli, args, input=stdin))
            assert other.exception is None or isinstance(other.exception, SystemExit), other.exception
            assert other.exit_code == result.exit_code and "Traceback" not in other.output


# ==== pathological inputs: bounded time and memory ===============================================


def _stack(layers: list[str], shape: str = "[4]") -> str:
    """A sequential spec's text: one flow mapping per layer."""
    return (
        f"kspec: 1\nname: patho\nmodel:\n  input: {{shape: {shape}}}\n  layers:\n"
        + "".join(f"    - {layer}\n" for layer in layers)
        + "training: {loss: mse}\n"
    )


def _alias_bomb(levels: int = 9, width: int = 9, maps: bool = False) -> str:
    """Billion laughs: `levels` anchors, each `width` aliases of the one before (9**9 leaves)."""

    def collection(items: list[str]) -> str:
        return "{" + ", ".join(f"k{j}: {x}" for j, x in enumerate(items)) + "}" if maps else "[" + ", ".join(items) + "]"

    lines = [f"a0: &a0 {collection(['lol'] * width)}"]
    lines += [f"a{i}: &a{i} {collection([f'*a{i - 1}'] * width)}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _aliased_layers(n: int) -> str:
    """A short text whose aliases expand to n Dense layers (4 nodes each as the loader counts: the
    mapping and its 3 values; within MAX_NODES up to ~50k layers)."""
    layers = "[&d {type: Dense, units: 4, activation: relu}" + ", *d" * (n - 1) + "]"
    return f"kspec: 1\nname: patho\nmodel:\n  input: {{shape: [4]}}\n  layers: {layers}\ntraining: {{loss: mse}}\n"


HUGE = "1" + "0" * 100_000  # 10**100000 as text
BIG_DIM = 2**62
#: Layers in the "very many layers" cases: 5,000 in `ci`, 20,000 in `thorough`. Checking n layers
#: takes time quadratic in n (kspec/infer.py, `Inference.node` rebuilds its index on every call while
#: the nodes grow): 20,000 take ~12-19 s (~20-30 s under tracemalloc), 5,000 ~1 s (~2 s).
MANY = 5_000 if SCALE < 10 else 20_000

# (case, text, error codes it must get among others). The time and memory each takes are printed at the
# end of the run; the bounds asserted (see the test) have 4x or more margin over the largest.
PATHOLOGICAL = [
    # -- nesting --
    ("10k [", "[" * 10_000 + "\n", {"yaml-syntax"}),  # libyaml stops at 1,000 levels
    ("10k [ ]", "[" * 10_000 + "]" * 10_000 + "\n", {"yaml-syntax"}),
    ("10k {a:", "{a: " * 10_000 + "}" * 10_000 + "\n", {"yaml-syntax"}),
    ("2k block mappings", "".join(" " * i + "a:\n" for i in range(2_000)), {"yaml-syntax"}),
    ("10k - on a line", "- " * 10_000 + "x\n", {"yaml-syntax"}),
    ("500 [ (libyaml accepts)", "[" * 500 + "]" * 500 + "\n", {"too-large"}),  # over MAX_DEPTH
    ("10k [ after DEL", "\x7f" + "[" * 10_000 + "\n", {"yaml-syntax"}),
    ("10k [ in JSON with DEL", '["\x7f", ' + "[" * 10_000 + "]" * 10_000 + "]\n", {"yaml-syntax"}),
    # -- aliases --
    ("billion laughs", _alias_bomb(), {"too-large"}),  # stops at MAX_NODES
    ("billion laughs, mappings", _alias_bomb(maps=True), {"too-large"}),
    ("recursive alias", "a: &a [*a]\n", {"too-large"}),
    (f"aliases to {MANY} layers", _aliased_layers(MANY), set()),
    # -- long strings and keys --
    ("5M-character name", "kspec: 1\nname: " + "x" * 5_000_000 + "\n", {"value"}),
    ("5M-character explicit key", "? " + "k" * 5_000_000 + "\n: 1\n", {"unknown-key"}),
    # ^ was quoted whole, twice, in the message (10 MB); did_you_mean's difflib took 5 s and 700 MB
    ("5M-character JSON key", '{"' + "k" * 5_000_000 + '": 1}\n', {"yaml-syntax"}),  # libyaml: keys of flow mappings <= 1024
    ("5M-character plain key", "k" * 5_000_000 + ": 1\n", {"yaml-syntax"}),  # over YAML's 1024 for a plain key
    ("15M-character comment", "#" + "c" * 15_000_000 + "\nkspec: 1\n", {"missing-key"}),
    ("over MAX_BYTES", "a: " + "x" * MAX_BYTES + "\n", {"too-large"}),
    # The loader's messages quoted a value, a tag or a key whole (here 5 MB each):
    ("!!int with 5M characters", "a: !!int " + "x" * 5_000_000 + "\n", {"type"}),
    ("5M-character local tag", "a: !" + "x" * 5_000_000 + " 1\n", {"forbidden-tag"}),
    ("5M-character key twice", "? " + "k" * 5_000_000 + "\n: 1\n? " + "k" * 5_000_000 + "\n: 2\n", {"duplicate-key"}),
    # -- huge numbers --
    ("10**100000 as kspec", f"kspec: {HUGE}\nname: x\n", {"value"}),  # was: a 100,000-character message
    ("10**100000 as units", _stack([f"{{type: Dense, units: {HUGE}}}"]), {"value"}),
    ("10**100000 as a dim", _stack(["{type: Flatten}"], f"[{HUGE}]"), {"value"}),
    ("-10**100000 as rate", _stack([f"{{type: Dropout, rate: -{HUGE}}}"]), {"value"}),
    ("0xFFF..(20k) as units", _stack(["{type: Dense, units: 0x" + "F" * 20_000 + "}"]), {"value"}),  # repr() raised ValueError
    ("0o777..(20k) as name", "kspec: 1\nname: 0o" + "7" * 20_000 + "\n", {"value"}),  # repr() raised ValueError
    ("10**4000 as units", _stack(["{type: Dense, units: 1" + "0" * 4000 + "}"]), {"value"}),  # lint: float(params) overflowed
    ("1e400, .nan, -.inf", _stack(["{type: Dropout, rate: 1e400}", "{type: Dropout, rate: .nan}", "{type: Dropout, rate: -.inf}"]),
     {"value"}),
    ("15M-digit float", "kspec: 1\nname: x\nrate: 1" + "1" * 15_000_000 + ".5\n", {"unknown-key"}),
    # -- shapes, units, products --
    ("shape [1e9, 1e9]", _stack(["{type: Flatten}", "{type: Dense, units: 1000000000}"], "[1000000000, 1000000000]"),
     {"param-budget"}),
    ("2**63 units", _stack([f"{{type: Dense, units: {2**63}}}"]), {"value"}),
    ("2**63-1 units on 2**62", _stack([f"{{type: Dense, units: {2**63 - 1}}}"], f"[{BIG_DIM}]"), {"param-budget"}),
    ("8 dims of 2**62, Flatten", _stack(["{type: Flatten}", "{type: Dense, units: 2}"], str([BIG_DIM] * 8)), {"too-large"}),
    ("8 dims of 2**62, Conv1D", _stack(["{type: Flatten}", "{type: Conv1D, filters: 2, kernel_size: 3}"], str([BIG_DIM] * 8)),
     {"shape"}),
    ("UpSampling1D x 300 of 2**62", _stack([f"{{type: UpSampling1D, size: {BIG_DIM}}}"] * 300 + ["{type: Dense, units: 2}"],
     "[2, 2]"), {"too-large"}),  # a 5,600-digit dim: semantics' and lint's f"{n:,}" and float(n) raised
    ("... then a rank error", _stack([f"{{type: UpSampling1D, size: {BIG_DIM}}}"] * 300 + ["{type: Conv2D, filters: 1, kernel_size: 1}"],
     "[2, 2]"), {"too-large"}),  # infer's message printing a 5,600-digit dim raised ValueError
    (f"UpSampling1D x {MANY} (x2 each)", _stack(["{type: UpSampling1D}"] * MANY + ["{type: Conv2D, filters: 1, kernel_size: 1}"],
     "[2, 2]"), {"too-large"}),  # default arguments alone: 2**5000 (2**20000 in thorough)
    # a kernel of 2: a 1x1 transposed convolution with strides above 1 is refused first (transposed-1x1-strides)
    ("Conv2DTranspose x 200, strides 2**62", _stack([f"{{type: Conv2DTranspose, filters: 1, kernel_size: 2, strides: {BIG_DIM}}}"] * 200,
     "[2, 2, 1]"), {"too-large"}),
    ("Reshape product of 40 x 2**62", _stack(["{type: Reshape, target_shape: [" + ", ".join([str(BIG_DIM)] * 40) + "]}"]), {"shape"}),
    ("Reshape -1 of 8 x 2**62", _stack([f"{{type: Reshape, target_shape: [-1, {BIG_DIM}, {BIG_DIM}]}}"], str([BIG_DIM] * 8)), set()),
    # -- many layers, repeated keys --
    (f"{MANY} Dense layers", _stack(["{type: Dense, units: 4, activation: relu}"] * MANY), set()),
    # ~100k fit within MAX_NODES; took 277 s (20k layers: 19 s) while Inference.node rebuilt its name index
    # on every call as the nodes grew; indexed incrementally now.
    ("66k Identity layers (1.5 MB)", _stack(["{type: Identity}"] * 66_000), set()),
    (f"{MANY * 4} repeated keys", "a: 1\n" * (MANY * 4), {"duplicate-key"}),  # as many diagnostics
    ("10k repeated keys in a layer", _stack(["{type: Dense, " + "units: 4, " * 10_000 + "}"]), {"duplicate-key"}),
    # ^ rendered as text, each of the 9,999 diagnostics quoted the whole 110 kB line: 1.1 GB of output
    # The composer built every node before the loader counted them: 2 MB of "1," took 280 MB and 6 s.
    ("6M-item list (12 MB)", "model: [" + "1," * 6_000_000 + "1]\n", {"too-large"}),  # was ~1.7 GB, ~40 s
    ("250k keys (2.6 MB)", "".join(f"k{i}: 1\n" for i in range(250_000)), {"too-large"}),
    ("5M {} in JSON with DEL (15 MB)", '["\x7f",' + "{}," * 5_000_000 + "{}]\n", {"too-large"}),  # json.loads first: 360 MB
]


def _hwm_kb() -> int | None:
    try:
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the resident-memory high-water mark (Linux)
        return True
    except OSError:
        return False


@pytest.mark.parametrize("case, text, codes", PATHOLOGICAL, ids=[c[0] if isinstance(c, tuple) else c.id for c in PATHOLOGICAL])
def test_pathological_input_is_bounded(case: str, text: str, codes: set[str]) -> None:
    can_reset = _reset_hwm()
    before = _hwm_kb()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        report = guarded(lambda: kspec.check(text))
        seconds = time.perf_counter() - start
        _, heap = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss = (_hwm_kb() - before) / 1024 if can_reset and before is not None else math.nan
    PATHOLOGIES[case] = (seconds, heap / 2**20, rss)
    COUNTS["pathological inputs"] += 1
    TIMES["pathological inputs"] += seconds
    STAGES["pathological inputs"][_stage(report)] += 1
    assert_well_formed(report, text=text)  # regression: a 5M-character key was quoted whole, twice (10 MB)
    assert codes <= {d.code for d in report.errors}, [(d.code, d.message[:120]) for d in report.diagnostics[:5]]
    # Bounded: Python's heap (tracemalloc) and the process's resident memory (libyaml and pydantic-core
    # allocate outside tracemalloc's view). Largest measured in `ci`: 43 MB heap (the 15M-digit float,
    # whose text alone is 15 MB), 27 MB resident; in `thorough`, 95 MB heap (80,000 repeated keys, as
    # many diagnostics). Before the fixes: 400 MB heap and 505 MB resident for 250k keys (2.6 MB of
    # text), 190 MB and 680 MB for a 5M-character key, ~1.7 GB resident for 12 MB of "1,".
    assert heap < 200 * 2**20, f"{case}: Python heap peak {heap / 2**20:.0f} MB"
    if not math.isnan(rss):
        assert rss < 400, f"{case}: resident memory grew {rss:.0f} MB"


def test_pathological_data_is_bounded() -> None:
    # The same limits for data as for text: checked without recursion, refused, in bounded time.
    cases = {
        "200k-item list": {"kspec": 1, "name": "x", "model": list(range(MAX_NODES + 1))},
        "deep": {"kspec": 1, "name": "x", "model": _nested(100_000, "dict")},
        "10**100000": {"kspec": 10**100000, "name": "x"},
        "-2**63 - 1": {"kspec": -(2**63) - 1, "name": "x"},
        "5M-character key": {"k" * 5_000_000: 1},
        f"{MAX_DEPTH} levels": {"kspec": 1, "name": "x", "model": _nested(MAX_DEPTH - 2, "list")},
    }
    for name, data in cases.items():
        tracemalloc.start()
        try:
            report = checked("JSON value at any level (data)", data)
            _, heap = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert not report.ok, name
        assert heap < 200 * 2**20, (name, heap)  # measured: 12 MB at most (the 5M-character key)
