"""kspec.cost: the FLOPs and activation memory of static inference, and the memory estimate of a training step,
against what XLA reports for the Keras model kspec builds (JAX backend, in a subprocess): FLOPs from the compiled
forward pass's cost analysis, memory from the compiled training step's memory analysis (CPU: no GPU here). The
errors measured are in docs/cost.md; each test asserts the bound stated there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import kspec
from kspec.cli import main
from kspec.cost import (
    OPTIMIZER_SLOTS,
    cost,
    format_bytes,
    optimizer_slots,
    parse_size,
    training_memory,
)
from kspec.spec.layers._cost import transpose_pairs, window_pairs

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
HEAD = "kspec: 1\nname: t\n"


def seq(shape: tuple, layer: str, dtype: str = "float32", training: str = "  loss: mse\n") -> str:
    return (
        HEAD
        + f"model:\n  input: {{shape: {list(shape)}, dtype: {dtype}}}\n  layers:\n    - {layer}\ntraining:\n{training}"
    )


def graph(inputs: list[tuple[str, tuple]], node: str) -> str:
    ins = "".join(f"    - {{name: {n}, shape: {list(s)}}}\n" for n, s in inputs)
    return HEAD + f"model:\n  inputs:\n{ins}  nodes:\n    - {node}\n  outputs: [out]\ntraining:\n  loss: mse\n"


# ---- the oracle: XLA's figures for the model kspec builds ----------------------------------------------------

ORACLE = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
import jax, jax.numpy as jnp
import kspec

def inputs(model, batch):
    return [jnp.zeros((batch,) + tuple(t.shape[1:]), t.dtype) for t in model.inputs]

def forward_flops(model, batch):
    tv = [v.value for v in model.trainable_variables]
    nv = [v.value for v in model.non_trainable_variables]
    fn = lambda tv, nv, x: model.stateless_call(tv, nv, x if len(x) > 1 else x[0])[0]
    return jax.jit(fn).lower(tv, nv, inputs(model, batch)).compile().cost_analysis()["flops"]

def train_memory(model, spec, batch):
    # A jitted training step: forward, mse on every output (labels shaped as the outputs), gradients, the spec's
    # optimizer's update; weights and optimizer state donated. Bytes: arguments + outputs - aliased + temporaries.
    kspec.compile_model(model, spec)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    tv = [v.value for v in model.trainable_variables]
    nv = [v.value for v in model.non_trainable_variables]
    ov = [v.value for v in optimizer.variables]
    x = inputs(model, batch)
    ys = [jnp.zeros((batch,) + tuple(o.shape[1:]), "float32") for o in model.outputs]

    def step(tv, nv, ov, x, ys):
        def loss(tv):
            out, nv2 = model.stateless_call(tv, nv, x if len(x) > 1 else x[0], training=True)
            outs = out if isinstance(out, (list, tuple)) else [out]
            return sum(jnp.mean((o - y) ** 2) for o, y in zip(outs, ys)), nv2

        (value, nv2), grads = jax.value_and_grad(loss, has_aux=True)(tv)
        tv2, ov2 = optimizer.stateless_apply(ov, grads, tv)
        return tv2, nv2, ov2, value

    m = jax.jit(step, donate_argnums=(0, 1, 2)).lower(tv, nv, ov, x, ys).compile().memory_analysis()
    return m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes

result = {}
for case, text, memory in json.load(sys.stdin):
    spec = kspec.load_spec(text)
    model = kspec.build_model(spec)
    # per example: the difference between batch 2 and batch 1 (what XLA counts once per batch drops out)
    row = {"flops": forward_flops(model, 2) - forward_flops(model, 1)}
    if memory:
        row["memory"] = train_memory(model, spec, spec.training.batch_size)
    result[case] = row
print(json.dumps(result))
"""

#: Single-layer models of each family with its own formula, and the relative error allowed against XLA (0: exact).
FAMILIES: dict[str, tuple[str, float]] = {
    "Dense": (seq((20,), "{type: Dense, units: 10, activation: relu}"), 0),
    "Dense-3d": (seq((7, 20), "{type: Dense, units: 10, activation: sigmoid}"), 0),
    "EinsumDense": (seq((6, 8), "{type: EinsumDense, equation: 'abc,cd->abd', output_shape: [6, 5], bias_axes: d}"), 0),
    "Conv1D-causal": (seq((16, 3), "{type: Conv1D, filters: 4, kernel_size: 3, padding: causal, dilation_rate: 2}"), 0),
    "Conv2D-same": (seq((8, 8, 3), "{type: Conv2D, filters: 4, kernel_size: 3, padding: same}"), 0),
    "Conv2D-strided": (seq((9, 9, 3), "{type: Conv2D, filters: 4, kernel_size: 3, strides: 2, activation: relu}"), 0),
    "Conv2D-groups": (seq((8, 8, 4), "{type: Conv2D, filters: 4, kernel_size: 3, groups: 2, padding: same}"), 0),
    "Conv3D": (seq((5, 5, 5, 2), "{type: Conv3D, filters: 3, kernel_size: 2, padding: same}"), 0),
    "Conv1DTranspose": (seq((6, 3), "{type: Conv1DTranspose, filters: 4, kernel_size: 3, strides: 2}"), 0),
    "Conv2DTranspose-same": (
        seq((8, 8, 3), "{type: Conv2DTranspose, filters: 4, kernel_size: 3, strides: 2, padding: same}"),
        0,
    ),
    "DepthwiseConv2D": (
        seq((8, 8, 3), "{type: DepthwiseConv2D, kernel_size: 3, padding: same, depth_multiplier: 2}"),
        0,
    ),
    "SeparableConv2D": (seq((8, 8, 3), "{type: SeparableConv2D, filters: 4, kernel_size: 3}"), 0),
    "SeparableConv1D": (seq((10, 3), "{type: SeparableConv1D, filters: 4, kernel_size: 3, padding: same}"), 0),
    "MaxPooling2D": (seq((8, 8, 3), "{type: MaxPooling2D, pool_size: 2}"), 0),
    "AveragePooling1D": (seq((12, 3), "{type: AveragePooling1D, pool_size: 3}"), 0),
    "GlobalAveragePooling2D": (seq((8, 8, 3), "{type: GlobalAveragePooling2D}"), 0),
    "GlobalMaxPooling1D": (seq((8, 3), "{type: GlobalMaxPooling1D}"), 0),
    "BatchNormalization": (seq((6, 8), "{type: BatchNormalization}"), 0),
    "LayerNormalization": (seq((6, 8), "{type: LayerNormalization}"), 0.05),
    "GroupNormalization": (seq((6, 8), "{type: GroupNormalization, groups: 2}"), 0.06),
    "UnitNormalization": (seq((6, 8), "{type: UnitNormalization}"), 0),
    "RMSNormalization": (seq((6, 8), "{type: RMSNormalization}"), 0.04),
    "Embedding": (seq((5,), "{type: Embedding, input_dim: 100, output_dim: 8}", dtype="int32"), 0),
    "SimpleRNN": (seq((5, 4), "{type: SimpleRNN, units: 8, unroll: true}"), 0),
    "LSTM": (seq((5, 4), "{type: LSTM, units: 8, unroll: true}"), 0.06),
    "GRU": (seq((5, 4), "{type: GRU, units: 8, unroll: true}"), 0.02),
    "Bidirectional": (
        seq((5, 4), "{type: Bidirectional, layer: {type: LSTM, units: 8, unroll: true, return_sequences: true}}"),
        0.06,
    ),
    "TimeDistributed": (seq((5, 4), "{type: TimeDistributed, layer: {type: Dense, units: 6}}"), 0),
    "MultiHeadAttention": (
        graph([("x", (6, 8))], "{name: out, type: MultiHeadAttention, num_heads: 2, key_dim: 4, inputs: [x, x]}"),
        0.02,
    ),
    "GroupQueryAttention": (
        graph(
            [("x", (6, 8))],
            "{name: out, type: GroupQueryAttention, head_dim: 4, num_query_heads: 4, num_key_value_heads: 2, "
            "inputs: [x, x]}",
        ),
        0.03,
    ),
    "Attention": (graph([("q", (6, 8)), ("v", (5, 8))], "{name: out, type: Attention, inputs: [q, v]}"), 0.01),
    "AdditiveAttention": (
        graph([("q", (6, 8)), ("v", (5, 8))], "{name: out, type: AdditiveAttention, inputs: [q, v]}"),
        0.03,
    ),
    "Add": (graph([("a", (6, 8)), ("b", (6, 8))], "{name: out, type: Add, inputs: [a, b]}"), 0),
    "Average": (
        graph([("a", (6, 8)), ("b", (6, 8)), ("c", (6, 8))], "{name: out, type: Average, inputs: [a, b, c]}"),
        0,
    ),
    "Dot": (graph([("a", (6, 8)), ("b", (5, 8))], "{name: out, type: Dot, axes: [2, 2], inputs: [a, b]}"), 0),
    "Softmax": (seq((6, 8), "{type: Softmax}"), 0.04),
    "Activation-gelu": (seq((6, 8), "{type: Activation, activation: gelu}"), 0),
    "ops.sigmoid": (seq((6, 8), "{type: ops.sigmoid}"), 0),
    "ops.multiply": (graph([("a", (6, 8)), ("b", (6, 8))], "{name: out, type: ops.multiply, inputs: [a, b]}"), 0),
    "ops.mean": (seq((6, 8), "{type: ops.mean, axis: -1}"), 0),
}


def _shrunk(name: str, text: str) -> str:
    """The specs of specs/, small enough to compile in seconds: ResNet50 on 32x32 images; the LSTM classifier on
    40 steps, unrolled (XLA's cost analysis counts a loop's body once, whatever its trip count)."""
    if name == "resnet50":
        return text.replace("shape: [224, 224, 3]", "shape: [32, 32, 3]")
    if name == "text_classifier":
        return text.replace("shape: [200]", "shape: [40]").replace("dropout: 0.2}", "dropout: 0.2, unroll: true}")
    return text


#: Every spec of specs/ but the one with string inputs (text_vectorization: XLA has no strings).
SPEC_CASES = {
    p.stem: _shrunk(p.stem, p.read_text()) for p in sorted(SPECS.glob("*.yaml")) if "dtype: string" not in p.read_text()
}
#: FLOPs: relative error allowed for the specs (the LSTM after a masking Embedding: XLA counts the mask's selects).
SPEC_FLOPS_BOUND = {"text_classifier": 0.12}
DEFAULT_SPEC_FLOPS_BOUND = 0.01
#: Memory: the estimate over XLA's figure for the training step, on CPU.
MEMORY_RATIO = (0.4, 1.5)


@pytest.fixture(scope="module")
def xla() -> dict:
    cases = [[name, text, False] for name, (text, _) in FAMILIES.items()]
    cases += [[f"spec:{name}", text, True] for name, text in SPEC_CASES.items()]
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    r = subprocess.run(
        [sys.executable, "-c", ORACLE], input=json.dumps(cases), capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _inferred(text: str) -> kspec.Report:
    report = kspec.check(text)
    assert report.ok and report.inference is not None, [d.message for d in report.diagnostics]
    return report


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_layer_flops_match_xla(xla: dict, family: str) -> None:
    text, bound = FAMILIES[family]
    estimate = cost(_inferred(text).inference).flops
    measured = xla[family]["flops"]
    assert measured > 0
    assert abs(estimate - measured) <= bound * measured, (estimate, measured)


@pytest.mark.parametrize("name", sorted(SPEC_CASES))
def test_spec_flops_match_xla(xla: dict, name: str) -> None:
    report = _inferred(SPEC_CASES[name])
    estimate = cost(report.inference).flops
    measured = xla[f"spec:{name}"]["flops"]
    bound = SPEC_FLOPS_BOUND.get(name, DEFAULT_SPEC_FLOPS_BOUND)
    assert abs(estimate - measured) <= bound * measured, (estimate, measured)


@pytest.mark.parametrize("name", sorted(SPEC_CASES))
def test_spec_training_memory_near_xla(xla: dict, name: str) -> None:
    report = _inferred(SPEC_CASES[name])
    estimate = training_memory(report.spec, report.inference)
    measured = xla[f"spec:{name}"]["memory"]
    low, high = MEMORY_RATIO
    assert low * measured <= estimate.total <= high * measured, (estimate, measured)


TF_PROFILER = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
import kspec

result = {}
for case, text in json.load(sys.stdin):
    model = kspec.build_model(kspec.load_spec(text))
    specs = [tf.TensorSpec((1,) + tuple(t.shape[1:]), t.dtype) for t in model.inputs]
    graph = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False)).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    result[case] = tf.compat.v1.profiler.profile(graph, options=options).total_float_ops
print(json.dumps(result))
"""

#: TensorFlow's profiler (`float_operation`) against kspec: the relative error allowed. TensorFlow counts every
#: tap of a convolution, those that read padding too (XLA and kspec do not): digits_cnn's "same" convolutions.
TF_FLOPS_BOUND = {
    "mnist_cnn": 0.01,
    "audio_conv1d": 0.01,
    "mnist_tutorial": 0.01,
    "two_tower": 0.02,
    "digits_cnn": 0.15,
}


def test_spec_flops_near_tensorflow_profiler() -> None:
    cases = [[name, SPEC_CASES[name]] for name in TF_FLOPS_BOUND]
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run(
        [sys.executable, "-c", TF_PROFILER], input=json.dumps(cases), capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert r.returncode == 0, r.stderr[-4000:]
    measured = json.loads(r.stdout.strip().splitlines()[-1])
    for name, bound in TF_FLOPS_BOUND.items():
        estimate = cost(_inferred(SPEC_CASES[name]).inference).flops
        assert abs(estimate - measured[name]) <= bound * measured[name], (name, estimate, measured[name])


# ---- the arithmetic ------------------------------------------------------------------------------------------


def test_window_pairs_leave_out_taps_in_the_padding() -> None:
    assert window_pairs(8, 3, 1, 1, "valid", 6) == 18
    assert window_pairs(8, 3, 1, 1, "same", 8) == 8 * 3 - 2  # the first and last outputs lose a tap each
    assert window_pairs(16, 3, 1, 2, "causal", 16) == 16 * 3 - (4 + 2)  # the left padding of 4 costs 4 + 2 taps
    assert transpose_pairs(8, 3, 2, 1, 17) == 24  # valid: every pair lands in the output


def test_an_absurd_kernel_is_counted_without_walking_its_taps() -> None:
    text = seq((10**12, 1), "{type: Conv1D, filters: 1, kernel_size: 300000, padding: same}")
    (node,) = cost(_inferred(text).inference).nodes
    assert node.flops == 2 * 10**12 * 300000 + 10**12  # every tap counted (`MAX_TAPS`), and the bias
    assert transpose_pairs(10**12, 3, 2, 1, 2 * 10**12 + 1) == 3 * 10**12


def test_per_layer_costs_sum_to_the_totals_and_unknown_sizes_are_left_out() -> None:
    report = _inferred((SPECS / "mnist_cnn.yaml").read_text())
    costs = cost(report.inference)
    assert costs.flops == sum(n.flops or 0 for n in costs.nodes) > 0
    conv = costs.node("conv2d")
    assert conv is not None and conv.flops == 26 * 26 * 32 * (2 * 9 + 2) and conv.activation_bytes == 26 * 26 * 32 * 4
    variable = _inferred(seq((2, 4), "{type: Dense, units: 3}").replace("shape: [2, 4]", "shape: [null, 4]"))
    assert cost(variable.inference).unknown == ("dense",)


def test_mixed_precision_halves_the_activations_not_the_weights() -> None:
    text = seq((64,), "{type: Dense, units: 32, activation: relu}", training="  loss: mse\n  batch_size: 16\n")
    plain = _inferred(text)
    mixed = _inferred(text.replace("  loss: mse\n", "  loss: mse\n  precision: mixed_bfloat16\n"))
    a = training_memory(plain.spec, plain.inference)
    b = training_memory(mixed.spec, mixed.inference)
    assert (b.weights, b.gradients, b.optimizer) == (a.weights, a.gradients, a.optimizer)
    assert 2 * b.activations == a.activations and b.precision == "mixed_bfloat16"


@pytest.mark.parametrize(
    ("optimizer", "slots"),
    [
        ("sgd", 0),
        ("{type: SGD, momentum: 0.9}", 1),
        ("adam", 2),
        ("{type: Adam, amsgrad: true}", 3),
        ("{type: RMSprop, momentum: 0.9, centered: true}", 3),
        ("adagrad", 1),
        ("{type: AdamW, use_ema: true}", 3),
        ("{type: LossScaleOptimizer, inner_optimizer: adam}", 2),
    ],
)
def test_optimizer_slots(optimizer: str, slots: int) -> None:
    report = _inferred(seq((4,), "{type: Dense, units: 2}", training=f"  loss: mse\n  optimizer: {optimizer}\n"))
    assert optimizer_slots(report.spec.training.optimizer) == slots
    estimate = training_memory(report.spec, report.inference)
    assert estimate.optimizer == 4 * 10 * slots and estimate.slots == slots


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_optimizer_slots_follow_keras_build(keras) -> None:
    """Each optimizer's table entry is the number of variables per weight that Keras's `build()` makes."""
    for name, slots in OPTIMIZER_SLOTS.items():
        if name in ("Adafactor", "Muon"):  # factored or split by weight shape: documented bounds, not counts
            continue
        variable = keras.Variable(keras.ops.zeros((3, 5)))
        optimizer = getattr(keras.optimizers, name)()
        optimizer.build([variable])
        per_weight = [v for v in optimizer.variables if tuple(v.shape) == (3, 5)]
        assert len(per_weight) == slots, name


@pytest.mark.parametrize(
    ("text", "size"),
    [("16GiB", 16 * 2**30), ("80GB", 80 * 10**9), ("512MiB", 512 * 2**20), ("1000", 1000), ("1.5 KB", 1500)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "12 parsecs", "-1GB", "0", "GiB"])
def test_parse_size_refuses_what_is_no_size(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (512, 1536, 3 * 2**30)] == ["512 B", "1.5 KiB", "3.0 GiB"]


# ---- the budget ----------------------------------------------------------------------------------------------


def test_memory_budget_refuses_a_spec_that_needs_more() -> None:
    text = (SPECS / "mnist_cnn.yaml").read_text()
    report = _inferred(text)
    need = training_memory(report.spec, report.inference).total
    assert kspec.check(text, memory_budget=need).ok  # the budget is inclusive
    assert not any(d.code == "memory-budget" for d in kspec.check(text).diagnostics)  # no budget by default
    refused = kspec.check(text, file="mnist_cnn.yaml", memory_budget=need - 1)
    assert not refused.ok
    (d,) = [d for d in refused.diagnostics if d.code == "memory-budget"]
    assert d.severity == "error" and d.span is not None
    assert d.path == ("training", "batch_size")  # the activations at the batch size are most of it
    assert format_bytes(need) in d.message and format_bytes(need - 1) in d.message
    assert "optimizer slots" in d.message and "at batch size 128" in d.message


def test_memory_budget_points_at_the_model_when_weights_dominate() -> None:
    text = seq((4096,), "{type: Dense, units: 4096}", training="  loss: mse\n  batch_size: 1\n")
    (d,) = [d for d in kspec.check(text, memory_budget=2**20).diagnostics if d.code == "memory-budget"]
    assert d.path == ("model",)


def test_cli_memory_budget_on_validate_and_summary() -> None:
    spec = str(SPECS / "mnist_cnn.yaml")
    runner = CliRunner()
    refused = runner.invoke(main, ["validate", "--memory-budget", "1MiB", spec])
    assert refused.exit_code == 1 and "error[memory-budget]" in refused.output
    assert runner.invoke(main, ["validate", "--memory-budget", "16GiB", spec]).exit_code == 0
    summary = runner.invoke(main, ["summary", "--memory-budget", "1MiB", spec, "--format", "json"])
    assert summary.exit_code == 1
    assert [d["code"] for d in json.loads(summary.output)["diagnostics"]] == ["memory-budget"]
    bad = runner.invoke(main, ["validate", "--memory-budget", "12 parsecs", spec])
    assert bad.exit_code == 2 and "expected a size such as 16GiB" in bad.output


def test_cli_memory_budget_on_build_and_train(tmp_path) -> None:
    from kspec.train.run import TrainOptions

    if "memory_budget" not in TrainOptions.__dataclass_fields__:
        pytest.skip("kspec.train.run.TrainOptions does not pass memory_budget to the checker yet")
    result = CliRunner().invoke(
        main, ["build-and-train", str(SPECS / "mnist_cnn.yaml"), "--memory-budget", "1MiB", "-o", str(tmp_path / "run")]
    )
    assert result.exit_code == 1 and "memory-budget" in result.output
    assert not (tmp_path / "run").exists()
