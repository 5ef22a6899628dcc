"""Make README's screenshots of `kspec report` again, from real runs.

Trains specs/digits_cnn.yaml twice for 15 epochs, once as written (Dropout rate 0.3) and once with
`--set model.layers.5.rate=0.5`, into a work directory outside the repository (default
/tmp/kspec-report-screenshots; runs already there are reused unless --retrain), writes the two-run report
(`kspec report RUN1 RUN2 -o both.html`), opens the pages in headless Chromium (Debian's /usr/bin/chromium
driven by Playwright, offline: every request that is not local is blocked) with a 1280 px wide viewport, and
crops three sections:

    docs/img/report-run.png       the first run: run table, model graph and layer table, training curves
    docs/img/report-analysis.png  "Where the model errs": confusion matrix, per-class table, PR/ROC/calibration,
                                  the most confident mistakes
    docs/img/report-compare.png   the comparison of the two runs: metrics side by side, curves, spec diff

Each is scaled to --width px (default 1000) and written as an optimised PNG, reduced to a 256-colour palette
when that is what keeps it under --max-kb (default 250).

Run: python bench/screenshots_report.py [--work DIR] [--out docs/img] [--retrain]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "digits_cnn.yaml"
RUNS = {
    "digits_cnn-dropout0.3": ["training.epochs=15"],
    "digits_cnn-dropout0.5": ["training.epochs=15", "model.layers.5.rate=0.5"],
}
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
VIEWPORT: Any = {"width": 1280, "height": 900}


def kspec_command() -> list[str]:
    script = Path(sys.executable).with_name("kspec")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from kspec.cli import entry; entry()"]


def run(argv: list[str]) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}{proc.stdout}")
    print(proc.stdout.strip() or " ".join(argv))


def train(work: Path, retrain: bool) -> list[Path]:
    dirs = []
    for name, overrides in RUNS.items():
        run_dir = work / name
        if retrain and run_dir.exists():
            shutil.rmtree(run_dir)
        if not (run_dir / "report.html").is_file():
            if run_dir.exists():
                shutil.rmtree(run_dir)
            argv = [*kspec_command(), "build-and-train", str(SPEC), "-o", str(run_dir), "-q"]
            for item in overrides:
                argv += ["--set", item]
            run(argv)
        dirs.append(run_dir)
    return dirs


def chromium() -> str:
    for candidate in (os.environ.get("KSPEC_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise SystemExit("Chromium is not installed (Debian: apt-get install chromium); set KSPEC_CHROMIUM.")
    return found


def save_png(png: bytes, target: Path, width: int, max_kb: int) -> str:
    """Scale `png` to `width` px, write it optimised (as a palette image if the full-colour one is too big)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    mode = "RGB"
    if buffer.tell() > max_kb * 1000:
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            buffer, format="PNG", optimize=True
        )
        mode = "256 colours"
    target.write_bytes(buffer.getvalue())
    return f"{target} {image.width}x{image.height} {buffer.tell() / 1000:.0f} KB ({mode})"


def shoot(page_path: Path, shots: list[tuple[str, str, Path]], width: int, max_kb: int) -> None:
    """Open `page_path` and save, for each (first selector, last selector, file), the region from the top of
    the first element to the bottom of the last."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, service_workers="block")
            blocked: list[str] = []
            errors: list[str] = []

            def route(route):
                if route.request.url.startswith(LOCAL_SCHEMES):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=30_000)
            page.wait_for_timeout(300)
            if errors or blocked:
                raise SystemExit(f"{page_path}: console errors {errors}, blocked requests {blocked}")
            for first, last, target in shots:
                top = page.locator(first).first.bounding_box()
                bottom = page.locator(last).first.bounding_box()
                if top is None or bottom is None:
                    raise SystemExit(f"{page_path}: no element {first!r} or {last!r} to screenshot")
                scroll = page.evaluate("() => [window.scrollX, window.scrollY]")
                x, y = top["x"] + scroll[0], top["y"] + scroll[1]
                height = bottom["y"] + scroll[1] + bottom["height"] - y
                pad = 8
                clip: Any = {"x": max(0, x - pad), "y": max(0, y - pad), "width": top["width"] + 2 * pad,
                        "height": height + 2 * pad}  # fmt: skip
                png = page.screenshot(clip=clip, full_page=True)
                print(save_png(png, target, width, max_kb))
            context.close()
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/kspec-report-screenshots"),
                        help="where the runs and both.html go (outside the repository)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--retrain", action="store_true", help="train the runs again even if they exist")
    parser.add_argument("--width", type=int, default=1000, help="scale the screenshots to this width (px)")
    parser.add_argument("--max-kb", type=int, default=250)
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    first, second = train(args.work, args.retrain)
    both = args.work / "both.html"
    run([*kspec_command(), "report", str(first), str(second), "-o", str(both)])
    shoot(
        first / "report.html",
        [
            ("#run-run0", "#curves-run0", args.out / "report-run.png"),
            ("#analysis-run0", "#analysis-run0", args.out / "report-analysis.png"),
        ],
        args.width,
        args.max_kb,
    )
    shoot(both, [("#compare", "#compare", args.out / "report-compare.png")], args.width, args.max_kb)


if __name__ == "__main__":
    main()
