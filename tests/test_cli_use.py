"""A new user's whole path, through the real command line: train on a folder of texts or photos, then
predict, evaluate and export from the run directory alone. Each command is its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parent.parent
KSPEC = [sys.executable, "-c", "from kspec.cli import entry; entry()"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    # TF_CPP_MIN_LOG_LEVEL is left unset: kspec itself keeps TensorFlow's start-up lines off the terminal
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "KERAS_HOME": str(tmp_path_factory.mktemp("keras_home"))}


def kspec(env: dict, cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*KSPEC, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, input=stdin
    )
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream and "oneDNN" not in stream and "absl::" not in stream, stream
    return result


def write_texts(root: Path) -> None:
    rng = np.random.default_rng(0)
    words = {"neg": "awful terrible boring bad dull".split(), "pos": "great wonderful superb lovely fine".split()}
    for name, vocabulary in words.items():
        (root / name).mkdir(parents=True)
        for i in range(24):
            text = " ".join(rng.choice([*vocabulary, "the", "film", "was"], size=8))
            (root / name / f"{i}.txt").write_text(text, encoding="utf-8")


def write_photos(root: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "owl")):
        (root / name).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(rng.normal(40 + 80 * c, 30, size=(40, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_texts_train_then_predict_prints_class_names(env, tmp_path) -> None:
    write_texts(tmp_path / "texts")
    spec = ROOT / "specs" / "text_classifier.yaml"
    trained = kspec(env, tmp_path, "build-and-train", spec, "--data", "texts", "-o", "run", "--epochs", "1",
                    "--set", "data.test_split=0.25")
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "preprocessing" / "vocabulary.txt").is_file()
    result = kspec(env, tmp_path, "predict", "run", "--text", "a wonderful superb film", "--text", "dull and awful")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "PREDICTION"]
    for line, source in zip(lines[1:], ("--text #1", "--text #2")):
        assert line.startswith(source) and "pos (" in line and "neg (" in line  # both classes, by name
    as_json = kspec(env, tmp_path, "predict", "run", "-", "--format", "json", stdin='{"input_layer": "superb"}\n')
    assert as_json.returncode == 0, as_json.stderr
    (row,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert row["source"] == "stdin:1" and {c["class"] for c in row["outputs"]["dense"]["top"]} == {"neg", "pos"}
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    evaluated = kspec(env, tmp_path, "evaluate", "run", "--format", "json")
    assert evaluated.returncode == 0, evaluated.stderr
    document = json.loads(evaluated.stdout)
    assert document["ok"] and document["command"] == "evaluate"
    assert document["metrics"]["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert document["outputs"]["dense"]["class_names"] == ["neg", "pos"]
    # other texts: every example, through the run's own vocabulary (not one learned from these texts)
    (tmp_path / "more" / "pos").mkdir(parents=True)
    (tmp_path / "more" / "neg").mkdir()
    (tmp_path / "more" / "pos" / "a.txt").write_text("superb lovely unseenword", encoding="utf-8")
    (tmp_path / "more" / "neg" / "b.txt").write_text("dull", encoding="utf-8")
    other = kspec(env, tmp_path, "evaluate", "run", "--data", "more", "--format", "json", "-o", "other.json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["examples"] == 2 and (tmp_path / "other.json").is_file()


def test_photos_train_predict_evaluate_export(env, tmp_path) -> None:
    write_photos(tmp_path / "photos")
    (tmp_path / "new").mkdir()
    from PIL import Image

    Image.fromarray(np.full((30, 20, 3), 200, np.uint8)).save(tmp_path / "new" / "light.png")
    (tmp_path / "new" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    spec = ROOT / "specs" / "image_classifier.yaml"
    trained = kspec(env, tmp_path, "build-and-train", spec, "--data", "photos", "-o", "run", "--epochs", "1")
    assert trained.returncode == 0, trained.stderr
    result = kspec(env, tmp_path, "predict", "run", "new", "--format", "csv", "-o", "predictions.csv")
    assert result.returncode == 1  # one input failed; the other was predicted
    assert result.stderr.splitlines() == [
        "Error: new/broken.png: Cannot decode the image (Invalid PNG. Failed to initialize decoder); expected a "
        "PNG, JPEG, BMP or GIF image.",
        "1 input(s) could not be predicted; the others were.",
    ]
    written = (tmp_path / "predictions.csv").read_text().splitlines()
    assert written[0] == "source,output,rank,class,probability,value,error"
    assert written[1].startswith('new/broken.png,,,,,,"Cannot decode the image')
    rows = [line.split(",") for line in written[2:]]  # one row per class shown (--top-k 3)
    assert [r[:3] for r in rows] == [["new/light.png", "label", str(k)] for k in (1, 2, 3)]
    assert {r[3] for r in rows} == {"cat", "dog", "owl"}
    exported = kspec(env, tmp_path, "export", "run", "--format", "onnx", "--format", "saved_model")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[0].startswith("Exported onnx to run/export/onnx/model.onnx: verified")
    assert json.loads((tmp_path / "run" / "export" / "onnx" / "parity.json").read_text())["passed"]
    refused = kspec(env, tmp_path, "export", "run", "--format", "tflite")
    assert refused.returncode == 2 and refused.stderr.startswith("Error: Unknown export format 'tflite'.")
