"""A real editor's side of `kspec lsp`: pytest-lsp starts the server as a subprocess (`python -m kspec.cli lsp`) and
speaks LSP to it over stdio, checking every response against the client capabilities it announced."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
SERVER = [sys.executable, "-m", "kspec.cli", "lsp"]

#: A new user's first spec: a misspelled key in one layer, an oversized kernel in another.
MISTAKES = """\
kspec: 1
name: mistakes
model:
  input: {shape: [28, 28, 1]}
  layers:
    - {type: Conv2D, filters: 32, kernel_size: 3, kernel_initialiser: he_normal}
    - {type: Conv2D, filters: 32, kernel_size: 40}
    - {type: Flatten}
    - {type: Dense, units: 10, activation: softmax}
training: {loss: sparse_categorical_crossentropy, optimizer: adam}
"""


def server_fixture(debounce_ms: int = 0, scope: str = "module"):
    """A fixture that starts `kspec lsp` once per module, as VS Code would (its capabilities)."""

    @pytest_lsp.fixture(scope=scope, config=ClientServerConfig(server_command=SERVER))
    async def client(lsp_client: LanguageClient):
        params = lsp.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"debounce": debounce_ms},
        )
        await lsp_client.initialize_session(params)
        yield lsp_client
        await lsp_client.shutdown_session()

    return client


class Doc:
    """One open document of the client: open, change (whole text), and wait for its diagnostics."""

    count = 0

    def __init__(self, client: LanguageClient, text: str, name: str | None = None):
        Doc.count += 1
        self.client = client
        self.uri = (ROOT / "tests" / (name or f"lsp_doc_{Doc.count}.yaml")).as_uri()
        self.version = 1
        self.text = text

    async def open(self) -> list[lsp.Diagnostic]:
        self.client.diagnostics.pop(self.uri, None)
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(self.uri, "yaml", self.version, self.text))
        )
        return await self.diagnostics()

    async def change(self, text: str, *, wait: bool = True) -> list[lsp.Diagnostic]:
        self.version += 1
        self.text = text
        self.client.diagnostics.pop(self.uri, None)
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri),
                [lsp.TextDocumentContentChangeWholeDocument(text)],
            )
        )
        return await self.diagnostics() if wait else []

    async def diagnostics(self) -> list[lsp.Diagnostic]:
        while self.uri not in self.client.diagnostics:
            await self.client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return list(self.client.diagnostics[self.uri])

    def close(self) -> None:
        self.client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(self.uri)))

    @property
    def ident(self) -> lsp.TextDocumentIdentifier:
        return lsp.TextDocumentIdentifier(self.uri)

    def position(self, needle: str, offset: int = 0, occurrence: int = 0) -> lsp.Position:
        """The position of the `occurrence`-th `needle` in the text (plus `offset` characters)."""
        index = -1
        for _ in range(occurrence + 1):
            index = self.text.index(needle, index + 1)
        index += offset
        line = self.text.count("\n", 0, index)
        column = index - (self.text.rfind("\n", 0, index) + 1)
        return lsp.Position(line, column)
