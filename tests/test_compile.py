"""The compiler: spec -> keras.Model (checked against the static inference) -> model.compile."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import pytest

import kspec
from kspec.compile import KspecBug, build_model, compile_model
from kspec.infer import infer
from kspec.spec.layers import Tensor

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_example_spec_builds_with_the_inferred_shapes_and_names(path):
    spec = kspec.load_spec(path)
    inference = infer(spec)
    model = build_model(spec, inference, file=str(path))
    assert model.name == spec.name
    assert model.count_params() == inference.total_params
    names = {layer.name for layer in model.layers}
    assert {n.name for n in inference.nodes if n.shares is None} <= names
    assert [tuple(t.shape) for t in model.outputs] == [inference.tensor(o).shape for o in inference.outputs]
    # The sequential form is keras.Sequential, unless its blocks expand to more than a chain (a residual block).
    expected = keras.Sequential if inference.sequential else keras.Model
    assert isinstance(model, expected)
    assert inference.sequential == ("layers" in type(spec.model).model_fields and path.stem != "resnet50")


def test_sequential_form_gives_a_sequential_and_graph_form_a_functional_model():
    seq = kspec.build_model(ROOT / "specs" / "mnist_cnn.yaml")
    graph = kspec.build_model(ROOT / "specs" / "two_tower.yaml")
    assert type(seq) is keras.Sequential
    assert type(graph) is keras.Model or type(graph).__name__ == "Functional"
    assert [layer.name for layer in seq.layers][:2] == ["conv2d", "max_pooling2d"]


def test_shared_nodes_share_one_layer_and_its_weights():
    model = kspec.build_model(ROOT / "specs" / "two_tower.yaml")
    encode = model.get_layer("encode")
    assert len(encode._inbound_nodes) == 2  # called on meta_now and meta_before
    with pytest.raises(ValueError):
        model.get_layer("encode_before")  # a second call, not a second layer
    assert model.count_params() == infer(kspec.load_spec(ROOT / "specs" / "two_tower.yaml")).total_params


def _tampered(path: Path, node_index: int, **changes):
    spec = kspec.load_spec(path)
    inference = infer(spec)
    node = inference.nodes[node_index]
    inference.nodes[node_index] = dataclasses.replace(node, **changes)
    return spec, inference


def test_a_shape_that_differs_from_keras_is_reported_as_a_kspec_bug_with_the_spec_path():
    spec, inference = _tampered(ROOT / "specs" / "mnist_cnn.yaml", 0, output=Tensor((None, 27, 27, 32), "float32"))
    with pytest.raises(KspecBug) as err:
        build_model(spec, inference, file="specs/mnist_cnn.yaml")
    message = str(err.value)
    assert "kspec bug" in message
    assert "specs/mnist_cnn.yaml: model.layers[0] ('conv2d', Conv2D)" in message
    assert "Keras's output shape is (None, 26, 26, 32), kspec inferred (None, 27, 27, 32)" in message


def test_a_parameter_count_that_differs_from_keras_is_reported_as_a_kspec_bug():
    spec, inference = _tampered(ROOT / "specs" / "two_tower.yaml", 2, params=999)
    with pytest.raises(KspecBug, match=r"model\.nodes\[2\] \('encode', Dense\): Keras counts 272 parameters \(0 non-trainable\), kspec inferred 999"):
        build_model(spec, inference)


def test_non_trainable_counts_are_compared_too():
    text = """
kspec: 1
name: bn
model:
  input: {shape: [4]}
  layers: [{type: BatchNormalization}, {type: Dense, units: 1}]
training: {loss: mse}
"""
    spec = kspec.load_spec(text)
    inference = infer(spec)
    assert inference.nodes[0].non_trainable == 8
    build_model(spec, inference)  # agrees
    inference.nodes[0] = dataclasses.replace(inference.nodes[0], non_trainable=0)
    with pytest.raises(KspecBug, match=r"Keras counts 16 parameters \(8 non-trainable\), kspec inferred 16 \(0 non-trainable\)"):
        build_model(spec, inference)


def test_building_an_invalid_spec_is_refused_before_keras():
    with pytest.raises(kspec.SpecError):
        kspec.build_model("kspec: 1\nname: x\nmodel: {input: {shape: [4]}, layers: [{type: Dense, units: 0}]}\ntraining: {loss: mse}\n")


def test_compile_from_the_training_section():
    spec = kspec.load_spec(
        """
kspec: 1
name: compiled
model:
  inputs: [{name: x, shape: [8]}]
  nodes:
    - {name: h, type: Dense, units: 4, inputs: x}
    - {name: cls, type: Dense, units: 3, inputs: h}
    - {name: reg, type: Dense, units: 1, inputs: h}
  outputs: [cls, reg]
training:
  optimizer:
    type: SGD
    momentum: 0.9
    clipnorm: 1.0
    learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}
  loss:
    cls: {type: SparseCategoricalCrossentropy, from_logits: true}
    reg: huber
  loss_weights: {cls: 1.0, reg: 0.25}
  metrics: {cls: [accuracy, {type: SparseTopKCategoricalAccuracy, k: 2}], reg: [mae]}
  steps_per_execution: 4
"""
    )
    model = compile_model(build_model(spec), spec.training)
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.momentum == 0.9 and opt.clipnorm == 1.0
    assert isinstance(opt._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    assert opt._learning_rate.decay_steps == 10
    assert isinstance(model.loss["cls"], keras.losses.SparseCategoricalCrossentropy)
    assert model.loss["cls"].from_logits is True
    assert model.loss["reg"] == "huber"
    config = model.get_compile_config()
    assert config["loss_weights"] == {"cls": 1.0, "reg": 0.25}
    assert config["steps_per_execution"] == 4
    top_k = config["metrics"]["cls"][1]
    assert top_k["class_name"] == "SparseTopKCategoricalAccuracy" and top_k["config"]["k"] == 2


def test_auto_steps_per_execution_is_32_but_never_more_than_an_epoch():
    from kspec.compile import auto_steps_per_execution

    spec = kspec.load_spec(ROOT / "specs" / "mnist_cnn.yaml")
    assert spec.training.steps_per_execution == "auto"
    assert auto_steps_per_execution(spec.training) == 32
    assert auto_steps_per_execution(spec.training, steps_per_epoch=5) == 5
    fixed = spec.training.model_copy(update={"steps_per_execution": 8})
    assert auto_steps_per_execution(fixed, steps_per_epoch=100) == 8


def test_gradient_accumulation_needs_at_least_two_steps():
    """Found by the properties: Keras refuses gradient_accumulation_steps=1 at compile; kspec refuses it first."""
    text = (
        "kspec: 1\nname: t\nmodel:\n  input: {shape: [4]}\n  layers:\n    - {type: Dense, units: 1}\n"
        "training:\n  loss: mse\n  optimizer: {type: SGD, gradient_accumulation_steps: STEPS}\n"
    )
    refused = kspec.check(text.replace("STEPS", "1"))
    assert [(d.code, d.path) for d in refused.errors] == [("value", ("training", "optimizer", "gradient_accumulation_steps"))]
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        keras.optimizers.SGD(gradient_accumulation_steps=1)
    report = kspec.check(text.replace("STEPS", "2"))
    model = compile_model(build_model(report.spec, report.inference), report.spec.training)
    assert model.optimizer.gradient_accumulation_steps == 2


# ---- operations ----------------------------------------------------------------------------------------------

#: MobileNetV3's hard sigmoid (`ReLU(6.0)(x + 3.0) * (1.0 / 6.0)`) and a slice, in the sequential form.
OPS_SEQUENTIAL = """\
kspec: 1
name: ops_chain
model:
  input: {shape: [6]}
  layers:
    - {type: Dense, units: 4}
    - {type: ops.add, x2: 3.0}
    - {type: ReLU, max_value: 6.0}
    - {type: ops.multiply, x2: 0.16666666666666666}
    - {type: ops.get_item, key: ":, 1:3"}
    - {type: Dense, name: probs, units: 2, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  epochs: 1
  batch_size: 8
data:
  source: {type: synthetic, samples: 16}
"""


def test_a_sequential_spec_with_operations_builds_a_functional_model_with_the_spec_names(tmp_path):
    """keras.Sequential takes layers only: the operations make Operation nodes of a Functional model, named
    like the spec's nodes (`add`, `multiply`, `get_item`), which the summary shows, and which load back."""
    import numpy as np

    model = kspec.build_model(OPS_SEQUENTIAL)
    assert type(model) is not keras.Sequential and isinstance(model, keras.Model)
    assert [op.name for op in model.operations] == ["input_layer", "dense", "add", "re_lu", "multiply", "get_item", "probs"]
    assert [layer.name for layer in model.layers] == ["input_layer", "dense", "re_lu", "probs"]
    lines = []
    model.summary(print_fn=lines.append)
    assert "add (Add)" in "\n".join(lines) and "get_item (GetItem)" in "\n".join(lines)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    batch = np.random.default_rng(0).standard_normal((3, 6)).astype("float32")
    np.testing.assert_allclose(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-6)
    assert [op.name for op in loaded.operations] == [op.name for op in model.operations]


def test_operations_are_checked_against_keras_by_output_shape(tmp_path):
    spec = kspec.load_spec(OPS_SEQUENTIAL)
    inference = infer(spec)
    node = next(i for i, n in enumerate(inference.nodes) if n.name == "get_item")
    tampered = dataclasses.replace(inference.nodes[node], output=Tensor((None, 3)))
    inference = dataclasses.replace(inference, nodes=[*inference.nodes[:node], tampered, *inference.nodes[node + 1 :]])
    with pytest.raises(KspecBug, match=r"'get_item', ops.get_item\): Keras's output shape is \(None, 2\)"):
        build_model(spec, inference)


def test_a_run_of_a_spec_with_operations_trains_and_predicts(tmp_path):
    import numpy as np

    from kspec.train.run import TrainOptions, build_and_train

    path = tmp_path / "ops.yaml"
    path.write_text(OPS_SEQUENTIAL, encoding="utf-8")
    result = build_and_train(str(path), TrainOptions(verbose=0, output=str(tmp_path / "run")), echo=lambda m: None)
    assert result.epochs_done == 1
    loaded = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert "get_item" in [op.name for op in loaded.operations]
    np.savez(tmp_path / "new.npz", x=np.ones((2, 6), "float32"))
    rows = list(kspec.predict(tmp_path / "run", [str(tmp_path / "new.npz")]))
    assert len(rows) == 2 and all(hasattr(r, "outputs") for r in rows), rows


def test_an_operation_called_again_is_a_new_operation_node_with_the_node_name():
    """`shares:` of an operation: it has no weights, so a second call is another Operation node, named after the
    node (also as a model output: no Identity is needed to name it)."""
    spec = """\
kspec: 1
name: again
model:
  inputs: [{name: a, shape: [3]}, {name: b, shape: [3]}]
  nodes:
    - {name: pa, type: ops.add, x2: 1.0, inputs: a}
    - {name: pb, shares: pa, inputs: b}
    - {name: out, type: ops.multiply, inputs: [pa, pb]}
  outputs: [out, pb]
training:
  loss: {out: mse, pb: mse}
"""
    model = kspec.build_model(spec)
    assert [op.name for op in model.operations] == ["a", "b", "pa", "pb", "out"]
    assert model.output_names == ["out", "pb"]
