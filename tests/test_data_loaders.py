"""kspec.train.data: every source on small data made here, the mapping, the checks and the tf.data pipeline."""

from __future__ import annotations

import gzip
import io
import json
import pathlib
import pickle
import re
import tarfile

import numpy as np
import pytest

import kspec
from kspec.infer import infer
from kspec.spec.data import (
    CsvSource, EmbeddedSource, ImageDirectorySource, KerasDatasetSource, NpzSource, SyntheticSource, TextDirectorySource,
)
from kspec.train.data import (
    DataError, Split, check_split, keras_cache_dirs, load_data, make_tf_dataset, resolve_source, source_from_cli,
)

ROOT = pathlib.Path(__file__).parent.parent

# ---- specs ------------------------------------------------------------------------------------------------

SMALL_CNN = """
kspec: 1
name: small_cnn
model:
  input: {name: image, shape: [6, 6, 1]}
  layers:
    - {type: Flatten}
    - {type: Dense, units: 3, activation: softmax, name: label}
training: {loss: sparse_categorical_crossentropy, validation_split: %(val)s}
data:
  source: %(source)s
  test_split: %(test)s
  shuffle: %(shuffle)s
"""

TWO_IN_TWO_OUT = """
kspec: 1
name: two
model:
  inputs:
    - {name: a, shape: [4]}
    - {name: b, shape: [3]}
  nodes:
    - {name: joined, type: Concatenate, inputs: [a, b]}
    - {name: cls, type: Dense, units: 3, activation: softmax, inputs: joined}
    - {name: reg, type: Dense, units: 1, inputs: joined}
  outputs: [cls, reg]
training:
  loss: {cls: sparse_categorical_crossentropy, reg: mse}
data:
  source: %(source)s
"""

TEXT_SPEC = """
kspec: 1
name: text
model:
  input: {shape: [%(length)s], dtype: int32}
  layers:
    - {type: Embedding, input_dim: %(vocab)s, output_dim: 4}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, units: %(units)s, activation: %(act)s}
training: {loss: %(loss)s}
data:
  source: %(source)s
  test_split: %(test)s
  shuffle: %(shuffle)s
"""


def build(text: str, **values):
    spec = kspec.load_spec(text % values if values else text)
    return spec, infer(spec)


def small_cnn(source: str, *, val=0.0, test=0.0, shuffle="true", loss=None):
    text = SMALL_CNN % {"source": source, "val": val, "test": test, "shuffle": shuffle}
    if loss:
        text = text.replace("sparse_categorical_crossentropy", loss)
    return build(text)


def text_spec(source: str, *, length=10, vocab=50, units=1, act="sigmoid", loss="binary_crossentropy", test=0.0, shuffle="true"):
    return build(TEXT_SPEC, source=source, length=length, vocab=vocab, units=units, act=act, loss=loss, test=test, shuffle=shuffle)


def message(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# ---- npz ----------------------------------------------------------------------------------------------------


def test_npz_train_test_fields_trailing_axis_and_casts(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz",
        x_train=rng.integers(0, 255, (20, 6, 6), dtype=np.uint8), y_train=rng.integers(0, 3, 20).astype(np.uint8),
        x_test=rng.integers(0, 255, (7, 6, 6), dtype=np.uint8), y_test=rng.integers(0, 3, 7).astype(np.uint8),
    )
    spec, inf = small_cnn("{type: npz, path: d.npz}", val=0.25, test=0.5)  # test_split is ignored: the file has one
    data = load_data(spec, inf, base_dir=tmp_path, seed=3)
    assert data.description == "d.npz: 15 train / 5 validation / 7 test examples"
    assert data.train.x["image"].shape == (15, 6, 6, 1) and data.train.x["image"].dtype == np.float32
    assert data.train.y["label"].shape == (15,) and data.train.y["label"].dtype == np.int32
    assert data.test.x["image"].shape == (7, 6, 6, 1)
    with np.load(tmp_path / "d.npz") as f:  # the source's own test split keeps its order
        np.testing.assert_array_equal(data.test.x["image"][..., 0], f["x_test"].astype(np.float32))
        train_rows = {r.tobytes() for r in f["x_train"].astype(np.float32)}
    assert all(r[..., 0].tobytes() in train_rows for r in np.concatenate([data.train.x["image"], data.validation.x["image"]]))


def test_npz_plain_fields_test_split_and_seeded_shuffle(tmp_path):
    x = np.arange(50 * 36, dtype=np.float64).reshape(50, 6, 6, 1)
    y = np.arange(50) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    spec, inf = small_cnn("{type: npz, path: d.npz}", val=0.25, test=0.2)
    a = load_data(spec, inf, base_dir=tmp_path, seed=7)
    b = load_data(spec, inf, base_dir=tmp_path, seed=7)
    c = load_data(spec, inf, base_dir=tmp_path, seed=8)
    assert a.description == "d.npz: 30 train / 10 validation / 10 test examples"
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(a, part).x["image"], getattr(b, part).x["image"])
        np.testing.assert_array_equal(getattr(a, part).y["label"], getattr(b, part).y["label"])
    assert not np.array_equal(a.train.x["image"], c.train.x["image"])
    # shuffled, but every example kept exactly once, labels still with their images
    ids = np.concatenate([s.x["image"][:, 0, 0, 0] for s in (a.train, a.validation, a.test)]) / 36
    assert sorted(ids.astype(int).tolist()) == list(range(50))
    np.testing.assert_array_equal(a.train.y["label"], (a.train.x["image"][:, 0, 0, 0] / 36).astype(int) % 3)


def test_array_sources_record_their_fields(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", pixels=rng.random((6, 6, 6)), y=rng.integers(0, 3, 6))
    spec, inf = build(SMALL_CNN.replace("  shuffle:", "  inputs: {image: pixels}\n  shuffle:") % {
        "source": "{type: npz, path: d.npz}", "val": 0.0, "test": 0.0, "shuffle": "true"})
    data = load_data(spec, inf, base_dir=tmp_path)
    assert data.preprocessing == {"image": {"kind": "array", "field": "pixels"}}
    assert data.label_names == {} and data.label_columns == {}
    spec, inf = small_cnn("{type: synthetic, samples: 4}")
    assert load_data(spec, inf, base_dir=tmp_path).preprocessing == {"image": {"kind": "array", "field": "image"}}


def test_shuffle_false_keeps_order_and_holds_out_the_last_fractions(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.arange(10 * 36, dtype=np.float32).reshape(10, 6, 6), y=np.zeros(10, np.int64))
    spec, inf = small_cnn("{type: npz, path: d.npz}", val=0.25, test=0.2, shuffle="false")
    data = load_data(spec, inf, base_dir=tmp_path, seed=1)
    first = lambda s: (s.x["image"][:, 0, 0, 0] / 36).astype(int).tolist()  # noqa: E731
    assert first(data.train) == [0, 1, 2, 3, 4, 5]
    assert first(data.validation) == [6, 7]
    assert first(data.test) == [8, 9]


def test_npz_several_inputs_default_to_their_names_and_mapping_applies(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "m.npz", a=rng.normal(size=(12, 4)), feats=rng.normal(size=(12, 3)),
             cls=rng.integers(0, 3, 12), reg=rng.normal(size=12))
    text = TWO_IN_TWO_OUT % {"source": "{type: npz, path: m.npz}"} + "  inputs: {b: feats}\n"
    spec, inf = build(text)
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert {k: v.shape for k, v in data.train.x.items()} == {"a": (12, 4), "b": (12, 3)}
    assert data.train.y["cls"].dtype == np.int32 and data.train.y["reg"].shape == (12, 1)
    assert data.train.y["reg"].dtype == np.float32 and data.test is None and data.validation is None


def test_npz_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.array([[1, 2], [3]], dtype=object), y=np.zeros(2))
    spec, inf = small_cnn("{type: npz, path: o.npz}")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert "The array 'x' of" in message(err) and "dtype=object" in message(err) and "never unpickles" in message(err)


def test_missing_npz_file(tmp_path):
    spec, inf = small_cnn("{type: npz, path: nowhere/d.npz}")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        f"The npz file {tmp_path / 'nowhere/d.npz'} (resolved from 'nowhere/d.npz') does not exist; expected a readable file."
    )


# ---- csv ----------------------------------------------------------------------------------------------------

CSV_SPEC = """
kspec: 1
name: tab
model:
  input: {shape: [%(n)s]}
  layers:
    - {type: Dense, units: 2, activation: softmax}
training: {loss: sparse_categorical_crossentropy}
data:
  source: {type: csv, path: t.csv}
"""


def write_csv(tmp_path, text):
    (tmp_path / "t.csv").write_text(text)


def test_csv_default_features_and_label(tmp_path):
    write_csv(tmp_path, "a,label,b,c\n1,0,2,3\n4,1,5,6\n7,1,8,9.5\n")
    spec, inf = build(CSV_SPEC, n=3)
    data = load_data(spec, inf, base_dir=tmp_path)
    train = data.train.arrays()  # streamed: read on demand
    order = np.argsort(train.x["input_layer"][:, 0])
    np.testing.assert_array_equal(train.x["input_layer"][order], np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9.5]], np.float32))
    np.testing.assert_array_equal(train.y["dense"][order], [0, 1, 1])
    assert train.y["dense"].dtype == np.int32 and data.description == "t.csv: 3 train examples (streamed)"


def test_csv_preprocessing_names_the_columns_of_each_input_and_output(tmp_path):
    (tmp_path / "t.csv").write_text("id;px1;px0;kind;y\n1;2;3;0;4\n5;6;7;1;8\n")
    spec, inf = build(
        CSV_SPEC.replace("path: t.csv", "path: t.csv, delimiter: ';'")
        + "  inputs: {input_layer: 'y, px0'}\n  labels: {dense: kind}\n",
        n=2,
    )
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert data.preprocessing == {
        "input_layer": {"kind": "columns", "columns": ["y", "px0"], "delimiter": ";"}
    }
    assert data.label_columns == {"dense": ["kind"]} and data.label_names == {}
    spec, inf = build(CSV_SPEC + "  inputs: {input_layer: 'px*'}\n  labels: {dense: kind}\n", n=2)
    (tmp_path / "t.csv").write_text("id,px1,px0,kind,y\n1,2,3,0,4\n5,6,7,1,8\n")
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert data.preprocessing["input_layer"] == {"kind": "columns", "columns": ["px1", "px0"], "delimiter": ","}
    spec, inf = build(CSV_SPEC + "  labels: {dense: kind}\n", n=4)  # default features: every other column
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert data.preprocessing["input_layer"]["columns"] == ["id", "px1", "px0", "y"]


@pytest.mark.parametrize("field,n", [("px*", 2), ("c, px1", 2), ("c", 1)])
def test_csv_globs_lists_and_single_columns(tmp_path, field, n):
    write_csv(tmp_path, "px0,c,px1,y\n1,2,3,0\n4,5,6,1\n")
    spec, inf = build(CSV_SPEC + f"  inputs: {{input_layer: '{field}'}}\n  labels: {{dense: y}}\n", n=n)
    train = load_data(spec, inf, base_dir=tmp_path, seed=0).train.arrays()
    x = train.x["input_layer"][np.argsort(train.y["dense"])]
    expected = {"px*": [[1, 3], [4, 6]], "c, px1": [[2, 3], [5, 6]], "c": [[2], [5]]}[field]
    np.testing.assert_array_equal(x, np.array(expected, np.float32))


def test_csv_non_numeric_cell_names_row_and_column(tmp_path):
    write_csv(tmp_path, "a,b,label\n1,2,0\n3,x7,1\n")
    spec, inf = build(CSV_SPEC, n=2)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        f"Row 2 (line 3) of {tmp_path / 't.csv'} holds 'x7' in column 'b', which is not a number; "
        "every column used as an input or a label must be numeric."
    )


def test_csv_unknown_column_with_did_you_mean(tmp_path):
    write_csv(tmp_path, "a,b,target\n1,2,0\n")
    spec, inf = build(CSV_SPEC + "  labels: {dense: targt}\n", n=2)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "`data.labels.dense` names the field 'targt', which t.csv does not have. "
        "Available fields: 'a', 'b', 'target'. Did you mean 'target'?"
    )


# ---- image and text directories ---------------------------------------------------------------------------


def write_images(root: pathlib.Path, classes: dict[str, int], size=(5, 7)):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 255, size + (3,), dtype=np.uint8)
            (root / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    (root / "cats" / "notes.md").write_text("not an image")


def test_image_directory_sizes_from_the_model_and_class_ids(tmp_path):
    write_images(tmp_path / "imgs", {"cats": 3, "dogs": 2, "emus": 1})
    spec, inf = small_cnn("{type: image_directory, path: imgs}")
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert data.class_names == ["cats", "dogs", "emus"]
    train = data.train.arrays()  # streamed: read on demand
    assert train.x["image"].shape == (6, 6, 6, 1) and train.x["image"].dtype == np.float32
    assert sorted(train.y["label"].tolist()) == [0, 0, 0, 1, 1, 2]
    assert 0 <= train.x["image"].min() and train.x["image"].max() <= 255
    assert data.description == f"image directory {tmp_path / 'imgs'}: 6 train examples (streamed)"
    assert data.label_names == {"label": ["cats", "dogs", "emus"]} and data.label_columns == {}
    assert data.preprocessing == {
        "image": {
            "kind": "image",
            "image_size": [6, 6],
            "color_mode": "grayscale",
            "channels": 1,
            "interpolation": "bilinear",
            "value_range": [0, 255],
            "extensions": [".bmp", ".gif", ".jpeg", ".jpg", ".png"],
        }
    }
    json.dumps(data.preprocessing)  # JSON-serialisable as it is


def test_resolve_source_writes_in_what_the_model_implies():
    spec, inf = small_cnn("{type: image_directory, path: imgs}")
    resolved = resolve_source(spec, inf)
    assert (resolved.image_size, resolved.color_mode) == ((6, 6), "grayscale")
    assert resolve_source(spec, inf, resolved) == resolved  # idempotent
    given = ImageDirectorySource(type="image_directory", path="imgs", image_size=(9, 9))
    assert resolve_source(spec, inf, given).image_size == (9, 9)  # what the source gives is kept
    spec, inf = text_spec("{type: text_directory, path: texts}", length=12, vocab=300)
    resolved = resolve_source(spec, inf)
    assert (resolved.max_tokens, resolved.sequence_length) == (300, 12)
    assert resolve_source(spec, inf, NpzSource(type="npz", path="a.npz")) == NpzSource(type="npz", path="a.npz")


def test_image_directory_explicit_size_mismatch(tmp_path):
    write_images(tmp_path / "imgs", {"cats": 1, "dogs": 1})
    spec, inf = small_cnn("{type: image_directory, path: imgs, image_size: [6, 6], color_mode: rgb}")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        f"`data.inputs.image` (images from the 2 class sub-directories of {tmp_path / 'imgs'}, 6x6 rgb) has examples of "
        "shape (6, 6, 3) and dtype float32, but model input 'image' expects shape (6, 6, 1) and dtype float32."
    )


def test_image_directory_undecodable_image(tmp_path):
    write_images(tmp_path / "imgs", {"cats": 1, "dogs": 1})
    (tmp_path / "imgs" / "dogs" / "broken.png").write_bytes(b"not a png")
    spec, inf = small_cnn("{type: image_directory, path: imgs}")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err).startswith(f"The image {tmp_path / 'imgs' / 'dogs' / 'broken.png'} cannot be decoded (")
    assert message(err).endswith("); expected a PNG, JPEG, BMP or GIF image.")


def test_text_directory_vocabulary_from_training_texts_only(tmp_path):
    root = tmp_path / "texts"
    for label, texts in {"neg": ["bad awful film", "bad plot", "awful"], "pos": ["good fine film", "good", "zebra zebra good"]}.items():
        (root / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (root / label / f"{i}.txt").write_text(t)
    spec, inf = text_spec("{type: text_directory, path: texts}", test=0.2, shuffle="false")
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert data.description == f"text directory {root}: 4 train / 2 test examples (streamed)"
    assert data.class_names == ["neg", "pos"]
    train, test = data.train.arrays(), data.test.arrays()  # streamed: read on demand
    assert train.x["input_layer"].shape == (4, 10) and train.x["input_layer"].dtype == np.int32
    assert "zebra" not in data.vocabulary and "bad" in data.vocabulary  # adapted on the 4 training texts
    vocab = data.vocabulary
    np.testing.assert_array_equal(test.x["input_layer"][1][:3], [1, 1, vocab.index("good")])  # OOV = 1
    assert test.y["dense"].tolist() == [[1.0], [1.0]] and test.y["dense"].dtype == np.float32
    assert train.x["input_layer"].max() < 50
    assert data.label_names == {"dense": ["neg", "pos"]}
    assert data.preprocessing == {
        "input_layer": {
            "kind": "text",
            "vocabulary": vocab,
            "max_tokens": 50,
            "sequence_length": 10,
            "standardize": "lower_and_strip_punctuation",
            "split": "whitespace",
            "output_mode": "int",
            "encoding": "utf-8",
            "errors": "replace",
        }
    }
    assert vocab[:2] == ["", "[UNK]"]  # index = token id: 0 pads, 1 is out of vocabulary
    json.dumps(data.preprocessing)


def test_text_preprocessing_vectorises_new_texts_like_the_loader(tmp_path):
    """The recorded settings rebuild the loader's TextVectorization: the same ids for a text it never saw."""
    import keras

    root = tmp_path / "texts"
    for label, texts in {"neg": ["Bad, AWFUL film!", "bad plot"], "pos": ["good fine film", "good good"]}.items():
        (root / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (root / label / f"{i}.txt").write_text(t)
    spec, inf = text_spec("{type: text_directory, path: texts}", shuffle="false")
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    settings = dict(data.preprocessing["input_layer"])
    layer = keras.layers.TextVectorization(
        max_tokens=settings["max_tokens"],
        output_sequence_length=settings["sequence_length"],
        standardize=settings["standardize"],
        split=settings["split"],
        output_mode=settings["output_mode"],
        vocabulary=settings["vocabulary"][2:],  # without the padding and OOV tokens, which Keras adds back
    )
    assert layer.get_vocabulary() == settings["vocabulary"]
    row = data.train.arrays().x["input_layer"][0]
    np.testing.assert_array_equal(np.asarray(layer(["Bad, AWFUL film!"]))[0], row)


# ---- keras datasets (a fake local cache) ------------------------------------------------------------------


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "kh"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home / "datasets"


def test_keras_mnist_from_the_cache(keras_home, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(keras_home / "mnist.npz", x_train=rng.integers(0, 255, (30, 6, 6), dtype=np.uint8), y_train=np.arange(30, dtype=np.uint8) % 3,
             x_test=rng.integers(0, 255, (9, 6, 6), dtype=np.uint8), y_test=np.arange(9, dtype=np.uint8) % 3)
    assert keras_cache_dirs()[0] == keras_home
    spec, inf = small_cnn("{type: keras_dataset, name: mnist}", val=0.1)
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert data.description == "Keras dataset mnist: 27 train / 3 validation / 9 test examples"
    assert data.train.x["image"].shape == (27, 6, 6, 1) and data.test.y["label"].tolist() == [0, 1, 2] * 3
    assert data.class_names == [str(i) for i in range(10)]


def test_keras_dataset_missing_from_the_cache(keras_home, tmp_path):
    spec, inf = small_cnn("{type: keras_dataset, name: mnist}")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        f"Dataset 'mnist' is not in the local Keras cache: expected {keras_home / 'mnist.npz'}. This machine cannot "
        "download it; copy the file there (from https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz) "
        "or set KERAS_HOME."
    )


def test_keras_fashion_mnist_idx_files(keras_home, tmp_path):
    folder = keras_home / "fashion-mnist"
    folder.mkdir()
    spec, inf = build(SMALL_CNN.replace("[6, 6, 1]", "[28, 28, 1]").replace("units: 3", "units: 10"),
                      source="{type: keras_dataset, name: fashion_mnist}", val=0.0, test=0.0, shuffle="false")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err).startswith(
        f"Dataset 'fashion_mnist' is not in the local Keras cache: expected {folder / 'train-labels-idx1-ubyte.gz'}, "
        f"{folder / 'train-images-idx3-ubyte.gz'}, {folder / 't10k-labels-idx1-ubyte.gz'} and {folder / 't10k-images-idx3-ubyte.gz'}."
    )
    for prefix, n in (("train", 5), ("t10k", 2)):
        labels = np.arange(n, dtype=np.uint8)
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0" * 8 + labels.tobytes()))
        images = np.full((n, 28, 28), 7, np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0" * 16 + images.tobytes()))
    data = load_data(spec, inf, base_dir=tmp_path)
    assert data.train.x["image"].shape == (5, 28, 28, 1) and data.train.y["label"].tolist() == [0, 1, 2, 3, 4]
    assert data.test.x["image"].shape == (2, 28, 28, 1) and data.class_names[0] == "T-shirt/top"


def test_keras_boston_housing_reproduces_keras_split(keras_home, tmp_path):
    x = np.arange(20 * 13, dtype=np.float64).reshape(20, 13)
    np.savez(keras_home / "boston_housing.npz", x=x, y=np.arange(20, dtype=np.float64))
    spec, inf = build("""
kspec: 1
name: boston
model:
  input: {shape: [13]}
  layers: [{type: Dense, units: 1}]
training: {loss: mse}
data: {source: {type: keras_dataset, name: boston_housing}, shuffle: false}
""")
    data = load_data(spec, inf, base_dir=tmp_path)
    indices = np.arange(20)
    np.random.RandomState(113).shuffle(indices)
    np.testing.assert_array_equal(data.train.y["dense"][:, 0], indices[:16])
    np.testing.assert_array_equal(data.test.y["dense"][:, 0], indices[16:])
    assert data.train.x["input_layer"].shape == (16, 13) and data.train.y["dense"].shape == (16, 1)


def test_keras_cifar10_from_the_cached_archive_without_unsafe_pickle(keras_home, tmp_path):
    def batch(n, start):
        data = np.arange(n * 3072, dtype=np.int64).reshape(n, 3072).astype(np.uint8)
        return pickle.dumps({b"data": data, b"labels": [(start + i) % 10 for i in range(n)]}, protocol=3)

    with tarfile.open(keras_home / "cifar-10-batches-py-target_archive", "w:gz") as tar:
        for name, payload in [(f"data_batch_{i}", batch(2, i)) for i in range(1, 6)] + [("test_batch", batch(3, 0))]:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    spec, inf = build(SMALL_CNN.replace("[6, 6, 1]", "[32, 32, 3]").replace("units: 3", "units: 10"),
                      source="{type: keras_dataset, name: cifar10}", val=0.0, test=0.0, shuffle="false")
    data = load_data(spec, inf, base_dir=tmp_path)
    assert data.train.x["image"].shape == (10, 32, 32, 3) and data.test.x["image"].shape == (3, 32, 32, 3)
    assert data.train.y["label"].tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
    # channels last, as Keras: pixel (0, 0) holds the first byte of each colour plane
    assert data.train.x["image"][0, 0, 0].tolist() == [0, 1024 % 256, 2048 % 256]
    assert data.class_names[0] == "airplane"


def test_keras_pickle_gadgets_are_refused(keras_home, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    target = keras_home / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    target.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (target / name).write_bytes(pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=3))
    spec, inf = build(SMALL_CNN.replace("[6, 6, 1]", "[32, 32, 3]").replace("units: 3", "units: 10"),
                      source="{type: keras_dataset, name: cifar10}", val=0.0, test=0.0, shuffle="false")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert "refusing to load 'builtins.print'" in message(err) and "data_batch_1" in message(err)


def ragged(rows):
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = list(row)
    return out


def test_keras_imdb_padded_to_the_input_with_the_embedding_vocabulary(keras_home, tmp_path):
    np.savez(keras_home / "imdb.npz", x_train=ragged([[1, 2], [3, 4, 40], [5, 6, 7, 8, 9, 10, 11]]), y_train=np.array([0, 1, 1]),
             x_test=ragged([[5]]), y_test=np.array([1]))
    spec, inf = text_spec("{type: keras_dataset, name: imdb}", length=6, vocab=20, shuffle="false")
    data = load_data(spec, inf, base_dir=tmp_path)
    x, y = data.train.x["input_layer"], data.train.y["dense"]
    # Keras's preprocessing: start 1, ids + 3, ids >= num_words (the Embedding's 20) -> OOV 2; then padded and
    # truncated at the front to the input's 6 tokens.
    rows = sorted((row.tolist(), float(label[0])) for row, label in zip(x, y))
    assert rows == [([0, 0, 0, 1, 4, 5], 0.0), ([0, 0, 1, 6, 7, 2], 1.0), ([9, 10, 11, 12, 13, 14], 1.0)]
    assert data.test.x["input_layer"].tolist() == [[0, 0, 0, 0, 1, 8]]
    assert x.dtype == np.int32 and data.class_names == ["negative", "positive"]
    assert data.preprocessing == {
        "input_layer": {
            "kind": "array",
            "field": "x",
            "dataset": "imdb",
            "num_words": 20,
            "seed": 113,
            "start_char": 1,
            "oov_char": 2,
            "index_from": 3,
            "sequence_length": 6,
            "padding": "pre",
            "truncating": "pre",
        }
    }


def test_keras_reuters_split_like_keras(keras_home, tmp_path):
    np.savez(keras_home / "reuters.npz", x=ragged([[i] for i in range(10)]), y=np.arange(10) % 3)
    spec, inf = text_spec("{type: keras_dataset, name: reuters}", length=3, vocab=30, units=3, act="softmax",
                          loss="sparse_categorical_crossentropy", shuffle="false")
    data = load_data(spec, inf, base_dir=tmp_path)
    indices = np.arange(10)
    np.random.RandomState(113).shuffle(indices)
    assert data.train.x["input_layer"].tolist() == [[0, 1, int(i) + 3] for i in indices[:8]]
    assert data.test.y["dense"].tolist() == (indices[8:] % 3).tolist()


# ---- embedded ---------------------------------------------------------------------------------------------------


def test_embedded_digits_and_attribution():
    spec, inf = build("""
kspec: 1
name: d
model:
  input: {shape: [8, 8, 1]}
  layers: [{type: Flatten}, {type: Dense, units: 10, activation: softmax}]
training: {loss: sparse_categorical_crossentropy}
data: {source: {type: embedded, name: digits}, test_split: 0.2}
""")
    data = load_data(spec, inf, base_dir=pathlib.Path("."), seed=0)
    assert data.description == "embedded digits: 1,437 train / 360 test examples"
    x, y = data.train.x["input_layer"], data.train.y["dense"]
    assert x.shape == (1437, 8, 8, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert x.min() == 0 and x.max() == 16
    assert sorted(set(np.concatenate([y, data.test.y["dense"]]).tolist())) == list(range(10))
    assert np.bincount(np.concatenate([y, data.test.y["dense"]])).sum() == 1797
    readme = (ROOT / "kspec" / "datasets" / "README.md").read_text()
    for part in ("E. Alpaydin and C. Kaynak", "Optical Recognition of Handwritten", "10.24432/C50P49", "CC BY 4.0",
                 "scikit-learn", "BSD-3-Clause"):
        assert part in readme


# ---- synthetic ------------------------------------------------------------------------------------------------


def test_synthetic_sequential_cnn_is_seeded():
    text = (ROOT / "specs" / "mnist_cnn.yaml").read_text()
    text = text.replace("{type: keras_dataset, name: mnist}", "{type: synthetic, samples: 40, seed: 5}")
    spec, inf = build(text)
    a = load_data(spec, inf, base_dir=ROOT)
    b = load_data(spec, inf, base_dir=ROOT, seed=99)  # the source's own seed wins
    assert a.description == "synthetic (40 samples, seed 5): 36 train / 4 validation examples"
    assert a.train.x["input_layer"].shape == (36, 28, 28, 1) and a.train.x["input_layer"].dtype == np.float32
    assert a.train.y["dense"].dtype == np.int32 and set(a.train.y["dense"].tolist()) <= set(range(10))
    np.testing.assert_array_equal(a.train.x["input_layer"], b.train.x["input_layer"])


def test_synthetic_embedding_text_ids_stay_in_the_vocabulary():
    spec, inf = text_spec("{type: synthetic, samples: 64, seed: 1}", vocab=7, units=4, act="softmax", loss="categorical_crossentropy")
    data = load_data(spec, inf, base_dir=ROOT)
    x, y = data.train.x["input_layer"], data.train.y["dense"]
    assert x.shape == (64, 10) and x.dtype == np.int32 and x.min() >= 1 and x.max() <= 6
    assert y.shape == (64, 4) and y.dtype == np.float32 and (y.sum(axis=1) == 1).all()


def test_synthetic_two_inputs_two_outputs():
    spec, inf = build(TWO_IN_TWO_OUT, source="{type: synthetic, samples: 16, seed: 0}")
    data = load_data(spec, inf, base_dir=ROOT)
    assert {k: v.shape for k, v in data.train.x.items()} == {"a": (16, 4), "b": (16, 3)}
    assert data.train.y["cls"].shape == (16,) and data.train.y["cls"].max() < 3
    assert data.train.y["reg"].shape == (16, 1) and data.train.y["reg"].dtype == np.float32


def test_synthetic_unknown_dims_take_the_first_size_the_model_accepts():
    spec, inf = build("""
kspec: 1
name: v
model:
  input: {shape: [null, null, 1]}
  layers:
    - {type: Conv2D, filters: 2, kernel_size: 17}
    - {type: GlobalMaxPooling2D}
    - {type: Dense, units: 1, activation: sigmoid}
training: {loss: binary_crossentropy}
data: {source: {type: synthetic, samples: 4, seed: 0}}
""")
    data = load_data(spec, inf, base_dir=ROOT)
    assert data.train.x["input_layer"].shape == (4, 32, 32, 1)  # 16 is too small for a 17x17 kernel
    assert set(data.train.y["dense"].ravel().tolist()) <= {0.0, 1.0} and data.train.y["dense"].shape == (4, 1)


# ---- --data forms ---------------------------------------------------------------------------------------------


def test_source_from_cli_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert source_from_cli("synthetic") == SyntheticSource(type="synthetic")
    assert source_from_cli("synthetic:1024").samples == 1024
    assert source_from_cli("embedded") == source_from_cli("embedded:digits") == EmbeddedSource(type="embedded", name="digits")
    assert source_from_cli("keras:mnist") == KerasDatasetSource(type="keras_dataset", name="mnist")
    assert source_from_cli("data/x.npz") == NpzSource(type="npz", path="data/x.npz")
    assert source_from_cli("t.CSV") == CsvSource(type="csv", path="t.CSV")
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "a" / "1.JPG").write_bytes(b"")
    (tmp_path / "txt" / "a").mkdir(parents=True)
    (tmp_path / "txt" / "a" / "1.txt").write_text("hi")
    assert source_from_cli("imgs") == ImageDirectorySource(type="image_directory", path="imgs")
    assert source_from_cli("txt") == TextDirectorySource(type="text_directory", path="txt")


@pytest.mark.parametrize(
    "value,part",
    [
        ("mnist", "--data 'mnist' is not a data source kspec knows, nor an existing directory; accepted forms: 'synthetic'"),
        ("synthetic:0", "the number of synthetic samples must be a positive integer, received '0'"),
        ("synthetic:²", "the number of synthetic samples must be a positive integer, received '²'"),  # int("²") raised
        ("synthetic:" + "9" * 5000, "the number of synthetic samples must be a positive integer"),
        ("keras:mnits", "'mnits' is not a Keras dataset kspec can read; expected one of mnist, fashion_mnist, cifar10, "
                        "cifar100, imdb, reuters, boston_housing. Did you mean 'mnist'?"),
        ("embedded:iris", "the embedded datasets are: digits; received 'iris'"),
        ("empty", "the directory holds no images (.png .jpg .jpeg .bmp .gif) and no .txt files"),
    ],
)
def test_source_from_cli_errors(tmp_path, monkeypatch, value, part):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError) as err:
        source_from_cli(value)
    assert part in message(err)


# ---- every DataError path ---------------------------------------------------------------------------------------

IMAGE_SPEC = """
kspec: 1
name: m
model:
  inputs: [{name: image, shape: [28, 28, 1]}]
  nodes:
    - {name: flat, type: Flatten, inputs: image}
    - {name: label, type: Dense, units: 10, activation: softmax, inputs: flat}
  outputs: [label]
training: {loss: sparse_categorical_crossentropy}
data: {source: {type: npz, path: mnist.npz}}
"""


def test_wrong_shape_message(tmp_path):
    np.savez(tmp_path / "mnist.npz", x=np.zeros((4, 28, 28, 3), np.uint8), y=np.zeros(4, np.uint8))
    spec, inf = build(IMAGE_SPEC)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "`data.inputs.image` (field 'x' of mnist.npz) has examples of shape (28, 28, 3) and dtype uint8, "
        "but model input 'image' expects shape (28, 28, 1) and dtype float32."
    )


def test_wrong_dtype_message(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.full((3, 10), 0.5), y=np.zeros(3))
    spec, inf = text_spec("{type: npz, path: d.npz}")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "`data.inputs.input_layer` (field 'x' of d.npz) has examples of shape (10,) and dtype float64, but model input "
        "'input_layer' expects shape (10,) and dtype int32. Its values are not all integers (e.g. np.float64(0.5)), "
        "so they cannot become int32 without changing them."
    )


def test_integral_floats_become_ints_and_embedding_range_is_checked(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.array([[1.0] * 10, [3.0] * 10]), y=np.array([0, 1]))
    spec, inf = text_spec("{type: npz, path: d.npz}", vocab=4)
    data = load_data(spec, inf, base_dir=tmp_path)
    assert data.train.x["input_layer"].dtype == np.int32
    np.savez(tmp_path / "d.npz", x=np.array([[1] * 10, [4] * 10]), y=np.array([0, 1]))
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "`data.inputs.input_layer` (field 'x' of d.npz) holds the id 4, but model input 'input_layer' feeds the "
        "Embedding layer 'embedding' with input_dim 4, which accepts ids in [0, 4). Raise input_dim or limit the "
        "vocabulary of the data (text_directory: max_tokens)."
    )


def test_unknown_default_field(tmp_path):
    np.savez(tmp_path / "mnist.npz", images_train=np.zeros((2, 28, 28)), images_test=np.zeros((1, 28, 28)), y=np.zeros(2))
    spec, inf = build(IMAGE_SPEC)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "The model input 'image' is not mapped in `data.inputs`, and its default field 'x' is not in mnist.npz; "
        "map it with `data.inputs: {image: <field>}`. Available fields: 'images', 'y'."
    )


def test_mixed_test_parts_are_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28)), x_test=np.zeros((1, 28, 28)), y=np.zeros(2))
    spec, inf = build(IMAGE_SPEC)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "mnist.npz: some of the mapped fields have a test part and some do not, so the test split cannot be formed. "
        "With a test part: `data.inputs.image` (field 'x' (x_train) of mnist.npz); without: `data.labels.label` "
        "(field 'y' of mnist.npz). Expected every mapped field to have a test part (e.g. x_train with x_test) or none of them."
    )


def test_out_of_range_class_id(tmp_path):
    np.savez(tmp_path / "mnist.npz", x=np.zeros((3, 28, 28)), y=np.array([0, 10, 3]))
    spec, inf = build(IMAGE_SPEC)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "`data.labels.label` (field 'y' of mnist.npz) holds the class id 10, but output 'label' has 10 classes: "
        "class ids must be in [0, 10)."
    )


def test_sparse_labels_of_the_wrong_shape(tmp_path):
    np.savez(tmp_path / "mnist.npz", x=np.zeros((3, 28, 28)), y=np.zeros((3, 10)))
    spec, inf = build(IMAGE_SPEC)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "`data.labels.label` (field 'y' of mnist.npz) has examples of shape (10,) and dtype float64, but output 'label' "
        "with loss sparse_categorical_crossentropy expects integer class ids of shape () (or (1,)) in [0, 10)."
    )


def test_one_hot_losses_encode_integer_ids_and_binary_labels_are_checked(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 6, 6)), y=np.array([[2], [0], [1]]))
    spec, inf = small_cnn("{type: npz, path: d.npz}", shuffle="false", loss="categorical_crossentropy")
    data = load_data(spec, inf, base_dir=tmp_path)
    np.testing.assert_array_equal(data.train.y["label"], np.eye(3, dtype=np.float32)[[2, 0, 1]])
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 10), np.int32), y=np.array([0, 1, 2]))
    spec, inf = text_spec("{type: npz, path: d.npz}")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "`data.labels.dense` (field 'y' of d.npz) holds the label 2, but output 'dense' with loss binary_crossentropy "
        "expects labels in [0, 1] (0/1 classes or probabilities)."
    )


def test_arrays_of_different_lengths(tmp_path):
    np.savez(tmp_path / "mnist.npz", x=np.zeros((3, 28, 28)), y=np.zeros(4))
    spec, inf = build(IMAGE_SPEC)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err) == (
        "In the training split, `data.inputs.image` (field 'x' of mnist.npz) has 3 examples but "
        "`data.labels.label` (field 'y' of mnist.npz) has 4; every input and label array needs one entry per example."
    )


@pytest.mark.parametrize(
    "val,test,expected",
    [
        (0.0, "1.0e-17", "`data.test_split` (1e-17) holds out no examples: d.npz has only 3 examples left, "
                         "and 1e-17 of them rounds down to 0."),
        (0.9, 0.0, "`training.validation_split` (0.9) leaves no training examples: d.npz has 3 examples and keeping 0.1 of them gives 0."),
    ],
)
def test_empty_splits(tmp_path, val, test, expected):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 6, 6)), y=np.zeros(3))
    spec, inf = small_cnn("{type: npz, path: d.npz}", val=val, test=test)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert message(err).startswith(expected)


def test_no_data_section():
    spec, inf = build("""
kspec: 1
name: nodata
model: {input: {shape: [3]}, layers: [{type: Dense, units: 1}]}
training: {loss: mse}
""")
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=ROOT)
    assert message(err).startswith("The spec 'nodata' has no `data` section") and "--data" in message(err)
    data = load_data(spec, inf, base_dir=ROOT, source=source_from_cli("synthetic:8"), seed=0)
    assert data.train.x["input_layer"].shape == (8, 3) and data.train.y["dense"].shape == (8, 1)


def test_check_split_adapts_in_place_and_names_the_split():
    spec, inf = build(IMAGE_SPEC)
    split = Split({"image": np.zeros((2, 28, 28), np.uint8)}, {"label": np.array([[1], [2]], np.int64)})
    check_split(split, inf, spec.training, where="test split")
    assert split.x["image"].shape == (2, 28, 28, 1) and split.x["image"].dtype == np.float32
    assert split.y["label"].tolist() == [1, 2] and split.y["label"].dtype == np.int32
    bad = Split({"image": np.zeros((2, 27, 28))}, {"label": np.array([1, 2])})
    with pytest.raises(DataError) as err:
        check_split(bad, inf, spec.training, where="test split")
    assert message(err).startswith("`data.inputs.image` (test split) has examples of shape (27, 28)")
    with pytest.raises(DataError) as err:
        check_split(Split({"img": np.zeros((2, 28, 28))}, {"label": np.array([1, 2])}), inf, spec.training, where="test split")
    assert message(err) == "The test split does not match the model's inputs: expected arrays for image, received arrays for img."


# ---- tf.data and Keras ----------------------------------------------------------------------------------------


def test_make_tf_dataset_structures():
    import tensorflow as tf

    single = Split({"image": np.zeros((5, 2), np.float32)}, {"label": np.arange(5, dtype=np.int32)})
    ds = make_tf_dataset(single, batch_size=2, shuffle=False, seed=None)
    x_spec, y_spec = ds.element_spec
    assert isinstance(x_spec, tf.TensorSpec) and x_spec.shape.as_list() == [None, 2]
    assert isinstance(y_spec, tf.TensorSpec) and y_spec.dtype == tf.int32
    assert [int(len(y)) for _, y in ds] == [2, 2, 1]
    assert [int(len(y)) for _, y in make_tf_dataset(single, batch_size=2, shuffle=False, seed=None, drop_remainder=True)] == [2, 2]
    multi = Split({"a": np.zeros((4, 4), np.float32), "b": np.zeros((4, 3), np.float32)},
                  {"cls": np.zeros(4, np.int32), "reg": np.zeros((4, 1), np.float32)})
    x_spec, y_spec = make_tf_dataset(multi, batch_size=2, shuffle=True, seed=1).element_spec
    assert set(x_spec) == {"a", "b"} and set(y_spec) == {"cls", "reg"}
    _, y_spec = make_tf_dataset(multi, batch_size=2, shuffle=False, seed=None, single_output_name="reg").element_spec
    assert isinstance(y_spec, tf.TensorSpec) and y_spec.shape.as_list() == [None, 1]
    shuffled = [y.numpy().tolist() for _, y in make_tf_dataset(single, batch_size=5, shuffle=True, seed=3)]
    again = [y.numpy().tolist() for _, y in make_tf_dataset(single, batch_size=5, shuffle=True, seed=3)]
    assert shuffled == again and sorted(shuffled[0]) == [0, 1, 2, 3, 4]


def test_digits_feed_keras_fit():
    import keras

    spec, inf = build("""
kspec: 1
name: d
model:
  input: {shape: [8, 8, 1]}
  layers: [{type: Flatten}, {type: Dense, units: 10, activation: softmax}]
training: {loss: sparse_categorical_crossentropy, validation_split: 0.1}
data: {source: {type: embedded}}
""")
    data = load_data(spec, inf, base_dir=ROOT, seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train = make_tf_dataset(data.train, batch_size=64, shuffle=True, seed=0)
    val = make_tf_dataset(data.validation, batch_size=64, shuffle=False, seed=None)
    history = model.fit(train, validation_data=val, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0]) and "val_accuracy" in history.history
    assert re.fullmatch(r"embedded digits: 1,617 train / 180 validation examples", data.description)
