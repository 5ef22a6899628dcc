"""The two model forms: sequential (one input, an ordered list of layers) and graph (named nodes)."""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BeforeValidator, ConfigDict, Discriminator, Field, Tag, WithJsonSchema, model_validator

from .base import KspecModel, Name
from .blocks import BlockUse
from .layers import AnyLayer
from .layers._base import FLOAT_DTYPES, INT_DTYPES, NodeInputs

DType: TypeAlias = Literal[FLOAT_DTYPES + INT_DTYPES + ("bool", "string")]  # type: ignore[valid-type]


def _shape_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


InputShape = Annotated[
    tuple[Annotated[int, Field(ge=1)] | None, ...],
    BeforeValidator(_shape_to_tuple),
    Field(max_length=8),
    WithJsonSchema(
        {
            "type": "array",
            "maxItems": 8,
            "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            "description": "Shape of one example, without the batch axis; null for a dimension of variable size. "
            "Empty ([]) for a string input only: one string per example.",
        }
    ),
]


class Input(KspecModel):
    """A model input: `keras.Input(shape=..., dtype=..., name=...)`."""

    # `_shape_fits_dtype`, in the schema.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"dtype": {"not": {"const": "string"}}}},
            "then": {"properties": {"shape": {"minItems": 1}}},
        }
    )

    name: Name | None = Field(None, description="The input's name; required in the graph form.")
    shape: InputShape
    dtype: DType = Field(
        "float32",
        description="Element type; integer inputs feed Embedding layers, string inputs (TensorFlow backend only) the "
        "text layers (TextVectorization, StringLookup, Hashing, HashedCrossing).",
    )

    @model_validator(mode="after")
    def _shape_fits_dtype(self) -> "Input":
        if not self.shape and self.dtype != "string":
            raise ValueError(
                "An input's `shape` needs at least one axis (besides the batch axis); only a string input may have "
                "`shape: []` (one string per example). Received: shape=[], dtype=" + self.dtype
            )
        return self


def _layer_kind(value: Any) -> str:
    if (isinstance(value, dict) and "block" in value) or isinstance(value, BlockUse):
        return "node:block"
    return "node:layer"


SequentialItem = Annotated[
    Annotated[AnyLayer, Tag("node:layer")] | Annotated[BlockUse, Tag("node:block")],
    Discriminator(_layer_kind),
]


class SequentialModel(KspecModel):
    """A plain stack: one input, then each layer applied to the previous one's output. Compiles to `keras.Sequential`."""

    input: Input = Field(description="The model's single input.")
    layers: list[SequentialItem] = Field(min_length=1, description="The layers (and block uses), in order.")


class SharedNode(KspecModel):
    """A second (third, ...) call of another node's layer: same weights, new inputs."""

    name: Name = Field(description="The name of this call's output tensor.")
    shares: Name = Field(description="The node whose layer (and weights) this node reuses.")
    inputs: NodeInputs = Field(description="The input or node names this call is applied to, in order.")


def _node_kind(value: Any) -> str:
    if (isinstance(value, dict) and "block" in value) or isinstance(value, BlockUse):
        return "node:block"
    if (isinstance(value, dict) and "shares" in value) or isinstance(
        value, SharedNode
    ):  # data, or a model being serialised
        return "node:shared"
    return "node:layer"


GraphNode = Annotated[
    Annotated[AnyLayer, Tag("node:layer")]
    | Annotated[SharedNode, Tag("node:shared")]
    | Annotated[BlockUse, Tag("node:block")],
    Discriminator(_node_kind),
]


class GraphModel(KspecModel):
    """Named nodes, each naming its inputs: several inputs and outputs, shared layers. Compiles to a Functional model."""

    inputs: list[Input] = Field(min_length=1, description="The model's inputs, each with a name.")
    nodes: list[GraphNode] = Field(
        min_length=1,
        description="Layers, each with a `name` and the `inputs` it is applied to; `{name, shares, inputs}` to call "
        "another node's layer again; or `{block, name, inputs, ...}` to use a block.",
    )
    outputs: NodeInputs = Field(description="The names of the nodes whose tensors the model returns, in order.")


def _model_kind(value: Any) -> str:
    if isinstance(value, dict) and ("nodes" in value or "outputs" in value or "inputs" in value):
        return "model:graph"
    if isinstance(value, GraphModel):  # a model being serialised
        return "model:graph"
    return "model:sequential"


AnyModel = Annotated[
    Annotated[SequentialModel, Tag("model:sequential")] | Annotated[GraphModel, Tag("model:graph")],
    Discriminator(_model_kind),
    Field(
        description="The model: the sequential form (`input`, `layers`) or the graph form (`inputs`, `nodes`, `outputs`)."
    ),
]
