"""`kspec lsp`: the language server, on pygls. One `Analysis` per version of each open document; every feature
reads it. No Keras, no TensorFlow (tests/test_no_tensorflow.py runs a session and checks).

Diagnostics: on open at once, on change after `debounce` seconds without a newer change (edits typed in a burst
are checked once, the last); a feature asked for before that checks the current text itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import attrs
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from .. import __version__
from . import features
from .analysis import Analysis, analyse
from .completion import complete

#: Seconds without a newer change before a changed document is checked again.
DEBOUNCE = 0.02


class _Protocol(LanguageServerProtocol):
    """pygls's protocol, without its leak: pygls 2.1 keeps the future of every notification it hands to a generator
    or coroutine handler (under a fresh id, in `_request_futures`) and never lets it go, so each edit of a document
    (`didChange`, whose built-in handler is a generator) kept about 2.7 KB: 8 MB after 3,000 edits. Here a
    notification's future is dropped once it is done."""

    def _handle_notification(self, method_name: str, params: Any) -> None:
        before = set(self._request_futures)
        super()._handle_notification(method_name, params)
        for key in set(self._request_futures) - before:
            self._request_futures[key].add_done_callback(self._forget(key))

    def _forget(self, key: Any) -> Callable[[Any], None]:
        def forget(_future: Any) -> None:
            self._request_futures.pop(key, None)

        return forget


class KspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("kspec", __version__, protocol_cls=_Protocol)
        self.analyses: dict[str, Analysis] = {}
        self.versions: dict[str, int | None] = {}
        self.pending: dict[str, asyncio.Task] = {}
        self.debounce = DEBOUNCE

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current text (made now if the last one is older)."""
        doc = self.workspace.get_text_document(uri)
        cached = self.analyses.get(uri)
        if cached is not None and self.versions.get(uri) == doc.version and cached.text == doc.source:
            return cached
        a = analyse(doc.source, _file(uri))
        self.analyses[uri], self.versions[uri] = a, doc.version
        return a

    def publish(self, uri: str) -> None:
        doc = self.workspace.get_text_document(uri)
        try:
            a = self.analysis(uri)
            diagnostics = features.diagnostics(a, uri)
        except Exception as exc:  # noqa: BLE001 - a kspec bug is shown in the editor, the server goes on
            diagnostics = [
                lsp.Diagnostic(
                    range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
                    message=f"kspec internal error: {type(exc).__name__}: {exc}. This is a bug in kspec; please report it.",
                    severity=lsp.DiagnosticSeverity.Error,
                    code="internal-error",
                    source="kspec",
                )
            ]
            self.window_log_message(lsp.LogMessageParams(lsp.MessageType.Error, diagnostics[0].message))
            a = None
        if a is not None:
            diagnostics = to_client(diagnostics, doc.lines, self)
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=doc.version)
        )

    def schedule(self, uri: str) -> None:
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()

        async def later() -> None:
            await asyncio.sleep(self.debounce)
            self.pending.pop(uri, None)
            self.publish(uri)

        self.pending[uri] = asyncio.get_event_loop().create_task(later())


def _file(uri: str) -> str | None:
    try:
        return to_fs_path(uri) or uri
    except Exception:  # noqa: BLE001 - an odd URI is shown as it is
        return uri


# ---- positions: the client's units (UTF-16 by default) ----------------------------------------------------


def to_client(result: Any, lines: Any, server: KspecServer) -> Any:
    """Every position in `result` turned from characters into the client's units (only lines with non-ASCII
    text differ)."""
    if all(line.isascii() for line in lines):
        return result
    codec = server.workspace.position_codec

    def convert(obj: Any) -> Any:
        if isinstance(obj, lsp.Position):
            if 0 <= obj.line < len(lines):
                return codec.position_to_client_units(lines, obj)
            return obj
        if isinstance(obj, list):
            return [convert(o) for o in obj]
        if attrs.has(type(obj)):
            changes = {}
            for f in attrs.fields(type(obj)):
                value = getattr(obj, f.name)
                if value is not None and (attrs.has(type(value)) or isinstance(value, list)):
                    changes[f.name] = convert(value)
            return attrs.evolve(obj, **changes) if changes else obj
        if isinstance(obj, dict):
            return {k: convert(v) for k, v in obj.items()}
        return obj

    return convert(result)


def from_client(server: KspecServer, uri: str, position: lsp.Position) -> tuple[int, int]:
    doc = server.workspace.get_text_document(uri)
    lines = doc.lines
    if 0 <= position.line < len(lines) and not lines[position.line].isascii():
        p = doc.position_codec.position_from_client_units(lines, position)
        return p.line, p.character
    return position.line, position.character


def _lines(server: KspecServer, uri: str) -> Any:
    return server.workspace.get_text_document(uri).lines


# ---- the server and its features ---------------------------------------------------------------------------


def make_server() -> KspecServer:
    server = KspecServer()

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: KspecServer, params: lsp.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict) and isinstance(options.get("debounce"), int | float):
            ls.debounce = max(0.0, float(options["debounce"]) / 1000)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: KspecServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: KspecServer, params: lsp.DidChangeTextDocumentParams) -> None:
        if ls.debounce <= 0:
            ls.publish(params.text_document.uri)
        else:
            ls.schedule(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: KspecServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: KspecServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        task = ls.pending.pop(uri, None)
        if task is not None:
            task.cancel()
        ls.analyses.pop(uri, None)
        ls.versions.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT, lsp.InlayHintOptions(resolve_provider=False))
    def inlay_hint(ls: KspecServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
        uri = params.text_document.uri
        a = ls.analysis(uri)
        first, last = params.range.start.line, params.range.end.line
        out = [
            lsp.InlayHint(
                position=lsp.Position(*h.pos),
                label=h.label,
                kind=lsp.InlayHintKind.Type,
                padding_left=True,
            )
            for h in features.hints(a)
            if first <= h.pos[0] <= last
        ]
        return to_client(out, _lines(ls, uri), ls)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: KspecServer, params: lsp.HoverParams) -> lsp.Hover | None:
        uri = params.text_document.uri
        found = features.hover(ls.analysis(uri), from_client(ls, uri, params.position))
        if found is None:
            return None
        text, r = found
        result = lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), features.rng(r))
        return to_client(result, _lines(ls, uri), ls)

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[":", " ", "-", "{", ",", "["])
    )
    def completion(ls: KspecServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        uri = params.text_document.uri
        items = complete(ls.analysis(uri), from_client(ls, uri, params.position))
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: KspecServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
        uri = params.text_document.uri
        found = features.definition(ls.analysis(uri), from_client(ls, uri, params.position))
        return to_client([lsp.Location(uri, features.rng(r)) for r in found], _lines(ls, uri), ls)

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def references(ls: KspecServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
        uri = params.text_document.uri
        found = features.references(
            ls.analysis(uri), from_client(ls, uri, params.position), params.context.include_declaration
        )
        return to_client([lsp.Location(uri, features.rng(r)) for r in found], _lines(ls, uri), ls)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: KspecServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        uri = params.text_document.uri
        return to_client(features.symbols(ls.analysis(uri)), _lines(ls, uri), ls)

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix, lsp.CodeActionKind.Source]),
    )
    def code_action(ls: KspecServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        start = from_client(ls, uri, params.range.start)
        end = from_client(ls, uri, params.range.end)
        actions = features.code_actions(ls.analysis(uri), uri, (start, end), schema_address())
        return to_client(actions, _lines(ls, uri), ls)

    return server


def schema_address() -> str | None:
    """Where the installed package's JSON Schema is, for the modeline."""
    try:
        from ..spec import schema_path
    except ImportError:
        return None
    path = schema_path()
    return str(path) if path.exists() else None


def serve() -> None:
    make_server().start_io()
