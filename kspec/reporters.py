"""Reporters: the only code that renders diagnostics. Text for people, JSON as a contract for tools.

JSON output (`kspec validate --format json`), version 1:
    {"version": 1, "ok": bool, "files": [
        {"file": str|null, "ok": bool, "errors": int, "warnings": int, "params": int|null,
         "diagnostics": [{"code", "severity", "message", "file", "line", "column", "path", "hint", "policy",
                          "backends", "notes"}]}]}
`line` and `column` are 1-based (null when unknown); `path` is the dotted path inside the spec
(`model.layers[2].kernel_size`); `code` is one of `kspec.diagnostics.CODES`; `policy` names the documented
kspec policy of a refusal (a key of `kspec.diagnostics.POLICIES`, or null), `backends` the Keras backends that
fail where the others run it. The text output shows the policy too, on a line of its own with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .check import Report
from .diagnostics import POLICIES, Diagnostic


def _where(d: Diagnostic) -> str:
    out = d.file or "<stdin>"
    if d.span:
        out += f":{d.span.line}:{d.span.column}"
    return out


def render_diagnostic(d: Diagnostic, source_lines: list[str] | None = None) -> str:
    lines = [f"{_where(d)}: {d.severity}[{d.code}]: {d.message}"]
    if d.path:
        lines.append(f"  at {d.location}")
    if source_lines and d.span and 0 < d.span.line <= len(source_lines):
        text, caret = _excerpt(source_lines[d.span.line - 1].rstrip("\n"), d.span.column - 1)
        lines.append(f"  {d.span.line:>4} | {text}")
        lines.append(f"       | {' ' * caret}^")
    if d.hint:
        lines.append(f"  hint: {d.hint}")
    if d.policy is not None:
        lines.append(f"  policy: {d.policy}: {POLICIES[d.policy]} (README: Where kspec is stricter than Keras)")
    for note in d.notes:
        where = f" (line {note.span.line}, column {note.span.column})" if note.span else ""
        lines.append(f"  note: {note.message}{where}")
    return "\n".join(lines)


#: The widest source excerpt under a diagnostic: a long line (minified JSON, a flow mapping of many
#: keys) is shown around the column, so that n diagnostics on one line of n keys print O(n), not O(n**2).
EXCERPT_WIDTH = 160


def _excerpt(line: str, column: int) -> tuple[str, int]:
    """(the part of the line to show, the caret's offset in it) for a 0-based column."""
    if len(line) <= EXCERPT_WIDTH:
        return line, column
    start = max(0, min(column - EXCERPT_WIDTH // 2, len(line) - EXCERPT_WIDTH))
    head = "..." if start > 0 else ""
    tail = "..." if start + EXCERPT_WIDTH < len(line) else ""
    return head + line[start : start + EXCERPT_WIDTH] + tail, len(head) + column - start


def render_text(reports: Iterable[Report], sources: dict[str | None, str] | None = None) -> str:
    sources = sources or {}
    blocks: list[str] = []
    files = errors = warnings = 0
    for report in reports:
        files += 1
        errors += len(report.errors)
        warnings += len(report.warnings)
        text = sources.get(report.file)
        lines = text.splitlines() if text else None
        for d in report.diagnostics:
            blocks.append(render_diagnostic(d, lines))
        if report.ok:
            params = f", {report.param_count:,} parameters" if report.param_count is not None else ""
            note = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
            blocks.append(f"{report.file or '<stdin>'}: ok{params}{note}")
    summary = f"{files} file(s) checked: {errors} error(s), {warnings} warning(s)"
    return "\n".join(blocks + [summary]) + "\n"


def render_json(reports: Iterable[Report]) -> str:
    reports = list(reports)
    return (
        json.dumps(
            {"version": 1, "ok": all(r.ok for r in reports), "files": [r.to_json() for r in reports]},
            indent=2,
        )
        + "\n"
    )


def render_summary(report: Report, *, collapsed: bool = False) -> str:
    """The layer table: name, type, output shape, parameters; then totals (from static inference).

    `collapsed` shows the model as written: one row per layer or block use (its block, repetitions,
    output shapes and the parameters of every layer it expanded to).
    """
    inf = report.inference
    assert inf is not None
    rows = [("Layer (type)", "Output Shape", "Param #")]
    for name, t in inf.inputs.items():
        rows.append((f"{name} (InputLayer)", _shape(t.shape), "0"))
    if collapsed and inf.expansion is not None:
        rows[0] = ("Layer or block use (type)", "Output Shape", "Param #")
        for use in inf.expansion.uses:
            members = [inf.node(n) for n in use.nodes]
            params = sum(m.params for m in members if m is not None and m.shares is None)
            if use.block is None:
                node = members[0]
                kind = node.layer.layer_type if node is not None and node.layer is not None else "?"
                if node is not None and node.shares:
                    kind += f", shares {node.shares}"
            else:
                kind = f"block {use.block}" + (f" x{use.repeat}" if use.repeat != 1 else "")
            shapes = [inf.tensor(o) for o in use.outputs]
            shown = ", ".join(_shape(t.shape) if t is not None else "?" for t in shapes) or "(no layers)"
            rows.append((f"{use.name} ({kind})", shown, f"{params:,}"))
    else:
        for n in inf.nodes:
            kind = n.layer.layer_type if n.layer is not None else "?"
            label = f"{n.name} ({kind}{', shares ' + n.shares if n.shares else ''})"
            rows.append(
                (label, _shape(n.output.shape) if n.output else "?", f"{n.params:,}" if n.shares is None else "0")
            )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    sep = "-" * (sum(widths) + 6)
    out = [f'Model: "{report.spec.name if report.spec else "?"}"', sep]
    for i, r in enumerate(rows):
        out.append(f"{r[0]:<{widths[0]}}   {r[1]:<{widths[1]}}   {r[2]:>{widths[2]}}")
        if i == 0:
            out.append(sep)
    out.append(sep)
    out.append(f"Total params: {inf.total_params:,}")
    out.append(f"Trainable params: {inf.trainable_params:,}")
    out.append(f"Non-trainable params: {inf.non_trainable_params:,}")
    if len(inf.outputs) > 1 or (report.spec and not hasattr(report.spec.model, "layers")):
        out.append(f"Outputs: {', '.join(inf.outputs)}")
    return "\n".join(out) + "\n"


def _shape(shape: tuple) -> str:
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"
