"""Whole models: every valid spec, built in Keras, has exactly the inferred shapes and parameter counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.compile import build_model
from kspec.spec.layers._opbase import Op

ROOT = Path(__file__).parent.parent
VALID = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "data" / "valid").iterdir())


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_keras_agrees_with_static_inference(path: Path) -> None:
    report = kspec.check(path)
    assert report.ok
    model = build_model(report.spec, report.inference)
    inf = report.inference
    assert model.count_params() == inf.total_params
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == inf.non_trainable_params
    for node in inf.nodes:
        if node.shares is not None or isinstance(node.layer, Op):  # an operation is a node of no Keras layer
            continue
        layer = model.get_layer(node.name)
        assert tuple(layer.output.shape) == node.output.shape, node.name
        assert layer.count_params() == node.params, node.name
    assert [tuple(o.shape) for o in model.outputs] == [inf.tensor(o).shape for o in inf.outputs]
    assert model.name == report.spec.name
