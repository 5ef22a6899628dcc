"""A spec half-typed at every character never breaks `kspec lsp`: each prefix of every example spec is sent to the
server over stdio, and at each one the editor asks what it asks while typing (diagnostics, completion, hover, inlay
hints, the outline). Every request must be answered without an error, and the server must never report an internal
error (it logs one, and shows it as a diagnostic, where a feature fails)."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from tests.lsp_client import SPECS, Doc, server_fixture

client = server_fixture()
pytestmark = pytest.mark.asyncio(loop_scope="module")


def _end(text: str) -> lsp.Position:
    lines = text.split("\n")
    return lsp.Position(len(lines) - 1, len(lines[-1]))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
async def test_every_prefix(client: LanguageClient, path) -> None:
    text = path.read_text()
    doc = Doc(client, "", name=f"prefix_{path.name}")
    await doc.open()
    pending = []
    for i in range(1, len(text) + 1):
        prefix = text[:i]
        await doc.change(prefix, wait=False)
        at = _end(prefix)
        whole = lsp.Range(lsp.Position(0, 0), lsp.Position(at.line + 1, 0))
        pending += [
            client.text_document_completion_async(lsp.CompletionParams(doc.ident, at)),
            client.text_document_hover_async(lsp.HoverParams(doc.ident, at)),
            client.text_document_inlay_hint_async(lsp.InlayHintParams(doc.ident, whole)),
        ]
        if i % 7 == 0 or i == len(text):
            pending.append(client.text_document_document_symbol_async(lsp.DocumentSymbolParams(doc.ident)))
            pending.append(
                client.text_document_code_action_async(
                    lsp.CodeActionParams(doc.ident, whole, lsp.CodeActionContext(diagnostics=[]))
                )
            )
    results = await asyncio.gather(*pending, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    diagnostics = await doc.diagnostics()
    errors = [m.message for m in client.log_messages if m.type == lsp.MessageType.Error]
    assert not errors, errors[:3]
    assert all(d.code != "internal-error" for d in diagnostics)
    # The whole spec, typed to its end, is the valid example it is: no error (its expected warnings aside).
    assert not [d for d in diagnostics if d.severity == lsp.DiagnosticSeverity.Error], diagnostics
    doc.close()
