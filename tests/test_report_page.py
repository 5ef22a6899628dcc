"""The report's page in a real browser (headless Debian Chromium through Playwright, tests/browser.py).

Pages are rendered by kspec.report.page.render from the deterministic sample data of tests/report_sample.py
(hostile strings included) into a temporary file and opened from file://, with every non-local request
blocked: each page must load offline without a console error, show every section, draw every chart, keep
user strings as text, and let the graph's blocks collapse and expand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kspec.report import page as report_page
from tests.browser import BrowserPage, browser_page_fixture, chromium_browser_fixture, nonblank, saturated_pixels  # noqa: F401 (fixtures)
from tests.report_sample import HOSTILE, sample_data


def write_page(tmp_path: Path, name: str = "report.html", **options: Any) -> Path:
    path = tmp_path / name
    path.write_text(report_page.render(sample_data(**options)), encoding="utf-8")
    return path


def assert_clean(bp: BrowserPage) -> None:
    """No console or page error, no request off the machine, no dialog, no error box shown."""
    assert bp.errors == []
    assert bp.external == []
    assert bp.dialogs == []
    assert bp.page.locator(".kspec-error:visible").count() == 0


def node_count(page: Any, run: str = "run0") -> int:
    return page.locator(f'[data-chart="graph-{run}"] svg g.node').count()


def test_page_loads_offline_without_errors(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path))
    assert page.title() == "kspec report: digits_cnn"
    assert_clean(browser_page)


def test_every_section_is_present_and_linked(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path, runs=2, study=True))
    ids = [f"{kind}-run{i}" for i in (0, 1) for kind in ("run", "graph", "curves", "analysis", "explain")]
    for section in [*ids, "compare", "study"]:
        assert page.locator(f"section#{section}").count() == 1, section
    targets = page.eval_on_selector_all("nav.topnav a", "links => links.map(a => a.getAttribute('href'))")
    assert set(targets) >= {f"#{section}" for section in [*ids, "compare", "study"]}
    for target in targets:
        assert page.locator(target).count() == 1, target
    assert_clean(browser_page)


def test_every_chart_is_drawn(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path, runs=2, study=True))
    charts = page.eval_on_selector_all("[data-chart]", "els => els.map(e => e.dataset.chart)")
    expected = {"graph-run0", "curve-run0-0", "curve-run0-1", "pr-run0-0", "roc-run0-0", "cal-run0-0",
                "scatter-run0-1", "resid-run0-1", "compare-0", "compare-1", "study-history", "study-importances"}  # fmt: skip
    assert expected <= set(charts)
    for chart in charts:
        drawing = f'[data-chart="{chart}"] canvas, [data-chart="{chart}"] svg, [data-chart="{chart}"] .bar'
        assert page.locator(drawing).count() > 0, f"{chart}: nothing drawn"
        png = browser_page.screenshot(drawing)  # the plot itself (without the legend) or the graph
        assert nonblank(png), f"{chart}: blank screenshot"
        assert saturated_pixels(png) > 30, f"{chart}: only grey (axes but no data?)"
    assert_clean(browser_page)


def test_hostile_strings_show_as_text(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path, runs=2))
    assert browser_page.dialogs == []
    matrix = page.locator("#analysis-run0 table.confusion")
    assert HOSTILE in matrix.locator("thead").inner_text()
    assert HOSTILE in matrix.locator("tbody th").nth(2).inner_text()
    assert page.locator("#analysis-run0 table.confusion th", has_text=HOSTILE).first.is_visible()
    # The spec's "</script>" is text in the spec block, and no script element came from the data.
    page.locator("#run-run0 details.spec summary").click()
    assert "</script><b>bold</b>" in page.locator("#run-run0 pre.code").inner_text()
    assert page.locator("main script, main b:text('bold')").count() == 0
    assert page.locator("script").count() == 4  # the page data, uPlot, dagre, report.js
    # Mistake snippets, table fields and text tokens are text too.
    assert "<b>markup</b>" in page.locator("#analysis-run0 .mistake .snippet").inner_text()
    assert "<i>Paris</i>" in page.locator("#analysis-run0 .mistake table.fields").inner_text()
    assert page.locator("#explain-run1 .tok", has_text=HOSTILE).count() == 1
    # The page data round-trips: the JSON in the page holds the hostile name unchanged.
    names = page.evaluate("JSON.parse(document.getElementById('kspec-data').textContent).runs[0].spec_text")
    assert "</script>" in names
    assert_clean(browser_page)


def test_graph_blocks_collapse_and_expand(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path))
    expanded = node_count(page)
    assert expanded == 13  # every layer and input drawn
    assert page.locator('[data-chart="graph-run0"] g.node.role-input').count() == 1
    assert page.locator('[data-chart="graph-run0"] g.node.role-output').count() == 2
    assert page.locator('[data-chart="graph-run0"] g.node.shares').count() == 1
    assert page.locator('[data-chart="graph-run0"] path.edge.shared').count() == 1
    page.locator('[data-chart="graph-run0"] g.cluster[data-group="block0/inner"] text').click()
    assert node_count(page) == expanded - 1  # bn and relu became one box
    page.locator('[data-chart="graph-run0"] g.cluster[data-group="block0"] > text').click()
    assert node_count(page) == expanded - 2  # conv_a and the inner box became one box
    box = page.locator('[data-chart="graph-run0"] g.node.group[data-group="block0"]')
    assert "block conv_block ×3 nodes" in box.text_content()
    box.click()
    assert node_count(page) == expanded - 1  # the inner block is still collapsed
    page.locator('[data-chart="graph-run0"] g.node.group[data-group="block0/inner"]').click()
    assert node_count(page) == expanded
    assert_clean(browser_page)


def test_big_graph_starts_with_its_blocks_collapsed(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path, big_graph=True))
    assert page.locator('[data-chart="graph-run0"] g.node.group').count() == 4
    collapsed = node_count(page)
    page.locator('[data-chart="graph-run0"] g.node.group[data-group="block2"]').click()
    assert node_count(page) == collapsed - 1 + 17  # its 17 nodes (its inner block was not collapsed)
    assert_clean(browser_page)


def test_hover_on_a_curve_shows_values_in_the_legend(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path))
    chart = page.locator('[data-chart="curve-run0-0"]')
    chart.scroll_into_view_if_needed()
    values = chart.locator(".u-legend .u-value")
    before = values.all_inner_texts()
    assert not any(any(c.isdigit() for c in text) for text in before[1:])
    box = chart.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    after = values.all_inner_texts()
    assert all(any(c.isdigit() for c in text) for text in after), after
    assert_clean(browser_page)


def test_two_runs_are_compared(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path, runs=2))
    compare = page.locator("#compare")
    header = compare.locator("table thead").inner_text()
    assert "digits_cnn" in header and "digits_cnn_1" in header
    assert compare.locator('[data-chart="compare-0"] .u-legend').inner_text().count("digits_cnn") == 2
    assert compare.locator("pre.diff span.add").inner_text().strip() == "+  seed: 8"
    assert compare.locator("pre.diff span.del").inner_text().strip() == "-  seed: 7"
    tokens = page.locator("#explain-run1 .tok")
    assert tokens.count() == 7
    assert tokens.first.get_attribute("title") == "-1.000"
    assert_clean(browser_page)


def test_study_page(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path, runs=0, study=True))
    study = page.locator("#study")
    assert study.locator("table.trials tbody tr").count() == 12
    assert study.locator("table.trials tr.best td").first.inner_text() == "5"
    assert study.locator('[data-chart="study-history"] canvas').count() > 0
    assert "best so far" in study.locator('[data-chart="study-history"] .u-legend').inner_text()
    assert study.locator('[data-chart="study-importances"] .bar').count() == 2
    assert page.locator("section[id^='run-']").count() == 0
    assert_clean(browser_page)


def test_large_run_page_draws_without_errors(tmp_path, browser_page):
    path = write_page(tmp_path, epochs=100, examples=1000, big_graph=True)
    page = browser_page.open(path)
    assert page.locator("[data-chart] canvas").count() >= 7
    assert_clean(browser_page)


def test_tables_show_without_javascript(tmp_path, chromium_browser):
    context = chromium_browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(write_page(tmp_path).as_uri())
        assert page.locator("#analysis-run0 table.confusion").is_visible()
        assert page.locator("#graph-run0 .layers table tbody tr").count() == 13
        assert page.locator("#curves-run0 ul.events li").count() == 6
    finally:
        context.close()


def test_requests_off_the_machine_are_blocked_and_recorded(tmp_path, browser_page):
    page = browser_page.open(write_page(tmp_path))
    page.evaluate("fetch('https://example.com/x.js').catch(() => null)")
    page.wait_for_timeout(200)
    assert browser_page.external == ["https://example.com/x.js"]


def test_a_failure_shows_an_error_box_and_the_rest_still_draws(tmp_path, browser_page):
    # uPlot cannot load (its global stays undefined): every chart fails, the graph and the tables remain.
    browser_page.page.add_init_script("Object.defineProperty(window, 'uPlot', {get() {}, set(v) {}})")
    page = browser_page.open(write_page(tmp_path))
    box = page.locator(".kspec-error")
    assert box.is_visible()
    assert "Could not draw the curves of digits_cnn: uPlot is missing" in box.inner_text()
    assert any("uPlot is missing" in error for error in browser_page.errors)
    assert node_count(page) == 13
    assert page.locator("[data-chart] canvas").count() == 0
