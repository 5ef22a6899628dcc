"""Stage 1: YAML 1.2 / JSON text to data with positions. ruamel.yaml (a pure YAML 1.2
implementation) is the oracle for how plain scalars resolve."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given, settings, strategies as st
from ruamel.yaml import YAML

from kspec.diagnostics import Span
from kspec.load import MAX_DEPTH, load_text


def _ruamel(text: str):
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


SCALARS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "NO",          # strings in 1.2, booleans in 1.1
    "true", "True", "TRUE", "false", "False", "FALSE",
    "null", "Null", "NULL", "~", "",
    "0", "-0", "+12", "012", "0o17", "0x1F",
    "1.5", "-1.5", "1e3", "1E-3", ".5", "5.", "+.inf", "-.Inf", ".NaN", "1:30",
    "'64'", '"true"',
]


@pytest.mark.parametrize("scalar", SCALARS)
def test_plain_scalars_resolve_as_yaml_1_2(scalar: str) -> None:
    text = f"key: {scalar}\n"
    ours = load_text(text)
    assert ours.ok, ours.diagnostics
    expected = _ruamel(text)["key"]
    got = ours.data["key"]
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(got, float) and math.isnan(got)
    else:
        assert got == expected and type(got) is type(expected), (scalar, got, expected)


@pytest.mark.parametrize("scalar", ["0b101", "1_000", "2001-12-14", "12:30:00", "0777"])
def test_only_the_core_schema(scalar: str) -> None:
    # ruamel.yaml's 1.2 resolver also accepts 0b, '_' and timestamps (extensions outside the
    # core schema of YAML 1.2.2, section 10.3.2); kspec keeps to the core schema, JSON's types.
    expected = int(scalar) if scalar == "0777" else scalar
    assert load_text(f"key: {scalar}\n").data["key"] == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-.eExXoOinfINFatrueTRUEnulNUL~ ", min_size=1, max_size=8))
def test_scalar_resolution_matches_ruamel(word: str) -> None:
    # No "_" or "b" in the alphabet: those are the documented ruamel extensions (test above).

    text = f"key: '{word}'\nplain: {word}\n" if word.strip() == word and word.strip() else "key: x\n"
    try:
        expected = _ruamel(text)
    except Exception:  # not a plain scalar in YAML at all; ours must fail too or agree on a string
        return
    ours = load_text(text)
    assert ours.ok
    for k in expected:
        e, g = expected[k], ours.data[k]
        if isinstance(e, float) and math.isnan(e):
            assert isinstance(g, float) and math.isnan(g)
        else:
            assert g == e and type(g) is type(e), (word, k, g, e)


def test_positions_of_keys_and_values() -> None:
    loaded = load_text("a: 1\nmodel:\n  layers:\n    - {type: Dense, units: 3}\n")
    sm = loaded.source_map
    assert sm.locate(("model", "layers", 0, "units")) == Span(4, 28)
    assert sm.locate(("model", "layers", 0, "units"), key=True) == Span(4, 21)
    # the deepest existing node for a path that does not exist
    assert sm.locate(("model", "layers", 5, "units")) == Span(4, 5)
    assert sm.locate(("model", "nothing")) == Span(3, 3)


def test_json_is_loaded_with_positions() -> None:
    loaded = load_text('{"a": [1, 2.5, true, null],\n "b": {"c": "d"}}')
    assert loaded.ok
    assert loaded.data == {"a": [1, 2.5, True, None], "b": {"c": "d"}}
    assert loaded.source_map.locate(("b", "c")) == Span(2, 13)


def test_duplicate_keys_are_errors_with_both_places() -> None:
    loaded = load_text("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    codes = [(d.code, d.path, d.span) for d in loaded.diagnostics]
    assert codes == [("duplicate-key", ("b", "c"), Span(4, 3)), ("duplicate-key", ("a",), Span(5, 1))]
    assert "line 3, column 3" in loaded.diagnostics[0].message


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['ls']\n",
        "a: !!python/name:os.system\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!timestamp 2001-12-14\n",
        "a: !custom {x: 1}\n",
        "a: !!set {x, y}\n",
    ],
)
def test_tags_other_than_the_core_schema_are_refused(text: str) -> None:
    loaded = load_text(text)
    assert [d.code for d in loaded.diagnostics] == ["forbidden-tag"]
    assert loaded.diagnostics[0].span == Span(1, 4)


def test_explicit_core_tags_are_honoured() -> None:
    loaded = load_text("a: !!str 64\nb: !!int '7'\nc: !!float 1\n")
    assert loaded.ok
    assert loaded.data == {"a": "64", "b": 7, "c": 1.0}
    bad = load_text("a: !!int seven\n")
    assert [d.code for d in bad.diagnostics] == ["type"]


def test_alias_bomb_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    loaded = load_text("\n".join(lines) + "\n")
    assert [d.code for d in loaded.diagnostics] == ["too-large"]
    assert loaded.data is None


def test_deep_nesting_and_recursive_aliases_are_bounded() -> None:
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert [d.code for d in load_text(deep).diagnostics] == ["too-large"]
    assert [d.code for d in load_text("a: &x [*x]\n").diagnostics] == ["too-large"]


def test_small_aliases_are_fine() -> None:
    loaded = load_text("base: &b {units: 3}\nuse: *b\n")
    assert loaded.ok and loaded.data["use"] == {"units": 3}


@pytest.mark.parametrize(
    "text, line",
    [("a: [1, 2\n", 2), ("a: 1\n b: 2\n", 2), ("a: 'open\n", 2), ("---\na: 1\n---\nb: 2\n", 3), ("\t- x\n", 1)],
)
def test_syntax_errors_have_positions(text: str, line: int) -> None:
    loaded = load_text(text)
    assert [d.code for d in loaded.diagnostics] == ["yaml-syntax"]
    assert loaded.diagnostics[0].span is not None and loaded.diagnostics[0].span.line == line


def test_empty_document_and_control_characters() -> None:
    assert [d.code for d in load_text("").diagnostics] == ["not-a-mapping"]
    assert [d.code for d in load_text("# only a comment\n").diagnostics] == ["not-a-mapping"]
    assert [d.code for d in load_text("a: \x00\n").diagnostics] == ["yaml-syntax"]


def test_non_string_keys_become_their_text() -> None:
    loaded = load_text("1: a\ntrue: b\n")
    assert loaded.data == {"1": "a", "true": "b"}
