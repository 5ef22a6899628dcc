"""The spec language v1: pydantic models are the single source of truth; the JSON Schema is generated from them."""

import json
import pathlib
from typing import Annotated, Any, Literal

from pydantic import Field

from .base import ExactInt, KspecJsonSchema, KspecModel, Name
from .blocks import Block, BlockUse
from .data import Data
from .model import AnyModel, GraphModel, Input, SequentialModel, SharedNode
from .training import Training
from .tuning import Tuning

SCHEMA_ID = "https://kspec.dev/schema/v1/kspec.schema.json"


class Spec(KspecModel):
    """A kspec model spec: a model, how to train it and on what data."""

    kspec: Annotated[Literal[1], ExactInt] = Field(description="Format version of the spec language. Always 1 for now.")
    name: Name = Field(description="The model's name (also the Keras model's name).")
    description: str | None = Field(None, max_length=10_000, description="Free text for people.")
    blocks: dict[Name, Block] | None = Field(
        None, description="Reusable, parameterised sub-graphs by name, used in the model as `{block: NAME, ...}`."
    )
    model: AnyModel
    training: Training = Field(
        description="How the model is compiled and trained: optimizer, loss, metrics, epochs, callbacks."
    )
    data: Data | None = Field(None, description="Training data; absent means synthetic data shaped like the inputs.")
    tuning: Tuning | None = Field(
        None,
        description="A search space over this spec for `kspec tune`: the parameters that vary, the objective, the "
        "number of trials; ignored by every other command.",
    )


_validator = None


def _build_validator():
    if not Spec.__pydantic_complete__:
        Spec.model_rebuild()
    return Spec.__pydantic_validator__


def validate_data(data: Any) -> Spec:
    """Strict structural validation of loaded data. Raises pydantic.ValidationError."""
    global _validator
    if _validator is None:
        from ._cache import spec_validator

        _validator = spec_validator(_build_validator)
    return _validator.validate_python(data, strict=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the spec language, generated from the models."""
    schema = Spec.model_json_schema(mode="validation", schema_generator=KspecJsonSchema)
    # No title, not even the root's: yaml-language-server would head the hover of every field with it.
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_path() -> pathlib.Path:
    """The JSON Schema as installed with kspec (`kspec/schema/kspec.schema.json`, package data): an absolute path,
    stable for as long as kspec is installed there, for an editor's modeline
    (`# yaml-language-server: $schema=<this path>`) or its settings. `kspec schema --path` prints it."""
    return pathlib.Path(__file__).resolve().parent.parent / "schema" / "kspec.schema.json"


def json_schema_text() -> str:
    """The JSON Schema as published (`kspec/schema/kspec.schema.json`, see `schema_path`): compact JSON with each key of the root and each
    definition of `$defs` on a line of its own, so that a definition is found (and a change to it shown) by its
    name. Indented, the same schema would be 60% larger."""

    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    lines = []
    for key, value in json_schema().items():
        if key == "$defs":
            defs = ",\n".join(f"    {compact(name)}:{compact(definition)}" for name, definition in value.items())
            lines.append('  "$defs":{\n' + defs + "\n  }")
        else:
            lines.append(f"  {compact(key)}:{compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


__all__ = [
    "Block",
    "BlockUse",
    "Spec",
    "Data",
    "Training",
    "Input",
    "SequentialModel",
    "GraphModel",
    "SharedNode",
    "KspecModel",
    "Name",
    "json_schema",
    "json_schema_text",
    "schema_path",
    "validate_data",
    "SCHEMA_ID",
]
