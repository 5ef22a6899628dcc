"""Embedding: turns integer indices into dense vectors of fixed size."""

from typing import Literal

from pydantic import Field

from ..base import PositiveFloat, PositiveInt
from ..objects import Constraint, Initializer, Regularizer
from ._base import INT_DTYPES, Inferred, Layer, ShapeError, Tensor, Weights


class Embedding(Layer):
    """Looks up a row of a trainable `(input_dim, output_dim)` matrix for every index of the input.

    Input shape: `(batch, ...)` of integer indices in `[0, input_dim)`.
    Output shape: `(batch, ..., output_dim)`, float32.
    Parameters: `input_dim * output_dim`, plus `lora_rank * (input_dim + output_dim)` with LoRA
    (the embeddings matrix then becomes non-trainable).

    kspec policy: the input must have an integer dtype. (Keras casts other inputs to int32,
    silently truncating floats.) Keras's default initializer "uniform" is spelled "random_uniform" here
    (the same RandomUniform(-0.05, 0.05)). `weights` and `quantization_config` are omitted.
    """

    type: Literal["Embedding"]
    input_dim: PositiveInt = Field(description="Size of the vocabulary: the largest index plus one.")
    output_dim: PositiveInt = Field(description="Dimension of the dense embedding.")
    embeddings_initializer: Initializer = Field(
        "random_uniform",
        description="Initializer for the `embeddings` matrix (Keras's default 'uniform', an alias of 'random_uniform').",
    )
    embeddings_regularizer: Regularizer = Field(None, description="Regularizer applied to the `embeddings` matrix.")
    embeddings_constraint: Constraint = Field(None, description="Constraint applied to the `embeddings` matrix.")
    mask_zero: bool = Field(
        False,
        description="Whether index 0 is a padding value to be masked out in later layers (recurrent and attention layers "
        "honour the mask). If true, index 0 cannot be used in the vocabulary.",
    )
    lora_rank: PositiveInt | None = Field(
        None,
        description="If set, enable LoRA: the embeddings are frozen and a trainable low-rank update of this rank is "
        "learned. Incompatible with `embeddings_constraint`.",
    )
    lora_alpha: PositiveFloat | None = Field(
        None,
        description="Scale of the LoRA update (`lora_alpha / lora_rank`); null means `lora_rank`. Used only with `lora_rank`.",
    )

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.dtype not in INT_DTYPES:
            raise ShapeError(
                "Layer 'Embedding' expects integer indices (kspec policy: Keras would cast the input to int32, "
                f"truncating floats). Expected one of {', '.join(INT_DTYPES)}. Received: dtype={x.dtype}",
                policy="embedding-integer-input",
            )
        if self.lora_rank is not None and self.embeddings_constraint is not None:
            raise ShapeError(
                "Lora is incompatible with embedding constraints: remove the `embeddings_constraint` argument "
                f"or `lora_rank`. Received: lora_rank={self.lora_rank}, embeddings_constraint={self.embeddings_constraint!r}",
                field="lora_rank",
            )
        weights: Weights = (("embeddings", (self.input_dim, self.output_dim)),)
        frozen = 0
        if self.lora_rank is not None:  # the table is frozen; two low-rank factors train
            weights += (("lora_a", (self.input_dim, self.lora_rank)), ("lora_b", (self.lora_rank, self.output_dim)))
            frozen = self.input_dim * self.output_dim
        return Inferred.with_weights(Tensor(x.shape + (self.output_dim,), "float32"), weights, frozen)


LAYERS = (Embedding,)
