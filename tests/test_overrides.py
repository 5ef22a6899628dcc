"""`--set KEY=VALUE` overrides: applied to the loaded document, then validated like the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kspec
from kspec.check import apply_overrides, parse_override
from kspec.diagnostics import Span
from kspec.reporters import render_diagnostic, render_json, render_text

MNIST = Path(__file__).resolve().parent.parent / "specs" / "mnist_cnn.yaml"

#: override -> the message part of its `override` diagnostic (tests/test_every_code.py uses these)
CODE_CASES = {
    "x": "An override must be KEY=VALUE",
    "=3": "An override must be KEY=VALUE",
    "training..epochs=3": "An override must be KEY=VALUE",
    "training.epochs=[1": "is not valid YAML",
    "training.optimizer.learning_rate=0.1": "goes through `training.optimizer`, which is 'adam', not a mapping or list",
    "model.layers.9.units=3": "goes through `model.layers.9`, which is missing",
    "model.layers.7=3": "there is no item 7 to set (the list has 7 items, numbered from 0)",
}


def test_values_are_yaml_and_keys_are_dotted_with_list_indices():
    assert parse_override("training.epochs=5") == (("training", "epochs"), 5)
    assert parse_override("model.layers.0.kernel_size=[5, 5]") == (("model", "layers", 0, "kernel_size"), [5, 5])
    assert parse_override("training.optimizer={type: Adam, learning_rate: 0.01}") == (
        ("training", "optimizer"),
        {"type": "Adam", "learning_rate": 0.01},
    )
    assert parse_override("description=a=b") == (("description",), "a=b")
    assert parse_override("training.seed=") == (("training", "seed"), None)


def test_overrides_change_the_checked_spec():
    report = kspec.check(
        MNIST,
        overrides=["training.epochs=2", "model.layers.0.filters=16", "training.optimizer={type: SGD, momentum: 0.5}"],
    )
    assert report.ok, report.diagnostics
    assert report.spec.training.epochs == 2
    assert report.spec.model.layers[0].filters == 16
    assert report.spec.training.optimizer.type == "SGD" and report.spec.training.optimizer.momentum == 0.5
    assert report.param_count == kspec.check(MNIST).param_count - (32 - 16) * (9 + 1) - (32 - 16) * 9 * 64


def test_an_overridden_value_is_validated_like_the_file_and_comes_from_the_option():
    report = kspec.check(MNIST, file="mnist.yaml", overrides=["training.epochs=many", "model.layers.0.filterz=3"])
    codes = sorted((d.code, ".".join(map(str, d.path))) for d in report.errors)
    assert codes == [("type", "training.epochs"), ("unknown-key", "model.layers.0.filterz")]
    epochs = next(d for d in report.errors if d.code == "type")
    # not line 20 of the file, where `epochs: 15` is: the option set the value
    assert (epochs.file, epochs.span) == ("--set training.epochs=many", None)
    unknown = next(d for d in report.errors if d.code == "unknown-key")
    assert (unknown.file, unknown.span) == ("--set model.layers.0.filterz=3", None)
    assert "filters" in (unknown.hint or "") + unknown.message  # did-you-mean


def test_a_new_key_through_missing_mappings_is_created_and_then_checked():
    report = kspec.check(MNIST, overrides=["data.source={type: synthetic, samples: 64}"])
    assert report.ok and report.spec.data.source.type == "synthetic"
    report = kspec.check(MNIST, overrides=["trainig.epochs=3"])
    assert [d.code for d in report.errors] == ["unknown-key"]


@pytest.mark.parametrize("override", sorted(CODE_CASES))
def test_overrides_that_cannot_apply_are_override_errors(override):
    report = kspec.check(MNIST, file="mnist.yaml", overrides=[override])
    assert [d.code for d in report.errors] == ["override"], report.errors
    assert CODE_CASES[override] in report.errors[0].message
    assert (report.errors[0].file, report.errors[0].span) == (f"--set {override}", None)


def test_the_loaded_document_is_not_modified():
    data = {"a": {"b": 1}}
    new, problems = apply_overrides(data, ["a.b=2", "a.c.d=3"])
    assert problems == []
    assert new == {"a": {"b": 2, "c": {"d": 3}}}
    assert data == {"a": {"b": 1}}


# ---- where a diagnostic an override causes points: the option, or the file with a note ---------------------

TEXT = MNIST.read_text(encoding="utf-8")


def rendered(*overrides, text: str = TEXT) -> str:
    return render_text([kspec.check(text, file="mnist.yaml", overrides=list(overrides))], {"mnist.yaml": text})


def test_the_text_reporter_shows_the_option_instead_of_a_line_of_the_file():
    assert rendered("training.epochs=0") == (
        "--set training.epochs=0: error[value]: `epochs` in Training must be >= 1. Received: epochs=0\n"
        "  at training.epochs\n"
        "   cli | --set training.epochs=0\n"
        "       |                       ^\n"
        "1 file(s) checked: 1 error(s), 0 warning(s)\n"
    )


def test_a_key_only_the_override_made_points_at_that_key_of_the_option():
    assert rendered("trainig.epochs=3") == (
        "--set trainig.epochs=3: error[unknown-key]: Unknown key 'trainig' in the spec. Received: trainig={epochs: 3}\n"
        "  at trainig\n"
        "   cli | --set trainig.epochs=3\n"
        "       |       ^\n"
        "  hint: Did you mean 'training'?\n"
        "1 file(s) checked: 1 error(s), 0 warning(s)\n"
    )


def test_an_override_that_cannot_apply_points_at_the_part_of_its_key():
    assert rendered("model.layers.9.units=3") == (
        "--set model.layers.9.units=3: error[override]: `--set model.layers.9.units=3` goes through "
        "`model.layers.9`, which is missing, not a mapping or list.\n"
        "  at model.layers[9]\n"
        "   cli | --set model.layers.9.units=3\n"
        "       |                    ^\n"
        "  hint: Set `model.layers.9` as a whole, e.g. --set 'model.layers.9={type: ..., ...}'.\n"
        "1 file(s) checked: 1 error(s), 0 warning(s)\n"
    )


def test_an_error_the_override_causes_elsewhere_keeps_its_place_and_names_the_overrides():
    assert rendered("model.input.shape=[8, 8, 1]", "training.epochs=2") == (
        "mnist.yaml:12:39: error[shape]: Computed output size would be zero or negative along spatial axis 1: the "
        "input size 1 is smaller than the pool size 2. Expected an input at least as large as the pooling window, or "
        "padding='same'. Received: input_shape=(None, 1, 1, 64), pool_size=(2, 2), strides=(2, 2), padding=valid "
        "(layer 'max_pooling2d_1' applied to (None, 1, 1, 64))\n"
        "  at model.layers[3].pool_size\n"
        "    12 |     - {type: MaxPooling2D, pool_size: 2}\n"
        "       |                                       ^\n"
        "  note: with the command line's --set model.input.shape=[8, 8, 1], --set training.epochs=2\n"
        "1 file(s) checked: 1 error(s), 0 warning(s)\n"
    )


def test_the_file_s_own_errors_get_no_note():
    text = TEXT.replace("pool_size: 2}\n    - {type: Flatten}", "pool_size: 20}\n    - {type: Flatten}")
    report = kspec.check(text, file="mnist.yaml", overrides=["training.epochs=2"])
    (error,) = report.errors
    assert error.code == "shape" and error.file == "mnist.yaml" and error.span == Span(12, 39)
    assert error.notes == ()


def test_an_option_that_is_not_a_set_is_named_as_the_user_wrote_it():
    report = kspec.check(MNIST, file="mnist.yaml", overrides=[("training.batch_size=0", "--batch-size 0")])
    (error,) = report.errors
    assert (error.file, error.span, error.location) == ("--batch-size 0", None, "training.batch_size")
    assert render_diagnostic(error).splitlines()[2:] == ["   cli | --batch-size 0", "       |              ^"]


def test_json_gives_the_option_as_the_file_with_no_line_or_column():
    doc = json.loads(render_json([kspec.check(TEXT, file="mnist.yaml", overrides=["training.epochs=0"])]))
    (d,) = doc["files"][0]["diagnostics"]
    assert doc["files"][0]["file"] == "mnist.yaml"
    assert (d["file"], d["line"], d["column"], d["path"]) == ("--set training.epochs=0", None, None, "training.epochs")
