"""Lints: each rule fires on the mistake it is for, and not on the example specs."""

from __future__ import annotations

import pytest

import kspec


def spec(layers: str, training: str = "  loss: sparse_categorical_crossentropy\n", shape: str = "[8]") -> str:
    return f"kspec: 1\nname: t\nmodel:\n  input: {{shape: {shape}}}\n  layers:\n{layers}training:\n{training}"


CASES = {
    "lint-inert-normalization": spec("    - {type: Normalization}\n    - {type: Dense, units: 3, activation: softmax}\n"),
    "lint-softmax-from-logits": spec(
        "    - {type: Dense, units: 3, activation: softmax}\n",
        "  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n",
    ),
    "lint-sigmoid-categorical": spec("    - {type: Dense, units: 3, activation: sigmoid}\n"),
    "lint-dropout-last": spec("    - {type: Dense, units: 3, activation: softmax}\n    - {type: Dropout, rate: 0.5}\n"),
    "lint-bias-before-batchnorm": spec(
        "    - {type: Dense, units: 16}\n    - {type: BatchNormalization}\n    - {type: ReLU}\n"
        "    - {type: Dense, units: 3, activation: softmax}\n"
    ),
    "lint-no-activation-stack": spec("    - {type: Dense, units: 16}\n    - {type: Dense, units: 3, activation: softmax}\n"),
    "lint-large-dense": spec(
        "    - {type: Flatten}\n    - {type: Dense, units: 64, activation: relu}\n    - {type: Dense, units: 3, activation: softmax}\n",
        shape="[128, 128, 3]",
    ),
    "lint-metric-regression": spec("    - {type: Dense, units: 1}\n", "  loss: mse\n  metrics: [accuracy]\n"),
    "lint-precision": spec(
        "    - {type: UnitNormalization}\n    - {type: Dense, units: 3, activation: softmax}\n",
        "  loss: sparse_categorical_crossentropy\n  precision: mixed_float16\n",
    ),
    "lint-monitor-without-validation": spec(
        "    - {type: Dense, units: 3, activation: softmax}\n",
        "  loss: sparse_categorical_crossentropy\n  callbacks: [{type: EarlyStopping, monitor: val_loss}]\n",
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_lint_fires(code: str) -> None:
    report = kspec.check(CASES[code])
    assert report.ok, [d.to_json() for d in report.errors]
    assert [d.code for d in report.warnings] == [code]
    assert report.warnings[0].span is not None and report.warnings[0].hint


@pytest.mark.parametrize("code", sorted(CASES))
def test_strict_makes_lints_errors(code: str) -> None:
    report = kspec.check(CASES[code], strict=True)
    assert not report.ok
    assert [d.code for d in report.errors] == [code]


def test_every_lint_code_has_a_test() -> None:
    from kspec.diagnostics import CODES

    assert {c for c in CODES if c.startswith("lint-")} == set(CASES)
