"""`adapt: true`: a Normalization adapted to the training split only, before training; its statistics saved
with the model; and the specs whose adapted layer could not mean that, refused by the checker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec

pytest.importorskip("tensorflow")
import keras  # noqa: E402

from kspec.train.run import TrainOptions, build_and_train  # noqa: E402


def _spec(model: str, extra: str = "") -> str:
    return (
        "kspec: 1\nname: adapted\n"
        + model
        + "training:\n  loss: mse\n  epochs: 1\n  batch_size: 16\n  seed: 3\n"
        + "data:\n  source: {type: npz, path: d.npz}\n  test_split: 0.25\n  shuffle: false\n"
        + extra
    )


SEQUENTIAL = _spec(
    "model:\n  input: {shape: [3]}\n  layers:\n"
    "    - {type: Normalization, adapt: true}\n    - {type: Dense, units: 1}\n"
)

#: the adapted layer sits after a layer without weights, on one of two inputs: kspec feeds it through the graph
GRAPH = _spec(
    "model:\n  inputs:\n    - {name: a, shape: [3]}\n    - {name: b, shape: [2]}\n  nodes:\n"
    "    - {name: scaled, type: Rescaling, scale: 2.0, offset: 1.0, inputs: a}\n"
    "    - {name: norm, type: Normalization, adapt: true, inputs: scaled}\n"
    "    - {name: both, type: Concatenate, inputs: [norm, b]}\n"
    "    - {name: out, type: Dense, units: 1, inputs: both}\n"
    "  outputs: [out]\n",
)


def _data(path: Path, n: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[5.0, -3.0, 100.0], scale=[1.0, 2.0, 10.0], size=(n, 3)).astype(np.float32)
    x[48:] += 1000.0  # the held-out quarter is far off: adapting on it would show in the statistics
    np.savez(path / "d.npz", x=x, a=x, b=rng.normal(size=(n, 2)).astype(np.float32), y=x[:, :1].copy())
    return x


def _train(tmp_path: Path, text: str) -> tuple[list[str], Path]:
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    lines: list[str] = []
    opts = TrainOptions(output=str(tmp_path / "run"), verbose=0)
    build_and_train(str(tmp_path / "s.yaml"), opts, echo=lines.append)
    return lines, tmp_path / "run"


def test_a_normalization_is_adapted_to_the_training_split_only(tmp_path: Path) -> None:
    x = _data(tmp_path)
    lines, run = _train(tmp_path, SEQUENTIAL)
    train = x[:48]  # shuffle: false; the last quarter is the test split
    assert "Adapted Normalization 'normalization' to the 48 training examples of 'input_layer'." in lines
    layer = keras.saving.load_model(run / "model.keras").get_layer("normalization")
    np.testing.assert_allclose(np.ravel(layer.mean), train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.ravel(layer.variance), train.var(axis=0), rtol=1e-4)


def test_an_adapted_layer_after_a_layer_without_weights_sees_that_layer_output(tmp_path: Path) -> None:
    x = _data(tmp_path)
    lines, run = _train(tmp_path, GRAPH)
    assert "Adapted Normalization 'norm' to the 48 training examples of 'a'." in lines
    layer = keras.saving.load_model(run / "model.keras").get_layer("norm")
    np.testing.assert_allclose(np.ravel(layer.mean), (2.0 * x[:48] + 1.0).mean(axis=0), rtol=1e-5)


REFUSED = {
    "after trainable weights": (
        "model:\n  input: {shape: [3]}\n  layers:\n    - {type: Dense, units: 4}\n"
        "    - {type: Normalization, adapt: true}\n    - {type: Dense, units: 1}\n",
        "'normalization' (Normalization) has `adapt: true`: it is adapted once, before training, to what reaches it; "
        "but 'dense' (Dense) before it has 16 trainable weights that training changes, so the statistics would "
        "describe values the trained model never produces.",
    ),
    "shared": (
        "model:\n  inputs:\n    - {name: a, shape: [3]}\n    - {name: b, shape: [3]}\n  nodes:\n"
        "    - {name: n, type: Normalization, adapt: true, inputs: a}\n    - {name: m, shares: n, inputs: b}\n"
        "    - {name: both, type: Concatenate, inputs: [n, m]}\n    - {name: out, type: Dense, units: 1, inputs: both}\n"
        "  outputs: [out]\n",
        "'n' (Normalization) has `adapt: true` but is shared (called on more than one tensor): it would be adapted "
        "to one of them only.",
    ),
    "wrapped": (
        "model:\n  input: {shape: [4, 3]}\n  layers:\n"
        "    - {type: TimeDistributed, layer: {type: Normalization, adapt: true}}\n"
        "    - {type: Flatten}\n    - {type: Dense, units: 1}\n",
        "'time_distributed' (TimeDistributed) wraps a Normalization with `adapt: true`; kspec adapts layers that the "
        "model calls directly, not inside a wrapper.",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_adapted_layer_that_could_not_mean_it_is_refused(case: str) -> None:
    model, message = REFUSED[case]
    report = kspec.check(_spec(model))
    errors = [d for d in report.errors if d.code == "adapt"]
    assert [d.message for d in errors] == [message]
    assert errors[0].policy == "adapt-before-training" and errors[0].span is not None


def test_adapt_and_given_statistics_exclude_each_other() -> None:
    model = (
        "model:\n  input: {shape: [3]}\n  layers:\n"
        "    - {type: Normalization, adapt: true, mean: 0.0, variance: 1.0}\n    - {type: Dense, units: 1}\n"
    )
    report = kspec.check(_spec(model))
    assert not report.ok
    assert any("`adapt: true` computes `mean` and `variance` from the training data" in d.message for d in report.errors)
