import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import check_layer, check_rejected, check_trains

# The harness feeds integer inputs drawn from [0, 5): every input_dim here is >= 5, since an
# index out of range fails on CPU (and, silently, gives zeros on GPU).
EMB = {"type": "Embedding", "input_dim": 10, "output_dim": 4}


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        (EMB, (6,), "int32"),
        (EMB, (None,), "int64"),
        (EMB, (), "int32"),  # one index per sample
        ({**EMB, "mask_zero": True}, (None,), "int32"),
        ({**EMB, "output_dim": 1}, (3, 4), "uint8"),
        ({**EMB, "embeddings_initializer": "random_uniform"}, (5,), "int16"),
        ({**EMB, "embeddings_initializer": {"type": "RandomNormal", "stddev": 0.1}, "embeddings_regularizer": "l2"}, (5,), "int32"),
        ({**EMB, "embeddings_constraint": {"type": "MaxNorm", "max_value": 1.0}}, (5,), "int32"),
        ({**EMB, "lora_rank": 2}, (5,), "int32"),  # embeddings frozen, 2 * (10 + 4) trainable
        ({**EMB, "lora_rank": 3, "lora_alpha": 0.5, "mask_zero": True}, (None, 2), "int64"),
    ],
)
def test_embedding_matches_keras(spec, shape, dtype):
    assert check_layer(spec, shape, [dtype]) is not None


def test_embedding_counts():
    inferred = parse_layer({**EMB, "lora_rank": 2}).infer([Tensor((None, 5), "int32")])
    assert (inferred.params, inferred.non_trainable) == (10 * 4 + 2 * (10 + 4), 10 * 4)
    assert inferred.output == Tensor((None, 5, 4), "float32")


def test_lora_with_constraint_rejected_like_keras():
    check_rejected({**EMB, "lora_rank": 2, "embeddings_constraint": "non_neg"}, (5,), ["int32"])


@pytest.mark.parametrize("dtype", ["float32", "float16", "bool", "string"])
def test_embedding_needs_integer_indices(dtype):
    # kspec policy: Keras would cast floats to int32 (truncating them) rather than refuse.
    with pytest.raises(ShapeError, match="integer indices"):
        parse_layer(EMB).infer([Tensor((None, 5), dtype)])


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Embedding", "input_dim": 10},
        {**EMB, "input_dim": 0},
        {**EMB, "output_dim": "4"},
        {**EMB, "mask_zero": 1},
        {**EMB, "lora_rank": 0},
        {**EMB, "embeddings_initializer": "uniform"},  # spelled "random_uniform" in kspec
        {**EMB, "weights": [[0.0]]},
        {**EMB, "input_length": 5},
    ],
)
def test_invalid_specs_refused_at_parse(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


@settings(max_examples=25, deadline=None)
@given(
    input_dim=st.integers(5, 40),
    output_dim=st.integers(1, 8),
    shape=st.lists(st.none() | st.integers(1, 4), max_size=3).map(tuple),
    dtype=st.sampled_from(["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]),
    mask_zero=st.booleans(),
    lora_rank=st.none() | st.integers(1, 4),
)
def test_random_embeddings_agree_with_keras(input_dim, output_dim, shape, dtype, mask_zero, lora_rank):
    spec = {**EMB, "input_dim": input_dim, "output_dim": output_dim, "mask_zero": mask_zero, "lora_rank": lora_rank}
    assert check_layer(spec, shape, [dtype]) is not None


# ---- ReversibleEmbedding, LoRA's arguments ------------------------------------------------------

REV = {**EMB, "type": "ReversibleEmbedding"}


@pytest.mark.parametrize(
    "spec, shape, dtype, params, non_trainable",
    [
        (REV, (6,), "int32", 40, 0),
        ({**REV, "tie_weights": False, "mask_zero": True}, (None,), "int64", 80, 0),  # the reverse matrix (4, 10)
        ({**REV, "lora_rank": 2}, (5,), "uint8", 40 + 28, 40),
    ],
)
def test_reversible_embedding_matches_keras(spec, shape, dtype, params, non_trainable):
    inferred = check_layer(spec, shape, [dtype])
    assert inferred is not None and (inferred.params, inferred.non_trainable) == (params, non_trainable)


def test_reversible_embedding_trains_forwards_with_an_unused_reverse_matrix():
    assert check_trains({**REV, "tie_weights": False}, (3,), ["int32"])
    # Keras enables LoRA (locking the weights) before it adds the untied reverse matrix, and fails
    check_rejected({**REV, "tie_weights": False, "lora_rank": 2}, (5,), ["int32"])
    for argument in ("reverse_dtype", "logit_soft_cap"):  # they act only in the reverse call
        with pytest.raises(ValidationError):
            parse_layer({**REV, argument: None})


def test_lora_arguments():
    """`lora_alpha` alone is ignored by Keras (a policy); Keras regularizes the LoRA factors with the embeddings'
    regularizer, which must fit them: an OrthogonalRegularizer has no pairs of rows in a factor of one row."""
    with pytest.raises(ShapeError, match="used only with `lora_rank`"):
        parse_layer({**EMB, "lora_alpha": 2.0}).apply([Tensor((None, 5), "int32")])
    orthogonal = {**EMB, "embeddings_regularizer": {"type": "OrthogonalRegularizer"}}
    with pytest.raises(ShapeError, match="LoRA factor lora_b"):
        parse_layer({**orthogonal, "lora_rank": 1}).apply([Tensor((None, 5), "int32")])
    assert check_layer({**orthogonal, "lora_rank": 2}, (5,), ["int32"]) is not None
