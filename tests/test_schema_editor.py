"""The JSON Schema in a real editor: yaml-language-server (the npm package, the server of VS Code's YAML extension,
Neovim's yamlls, Helix) started over stdio and driven by pytest-lsp as an editor drives it, on documents that point
at the schema installed with kspec by their modeline (`# yaml-language-server: $schema=<kspec schema --path>`).

What an editor shows, checked: a field's hover is its description, once (no title above it); a layer type's hover
is its Keras one-liner; completion in a layer's mapping offers that layer type's keys and no neighbour's (Conv2D,
not Conv2DTranspose's `output_padding`); a structural mistake is a diagnostic at its place; the repository's
example specs (their modeline is the relative `../schema/kspec.schema.json`, a symlink to the packaged file) get
none.

yaml-language-server comes from KSPEC_YAMLLS, else `.node/` (scripts/_yamlls.sh installs it there, pinned). Without
it the module is skipped; with KSPEC_REQUIRE_YAMLLS=1 (set by scripts/_yamlls.sh where it can install it) it fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

import kspec
from kspec.spec import schema_path

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = "KSPEC_REQUIRE_YAMLLS"


def _yamlls() -> str | None:
    for candidate in (
        os.environ.get("KSPEC_YAMLLS"),
        str(ROOT / ".node" / "node_modules" / ".bin" / "yaml-language-server"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


YAMLLS = _yamlls()
if YAMLLS is None or shutil.which("node") is None:
    _why = "yaml-language-server or node not found (scripts/_yamlls.sh installs them; KSPEC_YAMLLS names another)"
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{_why} ({REQUIRE}=1: the editor tests must run here)", pytrace=False)
    pytest.skip(_why, allow_module_level=True)

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: yaml-language-server's settings, as VS Code's YAML extension sends them; no schema store (no network).
SETTINGS = {"validate": True, "hover": True, "completion": True, "schemaStore": {"enable": False}}
MODELINE = f"# yaml-language-server: $schema={schema_path()}\n"
DEFS = kspec.json_schema()["$defs"]
#: Seconds yaml-language-server may take to publish a document's diagnostics.
TIMEOUT = 60


def _accept_registration(client: LanguageClient, params: lsp.RegistrationParams) -> None:
    return None


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[YAMLLS or "", "--stdio"]))
async def client(lsp_client: LanguageClient):
    # As an editor does: accept the server's dynamic registrations (pytest-lsp's client answers none by default).
    lsp_client.feature(lsp.CLIENT_REGISTER_CAPABILITY)(_accept_registration)
    lsp_client.set_configuration(SETTINGS, section="yaml")
    await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT.as_uri())
    )
    lsp_client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings={"yaml": SETTINGS}))
    yield
    await lsp_client.shutdown_session()


def _unescaped(markdown: str) -> str:
    """Markdown as text: yaml-language-server escapes the punctuation markdown would read (`\\_`, `\\(`)."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>])", r"\1", markdown)


class Doc:
    """A document opened in the editor (a file URI: a modeline relative to it is read from the disk beside it)."""

    count = 0

    def __init__(self, client: LanguageClient, text: str, path: Path | None = None):
        Doc.count += 1
        self.client = client
        self.text = text
        self.uri = (path or ROOT / "tests" / f"editor_doc_{Doc.count}.yaml").as_uri()

    async def open(self) -> list[lsp.Diagnostic]:
        self.client.diagnostics.pop(self.uri, None)
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(self.uri, "yaml", 1, self.text))
        )

        async def published() -> list[lsp.Diagnostic]:
            while self.uri not in self.client.diagnostics:
                await self.client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            return list(self.client.diagnostics[self.uri])

        return await asyncio.wait_for(published(), TIMEOUT)

    def close(self) -> None:
        self.client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(self.uri)))

    def position(self, needle: str, offset: int = 0) -> lsp.Position:
        """Where the (only) `needle` is in the text, plus `offset` characters."""
        assert self.text.count(needle) == 1, needle
        before = self.text[: self.text.index(needle) + offset]
        return lsp.Position(before.count("\n"), len(before) - (before.rfind("\n") + 1))

    async def hover(self, needle: str, offset: int = 0) -> str:
        """The hover's text (markdown), without the line that names the schema file."""
        params = lsp.HoverParams(lsp.TextDocumentIdentifier(self.uri), self.position(needle, offset))
        result = await self.client.text_document_hover_async(params)
        assert result is not None and isinstance(result.contents, lsp.MarkupContent), (needle, result)
        text = result.contents.value
        source = text.rfind("\n\nSource: [")
        return _unescaped(text[:source] if source >= 0 else text)

    async def completion(self, needle: str, offset: int = 0) -> list[str]:
        params = lsp.CompletionParams(lsp.TextDocumentIdentifier(self.uri), self.position(needle, offset))
        result = await self.client.text_document_completion_async(params)
        items = result.items if isinstance(result, lsp.CompletionList) else result or []
        return [item.label for item in items]


SPEC = """\
kspec: 1
name: m
model:
  input: {shape: [28, 28, 1]}
  layers:
    - type: Conv2D
      filters: 32
      kernel_size: 3
      <CURSOR>
    - {type: Conv2D, filters: 8, kernel_size: 3, <FLOW>}
    - {type: Flatten}
    - {type: Dense, units: 10, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
"""


async def _spec(client: LanguageClient) -> Doc:
    doc = Doc(client, MODELINE + SPEC.replace("<CURSOR>", "").replace("<FLOW>", "strides: 1"))
    assert await doc.open() == []
    return doc


async def test_field_hover_is_its_description_once(client: LanguageClient) -> None:
    doc = await _spec(client)
    description = DEFS["Conv2D"]["properties"]["filters"]["description"]
    assert description == "Number of output channels (filters)."
    assert await doc.hover("filters: 32", 2) == description  # on the key
    assert await doc.hover("filters: 8", 3) == description  # in a flow mapping
    units = await doc.hover("units: 10", 1)
    assert units == DEFS["Dense"]["properties"]["units"]["description"]
    # A field of two branches (an int or a list): once still, no "Conv2D || Conv2D" heading.
    kernel = await doc.hover("kernel_size: 3\n", 1)
    assert kernel == DEFS["Conv2D"]["properties"]["kernel_size"]["description"]
    assert "#" not in kernel and "||" not in kernel
    doc.close()


async def test_layer_type_hover_is_the_keras_one_liner(client: LanguageClient) -> None:
    doc = await _spec(client)
    hover = await doc.hover("type: Conv2D\n", len("type: Co"))
    one_liner = "2D convolution (e.g. spatial convolution over images)."
    # The one-liner, then the values (Conv2D's alias too).
    assert hover.split("\n\n")[0] == one_liner, hover
    assert hover.count(one_liner) == 1 and "`Convolution2D`" in hover
    dense = await doc.hover("type: Dense", len("type: De"))
    assert dense == "Just your regular densely-connected NN layer: `activation(dot(input, kernel) + bias)`."
    doc.close()


#: Keys only other layer types have: Conv2DTranspose (whose type Conv2D begins), Dense, Dropout, LSTM.
NEIGHBOURS = {"output_padding", "units", "rate", "recurrent_activation"}


async def test_completion_offers_the_layer_types_keys_only(client: LanguageClient) -> None:
    doc = Doc(client, MODELINE + SPEC.replace("<FLOW>", "strides: 1"))
    await doc.open()
    conv2d = set(DEFS["Conv2D"]["properties"])
    assert not NEIGHBOURS & conv2d
    block = set(await doc.completion("<CURSOR>"))
    assert {"strides", "padding", "dilation_rate", "groups", "activation", "use_bias"} <= block, block
    assert block <= conv2d - {"type", "filters", "kernel_size"}, block - conv2d
    assert not NEIGHBOURS & block
    doc.close()
    # In a flow mapping yaml-language-server completes a key once its first letter is typed.
    doc = Doc(client, MODELINE + SPEC.replace("<CURSOR>", "").replace("<FLOW>", "s"))
    await doc.open()
    flow = set(await doc.completion("kernel_size: 3, s}", len("kernel_size: 3, s")))
    assert {"strides", "padding", "activation"} <= flow, flow
    assert flow <= conv2d - {"type", "filters", "kernel_size"}, flow - conv2d
    doc.close()


async def test_completion_of_a_layer_type_offers_every_type_it_may_be(client: LanguageClient) -> None:
    doc = Doc(client, MODELINE + SPEC.replace("<CURSOR>", "").replace("<FLOW>", "").replace("Flatten", "Conv2"))
    await doc.open()
    offered = set(await doc.completion("type: Conv2}", len("type: Conv2")))
    assert {"Conv2D", "Conv2DTranspose"} <= offered, offered
    doc.close()


async def test_a_structural_mistake_is_a_diagnostic_at_its_place(client: LanguageClient) -> None:
    doc = Doc(client, MODELINE + SPEC.replace("<CURSOR>", "kernel_sise: 3").replace("<FLOW>", 'strides: "2"'))
    diagnostics = {(d.range.start.line, d.range.start.character): d.message for d in await doc.open()}
    misspelled, quoted = doc.position("kernel_sise"), doc.position('"2"')
    assert diagnostics == {
        (misspelled.line, misspelled.character): "Property kernel_sise is not allowed.",
        (quoted.line, quoted.character): 'Incorrect type. Expected "integer | array".',
    }
    doc.close()


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
async def test_example_specs_have_no_diagnostics(client: LanguageClient, path: Path) -> None:
    """The repository's specs, with their own modeline (`../schema/kspec.schema.json`, through the symlink)."""
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schema/kspec.schema.json\n")
    doc = Doc(client, text, path)
    assert [(d.range.start.line, d.message) for d in await doc.open()] == []
    doc.close()
