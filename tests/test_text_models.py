"""Models with string inputs and text layers, end to end: a text classifier trained on a text directory (the
model's TextVectorization adapted to the training texts) and used by predict and evaluate on raw text; a CSV text
column; adapt for the lookups and Discretization; the backends these models run on; and a Hypothesis property for
string-input models (the strategies' inputs are numeric): what kspec accepts builds and trains one step on
TensorFlow, and what it refuses Keras fails on (or kspec names a policy).

String tensors exist on Keras's TensorFlow backend only: this module is skipped on the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kspec
from kspec.compile import build_model
from kspec.train.data import DataError, Split, load_data
from kspec.train.run import TrainOptions, build_and_train
from tests.layers.test_text import keras_misbehaves

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="string tensors exist on the TensorFlow backend only"
)

POSITIVE = ["good great fine", "great film", "a fine good movie", "good good", "lovely great"]
NEGATIVE = ["bad awful poor", "awful film", "a poor bad movie", "bad bad", "dull awful"]

SPEC = """\
kspec: 1
name: tiny_text
model:
  input: {name: text, shape: [], dtype: string}
  layers:
    - {type: TextVectorization, max_tokens: 30, output_sequence_length: 6, adapt: true}
    - {type: Embedding, input_dim: 30, output_dim: 4}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, units: 2, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  optimizer: {type: Adam, learning_rate: 0.05}
  batch_size: 4
"""


def make_texts(root: Path) -> Path:
    for name, texts in (("neg", NEGATIVE), ("pos", POSITIVE)):
        (root / name).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / name / f"{i}.txt").write_text(text + "\n", encoding="utf-8")
    return root


def train(spec: Path, out: Path, data: Path, epochs: int = 1) -> Path:
    result = build_and_train(
        str(spec), TrainOptions(data=str(data), epochs=epochs, verbose=0, output=str(out), seed=1), echo=lambda _: None
    )
    assert result.run_dir == out
    return out


def test_text_classifier_trains_on_raw_texts_and_predicts_raw_text(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    run = train(tmp_path / "spec.yaml", tmp_path / "run", make_texts(tmp_path / "texts"), epochs=8)

    model = keras.saving.load_model(run / "model.keras")
    vocabulary = model.get_layer("text_vectorization").get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and {"good", "bad", "awful"} <= set(vocabulary)  # adapted to the texts

    from kspec.use.interface import read

    interface = read(run)
    (text,) = interface.inputs
    assert (text.dtype, text.raw, text.preprocessing["kind"]) == ("string", "text", "strings")
    assert interface.serving is None  # model.keras takes the texts itself

    predictions = list(kspec.predict(run, texts=["good great film", "awful bad"]))
    assert [p.outputs["dense"]["top"][0][0] for p in predictions] == ["pos", "neg"]

    evaluation = kspec.evaluate(run, data=str(tmp_path / "texts"))
    assert evaluation.metrics["accuracy"] == 1.0


def test_a_csv_text_column_reaches_a_string_input(tmp_path):
    rows = ["text,label"] + [f"{t},1" for t in POSITIVE] + [f"{t},0" for t in NEGATIVE]
    (tmp_path / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = kspec.check(SPEC.replace("shape: []", "shape: [1]"))
    assert report.ok, report.errors
    loaded = load_data(report.spec, report.inference, base_dir=tmp_path, source=_csv(tmp_path / "reviews.csv"))
    texts = loaded.train.arrays().x["text"]  # streamed: read on demand, as tf.string (bytes)
    assert texts.shape == (10, 1) and texts.dtype == object
    assert {t.decode("utf-8") for t in texts[:, 0]} == set(POSITIVE + NEGATIVE)
    assert loaded.preprocessing["text"]["kind"] == "strings"


def _csv(path: Path) -> Any:
    from kspec.train.data import source_from_cli

    return source_from_cli(str(path))


def test_numbers_are_not_texts():
    report = kspec.check(SPEC)
    split = Split({"text": np.zeros((3,), "float32")}, {"dense": np.zeros((3,), "int32")})
    from kspec.train.data import check_split

    with pytest.raises(DataError, match="A string input takes texts"):
        check_split(split, report.inference, report.spec.training, where="training split")


def test_training_elsewhere_than_tensorflow_is_refused(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    report = kspec.check(SPEC)
    with pytest.raises(DataError, match=r"model input 'text' \(dtype string\) runs on the TensorFlow backend only"):
        load_data(report.spec, report.inference, base_dir=Path("."), source=_csv_source_synthetic())
    hashing = SPEC.replace("{name: text, shape: [], dtype: string}", "{name: text, shape: [1], dtype: int32}").replace(
        "{type: TextVectorization, max_tokens: 30, output_sequence_length: 6, adapt: true}",
        "{type: Hashing, num_bins: 30}",
    )
    report = kspec.check(hashing)
    assert report.ok, report.errors
    with pytest.raises(DataError, match=r"layer 'hashing' \(Hashing\) runs on the TensorFlow and PyTorch backends"):
        load_data(report.spec, report.inference, base_dir=Path("."), source=_csv_source_synthetic())
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    load_data(report.spec, report.inference, base_dir=Path("."), source=_csv_source_synthetic())


def _csv_source_synthetic() -> Any:
    from kspec.train.data import source_from_cli

    return source_from_cli("synthetic:8")


def test_adapt_lookups_and_discretization():
    from kspec.train.adapt import adapt_layers

    spec = {
        "kspec": 1,
        "name": "adapted",
        "model": {
            "inputs": [
                {"name": "words", "shape": [2], "dtype": "string"},
                {"name": "ids", "shape": [2], "dtype": "int32"},
                {"name": "x", "shape": [2]},
            ],
            "nodes": [
                {"name": "w", "type": "StringLookup", "adapt": True, "inputs": "words"},
                {"name": "h", "type": "Hashing", "num_bins": 5, "inputs": "words"},
                {"name": "hd", "type": "Discretization", "num_bins": 2, "adapt": True, "inputs": "h"},
                {"name": "i", "type": "IntegerLookup", "adapt": True, "max_tokens": 3, "inputs": "ids"},
                {"name": "d", "type": "Discretization", "num_bins": 3, "adapt": True, "inputs": "x"},
                *[
                    {"name": f"e_{n}", "type": "Embedding", "input_dim": 8, "output_dim": 2, "inputs": n}
                    for n in ("w", "hd", "i", "d")
                ],
                {"name": "all", "type": "Concatenate", "inputs": ["e_w", "e_hd", "e_i", "e_d"]},
                {"name": "out", "type": "Dense", "units": 1, "inputs": "all"},
            ],
            "outputs": "out",
        },
        "training": {"loss": "mse"},
    }
    report = kspec.check(spec)
    assert report.ok, report.errors
    model = build_model(report.spec, report.inference)
    x = {
        "words": np.array([["cat", "dog"], ["cat", "cow"], ["cat", "dog"]], dtype=object),
        "ids": np.array([[4, 4], [4, 9], [7, 7]], dtype="int32"),
        "x": np.arange(6, dtype="float32").reshape(3, 2),
    }
    lines = adapt_layers(model, report.spec, report.inference, Split(x, {}))
    assert len(lines) == 4
    assert model.get_layer("w").get_vocabulary() == ["[UNK]", "cat", "dog", "cow"]
    assert model.get_layer("i").get_vocabulary() == [-1, 4, 7]  # max_tokens 3: the OOV index and 2 values
    assert len(model.get_layer("d").bin_boundaries) == 2
    assert len(model.get_layer("hd").bin_boundaries) == 1  # adapted to the hashed words, through a feeder model


# ---- a property: string-input models ------------------------------------------------------------------------

VOCABULARY = ["the", "cat", "sat", "dog", "mat"]
TEXTS = np.array(["the cat sat", "a dog", "mat mat the", "zebra", "", "The CAT!"], dtype=object)


@st.composite
def text_models(draw) -> tuple[dict, list[tuple], list[str]]:
    """A graph of string inputs, one text layer (drawn around the edge of what Keras runs), and a head."""
    kind = draw(
        st.sampled_from(["TextVectorization", "TextVectorization", "StringLookup", "Hashing", "HashedCrossing"])
    )
    shape = draw(st.sampled_from([[], [1], [1], [3], [2, 2]]))
    inputs = [{"name": "s", "shape": shape, "dtype": "string"}]
    layer: dict[str, Any] = {"name": "t", "type": kind, "inputs": "s"}
    vocabulary = VOCABULARY[: draw(st.integers(1, len(VOCABULARY)))]
    mode = "int"
    if kind == "TextVectorization":
        layer["vocabulary"] = vocabulary
        mode = draw(st.sampled_from(["int", "int", "tf_idf", "multi_hot"]))
        if draw(st.booleans()):
            layer["split"] = draw(st.sampled_from([None, "character"]))
        if draw(st.booleans()):
            layer["ngrams"] = draw(st.integers(1, 2))
        if mode == "int" and draw(st.booleans()):
            layer["output_sequence_length"] = draw(st.integers(1, 5))
    elif kind == "StringLookup":
        layer["vocabulary"] = vocabulary
        mode = draw(st.sampled_from(["int", "int", "tf_idf", "count"]))
        if draw(st.booleans()):
            layer["mask_token"] = ""
        layer["num_oov_indices"] = draw(st.integers(1, 2))
    elif kind == "Hashing":
        layer["num_bins"] = draw(st.integers(2, 6))
        mode = draw(st.sampled_from(["int", "one_hot", "multi_hot"]))
        if draw(st.booleans()):
            layer["mask_value"] = draw(st.sampled_from(["the", 0]))
    else:
        layer["num_bins"] = draw(st.integers(2, 6))
        mode = draw(st.sampled_from(["int", "one_hot"]))
        other = draw(st.sampled_from(["string", "int32"]))
        inputs.append(
            {
                "name": "o",
                "shape": draw(st.sampled_from([shape, [1]])) if other == "int32" or shape else shape,
                "dtype": other,
            }
        )
        if other == "int32" and not inputs[1]["shape"]:
            inputs[1]["shape"] = [1]
        layer["inputs"] = ["s", "o"]
    if mode != "int":
        layer["output_mode"] = mode
        if mode == "tf_idf":
            layer["idf_weights"] = [1.0 + i for i in range(len(vocabulary))]
    if mode == "int":  # ids: an embedding, flattened or pooled
        head = [
            {"name": "e", "type": "Embedding", "input_dim": 8, "output_dim": 2, "inputs": "t"},
            {"name": "f", "type": "Flatten", "inputs": "e"},
        ]
    else:
        head = [{"name": "f", "type": "Flatten", "inputs": "t"}]
    head.append({"name": "out", "type": "Dense", "units": 1, "inputs": "f"})
    spec = {
        "kspec": 1,
        "name": "texts",
        "model": {"inputs": inputs, "nodes": [layer, *head], "outputs": "out"},
        "training": {"loss": "mse"},
    }
    return spec, [tuple(i["shape"]) for i in inputs], [i["dtype"] for i in inputs]


def _examples(shape: tuple, dtype: str, n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    size = (n,) + shape
    return TEXTS[rng.integers(0, len(TEXTS), size)] if dtype == "string" else rng.integers(0, 8, size).astype(dtype)


@settings(max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(text_models())
def test_string_models_are_sound(drawn):
    import tensorflow as tf

    spec, shapes, dtypes = drawn
    report = kspec.check(spec)
    structural = [d for d in report.errors if d.code not in ("shape", "value")]
    assert structural == [], structural
    if report.ok:
        model = build_model(report.spec, report.inference)
        x = tuple(_examples(s, d) for s, d in zip(shapes, dtypes))
        y = np.zeros((4, 1), "float32")
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(2), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        return
    (error,) = report.errors
    if error.policy is not None:
        return  # a documented policy: counted, not confirmed
    if error.path[:3] != ("model", "nodes", 0):
        return  # a refusal downstream (Flatten of an unknown length), confirmed by those layers' own tests
    layer = {k: v for k, v in spec["model"]["nodes"][0].items() if k not in ("name", "inputs")}
    failure = keras_misbehaves(
        layer, shapes if len(shapes) > 1 else shapes[0], dtypes if len(dtypes) > 1 else dtypes[0]
    )
    assert failure is not None, f"kspec refuses ({error.message}), but Keras runs {layer} on {shapes} {dtypes}"
