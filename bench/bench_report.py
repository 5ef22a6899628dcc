"""Benchmark: `kspec report` on a 100-epoch run with about 1,000 test examples, in one run.

The run: specs/digits_cnn.yaml trained for 100 epochs with 56% of the 1,797 digits held out as the test split
(1,007 test examples) and batch size 128, in a fresh `kspec build-and-train` process into a temporary
directory (or an existing run with --run-dir). Then:
  1. the size of the run's report.html, and what takes it: the inlined scripts (uPlot, dagre, report.js), the
     styles, the page data (the JSON the charts are drawn from), and the HTML itself (tables, thumbnails);
  2. Python time to collect and render the page (`kspec.report.write_report`): the first call in this process
     (Jinja2 imported, the template compiled) and the median of N calls after it;
  3. headless Chromium (Debian's /usr/bin/chromium driven by Playwright, as tests/browser.py does; offline:
     every request that is not file:, data:, about: or blob: is blocked and counted), N fresh pages (a new
     browser context each): the time from the navigation's start to body[data-ready="1"] (report.js sets it
     when every chart and the graph are drawn; recorded in the page by a MutationObserver installed before
     any of the page's scripts, read from performance.now()), the load event (navigation timing), and the
     wall time around goto + wait for the ready attribute; medians.
Prints the figures and the ratios against the issue's targets (the page opens in under 2 s; the page is
small: against the run's model.keras). It reports; it does not pass or fail. The machine's other load shows
in the times: on a shared 2-core machine they vary by tens of percent.

Run: python bench/bench_report.py [--runs 5] [--run-dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "digits_cnn.yaml"
OVERRIDES = ["training.epochs=100", "data.test_split=0.56", "training.batch_size=128"]
OPEN_TARGET_S = 2.0
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

# Installed before the page's own scripts: records performance.now() when report.js marks the body ready.
READY_PROBE = """
(() => {
  const seen = () => {
    if (window.__kspecReady === undefined && document.body && document.body.dataset.ready === "1") {
      window.__kspecReady = performance.now();
    }
  };
  new MutationObserver(seen).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-ready"]});
})();
"""


def kspec_command() -> list[str]:
    script = Path(sys.executable).with_name("kspec")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from kspec.cli import entry; entry()"]


def train(run_dir: Path) -> float:
    """Train the benchmark's run into `run_dir` in a fresh process; its wall seconds."""
    argv = [*kspec_command(), "build-and-train", str(SPEC), "-o", str(run_dir), "-q"]
    for item in OVERRIDES:
        argv += ["--set", item]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}{proc.stdout}")
    return time.perf_counter() - start


def size_parts(text: str) -> dict[str, int]:
    """Bytes (UTF-8) of the page's parts: inlined scripts, styles, page data JSON, the rest (HTML)."""
    parts = {"scripts": 0, "styles": 0, "data": 0, "thumbnails": 0}
    for match in re.finditer(r"<(script|style)([^>]*)>(.*?)</\1>", text, re.S):
        n = len(match.group(3).encode("utf-8"))
        if match.group(1) == "style":
            parts["styles"] += n
        elif "application/json" in match.group(2):
            parts["data"] += n
        else:
            parts["scripts"] += n
    html_only = re.sub(r"<(script|style)([^>]*)>(.*?)</\1>", "", text, flags=re.S)
    parts["thumbnails"] = sum(len(m) for m in re.findall(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", html_only))
    parts["html"] = len(html_only.encode("utf-8"))
    parts["total"] = len(text.encode("utf-8"))
    return parts


def time_python(run_dir: Path, out: Path, runs: int) -> tuple[float, list[float]]:
    from kspec.report import write_report

    start = time.perf_counter()
    write_report([run_dir], out)
    first = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        write_report([run_dir], out)
        times.append(time.perf_counter() - start)
    return first, times


def chromium() -> str:
    for candidate in (os.environ.get("KSPEC_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise SystemExit("Chromium is not installed (Debian: apt-get install chromium); set KSPEC_CHROMIUM.")
    return found


def time_browser(page_path: Path, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    url = page_path.resolve().as_uri()
    ready: list[float] = []
    load: list[float] = []
    dcl: list[float] = []
    wall: list[float] = []
    blocked: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        start = time.perf_counter()
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        launch = time.perf_counter() - start
        try:
            for i in range(runs + 1):  # the first page warms the browser's caches; it is not counted
                context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")

                def route(route, context_blocked=blocked):
                    if route.request.url.startswith(LOCAL_SCHEMES):
                        route.continue_()
                    else:
                        context_blocked.append(route.request.url)
                        route.abort()

                context.route("**/*", route)
                context.add_init_script(READY_PROBE)
                page = context.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
                start = time.perf_counter()
                page.goto(url, wait_until="load")
                page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=30_000)
                elapsed = time.perf_counter() - start
                timing = page.evaluate(
                    """() => { const n = performance.getEntriesByType("navigation")[0];
                               return {ready: window.__kspecReady ?? null, load: n.loadEventEnd,
                                       dcl: n.domContentLoadedEventEnd}; }"""
                )
                context.close()
                if i == 0:
                    continue
                wall.append(elapsed)
                load.append(timing["load"] / 1000)
                dcl.append(timing["dcl"] / 1000)
                ready.append((timing["ready"] if timing["ready"] is not None else float("nan")) / 1000)
        finally:
            browser.close()
    return {"launch": launch, "ready": ready, "load": load, "dcl": dcl, "wall": wall,
            "blocked": blocked, "errors": errors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed renders and timed fresh pages")
    parser.add_argument("--run-dir", type=Path, help="an existing run to report on instead of training one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run directory (its path printed)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kspec-bench-report-"))
    try:
        train_s = None
        if args.run_dir:
            run_dir = args.run_dir
        else:
            run_dir = tmp / "run"
            train_s = train(run_dir)
        page_path = tmp / "report.html"  # rendered here by this kspec (the run's own may be older)
        first, renders = time_python(run_dir, page_path, args.runs)
        text = page_path.read_text(encoding="utf-8")
        parts = size_parts(text)
        browser = time_browser(page_path, args.runs)
        model_bytes = (run_dir / "model.keras").stat().st_size if (run_dir / "model.keras").is_file() else None

        import json

        metrics = json.loads((run_dir / "metrics.json").read_text())
        history = json.loads((run_dir / "history.json").read_text())
        epochs = len(history.get("epoch", []))
        import kspec.report.curves as curves

        print(f"run: {run_dir}")
        print(f"spec: {SPEC.relative_to(ROOT)} --set {' --set '.join(OVERRIDES)}")
        print(f"epochs {epochs}   test examples {metrics.get('test_examples')}   "
              f"python {sys.version.split()[0]}   cpus {os.cpu_count()}   "
              f"history points kept {curves.HISTORY_POINTS}")  # fmt: skip
        if train_s is not None:
            print(f"training (fresh process, all artefacts and report.html): {train_s:.1f} s")
        total = parts["total"]

        def kib(n: int) -> str:
            return f"{n / 1024:.1f} KiB"

        def share(n: int) -> str:
            return f"{100 * n / total:.1f}%"

        print()
        print(f"{'report.html':<52}{'size':>12}{'share':>10}")
        for name, key in [
            ("whole page", "total"),
            ("  inlined scripts (uPlot, dagre, report.js)", "scripts"),
            ("  inlined styles", "styles"),
            ("  page data (JSON for the charts and the graph)", "data"),
            ("  HTML (tables, texts, thumbnails)", "html"),
            ("    of which thumbnail images (base64)", "thumbnails"),
        ]:
            print(f"{name:<52}{kib(parts[key]):>12}{share(parts[key]):>10}")

        ready = statistics.median(browser["ready"])
        load = statistics.median(browser["load"])
        dcl = statistics.median(browser["dcl"])
        wall = statistics.median(browser["wall"])
        render_s = statistics.median(renders)
        print()
        print(f"{'measurement':<52}{'value':>12}{'target':>12}{'ratio':>10}")
        rows = [
            ("Python collect+render, first call in process", f"{first:.3f} s", "", ""),
            (f"Python collect+render (median of {len(renders)})", f"{render_s:.3f} s", "", ""),
            ("Chromium launch (once)", f"{browser['launch']:.3f} s", "", ""),
            (f"navigation -> data-ready (median of {len(browser['ready'])})", f"{ready:.3f} s",
             f"< {OPEN_TARGET_S:.1f} s", f"{OPEN_TARGET_S / ready:.2f}x"),
            ("navigation -> DOMContentLoaded (median)", f"{dcl:.3f} s", "", ""),
            ("navigation -> load event end (median)", f"{load:.3f} s", "", ""),
            ("wall: goto + wait for data-ready (median)", f"{wall:.3f} s",
             f"< {OPEN_TARGET_S:.1f} s", f"{OPEN_TARGET_S / wall:.2f}x"),
        ]  # fmt: skip
        if model_bytes:
            rows.append(("model.keras of the run", kib(model_bytes), "", ""))
            rows.append(("report.html / model.keras", f"{total / model_bytes:.3f}", "", ""))
        for name, value, target, ratio in rows:
            print(f"{name:<52}{value:>12}{target:>12}{ratio:>10}")
        print("(ratio column: how far past the target, >1.00x is better than the target)")
        print(f"open time is {100 * ready / OPEN_TARGET_S:.1f}% of the 2 s target (data-ready), "
              f"{100 * wall / OPEN_TARGET_S:.1f}% (wall)")  # fmt: skip
        print(f"each page, data-ready (s): {' '.join(f'{t:.3f}' for t in browser['ready'])}")
        print(f"each page, wall (s):       {' '.join(f'{t:.3f}' for t in browser['wall'])}")
        print(f"each render (s):           {' '.join(f'{t:.3f}' for t in renders)}")
        print(f"external requests blocked: {len(browser['blocked'])}   console/page errors: {len(browser['errors'])}")
        for message in browser["errors"][:5]:
            print(f"  error: {message}")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
