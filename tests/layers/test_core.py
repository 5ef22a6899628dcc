import pytest
from hypothesis import given, settings, strategies as st

from .harness import (
    FILL,
    check_agrees,
    check_layer,
    check_refused_when_run,
    check_rejected,
    check_trains,
    keras_failure,
    keras_run,
    keras_symbolic,
    kspec_infer,
    kspec_refusal,
)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Dense", "units": 10}, (784,)),
        ({"type": "Dense", "units": 4, "use_bias": False, "activation": "relu"}, (3, 5)),
        ({"type": "Dense", "units": 2}, (None, 6)),
        ({"type": "Dense", "units": 3, "kernel_initializer": {"type": "RandomNormal", "stddev": 0.1}}, (4,)),
        ({"type": "Dense", "units": 3, "kernel_regularizer": {"type": "L2", "l2": 0.001}, "bias_constraint": "non_neg"}, (4,)),
        ({"type": "Activation", "activation": "softmax"}, (4, 5)),
        ({"type": "Dropout", "rate": 0.5}, (8,)),
        ({"type": "Dropout", "rate": 0.2, "noise_shape": [None, 1, 4]}, (3, 4)),
        ({"type": "Flatten"}, (28, 28, 1)),
        ({"type": "Flatten"}, (None, 3)),
        ({"type": "Identity"}, (2, 3)),
    ],
)
def test_core_layers_match_keras(spec, shape):
    assert check_layer(spec, shape) is not None


def test_dense_needs_known_last_axis():
    check_rejected({"type": "Dense", "units": 3}, (None,))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize(
    "spec",
    [{"type": "Dropout", "rate": 0.5}, {"type": "Activation", "activation": "relu"}, {"type": "Flatten"}, {"type": "Identity"}, {"type": "Dense", "units": 2}],
)
def test_core_layers_on_other_float_dtypes(spec, dtype):
    assert check_layer(spec, (3, 4), [dtype]) is not None


@pytest.mark.parametrize("dtype", ["int32", "bool"])
@pytest.mark.parametrize("spec", [{"type": "Flatten"}, {"type": "Identity"}, {"type": "Dense", "units": 2}])
def test_core_layers_that_take_any_dtype(spec, dtype):
    assert check_layer(spec, (3, 4), [dtype]) is not None
    assert check_trains(spec, (3, 4), [dtype])


@pytest.mark.parametrize("dtype", ["int32", "bool"])
@pytest.mark.parametrize(
    "spec",
    [{"type": "Dropout", "rate": 0.5}, {"type": "Dropout", "rate": 0.0}, {"type": "Activation", "activation": "relu"}, {"type": "Activation", "activation": "softmax"}],
)
def test_integer_input_is_refused_where_keras_declares_float_but_returns_integers(spec, dtype):
    check_refused_when_run(spec, (4,), [dtype], wrong_dtype=True)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "Dense", "units": 3}, (4,)),
        ({"type": "Dropout", "rate": 0.5}, (2, 3)),
        ({"type": "Activation", "activation": "tanh"}, (5,)),
        ({"type": "Flatten"}, (2, 2, 2)),
    ],
)
def test_core_layers_train_one_step(spec, shape):
    assert check_trains(spec, shape)


@pytest.mark.parametrize("rate, policy", [(0.5, None), (0.0, "noise-shape")])
def test_dropout_noise_shape_must_broadcast(rate, policy):
    """A noise_shape that cannot broadcast fails a training step at any rate above 0; at rate 0 Keras never
    builds the mask and runs, so kspec's refusal is a policy there (found on PyTorch by the properties)."""
    spec = {"type": "Dropout", "rate": rate, "noise_shape": [None, 1, 1, 2]}
    refusal = kspec_refusal(spec, (4, 4, 1))
    assert refusal is not None and refusal.policy == policy and refusal.field == "noise_shape"
    failure = keras_failure(spec, (4, 4, 1), train_step=True)
    assert (failure is None) == (rate == 0), failure


# ---- EinsumDense -------------------------------------------------------------------------------


def einsum(equation, output_shape, **kw):
    return {"type": "EinsumDense", "equation": equation, "output_shape": output_shape, **kw}


@pytest.mark.parametrize(
    "spec, shape, params",
    [
        (einsum("ab,bc->ac", 64, bias_axes="c"), (32,), 32 * 64 + 64),  # Dense(64)
        (einsum("...x,xy->...y", 6, bias_axes="y", activation="relu"), (3, 5), 36),  # Dense on every step
        (einsum("...x,xy->...y", 6), (5,), 30),  # the ellipsis covers the batch axis alone
        (einsum("...ab,bc->...ac", [3, 4], bias_axes="ac"), (2, 3, 5), 20 + 12),
        (einsum("ab...,bc->ac...", 4, bias_axes="c"), (8, 3, 2), 32 + 4),  # bias (4, 1, 1)
        (einsum("abc,cde->abde", [3, 3, 2], bias_axes="d"), (3, 4), 24 + 3),  # bias (3, 1), from 'd' on
        (einsum("abc,cd->ad", 4), (5, 8), 32),  # 'b' is summed over
        (einsum("ab,b->ab", 8), (8,), 8),  # an elementwise scale
        (einsum("abb,bc->ac", 4), (5, 5), 20),  # the diagonal of the input
        (einsum("abc,cd->abd", [3, 4], lora_rank=2, kernel_regularizer="l2"), (3, 8), 32 + 2 * (8 + 4)),
    ],
)
def test_einsum_dense_matches_keras(spec, shape, params):
    inferred = check_layer(spec, shape)
    assert inferred is not None and inferred.params == params


def test_einsum_dense_declares_what_output_shape_says():
    """Keras declares null where `output_shape` says null, even where the input knows the size (its docstring
    promises the size): kspec infers what Keras declares, and Keras computes a size that fits it."""
    spec = einsum("abc,cd->abd", [None, 64], bias_axes="d")
    assert check_layer(spec, (32, 128), eager=False).output.shape == (None, None, 64)
    assert keras_failure(spec, (32, 128), train_step=True) is None


def test_einsum_dense_lora_freezes_the_kernel():
    inferred = kspec_infer(einsum("ab,bc->ac", 3, lora_rank=2), (4,))
    assert (inferred.params, inferred.non_trainable) == (12 + 8 + 6, 12)
    assert [role for role, _ in inferred.weights] == ["kernel", "lora_a", "lora_b"]


@pytest.mark.parametrize(
    "spec, shape",
    [
        (einsum("ab, bc->ac", 4), (8,)),  # not one of the three forms
        (einsum("ab,bc->acx", [4, 2]), (8,)),  # 'x' comes from neither the input nor the kernel
        (einsum("ab,bcx->ac", 4), (8,)),  # the kernel's 'x' is in neither the input nor the output
        (einsum("ab,bc->ac", 4, bias_axes="b"), (8,)),  # a bias on an axis the output lacks
        (einsum("ab,bc->ac", []), (8,)),  # too few sizes in output_shape: an index error in Keras
        (einsum("ab,bc->c", 4), (8,)),  # the kernel's 'c' falls on the batch axis: unknown
        (einsum("abc,cd->abd", [4, 2]), (3, 8)),  # 'b' is 3 in the input, 4 in output_shape
        (einsum("abc,cd->abd", [3, 2]), (None, 8)),  # ... and unknown in the input
        (einsum("abcd,de->abce", [3, 2, 4]), (3, 8)),  # the equation's input names more axes than the input has
        (einsum("ab,bc->ac", 4, lora_rank=2, kernel_constraint="non_neg"), (8,)),
    ],
)
def test_einsum_dense_refused_like_keras(spec, shape):
    check_rejected(spec, shape)


@pytest.mark.parametrize(
    "spec, shape",
    [
        (einsum("ab,bc->ac", 4), (3, 8)),  # rank 3 for an equation of rank 2
        (einsum("ab,bc->acc", [4, 4]), (8,)),  # an output subscript twice
        (einsum("0b,bc->0c", 4), (8,)),  # Keras reads "..." as "0": a real 0 passes its reading
        (einsum("aab,bc->ac", 4), (3, 8)),  # the diagonal of the batch axis and an axis of 3
    ],
)
def test_einsum_dense_refused_where_keras_fails_when_run(spec, shape):
    check_refused_when_run(spec, shape, at_build=True, train_step=True)


@pytest.mark.parametrize(
    "spec, shape, declared, computed",
    [
        # Keras lists the axes of a leading ellipsis after the batch axis in reverse order (a Keras bug)
        (einsum("...b,bc->...c", 16), (3, 5, 8), (None, 5, 3, 16), (2, 3, 5, 16)),
        # Keras takes the start of the equation, einsum all of it
        (einsum("ab,bc->ac...", 4), (8,), (None, 4), (2, 4)),
        # more sizes than output subscripts: Keras declares them all
        (einsum("ab,bc->ac", [4, 3]), (8,), (None, 4, 3), (2, 4)),
        # the batch axis summed away: the output's first axis is the input's second
        (einsum("abc,cd->bd", 4), (5, 8), (None, 4), (5, 4)),
    ],
)
def test_einsum_dense_refused_where_keras_declares_another_shape(spec, shape, declared, computed):
    """Keras runs these, but declares an output other than the one the layer computes, so the layers after it
    are built for a shape they never get: refused by the `einsum-equation` policy."""
    assert kspec_refusal(spec, shape).policy == "einsum-equation"
    assert tuple(keras_symbolic(spec, shape).shape) == declared
    assert tuple(keras_run(spec, shape).shape) == computed


def test_einsum_dense_palindromic_ellipsis_agrees():
    """Where the reversed axes of a leading ellipsis are the same sizes, Keras declares the right shape."""
    assert check_layer(einsum("...b,bc->...c", 16), (4, 4, 8)).output.shape == (None, 4, 4, 16)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])
def test_einsum_dense_on_integers_is_portable_where_no_axis_is_contracted(dtype):
    """TensorFlow and JAX promote an integer input; PyTorch's einsum fails where it contracts an axis of size
    above 1 with the float kernel (measured on each backend)."""
    refusal = kspec_refusal(einsum("ab,bc->ac", 3), (4,), [dtype])
    assert refusal.policy == "portability" and refusal.backends == ("torch",)
    assert check_trains(einsum("ab,bc->ac", 3), (1,), [dtype])  # a contracted axis of size 1
    assert check_trains(einsum("ab,c->abc", [4, 3]), (4,), [dtype])  # an outer product


def test_einsum_dense_lora_regularizer_must_fit_the_factors():
    """Keras regularizes the LoRA factors with the kernel's regularizer: an OrthogonalRegularizer on a factor of
    one row has no pairs to compare (a NaN penalty)."""
    spec = einsum("ab,bc->ac", 4, lora_rank=1, kernel_regularizer={"type": "OrthogonalRegularizer"})
    assert kspec_refusal(spec, (8,)).field == "kernel_regularizer"
    assert check_layer({**spec, "lora_rank": 2}, (8,)) is not None


def test_einsum_dense_lora_alpha_without_rank_is_refused():
    assert kspec_refusal(einsum("ab,bc->ac", 4, lora_alpha=2.0), (8,)).policy == "ignored-argument"


EQUATIONS = [  # (equation, subscripts of output_shape, input rank without the batch axis or None: any)
    ("ab,bc->ac", "c", 1), ("abc,cd->abd", "bd", 2), ("abc,cd->ad", "d", 2), ("abc,cde->abde", "bde", 2),
    ("...b,bc->...c", "c", None), ("...ab,bc->...ac", "ac", None), ("ab...,bc->ac...", "c", None),
    ("ab,b->ab", "b", 1), ("abc,bd->acd", "cd", 2),
]


@st.composite
def einsum_cases(draw):
    """An equation on an input that mostly fits, with output_shape sizes drawn from the input where they are
    the input's (or null, or a wrong size), free elsewhere."""
    equation, named, rank = draw(st.sampled_from(EQUATIONS))
    rank = rank or draw(st.integers(1, 3))
    shape = tuple(draw(st.sampled_from([None, 1, 2, 3, 4])) for _ in range(rank))
    if draw(st.integers(0, 9)) == 0:
        shape = shape + (2,)  # a rank the equation may not take
    subscripts = equation.split("->")[0].replace("...", "")
    left = equation.startswith("...")
    elided = len(shape) + 1 - len(subscripts)
    sizes = {}
    for i, d in enumerate(subscripts):
        axis = i - len(subscripts) if left else i - 1
        if (left and -axis <= len(shape)) or (not left and 0 <= axis < len(shape)):
            sizes[d] = shape[axis]
    if left and elided == 0:
        named = named[1:]  # the ellipsis is empty: the first output subscript is the batch axis
    output_shape = [sizes[d] if d in sizes and draw(st.integers(0, 4)) else draw(st.sampled_from([None, 2, 3])) for d in named]
    spec = einsum(equation, output_shape)
    if draw(st.booleans()):
        out = equation.split("->")[1].replace("...", "")
        spec["bias_axes"] = "".join(draw(st.lists(st.sampled_from(out[1:] or out), min_size=1, max_size=2, unique=True)))
    return spec, shape


@settings(max_examples=15, deadline=None)
@given(einsum_cases())
def test_random_einsum_dense_agrees_with_keras(case):
    spec, shape = case
    inferred = check_agrees(spec, shape, eager=False, at_build=True, train_step=True)
    if inferred is not None:  # Keras computes a shape that fits the declared one (null: any size)
        y = keras_run(spec, shape)
        expected = kspec_infer(spec, shape, fill=FILL).output.shape
        assert all(e is None or e == got for e, got in zip(expected, tuple(y.shape))), (spec, shape, y.shape, expected)
