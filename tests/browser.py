"""A headless browser for the report's page tests: Playwright driving Debian's Chromium (/usr/bin/chromium).

Playwright never downloads a browser here: it launches the system one (KSPEC_CHROMIUM names another). Without
Chromium or Playwright the tests that use `browser_page` are skipped, with the reason; with
KSPEC_REQUIRE_BROWSER=1 (set by scripts/_browser.sh where it can install Chromium) they fail instead.

Import the fixtures by their function names (`chromium_browser_fixture`, `browser_page_fixture`); tests ask
for `chromium_browser` and `browser_page`. `browser_page` gives a `BrowserPage`: every request that is not file:, data: or about: is blocked and recorded
(the page must work offline), console errors and page errors are collected, and dialogs (alert, confirm) are
recorded and dismissed; `open(path)` loads a file and waits for `body[data-ready="1"]`.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REQUIRE = "KSPEC_REQUIRE_BROWSER"
#: Milliseconds a page may take to load and draw before a test fails.
READY_TIMEOUT_MS = 15_000
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def chromium_path() -> str | None:
    """The Chromium to launch: KSPEC_CHROMIUM, else Debian's /usr/bin/chromium, else one on PATH."""
    for candidate in (os.environ.get("KSPEC_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable(reason: str) -> None:
    """Skip, or fail where the browser is required (KSPEC_REQUIRE_BROWSER=1)."""
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason} ({REQUIRE}=1: the browser tests must run here)")
    pytest.skip(reason)


@dataclass
class BrowserPage:
    """A Playwright page with what it did recorded."""

    page: Any
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, path: str | Path) -> Any:
        """Load the file at `path` and wait until report.js says it is done; return the Playwright page."""
        self.page.goto(Path(path).resolve().as_uri())
        self.page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=READY_TIMEOUT_MS)
        return self.page

    def screenshot(self, selector: str) -> bytes:
        """A PNG of the first element matching `selector`, scrolled into view."""
        element = self.page.locator(selector).first
        element.scroll_into_view_if_needed()
        return element.screenshot()


def nonblank(png: bytes, min_colours: int = 3) -> bool:
    """Whether a PNG shows something: more than `min_colours` distinct colours (a blank box has one or two)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16)
    return colours is None or len(colours) > min_colours


def saturated_pixels(png: bytes, spread: int = 60) -> int:
    """How many pixels of a PNG are clearly coloured (channels spread by more than `spread`): data drawn in the
    palette's colours, where axes, grid lines and labels are grey."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(count for count, (r, g, b) in image.getcolors(maxcolors=1 << 24) if max(r, g, b) - min(r, g, b) > spread)


@pytest.fixture(scope="module", name="chromium_browser")
def chromium_browser_fixture() -> Iterator[Any]:
    """Debian's Chromium, launched headless once per test module."""
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium is not installed (Debian: apt-get install chromium; scripts/_browser.sh does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install playwright; no browser download is needed)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(name="browser_page")
def browser_page_fixture(chromium_browser: Any) -> Iterator[BrowserPage]:
    """A fresh page (1280x900) that blocks and records every non-local request."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    page = context.new_page()
    recorded = BrowserPage(page)

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            recorded.external.append(url)
            route.abort()

    def dialog(dialog: Any) -> None:
        recorded.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    context.route("**/*", route)
    page.on("console", lambda message: recorded.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: recorded.errors.append(f"page error: {error}"))
    page.on("dialog", dialog)
    try:
        yield recorded
    finally:
        context.close()


def open_once(path: str | Path) -> BrowserPage | None:
    """Open one page in a Chromium launched for it, outside any fixture (for tests whose subject is not the
    browser): what the page did, with the number of drawn charts and sections in `errors`' company; None where
    there is no browser (a failure under KSPEC_REQUIRE_BROWSER=1)."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"no Chromium or Playwright ({REQUIRE}=1: the browser checks must run here)")
        return None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            recorded = BrowserPage(context.new_page())

            def route(route: Any) -> None:
                if route.request.url.startswith(LOCAL_SCHEMES):
                    route.continue_()
                else:
                    recorded.external.append(route.request.url)
                    route.abort()

            context.route("**/*", route)
            recorded.page.on("console", lambda m: recorded.errors.append(m.text) if m.type == "error" else None)
            recorded.page.on("pageerror", lambda error: recorded.errors.append(f"page error: {error}"))
            recorded.page.on("dialog", lambda d: (recorded.dialogs.append(d.message), d.dismiss()))
            page = recorded.open(path)
            recorded.charts = page.locator("[data-chart]").count()  # type: ignore[attr-defined]
            recorded.sections = page.eval_on_selector_all("section[id]", "els => els.map(e => e.id)")  # type: ignore[attr-defined]
            recorded.error_boxes = page.locator(".kspec-error:not([hidden])").count()  # type: ignore[attr-defined]
        finally:
            browser.close()
    return recorded
