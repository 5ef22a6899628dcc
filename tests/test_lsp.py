"""`kspec lsp` end to end: a real client (pytest-lsp) talks to the server over stdio, as an editor does."""

from __future__ import annotations

import re

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

import kspec
from kspec.reporters import summary_rows
from kspec.spec.layers import shape_str
from tests.lsp_client import MISTAKES, ROOT, SPECS, Doc, server_fixture

client = server_fixture()
pytestmark = pytest.mark.asyncio(loop_scope="module")


GRAPH = """\
kspec: 1
name: graph
model:
  inputs: [{name: x, shape: [8]}]
  nodes:
    - {name: a, type: Dense, units: 4, inputs: x}
    - {name: b, type: Dense, units: 4, inputs: aa}
  outputs: b
training: {loss: mse}
"""

BLOCKS = """\
kspec: 1
name: blocks
blocks:
  head:
    params:
      width: int
    layers:
      - {type: Dense, units: "${width}"}
      - {type: Conv1D, filters: 4, kernel_size: 3}
model:
  input: {shape: [8]}
  layers:
    - {block: head, width: 16}
    - {block: head, width: 32}
training: {loss: mse}
"""


def _at(doc: Doc, d: lsp.Diagnostic) -> str:
    """The text a diagnostic's range covers (one line)."""
    line = doc.text.splitlines()[d.range.start.line]
    assert d.range.end.line == d.range.start.line
    return line[d.range.start.character : d.range.end.character]


async def test_diagnostics_have_exact_ranges_codes_and_hints_and_go_when_fixed(client: LanguageClient) -> None:
    doc = Doc(client, MISTAKES)
    diagnostics = await doc.open()
    by_code = {d.code: d for d in diagnostics}
    # The misspelled key and the oversized kernel in another layer, in one pass (the checker infers around the
    # broken layer: its misspelling read as its did-you-mean).
    assert set(by_code) == {"unknown-key", "shape"}, [d.message for d in diagnostics]
    assert _at(doc, by_code["unknown-key"]) == "kernel_initialiser"
    assert by_code["unknown-key"].range.start == doc.position("kernel_initialiser")
    assert "hint: Did you mean 'kernel_initializer'?" in by_code["unknown-key"].message
    assert _at(doc, by_code["shape"]) == "40"
    assert by_code["shape"].severity == lsp.DiagnosticSeverity.Error and by_code["shape"].source == "kspec"
    # Fixing one leaves the other; fixing both leaves nothing.
    text = doc.text.replace("kernel_initialiser", "kernel_initializer")
    assert [d.code for d in await doc.change(text)] == ["shape"]
    assert await doc.change(text.replace("kernel_size: 40", "kernel_size: 3")) == []
    doc.close()


async def test_a_misspelled_reference_is_one_error(client: LanguageClient) -> None:
    doc = Doc(client, GRAPH)
    diagnostics = await doc.open()
    assert [(d.code, _at(doc, d)) for d in diagnostics] == [("undefined-node", "aa")]
    doc.close()


async def test_a_block_definition_points_at_each_use(client: LanguageClient) -> None:
    doc = Doc(client, BLOCKS)
    diagnostics = await doc.open()
    shape = [d for d in diagnostics if d.code == "shape"]
    assert len(shape) == 1, [d.message for d in diagnostics]
    related = {(r.location.range.start.line, r.message) for r in shape[0].related_information or []}
    uses = {doc.position("{block: head, width: 16}").line, doc.position("{block: head, width: 32}").line}
    assert uses <= {line for line, _ in related}, related


async def test_a_spec_that_does_not_parse_gets_a_positioned_error(client: LanguageClient) -> None:
    doc = Doc(client, "kspec: 1\nname: x\nmodel: {input: [\n")
    diagnostics = await doc.open()
    assert [d.code for d in diagnostics] == ["yaml-syntax"]
    assert diagnostics[0].range.start.line >= 2
    doc.close()


def _model_rows(path) -> list[str]:
    """What `kspec summary --collapsed` says of each input, layer and block use: shape and parameters."""
    report = kspec.check(path)
    rows = summary_rows(report, collapsed=True)
    out = []
    for r in rows:
        shapes = ", ".join("?" if s is None else shape_str(s) for s in r.shapes)
        out.append(f"→ {shapes}" if r.type == "InputLayer" else f"→ {shapes} · {r.params:,}")
    return out


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
async def test_inlay_hints_are_the_summary(client: LanguageClient, path) -> None:
    text = path.read_text()
    doc = Doc(client, text, name=f"hints_{path.name}")
    await doc.open()
    hints = await client.text_document_inlay_hint_async(
        lsp.InlayHintParams(doc.ident, lsp.Range(lsp.Position(0, 0), lsp.Position(len(text.splitlines()), 0)))
    )
    assert hints
    lines = text.splitlines()
    model_line = next(i for i, line in enumerate(lines) if line.startswith("model:"))
    labels = [h.label for h in hints if h.position.line > model_line]
    report = kspec.check(path)
    expected = _model_rows(path)
    totals = f"Σ {report.inference.total_params:,} params"
    assert labels == expected, (labels, expected)
    total_hints = [h for h in hints if h.position.line == model_line]
    assert len(total_hints) == 1 and total_hints[0].label.startswith(totals)
    # Each hint sits at the end of its line's code.
    for h in hints:
        code = re.sub(r"\s+#.*$", "", lines[h.position.line]).rstrip()
        assert h.position.character == len(code), (h, lines[h.position.line])
    doc.close()


async def test_hover(client: LanguageClient) -> None:
    text = (ROOT / "specs" / "resnet50.yaml").read_text()
    doc = Doc(client, text, name="hover_resnet50.yaml")
    await doc.open()

    async def hover(needle: str, offset: int = 1, occurrence: int = 0) -> str:
        result = await client.text_document_hover_async(
            lsp.HoverParams(doc.ident, doc.position(needle, offset, occurrence))
        )
        assert result is not None, needle
        return result.contents.value

    layer = await hover("Conv2D, filters: 64, kernel_size: 7")
    assert layer.startswith("**Conv2D**: 2D convolution")
    assert "`kernel_size` (required)" in layer and "`padding` = `'valid'`" in layer
    assert "Here: (None, 230, 230, 3) → (None, 112, 112, 64), 9,472 parameters" in layer
    field = await hover("epsilon", occurrence=1)
    assert field.startswith("**epsilon** (BatchNormalization)") and "default" in field
    use = await hover("block: bottleneck", offset=8)
    assert "**block bottleneck**" in use and "`project`: `bool`" in use
    stage = await hover("block: stage", offset=8)
    assert "Expands to" in stage and "parameters →" in stage
    doc.close()


async def _complete(client: LanguageClient, doc: Doc, position: lsp.Position) -> dict[str, lsp.CompletionItem]:
    result = await client.text_document_completion_async(lsp.CompletionParams(doc.ident, position))
    items = result.items if isinstance(result, lsp.CompletionList) else result
    return {i.label: i for i in items}


async def test_completion(client: LanguageClient) -> None:
    doc = Doc(client, MISTAKES.replace("kernel_initialiser", "kernel_initializer").replace("40", "3"))
    await doc.open()
    # Layer types, with the required arguments as a snippet.
    types = await _complete(client, doc, doc.position("Flatten", 3))
    assert "Conv2D" in types and "LSTM" in types
    assert types["Conv2D"].insert_text == "Conv2D, filters: ${1}, kernel_size: ${2}"
    assert types["Conv2D"].insert_text_format == lsp.InsertTextFormat.Snippet
    # The arguments of the layer at the cursor, not the neighbours'.
    await doc.change(doc.text.replace("activation: softmax}", "activation: softmax, }"))
    args = await _complete(client, doc, doc.position("activation: softmax, }", 21))
    assert "use_bias" in args and "filters" not in args and "units" not in args
    # A half-typed key inside a flow mapping.
    half = doc.text.replace("{type: Dense, units: 10,", "{type: Dense, units: 10, kernel_re")
    await doc.change(half)
    keys = await _complete(client, doc, doc.position("kernel_re", 9))
    assert "kernel_regularizer" in keys and "units" not in keys and "filters" not in keys
    # Enum values.
    padded = doc.text.replace("kernel_size: 3}", "kernel_size: 3, padding: }", 1)
    await doc.change(padded)
    values = await _complete(client, doc, doc.position("padding: ", 9))
    assert {"same", "valid"} <= set(values)
    doc.close()


async def test_completion_of_names_blocks_and_parameters(client: LanguageClient) -> None:
    doc = Doc(client, GRAPH.replace("inputs: aa", "inputs: a"))
    await doc.open()
    names = await _complete(client, doc, doc.position("inputs: a}", 9))
    assert set(names) == {"x", "a"}  # not the node itself
    doc.close()
    doc = Doc(client, BLOCKS.replace("Conv1D, filters: 4, kernel_size: 3", "Dense, units: 2"))
    await doc.open()
    blocks = await _complete(client, doc, doc.position("head, width: 16", 1))
    assert set(blocks) == {"head"}
    with_key = doc.text.replace("{block: head, width: 16}", "{block: head, wi}")
    await doc.change(with_key)
    params = await _complete(client, doc, doc.position("wi}", 2))
    assert "width" in params and "repeat" in params
    doc.close()


async def test_completion_of_losses_that_fit(client: LanguageClient) -> None:
    regression = GRAPH.replace("inputs: aa", "inputs: a").replace("{loss: mse}", "{loss: mse, metrics: [mae]}")
    doc = Doc(client, regression)
    await doc.open()
    losses = await _complete(client, doc, doc.position("mse", 1))
    assert "mse" in losses and "huber" in losses
    assert "categorical_crossentropy" not in losses  # four outputs are not classes of a categorical loss... of logits
    assert "binary_crossentropy" not in losses  # a linear output is no probability
    doc.close()


async def test_definition_and_references(client: LanguageClient) -> None:
    text = (ROOT / "specs" / "resnet50.yaml").read_text()
    doc = Doc(client, text, name="nav_resnet50.yaml")
    await doc.open()

    async def definition(position: lsp.Position) -> list[lsp.Location]:
        result = await client.text_document_definition_async(lsp.DefinitionParams(doc.ident, position))
        return list(result or [])

    # A node name in `inputs` -> the node.
    found = await definition(doc.position("inputs: 1_relu", 9))
    assert [loc.range.start for loc in found] == [doc.position("name: 1_relu", 6)]
    # `block: NAME` -> the block.
    found = await definition(doc.position("block: bottleneck", 8))
    assert [loc.range.start for loc in found] == [doc.position("bottleneck:")]
    # `${param}` -> the parameter.
    found = await definition(doc.position('"${filters}", kernel_size', 4))
    assert [loc.range.start for loc in found] == [doc.position("filters: int")]
    # References: every use of the parameter in its block, and the uses' arguments.
    refs = await client.text_document_references_async(
        lsp.ReferenceParams(
            text_document=doc.ident,
            position=doc.position("filters: int"),
            context=lsp.ReferenceContext(include_declaration=False),
        )
    )
    lines = {r.range.start.line for r in refs or []}
    assert doc.position('"${filters}", kernel_size').line in lines
    assert doc.position("filters: \"${filters}\", strides").line in lines  # an argument of a use of conv_bn
    doc.close()


async def _actions(client: LanguageClient, doc: Doc, d: lsp.Diagnostic | None) -> list[lsp.CodeAction]:
    r = d.range if d is not None else lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    result = await client.text_document_code_action_async(
        lsp.CodeActionParams(doc.ident, r, lsp.CodeActionContext(diagnostics=[d] if d else []))
    )
    return [a for a in result or [] if isinstance(a, lsp.CodeAction)]


def _apply(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start = offsets[e.range.start.line] + e.range.start.character
        end = offsets[e.range.end.line] + e.range.end.character
        text = text[:start] + e.new_text + text[end:]
    return text


async def _fix(client: LanguageClient, doc: Doc, code: str, title: str) -> str:
    diagnostics = await doc.diagnostics()
    d = next(d for d in diagnostics if d.code == code)
    actions = await _actions(client, doc, d)
    action = next((a for a in actions if a.title.startswith(title)), None)
    assert action is not None, [a.title for a in actions]
    return _apply(doc.text, action.edit.changes[doc.uri])


async def test_code_actions(client: LanguageClient) -> None:
    # Did you mean: the key, and a reference.
    doc = Doc(client, MISTAKES.replace("kernel_size: 40", "kernel_size: 3"))
    await doc.open()
    fixed = await _fix(client, doc, "unknown-key", "Change to 'kernel_initializer'")
    assert "kernel_initializer: he_normal" in fixed
    assert await doc.change(fixed) == []
    doc.close()
    doc = Doc(client, GRAPH)
    await doc.open()
    after = await doc.change(await _fix(client, doc, "undefined-node", "Change to 'a'"))
    assert [d.code for d in after] == ["lint-no-activation-stack"]  # a warning: the graph is whole
    doc.close()
    # A rank mismatch: insert the Flatten, the global pooling or the Reshape the layer needs.
    base = MISTAKES.replace("kernel_initialiser", "kernel_initializer").replace("kernel_size: 40", "kernel_size: 3")
    for layer, title in (
        ("{type: RepeatVector, n: 3}", "Flatten"),
        ("{type: RepeatVector, n: 3}", "GlobalAveragePooling2D"),
        ("{type: LSTM, units: 8}", "Reshape to (576, 32)"),
    ):
        doc = Doc(client, base.replace("{type: Flatten}", layer))
        await doc.open()
        fixed = await _fix(client, doc, "shape", f"Insert {title}")
        assert fixed.count("\n") == doc.text.count("\n") + 1
        remaining = await doc.change(fixed)
        assert [d.code for d in remaining if d.severity == lsp.DiagnosticSeverity.Error] == [], fixed
        doc.close()
    # Dropping a softmax that a from_logits loss contradicts, or the flag.
    logits = MISTAKES.replace("kernel_initialiser", "kernel_initializer").replace("kernel_size: 40", "kernel_size: 3").replace(
        "{loss: sparse_categorical_crossentropy,", "{loss: {type: SparseCategoricalCrossentropy, from_logits: true},"
    )
    doc = Doc(client, logits)
    await doc.open()
    fixed = await _fix(client, doc, "lint-softmax-from-logits", "Drop the softmax")
    assert "activation: linear" in fixed
    assert await doc.change(fixed) == []
    await doc.change(logits)
    fixed = await _fix(client, doc, "lint-softmax-from-logits", "Set from_logits: false")
    assert "from_logits: false" in fixed
    assert await doc.change(fixed) == []
    # The schema modeline, pointing at the installed package's schema.
    actions = await _actions(client, doc, None)
    modeline = next(a for a in actions if a.title.startswith("Add the yaml-language-server schema modeline"))
    first = modeline.edit.changes[doc.uri][0].new_text
    assert first.startswith("# yaml-language-server: $schema=") and first.strip().endswith("kspec.schema.json")
    doc.close()


async def test_document_symbols(client: LanguageClient) -> None:
    text = (ROOT / "specs" / "resnet50.yaml").read_text()
    doc = Doc(client, text, name="symbols_resnet50.yaml")
    await doc.open()
    result = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(doc.ident))
    top = {s.name: s for s in result}
    assert {"blocks", "model", "training"} <= set(top)
    assert [b.name for b in top["blocks"].children] == ["conv_bn", "bottleneck", "stage"]
    model = [c.name for c in top["model"].children]
    assert model[0] == "input_layer" and "conv1_conv" in model and model[-1] == "predictions"
    conv = next(c for c in top["model"].children if c.name == "conv1_conv")
    assert conv.detail == "Conv2D → (None, 112, 112, 64)"
    doc.close()


BLOCK_STYLE = """\
kspec: 1
name: block_style
model:
  inputs: [{name: i, shape: [8, 8, 3]}]
  nodes:
    - name: c
      type: Conv2D
      filters: 4
      kernel_size: 3
      padding: same
      inputs: i
    - name: f
      type: Flatten
      inputs: c
  outputs: f
training:
  loss: mse
"""


async def test_completion_after_a_key_and_its_space_in_block_style(client: LanguageClient) -> None:
    # `key: ` with the cursor after the space (the completion trigger) offers values, not the sibling keys.
    doc = Doc(client, BLOCK_STYLE.replace("      type: Flatten\n", "      type: \n"))
    await doc.open()
    types = await _complete(client, doc, doc.position("type: \n", 6))
    assert "Flatten" in types and "name" not in types
    # A block mapping's snippet puts each required argument under `type`, relative to the line's indentation
    # (the editor indents each inserted line like the cursor's line).
    assert types["Conv2D"].insert_text == "Conv2D\nfilters: ${1}\nkernel_size: ${2}"
    assert types["Conv2D"].insert_text_mode == lsp.InsertTextMode.AdjustIndentation
    await doc.change(BLOCK_STYLE.replace("    - name: f\n      type: Flatten\n", "    - type: \n"))
    types = await _complete(client, doc, doc.position("- type: \n", 8))
    assert types["Conv2D"].insert_text == "Conv2D\n  filters: ${1}\n  kernel_size: ${2}"
    await doc.change(BLOCK_STYLE.replace("padding: same", "padding: "))
    assert {"same", "valid"} <= set(await _complete(client, doc, doc.position("padding: ", 9)))
    await doc.change(BLOCK_STYLE.replace("  loss: mse", "  loss: "))
    losses = await _complete(client, doc, doc.position("  loss: ", 8))
    assert "mse" in losses and "optimizer" not in losses
    # Names while a flow list is still open (the line is read as it will be once closed).
    await doc.change(BLOCK_STYLE.replace("      inputs: c\n", "      inputs: [i, \n"))
    names = await _complete(client, doc, doc.position("inputs: [i, ", 12))
    assert set(names) == {"i", "c"}
    doc.close()


async def test_completion_leaves_out_inputs_in_a_chain_and_names_each_output_of_a_block(client: LanguageClient) -> None:
    doc = Doc(client, MISTAKES.replace("{type: Flatten}", "{type: Flatten, }"))
    await doc.open()
    keys = await _complete(client, doc, doc.position("{type: Flatten, }", 16))
    assert "name" in keys and "inputs" not in keys  # a chain's layer takes the previous layer's output
    doc.close()
    text = (ROOT / "specs" / "unet.yaml").read_text()
    doc = Doc(client, text, name="names_unet.yaml")
    await doc.open()
    line = next(line for line in text.splitlines() if "inputs: down1." in line)
    names = await _complete(client, doc, doc.position(line, line.index("down1.") + 1))
    assert {"down1.features", "down1.pooled"} <= set(names) and "down1" not in names
    doc.close()


async def test_a_duplicate_key_is_marked_where_it_is_repeated(client: LanguageClient) -> None:
    text = BLOCK_STYLE.replace("      filters: 4\n", "      filters: 4\n      filters: 8\n")
    doc = Doc(client, text)
    diagnostics = await doc.open()
    assert [d.code for d in diagnostics] == ["duplicate-key"]
    assert diagnostics[0].range.start == doc.position("filters: 8")
    doc.close()
