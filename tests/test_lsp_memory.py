"""`kspec lsp` keeps nothing per edit: a long editing session does not grow the server (bench/bench_lsp.py measures
its resident memory over 1,000 edits; this pins the leak that measurement found, deterministically)."""

from __future__ import annotations

import gc
import tracemalloc

from lsprotocol import types as lsp

from kspec.lsp.server import make_server
from tests.lsp_client import ROOT


def _session():
    server = make_server()
    server.text_document_publish_diagnostics = lambda params: None  # type: ignore[method-assign]
    protocol = server.protocol
    protocol.handle_message(
        lsp.InitializeRequest(id=1, params=lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=ROOT.as_uri(), initialization_options={"debounce": 0}))
    )
    uri = (ROOT / "specs" / "mnist_cnn.yaml").as_uri()
    text = (ROOT / "specs" / "mnist_cnn.yaml").read_text()
    protocol.handle_message(
        lsp.DidOpenTextDocumentNotification(params=lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "yaml", 1, text)))
    )

    def edit(version: int) -> None:
        new = text.replace("filters: 32", f"filters: {32 + version % 2}")
        protocol.handle_message(
            lsp.DidChangeTextDocumentNotification(
                params=lsp.DidChangeTextDocumentParams(
                    lsp.VersionedTextDocumentIdentifier(version=version, uri=uri),
                    [lsp.TextDocumentContentChangeWholeDocument(new)],
                )
            )
        )

    return server, edit


def test_the_server_keeps_nothing_per_edit() -> None:
    server, edit = _session()
    for version in range(2, 52):
        edit(version)
    # pygls 2.1 kept the future of every notification (kspec.lsp.server._Protocol lets them go).
    assert len(server.protocol._request_futures) <= 1
    gc.collect()
    tracemalloc.start()
    try:
        for version in range(52, 152):
            edit(version)
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for version in range(152, 452):
            edit(version)
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 300 more edits: what is allocated and still held is the same, give or take one analysis of the document.
    assert last - first < 64 * 1024, (first, last)
    assert len(server.analyses) == 1
