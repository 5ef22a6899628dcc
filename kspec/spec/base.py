"""Shared pieces of the spec language: the strict base model and the field types.

Every model is strict (no coercion: `"64"` is not 64, `true` is not 1),
forbids unknown keys, is frozen, and refuses NaN/inf. Int-or-tuple arguments
are normalised once, here, to tuples.
"""

import re
import sys
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticCustomError

#: The end of the string, in a pattern. Patterns are read by Python's `re` (pydantic, with
#: `regex_engine="python-re"`, and Python JSON Schema validators) and by ECMA-262 (the regex
#: dialect of JSON Schema: editors, other validators). `$` differs between them: in Python it
#: also matches before a final newline, so `^a$` accepts "a\n". This lookahead (no character
#: follows) means the end in both. Likewise `[\s\S]`, not `.`, is any character (`.` is not "\n").
END = r"(?![\s\S])"
NAME_PATTERN = rf"^[A-Za-z_][A-Za-z0-9_]*{END}"
#: A reference to a tensor: a name, or `USE.OUTPUT` for one of the outputs of a block use.
REF_PATTERN = rf"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?{END}"


class KspecModel(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        populate_by_name=False,
        defer_build=True,
        regex_engine="python-re",
        protected_namespaces=(),
    )

    def to_keras(self) -> Any:
        """The Keras serialised form (`{"class_name", "config"}`) of an object with a `type`."""
        config = {k: to_keras_value(v) for k, v in self if k != "type"}
        # Only the subclasses with a `type` field (a Literal discriminator) call this.
        return {"class_name": self.type, "config": config}  # type: ignore[attr-defined]


class KspecJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema generator, made exact for what kspec's models accept.

    - Mappings with constrained keys (`dict[Name, ...]`): pydantic puts the key pattern in
      `patternProperties`, which lets every other key through unchecked; here the key
      constraints go to `propertyNames` and the value schema applies to every key.
    - Numbers: kspec refuses NaN and infinity (`allow_inf_nan=False`; YAML's `.inf`, JSON's `1e400`),
      so a number without a bound of its own is bounded by the largest double, +-FLOAT_MAX.
    - Lengths of lists: pydantic writes the length bounds of a list behind a validator (`BeforeValidator`,
      then `Field(max_length=...)`) as `minLength`/`maxLength`, which JSON Schema applies to strings only;
      here they are `minItems`/`maxItems`.

    And small, for editors to load (each shared piece written once in `$defs`, with its description):

    - No `title` anywhere: a field's would be the key itself, capitalised ("Batch Size"), a model's its class
      name, which its `type` already says. yaml-language-server heads every hover with the closest title above
      the schema matched (a field of Conv2D: "Conv2D", or "Conv2D || Conv2D" for a field of two branches); without
      titles a hover is the field's description alone.
    - No `discriminator`: OpenAPI's keyword, which JSON Schema validators and yaml-language-server ignore (the
      `oneOf` branches exclude each other by their `type` alone).
    - A field (or type) marked `shared("Name")` is written once, as the definition `Name`, and each use
      refers to it (`$ref`, beside the use's own `default`): for fields many models have alike (every
      optimizer's `clipnorm`), whose Python annotations stay plain.
    - A shared value that many fields take or null (`RegularizerValue | None`) is a reference to one
      definition `OptionalRegularizerValue` (the value or null), not `anyOf: [value, null]` in each field.

    And for editors (yaml-language-server: hover, completion), on the `type` of each model a union tells apart
    (a `const`, or an `enum` with the aliases; required, without a description of its own):

    - its description is the first paragraph of the model's docstring (the layer's Keras one-liner), shown on
      hover over `type: Conv2D`, moved there from the model's own description (which keeps the rest);
    - where one of its values begins another model's (Conv2D, Conv2DTranspose; Adam, AdamW), a `pattern` that
      accepts exactly its values as well. While completing, yaml-language-server takes a value for a prefix of
      any enum value (one still being typed), so that `type: Conv2D` matches Conv2DTranspose's branch as well as
      Conv2D's and completion offers the keys of both; the pattern makes the longer branch fail, the keys offered
      are Conv2D's alone. (Redundant beside the enum, for validators.)
    """

    #: The shared definitions (type aliases, types marked `shared`) whose `X | None` is a reference to `OptionalX`.
    NULLABLE_SHARED = ("ActivationName", "ConstantOperand", "ConstraintValue", "RegularizerValue", "Seed")

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> dict[str, Any]:
        json_schema = _editor_annotations(_array_lengths(super().generate(schema, mode=mode)))
        hoisted: dict[str, Any] = {}
        json_schema = _hoist_shared(json_schema, hoisted)
        used: set[str] = set()
        json_schema = _nullable_refs(json_schema, self.NULLABLE_SHARED, used)
        hoisted = _nullable_refs(hoisted, self.NULLABLE_SHARED, used)
        hoisted.update({f"Optional{name}": {"anyOf": [{"$ref": f"#/$defs/{name}"}, {"type": "null"}]} for name in used})
        defs = json_schema.setdefault("$defs", {})
        if hoisted.keys() & defs.keys():
            raise ValueError(f"Shared schemas named like definitions: {sorted(hoisted.keys() & defs.keys())}")
        json_schema["$defs"] = dict(sorted({**defs, **hoisted}.items()))
        return json_schema

    def dict_schema(self, schema: Any) -> dict[str, Any]:
        json_schema = super().dict_schema(schema)
        patterns = json_schema.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            json_schema["propertyNames"] = {"pattern": pattern, **json_schema.get("propertyNames", {})}
            json_schema["additionalProperties"] = values
        return json_schema

    def float_schema(self, schema: Any) -> dict[str, Any]:
        json_schema = super().float_schema(schema)
        if not {"maximum", "exclusiveMaximum"} & json_schema.keys():
            json_schema["maximum"] = FLOAT_MAX
        if not {"minimum", "exclusiveMinimum"} & json_schema.keys():
            json_schema["minimum"] = -FLOAT_MAX
        return json_schema


def _array_lengths(node: Any) -> Any:
    """`node` with the `minLength`/`maxLength` of each array schema made `minItems`/`maxItems`."""
    if isinstance(node, list):
        return [_array_lengths(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _array_lengths(v) for k, v in node.items()}
    if node.get("type") == "array":
        for length, items in (("minLength", "minItems"), ("maxLength", "maxItems")):
            if length in node:
                node[items] = node.pop(length)
    return node


#: Keywords whose value maps names to schemas, and keywords whose value is data (not a schema).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})
_DATA = frozenset({"const", "enum", "default", "examples", "required"})


def _untitled(node: Any) -> Any:
    """`node` (a schema, or a list of schemas) without its `title`s and `discriminator`s."""
    if isinstance(node, list):
        return [_untitled(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("title", "discriminator"):
            continue
        if key in _SCHEMA_MAPS:
            out[key] = {name: _untitled(v) for name, v in value.items()}
        else:
            out[key] = value if key in _DATA else _untitled(value)
    return out


def _tags(definition: Any) -> list[str]:
    """The values of a definition's `type` where that is a tag a union tells the models apart by."""
    tag = definition.get("properties", {}).get("type") if isinstance(definition, dict) else None
    if not isinstance(tag, dict) or "description" in tag or "type" not in definition.get("required", ()):
        return []
    values = [tag["const"]] if "const" in tag else tag.get("enum", [])
    return values if values and all(isinstance(v, str) for v in values) else []


def _editor_annotations(json_schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without titles and discriminators, each model's tag (`type`) described by the first paragraph
    of its docstring and, where completion would take it for a prefix of another, bounded by a `pattern` too
    (see `KspecJsonSchema`)."""
    json_schema = _untitled(json_schema)
    defs = json_schema.get("$defs", {})
    every = {value for definition in defs.values() for value in _tags(definition)}
    for definition in defs.values():
        values = _tags(definition)
        if not values:
            continue
        tag = definition["properties"]["type"]
        first, _, rest = definition.get("description", "").strip().partition("\n\n")
        if first:
            # Moved, not copied: the model keeps the rest of its docstring (the schema stays near 400 KB).
            tag["description"] = " ".join(first.split())
            if rest.strip():
                definition["description"] = rest.strip()
            else:
                definition.pop("description", None)
        if any(v != o and (v.startswith(o) or o.startswith(v)) for v in values for o in every - set(values)):
            tag["pattern"] = "^(?:" + "|".join(re.escape(v) for v in values) + ")" + END
    return json_schema


#: The key that `shared` puts in a schema, replaced by a `$ref` in the published schema.
_SHARED = "$kspec-shared"


def shared(name: str) -> dict[str, Any]:
    """`json_schema_extra` for a field, or an annotated type, that many models have alike: the JSON Schema holds
    its schema once, as the definition `name` (with the description), and a `$ref` to it where it is used."""
    return {_SHARED: name}


def _hoist_shared(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with each schema marked by `shared` moved to `defs` and replaced by a `$ref` to it, beside the use's
    `default` and, where it has one of its own, its `description`; the uses of a name must agree otherwise."""
    if isinstance(node, list):
        return [_hoist_shared(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _hoist_shared(v, defs) for k, v in node.items()}
    name = node.pop(_SHARED, None)
    if name is None:
        return node
    use = {k: v for k, v in node.items() if k == "default"}
    definition = {k: v for k, v in node.items() if k != "default"}
    known = defs.setdefault(name, definition)
    if known != definition:
        if {**known, "description": None} != {**definition, "description": None}:
            raise ValueError(f"The uses of the shared schema {name!r} differ: {known} and {definition}")
        if "description" in definition:
            use["description"] = definition["description"]
    return {"$ref": f"#/$defs/{name}", **use}


def _nullable_refs(node: Any, names: tuple[str, ...], used: set[str]) -> Any:
    """`node` with each `anyOf: [{$ref: X}, {type: null}]` of an X in `names` made `$ref: OptionalX` (the names
    met are added to `used`)."""
    if isinstance(node, list):
        return [_nullable_refs(v, names, used) for v in node]
    if not isinstance(node, dict):
        return node
    branches = node.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and branches[1] == {"type": "null"}:
        name = branches[0].get("$ref", "").removeprefix("#/$defs/") if set(branches[0]) == {"$ref"} else ""
        if name in names:
            used.add(name)
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return {"$ref": f"#/$defs/Optional{name}", **rest}
    return {k: _nullable_refs(v, names, used) for k, v in node.items()}


#: The largest double. (An integer beyond it, where a float goes, is rounded to it by kspec up to
#: 2**1024 - 2**970, refused from there on; JSON parsers that read numbers as doubles never see one.)
FLOAT_MAX = sys.float_info.max


def exact_int(value: Any) -> Any:
    """Refuse a boolean or a float where an integer `Literal` goes: a Literal matches by equality,
    so without this `true` and `1.0` would be taken for `1` (kspec never coerces)."""
    if isinstance(value, (bool, float)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


ExactInt = BeforeValidator(exact_int)


def to_keras_value(value: Any) -> Any:
    if isinstance(value, KspecModel):
        return value.to_keras()
    if isinstance(value, tuple):
        return tuple(to_keras_value(v) for v in value)
    if isinstance(value, list):
        return [to_keras_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_keras_value(v) for k, v in value.items()}
    return value


Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN, max_length=128, description="A name: letters, digits and '_'; not starting with a digit."
    ),
]
Ref = Annotated[
    str,
    Field(
        pattern=REF_PATTERN,
        max_length=257,
        description="A name, or `USE.OUTPUT`: one of the named outputs of a block use.",
    ),
]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Seed = Annotated[
    int,
    Field(ge=0, le=2**31 - 1, description="Random seed, for reproducible results.", json_schema_extra=shared("Seed")),
]
# Probability of dropping a unit. 1.0 is refused by policy: it zeroes everything and divides by zero.
Rate = Annotated[float, Field(ge=0, lt=1)]


# Validators are module-level classes, not closures, so that the compiled validator can be
# cached across processes (pickled); see kspec.spec._cache.


class _IntTuple:
    """`int -> (int,) * n`, `list -> tuple`; anything else is left for strict validation to report."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,) * self.n
        if isinstance(value, list):
            return tuple(value)
        return value


class _IntPairs:
    """`int -> ((int, int),) * n`; `[a, [b, c]] -> ((a, a), (b, c))`."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, value: Any) -> Any:
        n = self.n
        if isinstance(value, int) and not isinstance(value, bool):
            return ((value, value),) * n
        if isinstance(value, list) and len(value) == n:
            out = []
            for v in value:
                if isinstance(v, int) and not isinstance(v, bool):
                    out.append((v, v))
                elif isinstance(v, list):
                    out.append(tuple(v))
                else:
                    out.append(v)
            return tuple(out)
        if isinstance(value, list):
            return tuple(value)
        return value


def list_to_tuple(value: Any) -> Any:
    """`list -> tuple` (JSON has no tuples); anything else is left for strict validation to report."""
    return tuple(value) if isinstance(value, list) else value


# `int -> (int,)`, `list -> tuple`: for arguments that take one int or a list of them.
_int_or_list = _IntTuple(1)


def _int_type(minimum: int | None) -> Any:
    return int if minimum is None else Annotated[int, Field(ge=minimum)]


def _int_schema(minimum: int | None) -> dict[str, Any]:
    return {"type": "integer"} if minimum is None else {"type": "integer", "minimum": minimum}


def IntTuple(n: int, *, minimum: int | None = 1, description: str = "", nullable: bool = False) -> Any:
    """`int | [int] * n`, normalised to a tuple of n ints, each >= minimum (None: any int).

    With `nullable`, `null` too (Keras's 'same as another argument').
    """
    item = _int_schema(minimum)
    variants = [item, {"type": "array", "items": item, "minItems": n, "maxItems": n}]
    if nullable:
        variants.append({"type": "null"})
    schema: dict[str, Any] = {"anyOf": variants}
    if description:
        schema["description"] = description
    ints: Any = tuple[(_int_type(minimum),) * n]  # type: ignore[misc]  # built at run time, for pydantic
    return Annotated[ints | None if nullable else ints, BeforeValidator(_IntTuple(n)), WithJsonSchema(schema)]


def IntList(*, minimum: int | None = None, min_items: int = 1, nullable: bool = False) -> Any:
    """`int | [int, ...]` with at least `min_items` ints, each >= minimum (None: any int); normalised
    to a tuple (an int i is `(i,)`). With `nullable`, `null` too."""
    item = _int_schema(minimum)
    array: dict[str, Any] = {"type": "array", "items": item}
    if min_items:
        array["minItems"] = min_items
    schema = WithJsonSchema({"anyOf": [item, array] + ([{"type": "null"}] if nullable else [])})
    ints: Any = tuple[_int_type(minimum), ...]  # type: ignore[misc]  # built at run time, for pydantic
    if nullable:
        sized = Annotated[ints, Field(min_length=min_items)] if min_items else ints
        return Annotated[sized | None, BeforeValidator(_int_or_list), schema]
    length = (Field(min_length=min_items),) if min_items else ()
    return Annotated[(ints, BeforeValidator(_int_or_list), *length, schema)]


#: One axis or several, e.g. the axes a layer normalizes over: an int or a non-empty list, as a tuple.
Axes = IntList()


def IntPairs(n: int, *, description: str = "") -> Any:
    """Padding/cropping style: int, n ints, or n pairs of ints; normalised to n (before, after) pairs."""
    nn = {"type": "integer", "minimum": 0}
    pair = {"type": "array", "items": nn, "minItems": 2, "maxItems": 2}
    schema: dict[str, Any] = {
        "anyOf": [
            nn,
            {"type": "array", "items": {"anyOf": [nn, pair]}, "minItems": n, "maxItems": n},
        ]
    }
    if description:
        schema["description"] = description
    inner: Any = tuple[(tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]],) * n]  # type: ignore[misc]  # built at run time, for pydantic
    return Annotated[inner, BeforeValidator(_IntPairs(n)), WithJsonSchema(schema)]
