"""Reusable, parameterised blocks: their definitions (`blocks:`) and their uses (`{block: NAME, ...}`).

A block is a small sub-graph with parameters: `layers` (a chain, one input and one output) or
`inputs`, `nodes` and `outputs` (a graph, like the model's graph form). Its body is checked when it
is instantiated, with the parameters substituted (`kspec.expand`), so here it is plain data: layer
mappings whose values may be `${...}` expressions on the parameters (`kspec.expr`).
"""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from .base import END, NAME_PATTERN, KspecModel, Name
from .layers._base import NodeInputs, _str_or_list

ParamType = Literal["int", "float", "bool", "str", "list", "any"]

#: Keys of a block use that are not parameters, and names a parameter cannot take.
RESERVED = frozenset({"block", "name", "inputs", "repeat", "index", "type", "shares"})


class Param(KspecModel):
    """A block parameter: its type and, when it is optional, its default."""

    type: ParamType = Field(
        "any", description="The parameter's type: int, float (an int is accepted), bool, str, list or any."
    )
    default: Any = Field(
        None, description="The value when a use leaves the parameter out; without `default` the parameter is required."
    )
    description: str | None = Field(None, max_length=10_000, description="Free text for people.")

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set


BodyItem = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": "A layer (`{type: ..., ...}`), a shared call (`{name, shares, inputs}`) or a block use "
            "(`{block: ..., ...}`); values may be `${...}` expressions on the block's parameters. Checked when the "
            "block is used, with the parameters substituted.",
        }
    ),
]


#: Inside a block, a node's name is only the last part of its Keras name (the use's name comes first), so
#: it may start with a digit (`1_conv`, as Keras's own applications name theirs): write such names quoted
#: when they are all digits ("1"), which YAML would read as a number.
LOCAL_NAME_PATTERN = rf"^[A-Za-z0-9_]+{END}"
LOCAL_REF_PATTERN = rf"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?{END}"
LocalRefs = Annotated[
    list[Annotated[str, Field(pattern=LOCAL_REF_PATTERN, max_length=257)]],
    BeforeValidator(_str_or_list),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": LOCAL_REF_PATTERN, "maxLength": 257},
                {
                    "type": "array",
                    "items": {"type": "string", "pattern": LOCAL_REF_PATTERN, "maxLength": 257},
                    "minItems": 1,
                },
            ]
        }
    ),
]


_INPUT_NAME = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 128}
BlockInputs = Annotated[
    list[Name],
    BeforeValidator(_str_or_list),
    Field(min_length=1),
    WithJsonSchema({"anyOf": [_INPUT_NAME, {"type": "array", "items": _INPUT_NAME, "minItems": 1}]}),
]


class Block(KspecModel):
    """A reusable sub-graph: `layers` (a chain: one input, one output), or `inputs`, `nodes` and `outputs`."""

    description: str | None = Field(None, max_length=10_000, description="Free text for people.")
    params: dict[Name, ParamType | Param] = Field(
        default_factory=dict,
        description="The block's parameters by name: a type (`filters: int`, required) or `{type, default, description}`.",
    )
    layers: list[BodyItem] | None = Field(
        None, min_length=1, description="A chain of layers (and block uses): one input, one output."
    )
    inputs: BlockInputs | None = Field(
        None, description="Graph body: the names of the block's input tensors, in order."
    )
    nodes: list[BodyItem] | None = Field(
        None,
        min_length=1,
        description="Graph body: layers, shared calls and block uses, each with a `name` and `inputs`.",
    )
    outputs: LocalRefs | None = Field(
        None, description="Graph body: the names of the tensors the block returns, in order."
    )

    def param(self, name: str) -> Param:
        value = self.params[name]
        return Param(type=value) if isinstance(value, str) else value


_PARAM_VALUE: JsonDict = {
    "description": "An argument of the block: a value of the parameter's type, or a `${...}` expression."
}


class BlockUse(KspecModel):
    """An instance of a block: `{block: NAME, name, inputs, repeat, PARAM: VALUE, ...}`."""

    model_config = ConfigDict(
        **{**KspecModel.model_config, "extra": "allow", "json_schema_extra": {"additionalProperties": _PARAM_VALUE}}
    )

    block: Name = Field(description="The block to instantiate (a key of `blocks`).")
    name: Name | None = Field(
        None,
        description="The name of this use: the prefix of its Keras layer names, and (graph form) how other nodes "
        "refer to its output (`NAME`, or `NAME.OUTPUT` for one of several outputs). Default: the block's name.",
    )
    inputs: NodeInputs | None = Field(
        None, description="Graph form only: the input or node names the block is applied to."
    )
    repeat: (
        Annotated[int, Field(ge=0, le=10_000)]
        | Annotated[str, Field(pattern=r"^\$\{[\s\S]*\}(?![\s\S])", max_length=1010)]
    ) = Field(
        1,
        description="How many times the block is applied in a row, each output feeding the next repetition; "
        "`index` (0, 1, ...) in an argument's expression is the repetition. 0 passes the inputs through.",
    )

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


__all__ = ["Block", "BlockUse", "Param", "ParamType", "RESERVED"]
