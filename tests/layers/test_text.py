"""Text and structured-data preprocessing layers against Keras: shapes, dtypes and outputs for given
vocabularies, refusals (where Keras fails when run or returns another dtype or shape than it declares),
argument errors, kspec's string-tensors policy, and adapt.

String inputs exist on Keras's TensorFlow backend only: those cases are skipped on the others.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pydantic import ValidationError

from kspec.compile import build_layer, call_layer
from kspec.spec.layers import ShapeError, parse_layer

from .harness import BATCH, check_agrees, check_layer, keras_failure, kspec_refusal

TF = keras.backend.backend() == "tensorflow"
needs_tf = pytest.mark.skipif(not TF, reason="string tensors exist on the TensorFlow backend only")

WORDS = np.array(["the cat sat", "a dog", "zz the", "cat cat dog", "b"], dtype=object)
V = ["the", "cat", "dog"]
IV = [3, 1, 7]


def batch(shape: tuple, dtype: str, seed: int = 0) -> np.ndarray:
    """A batch of BATCH examples (unknown dims: 3): texts for string inputs, small integers (in [0, 8)), or normal
    floats."""
    rng = np.random.default_rng(seed)
    size = (BATCH,) + tuple(3 if d is None else d for d in shape)
    if dtype == "string":
        return WORDS[rng.integers(0, len(WORDS), size)]
    if dtype.startswith(("int", "uint")):
        return rng.integers(0, 8, size).astype(dtype)
    return (rng.standard_normal(size) * 3).astype(dtype)


def keras_call(spec: dict, shapes: list[tuple], dtypes: list[str], data: list | None = None):
    """The Keras layer, called on `keras.Input`s (symbolic output) and on a batch (eager output)."""
    layer = parse_layer(spec)
    klayer = build_layer(layer)
    symbolic = call_layer(layer, klayer, [keras.Input(shape=s, dtype=d) for s, d in zip(shapes, dtypes)])
    data = data if data is not None else [batch(s, d, i) for i, (s, d) in enumerate(zip(shapes, dtypes))]
    eager = call_layer(layer, build_layer(layer), data)
    return symbolic, eager


def check_text(spec: dict, shapes, dtypes, data: list | None = None):
    """kspec and Keras agree symbolically (shape, dtype, parameters) and when run: the eager output has kspec's
    shape (unknown dims: any size) and dtype. Returns the eager output."""
    shapes = [shapes] if isinstance(shapes, tuple) else shapes
    dtypes = [dtypes] if isinstance(dtypes, str) else dtypes
    inferred = check_layer(spec, shapes, dtypes, eager=False)
    assert inferred is not None, f"kspec or Keras refuses {spec} on {shapes} {dtypes}"
    _, eager = keras_call(spec, shapes, dtypes, data)
    got = tuple(eager.shape)
    want = inferred.output.shape
    assert len(got) == len(want) and all(w is None or w == g for w, g in zip(want[1:], got[1:])), (spec, got, want)
    dtype = keras.backend.standardize_dtype(eager.dtype)
    if TF or inferred.output.dtype != "int64":  # JAX computes int64 as int32
        assert dtype == inferred.output.dtype, (spec, dtype, inferred.output.dtype)
    return eager


def keras_misbehaves(spec: dict, shapes, dtypes) -> str | None:
    """How Keras fails on a batch (with strings too): refuses to build, fails when run, or returns another dtype
    or shape than it declares; None if it runs as declared."""
    shapes = [shapes] if isinstance(shapes, tuple) else shapes
    dtypes = [dtypes] if isinstance(dtypes, str) else dtypes
    try:
        symbolic, eager = keras_call(spec, shapes, dtypes)
    except Exception as exc:  # noqa: BLE001 - any Keras failure counts
        return f"fails: {type(exc).__name__}"
    if keras.backend.standardize_dtype(eager.dtype) != symbolic.dtype:
        return f"returns {eager.dtype}, declares {symbolic.dtype}"
    declared = tuple(symbolic.shape)
    got = tuple(eager.shape)
    if len(got) != len(declared) or any(d is not None and d != g for d, g in zip(declared[1:], got[1:])):
        return f"returns shape {got}, declares {declared}"
    return None


def check_refused(spec: dict, shapes, dtypes, match: str = "") -> ShapeError:
    """kspec refuses, and Keras fails (or returns another dtype or shape than it declares)."""
    shapes_ = [shapes] if isinstance(shapes, tuple) else shapes
    dtypes_ = [dtypes] if isinstance(dtypes, str) else dtypes
    refusal = kspec_refusal(spec, shapes_, dtypes_)
    assert refusal is not None, f"kspec accepts {spec} on {shapes} {dtypes}"
    assert match in str(refusal), (match, str(refusal))
    if refusal.policy is None or (refusal.policy == "portability" and keras.backend.backend() in refusal.backends):
        assert keras_misbehaves(spec, shapes, dtypes) is not None, f"Keras runs {spec} on {shapes} {dtypes} as declared"
    return refusal


# ---- accepted: shapes, dtypes, values --------------------------------------------------------------------


@needs_tf
@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "TextVectorization", "vocabulary": V, "output_sequence_length": 5}, ()),
        ({"type": "TextVectorization", "vocabulary": V, "output_sequence_length": 5}, (1,)),
        ({"type": "TextVectorization", "vocabulary": V}, (1,)),
        ({"type": "TextVectorization", "vocabulary": V, "split": "character", "output_sequence_length": 4}, (1,)),
        ({"type": "TextVectorization", "vocabulary": V, "ngrams": 2, "output_sequence_length": 6}, ()),
        ({"type": "TextVectorization", "vocabulary": V, "ngrams": [1, 3], "standardize": None}, (1,)),
        ({"type": "TextVectorization", "vocabulary": V, "split": None}, (3,)),
        ({"type": "TextVectorization", "vocabulary": V, "split": None, "output_sequence_length": 2}, (3,)),
        ({"type": "TextVectorization", "vocabulary": V, "output_mode": "tf_idf", "idf_weights": [1, 2, 3]}, ()),
        (
            {"type": "TextVectorization", "vocabulary": ["[UNK]"] + V, "output_mode": "tf_idf", "idf_weights": [1] * 4},
            (),
        ),
        (
            {
                "type": "TextVectorization",
                "vocabulary": V,
                "output_mode": "tf_idf",
                "idf_weights": [1, 2, 3],
                "max_tokens": 9,
                "pad_to_max_tokens": True,
            },
            (),
        ),
        (
            {
                "type": "TextVectorization",
                "vocabulary": V,
                "output_mode": "tf_idf",
                "idf_weights": [1, 1, 1],
                "split": None,
            },
            (3,),
        ),
        ({"type": "StringLookup", "vocabulary": V}, (3,)),
        ({"type": "StringLookup", "vocabulary": V}, ()),
        ({"type": "StringLookup", "vocabulary": V, "mask_token": "", "num_oov_indices": 2}, (2, 3)),
        ({"type": "StringLookup", "vocabulary": V, "output_mode": "tf_idf", "idf_weights": [1, 2, 3]}, (3,)),
        ({"type": "StringLookup", "vocabulary": V, "output_mode": "tf_idf", "idf_weights": [1, 2, 3]}, (2, 2)),
        ({"type": "Hashing", "num_bins": 4}, ()),
        ({"type": "Hashing", "num_bins": 4, "mask_value": "the", "salt": [1, 2]}, (3,)),
        ({"type": "Hashing", "num_bins": 4, "output_mode": "multi_hot"}, (3,)),
    ],
)
def test_string_layers_agree_with_keras(spec, shape):
    check_text(spec, shape, "string")


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        ({"type": "IntegerLookup", "vocabulary": IV}, (3,), "int64"),
        ({"type": "IntegerLookup", "vocabulary": IV}, (2, 3), "int32"),
        ({"type": "IntegerLookup", "vocabulary": IV}, (3,), "float32"),
        (
            {
                "type": "IntegerLookup",
                "vocabulary": IV,
                "mask_token": 0,
                "oov_method": "farmhash",
                "num_oov_indices": 3,
            },
            (3,),
            "uint8",
        ),
        ({"type": "IntegerLookup", "vocabulary": IV, "output_mode": "tf_idf", "idf_weights": [1, 2, 3]}, (4,), "int32"),
        ({"type": "IntegerLookup", "vocabulary": IV, "invert": True}, (3,), "int64"),
        ({"type": "Hashing", "num_bins": 5}, (2, 3), "int32"),
        ({"type": "Hashing", "num_bins": 5, "mask_value": 0}, (3,), "int64"),
        ({"type": "Hashing", "num_bins": 5}, (3,), "float32"),
        ({"type": "Hashing", "num_bins": 5, "output_mode": "one_hot"}, (2, 1), "int32"),
        ({"type": "Hashing", "num_bins": 5, "output_mode": "count"}, (4,), "float32"),
        ({"type": "Hashing", "num_bins": 5, "output_mode": "multi_hot"}, (3, 3), "int32"),
        ({"type": "CategoryEncoding", "num_tokens": 8}, (3,), "int32"),
        ({"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "count"}, (3,), "int64"),
        ({"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "one_hot"}, (3,), "int32"),
        ({"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "one_hot"}, (2, 1), "int32"),
        ({"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "one_hot"}, (3,), "float32"),
        ({"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "multi_hot"}, (None, None), "int32"),
        ({"type": "Discretization", "bin_boundaries": [0.0, 1.5]}, (3,), "float32"),
        ({"type": "Discretization", "bin_boundaries": [-1, 0, 1]}, (2, None), "int32"),
        ({"type": "Discretization", "bin_boundaries": [0.0], "output_mode": "one_hot"}, (2, 1), "float32"),
        ({"type": "Discretization", "bin_boundaries": [0.0, 1.0], "output_mode": "multi_hot"}, (3,), "float32"),
        ({"type": "Discretization", "bin_boundaries": [0.0, 1.0], "output_mode": "count"}, (2, 3, 4), "float32"),
    ],
)
def test_numeric_layers_agree_with_keras(spec, shape, dtype):
    check_text(spec, shape, dtype)


@needs_tf
@pytest.mark.parametrize(
    "shapes, dtypes, mode",
    [
        ([(1,), (1,)], ["string", "int64"], "int"),
        ([(), ()], ["string", "string"], "int"),
        ([(1,), (1,)], ["int32", "int64"], "one_hot"),
        ([(), ()], ["string", "string"], "one_hot"),
    ],
)
def test_hashed_crossing_agrees_with_keras(shapes, dtypes, mode):
    check_text({"type": "HashedCrossing", "num_bins": 6, "output_mode": mode}, shapes, dtypes)


@needs_tf
def test_given_vocabularies_give_keras_indices():
    texts = np.array(["The cat, the DOG!", "zebra"], dtype=object)
    out = check_text({"type": "TextVectorization", "vocabulary": V, "output_sequence_length": 4}, (), "string", [texts])
    assert np.asarray(out).tolist() == [[2, 3, 2, 4], [1, 0, 0, 0]]  # 0 padding, 1 OOV, then the vocabulary
    words = np.array([["cat", "zebra"]], dtype=object)
    out = check_text({"type": "StringLookup", "vocabulary": V, "mask_token": ""}, (2,), "string", [words])
    assert np.asarray(out).tolist() == [[3, 1]]  # 0 mask, 1 OOV
    ids = np.array([[3, 7, 5]], dtype="int64")
    out = check_text({"type": "IntegerLookup", "vocabulary": IV}, (3,), "int64", [ids])
    assert np.asarray(out).tolist() == [[1, 3, 0]]
    values = np.array([[-2.0, 0.5, 3.0]], dtype="float32")
    out = check_text({"type": "Discretization", "bin_boundaries": [0.0, 1.0]}, (3,), "float32", [values])
    assert np.asarray(out).tolist() == [[0, 1, 2]]
    out = check_text(
        {"type": "CategoryEncoding", "num_tokens": 4, "output_mode": "count"}, (3,), "int32", [np.array([[1, 1, 3]])]
    )
    assert np.asarray(out).tolist() == [[0, 2, 0, 1]]


def test_no_weights_are_counted():
    for spec, shape, dtype in [
        ({"type": "IntegerLookup", "vocabulary": IV, "output_mode": "tf_idf", "idf_weights": [1, 2, 3]}, (3,), "int32"),
        ({"type": "Discretization", "num_bins": 4, "adapt": True}, (3,), "float32"),
        ({"type": "IntegerLookup", "adapt": True}, (3,), "int32"),
    ]:
        inferred = check_layer(spec, shape, [dtype], eager=False)
        assert inferred is not None and inferred.params == 0


# ---- refused: Keras fails, or returns another dtype or shape than it declares -------------------------------


@needs_tf
@pytest.mark.parametrize(
    "spec, shape, dtype, match",
    [
        ({"type": "TextVectorization", "vocabulary": V}, (3,), "string", "one string per example"),
        ({"type": "TextVectorization", "vocabulary": V}, (2, 1), "string", "one string per example"),
        ({"type": "TextVectorization", "vocabulary": V}, (1,), "int32", "must be strings"),
        ({"type": "TextVectorization", "output_sequence_length": 3}, (1,), "string", "no vocabulary"),
        ({"type": "TextVectorization", "vocabulary": V, "output_mode": "multi_hot"}, (), "string", "returns int64"),
        ({"type": "TextVectorization", "vocabulary": V, "output_mode": "count"}, (), "string", "returns int64"),
        (
            {"type": "TextVectorization", "vocabulary": V, "output_mode": "tf_idf", "idf_weights": [1, 1, 1]},
            (1,),
            "string",
            "shape: []",
        ),
        ({"type": "TextVectorization", "vocabulary": V, "split": None}, (), "string", "(batch, n)"),
        ({"type": "StringLookup", "vocabulary": V}, (3,), "int32", "must be strings"),
        ({"type": "StringLookup"}, (3,), "string", "no vocabulary"),
        ({"type": "StringLookup", "vocabulary": V, "output_mode": "one_hot"}, (3,), "string", "returns int64"),
        (
            {"type": "StringLookup", "vocabulary": V, "output_mode": "tf_idf", "idf_weights": [1, 1, 1]},
            (),
            "string",
            "batch axis",
        ),
        (
            {"type": "StringLookup", "vocabulary": V, "output_mode": "tf_idf", "idf_weights": [1, 1, 1]},
            (2, 3),
            "string",
            "axis 1",
        ),
        ({"type": "IntegerLookup", "vocabulary": IV}, (3,), "string", "does not take strings"),
        ({"type": "StringLookup", "vocabulary": V, "invert": True}, (3,), "int64", "returns strings"),
        ({"type": "Hashing", "num_bins": 3, "mask_value": 1}, (3,), "string", "mask_value"),
        ({"type": "HashedCrossing", "num_bins": 3}, [(3,), (3,)], ["string", "string"], "(batch_size, 1)"),
    ],
)
def test_string_refusals_agree_with_keras(spec, shape, dtype, match):
    check_refused(spec, shape, dtype, match)


@pytest.mark.parametrize(
    "spec, shape, dtype, match",
    [
        ({"type": "IntegerLookup"}, (3,), "int32", "no vocabulary"),
        ({"type": "IntegerLookup", "vocabulary": IV, "output_mode": "multi_hot"}, (3,), "int32", "returns int64"),
        ({"type": "IntegerLookup", "vocabulary": IV, "output_mode": "count"}, (3,), "int32", "returns int64"),
        ({"type": "Hashing", "num_bins": 3, "output_mode": "one_hot"}, (3,), "int32", "last axis of size 1"),
        ({"type": "Hashing", "num_bins": 3, "output_mode": "count"}, (2, 3), "int32", "axis 1"),
        ({"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "multi_hot"}, (2, 3), "int32", "axis 1"),
        ({"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "multi_hot"}, (3,), "float32", "bincount"),
        ({"type": "Discretization", "num_bins": 3}, (3,), "float32", "adapt: true"),
        ({"type": "HashedCrossing", "num_bins": 3}, [(1,), (1,)], ["float32", "int32"], "integers or strings"),
        ({"type": "HashedCrossing", "num_bins": 3}, [(1,), (2,)], ["int32", "int32"], "identical shapes"),
    ],
)
def test_numeric_refusals_agree_with_keras(spec, shape, dtype, match):
    check_refused(spec, shape, dtype, match)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "CategoryEncoding", "num_tokens": 8, "output_mode": "one_hot"},
        {"type": "Discretization", "bin_boundaries": [0.0], "output_mode": "one_hot"},
    ],
)
def test_one_hot_of_an_unknown_last_axis_is_refused(spec):
    # Keras declares a one-hot vector per element, and squeezes the last axis when it is 1 when run.
    assert "known last axis" in str(kspec_refusal(spec, [(None,)], ["int32"]))
    assert keras_failure(spec, [(None,)], ["int32"], fills=[1], wrong_dtype=True) is None  # runs, but...
    symbolic, eager = keras_call(spec, [(None,)], ["int32"], [np.zeros((2, 1), "int32")])
    assert len(symbolic.shape) != len(eager.shape)  # ...not with the shape it declared


def test_check_agrees_on_numeric_examples():
    # the property oracle on a few numeric cases, as the drawers use them
    for spec, shape, dtype in [
        ({"type": "Discretization", "bin_boundaries": [0.0, 2.0], "output_mode": "multi_hot"}, (4,), "float32"),
        ({"type": "Hashing", "num_bins": 3, "output_mode": "count"}, (None,), "float32"),
        ({"type": "CategoryEncoding", "num_tokens": 5, "output_mode": "one_hot"}, (4, 1), "int32"),  # ids in [0, 5)
    ]:
        assert check_agrees(spec, shape, [dtype]) is not None


# ---- the string-tensors policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Dense", "units": 2},
        {"type": "Reshape", "target_shape": [1]},
        {"type": "Embedding", "input_dim": 3, "output_dim": 2},
        {"type": "Discretization", "bin_boundaries": [0.0]},
        {"type": "CategoryEncoding", "num_tokens": 3},
    ],
)
def test_other_layers_refuse_strings(spec):
    refusal = kspec_refusal(spec, [(1,)], ["string"])
    assert refusal is not None and refusal.policy == "string-tensors", refusal
    assert "does not take strings" in str(refusal) or "must be numeric" in str(refusal)


# ---- arguments ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"type": "StringLookup", "vocabulary": ["a", "b", "a"]}, "repeated term"),
        ({"type": "StringLookup", "vocabulary": ["a", "b"], "max_tokens": 2}, "larger than the maximum"),
        ({"type": "StringLookup", "vocabulary": ["a", ""], "mask_token": ""}, "reserved mask_token"),
        ({"type": "StringLookup", "vocabulary": ["a"], "output_mode": "tf_idf"}, "idf_weights"),
        ({"type": "StringLookup", "vocabulary": ["a"], "output_mode": "tf_idf", "idf_weights": [1, 2]}, "same length"),
        ({"type": "StringLookup", "vocabulary": ["a"], "invert": True, "output_mode": "tf_idf"}, "invert"),
        ({"type": "StringLookup", "pad_to_max_tokens": True}, "max_tokens"),
        ({"type": "IntegerLookup", "vocabulary": [1], "salt": 3}, "farmhash"),
        ({"type": "TextVectorization", "vocabulary": ["a", ""]}, "reserved mask_token"),
        (
            {"type": "TextVectorization", "output_mode": "tf_idf", "output_sequence_length": 3, "adapt": True},
            "output_sequence_length",
        ),
        ({"type": "Discretization", "bin_boundaries": [0.0], "num_bins": 2}, "Both"),
        ({"type": "Discretization"}, "either"),
    ],
)
def test_arguments_keras_refuses(spec, match):
    with pytest.raises(ValidationError, match=match):
        parse_layer(spec)
    if TF or spec["type"] not in ("StringLookup", "TextVectorization"):
        kwargs = {key: value for key, value in spec.items() if key not in ("type", "adapt")}
        with pytest.raises(ValueError):  # Keras refuses the same arguments
            getattr(keras.layers, spec["type"])(**kwargs)


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"type": "TextVectorization", "ragged": True}, "ragged"),
        ({"type": "StringLookup", "vocabulary": ["a"], "output_mode": "count", "sparse": True}, "sparse"),
        ({"type": "StringLookup", "vocabulary": ["a"], "adapt": True}, "adapt"),
        (
            {
                "type": "TextVectorization",
                "output_mode": "tf_idf",
                "max_tokens": 9,
                "pad_to_max_tokens": True,
                "adapt": True,
            },
            "fails to load the model",
        ),
        ({"type": "Discretization", "bin_boundaries": [1.0, 0.0]}, "increase"),
        ({"type": "Discretization", "bin_boundaries": [0.0], "adapt": True}, "num_bins"),
        ({"type": "StringLookup", "vocabulary": ["a"] * 100_001}, "at most 100000"),
    ],
)
def test_arguments_kspec_refuses(spec, match):
    with pytest.raises(ValidationError, match=match):
        parse_layer(spec)


def test_empty_shape_is_for_strings_only():
    import kspec

    def spec(dtype: str) -> dict:
        return {
            "kspec": 1,
            "name": "m",
            "model": {
                "input": {"shape": [], "dtype": dtype},
                "layers": [
                    {"type": "Hashing", "num_bins": 3},
                    {"type": "Embedding", "input_dim": 3, "output_dim": 2},
                    {"type": "Dense", "units": 1},
                ],
            },
            "training": {"loss": "mse"},
        }

    assert [d.message for d in kspec.check(spec("string")).errors] == []
    errors = kspec.check(spec("int32")).errors
    assert errors and "only a string input" in errors[0].message


def _lookup_then_embedding(first: dict, dtype: str, shape: list, input_dim: int) -> dict:
    return {
        "kspec": 1,
        "name": "m",
        "model": {
            "input": {"shape": shape, "dtype": dtype},
            "layers": [first, {"type": "Flatten"}, {"type": "Embedding", "input_dim": input_dim, "output_dim": 2},
                       {"type": "GlobalAveragePooling1D"}, {"type": "Dense", "units": 1}],
        },
        "training": {"loss": "mse"},
    }  # fmt: skip


@pytest.mark.parametrize(
    "first, dtype, shape, batch, enough",
    [
        ({"type": "StringLookup", "vocabulary": ["a", "b", "c", "d", "e"]}, "string", [3], [["e", "a", "b"]], 6),
        ({"type": "IntegerLookup", "vocabulary": [7, 8, 9]}, "int32", [2], [[9, 7]], 4),
        ({"type": "Hashing", "num_bins": 10}, "int32", [3], [[1, 2, 3]], 10),
        ({"type": "Discretization", "bin_boundaries": [0.0, 1.0, 2.0]}, "float32", [2], [[5.0, 0.5]], 4),
        ({"type": "TextVectorization", "vocabulary": ["a", "b", "c"], "output_sequence_length": 3}, "string", [],
         ["c a b"], 5),
    ],
)  # fmt: skip
def test_embedding_takes_every_id_of_its_lookup(first, dtype, shape, batch, enough):
    """The lookup-ids policy: an Embedding after a lookup takes every id the lookup can produce. One too few
    rows: kspec refuses, and TensorFlow fails on a batch that holds the largest id; enough: both run."""
    import kspec

    small = kspec.check(_lookup_then_embedding(first, dtype, shape, enough - 1))
    assert [(d.policy, d.path[-1]) for d in small.errors] == [("lookup-ids", "input_dim")], small.errors
    assert f"ids run up to {enough - 1}" in small.errors[0].message
    x = np.array(batch, dtype=object if dtype == "string" else dtype)
    fits = kspec.check(_lookup_then_embedding(first, dtype, shape, enough))
    assert fits.ok, [d.message for d in fits.errors]
    model = kspec.build_model(fits.spec)
    assert tuple(model(x).shape) == (1, 1)
    # The model with one row too few, built by hand as kspec would: TensorFlow refuses the largest id.
    layers = [build_layer(n.layer, n.name) for n in fits.inference.nodes]
    layers[2] = keras.layers.Embedding(enough - 1, 2)
    inp = keras.Input(tuple(shape), dtype=dtype)
    out = inp
    for layer in layers:
        out = layer(out)
    with pytest.raises(Exception, match="indices|not in"):
        keras.Model(inp, out)(x)


def test_a_huge_num_oov_indices_is_checked_without_listing_its_tokens():
    """kspec compared the vocabulary's start with the list of every OOV token (a trillion: MemoryError, found by an
    exploring run of the schema-exactness test); that list is now built only when the vocabulary is long enough,
    and a message names a huge run of OOV tokens instead of listing it."""
    layer = parse_layer({"type": "IntegerLookup", "invert": True, "num_oov_indices": 10**12, "vocabulary": [1, 2, 3]})
    assert layer.num_oov_indices == 10**12
    with pytest.raises(ValidationError) as err:
        parse_layer({"type": "IntegerLookup", "invert": True, "num_oov_indices": 10**12, "vocabulary": [1, 2, 3], "oov_token": 2})
    assert "in precisely this order: [] then 1,000,000,000,000 x 2, or not at all." in str(err.value)
