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
