"""Reports of real runs in a real browser (Debian's Chromium through Playwright, tests/browser.py): what
comes from the user's data (class directory names, texts) shows as text and runs nothing, and the page
of a study draws. The page's own behaviour over sample data: tests/test_report_page.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kspec.report.collect import collect
from kspec.train.run import TrainOptions, build_and_train
from tests.browser import browser_page_fixture, chromium_browser_fixture, nonblank  # noqa: F401

pytest.importorskip("tensorflow")

#: A class directory's name can hold anything but "/": markup that would run if it were not escaped.
EVIL_CLASS = '<img src=x onerror=alert(1)>'
AMPERSAND_CLASS = 'cats & "dogs"'
EVIL_TEXT = "</script><script>alert(1)</script>"

IMAGES = """\
kspec: 1
name: photos
model:
  input: {name: image, shape: [12, 12, 3]}
  layers:
    - {type: Rescaling, scale: 0.00392156862745098}
    - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
    - {type: GlobalAveragePooling2D}
    - {type: Dense, name: label, units: 2, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 2
  batch_size: 8
  seed: 1
data:
  source: {type: image_directory, path: photos}
  test_split: 0.4
"""

TEXTS = """\
kspec: 1
name: texts
model:
  input: {name: text, shape: [], dtype: string}
  layers:
    - {type: TextVectorization, max_tokens: 50, output_sequence_length: 12, adapt: true}
    - {type: Embedding, input_dim: 50, output_dim: 4}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, name: label, units: 2, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 2
  batch_size: 8
  seed: 1
data:
  source: {type: text_directory, path: texts}
  test_split: 0.4
"""


def train(spec: Path, out: Path) -> None:
    build_and_train(str(spec), TrainOptions(output=str(out), verbose=0), echo=lambda m: None)


def test_class_names_from_directories_show_as_text_in_the_browser(tmp_path, browser_page):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate((EVIL_CLASS, AMPERSAND_CLASS)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(rng.normal(60 + 120 * c, 30, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.png")
    (tmp_path / "photos.yaml").write_text(IMAGES, encoding="utf-8")
    train(tmp_path / "photos.yaml", tmp_path / "run")
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert EVIL_CLASS not in html and AMPERSAND_CLASS not in html  # escaped wherever they stand

    page = browser_page.open(tmp_path / "run" / "report.html")
    assert not browser_page.dialogs and not browser_page.errors and not browser_page.external
    matrix = page.locator("#analysis-run0 table").first
    assert EVIL_CLASS in matrix.inner_text() and AMPERSAND_CLASS in matrix.inner_text()
    assert page.locator("#analysis-run0 img[src^='x']").count() == 0
    assert page.evaluate("document.querySelectorAll('img:not([src^=\"data:image/\"])').length") == 0
    assert nonblank(browser_page.screenshot("#explain-run0"))


def test_texts_show_as_text_in_the_browser(tmp_path, browser_page):
    rng = np.random.default_rng(1)
    for label, words in {"pos": "good great fine", "neg": "bad awful poor"}.items():
        (tmp_path / "texts" / label).mkdir(parents=True)
        for i in range(10):
            text = " ".join(rng.choice(words.split(), 5)) + f" {EVIL_TEXT}"
            (tmp_path / "texts" / label / f"{i}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "texts.yaml").write_text(TEXTS, encoding="utf-8")
    train(tmp_path / "texts.yaml", tmp_path / "run")
    analysis = json.loads((tmp_path / "run" / "analysis.json").read_text())
    tokens = [t for item in analysis["explanation"]["items"] for t, _ in item["tokens"]]
    assert EVIL_TEXT in tokens  # the model reads raw strings: occlusion leaves out whole words

    page = browser_page.open(tmp_path / "run" / "report.html")
    assert not browser_page.dialogs and not browser_page.errors and not browser_page.external
    assert EVIL_TEXT in page.locator("#explain-run0").inner_text()
    scripts = page.evaluate("[...document.scripts].map(s => [s.type, s.text.includes('alert(1)')])")
    assert scripts == [["application/json", True], ["", False], ["", False], ["", False]]  # data, uPlot, dagre, ours


def test_a_study_report_in_the_browser(tmp_path, browser_page):
    from click.testing import CliRunner

    from kspec.cli import main

    spec = Path(__file__).resolve().parent.parent / "specs" / "digits_tune.yaml"
    study = tmp_path / "study"
    args = ["tune", str(spec), "--trials", "3", "-o", str(study), "--set", "training.epochs=2"]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, ["report", str(study)])
    assert result.exit_code == 0, result.output
    data = collect([study])
    trials = data["study"]["trials"]
    assert sum(t["state"] == "complete" for t in trials) == 3 and data["study"]["metric"] == "val_accuracy"
    best = max((t for t in trials if t["state"] == "complete"), key=lambda t: t["value"])
    assert data["study"]["best"] == best["number"] and data["study"]["direction"] == "maximize"
    assert data["runs"][0]["label"].startswith("best trial") and data["runs"][0]["analysis"] is not None

    page = browser_page.open(study / "report.html")
    assert not browser_page.errors and not browser_page.external
    assert page.locator("#study table").first.locator("tbody tr").count() == len(trials)
    assert nonblank(browser_page.screenshot('[data-chart="study-history"]'))
