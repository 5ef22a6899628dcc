"""`--set KEY=VALUE` overrides: applied to the loaded document, then validated like the file."""

from __future__ import annotations

from pathlib import Path

import pytest

import kspec
from kspec.check import apply_overrides, parse_override

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


def test_an_overridden_value_is_validated_like_the_file_with_its_position():
    report = kspec.check(MNIST, file="mnist.yaml", overrides=["training.epochs=many", "model.layers.0.filterz=3"])
    codes = sorted((d.code, ".".join(map(str, d.path))) for d in report.errors)
    assert codes == [("type", "training.epochs"), ("unknown-key", "model.layers.0.filterz")]
    epochs = next(d for d in report.errors if d.code == "type")
    assert epochs.span is not None and epochs.span.line == 20  # where `epochs:` is in the file
    unknown = next(d for d in report.errors if d.code == "unknown-key")
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
    assert report.errors[0].file == "mnist.yaml"


def test_the_loaded_document_is_not_modified():
    data = {"a": {"b": 1}}
    new, problems = apply_overrides(data, ["a.b=2", "a.c.d=3"])
    assert problems == []
    assert new == {"a": {"b": 2, "c": {"d": 3}}}
    assert data == {"a": {"b": 1}}
