"""The published JSON Schema: generated from the pydantic models, committed, and checked for drift."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import kspec
from kspec.load import load_text

ROOT = Path(__file__).parent.parent
SCHEMA_FILE = ROOT / "schema" / "kspec.schema.json"


def test_committed_schema_is_up_to_date() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == kspec.json_schema(), (
        "schema/kspec.schema.json is out of date; regenerate it with: kspec schema -o schema/kspec.schema.json"
    )


def test_schema_is_draft_2020_12_with_id() -> None:
    schema = kspec.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("kspec.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)


def _every_field_described(schema: dict) -> list[str]:
    """Fields without a description of their own or of the shared definition they refer to (`$ref`: editors show
    the definition's)."""
    defs = schema.get("$defs", {})
    missing = []
    for name, d in defs.items():
        for field, prop in d.get("properties", {}).items():
            if field == "type" and ("const" in prop or "enum" in prop):
                continue
            ref = prop.get("$ref", "").removeprefix("#/$defs/")
            if not prop.get("description") and not defs.get(ref, {}).get("description"):
                missing.append(f"{name}.{field}")
    return missing


def test_every_field_has_a_description() -> None:
    assert _every_field_described(kspec.json_schema()) == []


VALID = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "data" / "valid").iterdir())


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_schema_accepts_valid_specs(path: Path) -> None:
    data = load_text(path.read_text()).data
    jsonschema.Draft202012Validator(kspec.json_schema()).validate(data)


@pytest.mark.parametrize(
    "mutation",
    [
        lambda d: d["model"]["layers"][0].update(units="64"),
        lambda d: d["model"]["layers"][0].update(units=True),
        lambda d: d["model"]["layers"][0].update(unitz=3),
        lambda d: d["model"]["layers"][0].update(type="Dens"),
        lambda d: d["training"].update(epochs=0),
        lambda d: d.update(kspec=2),
        lambda d: d.pop("model"),
        lambda d: d["model"]["input"].update(shape=[]),
    ],
)
def test_schema_and_models_reject_the_same_structural_mistakes(mutation) -> None:
    data = {
        "kspec": 1,
        "name": "m",
        "model": {"input": {"shape": [4]}, "layers": [{"type": "Dense", "units": 2}]},
        "training": {"loss": "mse"},
    }
    assert kspec.check(data).ok
    jsonschema.Draft202012Validator(kspec.json_schema()).validate(data)
    mutation(data)
    assert not kspec.check(data).ok
    assert not jsonschema.Draft202012Validator(kspec.json_schema()).is_valid(data)
