"""The report's page: one self-contained HTML file from the page data (`kspec.report.collect`).

The template (templates/report.html.j2) is rendered by Jinja2 with autoescaping, so every string from the
user or the data is escaped where it is put in the HTML; the page data also travels as JSON inside a
`<script type="application/json">`, with `<`, `>` and `&` written as JSON escapes so that no text can close
the element. The scripts (report.js, and uPlot and dagre, vendored with their licences in assets/) and the
styles are inlined: the page needs no network. This module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import Any

ASSETS = {
    "uplot_js": "uPlot.iife.min.js",
    "uplot_css": "uPlot.min.css",
    "dagre_js": "dagre.min.js",
    "report_js": "report.js",
    "report_css": "report.css",
}


class ReportError(Exception):
    """A report that cannot be made (one paragraph for the user) and the exit code."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinity as None (JSON has neither; the page shows a gap)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def script_json(value: Any) -> str:
    """`value` as JSON that is safe inside a <script> element: no `<`, `>` or `&`, and no line separators
    that older parsers take for line ends (each written as its \\uXXXX escape, which JSON reads back)."""
    text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char in ("<", ">", "&", "\u2028", "\u2029"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


@functools.cache
def _assets() -> dict[str, str]:
    folder = resources.files("kspec.report") / "assets"
    return {key: (folder / name).read_text(encoding="utf-8") for key, name in ASSETS.items()}


@functools.cache
def _template() -> Any:
    try:
        import jinja2
    except ImportError:
        raise ReportError(
            "kspec report needs Jinja2, which is not installed: pip install 'kspec[report]' (kspec[train] includes it)."
        ) from None
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kspec.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


def _for_script(data: dict[str, Any]) -> dict[str, Any]:
    """The page data report.js reads: without what only the HTML shows (the highlighted spec, the diffs' HTML,
    the images), which would otherwise be in the page twice."""
    runs = []
    for run in data.get("runs", []):
        run = {k: v for k, v in run.items() if k != "spec_html"}
        analysis = run.get("analysis")
        if analysis:
            outputs = [
                {**o, "mistakes": [{k: v for k, v in m.items() if k != "example"} for m in o.get("mistakes", [])]}
                for o in analysis.get("outputs", [])
            ]
            explanation = analysis.get("explanation")
            if explanation:
                items = [{k: v for k, v in i.items() if k not in ("image", "saliency")} for i in explanation["items"]]
                explanation = {**explanation, "items": items}
            run["analysis"] = {**analysis, "outputs": outputs, "explanation": explanation}
        runs.append(run)
    comparison = data.get("comparison")
    if comparison:
        diffs = [{k: v for k, v in d.items() if k != "html"} for d in comparison.get("diffs", [])]
        comparison = {**{k: v for k, v in comparison.items() if k != "diff_html"}, "diffs": diffs}
    return {**data, "runs": runs, "comparison": comparison}


def render(data: dict[str, Any]) -> str:
    """The whole page for `data` (see kspec.report.collect for its fields)."""
    return _template().render(data=data, data_json=script_json(_for_script(data)), assets=_assets())
