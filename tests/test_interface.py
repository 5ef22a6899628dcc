"""`kspec.use.interface`: interface.json, the vocabulary file and serving.keras of tiny real runs (a text
classifier, an image classifier, a CSV regression), checked against Keras: the serving model on raw examples
equals model.keras on the loader's arrays.

The runs' data keep their source order (`data.shuffle: false`), so the loader's splits, concatenated, line up
with the files (and CSV rows) in order. The helpers here are shared with tests/test_predict.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kspec.check import check
from kspec.rundir import RunDirError
from kspec.use import interface

pytest.importorskip("tensorflow")

from kspec.train.data import load_data  # noqa: E402
from kspec.train.run import TrainOptions, build_and_train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

#: the example text classifier, made tiny; source order kept
TEXT_OVERRIDES = (
    "model.input.shape=[16]",
    "model.layers.0.input_dim=100",
    "model.layers.0.output_dim=8",
    "model.layers.1.units=4",
    "data.shuffle=false",
    "training.callbacks=[]",
)
TEXTS = {
    "neg": ["Bad, awful film.", "Terrible acting; boring plot!", "I hated it", "awful awful AWFUL", "Not good."],
    "pos": ["Great film! Café.", "Wonderful acting, lovely plot.", "I loved it", "great great GREAT", "Very good!"],
}

IMAGE_SPEC = """\
kspec: 1
name: tiny_cnn
model:
  input: {shape: [16, 16, 3]}
  layers:
    - {type: Rescaling, scale: 0.00392156862745098}
    - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
    - {type: GlobalAveragePooling2D}
    - {type: Dense, units: 3, activation: softmax}
training:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  batch_size: 4
  validation_split: 0.25
  seed: 1
data:
  source: {type: image_directory, path: images}
  shuffle: false
"""
IMAGE_CLASSES = ("cat", "dog", "fox")

CSV_SPEC = """\
kspec: 1
name: tiny_regression
model:
  input: {shape: [3]}
  layers:
    - {type: Dense, units: 4, activation: relu}
    - {type: Dense, units: 1}
training:
  optimizer: adam
  loss: mse
  batch_size: 8
  seed: 2
data:
  source: {type: csv, path: table.csv}
  shuffle: false
  test_split: 0.25
"""
CSV_COLUMNS = ("a", "b", "c")


def make_texts(root: Path) -> Path:
    for label, texts in TEXTS.items():
        (root / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / label / f"{i}.txt").write_text(text, encoding="utf-8")
    return root


def make_images(root: Path) -> Path:
    """Three classes of PNGs of different sizes (none 16x16, so resizing matters)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(IMAGE_CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, (12 + 3 * i, 20 + c, 3), dtype=np.uint8)
            pixels[..., c] //= 4
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def make_csv(path: Path, rows: int = 16) -> Path:
    rng = np.random.default_rng(1)
    lines = ["a,b,c,label"]
    for _ in range(rows):
        a, b, c = rng.normal(size=3).round(3)
        lines.append(f"{a},{b},{c},{a - 2 * b + c:.3f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_run(spec: Path, out: Path, **options) -> Path:
    """A one-step run of `spec` in `out`, with its interface files."""
    result = build_and_train(
        str(spec), TrainOptions(epochs=1, steps=1, verbose=0, output=str(out), **options), echo=lambda _: None
    )
    assert result.run_dir == out and (out / "interface.json").is_file()  # every run writes its interface
    return out


def text_run(root: Path) -> Path:
    return train_run(
        ROOT / "specs" / "text_classifier.yaml",
        root / "run",
        data=str(make_texts(root / "texts")),
        overrides=TEXT_OVERRIDES,
    )


def image_run(root: Path) -> Path:
    make_images(root / "images")
    (root / "spec.yaml").write_text(IMAGE_SPEC, encoding="utf-8")
    return train_run(root / "spec.yaml", root / "run")


def csv_run(root: Path) -> Path:
    make_csv(root / "table.csv")
    (root / "spec.yaml").write_text(CSV_SPEC, encoding="utf-8")
    return train_run(root / "spec.yaml", root / "run")


def loader_arrays(run_dir: Path):
    """The loader's arrays for the run's data, in source order (train, validation, test), and its LoadedData."""
    report = check(str(run_dir / "spec.yaml"))
    loaded = load_data(report.spec, report.inference, base_dir=run_dir, seed=report.spec.training.seed)
    splits = [s for s in (loaded.train, loaded.validation, loaded.test) if s is not None]
    splits = [s.arrays() if getattr(s, "streamed", False) else s for s in splits]  # a streamed split, read here
    return {name: np.concatenate([s.x[name] for s in splits]) for name in splits[0].x}, loaded


def model_outputs(run_dir: Path, arrays: dict) -> np.ndarray:
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return np.asarray(model.predict(next(iter(arrays.values())), verbose=0))


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    return text_run(tmp_path_factory.mktemp("text"))


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return image_run(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    return csv_run(tmp_path_factory.mktemp("csv"))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ---- interface.json ----------------------------------------------------------------------------------------


def test_text_classifier_interface(text: Path) -> None:
    document = read_json(text / "interface.json")
    _, loaded = loader_arrays(text)
    vocabulary = loaded.preprocessing["input_layer"]["vocabulary"]
    assert document == {
        "format": "kspec-interface/1",
        "spec": "text_classifier",
        "inputs": [
            {
                "name": "input_layer",
                "dtype": "int32",
                "shape": [None, 16],
                "raw": "text",
                "value_range": [0, 100],
                "preprocessing": {
                    "kind": "text",
                    "vocabulary_file": "preprocessing/vocabulary.txt",
                    "vocabulary_size": len(vocabulary),
                    "max_tokens": 100,
                    "sequence_length": 16,
                    "standardize": "lower_and_strip_punctuation",
                    "split": "whitespace",
                    "output_mode": "int",
                    "encoding": "utf-8",
                    "errors": "replace",
                },
            }
        ],
        "outputs": [
            {
                "name": "dense",
                "dtype": "float32",
                "shape": [None, 1],
                "kind": "binary_probability",
                "class_names": ["neg", "pos"],
                "activation": "sigmoid",
                "loss": "binary_crossentropy",
            }
        ],
        "serving": "serving.keras",
    }
    # one token per line; the padding token (empty) and [UNK] first; the loader's vocabulary exactly
    lines = (text / "preprocessing" / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    assert lines[:2] == ["", "[UNK]"] and lines[-1] == ""
    assert lines[:-1] == vocabulary
    assert "café" in vocabulary
    assert interface.read(text).vocabulary("input_layer") == vocabulary


def test_image_classifier_interface(image: Path) -> None:
    document = read_json(image / "interface.json")
    (entry,) = document["inputs"]
    assert entry == {
        "name": "input_layer",
        "dtype": "float32",
        "shape": [None, 16, 16, 3],
        "raw": "image",
        "value_range": None,
        "preprocessing": {
            "kind": "image",
            "image_size": [16, 16],
            "color_mode": "rgb",
            "channels": 3,
            "interpolation": "bilinear",
            "value_range": [0, 255],
            "extensions": [".bmp", ".gif", ".jpeg", ".jpg", ".png"],
        },
    }
    assert document["outputs"] == [
        {
            "name": "dense",
            "dtype": "float32",
            "shape": [None, 3],
            "kind": "class_probabilities",
            "class_names": list(IMAGE_CLASSES),
            "activation": "softmax",
            "loss": "sparse_categorical_crossentropy",
        }
    ]
    assert document["serving"] == "serving.keras"
    assert not (image / "preprocessing").exists()


def test_csv_regression_interface(table: Path) -> None:
    document = read_json(table / "interface.json")
    assert document["inputs"] == [
        {
            "name": "input_layer",
            "dtype": "float32",
            "shape": [None, 3],
            "raw": "numbers",
            "value_range": None,
            "preprocessing": {"kind": "columns", "columns": list(CSV_COLUMNS), "delimiter": ","},
        }
    ]
    assert document["outputs"] == [
        {
            "name": "dense_1",
            "dtype": "float32",
            "shape": [None, 1],
            "kind": "regression",
            "class_names": None,
            "activation": "linear",
            "loss": "mean_squared_error",  # the spec's `mse`, normalised to Keras's canonical name
        }
    ]
    # nothing to put in front of the model: no serving.keras, and the note says why
    assert document["serving"] is None
    assert document["serving_note"] == (
        "The model's inputs are numbers, which model.keras takes as they are; it is the serving model."
    )
    assert not (table / "serving.keras").exists()


# ---- serving.keras ---------------------------------------------------------------------------------------------


def test_text_serving_model_equals_the_model_on_the_loaders_arrays(text: Path) -> None:
    import keras

    arrays, _ = loader_arrays(text)
    files = sorted((text.parent / "texts").rglob("*.txt"))
    raw = np.array([f.read_text(encoding="utf-8") for f in files], dtype=object)
    serving = keras.saving.load_model(text / "serving.keras", compile=False)
    assert serving.inputs[0].dtype == "string" and tuple(serving.inputs[0].shape) == (None,)
    got = serving.predict({"input_layer": raw}, verbose=0)["dense"]
    want = model_outputs(text, arrays)
    assert got.shape == want.shape == (len(files), 1)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_image_serving_model_takes_decoded_images_of_any_size(image: Path) -> None:
    import keras
    from PIL import Image

    arrays, _ = loader_arrays(image)
    files = sorted((image.parent / "images").rglob("*.png"))
    serving = keras.saving.load_model(image / "serving.keras", compile=False)
    assert tuple(serving.inputs[0].shape) == (None, None, None, 3)
    want = model_outputs(image, arrays)
    for i, file in enumerate(files):  # sizes differ: one image per call, uint8 as decoded
        pixels = np.asarray(Image.open(file).convert("RGB"))[np.newaxis]
        assert pixels.shape[1:3] != (16, 16)
        got = serving.predict_on_batch({"input_layer": pixels})["dense"]
        np.testing.assert_allclose(got[0], want[i], atol=1e-5, rtol=0)


def test_resizing_layer_matches_tf_image_resize() -> None:
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(3)
    for h, w in ((7, 30), (40, 9), (16, 16), (1, 1)):
        pixels = rng.integers(0, 256, (1, h, w, 3)).astype(np.uint8)
        want = tf.image.resize(pixels[0], (16, 16), method="bilinear").numpy()
        got = keras.layers.Resizing(16, 16, interpolation="bilinear")(pixels.astype(np.float32))
        np.testing.assert_allclose(np.asarray(got)[0], want, atol=1e-4, rtol=0)


def test_an_unverified_serving_model_is_not_written(text: Path, tmp_path: Path, monkeypatch) -> None:
    import keras

    run = tmp_path / "run"
    shutil.copytree(text, run)
    report = check(str(run / "spec.yaml"))
    loaded = load_data(report.spec, report.inference, base_dir=run, seed=report.spec.training.seed)
    model = keras.saving.load_model(run / "model.keras")
    monkeypatch.setattr(interface, "SERVING_TOLERANCE", -1.0)  # nothing can pass
    written = interface.write(run, report.spec, report.inference, loaded, model)
    assert written == ["interface.json", "preprocessing/vocabulary.txt"]
    document = read_json(run / "interface.json")
    assert document["serving"] is None
    assert document["serving_note"].startswith("The serving model's outputs differ from model.keras's on the training")
    assert not (run / "serving.keras").exists()  # the earlier one is removed
    assert not [p for p in run.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]


# ---- describe and output kinds ---------------------------------------------------------------------------------


LOGITS = SimpleNamespace(type="SparseCategoricalCrossentropy", from_logits=True)
BINARY_LOGITS = SimpleNamespace(type="BinaryCrossentropy", from_logits=True)


@pytest.mark.parametrize(
    ("loss", "activation", "shape", "kind"),
    [
        ("sparse_categorical_crossentropy", "softmax", [None, 3], "class_probabilities"),
        ("categorical_crossentropy", "softmax", [None, 3], "class_probabilities"),
        (LOGITS, "linear", [None, 3], "class_logits"),
        ("binary_crossentropy", "sigmoid", [None, 1], "binary_probability"),
        (BINARY_LOGITS, "linear", [None, 1], "binary_logit"),
        ("binary_crossentropy", "sigmoid", [None, 5], "multilabel_probabilities"),
        (BINARY_LOGITS, None, [None, 5], "multilabel_logits"),
        ("mse", "linear", [None, 1], "regression"),
        ("huber", None, [None, 2], "regression"),
        ("hinge", "tanh", [None, 1], "values"),
        ("kl_divergence", "softmax", [None, 4], "class_probabilities"),
        (None, "softmax", [None, 4], "values"),
    ],
)
def test_output_kind(loss, activation, shape, kind) -> None:
    assert interface.output_kind(loss, activation, shape) == kind


def test_describe_imports_no_tensorflow() -> None:
    program = """
import sys
from types import SimpleNamespace
import kspec
from kspec.use import interface
report = kspec.check({spec!r})
loaded = SimpleNamespace(preprocessing={{}}, label_names={{}})
document = interface.describe(report.spec, report.inference, loaded)
assert document["outputs"][0]["kind"] == "class_probabilities", document
print("HEAVY:", sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
"""
    out = subprocess.run(
        [sys.executable, "-c", program.format(spec=str(ROOT / "specs" / "mnist_cnn.yaml"))],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert "HEAVY: []" in out, out


# ---- read ------------------------------------------------------------------------------------------------------


def test_read_gives_the_interface(image: Path) -> None:
    got = interface.read(image)
    assert got.spec == "tiny_cnn" and got.serving == "serving.keras" and got.serving_note is None
    (inp,) = got.inputs
    assert (inp.name, inp.raw, inp.kind, inp.shape, inp.value_range) == (
        "input_layer",
        "image",
        "image",
        (None, 16, 16, 3),
        None,
    )
    (out,) = got.outputs
    assert (out.kind, out.class_names, out.shape) == ("class_probabilities", IMAGE_CLASSES, (None, 3))


def test_read_refuses_a_missing_interface(tmp_path: Path) -> None:
    with pytest.raises(RunDirError) as info:
        interface.read(tmp_path)
    assert str(info.value) == (
        f"'{tmp_path}' has no interface.json, so kspec cannot tell what its model takes and gives (the run was "
        "written by an older kspec). Train it again to write one; model.keras can still be loaded with Keras."
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", None),
        ("[1, 2]", "it holds a list, not an object"),
        (
            '{"format": "kspec-interface/9"}',
            "it has format 'kspec-interface/9', where this kspec reads 'kspec-interface/1'",
        ),
        ('{"format": "kspec-interface/1", "spec": "s", "outputs": []}', "it lacks 'inputs'"),
        (
            '{"format": "kspec-interface/1", "spec": "s", "inputs": [], "outputs": []}',
            "it lists no inputs or no outputs",
        ),
    ],
)
def test_read_refuses_a_malformed_interface(tmp_path: Path, content: str, problem: str | None) -> None:
    path = tmp_path / "interface.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RunDirError) as info:
        interface.read(tmp_path)
    if problem is None:
        assert str(info.value).startswith(f"{path} cannot be read as JSON (Expecting property name")
        assert str(info.value).endswith("); the run directory is damaged.")
    else:
        assert str(info.value) == f"{path} is malformed: {problem}. The run directory is damaged."
