"""`kspec.use.predict`: predicting with tiny real runs (text, image and CSV models, see tests/test_interface.py)
from files, directories, texts, CSV, .npz and JSON lines; Keras is the oracle (the predictions equal
model.keras on the loader's arrays, with and without serving.keras); each bad input is a Failure with its
exact message while the others are still predicted; the renderers and the atomic output file."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from kspec.use.predict import (  # noqa: E402
    Failure,
    PredictError,
    Prediction,
    emit,
    predict_run,
    render_csv,
    render_json_lines,
    render_table,
    write_output,
)
from tests.test_interface import (  # noqa: E402
    IMAGE_CLASSES,
    csv_run,
    image_run,
    loader_arrays,
    model_outputs,
    text_run,
)

IMAGE_ERROR = "; expected a PNG, JPEG, BMP or GIF image."


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    return text_run(tmp_path_factory.mktemp("text"))


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return image_run(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    return csv_run(tmp_path_factory.mktemp("csv"))


def without_serving(run: Path, where: Path) -> Path:
    """A copy of the run without serving.keras: predict then preprocesses for model.keras itself."""
    copy = where / f"{run.name}-plain"
    if not copy.exists():
        shutil.copytree(run, copy)
        (copy / "serving.keras").unlink()
        document = json.loads((copy / "interface.json").read_text(encoding="utf-8"))
        document.update(serving=None, serving_note="removed by the test")
        (copy / "interface.json").write_text(json.dumps(document), encoding="utf-8")
    return copy


def probabilities(row: Prediction, classes) -> list[float]:
    """A classifier's probabilities in class order, from its top list (top_k >= the classes)."""
    ((_, entry),) = row.outputs.items()
    shown = dict(entry["top"])
    assert len(shown) == len(classes)
    return [shown[c] for c in classes]


def messages(rows) -> dict[str, str]:
    return {r.source: r.message for r in rows if isinstance(r, Failure)}


# ---- predictions equal Keras's -------------------------------------------------------------------------------


@pytest.mark.parametrize("serving", [True, False], ids=["serving", "model"])
def test_png_files_give_class_names_and_the_models_predictions(image: Path, tmp_path: Path, serving: bool) -> None:
    run = image if serving else without_serving(image, tmp_path)
    images = image.parent / "images"
    rows = list(predict_run(run, [str(images)], top_k=3, batch_size=5))
    files = sorted(images.rglob("*.png"))
    assert [r.source for r in rows] == [str(f) for f in files]
    assert all(isinstance(r, Prediction) for r in rows)
    arrays, _ = loader_arrays(image)
    want = model_outputs(image, arrays)
    got = np.array([probabilities(r, IMAGE_CLASSES) for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    first = rows[0].outputs["dense"]["top"]
    assert [c for c, _ in first] == sorted(IMAGE_CLASSES, key=lambda c: -dict(first)[c])


@pytest.mark.parametrize("serving", [True, False], ids=["serving", "model"])
def test_text_files_and_texts_give_class_names_and_the_models_predictions(
    text: Path, tmp_path: Path, serving: bool
) -> None:
    run = text if serving else without_serving(text, tmp_path)
    texts = text.parent / "texts"
    files = sorted(texts.rglob("*.txt"))
    given = [files[0].read_text(encoding="utf-8"), "Great film! Café."]
    rows = list(predict_run(run, [str(texts)], texts=given, batch_size=4))
    assert [r.source for r in rows] == [str(f) for f in files] + ["--text #1", "--text #2"]
    arrays, _ = loader_arrays(text)
    want = model_outputs(text, arrays)[:, 0]  # the probability of "pos"
    got = np.array([dict(r.outputs["dense"]["top"])["pos"] for r in rows])
    np.testing.assert_allclose(got[: len(files)], want, atol=1e-5, rtol=0)
    assert got[-2] == pytest.approx(got[0], abs=1e-6)  # the same text, from --text
    for r in rows:
        top = r.outputs["dense"]["top"]
        assert {c for c, _ in top} == {"neg", "pos"} and top[0][1] >= top[1][1]
        assert sum(p for _, p in top) == pytest.approx(1.0)


def test_csv_rows_and_npz_arrays_give_the_models_values(table: Path, tmp_path: Path) -> None:
    arrays, _ = loader_arrays(table)
    want = model_outputs(table, arrays)
    source = (table.parent / "table.csv").read_text(encoding="utf-8").splitlines()
    # columns in another order, and one the model does not use: taken by name
    reordered = tmp_path / "new.csv"
    cells = [line.split(",") for line in source]
    reordered.write_text("\n".join(f"{c},extra,{a},{b}" for a, b, c, _ in cells) + "\n", encoding="utf-8")
    npz = tmp_path / "new.npz"
    np.savez(npz, x=arrays["input_layer"][:3])
    rows = list(predict_run(table, [str(reordered), str(npz)]))
    n = len(want)
    assert [r.source for r in rows] == [f"{reordered}:{i}" for i in range(2, n + 2)] + [f"{npz}:{i}" for i in range(3)]
    got = np.array([r.outputs["dense_1"]["values"] for r in rows])
    np.testing.assert_allclose(got, np.concatenate([want, want[:3]]), atol=1e-5, rtol=0)


def test_json_lines_from_stdin(text: Path, image: Path) -> None:
    lines = [
        '{"input_layer": "Great film! Café."}',
        '"Great film! Café."',
        '{"text": "Great film! Café."}',
        "",
        "not json",
        '{"a": 1, "b": 2}',
        "[1, 2]",
    ]
    rows = list(predict_run(text, ["-"], stdin=io.StringIO("\n".join(lines) + "\n")))
    assert [r.source for r in rows] == ["stdin:1", "stdin:2", "stdin:3", "stdin:5", "stdin:6", "stdin:7"]
    p = [r.outputs["dense"]["top"] for r in rows[:3]]
    assert p[0] == p[1] == p[2]
    assert messages(rows) == {
        "stdin:5": "Not valid JSON (Expecting value at column 1); expected one JSON object per line mapping input "
        "names to values.",
        "stdin:6": "The object has no value for input 'input_layer'; it has: a, b.",
        "stdin:7": "Input 'input_layer' takes text; expected a string, received an array.",
    }
    # an image: a file path, or the decoded pixels; a .jsonl file reads the same way
    png = sorted((image.parent / "images").rglob("*.png"))[0]
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).tolist()
    rows = list(
        predict_run(
            image,
            [str(png), "-"],
            stdin=io.StringIO(json.dumps(str(png)) + "\n" + json.dumps({"input_layer": pixels}) + "\n"),
        )
    )
    assert [r.source for r in rows] == [str(png), "stdin:1", "stdin:2"]
    tops = [r.outputs["dense"]["top"] for r in rows]
    np.testing.assert_allclose([p for _, p in tops[1]], [p for _, p in tops[0]], atol=1e-6)
    np.testing.assert_allclose([p for _, p in tops[2]], [p for _, p in tops[0]], atol=1e-5)


# ---- bad inputs: a Failure each, with its message; the others are predicted ---------------------------------------


def test_bad_image_inputs(image: Path, tmp_path: Path) -> None:
    good = sorted((image.parent / "images").rglob("*.png"))[0]
    data = good.read_bytes()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"this is not an image at all")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data[: len(data) // 2])
    unknown = tmp_path / "notes.xyz"
    unknown.write_text("?")
    missing = tmp_path / "missing.png"
    empty = tmp_path / "empty"
    empty.mkdir()
    inputs = [str(p) for p in (good, corrupt, truncated, unknown, missing, empty, good)]
    rows = list(predict_run(image, inputs, texts=["a text"]))
    assert [r.source for r in rows] == [*inputs, "--text #1"]
    assert isinstance(rows[0], Prediction) and isinstance(rows[6], Prediction)
    assert messages(rows) == {
        str(corrupt): "Cannot decode the image (Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP "
        "required)" + IMAGE_ERROR,
        str(truncated): f"Cannot decode the image (Invalid PNG data, size {len(data) // 2}){IMAGE_ERROR}",
        str(unknown): "Unknown file type '.xyz'; this model takes images (.bmp .gif .jpeg .jpg .png), NumPy archives "
        "(.npz) or JSON lines (.jsonl).",
        str(missing): "No such file or directory.",
        str(empty): "The directory holds no .bmp .gif .jpeg .jpg .png files.",
        "--text #1": "Text cannot be fed to this model: it takes an image (input 'input_layer', resized to 16x16 rgb).",
    }
    rows = list(predict_run(image, ["-"], stdin=io.StringIO(json.dumps(str(missing)) + "\n[[1, 2], [3]]\n")))
    assert messages(rows) == {
        "stdin:1": f"Cannot read the image file '{missing}': No such file or directory.",
        "stdin:2": "Input 'input_layer' takes a decoded image of shape (None, None, 3); received a ragged list.",
    }


def test_text_that_is_not_utf8(text: Path, tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café good".encode("latin-1"))
    good = tmp_path / "good.txt"
    good.write_text("café good", encoding="utf-8")
    rows = list(predict_run(text, [str(bad), str(good)], texts=["caf\udce9 good"]))  # as argv keeps bad bytes
    assert messages(rows) == {
        str(bad): "The file is not UTF-8 text (invalid continuation byte at byte 3); expected UTF-8 text.",
        "--text #1": "The text is not valid Unicode (surrogates not allowed at character 3); expected UTF-8 text.",
    }
    assert isinstance(rows[1], Prediction)


def test_bad_csv_and_npz_inputs(table: Path, tmp_path: Path) -> None:
    rows_csv = tmp_path / "rows.csv"
    rows_csv.write_text("a,b,c,label\n1,2,3,0\n1,2\n1,x,3,0\n\n4,5,6,0\n", encoding="utf-8")
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("a,b,label\n1,2,3\n", encoding="utf-8")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((2, 4)))
    named = tmp_path / "named.npz"
    np.savez(named, features=np.zeros((2, 3)))
    not_npz = tmp_path / "not.npz"
    not_npz.write_bytes(b"nope")
    npy = tmp_path / "one.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros((2, 3)))
    rows = list(predict_run(table, [str(p) for p in (rows_csv, lacking, wrong, named, not_npz, npy)]))
    assert [r.source for r in rows if isinstance(r, Prediction)] == [f"{rows_csv}:2", f"{rows_csv}:6"]
    assert messages(rows) == {
        f"{rows_csv}:3": "The row has 2 values, but the header has 4 columns; expected one value per column.",
        f"{rows_csv}:4": "Column 'b' holds 'x', which is not a number.",
        str(lacking): "The CSV file lacks the column(s) c; the model takes the columns a, b, c (found: a, b, label).",
        str(wrong): "The array 'x' has examples of shape (4,), but input 'input_layer' takes examples of shape (3,) "
        "(the first axis counts the examples).",
        str(named): "The archive has no array named 'input_layer' (or 'x'); it has: features.",
        str(not_npz): "Not a .npz archive (not a zip file); expected one written by numpy.savez.",
        str(npy): "The file holds a single array, not a .npz archive of arrays named like the inputs.",
    }


def test_csv_for_a_model_not_trained_from_csv(image: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n", encoding="utf-8")
    (row,) = predict_run(image, [str(path)])
    assert row == Failure(
        str(path),
        "A CSV file can be fed only to a model trained from CSV columns; this model takes an image (input "
        "'input_layer', resized to 16x16 rgb).",
    )


# ---- runs and requests that cannot be used ---------------------------------------------------------------------


def test_unusable_run_directories(text: Path, tmp_path: Path) -> None:
    with pytest.raises(PredictError) as info:
        predict_run(tmp_path / "none", texts=["x"])
    assert str(info.value) == (
        f"'{tmp_path / 'none'}' is not a directory; expected a kspec run directory (it holds run.json)."
    )
    assert info.value.exit_code == 2
    old = tmp_path / "old"
    shutil.copytree(text, old)
    (old / "interface.json").unlink()
    with pytest.raises(PredictError) as info:
        predict_run(old, texts=["x"])
    assert str(info.value).startswith(f"'{old}' has no interface.json, so kspec cannot tell what its model takes")
    jax_run = tmp_path / "jax"
    shutil.copytree(text, jax_run)
    info_json = json.loads((jax_run / "run.json").read_text())
    (jax_run / "run.json").write_text(json.dumps({**info_json, "backend": "jax"}))
    with pytest.raises(PredictError) as info:
        predict_run(jax_run, texts=["x"])
    assert str(info.value) == (
        f"The run in '{jax_run}' was trained with the JAX backend, but Keras is already loaded in this process with "
        "the TensorFlow backend; the backend is chosen before Keras loads. Predict it in a new process "
        "(KERAS_BACKEND=jax)."
    )


def test_requests_that_cannot_be_served(text: Path) -> None:
    with pytest.raises(PredictError, match=r"^The number of top classes to show must be at least 1; received 0\.$"):
        predict_run(text, texts=["x"], top_k=0)
    with pytest.raises(PredictError, match=r"^Nothing to predict: give image, text"):
        predict_run(text)


# ---- streaming, rendering, writing ------------------------------------------------------------------------------


def test_streams_in_batches_with_progress(image: Path) -> None:
    seen: list[int] = []
    rows = predict_run(image, [str(image.parent / "images")], batch_size=5, progress=seen.append)
    assert seen == []  # nothing is read before the rows are asked for
    first = next(rows)
    assert isinstance(first, Prediction) and seen == [5]
    assert len(list(rows)) == 11 and seen == [5, 10, 12]


ROWS = [
    Prediction("a.png", {"dense": {"top": [("cat", 0.75), ("dog", 0.25)]}}),
    Failure("b.png", "No such file or directory."),
    Prediction("c.csv:2", {"dense": {"values": [1.5, -2.0]}}),
]


def test_renderers() -> None:
    assert render_table(ROWS, top_k=1) == (
        "SOURCE   PREDICTION\na.png    cat (0.750)\nb.png    error: No such file or directory.\nc.csv:2  [1.5, -2]\n"
    )
    assert [json.loads(line) for line in render_json_lines(ROWS)] == [
        {
            "source": "a.png",
            "outputs": {
                "dense": {"top": [{"class": "cat", "probability": 0.75}, {"class": "dog", "probability": 0.25}]}
            },
        },
        {"source": "b.png", "error": "No such file or directory."},
        {"source": "c.csv:2", "outputs": {"dense": {"values": [1.5, -2.0]}}},
    ]
    assert "".join(render_csv(ROWS, top_k=2)) == (
        "source,output,rank,class,probability,value,error\n"
        "a.png,dense,1,cat,0.75,,\n"
        "a.png,dense,2,dog,0.25,,\n"
        "b.png,,,,,,No such file or directory.\n"
        "c.csv:2,dense,0,,,1.5,\n"
        "c.csv:2,dense,1,,,-2.0,\n"
    )


def test_write_output_is_atomic_and_emit_reports_failures(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    failures = write_output(path, iter(ROWS), "json")
    assert failures == [ROWS[1]]
    assert len(path.read_text().splitlines()) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary left

    def broken():
        yield ROWS[0]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_output(path, broken(), "csv")
    assert len(path.read_text().splitlines()) == 3  # the complete file from before is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    lines: list[str] = []
    assert emit(ROWS, fmt="table", top_k=2, echo=lines.append) == [ROWS[1]]
    assert lines[1] == "a.png    cat (0.750), dog (0.250)"
    with pytest.raises(PredictError, match="^Unknown output format 'xml'; expected one of: table, json, csv.$"):
        emit(ROWS, fmt="xml")


def test_non_finite_inputs_are_refused_as_in_training(table: Path, tmp_path: Path) -> None:
    """Training refuses NaN and inf; so does predict, per example (JSON accepts NaN and 1e999 too)."""
    rows_csv = tmp_path / "nan.csv"
    rows_csv.write_text("a,b,c,label\n1,nan,3,0\n1,2,3,0\n", encoding="utf-8")
    arrays = tmp_path / "inf.npz"
    np.savez(arrays, x=np.array([[1.0, np.inf, 0.0], [1.0, 2.0, 3.0]]))
    stdin = io.StringIO('{"input_layer": [1, NaN, 3]}\n{"input_layer": [1, 1e999, 3]}\n')
    rows = list(predict_run(table, [str(rows_csv), str(arrays), "-"], stdin=stdin))
    assert [r.source for r in rows if isinstance(r, Prediction)] == [f"{rows_csv}:3", f"{arrays}:1"]
    assert messages(rows) == {
        f"{rows_csv}:2": "Column 'b' holds 'nan', which is not a finite number.",
        f"{arrays}:0": "Input 'input_layer' holds inf, which is not a finite number; expected finite numbers.",
        "stdin:1": "Input 'input_layer' holds nan, which is not a finite number; expected finite numbers.",
        "stdin:2": "Input 'input_layer' holds inf, which is not a finite number; expected finite numbers.",
    }
    lines = list(render_json_lines(rows))
    assert all(json.loads(line) for line in lines)  # strict JSON: no NaN anywhere


def test_stdin_that_is_not_utf8(text: Path) -> None:
    class Stdin(io.TextIOWrapper):
        pass

    raw = io.BytesIO(b'{"input_layer": "fine"}\n{"input_layer": "\xff\xfe"}\n{"input_layer": "also fine"}\n')
    rows = list(predict_run(text, ["-"], stdin=Stdin(raw, encoding="utf-8")))
    assert [r.source for r in rows if isinstance(r, Prediction)] == ["stdin:1", "stdin:3"]
    assert messages(rows) == {"stdin:2": "The line is not UTF-8 text (invalid start byte at byte 17)."}
