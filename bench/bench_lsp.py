"""Benchmark: `kspec lsp` on specs/resnet50.yaml (176 layers from 3 nested blocks), against yaml-language-server
validating the same file against the JSON Schema, in one run.

1. In-process (the server object, no pipe): from a change notification (`textDocument/didChange`, handled as the
   server handles it) to the diagnostics handed to the transport, median of N edits; then hover and inlay hints
   on the changed document (each on a fresh version, so nothing is cached but the parsed YAML of nothing).
2. Over stdio, as an editor sees it: `kspec lsp` and yaml-language-server (npm, `.node/`, installed by
   scripts/_yamlls.sh; or KSPEC_YAMLLS) are each driven by pygls's client. The time from sending didChange to
   receiving publishDiagnostics for that version, median of N edits; hover and inlay hints round trips.
3. Memory: the `kspec lsp` process's resident set (VmRSS) after 0, 250, 500, 750 and 1,000 edits of the document.

Each edit changes one number of the spec (a Conv2D's filters), alternating, so every edit is a new version that
checks in full. kspec's debounce is set to 0 for the timings (the default is 20 ms, also measured);
yaml-language-server waits a fixed 200 ms before it validates, so both the figures as shipped and without either
delay are compared. Prints figures and ratios
against the issue's targets (diagnostics 50 ms, hover and inlay hints 20 ms). It reports; it does not pass or fail.

Run: python bench/bench_lsp.py [--edits 200] [--memory-edits 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet50.yaml"
YAMLLS = os.environ.get("KSPEC_YAMLLS") or str(ROOT / ".node" / "node_modules" / ".bin" / "yaml-language-server")
NEEDLE = "filters: 64, kernel_size: 7"
#: yaml-language-server 1.25 validates a changed document `validationDelayMs` after the change, fixed at 200 ms.
YAMLLS_DELAY = 0.200


def versions(text: str, n: int) -> list[str]:
    """n texts, each a one-number edit of the last."""
    return [text.replace(NEEDLE, NEEDLE.replace("64", str(64 + (i % 2) + 1))) for i in range(n)]


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms (p90 {sorted(values)[int(len(values) * 0.9)] * 1000:.1f})"


# ---- 1. in process ---------------------------------------------------------------------------------------------


def in_process(edits: int) -> dict[str, list[float]]:
    from kspec.lsp import features
    from kspec.lsp.server import make_server

    server = make_server()
    published: list[float] = []
    server.text_document_publish_diagnostics = lambda params: published.append(time.perf_counter())  # type: ignore[method-assign]
    # The protocol's own initialize (a generator that sets up the workspace before it calls the server's handler).
    next(server.protocol.lsp_initialize(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=ROOT.as_uri())))
    server.debounce = 0
    uri = SPEC.as_uri()
    text = SPEC.read_text()
    server.workspace.put_text_document(lsp.TextDocumentItem(uri, "yaml", 0, text))
    handlers = server.protocol.fm.features
    change = handlers[lsp.TEXT_DOCUMENT_DID_CHANGE]
    hover = handlers[lsp.TEXT_DOCUMENT_HOVER]
    inlay = handlers[lsp.TEXT_DOCUMENT_INLAY_HINT]
    line = next(i for i, t in enumerate(text.splitlines()) if NEEDLE in t)
    column = text.splitlines()[line].index("Conv2D") + 2
    out: dict[str, list[float]] = {"diagnostics": [], "hover": [], "inlay hints": []}
    for i, new in enumerate(versions(text, edits), 1):
        params = lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=i, uri=uri), [lsp.TextDocumentContentChangeWholeDocument(new)]
        )
        start = time.perf_counter()
        server.workspace.update_text_document(params.text_document, params.content_changes[0])
        change(params)
        out["diagnostics"].append(published[-1] - start)
        # Hover and inlay hints on the version just checked (the editor asks right after the change).
        start = time.perf_counter()
        hover(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(line, column)))
        out["hover"].append(time.perf_counter() - start)
        start = time.perf_counter()
        inlay(lsp.InlayHintParams(lsp.TextDocumentIdentifier(uri), lsp.Range(lsp.Position(0, 0), lsp.Position(200, 0))))
        out["inlay hints"].append(time.perf_counter() - start)
    # What a check itself costs (kspec.check on the text), for reference.
    import kspec

    checks = []
    for new in versions(text, edits)[:50]:
        start = time.perf_counter()
        kspec.check(new)
        checks.append(time.perf_counter() - start)
    out["kspec.check alone"] = checks
    assert features  # the features module is what the handlers call
    return out


# ---- 2. over stdio -----------------------------------------------------------------------------------------------


async def over_stdio(
    command: list[str], edits: int, *, kspec: bool, memory_edits: int = 0, debounce_ms: int = 0
) -> dict[str, Any]:
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("bench", "1")
    arrived: dict[int, float] = {}
    waiters: dict[int, asyncio.Future] = {}

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        version = params.version if params.version is not None else -1
        arrived[version] = time.perf_counter()
        for v, future in list(waiters.items()):
            if (version == v or (version == -1 and v in waiters)) and not future.done():
                future.set_result(len(params.diagnostics))
                waiters.pop(v, None)
                break

    @client.feature(lsp.WORKSPACE_CONFIGURATION)
    def configuration(params: lsp.ConfigurationParams) -> list[Any]:
        return [{"validate": True, "hover": True, "completion": True, "schemas": {}} for _ in params.items]

    await client.start_io(*command)
    capabilities = lsp.ClientCapabilities(
        text_document=lsp.TextDocumentClientCapabilities(
            publish_diagnostics=lsp.PublishDiagnosticsClientCapabilities(version_support=True),
            hover=lsp.HoverClientCapabilities(content_format=[lsp.MarkupKind.Markdown]),
            inlay_hint=lsp.InlayHintClientCapabilities(),
        ),
        workspace=lsp.WorkspaceClientCapabilities(configuration=True),
    )
    await client.initialize_async(
        lsp.InitializeParams(
            capabilities=capabilities,
            root_uri=ROOT.as_uri(),
            initialization_options={"debounce": debounce_ms} if kspec else None,
        )
    )
    client.initialized(lsp.InitializedParams())
    if not kspec:
        client.workspace_did_change_configuration(
            lsp.DidChangeConfigurationParams({"yaml": {"validate": True, "hover": True, "schemas": {}}})
        )
    uri = SPEC.as_uri()
    text = SPEC.read_text()
    loop = asyncio.get_running_loop()

    async def send(version: int, new: str) -> float:
        waiters[version] = loop.create_future()
        start = time.perf_counter()
        if version == 1:
            client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "yaml", 1, new)))
        else:
            client.text_document_did_change(
                lsp.DidChangeTextDocumentParams(
                    lsp.VersionedTextDocumentIdentifier(version=version, uri=uri),
                    [lsp.TextDocumentContentChangeWholeDocument(new)],
                )
            )
        await asyncio.wait_for(waiters[version], 60)
        return time.perf_counter() - start

    first = await send(1, text)
    line = next(i for i, t in enumerate(text.splitlines()) if NEEDLE in t)
    column = text.splitlines()[line].index("Conv2D") + 2
    out: dict[str, Any] = {"open": [first], "diagnostics": [], "hover": [], "inlay hints": []}
    for i, new in enumerate(versions(text, edits), 2):
        out["diagnostics"].append(await send(i, new))
        start = time.perf_counter()
        await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(line, column)))
        out["hover"].append(time.perf_counter() - start)
        if kspec:
            start = time.perf_counter()
            await client.text_document_inlay_hint_async(
                lsp.InlayHintParams(lsp.TextDocumentIdentifier(uri), lsp.Range(lsp.Position(0, 0), lsp.Position(200, 0)))
            )
            out["inlay hints"].append(time.perf_counter() - start)
    if memory_edits:
        pid = client._server.pid  # type: ignore[union-attr]
        rss = [(0, _rss(pid))]
        version = edits + 2
        for i, new in enumerate(versions(text, memory_edits), 1):
            await send(version, new)
            version += 1
            if i % 250 == 0:
                rss.append((i, _rss(pid)))
        out["rss"] = rss
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return out


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--memory-edits", type=int, default=1000)
    args = parser.parse_args()
    print(f"spec: {SPEC.relative_to(ROOT)} ({len(SPEC.read_text().splitlines())} lines), {args.edits} edits")

    local = in_process(args.edits)
    print("\n1. in process (kspec lsp's handlers, no pipe)")
    for name, values in local.items():
        print(f"  {name:<32} {ms(values)}")
    kspec_cmd = [sys.executable, "-m", "kspec.cli", "lsp"]
    remote = asyncio.run(over_stdio(kspec_cmd, args.edits, kspec=True, memory_edits=args.memory_edits))
    print("\n2. over stdio")
    print(f"  kspec lsp: open -> diagnostics    {remote['open'][0] * 1000:.1f} ms")
    for name in ("diagnostics", "hover", "inlay hints"):
        print(f"  kspec lsp: {name:<22} {ms(remote[name])}")
    shipped = asyncio.run(over_stdio(kspec_cmd, min(args.edits, 50), kspec=True, debounce_ms=20))
    print(f"  kspec lsp, its default debounce (20 ms): diagnostics {ms(shipped['diagnostics'])}")
    yamlls = None
    if Path(YAMLLS).exists():
        yamlls = asyncio.run(over_stdio([YAMLLS, "--stdio"], args.edits, kspec=False))
        print(f"  yaml-language-server: open -> diagnostics {yamlls['open'][0] * 1000:.1f} ms")
        for name in ("diagnostics", "hover"):
            print(f"  yaml-language-server: {name:<12} {ms(yamlls[name])}")
        print(
            f"  (yaml-language-server waits a fixed {YAMLLS_DELAY * 1000:.0f} ms, its validationDelayMs, before it validates: "
            f"{(statistics.median(yamlls['diagnostics']) - YAMLLS_DELAY) * 1000:.1f} ms is the validation itself)"
        )
    else:
        print(f"  yaml-language-server: not found at {YAMLLS} (source scripts/_yamlls.sh)")

    print("\n3. memory of the kspec lsp process (VmRSS)")
    for edits, rss in remote["rss"]:
        print(f"  after {edits:>5} edits: {rss / 2**20:.1f} MiB")
    first, last = remote["rss"][1][1], remote["rss"][-1][1]
    print(f"  growth from 250 to {remote['rss'][-1][0]} edits: {(last - first) / 2**20:+.2f} MiB ({last / first:.3f}x)")

    med = statistics.median
    print("\nratios")
    print(f"  in-process change -> diagnostics: {med(local['diagnostics']) * 1000:.1f} ms, target 50 ms: {0.050 / med(local['diagnostics']):.1f}x under")
    print(f"  in-process hover: {med(local['hover']) * 1000:.2f} ms, target 20 ms: {0.020 / med(local['hover']):.0f}x under")
    print(f"  in-process inlay hints: {med(local['inlay hints']) * 1000:.2f} ms, target 20 ms: {0.020 / med(local['inlay hints']):.0f}x under")
    print(f"  stdio change -> diagnostics: {med(remote['diagnostics']) * 1000:.1f} ms, target 50 ms: {0.050 / med(remote['diagnostics']):.1f}x under")
    if yamlls is not None:
        ratio = med(remote["diagnostics"]) / med(yamlls["diagnostics"])
        print(
            f"  kspec lsp (schema + graph + every shape) vs yaml-language-server (schema only), change -> diagnostics "
            f"over stdio: {med(remote['diagnostics']) * 1000:.1f} ms vs {med(yamlls['diagnostics']) * 1000:.1f} ms = {ratio:.2f}x"
        )
        print(
            f"  as shipped (kspec's 20 ms debounce, yaml-language-server's 200 ms delay): "
            f"{med(shipped['diagnostics']) * 1000:.1f} ms vs {med(yamlls['diagnostics']) * 1000:.1f} ms = "
            f"{med(shipped['diagnostics']) / med(yamlls['diagnostics']):.2f}x; without either delay: "
            f"{med(remote['diagnostics']) * 1000:.1f} ms vs {(med(yamlls['diagnostics']) - YAMLLS_DELAY) * 1000:.1f} ms = "
            f"{med(remote['diagnostics']) / (med(yamlls['diagnostics']) - YAMLLS_DELAY):.2f}x"
        )


if __name__ == "__main__":
    main()
