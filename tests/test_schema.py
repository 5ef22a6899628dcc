"""The published JSON Schema: generated from the pydantic models, committed, and checked for drift."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

import kspec
from kspec.cli import main
from kspec.load import load_text
from kspec.spec import json_schema_text, schema_path

ROOT = Path(__file__).parent.parent
#: The schema as kspec ships it (package data).
SCHEMA_FILE = ROOT / "kspec" / "schema" / "kspec.schema.json"


def test_committed_schema_is_up_to_date() -> None:
    committed = SCHEMA_FILE.read_text()
    assert json.loads(committed) == kspec.json_schema(), (
        "kspec/schema/kspec.schema.json is out of date; regenerate it with: "
        "kspec schema -o kspec/schema/kspec.schema.json"
    )
    assert committed == json_schema_text(), "kspec/schema/kspec.schema.json is not laid out as `kspec schema` writes it"


def test_schema_path_is_the_packaged_file() -> None:
    path = schema_path()
    assert path.is_absolute()
    assert path == SCHEMA_FILE.resolve()
    assert json.loads(path.read_text()) == kspec.json_schema()


def test_schema_command_prints_the_installed_path() -> None:
    result = CliRunner().invoke(main, ["schema", "--path"])
    assert result.exit_code == 0, result.output
    assert result.output == f"{schema_path()}\n"
    both = CliRunner().invoke(main, ["schema", "--path", "-o", "x.json"])
    assert both.exit_code == 2
    assert "--path" in both.output and "Traceback" not in both.output


def test_repository_schema_is_a_link_to_the_packaged_file() -> None:
    """`schema/kspec.schema.json` (the address the repository's specs' modelines use) is a relative symlink to the
    packaged file, so that the file is in git once."""
    link = ROOT / "schema" / "kspec.schema.json"
    assert link.is_symlink()
    assert link.readlink() == Path("../kspec/schema/kspec.schema.json")
    assert link.resolve() == SCHEMA_FILE.resolve()


def test_schema_has_no_titles_or_discriminators() -> None:
    """yaml-language-server heads a field's hover with the closest title above it: with none, a hover is the
    description alone. `discriminator` is OpenAPI's, ignored by JSON Schema validators and editors."""

    def keys(node: object, inside_map: bool = False) -> set[str]:
        if isinstance(node, list):
            return set().union(*(keys(v) for v in node))
        if not isinstance(node, dict):
            return set()
        found = set() if inside_map else set(node)
        for key, value in node.items():
            if key in ("const", "enum", "default", "examples"):
                continue
            found |= keys(value, inside_map=not inside_map and key in ("properties", "$defs"))
        return found

    assert not {"title", "discriminator"} & keys(kspec.json_schema())


def test_tags_carry_the_model_one_liner() -> None:
    """A model's `type` (the tag its union goes by) is described by the first paragraph of its docstring, and
    bounded by a pattern where one of its values begins another tag (what editors need, see KspecJsonSchema)."""
    from kspec.spec.layers.conv import Conv2D
    from kspec.spec.layers.core import Dropout

    defs = kspec.json_schema()["$defs"]
    conv = defs["Conv2D"]["properties"]["type"]
    assert conv["description"] == "2D convolution (e.g. spatial convolution over images)."
    assert Conv2D.__doc__ is not None and Conv2D.__doc__.startswith(conv["description"])
    assert defs["Dropout"]["properties"]["type"]["description"] == Dropout.__doc__
    assert set(conv["enum"]) == {"Conv2D", "Convolution2D"}
    for value in conv["enum"] + ["Conv2DTranspose", "Conv2", "Conv2D\n"]:
        assert jsonschema.Draft202012Validator({"pattern": conv["pattern"]}).is_valid(value) == (
            value in conv["enum"]
        ), value
    assert "pattern" not in defs["Dropout"]["properties"]["type"]


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
