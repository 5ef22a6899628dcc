"""The checker infers around a broken piece (`kspec.recover`): one pass reports the structural errors and the shape
errors elsewhere, without knock-on errors from the broken piece."""

from __future__ import annotations

import kspec

HEAD = "kspec: 1\nname: t\n"
TRAIN = "training: {loss: sparse_categorical_crossentropy, optimizer: adam}\n"


def _found(text: str) -> set[tuple[str, str]]:
    return {(d.code, d.location) for d in kspec.check(text).diagnostics}


def test_a_misspelled_key_and_a_shape_error_elsewhere_are_reported_together() -> None:
    spec = HEAD + """model:
  input: {shape: [28, 28, 1]}
  layers:
    - {type: Conv2D, filters: 32, kernel_size: 3, kernel_initialiser: he_normal}
    - {type: Conv2D, filters: 32, kernel_size: 40}
    - {type: Flatten}
    - {type: Dense, units: 10, activation: softmax}
""" + TRAIN
    report = kspec.check(spec)
    assert {(d.code, d.location) for d in report.diagnostics} == {
        ("unknown-key", "model.layers[0].kernel_initialiser"),
        ("shape", "model.layers[1].kernel_size"),
    }
    assert report.spec is None and report.draft is not None and not report.ok
    # The misspelled layer is read as its did-you-mean: its output is known, and so is the next one's input.
    assert report.inference is not None and report.inference.nodes[0].output.shape == (None, 26, 26, 32)


def test_a_broken_layer_hides_what_depends_on_it_and_nothing_else() -> None:
    spec = HEAD + """model:
  input: {shape: [28, 28, 1]}
  layers:
    - {type: Conv2D, filters: 32, kernel_size: 40}
    - {type: Conv2DD, filters: 8}
    - {type: Conv2D, filters: 32, kernel_size: 50}
    - {type: Dense, units: 10, activation: softmax}
""" + TRAIN
    # The first kernel is too large; the unknown layer is reported; what follows it is not checked (its input is
    # unknown), so the third layer's kernel says nothing.
    assert _found(spec) == {("shape", "model.layers[0].kernel_size"), ("unknown-layer", "model.layers[1].type")}


def test_graph_nodes_that_do_not_depend_on_a_broken_node_are_checked() -> None:
    spec = HEAD + """model:
  inputs: [{name: x, shape: [8]}, {name: img, shape: [4, 4, 3]}]
  nodes:
    - {name: a, type: Dense, inputs: x}
    - {name: b, type: Dense, units: 4, inputs: a}
    - {name: c, type: Conv2D, filters: 2, kernel_size: 9, inputs: img}
    - {name: d, type: Flatten, inputs: c}
    - {name: out, type: Concatenate, inputs: [b, d]}
  outputs: out
training: {loss: mse}
"""
    # `a` lacks its units: it is a stand-in, `b` and `out` depend on it; `c` is checked. No node is called unused.
    assert _found(spec) == {("missing-key", "model.nodes[0].units"), ("shape", "model.nodes[2].kernel_size")}


def test_a_stand_in_whose_inputs_cannot_be_read_makes_no_node_unused() -> None:
    spec = HEAD + """model:
  inputs: [{name: x, shape: [8]}]
  nodes:
    - {name: a, type: Dense, units: 4, inputs: x}
    - {name: b, type: Dense, units: 4, inputs: {a: 1}}
  outputs: b
training: {loss: mse}
"""
    found = _found(spec)
    assert ("type", "model.nodes[1].inputs") in found
    assert not [f for f in found if f[0] == "unused-node"], found


def test_a_misspelled_reference_is_one_error() -> None:
    spec = HEAD + """model:
  inputs: [{name: x, shape: [8]}]
  nodes:
    - {name: a, type: Dense, units: 4, inputs: x}
    - {name: b, type: Dense, units: 4, inputs: aa}
  outputs: b
training: {loss: mse}
"""
    assert _found(spec) == {("undefined-node", "model.nodes[1].inputs[0]")}


def test_a_broken_block_layer_and_a_shape_error_in_the_model() -> None:
    spec = HEAD + """blocks:
  head:
    params: {width: int}
    layers:
      - {type: Dense, units: "${width}", activaton: relu}
      - {type: Dense}
model:
  input: {shape: [28, 28, 1]}
  layers:
    - {type: Conv2D, filters: 4, kernel_size: 30}
    - {type: Flatten}
    - {block: head, width: 16}
training: {loss: mse}
"""
    assert _found(spec) == {
        ("unknown-key", "blocks.head.layers[0].activaton"),
        ("missing-key", "blocks.head.layers[1].units"),
        ("shape", "model.layers[0].kernel_size"),
    }


def test_a_broken_training_section_does_not_hide_shape_errors_and_semantics_wait() -> None:
    spec = HEAD + """model:
  input: {shape: [28, 28, 1]}
  layers:
    - {type: Conv2D, filters: 4, kernel_size: 30}
    - {type: Dense, units: 3}
    - {type: Dense, units: 3}
training: {loss: 5, epochs: "3"}
"""
    found = _found(spec)
    assert ("shape", "model.layers[0].kernel_size") in found
    assert {f[1] for f in found if f[0] != "shape"} <= {"training.loss", "training.epochs"}, found
    assert not [f for f in found if f[0].startswith("lint-")]  # lints read the training section: a valid one


def test_a_broken_model_input_stops_at_the_structural_errors() -> None:
    spec = HEAD + """model:
  input: {shape: [28, -1]}
  layers:
    - {type: Conv2D, filters: 4, kernel_size: 30}
""" + TRAIN
    report = kspec.check(spec)
    assert [d.location for d in report.diagnostics] == ["model.input.shape[1]"]
    assert report.inference is None and report.draft is None


def test_a_layer_name_that_is_no_name_leaves_the_chain_checked() -> None:
    spec = HEAD + """model:
  input: {shape: [28, 28, 1]}
  layers:
    - {name: conv-1, type: Conv2D, filters: 4, kernel_size: 3}
    - {type: Conv2D, filters: 4, kernel_size: 99}
""" + TRAIN
    assert _found(spec) == {("value", "model.layers[0].name"), ("shape", "model.layers[1].kernel_size")}


TWO = """blocks:
  two:
    inputs: x
    nodes:
      - {name: a, type: Dense, units: 4, inputs: x}
      - {name: b, type: Dense, units: 5, inputs: x}
    outputs: [a, b]
model:
  inputs: [{name: i, shape: [8]}]
  nodes:
    - {name: t, block: twoo, inputs: i}
    - {name: u, type: Concatenate, inputs: [t.a, t.b]}
    - {name: side, type: Conv1D, filters: 2, kernel_size: 3, inputs: i}
  outputs: [u, side]
training: {loss: mse}
"""


def test_a_broken_use_of_a_block_with_several_outputs() -> None:
    # References to its outputs (`t.a`) stand for the stand-in's one unknown output: no knock-on error, and the
    # independent node is checked.
    assert _found(HEAD + TWO) == {("unknown-block", "model.nodes[0].block"), ("shape", "model.nodes[2]")}


def test_errors_of_a_repaired_spec_are_kept_when_it_cannot_be_inferred_either() -> None:
    spec = HEAD + TWO.replace("kernel_size: 3, inputs: i}", "kernel_size: 3, inputs: i, kernel_initialiser: zeros}")
    found = _found(spec)
    assert ("unknown-key", "model.nodes[2].kernel_initialiser") in found
    assert ("unknown-block", "model.nodes[0].block") in found
