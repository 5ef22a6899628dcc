"""Drawers for the structured-data preprocessing layers on the strategies' numeric tensors: Discretization,
CategoryEncoding, Hashing and IntegerLookup (TextVectorization, StringLookup and HashedCrossing need string
inputs or two inputs: tests/test_text_models.py draws them).

Every run turns its input (float or integer, whichever the strategies made) into category ids in range, then
encodes them as float32 vectors, and keeps the input's rank:
- Discretization with drawn bin boundaries: multi_hot or count (Keras counts over axis 1: (d1, ..., dn) ->
  (d2, ..., dn, bins)), one_hot on a last axis of 1, or int ids then a CategoryEncoding;
- Hashing (int ids then CategoryEncoding, or its own multi_hot, count, one_hot), IntegerLookup with a drawn
  vocabulary (int ids then CategoryEncoding, or tf_idf): on a vector (rank 1, where the counts keep the rank) or a
  last axis of 1. Not drawn on JAX, whose training step cannot trace their TensorFlow ops (kspec refuses to train
  such a model there: the string-tensors policy).
CategoryEncoding always follows a layer that makes ids in [0, num_tokens), with num_tokens drawn at or above
their count.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.draws import Drawer


def _chance(draw, percent: int) -> bool:
    return draw(st.integers(0, 99)) < percent


def _jax() -> bool:
    import keras

    return keras.backend.backend() == "jax"


def _encode(draw, ids: int, shape: tuple) -> tuple[dict[str, Any], tuple]:
    """A CategoryEncoding of ids in [0, ids) that keeps the rank of `shape` (a vector, or a last axis of 1)."""
    tokens = ids + draw(st.integers(0, 2))
    if shape[-1] == 1 and (len(shape) > 1 or _chance(draw, 50)):
        return {"type": "CategoryEncoding", "num_tokens": tokens, "output_mode": "one_hot"}, shape[:-1] + (tokens,)
    mode = draw(st.sampled_from(["multi_hot", "count"]))
    return {"type": "CategoryEncoding", "num_tokens": tokens, "output_mode": mode}, (tokens,)


def _countable(shape: tuple) -> bool:
    """A shape whose counts (multi_hot, count) keep its rank: a vector, or a last axis of 1 to encode."""
    return len(shape) == 1 or shape[-1] == 1


def _discretization(draw, shape: tuple) -> tuple[list[dict], tuple]:
    boundaries = sorted(set(draw(st.lists(st.integers(-20, 20), min_size=1, max_size=4))))
    layer: dict[str, Any] = {"type": "Discretization", "bin_boundaries": [b / 10 for b in boundaries]}
    bins = len(boundaries) + 1
    kind = draw(st.sampled_from(["counts", "counts", "one_hot", "ids"]))
    if kind == "one_hot" and shape[-1] == 1:
        return [{**layer, "output_mode": "one_hot"}], shape[:-1] + (bins,)
    if kind == "ids" and _countable(shape):
        encoding, out = _encode(draw, bins, shape)
        return [layer, encoding], out
    layer["output_mode"] = draw(st.sampled_from(["multi_hot", "count"]))
    return [layer], tuple(shape[1:]) + (bins,)  # Keras counts over axis 1


def _hashing(draw, shape: tuple) -> tuple[list[dict], tuple]:
    bins = draw(st.integers(1, 6))
    layer: dict[str, Any] = {"type": "Hashing", "num_bins": bins}
    if _chance(draw, 20):
        layer["salt"] = draw(st.sampled_from([7, [1, 2]]))
    if _chance(draw, 20) and bins > 1:
        layer["mask_value"] = 0
    if _chance(draw, 50):
        encoding, out = _encode(draw, bins, shape)
        return [layer, encoding], out
    if shape[-1] == 1 and (len(shape) > 1 or _chance(draw, 50)):
        return [{**layer, "output_mode": "one_hot"}], shape[:-1] + (bins,)
    return [{**layer, "output_mode": draw(st.sampled_from(["multi_hot", "count"]))}], (bins,)


def _integer_lookup(draw, shape: tuple) -> tuple[list[dict], tuple]:
    vocabulary = draw(st.lists(st.integers(-3, 5), min_size=1, max_size=5, unique=True))
    layer: dict[str, Any] = {"type": "IntegerLookup", "vocabulary": vocabulary}
    oov = draw(st.sampled_from([1, 1, 0, 2])) if _chance(draw, 30) else 1
    if oov != 1:
        layer["num_oov_indices"] = oov
    if oov == 0:  # every value must be in the vocabulary: an ids layer first
        return _discretization(draw, shape)
    mask = _chance(draw, 20) and 9 not in vocabulary
    if mask:
        layer["mask_token"] = 9
    if len(shape) == 1 and _chance(draw, 35):
        layer["output_mode"] = "tf_idf"
        layer["idf_weights"] = [draw(st.sampled_from([0.5, 1.0, 2.0])) for _ in vocabulary]
        return [layer], (oov + len(vocabulary),)
    ids = int(mask) + oov + len(vocabulary)
    encoding, out = _encode(draw, ids, shape)
    return [layer, encoding], out


def _draw(draw, shape: tuple) -> tuple[list[dict], tuple]:
    kinds = ["discretization"]
    if _countable(shape) and not _jax():
        kinds += ["hashing", "integer_lookup"]
    kind = draw(st.sampled_from(kinds))
    if kind == "hashing":
        return _hashing(draw, shape)
    if kind == "integer_lookup":
        return _integer_lookup(draw, shape)
    return _discretization(draw, shape)


DRAWERS = (
    Drawer(
        types=("Discretization", "CategoryEncoding", "Hashing", "IntegerLookup"),
        ranks=frozenset({1, 2, 3}),
        fn=_draw,
    ),
)
