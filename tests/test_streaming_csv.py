"""Streamed CSV: bad rows in the middle of the stream named by file, row and line (stopping training, or skipped
with --skip-bad-examples), globs of shards, the hold-outs and the order from the seed, what is refused before
training, and a text column feeding a string input."""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pytest

from kspec.train.data import DataError, load_data

from .test_data_loaders import build
from .test_streaming import spec_file, train

TABLE_SPEC = """
kspec: 1
name: streamed_csv
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
  source: {type: csv, path: "%(path)s"}
  test_split: %(test)s
  shuffle: %(shuffle)s
"""


def table(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).round(4)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    return x, y


def write_table(path: pathlib.Path, x: np.ndarray, y: np.ndarray, blank_after: int | None = None) -> list[str]:
    """a,b,c,d,label: one row per example; a blank line after row `blank_after` (counting from 1)."""
    lines = ["a,b,c,d,label"]
    for i, (row, label) in enumerate(zip(x, y, strict=True)):
        lines.append(",".join(str(v) for v in row) + f",{label}")
        if blank_after is not None and i + 1 == blank_after:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


#: the row (counting from 1) each kind of bad row is, the cell spoilt and its new value (None: the cell is removed);
#: past the first checked batch of 64, and after a blank line (after row 50) that puts row r on line r + 2
BAD = {
    "not a number": (91, 1, "x7"),
    "nan": (121, 2, "nan"),
    "short row": (151, 3, None),
    "label out of range": (181, 4, "7"),
}


def bad_table(path: pathlib.Path, kinds: list[str]) -> None:
    x, y = table(200, seed=1)
    lines = write_table(path, x, y, blank_after=50)
    for kind in kinds:
        row, column, value = BAD[kind]
        cells = lines[row + 1].split(",")  # lines[0] is the header; the blank line is lines[51]
        if value is None:
            del cells[column]
        else:
            cells[column] = value
        lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def expected_problem(kind: str, path: pathlib.Path) -> str:
    row = BAD[kind][0]
    head = f"Row {row} (line {row + 2}) of {path}"
    return {
        "not a number": f"{head} holds 'x7' in column 'b', which is not a number; every column used as an input or "
        "a label must be numeric.",
        "nan": f"{head} holds 'nan' in column 'c', which is not a finite number; every column used as an input or a "
        "label must hold finite numbers (NaN, inf and -inf cannot be trained on).",
        "short row": f"{head} has 4 values, but the header has 5 columns; expected one value per column in every row.",
        "label out of range": f"{head}: `data.labels.label` (column 'label' of t.csv) holds the class id 7, but "
        "output 'label' has 3 classes: class ids must be in [0, 3).",
    }[kind]


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_row_in_the_middle_of_the_stream_stops_training_naming_file_row_and_line(tmp_path, kind):
    bad_table(tmp_path / "t.csv", [kind])
    spec = spec_file(tmp_path, TABLE_SPEC, features=4, epochs=1, test=0, path="t.csv", shuffle="false")
    with pytest.raises(DataError) as err:
        train(spec)
    text = str(err.value)
    assert text.startswith(f"Training stopped at a bad example. {expected_problem(kind, tmp_path / 't.csv')}")
    assert "--skip-bad-examples" in text and "Traceback" not in text
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_skip_bad_examples_skips_and_counts_every_bad_row_once(tmp_path):
    bad_table(tmp_path / "t.csv", list(BAD))
    spec = spec_file(tmp_path, TABLE_SPEC, features=4, epochs=2, test=0, path="t.csv", shuffle="true")
    result, messages = train(spec, skip_bad_examples=True)
    skipped = result.metrics["skipped_examples"]
    assert skipped["count"] == 4  # each met twice (two epochs), counted once
    for kind in BAD:
        assert any(m.startswith(expected_problem(kind, tmp_path / "t.csv")) for m in skipped["first"]), kind
    assert any(m.startswith("Skipped 4 bad example(s) (--skip-bad-examples): (1) Row ") for m in messages)
    assert result.epochs_done == 2


# ---- shards ---------------------------------------------------------------------------------------------


def test_a_glob_of_shards_trains_and_reads_every_row_of_every_shard(tmp_path):
    parts = [table(40 + 10 * k, seed=k) for k in range(3)]
    (tmp_path / "data").mkdir()
    for k, (x, y) in enumerate(parts):
        write_table(tmp_path / "data" / f"part-{k}.csv", x, y, blank_after=5 if k == 1 else None)
    spec = spec_file(tmp_path, TABLE_SPEC, features=4, epochs=2, test=0.25, path="data/part-*.csv", shuffle="true")
    result, messages = train(spec)
    assert f"Data: 3 CSV files ({tmp_path / 'data'}): 112 train / 38 test examples (streamed)" in messages
    assert result.epochs_done == 2 and "test" in result.metrics
    spec, inf = build(TABLE_SPEC % {"features": 4, "epochs": 1, "test": 0, "path": "data/part-*.csv", "shuffle": "false"})
    data = load_data(spec, inf, base_dir=tmp_path)
    got = data.train.arrays()  # every row, in the shards' order
    np.testing.assert_allclose(got.x["x"], np.concatenate([x for x, _ in parts]).astype(np.float32))
    assert got.y["label"].tolist() == np.concatenate([y for _, y in parts]).tolist()
    assert data.preprocessing == {"x": {"kind": "columns", "columns": ["a", "b", "c", "d"], "delimiter": ","}}
    assert data.label_columns == {"label": ["label"]}
    assert data.train.stream.where(85) == f"Row 46 (line 48) of {tmp_path / 'data' / 'part-1.csv'}"


def test_shards_with_different_headers_and_globs_that_match_nothing_are_refused(tmp_path):
    x, y = table(10)
    write_table(tmp_path / "part-0.csv", x, y)
    (tmp_path / "part-1.csv").write_text("a,b,d,c,label\n1,2,3,4,0\n")
    spec, inf = build(TABLE_SPEC % {"features": 4, "epochs": 1, "test": 0, "path": "part-*.csv", "shuffle": "true"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'part-1.csv'} has the header a, b, d, c, label, but {tmp_path / 'part-0.csv'} has a, b, c, d, "
        "label; expected every CSV file matched by 'part-*.csv' to have the same header (the same columns in the same "
        "order)."
    )
    spec, inf = build(TABLE_SPEC % {"features": 4, "epochs": 1, "test": 0, "path": "none-*.csv", "shuffle": "true"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value) == (
        f"The glob 'none-*.csv' ({tmp_path / 'none-*.csv'}) matches no files; expected one or more CSV files."
    )


@pytest.mark.parametrize(
    "text,message",
    [
        ("\n\n", "{path} is empty; expected a header row naming the columns, then one row per example."),
        ("a,b,c,d,label\n\n", "{path} has a header but no rows; expected one row per example."),
        ("a,b,a,d,label\n1,2,3,4,0\n", "The column 'a' appears twice in the header of {path}; expected unique column names."),
        (
            "a,b,c,d,lab\n1,2,3,4,0\n",
            "The model output 'label' is not mapped in `data.labels`, and its default field 'label' is not in t.csv; "
            "map it with `data.labels: {{label: <field>}}`. Available fields: 'a', 'b', 'c', 'd', 'lab'. Did you mean "
            "'lab'?",
        ),
    ],
)
def test_what_the_listing_shows_is_refused_before_training(tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    spec, inf = build(TABLE_SPEC % {"features": 4, "epochs": 1, "test": 0, "path": "t.csv", "shuffle": "true"})
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path)
    assert str(err.value) == message.format(path=tmp_path / "t.csv")


# ---- the seed ---------------------------------------------------------------------------------------------


def test_the_hold_outs_are_the_rows_the_seed_holds_out(tmp_path):
    x, y = table(50)
    write_table(tmp_path / "t.csv", x, y)
    text = TABLE_SPEC.replace("  seed: 5", "  seed: 5\n  validation_split: 0.2")
    spec, inf = build(text % {"features": 4, "epochs": 1, "test": 0.3, "path": "t.csv", "shuffle": "true"})
    data = load_data(spec, inf, base_dir=tmp_path, seed=3)
    order = np.random.default_rng(3).permutation(50)  # the in-memory rule: shuffle, then the last fractions
    keep = int(np.floor(50 * 0.7))
    rest = order[:keep]
    kept = int(np.floor(len(rest) * 0.8))
    assert data.test.indices.tolist() == sorted(order[keep:].tolist())
    assert data.validation.indices.tolist() == sorted(rest[kept:].tolist())
    assert data.train.indices.tolist() == sorted(rest[:kept].tolist())
    assert data.description == "t.csv: 28 train / 7 validation / 15 test examples (streamed)"
    test = data.test.arrays()  # each split holds the rows of its indices
    np.testing.assert_allclose(test.x["x"], x[data.test.indices].astype(np.float32))
    assert test.y["label"].tolist() == y[data.test.indices].tolist()


def test_the_order_is_drawn_from_the_seed_each_epoch_reproducibly(tmp_path):
    parts = [table(30, seed=k) for k in range(2)]
    for k, (x, y) in enumerate(parts):
        write_table(tmp_path / f"part-{k}.csv", x, y)
    spec, inf = build(TABLE_SPEC % {"features": 4, "epochs": 1, "test": 0, "path": "part-*.csv", "shuffle": "true"})
    data = load_data(spec, inf, base_dir=tmp_path, seed=3)

    def epochs(seed):
        dataset = data.train.dataset(batch_size=64, shuffle=True, seed=seed)
        return [np.concatenate([x.numpy()[:, 0] for x, _ in dataset]).tolist() for _ in range(2)]

    first, again = epochs(7), epochs(7)
    assert first == again  # the same seed, the same order, epoch by epoch
    assert first[0] != first[1]  # a new order each epoch
    every = sorted(np.concatenate([x[:, 0] for x, _ in parts]).astype(np.float32).tolist())
    assert sorted(first[0]) == sorted(first[1]) == every  # every row once per epoch
    unshuffled = [x.numpy()[:, 0] for x, _ in data.train.dataset(batch_size=64, shuffle=False, seed=None)]
    assert np.concatenate(unshuffled).tolist() == np.concatenate([x[:, 0] for x, _ in parts]).astype(np.float32).tolist()


# ---- text ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="string tensors exist on TensorFlow only")
def test_a_text_column_feeds_a_text_model_through_the_stream(tmp_path):
    from .test_text_models import NEGATIVE, POSITIVE, SPEC

    rows = ["text,label"] + [f'"{t}",1' for t in POSITIVE] * 8 + [f'"{t}",0' for t in NEGATIVE] * 8
    (tmp_path / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("batch_size: 4", "batch_size: 8\n  epochs: 6\n  seed: 1") + DATA_TEXT, encoding="utf-8")
    result, messages = train(spec)
    assert result.epochs_done == 6
    assert "Data: reviews.csv: 64 train / 16 test examples (streamed)" in messages
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    vocabulary = model.get_layer("text_vectorization").get_vocabulary()
    assert {"good", "bad", "awful", "great"} <= set(vocabulary)  # adapted to the streamed training texts
    interface = json.loads((tmp_path / "run" / "interface.json").read_text())
    preprocessing = interface["inputs"][0]["preprocessing"]
    assert preprocessing["kind"] == "strings" and preprocessing["columns"] == ["text"]
    assert result.metrics["test"]["accuracy"] == 1.0


DATA_TEXT = """data:
  source: {type: csv, path: reviews.csv}
  test_split: 0.2
"""


def test_a_bad_row_in_the_first_checked_batch_is_refused_before_the_run_directory(tmp_path):
    x, y = table(100)
    lines = write_table(tmp_path / "t.csv", x, y)
    lines[3] = "1.5,2"  # row 3: two values
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = spec_file(tmp_path, TABLE_SPEC, features=4, epochs=1, test=0, path="t.csv", shuffle="true")
    with pytest.raises(DataError) as err:
        train(spec)
    assert str(err.value) == (
        f"Row 3 (line 4) of {tmp_path / 't.csv'} has 2 values, but the header has 5 columns; expected one value per "
        "column in every row."
    )
    assert not (tmp_path / "run").exists()
