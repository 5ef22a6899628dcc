"""Streamed sources (image directories, Parquet): examples read while training, bad examples in the middle of the
stream named by file and row (or skipped with --skip-bad-examples), hold-outs and shuffling from the seed, and
training on data larger than the memory the process may use."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kspec.train.data import DataError, load_data
from kspec.train.run import TrainOptions, build_and_train

from .test_data_loaders import build

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = pathlib.Path(__file__).resolve().parents[1]

IMAGE_SPEC = """
kspec: 1
name: streamed_images
model:
  input: {name: image, shape: [12, 12, 3]}
  layers:
    - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
    - {type: GlobalAveragePooling2D}
    - {type: Dense, name: label, units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: %(epochs)s
  batch_size: 16
  seed: 3
data:
  source: {type: image_directory, path: imgs}
  test_split: %(test)s
"""

TABLE_SPEC = """
kspec: 1
name: streamed_table
model:
  input: {name: x, shape: [%(features)s]}
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, name: label, units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: %(epochs)s
  batch_size: 32
  seed: 5
data:
  source: {type: parquet, path: "%(path)s"}
  inputs: {x: %(field)s}
  test_split: %(test)s
"""


def write_images(root: pathlib.Path, per_class: int, size: int = 12) -> list[pathlib.Path]:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    files = []
    for c, name in enumerate(["a", "b", "c"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((size, size, 3), 40 + 80 * c, np.uint8) + rng.integers(0, 30, (size, size, 3), dtype=np.uint8)
            path = root / name / f"{i:04d}.png"
            path.write_bytes(tf.io.encode_png(pixels).numpy())
            files.append(path)
    return files


def write_table(path: pathlib.Path, rows: int, features: int = 6, groups: int = 50, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    table = pa.table(
        {
            "x": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), features),
            "f0": x[:, 0],
            "f1": x[:, 1],
            "label": y,
        }
    )
    pq.write_table(table, path, row_group_size=groups)
    return x, y


def spec_file(tmp_path: pathlib.Path, template: str, **values) -> pathlib.Path:
    path = tmp_path / "spec.yaml"
    path.write_text(template % values)
    return path


def train(spec: pathlib.Path, run: str = "run", **options):
    messages: list[str] = []
    opts = TrainOptions(output=str(spec.parent / run), verbose=0, **options)
    result = build_and_train(str(spec), opts, echo=messages.append)
    return result, messages


# ---- image directories --------------------------------------------------------------------------------


def test_a_corrupt_image_in_the_middle_of_the_stream_stops_training_naming_it_and_resume_continues(tmp_path):
    files = write_images(tmp_path / "imgs", 40)
    broken = files[100]  # class c: past the first batch that is checked before training
    broken.write_bytes(b"\x89PNG but not really")
    spec = spec_file(tmp_path, IMAGE_SPEC, epochs=2, test=0)
    with pytest.raises(DataError) as err:
        train(spec)
    text = str(err.value)
    assert text.startswith(f"Training stopped at a bad example. The image {broken} cannot be decoded (")
    assert "expected a PNG, JPEG, BMP or GIF image." in text
    assert "--resume" in text and "--skip-bad-examples" in text and "Traceback" not in text
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "failed"
    broken.unlink()  # fixed: the run continues where it stopped
    result = build_and_train(str(spec), TrainOptions(output=str(tmp_path / "run"), resume=True, verbose=0), echo=lambda m: None)
    assert result.epochs_done == 2 and json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"


def test_skip_bad_examples_counts_each_bad_image_once_and_reports_it(tmp_path):
    files = write_images(tmp_path / "imgs", 40)
    files[70].write_bytes(b"not an image")
    spec = spec_file(tmp_path, IMAGE_SPEC, epochs=3, test=0.25)
    result, messages = train(spec, skip_bad_examples=True)
    skipped = result.metrics["skipped_examples"]
    assert skipped["count"] == 1 and skipped["first"][0].startswith(f"The image {files[70]} cannot be decoded (")
    assert any(m.startswith("Skipped 1 bad example(s) (--skip-bad-examples): (1) The image") for m in messages)
    assert result.metrics["test_examples"] in (29, 30)  # the held-out examples, less the bad one if it is there
    assert not any("ran out of data" in m for m in messages)


def test_a_first_batch_of_only_bad_examples_is_refused_even_when_skipping(tmp_path):
    files = write_images(tmp_path / "imgs", 4, size=6)
    for file in files:
        file.write_bytes(b"junk")
    spec, inf = build(IMAGE_SPEC.replace("[12, 12, 3]", "[6, 6, 3]") % {"epochs": 1, "test": 0})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path, skip_bad=True)
    assert str(err.value).startswith(
        f"The first 12 examples of the training split of image directory {tmp_path / 'imgs'} are all bad, so they "
        f"cannot be skipped one by one (--skip-bad-examples); the first: The image {files[0]} cannot be decoded ("
    )


def test_the_hold_outs_are_the_examples_the_seed_holds_out_and_none_is_read_twice(tmp_path):
    write_images(tmp_path / "imgs", 10, size=6)
    text = IMAGE_SPEC.replace("[12, 12, 3]", "[6, 6, 3]").replace("  seed: 3", "  seed: 3\n  validation_split: 0.2")
    spec, inf = build(text % {"epochs": 1, "test": 0.3})
    data = load_data(spec, inf, base_dir=tmp_path, seed=3)
    order = np.random.default_rng(3).permutation(30)  # the in-memory loaders' rule: shuffle, then the last fractions
    keep = int(np.floor(30 * 0.7))
    assert data.test.indices.tolist() == sorted(order[keep:].tolist())
    rest = order[:keep]
    kept = int(np.floor(len(rest) * 0.8))
    assert data.validation.indices.tolist() == sorted(rest[kept:].tolist())
    assert data.train.indices.tolist() == sorted(rest[:kept].tolist())
    assert data.description.endswith(": 16 train / 5 validation / 9 test examples (streamed)")


def test_the_file_order_is_drawn_from_the_seed_each_epoch_reproducibly(tmp_path):
    write_images(tmp_path / "imgs", 8, size=6)
    spec, inf = build(IMAGE_SPEC.replace("[12, 12, 3]", "[6, 6, 3]") % {"epochs": 1, "test": 0})
    data = load_data(spec, inf, base_dir=tmp_path, seed=3)

    def epochs(seed):
        dataset = data.train.dataset(batch_size=24, shuffle=True, seed=seed)
        return [np.concatenate([y.numpy() for _, y in dataset]).tolist() for _ in range(2)] + [
            next(iter(dataset))[0].numpy().sum()
        ]

    first, again = epochs(7), epochs(7)
    assert first[:2] == again[:2]  # the same seed, the same order, epoch by epoch
    assert first[0] != first[1]  # a new order each epoch
    assert sorted(first[0]) == sorted(first[1]) == [0] * 8 + [1] * 8 + [2] * 8  # every example once per epoch
    unshuffled = [y.numpy().tolist() for _, y in data.train.dataset(batch_size=24, shuffle=False, seed=None)]
    assert unshuffled == [[0] * 8 + [1] * 8 + [2] * 8]


# ---- text directories -----------------------------------------------------------------------------------

TEXT_SPEC = """
kspec: 1
name: streamed_texts
model:
  input: {shape: [6], dtype: int32}
  layers:
    - {type: Embedding, input_dim: 40, output_dim: 4}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, units: 2, activation: softmax}
training: {loss: sparse_categorical_crossentropy, batch_size: 8, epochs: 1, seed: 2}
data: {source: {type: text_directory, path: texts}, shuffle: false}
"""


def write_texts(root: pathlib.Path, per_class: int) -> list[pathlib.Path]:
    files = []
    for c, words in enumerate((["good", "fine", "great"], ["bad", "awful", "poor"])):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            path = root / f"c{c}" / f"{i:03d}.txt"
            path.write_text(" ".join(words[(i + k) % 3] for k in range(4)))
            files.append(path)
    return files


def test_a_text_that_is_not_utf8_reads_as_python_reads_it_and_a_missing_file_is_named(tmp_path):
    files = write_texts(tmp_path / "texts", 50)
    files[3].write_bytes(b"good caf\xe9 \xff\xfe fine")  # not UTF-8: its invalid bytes become U+FFFD, as in Python
    spec, inf = build(TEXT_SPEC)
    data = load_data(spec, inf, base_dir=tmp_path)
    import keras

    layer = keras.layers.TextVectorization(max_tokens=40, output_sequence_length=6, vocabulary=data.vocabulary[2:])
    expected = np.asarray(layer([b"good caf\xe9 \xff\xfe fine".decode("utf-8", errors="replace")]))[0]
    got = data.train.arrays()
    np.testing.assert_array_equal(got.x["input_layer"][3], expected)
    files[80].unlink()  # gone after it was listed: a bad example, named, in the middle of the stream
    with pytest.raises(Exception) as err:
        for _ in data.train.dataset(batch_size=8, shuffle=False, seed=None):
            pass
    assert data.log.error == f"The text file {files[80]} cannot be read (No such file or directory)."


# ---- Parquet ------------------------------------------------------------------------------------------


def test_parquet_trains_from_sharded_files_and_reads_columns_as_fields(tmp_path):
    for part in range(3):
        write_table(tmp_path / f"part-{part}.parquet", 120, seed=part)
    spec = spec_file(tmp_path, TABLE_SPEC, features=6, epochs=2, test=0.25, path="part-*.parquet", field="x")
    result, messages = train(spec)
    assert any(m.startswith("Data: 3 Parquet files (") and m.endswith(": 270 train / 90 test examples (streamed)") for m in messages)
    assert result.epochs_done == 2 and "test" in result.metrics
    # several scalar columns stack in the schema's order; a glob of columns too
    spec2, inf2 = build(TABLE_SPEC % {"features": 2, "epochs": 1, "test": 0, "path": "part-0.parquet", "field": "'f0,f1'"})
    data = load_data(spec2, inf2, base_dir=tmp_path, seed=None)
    x, _ = write_table(tmp_path / "check.parquet", 120, seed=0)
    got = data.train.arrays()
    order = data.train.indices
    np.testing.assert_array_equal(got.x["x"], x[order][:, :2])
    spec3, inf3 = build(TABLE_SPEC % {"features": 2, "epochs": 1, "test": 0, "path": "part-0.parquet", "field": "'f*'"})
    np.testing.assert_array_equal(load_data(spec3, inf3, base_dir=tmp_path, seed=None).train.arrays().x["x"], got.x["x"])


def test_a_list_column_fills_a_model_input_of_any_shape(tmp_path):
    x, _ = write_table(tmp_path / "t.parquet", 40, features=12)
    text = TABLE_SPEC.replace("shape: [%(features)s]}", "shape: [%(features)s]}\n    ").replace(
        "input: {name: x, shape: [%(features)s]}", "input: {name: x, shape: [2, 3, 2]}"
    ).replace("- {type: Dense, units: 8, activation: relu}", "- {type: Flatten}\n    - {type: Dense, units: 8}")
    spec, inf = build(text % {"features": 12, "epochs": 1, "test": 0, "path": "t.parquet", "field": "x"})
    data = load_data(spec, inf, base_dir=tmp_path, seed=None)
    got = data.train.arrays().x["x"]
    assert got.shape == (40, 2, 3, 2)
    np.testing.assert_array_equal(got.reshape(40, 12), x[data.train.indices])


def bad_rows_table(path: pathlib.Path) -> None:
    """200 rows of 4 numbers and a label 0..2, with four bad rows past the first checked batch."""
    rng = np.random.default_rng(1)
    x = [list(map(float, row)) for row in rng.normal(size=(200, 4))]
    labels = [int(v) for v in rng.integers(0, 3, 200)]
    x[90][2] = float("nan")  # NaN
    x[120] = None  # null
    x[150] = [1.0, 2.0, 3.0]  # a row of the wrong length
    labels[180] = 7  # a label out of range
    table = pa.table({"x": pa.array(x, pa.list_(pa.float32())), "label": pa.array(labels, pa.int64())})
    pq.write_table(table, path, row_group_size=64)


def test_parquet_bad_rows_in_the_middle_of_the_stream_are_named_by_file_and_row(tmp_path):
    bad_rows_table(tmp_path / "t.parquet")
    spec = spec_file(tmp_path, TABLE_SPEC, features=4, epochs=1, test=0, path="t.parquet", field="x")
    spec.write_text(spec.read_text().replace("  test_split: 0", "  test_split: 0\n  shuffle: false"))
    with pytest.raises(DataError) as err:
        train(spec)
    assert str(err.value).startswith(
        f"Training stopped at a bad example. Row 91 of {tmp_path / 't.parquet'}: `data.inputs.x` (column 'x' of "
        f"{tmp_path / 't.parquet'}) in the training split holds nan at position [2] of the example, which is not a "
        "finite number"
    )
    result, messages = train(spec, "skipping", skip_bad_examples=True)
    skipped = result.metrics["skipped_examples"]
    assert skipped["count"] == 4
    for message, row in zip(skipped["first"], (91, 121, 151, 181), strict=True):
        assert message.startswith(f"Row {row} of {tmp_path / 't.parquet'}")
    assert "has no value in column 'x' (null); expected a list of 4 numbers" in skipped["first"][1]
    assert "holds 3 values in column 'x'; expected 4, as in the other rows" in skipped["first"][2]
    assert "7" in skipped["first"][3] and "label" in skipped["first"][3]


def test_parquet_problems_known_before_training_are_said_before_the_run_directory(tmp_path):
    write_table(tmp_path / "a.parquet", 20)
    pq.write_table(pa.table({"x": np.zeros(5, np.float32), "label": np.zeros(5, np.int64)}), tmp_path / "b.parquet")
    spec, inf = build(TABLE_SPEC % {"features": 6, "epochs": 1, "test": 0, "path": "*.parquet", "field": "x"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'b.parquet'} has the columns x (float), label (int64), but ")
    (tmp_path / "b.parquet").unlink()
    spec, inf = build(TABLE_SPEC % {"features": 6, "epochs": 1, "test": 0, "path": "a.parquet", "field": "y"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert "names the field 'y', which" in str(err.value) and "Available fields: 'x', 'f0', 'f1', 'label'" in str(err.value)
    pq.write_table(pa.table({"x": ["a", "b"], "label": [0, 1]}), tmp_path / "s.parquet")
    spec, inf = build(TABLE_SPEC % {"features": 6, "epochs": 1, "test": 0, "path": "s.parquet", "field": "x"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value) == (
        f"The column 'x' of {tmp_path / 's.parquet'} holds string; kspec reads Parquet columns of numbers or of lists "
        "of numbers (one array per row)."
    )
    spec, inf = build(TABLE_SPEC % {"features": 5, "epochs": 1, "test": 0, "path": "a.parquet", "field": "x"})
    with pytest.raises(DataError) as err:  # the first batch's shapes, against the model
        load_data(spec, inf, base_dir=tmp_path)
    assert "has examples of shape (6,)" in str(err.value) and "expects shape (5,)" in str(err.value)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    spec, inf = build(TABLE_SPEC % {"features": 6, "epochs": 1, "test": 0, "path": "junk.parquet", "field": "x"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'junk.parquet'} cannot be read as Parquet (")


# ---- TFRecord -------------------------------------------------------------------------------------------

TFRECORD_SPEC = """
kspec: 1
name: streamed_records
model:
  input: {name: x, shape: [4]}
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, name: label, units: 2, activation: softmax}
training: {loss: sparse_categorical_crossentropy, metrics: [accuracy], epochs: 2, batch_size: 16, seed: 1}
data:
  source: {type: tfrecord, path: "%(path)s", features: {x: {dtype: float32, shape: [4]}, label: {dtype: int64}}}
  shuffle: %(shuffle)s
"""


def record(x=None, label=None, photo=None) -> bytes:
    import tensorflow as tf

    feature = {}
    if x is not None:
        feature["x"] = tf.train.Feature(float_list=tf.train.FloatList(value=list(x)))
    if label is not None:
        feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
    if photo is not None:
        feature["photo"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[photo]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path: pathlib.Path, rows: list[bytes]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in rows:
            writer.write(row)


def good_records(n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [record(x, int(x[0] > 0)) for x in rng.normal(size=(n, 4)).astype(np.float32)]


def test_tfrecord_bad_records_in_the_middle_of_the_stream_are_named_by_file_and_record(tmp_path):
    write_records(tmp_path / "part-0.tfrecord", good_records(100, 0))
    rows = good_records(100, 1)
    rows[40] = record([1.0, 2.0, 3.0], 1)  # three numbers where four are declared
    rows[60] = record([1.0, float("nan"), 0.0, 0.0], 0)  # a NaN
    rows[75] = record([1.0, 1.0, 1.0, 1.0], None)  # no label
    rows[90] = record([1.0, 1.0, 1.0, 1.0], 5)  # a label out of range
    write_records(tmp_path / "part-1.tfrecord", rows)
    spec = spec_file(tmp_path, TFRECORD_SPEC, path="part-*.tfrecord", shuffle="false")
    with pytest.raises(DataError) as err:
        train(spec)
    part1 = tmp_path / "part-1.tfrecord"
    assert str(err.value).startswith(
        f"Training stopped at a bad example. Record 41 of {part1} does not parse as the declared features ("
    )
    result, _ = train(spec, "skipping", skip_bad_examples=True)
    skipped = result.metrics["skipped_examples"]
    assert skipped["count"] == 4
    for message, number in zip(skipped["first"], (41, 61, 76, 91), strict=True):
        assert message.startswith(f"Record {number} of {part1}")
    assert "holds nan at position [1]" in skipped["first"][1]
    assert "does not parse as the declared features (Feature: label (data type: int64) is required" in skipped["first"][2]
    assert "5" in skipped["first"][3] and "label" in skipped["first"][3]


def test_tfrecord_images_and_numbers_match_what_was_written(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (6, 5, 7, 3), dtype=np.uint8)
    rows = [record([float(i)] * 4, i % 2, tf.io.encode_png(p).numpy()) for i, p in enumerate(pixels)]
    write_records(tmp_path / "a.tfrecord", rows)
    text = """
kspec: 1
name: records_of_images
model:
  inputs: [{name: photo, shape: [5, 7, 3]}, {name: x, shape: [4]}]
  nodes:
    - {name: flat, type: Flatten, inputs: [photo]}
    - {name: both, type: Concatenate, inputs: [flat, x]}
    - {name: label, type: Dense, units: 2, activation: softmax, inputs: [both]}
  outputs: [label]
training: {loss: sparse_categorical_crossentropy}
data:
  source:
    type: tfrecord
    path: a.tfrecord
    features: {photo: {dtype: image, image_size: [5, 7]}, x: {dtype: float32, shape: [4]}, label: {dtype: int64}}
  shuffle: false
"""
    spec, inf = build(text)
    data = load_data(spec, inf, base_dir=tmp_path)
    got = data.train.arrays()
    np.testing.assert_allclose(got.x["photo"], pixels.astype(np.float32))  # decoded; resized to its own size
    np.testing.assert_array_equal(got.x["x"][:, 0], np.arange(6, dtype=np.float32))
    assert got.y["label"].tolist() == [0, 1, 0, 1, 0, 1]
    assert data.description == f"{tmp_path / 'a.tfrecord'}: 6 train examples (streamed)"


def test_tfrecord_problems_known_before_training(tmp_path):
    (tmp_path / "junk.tfrecord").write_bytes(b"this is not a tfrecord file at all")
    spec, inf = build(TFRECORD_SPEC % {"path": "junk.tfrecord", "shuffle": "true"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'junk.tfrecord'} cannot be read as TFRecord (")
    assert str(err.value).endswith("expected a TFRecord file (read as not compressed: if it is, set `compression`).")
    spec, inf = build(TFRECORD_SPEC % {"path": "none-*.tfrecord", "shuffle": "true"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value).startswith("The glob 'none-*.tfrecord' (")
    with pytest.raises(Exception) as err:  # an image feature without its size is refused by the schema
        build(TFRECORD_SPEC.replace("{dtype: int64}", "{dtype: image}") % {"path": "a", "shuffle": "true"})
    assert "An image feature needs `image_size`" in str(err.value)


# ---- larger than memory ---------------------------------------------------------------------------------

#: The address space a training process may use for its data (RLIMIT_DATA, thread stacks included): TensorFlow,
#: its threads and a streamed training step take about 1.2 GiB, whatever the number of examples; each dataset below
#: is over 2.6 GiB once decoded, which a loader reading it into memory would need on top.
LIMIT = 2 * 2**30

RUN_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_DATA, ({limit}, {limit}))
if sys.argv[1] == "probe":  # the limit holds: the arrays of the smaller dataset below cannot be had
    import numpy as np
    try:
        np.ones(int(2.6 * 2**30), np.uint8)
    except MemoryError:
        sys.exit(3)
    sys.exit(0)
from kspec.cli import main
main(sys.argv[1:])
"""


def run_limited(tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "limited.py"
    script.write_text(RUN_LIMITED.format(limit=LIMIT))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def test_the_memory_limit_of_the_larger_than_memory_tests_holds(tmp_path):
    assert run_limited(tmp_path, "probe").returncode == 3


def test_trains_on_an_image_directory_larger_than_the_memory_it_may_use(tmp_path):
    import tensorflow as tf

    size, per_class = 256, 1800  # 3,600 images of 256x256x3: 2.6 GiB as float32 arrays
    flat = {c: tf.io.encode_png(np.full((size, size, 3), 60 + 120 * c, np.uint8)).numpy() for c in range(2)}
    for c in range(2):
        (tmp_path / "imgs" / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            (tmp_path / "imgs" / f"c{c}" / f"{i}.png").write_bytes(flat[c])
    assert 2 * per_class * size * size * 3 * 4 > LIMIT * 1.3
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent(
            f"""
            kspec: 1
            name: big_images
            model:
              input: {{name: image, shape: [{size}, {size}, 3]}}
              layers:
                - {{type: Conv2D, filters: 4, kernel_size: 8, strides: 8}}
                - {{type: GlobalAveragePooling2D}}
                - {{type: Dense, name: label, units: 2, activation: softmax}}
            training: {{loss: sparse_categorical_crossentropy, epochs: 1, batch_size: 32, seed: 1}}
            data: {{source: {{type: image_directory, path: imgs}}}}
            """
        )
    )
    done = run_limited(tmp_path, "build-and-train", "spec.yaml", "--output", "run", "--format", "json", "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "complete"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"


def test_trains_on_a_parquet_file_larger_than_the_memory_it_may_use(tmp_path):
    features, rows = 8192, 86_000  # 2.6 GiB as float32 arrays; a few MB on disk (16 distinct values)
    path = tmp_path / "big.parquet"
    rng = np.random.default_rng(0)
    values = np.arange(16, dtype=np.float32)
    with pq.ParquetWriter(path, pa.schema([("x", pa.list_(pa.float32(), features)), ("label", pa.int64())])) as writer:
        for start in range(0, rows, 2000):
            n = min(2000, rows - start)
            x = values[rng.integers(0, 16, (n, features))]
            column = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), features)
            writer.write_table(pa.table({"x": column, "label": (x[:, 0] > 7).astype(np.int64)}), row_group_size=1000)
    assert rows * features * 4 > LIMIT * 1.3
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent(
            f"""
            kspec: 1
            name: big_table
            model:
              input: {{name: x, shape: [{features}]}}
              layers:
                - {{type: Dense, name: label, units: 2, activation: softmax}}
            training: {{loss: sparse_categorical_crossentropy, epochs: 1, batch_size: 256, seed: 1}}
            data: {{source: {{type: parquet, path: big.parquet}}}}
            """
        )
    )
    done = run_limited(tmp_path, "build-and-train", "spec.yaml", "--output", "run", "--format", "json", "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"


# ---- npz --------------------------------------------------------------------------------------------------

NPZ_SPEC = """
kspec: 1
name: streamed_arrays
model:
  input: {name: x, shape: [4]}
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, name: y, units: 3, activation: softmax}
training: {loss: sparse_categorical_crossentropy, metrics: [accuracy], epochs: 2, batch_size: 16, seed: 4}
data:
  source: {type: npz, path: d.npz, stream: %(stream)s}
  shuffle: %(shuffle)s
  test_split: %(test)s
"""


def test_a_streamed_npz_reads_the_same_examples_as_in_memory_and_its_own_test_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 4)).astype(np.float32)
    y = rng.integers(0, 3, 150)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    values = {"shuffle": "true", "test": 0.2}
    spec, inf = build(NPZ_SPEC % {**values, "stream": "true"})
    streamed = load_data(spec, inf, base_dir=tmp_path, seed=4)
    spec, inf = build(NPZ_SPEC % {**values, "stream": "false"})
    memory = load_data(spec, inf, base_dir=tmp_path, seed=4)
    assert streamed.description == memory.description + " (streamed)"
    for name in ("train", "test"):  # the same examples held out, in source order when streamed
        got, want = getattr(streamed, name).arrays(), getattr(memory, name)
        pairs = sorted((tuple(r), int(c)) for r, c in zip(got.x["x"].tolist(), got.y["y"].tolist(), strict=True))
        expected = sorted((tuple(r), int(c)) for r, c in zip(want.x["x"].tolist(), want.y["y"].tolist(), strict=True))
        assert pairs == expected
    np.savez(tmp_path / "d.npz", x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:])
    spec, inf = build(NPZ_SPEC % {**values, "stream": "true"})
    own = load_data(spec, inf, base_dir=tmp_path, seed=4)
    assert own.description == "d.npz: 100 train / 50 test examples (streamed)"  # test_split does not apply
    np.testing.assert_array_equal(own.test.arrays().x["x"], x[100:])


def test_a_streamed_npz_names_a_bad_example_in_the_middle_of_the_stream(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    x[130, 2] = np.inf
    y[170] = 9
    np.savez(tmp_path / "d.npz", x=x, y=y)
    spec = spec_file(tmp_path, NPZ_SPEC, stream="true", shuffle="false", test=0)
    with pytest.raises(DataError) as err:
        train(spec)
    assert str(err.value).startswith(
        f"Training stopped at a bad example. Example 130 (counting from 0) of d.npz: `data.inputs.x` (field 'x' of "
        "d.npz) in the training split holds inf at position [2] of the example, which is not a finite number"
    )
    result, _ = train(spec, "skipping", skip_bad_examples=True)
    skipped = result.metrics["skipped_examples"]
    assert skipped["count"] == 2
    assert skipped["first"][1].startswith("Example 170 (counting from 0) of d.npz: ") and "9" in skipped["first"][1]
