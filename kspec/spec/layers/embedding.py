"""Embedding and ReversibleEmbedding: turn integer indices into dense vectors of fixed size.

ReversibleEmbedding is called forwards only: its reverse call (`reverse=True`, a projection of vectors back to
logits over the vocabulary with the transposed table) is a call argument, which a spec cannot give.
"""

from typing import Literal

from pydantic import Field

from ..base import PositiveFloat, PositiveInt
from ..objects import Constraint, Initializer, Regularizer
from ._base import INT_DTYPES, Inferred, Layer, ShapeError, Tensor, Weights
from ._cost import elements
from .core import lora_weights


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

    def makes_mask(self) -> bool:
        return self.mask_zero

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A lookup does no arithmetic on the values; XLA counts one operation per output value (the gather's
        select) and 6 per id (clamping it into range), which this follows."""
        return elements(output.shape) + 6 * elements(inputs[0].shape)

    def reads_ids_below(self) -> int | None:
        return self.input_dim

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.dtype not in INT_DTYPES:
            raise ShapeError(
                "Layer 'Embedding' expects integer indices (kspec policy: Keras would cast the input to int32, "
                f"truncating floats). Expected one of {', '.join(INT_DTYPES)}. Received: dtype={x.dtype}",
                policy="embedding-integer-input",
            )
        table = (self.input_dim, self.output_dim)
        lora, frozen = lora_weights(self, "embeddings", table)  # the table is frozen; two low-rank factors train
        weights: Weights = (("embeddings", table),) + self._more_weights() + lora
        return Inferred.with_weights(Tensor(x.shape + (self.output_dim,), "float32"), weights, frozen)

    def _more_weights(self) -> Weights:
        return ()


class ReversibleEmbedding(Embedding):
    """An Embedding that Keras can also call in reverse, to project vectors back to logits over the vocabulary;
    kspec calls it forwards only, as an Embedding.

    Input shape: `(batch, ...)` of integer indices in `[0, input_dim)`.
    Output shape: `(batch, ..., output_dim)`, float32.
    Parameters: as Embedding's, plus an `(output_dim, input_dim)` matrix for the reverse projection with
    `tie_weights: false` (which the forward call leaves untrained; Keras fails to add it with LoRA).

    The reverse call (`reverse=True`) is a call argument, which a spec cannot give; `reverse_dtype` and
    `logit_soft_cap` act only in it, and are omitted.
    """

    type: Literal["ReversibleEmbedding"]  # type: ignore[assignment]
    tie_weights: bool = Field(
        True,
        description="Whether the reverse projection uses the transposed embeddings (true) or a matrix of its own "
        "(false: an extra `(output_dim, input_dim)` weight, unused by the forward call).",
    )

    def _more_weights(self) -> Weights:
        if self.tie_weights:
            return ()
        if self.lora_rank is not None:
            raise ShapeError(
                "Layer 'ReversibleEmbedding' cannot untie its reverse matrix with LoRA: Keras enables LoRA, which "
                "locks the layer's weights, before it adds the reverse matrix, and then fails to add it. Received: "
                f"tie_weights=False, lora_rank={self.lora_rank}",
                field="tie_weights",
            )
        return (("reverse_embeddings", (self.output_dim, self.input_dim)),)


LAYERS = (Embedding, ReversibleEmbedding)
