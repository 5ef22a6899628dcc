"""Blocks: definitions, uses, expansion, names, diagnostics at both places, and the compiled models.

Keras is the oracle: specs/resnet50.yaml is keras.applications.ResNet50 (same layer names and
parameter count, and with its weights copied in, the same outputs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import kspec
from kspec.cli import main
from kspec.expr import ExprError, evaluate

ROOT = Path(__file__).parent.parent
RESNET = ROOT / "specs" / "resnet50.yaml"
UNET = ROOT / "specs" / "unet.yaml"

SMALL = """\
kspec: 1
name: small
blocks:
  conv_bn:
    params: {filters: int, k: {type: int, default: 3}}
    layers:
      - {type: Conv2D, filters: "${filters}", kernel_size: "${k}", padding: same, use_bias: false}
      - {type: BatchNormalization}
      - {type: Activation, activation: relu}
  res:
    params: {filters: int}
    inputs: x
    nodes:
      - {name: a, block: conv_bn, inputs: x, filters: "${filters}"}
      - {name: b, block: conv_bn, inputs: a, filters: "${filters}", k: 1}
      - {name: add, type: Add, inputs: [x, b]}
    outputs: add
model:
  input: {shape: [8, 8, 1]}
  layers:
    - {block: conv_bn, filters: 4}
    - {block: res, filters: 4, repeat: 2}
    - {type: Flatten}
    - {type: Dense, units: 10, activation: softmax}
training: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""

CHAIN = """\
kspec: 1
name: chain
blocks:
  dense_block:
    params: {units: int, rate: {type: float, default: 0.1}}
    layers:
      - {name: dense, type: Dense, units: "${units}", activation: relu}
      - {name: drop, type: Dropout, rate: "${rate}"}
model:
  input: {shape: [16]}
  layers:
    - {block: dense_block, name: hidden, repeat: 3, units: "${64 // 2 ** index}"}
    - {type: Dense, units: 1}
training: {loss: mse}
"""


def check(text: str):
    return kspec.check(text, file="spec.yaml")


def codes(report) -> list[tuple[str, str]]:
    return [(d.code, d.location) for d in report.diagnostics]


# ---- the examples ------------------------------------------------------------------------------


def test_resnet50_spec_is_short_and_has_keras_parameter_count() -> None:
    lines = RESNET.read_text().splitlines()
    assert len(lines) <= 120
    report = kspec.check(RESNET)
    assert report.ok, report.diagnostics
    assert report.param_count == 25_636_712
    # Keras's own bias-before-BatchNormalization: one warning for the stem, one (folded) for the block.
    assert [d.code for d in report.warnings] == ["lint-bias-before-batchnorm"] * 2
    folded = report.warnings[1]
    assert folded.location == "blocks.conv_bn.layers[0].use_bias"
    assert folded.notes[-1].message == "and 51 more instantiation(s) of this block give the same warning"


def test_resnet50_spec_builds_keras_resnet50() -> None:
    """Same layers (by name, type and configuration), parameter count and outputs as Keras's ResNet50."""
    import keras

    ours = kspec.build_model(RESNET)
    theirs = keras.applications.ResNet50(weights=None)
    assert ours.count_params() == theirs.count_params() == 25_636_712
    # Every layer but the input (Keras numbers the application's input layer from a process-wide counter).
    ours_layers = {layer.name: layer for layer in ours.layers if not isinstance(layer, keras.layers.InputLayer)}
    theirs_layers = {layer.name: layer for layer in theirs.layers if not isinstance(layer, keras.layers.InputLayer)}
    assert len(theirs_layers) == 176
    assert set(ours_layers) == set(theirs_layers)
    for name, layer in theirs_layers.items():
        mine = ours_layers[name]
        assert type(mine) is type(layer), name
        a, b = mine.get_config(), layer.get_config()
        for key in ("padding", "strides", "kernel_size", "filters", "epsilon", "activation", "units", "pool_size"):
            if key in b:
                expected = b[key].lower() if isinstance(b[key], str) and key == "padding" else b[key]
                assert a[key] == expected, (name, key)
        mine.set_weights(layer.get_weights())
    x = np.random.default_rng(0).uniform(0, 1, (2, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_unet_block_with_two_outputs() -> None:
    report = kspec.check(UNET)
    assert report.ok, report.diagnostics
    shapes = report.shapes
    assert shapes["down1_features_conv2"] == (None, 64, 64, 16)
    assert shapes["down1_pooled"] == (None, 32, 32, 16)
    assert shapes["up1_concat"] == (None, 64, 64, 32)  # the skip connection, from `down1.features`
    assert shapes["mask"] == (None, 64, 64, 1)
    model = kspec.build_model(UNET)
    assert model.get_layer("up1_concat").input[1].shape == (None, 64, 64, 16)
    assert model.count_params() == report.param_count


# ---- expansion and names -------------------------------------------------------------------------


def test_names_are_block_repetition_layer_and_stable() -> None:
    first, second = check(SMALL), check(SMALL)
    assert first.ok, first.diagnostics
    names = [n.name for n in first.inference.nodes]
    assert names == [n.name for n in second.inference.nodes]
    assert names[:3] == ["conv_bn_conv2d", "conv_bn_batch_normalization", "conv_bn_activation"]
    assert "res1_a_conv2d" in names and "res2_b_activation" in names and "res2_add" in names
    assert names[-2:] == ["flatten", "dense"]
    assert first.param_count == 3006
    # The residual block is not a chain: the sequential form becomes a Functional model.
    assert not first.inference.sequential


def test_repeat_with_index_varies_a_parameter_and_stays_sequential() -> None:
    report = check(CHAIN)
    assert report.ok, report.diagnostics
    assert report.inference.sequential
    assert [report.shapes[f"hidden{i}_dense"] for i in (1, 2, 3)] == [(None, 64), (None, 32), (None, 16)]
    import keras

    model = kspec.build_model(CHAIN)
    assert isinstance(model, keras.Sequential)
    assert [layer.name for layer in model.layers][:2] == ["hidden1_dense", "hidden1_drop"]


def test_repeat_zero_passes_the_input_through() -> None:
    report = check(CHAIN.replace("repeat: 3", "repeat: 0"))
    assert report.ok, report.diagnostics
    assert [n.name for n in report.inference.nodes] == ["dense"]
    assert report.shapes["dense"] == (None, 1)


def test_graph_form_uses_blocks_in_any_order() -> None:
    text = """\
kspec: 1
name: g
blocks:
  split:
    inputs: x
    nodes:
      - {name: left, type: Dense, units: 3, inputs: x}
      - {name: right, type: Dense, units: 5, inputs: x}
    outputs: [left, right]
model:
  inputs: [{name: x, shape: [4]}]
  nodes:
    - {name: out, type: Concatenate, inputs: [s.left, s.right]}
    - {name: s, block: split, inputs: x}
  outputs: out
training: {loss: mse}
"""
    report = check(text)
    assert report.ok, report.diagnostics
    assert report.shapes["out"] == (None, 8)
    model = kspec.build_model(text)
    assert model.count_params() == report.param_count == 4 * 3 + 3 + 4 * 5 + 5


# ---- diagnostics point at the definition and the use ---------------------------------------------


def test_error_inside_a_block_points_at_definition_with_instantiation_notes() -> None:
    report = check(SMALL.replace("k: 1}", 'k: "${filters - 4}"}'))
    (d,) = report.errors
    assert (d.code, d.location) == ("value", "blocks.conv_bn.layers[0].kernel_size")
    assert d.span.line == 7  # the line of the definition
    assert "kernel_size=0" in d.message
    inner, outer = d.notes[:2]
    assert inner.message == "in block 'conv_bn', used here as 'res1_b' (filters=4, k=0)"
    assert inner.span.line == 15 and inner.path == ("blocks", "res", "nodes", 1)
    assert outer.message == "in block 'res', used here as 'res1' (repetition 1 of 2, filters=4)"
    assert outer.span.line == 22 and outer.path == ("model", "layers", 1)
    # The same notes in the JSON contract.
    notes = d.to_json()["notes"]
    assert [n["line"] for n in notes[:2]] == [15, 22]


def test_shape_error_inside_a_block() -> None:
    report = check(SMALL.replace("{type: Activation, activation: relu}", "{type: Conv1D, filters: 3, kernel_size: 2}"))
    d = report.errors[0]
    assert (d.code, d.location) == ("shape", "blocks.conv_bn.layers[2]")
    assert "layer 'conv_bn_conv1d'" in d.message
    assert d.notes[0].message.startswith("in block 'conv_bn', used here as 'conv_bn'") and d.notes[0].span.line == 21


@pytest.mark.parametrize(
    "old, new, expected, hint",
    [
        ("{block: conv_bn, filters: 4}", "{block: conv_bm, filters: 4}", ("unknown-block", "model.layers[0].block"), "Did you mean 'conv_bn'?"),
        ("{block: conv_bn, filters: 4}", "{block: conv_bn, filter: 4}", ("unknown-key", "model.layers[0].filter"), "Did you mean 'filters'?"),
        ("{block: conv_bn, filters: 4}", "{block: conv_bn}", ("missing-key", "model.layers[0]"), None),
        ("{block: conv_bn, filters: 4}", "{block: conv_bn, filters: 4.5}", ("type", "model.layers[0].filters"), None),
        ("{block: conv_bn, filters: 4}", "{block: conv_bn, filters: true}", ("type", "model.layers[0].filters"), None),
        ("{block: res, filters: 4, repeat: 2}", "{block: res, filters: 4, repeat: -1}", ("value", "model.layers[1].repeat"), None),
        ("inputs: [x, b]", "inputs: [x, bb]", ("undefined-node", "blocks.res.nodes[2].inputs[1]"), "Did you mean 'b'?"),
        ("outputs: add", "outputs: ad", ("undefined-node", "blocks.res.outputs[0]"), "Did you mean 'add'?"),
        ('filters: "${filters}", k: 1', 'filters: "${filter}", k: 1', ("expression", "blocks.res.nodes[1].filters"), None),
        ('kernel_size: "${k}"', 'kernel_size: "k=${k}"', ("expression", "blocks.conv_bn.layers[0].kernel_size"), None),
        ("{type: BatchNormalization}", "{type: BatchNormalisation}", ("unknown-layer", "blocks.conv_bn.layers[1].type"), "Did you mean 'BatchNormalization'?"),
        ("{type: BatchNormalization}", "{type: BatchNormalization, momentm: 0.9}", ("unknown-key", "blocks.conv_bn.layers[1].momentm"), "Did you mean 'momentum'?"),
    ],
)
def test_block_mistakes(old: str, new: str, expected: tuple[str, str], hint: str | None) -> None:
    assert old in SMALL
    report = check(SMALL.replace(old, new))
    assert not report.ok
    first = report.errors[0]
    assert (first.code, first.location) == expected, [d.to_json() for d in report.diagnostics]
    assert first.span is not None
    if hint is not None:
        assert first.hint == hint
    if expected[1].startswith("blocks."):
        assert first.notes and first.notes[0].message.startswith("in block ")


def test_every_mistake_at_once_across_blocks_and_uses() -> None:
    text = SMALL.replace("{block: conv_bn, filters: 4}", "{block: conv_bn, filter: 4}").replace(
        "{type: BatchNormalization}", "{type: BatchNormalization, momentm: 0.9}"
    ).replace("inputs: [x, b]", "inputs: [x, bb]")
    found = {(d.code, d.location) for d in check(text).errors}
    assert {
        ("unknown-key", "model.layers[0].filter"),
        ("unknown-key", "blocks.conv_bn.layers[1].momentm"),
        ("undefined-node", "blocks.res.nodes[2].inputs[1]"),
    } <= found


def test_recursive_blocks_are_refused() -> None:
    text = SMALL.replace("- {name: a, block: conv_bn, inputs: x,", "- {name: a, block: res, inputs: x,")
    report = check(text)
    assert ("cycle", "blocks.res.nodes[0].block") in codes(report)
    assert "res -> res" in report.errors[0].message


def test_repeat_needs_as_many_outputs_as_inputs() -> None:
    text = """\
kspec: 1
name: r
blocks:
  split:
    inputs: x
    nodes:
      - {name: left, type: Dense, units: 3, inputs: x}
      - {name: right, type: Dense, units: 5, inputs: x}
    outputs: [left, right]
model:
  inputs: [{name: x, shape: [4]}]
  nodes:
    - {name: s, block: split, inputs: x, repeat: 2}
    - {name: out, type: Concatenate, inputs: [s]}
  outputs: out
training: {loss: mse}
"""
    assert ("arity", "model.nodes[0].repeat") in codes(check(text))
    one_of_two = text.replace("repeat: 2", "repeat: 1").replace("inputs: [s]}", "inputs: [s, x]}")
    report = check(one_of_two)
    assert ("undefined-node", "model.nodes[1].inputs[0]") in codes(report)
    assert "'s.left'" in report.errors[0].message


def test_block_definitions_are_checked_even_unused() -> None:
    text = CHAIN + "  # nothing\n"
    text = text.replace("blocks:\n", "blocks:\n  empty: {params: {index: int}}\n")
    found = codes(check(text))
    assert ("missing-key", "blocks.empty") in found
    assert ("value", "blocks.empty.params.index") in found


def test_a_block_use_in_the_sequential_form_has_no_inputs() -> None:
    report = check(CHAIN.replace("{block: dense_block, name: hidden,", "{block: dense_block, inputs: x, name: hidden,"))
    assert ("form", "model.layers[0].inputs") in codes(report)


# ---- expressions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("filters * 4", 256),
        ("filters // 3", 21),
        ("filters / 128", 0.5),
        ("2 if index == 0 else 1", 2),
        ("index == 0 and filters > 10", True),
        ("max(1, filters - 100)", 1),
        ("-filters ** 2", -4096),
        ("[filters, 3]", [64, 3]),
        ("'same' if index else 'valid'", "valid"),
        ("true", True),
    ],
)
def test_expressions(text: str, value) -> None:
    assert evaluate(text, {"filters": 64, "index": 0}) == value


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os')", "the only functions are min, max and abs"),
        ("filters.real", "is not allowed"),
        ("[x for x in [1]]", "is not allowed"),
        ("lambda: 1", "is not allowed"),
        ("filters[0]", "is not allowed"),
        ("filters / 0", "Division by zero"),
        ("2 ** 100", "out of range"),
        ("9223372036854775807 + 1", "beyond 64-bit"),
        ("filtres * 2", "Did you mean 'filters'?"),
        ("'a' + 1", "needs numbers"),
        ("(" * 300 + "1" + ")" * 300, "nest"),
        ("1 +", "syntax"),
        ("x" * 1001, "at most 1000"),
    ],
)
def test_expressions_refused(text: str, message: str) -> None:
    with pytest.raises(ExprError, match=None) as info:
        evaluate(text, {"filters": 64})
    assert message in str(info.value)


# ---- tools ------------------------------------------------------------------------------------------


def test_summary_collapsed_shows_block_uses() -> None:
    result = CliRunner().invoke(main, ["summary", "--collapsed", str(RESNET)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    conv4 = next(line for line in lines if line.startswith("conv4 (block stage)"))
    assert "(None, 14, 14, 1024)" in conv4 and "   7,129,088   " in conv4  # then the FLOPs and activation memory
    assert "Total params: 25,636,712" in result.output
    assert not any("conv4_block1_1_conv" in line for line in lines)
    full = CliRunner().invoke(main, ["summary", str(RESNET)])
    assert "conv4_block6_3_bn (BatchNormalization)" in full.output
    unet = CliRunner().invoke(main, ["summary", "--collapsed", str(UNET)]).output
    assert "down1 (block down)" in unet and "(None, 64, 64, 16), (None, 32, 32, 16)" in unet


def test_validate_json_carries_the_instantiation_notes() -> None:
    bad = SMALL.replace("k: 1}", "k: 0}")
    result = CliRunner().invoke(main, ["validate", "--format", "json", "-"], input=bad)
    assert result.exit_code == 1
    (d,) = json.loads(result.output)["files"][0]["diagnostics"]
    assert d["path"] == "blocks.conv_bn.layers[0].kernel_size" and d["line"] == 7
    assert [n["path"] for n in d["notes"]] == ["blocks.res.nodes[1]", "model.layers[1]"]


@pytest.mark.parametrize("path", [RESNET, UNET], ids=lambda p: p.stem)
def test_dump_round_trip_keeps_blocks(path: Path) -> None:
    report = kspec.check(path)
    for fmt in ("yaml", "json"):
        for defaults in (True, False):
            text = kspec.dump_spec(report.spec, fmt, defaults=defaults)
            again = kspec.check(text)
            assert again.ok, again.diagnostics
            assert again.spec == report.spec
            assert again.shapes == report.shapes and again.param_count == report.param_count


def test_the_readme_example_validates() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Blocks: reusable"):]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    report = check("kspec: 1\nname: readme\n" + example + "training: {loss: mse}\n")
    assert report.ok and not report.warnings, report.diagnostics
    assert report.shapes["stage3_conv"] == (None, 16, 16, 128)
    assert [report.shapes[f"stage{i}_conv"][-1] for i in (1, 2, 3)] == [32, 64, 128]


def test_a_replayed_instantiation_has_its_own_names_and_notes() -> None:
    """The second use with the same arguments is a replay of the first (`kspec.expand._Template`): its layers
    and its diagnostics' notes name the second use."""
    text = """\
kspec: 1
name: replay
blocks:
  inner:
    params: {u: int}
    layers:
      - {name: dense, type: Dense, units: "${u}"}
      - {name: reshape, type: Reshape, target_shape: [2, 2]}
  outer:
    params: {u: int}
    layers:
      - {name: a, block: inner, u: "${u}"}
model:
  input: {shape: [4]}
  layers:
    - {block: outer, u: 4}
    - {type: Flatten}
    - {block: outer, u: 4}
    - {block: outer, u: 4}
training: {loss: mse}
"""
    ok = check(text.replace("    - {block: outer, u: 4}\ntraining", "training"))
    assert ok.ok, ok.diagnostics
    assert [n.name for n in ok.inference.nodes] == [
        "outer_a_dense", "outer_a_reshape", "flatten", "outer_1_a_dense", "outer_1_a_reshape",
    ]
    report = check(text)  # the third use gets (None, 2, 2): its Dense gives (None, 2, 4), which has 8 values
    (d,) = report.errors
    assert (d.code, d.location) == ("shape", "blocks.inner.layers[1].target_shape")
    assert "'outer_2_a_reshape'" in d.message
    assert [n.message for n in d.notes] == [
        "in block 'inner', used here as 'outer_2_a' (u=4)",
        "in block 'outer', used here as 'outer_2' (u=4)",
    ]
    assert [n.span.line for n in d.notes] == [12, 19]
