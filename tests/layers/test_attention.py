import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.spec.layers import ShapeError, Tensor, parse_layer

from .harness import FILL, check_agrees, check_layer, check_refused_when_run, check_rejected, kspec_refusal, staggered

MHA = {"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 3}
ATT = {"type": "Attention"}

# Keras's symbolic shape rule checks less than kspec's: a refusal is justified where Keras fails to
# build the layer or to run it, with the unknown dims filled with 7, or 7 + axis (so that axes differ).
FAILS = {"at_build": True, "fills": (FILL, staggered)}


@pytest.mark.parametrize(
    "spec, shapes",
    [
        (MHA, [(4, 8), (4, 8)]),  # self-attention
        (MHA, [(5, 8), (3, 6)]),  # cross-attention, key = value
        (MHA, [(5, 8), (3, 6), (3, 4)]),  # with a key
        (MHA, [(None, 8), (None, 8)]),
        ({**MHA, "value_dim": 5, "use_bias": False, "dropout": 0.1}, [(4, 8), (2, 6), (2, 7)]),  # dropout: see the portability test below
        ({**MHA, "output_shape": 10}, [(4, 8), (4, 8)]),
        ({**MHA, "output_shape": [2, 3]}, [(4, 8), (4, 8)]),
        ({**MHA, "use_gate": True, "value_dim": 4, "dropout": 0.1}, [(4, 8), (6, 5)]),
        ({**MHA, "dropout": 0.1, "seed": 3}, [(4, 8), (4, 8)]),
        ({**MHA, "sliding_window": 2}, [(4, 8), (6, 8)]),
        ({**MHA, "sliding_window": 1, "attention_axes": 1, "dropout": 0.1}, [(3, 4, 8), (5, 4, 8)]),
        ({**MHA, "attention_axes": [1, 3]}, [(2, 3, 4, 8), (3, 3, 2, 6)]),  # 5-D inputs
        ({**MHA, "attention_axes": [1, 2]}, [(3, 4, 8), (2, 5, 6)]),
        ({**MHA, "attention_axes": 2}, [(3, 4, 8), (3, 5, 6)]),
        ({**MHA, "attention_axes": -2}, [(3, 4, 8), (3, 5, 6)]),
        ({**MHA, "attention_axes": [1]}, [(4, 8), (5, 8)]),
        ({**MHA, "kernel_regularizer": "l2", "bias_constraint": "non_neg", "kernel_initializer": "he_normal"}, [(4, 8), (4, 8)]),
        (ATT, [(4, 8), (3, 8)]),
        (ATT, [(4, 8), (3, 6), (3, 8)]),
        ({**ATT, "use_scale": True}, [(4, 8), (3, 8)]),
        ({**ATT, "score_mode": "concat"}, [(4, 8), (3, 8)]),
        ({**ATT, "score_mode": "concat", "use_scale": True, "dropout": 0.2}, [(None, 8), (None, 5), (None, 8)]),
        ({**ATT, "score_mode": "concat"}, [(4, 1), (3, 5), (3, 6)]),  # broadcast in concat scores
        (ATT, [(2, 4, 8), (2, 3, 8)]),  # extra leading axis
    ],
)
def test_attention_layers_match_keras(spec, shapes):
    assert check_layer(spec, shapes) is not None


def test_mha_input_dtypes():
    # The projections promote integer inputs to float32 on TensorFlow and JAX (unlike Attention, whose softmax
    # needs floats); PyTorch's fail on them, so kspec refuses integers everywhere (portability), checked on this backend.
    assert check_layer(MHA, [(4, 8), (4, 8)], ["float64", "float64"]) is not None
    for dtype in ("int32", "uint8", "bool"):
        refusal = kspec_refusal(MHA, [(4, 8), (4, 8)], [dtype, dtype])
        assert refusal is not None and (refusal.policy, refusal.backends) == ("portability", ("torch",))
        check_agrees(MHA, [(4, 8), (4, 8)], [dtype, dtype])


def test_mha_parameter_count():
    inferred = parse_layer({**MHA, "value_dim": 5, "dropout": 0.1}).infer([Tensor((None, 4, 8)), Tensor((None, 3, 6)), Tensor((None, 3, 7))])
    query, key, value = 8 * 6 + 6, 7 * 6 + 6, 6 * 10 + 10
    output = 10 * 8 + 8
    assert inferred.params == query + key + value + output
    assert inferred.output.shape == (None, 4, 8)


@pytest.mark.parametrize(
    "spec, shapes",
    [
        (MHA, [(4, 8), (3, 6), (4, 6)]),  # value and key differ in length
        (MHA, [(4, 8), (None, 6), (3, 6)]),  # unknown vs known counts as different
        (MHA, [(4, None), (4, 8)]),  # unknown query features
        (MHA, [(4, 8), (4, None)]),
    ],
)
def test_attention_layers_rejected_like_keras(spec, shapes):
    check_rejected(spec, shapes)


@pytest.mark.parametrize(
    "spec, shapes, dtypes",
    [
        (MHA, [(4, 8), (3, 2, 8)], None),  # ranks differ
        (MHA, [(8,), (8,)], None),  # 2-D: no sequence axis
        ({**MHA, "attention_axes": [1, 1]}, [(3, 4, 8), (3, 4, 8)], None),
        ({**MHA, "attention_axes": 2}, [(3, 4, 8), (5, 4, 8)], None),  # non-attention axis differs
        ({**MHA, "sliding_window": 2}, [(3, 4, 8), (3, 4, 8)], None),  # default axes (1, 2)
        ({**MHA, "sliding_window": 2, "attention_axes": 2}, [(3, 4, 8), (3, 5, 8)], None),
        ({**MHA, "attention_axes": 1}, [(2, 3, 4, 8), (3, 3, 4, 8)], None),  # 6-D scores: oneDNN softmax
        (ATT, [(4, 8), (3, 6)], None),  # dot: query and key dims differ
        ({**ATT, "score_mode": "concat"}, [(4, 8), (3, 6)], None),
        (ATT, [(4, 8), (3, 6), (2, 8)], None),  # key and value lengths differ
        (ATT, [(4, 8), (3, 8)], ["int32", "int32"]),
        (ATT, [(2, 4, 8), (3, 3, 8)], None),  # leading axes differ
    ],
)
def test_attention_layers_refused_where_keras_fails_when_run(spec, shapes, dtypes):
    check_refused_when_run(spec, shapes, dtypes, **FAILS)


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ({**MHA, "attention_axes": 0}, [(4, 8), (4, 8)]),  # Keras runs it: attention across the batch
        ({**MHA, "attention_axes": -1}, [(4, 8), (4, 8)]),  # Keras runs it: attention across the heads
        (ATT, [(8,), (8,)]),  # Keras runs it: 2-D inputs attend across the batch
        (ATT, [(4, 8), (None, 8), (3, 8)]),  # unknown vs known key/value lengths: may fail on data
        ({**MHA, "attention_axes": 2}, [(3, 4, 8), (None, 5, 6)]),  # unknown vs known non-attention axis
    ],
)
def test_attention_policies(spec, shapes):
    with pytest.raises(ShapeError):
        parse_layer(spec).infer([Tensor((None,) + s) for s in shapes])


def test_call_styles():
    assert parse_layer(MHA).call_style == "positional"
    assert parse_layer(ATT).call_style == "list"
    assert (parse_layer(MHA).min_inputs, parse_layer(MHA).max_inputs) == (2, 3)


@pytest.mark.parametrize(
    "spec",
    [
        {**MHA, "num_heads": 0},
        {**MHA, "output_shape": []},
        {**MHA, "attention_axes": []},
        {**MHA, "flash_attention": True},  # the TensorFlow backend refuses flash attention
        {**MHA, "dropout": 1.0},
        {**ATT, "score_mode": "additive"},
        {**ATT, "use_scale": 1},
    ],
)
def test_invalid_specs_refused_at_parse(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


# ---- properties -----------------------------------------------------------------------------------

dims = st.integers(1, 6)
lengths = st.none() | st.integers(1, 5)


@st.composite
def mha_cases(draw):
    spec = {
        **MHA,
        "num_heads": draw(st.integers(1, 3)),
        "key_dim": draw(dims),
        "use_bias": draw(st.booleans()),
        "use_gate": draw(st.booleans()),
    }
    if draw(st.booleans()):
        spec["value_dim"] = draw(dims)
    if draw(st.booleans()):
        spec["output_shape"] = draw(st.lists(dims, min_size=1, max_size=2))
    rank = draw(st.sampled_from([3, 3, 4, 4, 5]))
    if rank > 3 and draw(st.booleans()):
        middle_axes = list(range(1, rank - 1))
        axes = draw(st.lists(st.sampled_from(middle_axes), min_size=1, max_size=len(middle_axes), unique=True))
        spec["attention_axes"] = [a - rank if draw(st.booleans()) else a for a in axes]
    if draw(st.booleans()):
        spec["sliding_window"] = draw(st.integers(1, 3))
    middle = rank - 2
    small = lengths if rank < 5 else st.none() | st.integers(1, 3)
    q_mid = draw(st.lists(small, min_size=middle, max_size=middle))
    kv_mid = draw(st.lists(small, min_size=middle, max_size=middle))
    if draw(st.booleans()):
        kv_mid[:-1] = q_mid[:-1]  # usually agree on the non-attention axes
    shapes = [(*q_mid, draw(dims)), (*kv_mid, draw(dims))]
    if draw(st.booleans()):
        shapes.append((*kv_mid, draw(dims)))
    return spec, shapes


@settings(max_examples=25, deadline=None)
@given(mha_cases())
def test_random_multi_head_attention_agrees_with_keras(case):
    check_agrees(*case, **FAILS)


@st.composite
def attention_cases(draw):
    spec = {**ATT, "use_scale": draw(st.booleans()), "score_mode": draw(st.sampled_from(["dot", "concat"]))}
    tq, tv = draw(lengths), draw(lengths)
    dim = draw(dims)
    # The key's (or, without a key, the value's) last dimension usually matches the query's.
    other = draw(st.sampled_from([dim, dim, 1, draw(dims)]))
    if draw(st.booleans()):
        shapes = [(tq, dim), (tv, draw(dims)), (draw(st.sampled_from([tv, draw(lengths)])), other)]
    else:
        shapes = [(tq, dim), (tv, other)]
    return spec, shapes


@settings(max_examples=25, deadline=None)
@given(attention_cases())
def test_random_attention_agrees_with_keras(case):
    check_agrees(*case, **FAILS)


@pytest.mark.parametrize("dtype", ["uint64", "uint8", "int32", "bool"])
def test_attention_takes_a_non_float_query_where_the_scores_stay_float(dtype):
    """With a float key (here the value), the scores are floats: Keras trains it on every backend (measured on
    each; a uint64 query was refused before, found by an independent random generator)."""
    layer = parse_layer({"type": "Attention"})
    assert layer.apply([Tensor((None, 3, 2), dtype), Tensor((None, 3, 2))]).output.shape == (None, 3, 2)
    with pytest.raises(ShapeError, match="scores feed a softmax"):
        layer.apply([Tensor((None, 3, 2), dtype), Tensor((None, 3, 2), "uint8")])


# ---- GroupQueryAttention and AdditiveAttention ------------------------------------------------------

GQA = {"type": "GroupQueryAttention", "head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2}
ADD = {"type": "AdditiveAttention"}


@pytest.mark.parametrize(
    "spec, shapes, params",
    [
        # query 4 -> (4 heads, 2), key and value 4 -> (2 heads, 2), output (4, 2) -> 4: kernels and biases
        (GQA, [(5, 4), (6, 4)], (32 + 8) + 2 * (16 + 4) + (32 + 4)),
        (GQA, [(5, 4), (6, 4), (6, 3)], (32 + 8) + (12 + 4) + (16 + 4) + (32 + 4)),  # a key of its own
        (GQA, [(None, 4), (None, 4)], (32 + 8) + 2 * (16 + 4) + (32 + 4)),
        ({**GQA, "use_gate": True, "use_bias": False}, [(5, 4), (6, 4)], 32 + 2 * 16 + 32 + 32),
        ({**GQA, "dropout": 0.3, "sliding_window": 2, "num_key_value_heads": 1}, [(5, 3), (6, 3)], (24 + 8) + 2 * (6 + 2) + (24 + 3)),
        (ADD, [(5, 4), (6, 4)], 4),  # one scale per query feature
        (ADD, [(5, 4), (6, 3), (6, 4)], 4),
        (ADD, [(5, 1), (6, 4)], 1),  # query and key features broadcast
        ({**ADD, "use_scale": False, "dropout": 0.2}, [(None, 4), (None, 1)], 0),
        (ADD, [(2, 5, 4), (2, 6, 4)], 4),  # a leading axis that all three share
    ],
)
def test_gqa_and_additive_attention_match_keras(spec, shapes, params):
    inferred = check_layer(spec, shapes)
    assert inferred is not None and inferred.params == params


@pytest.mark.parametrize(
    "spec, shapes",
    [
        (GQA, [(5, 4), (6, 3)]),  # the value must have the query's features
        (GQA, [(5, 4), (6, 4), (7, 4)]),  # key and value lengths differ
        ({**GQA, "num_query_heads": 3}, [(5, 4), (6, 4)]),  # 2 key/value heads do not divide 3 query heads
        (GQA, [(4,), (4,)]),  # 2-D
        (GQA, [(5, None), (6, None)]),  # unknown features
        (ADD, [(5, None), (6, 4)]),  # the scale needs the query's features
    ],
)
def test_gqa_and_additive_attention_rejected_like_keras(spec, shapes):
    check_rejected(spec, shapes)


@pytest.mark.parametrize(
    "spec, shapes, dtypes",
    [
        (GQA, [(2, 5, 4), (2, 6, 4)], None),  # 4-D: the projections expect 3-D
        (ADD, [(5, 4), (6, 3)], None),  # query and key features neither equal nor 1
        ({**ADD, "use_scale": False}, [(5, None), (6, 4)], None),
        (ADD, [(5, 4), (6, 4)], ["int32", "float32"]),  # TensorFlow adds int32 to float32: refused everywhere
    ],
)
def test_gqa_and_additive_attention_refused_where_keras_fails_when_run(spec, shapes, dtypes):
    check_refused_when_run(spec, shapes, dtypes, **FAILS)


def test_additive_attention_dtypes():
    """TensorFlow adds the query to the key as they are: other dtypes fail there (JAX and PyTorch promote them,
    measured on each backend); integers of one dtype take the tanh and train on every backend."""
    refusal = kspec_refusal(ADD, [(5, 4), (6, 4)], ["float32", "uint8"])
    assert (refusal.policy, refusal.backends) == ("portability", ("tensorflow",))
    assert check_layer(ADD, [(5, 4), (6, 4)], ["int32", "int32"]) is not None
    assert check_layer(ADD, [(5, 4), (6, 4), (6, 4)], ["float16", "int8", "float32"]) is not None  # a numeric value
    assert kspec_refusal(ADD, [(5, 4), (6, 4)], ["bool", "bool"]).backends == ("tensorflow",)


def test_gqa_input_dtypes():
    """As MultiHeadAttention's projections: PyTorch fails on integers with more than one feature."""
    refusal = kspec_refusal(GQA, [(5, 4), (6, 4)], ["int32", "float32"])
    assert (refusal.policy, refusal.backends) == ("portability", ("torch",))
    check_agrees(GQA, [(5, 4), (6, 4)], ["int32", "float32"])
    assert check_layer(GQA, [(5, 1), (6, 1)], ["uint8", "uint8"]) is not None


def test_gqa_and_additive_attention_policies_and_names():
    assert kspec_refusal(ADD, [(4,), (4,)]).policy == "attention-batch-mixing"
    assert (parse_layer(GQA).call_style, parse_layer(ADD).call_style) == ("positional", "list")
    assert parse_layer(GQA).base_name() == "grouped_query_attention"  # Keras's class is GroupedQueryAttention
    with pytest.raises(ValidationError):
        parse_layer({**GQA, "flash_attention": True})
    with pytest.raises(ValidationError):
        parse_layer({**ADD, "score_mode": "concat"})  # Keras takes it and ignores it


@st.composite
def gqa_cases(draw):
    kv_heads = draw(st.integers(1, 2))
    spec = {**GQA, "head_dim": draw(st.integers(1, 3)), "num_key_value_heads": kv_heads,
            "num_query_heads": kv_heads * draw(st.integers(1, 2)) + draw(st.sampled_from([0, 0, 0, 1])),
            "use_bias": draw(st.booleans()), "use_gate": draw(st.booleans())}
    if draw(st.booleans()):
        spec["dropout"] = 0.1
    if draw(st.booleans()):
        spec["sliding_window"] = draw(st.integers(1, 3))
    dim, tq, tv = draw(dims), draw(lengths), draw(lengths)
    shapes = [(tq, dim), (tv, draw(st.sampled_from([dim, dim, dim, draw(dims)])))]
    if draw(st.booleans()):
        shapes.append((draw(st.sampled_from([tv, tv, draw(lengths)])), draw(dims)))
    return spec, shapes


@settings(max_examples=12, deadline=None)
@given(gqa_cases())
def test_random_group_query_attention_agrees_with_keras(case):
    check_agrees(*case, **FAILS)


@st.composite
def additive_cases(draw):
    spec = {**ADD, "use_scale": draw(st.booleans())}
    tq, tv, dim = draw(lengths), draw(lengths), draw(dims)
    other = draw(st.sampled_from([dim, dim, 1, draw(dims)]))
    if draw(st.booleans()):
        shapes = [(tq, dim), (tv, draw(dims)), (draw(st.sampled_from([tv, draw(lengths)])), other)]
    else:
        shapes = [(tq, dim), (tv, other)]
    return spec, shapes


@settings(max_examples=12, deadline=None)
@given(additive_cases())
def test_random_additive_attention_agrees_with_keras(case):
    check_agrees(*case, **FAILS)
