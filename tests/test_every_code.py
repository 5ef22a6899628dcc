"""Every diagnostic code in kspec.diagnostics.CODES is produced by some spec, with a position."""

from __future__ import annotations

import pytest

import kspec
from kspec.diagnostics import CODES

HEAD = "kspec: 1\nname: t\n"
SEQ = HEAD + "model:\n  input: {shape: [4]}\n  layers:\n    - {type: Dense, units: 1}\ntraining:\n  loss: mse\n"


def graph(nodes: str, outputs: str = "[out]", inputs: str = "    - {name: x, shape: [4]}\n", training: str = "  loss: mse\n") -> str:
    return HEAD + f"model:\n  inputs:\n{inputs}  nodes:\n{nodes}  outputs: {outputs}\ntraining:\n{training}"


CASES: dict[str, str] = {
    "yaml-syntax": "kspec: [1\n",
    "duplicate-key": SEQ + "name: again\n",
    "forbidden-tag": SEQ.replace("units: 1", "units: !!binary AQ=="),
    "too-large": "a: &a [" + ", ".join(["x"] * 100) + "]\nb: &b [" + ", ".join(["*a"] * 100) + "]\nc: [" + ", ".join(["*b"] * 100) + "]\n",
    "not-a-mapping": "- just\n- a list\n",
    "unknown-key": SEQ.replace("units: 1", "units: 1, unit: 2"),
    "missing-key": SEQ.replace("{type: Dense, units: 1}", "{type: Dense}"),
    "type": SEQ.replace("units: 1", "units: one"),
    "value": SEQ.replace("units: 1", "units: -1"),
    "unknown-layer": SEQ.replace("Dense", "Dence"),
    "duplicate-name": graph("    - {name: x, type: Dense, units: 1, inputs: x}\n    - {name: out, type: Dense, units: 1, inputs: x}\n"),
    "undefined-node": graph("    - {name: out, type: Dense, units: 1, inputs: y}\n"),
    "unused-node": graph("    - {name: out, type: Dense, units: 1, inputs: x}\n    - {name: dead, type: Dense, units: 1, inputs: x}\n"),
    "cycle": graph("    - {name: out, type: Dense, units: 4, inputs: out}\n"),
    "arity": graph("    - {name: out, type: Subtract, inputs: [x, x, x]}\n"),
    "form": SEQ.replace("units: 1}", "units: 1, inputs: x}"),
    "shape": SEQ.replace("shape: [4]", "shape: [4, 4]").replace("{type: Dense, units: 1}", "{type: Conv1D, filters: 2, kernel_size: 5}"),
    "shared-layer": graph(
        "    - {name: a, type: Dense, units: 2, inputs: x}\n    - {name: b, shares: a, inputs: y}\n    - {name: out, type: Concatenate, inputs: [a, b]}\n",
        inputs="    - {name: x, shape: [4]}\n    - {name: y, shape: [3]}\n",
    ),
    "loss": SEQ.replace("loss: mse", "loss: sparse_categorical_crossentropy"),
    "data": SEQ + "data:\n  source: {type: synthetic}\n  inputs: {images: x}\n",
    "param-budget": SEQ.replace("shape: [4]", "shape: [3000000000]"),
    "metric": SEQ.replace("units: 1", "units: 3, activation: softmax").replace(
        "loss: mse\n", "loss: sparse_categorical_crossentropy\n  metrics: [categorical_accuracy]\n"
    ),
    "callback": SEQ.replace(
        "loss: mse\n",
        "loss: mse\n  optimizer: {type: SGD, learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}}\n"
        "  callbacks: [{type: ReduceLROnPlateau, monitor: loss}]\n",
    ),
    "unknown-block": SEQ.replace("{type: Dense, units: 1}", "{block: dense_block}")
    + "blocks:\n  dense_blocks: {layers: [{type: Dense, units: 1}]}\n",
    "adapt": SEQ.replace("{type: Dense, units: 1}", "{type: Dense, units: 2}\n    - {type: Normalization, adapt: true}\n    - {type: Dense, units: 1}"),
    "precision": SEQ.replace("shape: [4]", "shape: [4, 4, 4, 2]").replace(
        "{type: Dense, units: 1}", "{type: MaxPooling3D, pool_size: 2}\n    - {type: Flatten}\n    - {type: Dense, units: 1}"
    )
    + "  precision: mixed_float16\n",
    "tuning": SEQ + "tuning:\n  params:\n    u: {type: int, path: model.layers.0.units, low: 4, high: 2}\n",
    "tuning-empty": SEQ + "tuning:\n  objective: {metric: loss}\n  params:\n    u: {type: int, path: model.layers.0.units, low: -2, high: 0}\n",
    "expression": SEQ.replace("{type: Dense, units: 1}", "{block: d, width: 3}")
    + "blocks:\n  d:\n    params: {width: int}\n    layers: [{type: Dense, units: \"${width // 0}\"}]\n",
}


def test_every_code_has_a_case() -> None:
    from tests.test_lint import CASES as LINTS
    from tests.test_overrides import CODE_CASES as OVERRIDES

    assert OVERRIDES  # the `override` code: tests/test_overrides.py
    # memory-budget: tests/test_cost.py; tuning-region (a warning): tests/test_tune_space.py
    missing = set(CODES) - set(CASES) - set(LINTS) - {"io-error", "override", "memory-budget", "tuning-region"}
    assert missing == set()


@pytest.mark.parametrize("code", sorted(CASES))
def test_code_is_produced_with_a_position(code: str) -> None:
    report = kspec.check(CASES[code], file="case.yaml")
    codes = [d.code for d in report.diagnostics]
    assert code in codes, [d.to_json() for d in report.diagnostics]
    d = next(d for d in report.diagnostics if d.code == code)
    assert d.severity == "error" and d.file == "case.yaml" and d.span is not None
    assert len(d.message) > 20


def test_io_error(tmp_path) -> None:
    report = kspec.check(tmp_path / "missing.yaml")
    assert [d.code for d in report.diagnostics] == ["io-error"]
    assert not report.ok


def test_every_policy_is_documented() -> None:
    """Each policy a refusal can name is listed, by id, in the table of docs/policies.md."""
    from pathlib import Path

    from kspec.diagnostics import POLICIES

    page = (Path(__file__).parent.parent / "docs" / "policies.md").read_text()
    assert [p for p in POLICIES if f"| `{p}` |" not in page] == []
