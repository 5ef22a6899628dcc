"""Keras's layer aliases are read as the type they name, as Keras reads them: the spec's layer is the canonical
type (in dumps, summaries and the built model), and every alias kspec accepts is one Keras has."""

import pytest

import kspec
from kspec.spec.layers import LAYER_CLASSES, LAYER_TYPES, parse_layer

ALIASES = sorted((alias, cls.type_name()) for cls in LAYER_CLASSES for alias in cls.type_names()[1:])


def test_there_are_aliases() -> None:
    assert ("MaxPool2D", "MaxPooling2D") in ALIASES and ("Convolution2D", "Conv2D") in ALIASES


@pytest.mark.parametrize("alias, canonical", ALIASES)
def test_alias_is_the_keras_class_of_its_type(alias: str, canonical: str) -> None:
    import keras

    assert getattr(keras.layers, alias) is getattr(keras.layers, canonical)
    assert LAYER_TYPES[alias] is LAYER_TYPES[canonical]


def test_an_alias_is_normalised_once_when_the_spec_is_loaded() -> None:
    text = """
kspec: 1
name: aliases
model:
  input: {shape: [8, 8, 1]}
  layers:
    - {type: Convolution2D, filters: 2, kernel_size: 3}
    - {type: MaxPool2D}
    - {type: GlobalAvgPool2D}
    - {type: Dense, units: 2, activation: softmax}
training: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""
    report = kspec.check(text)
    assert report.ok, report.diagnostics
    spec = kspec.load_spec(text)
    assert [layer.type for layer in spec.model.layers] == ["Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "Dense"]
    assert parse_layer({"type": "AvgPool1D", "pool_size": 2}).layer_type == "AveragePooling1D"
    assert "MaxPool2D" not in kspec.dump_spec(spec) and "MaxPooling2D" in kspec.dump_spec(spec)


def test_a_misspelled_alias_gets_a_did_you_mean() -> None:
    report = kspec.check("""
kspec: 1
name: typo
model:
  input: {shape: [8, 8, 1]}
  layers:
    - {type: MaxPool2d}
    - {type: Flatten}
    - {type: Dense, units: 2}
training: {optimizer: adam, loss: mse}
""")
    assert [d.code for d in report.diagnostics] == ["unknown-layer"]
    assert "MaxPool2D" in (report.diagnostics[0].hint or "")
