"""A `Spec` as YAML or JSON text that kspec reads back as the same `Spec`. No TensorFlow or Keras.

Two forms:

- `defaults=True`, the resolved form: every field written, defaults filled in (what
  `kspec build-and-train` writes as the run's `spec.yaml`);
- `defaults=False`, the short form: every value equal to its default left out.

Both parse back to an equal `Spec`, and dumping that `Spec` again gives the same text
(tests/test_roundtrip.py). The YAML is what people write: block style, keys in the models' order,
`type` first in every object, Unicode as it is. kspec reads YAML 1.2 while PyYAML writes YAML 1.1,
so a string that YAML 1.2 would read as something else (`1e5`, `09`, `0o17`: numbers in 1.2, strings
in 1.1) is quoted, and one holding a character that YAML 1.1 reads as a line break (NEL, U+2028,
U+2029) is double-quoted, where it is escaped. The JSON is indented, with Unicode as it is except
for the characters a YAML parser refuses raw or reads as a line break, which are escaped.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from .load import CORE_SCHEMA_RESOLVERS
from .spec import Spec

Format = Literal["yaml", "json"]


def dump_spec(spec: Spec | str | os.PathLike | dict, format: Format = "yaml", *, defaults: bool = True) -> str:
    """The spec as YAML or JSON text (see the module docstring); `kspec.check` reads it back as an equal `Spec`.

    `spec` is a `Spec`, or a path, YAML/JSON text or loaded data (checked first: `SpecError` when
    invalid). `defaults=True` writes every field with the defaults filled in, `defaults=False` leaves
    out every value equal to its default.
    """
    document = spec_document(spec, defaults=defaults)
    if format == "yaml":
        return yaml_text(document)
    if format == "json":
        return json_text(document)
    raise ValueError(f"format must be 'yaml' or 'json'. Received: format={format!r}")


def spec_document(spec: Spec | str | os.PathLike | dict, *, defaults: bool = True) -> dict:
    """The spec as plain data (what `dump_spec` writes): JSON types only, `type` first in every object."""
    if not isinstance(spec, Spec):
        from .check import load_spec

        spec = load_spec(spec)
    return _type_first(spec, spec.model_dump(mode="json", exclude_defaults=not defaults))


def _type_first(value: Any, data: Any) -> Any:
    """`data` (the dump of `value`) with `type` first in every object that has one, as people write it.

    Pydantic dumps an object's fields in their declaration order, where a layer's `type` comes after
    the fields of its base class. Only objects are reordered: a mapping of the spec's own (losses by
    output name, `data.inputs`, ...) keeps its order, even with an output named `type`.
    """
    if isinstance(value, BaseModel):
        items = {key: _type_first(getattr(value, key), item) for key, item in data.items()}
        if "type" in items and "type" in type(value).model_fields:
            return {"type": items.pop("type"), **items}
        return items
    if isinstance(value, dict):
        return {key: _type_first(value.get(key), item) for key, item in data.items()}  # (JSON keys are strings)
    if isinstance(value, (list, tuple)):
        return [_type_first(v, item) for v, item in zip(value, data, strict=True)]
    return data


# ---- YAML ---------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting by both YAML 1.1 (PyYAML's resolvers) and 1.2 (kspec's).

    PyYAML writes a string plain when YAML 1.1 reads it back as a string; with kspec's YAML 1.2
    resolvers added, a string that YAML 1.2 would read as a number, bool or null is quoted too.
    Integers, floats, bools and null are still written as PyYAML writes them, which both read alike.
    """


for _tag, _pattern, _first in CORE_SCHEMA_RESOLVERS:
    _Dumper.add_implicit_resolver(_tag, _pattern, _first)

#: Line breaks in YAML 1.1 (which libyaml reads) but not in 1.2: PyYAML writes them raw in a plain or
#: single-quoted scalar, where they read back as a folded space; double-quoted, it escapes them.
_YAML11_BREAKS = re.compile("[\x85\u2028\u2029]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _YAML11_BREAKS.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def yaml_text(document: Any) -> str:
    """`document` as block-style YAML that kspec reads back as equal data (see `_Dumper`)."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


# ---- JSON ---------------------------------------------------------------------------------------

#: Characters that may stand raw in a JSON string but that a YAML parser refuses (DEL, the C1
#: controls, U+FFFE, U+FFFF) or reads as a line break (NEL, U+2028, U+2029), and the byte-order mark.
_JSON_ESCAPED = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def json_text(document: Any) -> str:
    """`document` as indented JSON (which kspec, and any JSON parser, reads back as equal data)."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    # In JSON text these characters can only be inside strings, where `\uXXXX` is the same character.
    return _JSON_ESCAPED.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text) + "\n"


__all__ = ["dump_spec", "json_text", "spec_document", "yaml_text"]


def resolved_document(spec: Spec) -> dict:
    """The spec as plain data with every default filled in (what a run directory's `spec.yaml` holds)."""
    return spec_document(spec, defaults=True)


def resolved_yaml(document: dict) -> str:
    """`spec.yaml`'s text: a header line, then the YAML of `dump_spec` (which reads back as the same spec)."""
    header = "# Resolved by kspec: overrides applied, every default filled in. Validates and builds the same model.\n"
    return header + yaml_text(document)
