"""Stage 2, structure: strict pydantic models, normalisation, and diagnostics for every kind of mistake."""

from __future__ import annotations

import copy
import math

import pytest

import kspec
from kspec.spec import Spec

BASE = {
    "kspec": 1,
    "name": "m",
    "model": {"input": {"shape": [28, 28, 1]}, "layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 3}, {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "training": {"loss": "sparse_categorical_crossentropy"},
}


def with_layer(**fields) -> dict:
    d = copy.deepcopy(BASE)
    d["model"]["layers"][0].update(fields)
    return d


def only(report) -> kspec.Diagnostic:
    assert len(report.diagnostics) == 1, [x.to_json() for x in report.diagnostics]
    return report.diagnostics[0]


@pytest.mark.parametrize(
    "value, expected",
    [("8", "a string"), (True, "a boolean"), (8.0, "a number"), (None, "null"), ([8], "a list")],
)
def test_no_silent_coercion_of_integers(value, expected) -> None:
    d = only(kspec.check(with_layer(filters=value)))
    assert d.code == "type" and d.location == "model.layers[0].filters"
    assert f"must be an integer, not {expected}" in d.message
    assert "Received: filters=" in d.message


def test_numeric_string_gets_a_hint() -> None:
    d = only(kspec.check(with_layer(filters="8")))
    assert d.hint == "Write the number without quotes: filters: 8"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value) -> None:
    d = copy.deepcopy(BASE)
    d["model"]["layers"].insert(2, {"type": "Dropout", "rate": value})
    diag = only(kspec.check(d))
    assert diag.code == "value" and diag.location == "model.layers[2].rate"


def test_int_or_tuple_is_normalised_once() -> None:
    a = kspec.load_spec(with_layer(kernel_size=3, strides=1))
    b = kspec.load_spec(with_layer(kernel_size=[3, 3], strides=[1, 1]))
    assert a.model.layers[0].kernel_size == (3, 3) == b.model.layers[0].kernel_size
    assert a == b


def test_tuple_of_wrong_length_is_refused() -> None:
    d = only(kspec.check(with_layer(kernel_size=[3, 3, 3])))
    assert d.code == "value" and d.location == "model.layers[0].kernel_size"


def test_normalisation_is_idempotent_and_round_trips() -> None:
    spec = kspec.load_spec(with_layer(kernel_size=3))
    dumped = spec.model_dump(mode="json", exclude_none=False)
    again = kspec.load_spec(dumped)
    assert again == spec
    assert again.model_dump(mode="json") == dumped


def test_unknown_key_did_you_mean() -> None:
    d = only(kspec.check(with_layer(kernal_size=3)))
    assert d.code == "unknown-key" and d.hint == "Did you mean 'kernel_size'?"


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    d = copy.deepcopy(BASE)
    d["training"]["zzz"] = 1
    diag = only(kspec.check(d))
    assert diag.code == "unknown-key" and diag.hint.startswith("Allowed keys: optimizer, loss,")


def test_unknown_layer_type_did_you_mean_is_case_insensitive() -> None:
    d = copy.deepcopy(BASE)
    d["model"]["layers"][1] = {"type": "flatten"}
    diag = only(kspec.check(d))
    assert diag.code == "unknown-layer" and diag.hint == "Did you mean 'Flatten'?"
    assert diag.location == "model.layers[1].type"


def test_missing_type_and_missing_required_key() -> None:
    d = copy.deepcopy(BASE)
    d["model"]["layers"][1] = {"units": 3}
    assert only(kspec.check(d)).code == "missing-key"
    d = copy.deepcopy(BASE)
    del d["model"]["layers"][0]["filters"]
    diag = only(kspec.check(d))
    assert diag.code == "missing-key" and diag.location == "model.layers[0].filters"
    assert diag.hint and diag.hint.startswith("filters: ")


def test_parameterised_objects_report_inside_the_mapping() -> None:
    diag = only(kspec.check(with_layer(kernel_initializer={"type": "HeNormal", "sead": 1})))
    assert diag.location == "model.layers[0].kernel_initializer.sead" and diag.hint == "Did you mean 'seed'?"
    diag = only(kspec.check(with_layer(kernel_initializer="he_normall")))
    assert diag.code == "value" and diag.hint == "Did you mean 'he_normal'?"
    diag = only(kspec.check(with_layer(kernel_initializer={"type": "HeNormel"})))
    assert diag.code == "value" and diag.hint == "Did you mean 'HeNormal'?"


def test_every_error_at_once() -> None:
    d = copy.deepcopy(BASE)
    d["model"]["layers"][0].update(filters=0, kernel_size="3", padding="full")
    d["training"]["epochs"] = -1
    codes = sorted(diag.location for diag in kspec.check(d).diagnostics)
    assert codes == ["model.layers[0].filters", "model.layers[0].kernel_size", "model.layers[0].padding", "training.epochs"]


def test_top_level_must_be_a_mapping() -> None:
    for data in ("just text", "[1, 2]", "42"):
        diag = only(kspec.check(data + "\n"))
        assert diag.code == "not-a-mapping"


def test_format_version() -> None:
    d = copy.deepcopy(BASE)
    d["kspec"] = 2
    diag = only(kspec.check(d))
    assert diag.code == "value" and diag.location == "kspec"


def test_load_spec_raises_with_all_diagnostics() -> None:
    d = copy.deepcopy(BASE)
    d["model"]["layers"][0].update(filters=0, kernel_size=0)
    with pytest.raises(kspec.SpecError) as info:
        kspec.load_spec(d)
    assert len(info.value.diagnostics) == 2
    assert "2 error(s)" in str(info.value)


def test_load_spec_returns_a_frozen_typed_spec() -> None:
    spec = kspec.load_spec(BASE)
    assert isinstance(spec, Spec)
    with pytest.raises(Exception):
        spec.name = "other"  # type: ignore[misc]


def test_check_report_carries_shapes_and_params() -> None:
    report = kspec.check(BASE)
    assert report.ok
    assert report.shapes["conv2d"] == (None, 26, 26, 4)
    assert report.shapes["flatten"] == (None, 2704)
    assert report.param_count == (9 * 4 + 4) + (2704 * 10 + 10)
    assert report.to_json()["params"] == report.param_count


def test_check_never_raises_on_garbage() -> None:
    for garbage in ("", "{", "- - -", "\x00", "a: *undefined", "%TAG ! tag:x\n--- !x 1", 17, None):
        source = garbage if isinstance(garbage, str) else {"kspec": garbage}
        report = kspec.check(source)
        assert not report.ok and report.diagnostics


def test_schedule_and_optimizer_cross_field_rules() -> None:
    def training(optimizer) -> dict:
        d = copy.deepcopy(BASE)
        d["training"]["optimizer"] = optimizer
        return d

    ok = {"type": "SGD", "learning_rate": {"type": "PiecewiseConstantDecay", "boundaries": [10, 20], "values": [0.1, 0.01, 0.001]}}
    assert kspec.check(training(ok)).ok
    for bad in (
        {"type": "SGD", "learning_rate": {"type": "PiecewiseConstantDecay", "boundaries": [20, 10], "values": [0.1, 0.01, 0.001]}},
        {"type": "SGD", "learning_rate": {"type": "PiecewiseConstantDecay", "boundaries": [10, 10], "values": [0.1, 0.01, 0.001]}},
        {"type": "SGD", "learning_rate": {"type": "PiecewiseConstantDecay", "boundaries": [10], "values": [0.1, 0.01, 0.001]}},
        {"type": "Adam", "clipnorm": 1.0, "clipvalue": 0.5},
    ):
        diag = only(kspec.check(training(bad)))
        assert diag.code == "value" and diag.location.startswith("training.optimizer"), diag.to_json()


def test_a_wrong_format_version_names_the_expected_one():
    """An integer literal's allowed values are listed too (they have no quotes in pydantic's message)."""
    report = kspec.check({"kspec": 2, "name": "x", "model": {"input": {"shape": [2]}, "layers": [{"type": "Dense", "units": 1}]},
                          "training": {"loss": "mse"}})
    assert [d.message for d in report.errors] == ["Invalid value for `kspec` in the spec: expected one of 1. Received: kspec=2"]
