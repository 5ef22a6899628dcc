"""Attention layers: MultiHeadAttention, GroupQueryAttention, (Luong-style) Attention and AdditiveAttention.

Each takes the inputs `[query, value]` or `[query, value, key]` (the key defaults
to the value). Keras computes their symbolic output shape without checking the
inputs against each other; the rules here add the checks whose failure would
only show when the layer runs (kspec promises that an accepted spec runs).
Where two inputs must agree on an axis, an unknown (None) dimension agrees only
with another unknown one, as in Keras's own key/value check: kspec cannot know
that the data will match.
"""

from math import prod
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..base import IntList, PositiveInt, Rate, Seed
from ..objects import Constraint, Initializer, Regularizer
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, Weights, autocast, shape_str
from ._cost import elements

# built at run time: to a type checker, any value
_OutputShape: Any = IntList(minimum=1, nullable=True)
_AttentionAxes: Any = IntList(nullable=True)

_INPUT_NAMES = ("query", "value", "key")


class _AttentionBase(Layer):
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 3
    #: Attention's softmax needs floats; MultiHeadAttention's projections promote integers to float32.
    _input_dtypes: ClassVar[tuple[str, ...]] = FLOAT_DTYPES

    def _portable_dtype(self, name: str, t: Tensor) -> None:
        """Refuse an input dtype that some backends fail on (measured on each by scripts/dtype_matrix.py)."""

    def _split(self, inputs: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        if not 2 <= len(inputs) <= 3:
            raise ShapeError(
                f"{self.layer_type} layer accepts 2 or 3 inputs, namely [query, value] or [query, value, key]. "
                f"Received: len(inputs)={len(inputs)}"
            )
        for name, t in zip(_INPUT_NAMES, inputs):
            self._portable_dtype(name, t)
            if t.dtype not in self._input_dtypes:
                kind = "numeric" if INT_DTYPES[0] in self._input_dtypes else "floating-point"
                raise ShapeError(f"Layer '{self.layer_type}' expects {kind} inputs. Received: {name}.dtype={t.dtype}")
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        return query, value, key

    def _sizes(self, inputs: list[Tensor], axes: tuple[int, ...] | None = None) -> tuple[int, int, int, int, int]:
        """Per example: the query's positions, the key's positions, the score count (each query position
        against the key positions along the attention `axes`, default every axis between batch and features),
        and the key's and value's feature sizes."""
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        if axes is None:
            axes = tuple(range(1, key.rank - 1))
        scores = elements(query.shape[:-1]) * prod(key.shape[a] or 1 for a in axes)
        return elements(query.shape[:-1]), elements(key.shape[:-1]), scores, key.shape[-1] or 1, value.shape[-1] or 1

    def _need_same_rank(self, query: Tensor, value: Tensor, key: Tensor, minimum: int) -> int:
        if query.rank < minimum:
            raise ShapeError(
                f"Layer '{self.layer_type}' expects a query of rank >= {minimum}: (batch, ..., Tq, dim). "
                f"Received: query_shape={shape_str(query.shape)}"
            )
        if value.rank != query.rank or key.rank != query.rank:
            # Keras sometimes runs mismatched ranks by broadcasting one tensor over the other's
            # leading axes; kspec refuses to guess that meaning (documented policy).
            raise ShapeError(
                f"Layer '{self.layer_type}' expects query, value and key of the same rank (kspec policy: Keras "
                "may broadcast a lower-rank tensor, with a meaning kspec refuses to guess). Received: "
                f"query_shape={shape_str(query.shape)}, value_shape={shape_str(value.shape)}, key_shape={shape_str(key.shape)}",
                policy="attention-same-rank",
            )
        return query.rank


class _ProjectedAttention(_AttentionBase):
    """Attention that projects its inputs with dense (EinsumDense) layers: any numeric input, called positionally."""

    call_style: ClassVar[str] = "positional"
    _input_dtypes: ClassVar[tuple[str, ...]] = FLOAT_DTYPES + INT_DTYPES + ("bool",)

    def _portable_dtype(self, name: str, t: Tensor) -> None:
        # TensorFlow and JAX promote integers and booleans in the projections; PyTorch's einsum fails on them
        # unless the input has a single feature (then it promotes them too)
        if t.shape[-1] != 1:
            self.refuse_on(
                t,
                "P",
                f" for its {name} (the projections of integers or booleans with more than one feature fail on PyTorch)",
            )


class MultiHeadAttention(_ProjectedAttention):
    """Multi-head attention (Vaswani et al. 2017). Called as `layer(query, value)` or `layer(query, value, key)`.

    Input shapes: query `(batch, <query dims>, query_dim)`, value `(batch, <key dims>, value_dim)`,
    key `(batch, <key dims>, key_dim)`, all of the same rank >= 3. The attention runs over
    `attention_axes` (default: all axes but the batch and the last); the other axes must agree
    between query and key. On inputs of rank >= 5, attend over more than one axis (see `infer`).
    Output shape: `(batch, <query dims>, *output_shape)`; `output_shape` defaults to `(query_dim,)`.
    Parameters: query, key and value projections to `num_heads` heads (plus a gate on the query with
    `use_gate`), and an output projection, each with a bias if `use_bias`.
    `flash_attention` is omitted: the TensorFlow backend refuses it.
    """

    type: Literal["MultiHeadAttention"]

    num_heads: PositiveInt = Field(description="Number of attention heads.")
    key_dim: PositiveInt = Field(description="Size of each attention head for query and key.")
    value_dim: PositiveInt | None = Field(
        None, description="Size of each attention head for value; null means `key_dim`."
    )
    dropout: Rate = Field(0.0, description="Dropout rate on the attention scores, in [0, 1).")
    use_bias: bool = Field(True, description="Whether the dense projections use bias vectors.")
    output_shape: _OutputShape = Field(
        None,
        description="The shape of the output's last axes (an int or a list of ints); null means the last dimension of the query.",
    )
    attention_axes: _AttentionAxes = Field(
        None,
        description="Axes of the query over which attention is applied (an int or a list of ints; negative counts "
        "from the end). They must be distinct, and neither the batch axis nor the last axis. "
        "null means all axes but the batch and the last.",
    )
    sliding_window: PositiveInt | None = Field(
        None,
        description="If set, each query position attends only to the key positions less than this distance away "
        "(a banded mask over axis 1). Needs attention over axis 1 only (the default for 3-D inputs).",
    )
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer for the projection kernels.")
    bias_initializer: Initializer = Field("zeros", description="Initializer for the projection biases.")
    kernel_regularizer: Regularizer = Field(None, description="Regularizer applied to the projection kernels.")
    bias_regularizer: Regularizer = Field(None, description="Regularizer applied to the projection biases.")
    activity_regularizer: Regularizer = Field(None, description="Regularizer applied to the projections' outputs.")
    kernel_constraint: Constraint = Field(None, description="Constraint applied to the projection kernels.")
    bias_constraint: Constraint = Field(None, description="Constraint applied to the projection biases.")
    use_gate: bool = Field(
        False, description="If true, gate the attention output with a sigmoid projection of the query (per head)."
    )
    seed: Seed | None = Field(None, description="Random seed for dropout.")

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """The query, key and value projections (a multiply-add per input value, head and head size, and the
        bias), the query's scaling, the scores (a multiply-add per score, head and key size), their softmax (4 per
        score), the weighted sum of the values, the gate, and the output projection."""
        q_len, k_len, scores, key_size, value_size = self._sizes(inputs, self._attention_axes(inputs[0].rank))
        heads, kd = self.num_heads, self.key_dim
        vd = self.value_dim or kd
        q_size, out = inputs[0].shape[-1] or 1, elements(output.shape)
        bias = self.use_bias
        count = (2 * q_size + bias) * q_len * heads * kd + (2 * key_size + bias) * k_len * heads * kd
        count += (2 * value_size + bias) * k_len * heads * vd + q_len * heads * kd
        count += scores * heads * (2 * kd + 4 + 2 * vd)
        if self.use_gate:
            count += (2 * q_size + bias + 4) * q_len * heads * vd
        return count + 2 * q_len * heads * vd * (out // max(q_len, 1)) + out * bias

    def _attention_axes(self, rank: int) -> tuple[int, ...]:
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        axes = tuple(a if a >= 0 else rank + a for a in self.attention_axes)
        if any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ShapeError(
                f"Argument `attention_axes` must be distinct axes of the query, neither the batch axis (0) nor the "
                f"last axis ({rank - 1}); valid: {list(range(1, rank - 1))} or {list(range(1 - rank, -1))}. "
                f"Received: attention_axes={list(self.attention_axes)}, query rank={rank}",
                field="attention_axes",
            )
        return axes

    def infer(self, inputs: list[Tensor]) -> Inferred:
        query, value, key = self._split(inputs)
        if value.shape[1:-1] != key.shape[1:-1]:
            raise ShapeError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={shape_str(value.shape)} and key_shape={shape_str(key.shape)}"
            )
        rank = self._need_same_rank(query, value, key, 3)
        axes = self._attention_axes(rank)
        for axis in range(1, rank - 1):
            if axis not in axes and query.shape[axis] != key.shape[axis]:
                raise ShapeError(
                    f"Axis {axis} is not an attention axis, so query and key must agree on it. "
                    f"Received: query_shape={shape_str(query.shape)}, key_shape={shape_str(key.shape)}, "
                    f"attention_axes={list(axes)}"
                )
        if self.sliding_window is not None and axes != (1,):
            # Keras builds the banded mask from the lengths of axis 1 only: over other axes it
            # fails, or (when sizes happen to broadcast, e.g. axis 1 of size 1) masks the wrong axis.
            raise ShapeError(
                "Argument `sliding_window` needs attention over axis 1 only (the default for 3-D inputs; "
                "kspec policy: Keras builds the window from axis 1 whatever the attention axes). "
                f"Received: sliding_window={self.sliding_window}, attention_axes={list(axes)}, "
                f"query_shape={shape_str(query.shape)}",
                field="sliding_window",
                policy="mha-sliding-window",
            )
        if len(axes) == 1 and rank >= 5:
            # The scores then have rank >= 6; TensorFlow's CPU softmax kernel (oneDNN) accepts at most 5-D.
            raise ShapeError(
                "Attention over a single axis of a query of rank >= 5 is refused (kspec policy: its scores "
                "have rank >= 6, which TensorFlow's CPU softmax refuses); attend over several axes. "
                f"Received: attention_axes={list(axes)}, query_shape={shape_str(query.shape)}",
                field="attention_axes",
                policy="mha-score-rank",
            )
        dims = {}
        for name, t in zip(_INPUT_NAMES, (query, value, key)):
            dims[name] = self.need_known(t, -1, f"last dimension of the {name}")

        heads, kd = self.num_heads, self.key_dim
        vd = self.value_dim or kd
        if vd != kd and rank == 3 and not self.dropout:
            # Without dropout, Keras attends with ops.dot_product_attention, which on JAX needs the
            # values' head size to be the keys' (found by the property test on the JAX backend).
            raise ShapeError(
                "MultiHeadAttention with a `value_dim` other than `key_dim` on 3-D inputs without dropout fails: "
                "Keras then uses the fused dot-product attention, which needs equal head sizes. Received: "
                f"key_dim={kd}, value_dim={vd}",
                field="value_dim",
                code="value",
                backends=("jax",),
            )
        out_tail = self.output_shape or (dims["query"],)

        def dense(kernel: tuple[int, ...], bias: tuple[int, ...]) -> Weights:
            """One projection (an EinsumDense): its kernel, and its bias with `use_bias`."""
            return (("kernel", kernel),) + ((("bias", bias),) if self.use_bias else ())

        weights = (
            dense((dims["query"], heads, kd), (heads, kd))
            + dense((dims["key"], heads, kd), (heads, kd))
            + dense((dims["value"], heads, vd), (heads, vd))
        )
        if self.use_gate:
            weights += dense((dims["query"], heads, vd), (heads, vd))
        weights += dense((heads, vd) + tuple(out_tail), tuple(out_tail))
        return Inferred.with_weights(Tensor(query.shape[:-1] + tuple(out_tail), "float32"), weights)


class GroupQueryAttention(_ProjectedAttention):
    """Grouped-query attention (Ainslie et al. 2023): `num_query_heads` query heads share `num_key_value_heads`
    key and value heads. Called as `layer(query, value)` or `layer(query, value, key)`.

    Input shapes: query `(batch, Tq, dim)`, value `(batch, Tv, dim)` (the query's features), key
    `(batch, Tv, key_dim)`; all 3-D. Output shape: the query's.
    Parameters: query projection to `num_query_heads` heads and key and value projections to
    `num_key_value_heads` heads of `head_dim` (plus a gate on the query with `use_gate`), and an output
    projection back to the query's features, each with a bias if `use_bias`.
    `flash_attention` is omitted: the TensorFlow backend refuses it.
    """

    type: Literal["GroupQueryAttention"]

    head_dim: PositiveInt = Field(description="Size of each attention head.")
    num_query_heads: PositiveInt = Field(description="Number of query attention heads.")
    num_key_value_heads: PositiveInt = Field(
        description="Number of key and value attention heads; must divide `num_query_heads`."
    )
    dropout: Rate = Field(0.0, description="Dropout rate on the attention scores, in [0, 1).")
    use_bias: bool = Field(True, description="Whether the dense projections use bias vectors.")
    sliding_window: PositiveInt | None = Field(
        None,
        description="If set, each query step attends only to the key steps less than this distance away "
        "(a banded mask).",
    )
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer for the projection kernels.")
    bias_initializer: Initializer = Field("zeros", description="Initializer for the projection biases.")
    kernel_regularizer: Regularizer = Field(None, description="Regularizer applied to the projection kernels.")
    bias_regularizer: Regularizer = Field(None, description="Regularizer applied to the projection biases.")
    activity_regularizer: Regularizer = Field(
        None, description="Regularizer applied to the projections' outputs and the layer's output."
    )
    kernel_constraint: Constraint = Field(None, description="Constraint applied to the projection kernels.")
    bias_constraint: Constraint = Field(None, description="Constraint applied to the projection biases.")
    use_gate: bool = Field(
        False, description="If true, gate the attention output with a sigmoid projection of the query (per head)."
    )
    seed: Seed | None = Field(None, description="Random seed for dropout.")

    def base_name(self) -> str:
        """Keras names an unnamed one after its class, GroupedQueryAttention (`keras.layers.GroupQueryAttention`)."""
        return "grouped_query_attention"

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """As MultiHeadAttention, with `num_key_value_heads` heads for the keys and values and
        `num_query_heads` for the queries, scores and output."""
        q_len, k_len, scores, key_size, value_size = self._sizes(inputs)
        hq, hkv, hd = self.num_query_heads, self.num_key_value_heads, self.head_dim
        q_size, out = inputs[0].shape[-1] or 1, elements(output.shape)
        bias = self.use_bias
        count = (2 * q_size + bias + 1) * q_len * hq * hd
        count += (2 * key_size + bias) * k_len * hkv * hd + (2 * value_size + bias) * k_len * hkv * hd
        count += scores * hq * (4 * hd + 4)
        if self.use_gate:
            count += (2 * q_size + bias + 4) * q_len * hq * hd
        return count + 2 * q_len * hq * hd * (out // max(q_len, 1)) + out * bias

    def infer(self, inputs: list[Tensor]) -> Inferred:
        query, value, key = self._split(inputs)
        if self.num_query_heads % self.num_key_value_heads:
            raise ShapeError(
                "`num_query_heads` must be divisible by `num_key_value_heads`. Received: "
                f"num_query_heads={self.num_query_heads}, num_key_value_heads={self.num_key_value_heads}",
                field="num_key_value_heads",
            )
        shapes = f"query_shape={shape_str(query.shape)}, value_shape={shape_str(value.shape)}, key_shape={shape_str(key.shape)}"
        if not query.rank == value.rank == key.rank == 3:
            raise ShapeError(
                "Layer 'GroupQueryAttention' expects query, value and key of rank 3: (batch, steps, features). "
                f"Received: {shapes}"
            )
        if query.shape[-1] != value.shape[-1]:
            raise ShapeError(
                "The last dimension of `query_shape` and `value_shape` must be equal, but are "
                f"{query.shape[-1]}, {value.shape[-1]}. Received: {shapes}"
            )
        if value.shape[1:-1] != key.shape[1:-1]:
            raise ShapeError(
                f"All dimensions of `value` and `key`, except the last one, must be equal. Received: {shapes}"
            )
        features = self.need_known(query, -1, "last dimension of the query")
        key_features = self.need_known(key, -1, "last dimension of the key")
        q_heads, kv_heads, size = self.num_query_heads, self.num_key_value_heads, self.head_dim

        def dense(kernel: tuple[int, ...], bias: tuple[int, ...]) -> Weights:
            """One projection (an EinsumDense): its kernel, and its bias with `use_bias`."""
            return (("kernel", kernel),) + ((("bias", bias),) if self.use_bias else ())

        weights = dense((features, q_heads, size), (q_heads, size)) + dense(
            (key_features, kv_heads, size), (kv_heads, size)
        )
        if self.use_gate:
            weights += dense((features, q_heads, size), (q_heads, size))
        weights += dense((features, kv_heads, size), (kv_heads, size))  # the value has the query's features
        weights += dense((q_heads, size, features), (features,))
        return Inferred.with_weights(Tensor(query.shape, "float32"), weights)


class _ScoredAttention(_AttentionBase):
    """Attention without projections (Attention, AdditiveAttention): scores of the query against the key, softmaxed
    over the key's steps, weight the value's steps. Called on a list: `layer([query, value])` or
    `layer([query, value, key])`."""

    call_style: ClassVar[str] = "list"

    dropout: Rate = Field(0.0, description="Dropout rate on the attention scores, in [0, 1).")
    seed: Seed | None = Field(None, description="Random seed for dropout.")

    #: Any numeric query and key, as long as the scores are floats; a numeric value.
    _input_dtypes: ClassVar[tuple[str, ...]] = FLOAT_DTYPES + INT_DTYPES + ("bool",)

    def _check_steps(self, query: Tensor, value: Tensor, key: Tensor) -> str:
        """The inputs' ranks and steps agree; returns the inputs' shapes, in words, for later messages."""
        rank = self._need_same_rank(query, value, key, 2)
        if rank == 2:
            raise ShapeError(
                f"Layer '{self.layer_type}' on rank-2 inputs (batch, dim) attends across the examples of the batch "
                "(kspec policy: each example's output would depend on the others'); give each example a sequence "
                f"axis, (batch, steps, dim). Received: query_shape={shape_str(query.shape)}",
                policy="attention-batch-mixing",
            )
        shapes = f"query_shape={shape_str(query.shape)}, value_shape={shape_str(value.shape)}, key_shape={shape_str(key.shape)}"
        for axis in range(1, rank - 2):
            if not query.shape[axis] == key.shape[axis] == value.shape[axis]:
                raise ShapeError(f"Query, value and key must agree on axis {axis}. Received: {shapes}")
        if key.shape[-2] != value.shape[-2]:
            raise ShapeError(f"Key and value must have the same number of timesteps (axis -2). Received: {shapes}")
        return shapes


class Attention(_ScoredAttention):
    """Dot-product attention (Luong-style). Called on a list: `layer([query, value])` or `layer([query, value, key])`.

    Input shapes: query `(batch, Tq, dim)`, value `(batch, Tv, value_dim)`, key `(batch, Tv, dim)`
    (more leading axes are allowed if all three agree on them).
    Output shape: `(batch, Tq, value_dim)`.
    Parameters: a scalar `scale` with `use_scale`, and a scalar `concat_score_weight` with `score_mode` "concat".
    """

    type: Literal["Attention"]

    use_scale: bool = Field(False, description="If true, learn a scalar that scales the attention scores.")
    score_mode: Literal["dot", "concat"] = Field(
        "dot",
        description='How the scores are computed from query and key: "dot" product, or "concat" (sum of tanh(query + key)).',
    )

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """The scores (a multiply-add per score and key size, or for `concat` an add and a multiply-add), their
        scaling, their softmax (4 per score), and the weighted sum of the values."""
        _, _, scores, key_size, value_size = self._sizes(inputs)
        per_score = (2 if self.score_mode == "dot" else 3) * key_size + self.use_scale + 4 + 2 * value_size
        return scores * per_score

    def infer(self, inputs: list[Tensor]) -> Inferred:
        query, value, key = self._split(inputs)
        if query.dtype not in FLOAT_DTYPES and key.dtype not in FLOAT_DTYPES:
            # Integer scores: the softmax over them fails on TensorFlow and PyTorch; JAX promotes signed integers,
            # and gives NaN on unsigned ones (measured on each backend, both ways round)
            signed = key.dtype in ("int8", "int16", "int32", "int64")
            self.refuse_on(key, "TP" if signed else "TJP", " for its key or its query (their scores feed a softmax)")
        if value.dtype == "bool":
            raise ShapeError(f"Layer 'Attention' expects a numeric value. Received: value.dtype={value.dtype}")
        shapes = self._check_steps(query, value, key)
        q, k = query.shape[-1], key.shape[-1]
        if self.score_mode == "dot" and q != k:
            raise ShapeError(
                f'With score_mode="dot", query and key must have the same last dimension. Received: {shapes}',
                field="score_mode",
            )
        if self.score_mode == "concat" and not (q == k or q == 1 or k == 1):
            raise ShapeError(
                'With score_mode="concat", the last dimensions of query and key must be equal or 1 (broadcast). '
                f"Received: {shapes}",
                field="score_mode",
            )
        weights: Weights = ((("scale", ()),) if self.use_scale else ()) + (
            (("concat_score_weight", ()),) if self.score_mode == "concat" else ()
        )
        return Inferred.with_weights(Tensor(query.shape[:-1] + (value.shape[-1],), "float32"), weights)


class AdditiveAttention(_ScoredAttention):
    """Additive attention (Bahdanau-style). Called on a list: `layer([query, value])` or `layer([query, value, key])`.

    The scores are `sum(scale * tanh(query + key))` over the features, for each query step against each key step.
    Input shapes: query `(batch, Tq, dim)`, value `(batch, Tv, value_dim)`, key `(batch, Tv, dim)` (more leading
    axes are allowed if all three agree on them); query and key features must be equal, or one of them 1.
    Output shape: `(batch, Tq, value_dim)`.
    Parameters: `scale`, one per query feature, with `use_scale`.
    """

    type: Literal["AdditiveAttention"]

    use_scale: bool = Field(True, description="If true, learn a scale for each query feature that weighs the scores.")

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """The scores (an add, the scale's multiply and a sum per score and key size; the tanh is
        transcendental), their softmax (4 per score), and the weighted sum of the values."""
        _, _, scores, key_size, value_size = self._sizes(inputs)
        return scores * ((2 + self.use_scale) * key_size + 4 + 2 * value_size)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        query, value, key = self._split(inputs)
        query_dtype, key_dtype = autocast(query.dtype), autocast(key.dtype)
        if query_dtype != key_dtype or query_dtype == "bool":
            # TensorFlow adds the query to the key as they are (JAX and PyTorch promote them)
            raise ShapeError(
                "Layer 'AdditiveAttention' adds its query to its key, so they need the same dtype (floating-point "
                f"ones count as float32), other than bool. Received: query.dtype={query.dtype}, key.dtype={key.dtype}",
                backends=("tensorflow",),
            )
        shapes = self._check_steps(query, value, key)
        q, k = query.shape[-1], key.shape[-1]
        if not (q == k or q == 1 or k == 1):
            raise ShapeError(
                "Layer 'AdditiveAttention' adds its query to its key, so their last dimensions must be equal or 1 "
                f"(broadcast). Received: {shapes}"
            )
        weights: Weights = ()
        if self.use_scale:  # one scale per query feature
            weights = (("scale", (self.need_known(query, -1, "last dimension of the query"),)),)
        return Inferred.with_weights(Tensor(query.shape[:-1] + (value.shape[-1],), "float32"), weights)


LAYERS = (MultiHeadAttention, GroupQueryAttention, Attention, AdditiveAttention)
