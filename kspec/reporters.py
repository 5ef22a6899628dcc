"""Reporters: the only code that renders. Text for people, JSON as a contract for tools.

Every command that reports something takes `--format text|json`. With `json`, stdout holds exactly one
JSON document (whatever the exit status); stderr holds only progress and notes (build-and-train), never
the result. Click's own usage errors (an unknown option, a bad option value) stay text on stderr, exit 2.
Every document is an object with `"version": 1` (bumped only when a field changes meaning or goes away;
fields may be added), `"command"` (the subcommand's name) and `"ok"` (the command did what it was asked).

Diagnostic (the same object everywhere):
    {"code", "severity", "message", "file", "line", "column", "path", "hint", "policy", "backends", "notes"}
`line` and `column` are 1-based (null when unknown); `path` is the dotted path inside the spec
(`model.layers[2].kernel_size`); `code` is one of `kspec.diagnostics.CODES`; `policy` names the documented
kspec policy of a refusal (a key of `kspec.diagnostics.POLICIES`, or null), `backends` the Keras backends that
fail where the others run it; `notes` are `{"message", "line", "column", "path"}`. `file` is the spec's file
(`<stdin>` for `-`), or, for a diagnostic about a value a command-line override set, the option itself
(`--set training.epochs=0`, `--epochs 0`) with `line` and `column` null. The text output shows the policy
too, on a line of its own with its reason, and the option (under `cli |`) where the file excerpt would be.

Error (a failed command other than `validate`): `"ok": false` and
    "error": {"kind", "message", "exit_code"}, "diagnostics": [Diagnostic, ...]
`kind` is `usage` (exit 2), `io` (a file that cannot be read, exit 2), `spec` (the spec is invalid, exit 1;
`diagnostics` says why), `data` (exit 1), `train` (training failed or was interrupted: exit 1, 2 or 130),
`unsupported` (import: `unsupported` lists what kspec cannot express, exit 1), `tune` (the study cannot go on: its
storage, its objective; exit 1 or 2) or `internal` (a kspec bug, exit 2). `exit_code` is the process's exit status. `diagnostics` is empty unless the kind is `spec` or `io`.

`kspec validate --format json`:
    {"version": 1, "command": "validate", "ok": bool, "files": [
        {"file": str|null, "ok": bool, "errors": int, "warnings": int, "params": int|null,
         "diagnostics": [Diagnostic, ...]}]}

`kspec summary --format json` (on success; on failure the error object above, with the diagnostics):
    {"version": 1, "command": "summary", "ok": true, "file": str, "name": str, "collapsed": bool,
     "layers": [{"name", "type", "block", "repeat", "shares", "output_shapes", "params", "flops",
                 "activation_bytes"}, ...],
     "totals": {"params": int, "trainable": int, "non_trainable": int, "flops": int, "activation_bytes": int,
                "training_memory": {"total", "weights", "gradients", "optimizer", "activations", "inputs",
                                    "batch_size": int, "precision": str, "optimizer_slots": int}},
     "outputs": [str, ...], "diagnostics": [Diagnostic, ...]}
One row per input (`type` "InputLayer") and layer call, in order; with `--collapsed`, one per layer or block use
as written (a block use: `type` "block", `block` its name, `repeat` its repetitions, `params` those of every
layer it expanded to). `output_shapes` is a list of shapes (one per output), each a list with null for an unknown
size (the batch axis first); `shares` names the layer whose weights a call shares (its `params` is then 0).
`flops` (forward floating-point operations, a multiply-add counted as 2) and `activation_bytes` (the output's
bytes) are per example (`kspec.cost`), null where a size is unknown; the totals add up the known ones, and
`training_memory` is the estimate of a training step's bytes at the spec's batch size and precision.
`diagnostics` holds the warnings.

`kspec build-and-train --format json` (progress and notes on stderr):
    {"version": 1, "command": "build-and-train", "ok": true, "status": "complete", "spec": str,
     "run_dir": str|null, "epochs_done": int, "resumed_from": int, "process": int,
     "metrics": {"final_epoch": {str: float}, "test": {str: float}|null}}
`run_dir` is null on a multi-worker process other than the chief (process 0), which writes nothing. On failure
the error object, with `"status"`: "invalid" (kind spec or usage), "interrupted" (exit 130) or "failed".

`kspec tune --format json` (the live table of trials and notes on stderr):
    {"version": 1, "command": "tune", "ok": true, "study": str, "study_dir": str, "objective": str,
     "best": Trial|null, "best_spec": str|null, "trials": [Trial, ...], "files": [str, ...]}
    Trial: {"number": int, "state": "complete"|"pruned"|"invalid"|"failed"|"interrupted"|"running"|"waiting",
            "value": float|null, "seconds": float|null, "params": {str: value}, "run_dir": str|null, "note": str|null}
`params` are the values as Optuna stores them (numbers; a choice's value, or the `type` of a mapping choice);
`trials` holds every trial of the study (other workers' too); `value` is the objective at the trial's best epoch
(a pruned trial's too); `note` says why a trial is invalid (its first diagnostic) or failed; `files` are the
study directory's result files (best.yaml, trials.csv, importances.json, history.png, params.png).

`kspec import --format json`:
    {"version": 1, "command": "import", "ok": true, "name": str, "form": "sequential"|"graph", "layers": int,
     "params": int, "output": str|null, "text": str|null, "diagnostics": [Diagnostic, ...]}
`output` is the file written (`-o`); without it, `text` holds the spec (YAML). On `unsupported`, the error
object has `"unsupported": [str, ...]`, every layer and argument kspec cannot express.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .check import Report
from .cost import Cost, MemoryEstimate, cost, format_bytes, format_flops, tensor_bytes, training_memory
from .diagnostics import POLICIES, Diagnostic
from .text import cut, shape_str, value_str

#: The version of every JSON document (see above).
JSON_VERSION = 1


def _where(d: Diagnostic) -> str:
    out = d.file or "<stdin>"
    if d.span:
        out += f":{d.span.line}:{d.span.column}"
    return out


def render_diagnostic(d: Diagnostic, source_lines: list[str] | None = None) -> str:
    lines = [f"{_where(d)}: {d.severity}[{d.code}]: {d.message}"]
    if d.path:
        lines.append(f"  at {d.location}")
    if from_option(d):
        option = d.file or ""
        lines.append(f"  {'cli':>4} | {option}")
        lines.append(f"       | {' ' * _option_caret(option, d)}^")
    elif source_lines and d.span and 0 < d.span.line <= len(source_lines):
        text, caret = _excerpt(source_lines[d.span.line - 1].rstrip("\n"), d.span.column - 1)
        lines.append(f"  {d.span.line:>4} | {text}")
        lines.append(f"       | {' ' * caret}^")
    if d.hint:
        lines.append(f"  hint: {d.hint}")
    if d.policy is not None:
        lines.append(f"  policy: {d.policy}: {POLICIES[d.policy]} (docs/policies.md)")
    for note in d.notes:
        where = f" (line {note.span.line}, column {note.span.column})" if note.span else ""
        lines.append(f"  note: {note.message}{where}")
    return "\n".join(lines)


def from_option(d: Diagnostic) -> bool:
    """True for a diagnostic about what a command-line option set (its `file` is the option, e.g. `--set a.b=1`)."""
    return d.span is None and d.code != "io-error" and (d.file or "").startswith("--")


def _option_caret(option: str, d: Diagnostic) -> int:
    """Where the caret goes under `--set KEY=VALUE` (or `--epochs 3`): under the part of KEY the diagnostic is
    about when it is about a key (one the file lacks, one that is unknown), else under the value."""
    flag, _, arg = option.partition(" ")
    key, eq, _ = arg.partition("=")
    if not eq:
        return len(flag) + 1 if arg else 0
    parts = key.split(".")
    depth = len(d.path)
    if depth < len(parts) or (depth == len(parts) and d.code == "unknown-key"):
        at = max(depth, 1) - 1
        return len(flag) + 1 + sum(len(p) + 1 for p in parts[:at])
    return len(flag) + 1 + len(key) + 1


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
    """`kspec validate --format json`."""
    reports = list(reports)
    return render_document(json_document("validate", all(r.ok for r in reports), files=[r.to_json() for r in reports]))


# ---- JSON documents -------------------------------------------------------------------------------


def render_document(document: dict[str, Any]) -> str:
    """A JSON document as the text a command prints (indented, one trailing newline); a non-finite number
    (a NaN metric) is null, so that the text is JSON."""
    return json.dumps(_finite(document), indent=2, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_document(command: str, ok: bool, **fields: Any) -> dict[str, Any]:
    """The envelope every JSON document shares: version, command, ok, then the command's fields."""
    return {"version": JSON_VERSION, "command": command, "ok": ok, **fields}


def error_document(
    command: str,
    kind: str,
    message: str,
    exit_code: int,
    diagnostics: Iterable[Diagnostic] = (),
    **fields: Any,
) -> dict[str, Any]:
    """A failed command: `{"error": {kind, message, exit_code}, "diagnostics": [...]}` and the command's own fields."""
    return json_document(
        command,
        False,
        **fields,
        error={"kind": kind, "message": message, "exit_code": exit_code},
        diagnostics=[d.to_json() for d in diagnostics],
    )


def error_message(report: Report) -> str:
    """One line for a report that failed: how many errors, and the first."""
    errors = report.errors
    if not errors:
        return "The spec is invalid."
    first = errors[0]
    where = first.file or report.file or "<stdin>"
    if first.span:
        where += f":{first.span.line}:{first.span.column}"
    return f"{len(errors)} error(s); first: {where}: {first.message}"


def summary_json(report: Report, *, collapsed: bool = False) -> dict[str, Any]:
    """`kspec summary --format json` of a report with an inference."""
    inf = report.inference
    assert inf is not None and report.spec is not None
    costs, memory = _costs(report)
    return json_document(
        "summary",
        True,
        file=report.file or "<stdin>",
        name=report.spec.name if report.spec else None,
        collapsed=collapsed,
        layers=[
            {
                "name": r.name,
                "type": r.type,
                "block": r.block,
                "repeat": r.repeat,
                "shares": r.shares,
                "output_shapes": [list(shape) if shape is not None else None for shape in r.shapes],
                "params": r.params,
                "flops": r.flops,
                "activation_bytes": r.activation_bytes,
            }
            for r in summary_rows(report, collapsed=collapsed)
        ],
        totals={
            "params": inf.total_params,
            "trainable": inf.trainable_params,
            "non_trainable": inf.non_trainable_params,
            "flops": costs.flops,
            "activation_bytes": costs.activation_bytes,
            "training_memory": {
                "total": memory.total,
                "weights": memory.weights,
                "gradients": memory.gradients,
                "optimizer": memory.optimizer,
                "activations": memory.activations,
                "inputs": memory.inputs,
                "batch_size": memory.batch_size,
                "precision": memory.precision,
                "optimizer_slots": memory.slots,
            },
        },
        outputs=list(inf.outputs),
        diagnostics=[d.to_json() for d in report.diagnostics],
    )


def train_json(result: Any) -> dict[str, Any]:
    """`kspec build-and-train --format json` of a `kspec.train.run.RunResult`."""
    return json_document(
        "build-and-train",
        True,
        status="complete",
        spec=result.spec.name,
        run_dir=None if result.run_dir is None else str(result.run_dir),
        epochs_done=result.epochs_done,
        resumed_from=result.resumed_from,
        process=result.runtime.process_index if result.runtime is not None else 0,
        metrics={"final_epoch": result.metrics.get("final_epoch", {}), "test": result.metrics.get("test")},
    )


def train_line(result: Any) -> str:
    """`kspec build-and-train`'s last line (stdout): what was trained, the test metrics, the run directory."""
    test = result.metrics.get("test")
    line = f"Trained '{result.spec.name}' for {result.epochs_done} epoch(s)"
    if test:
        line += "; test " + ", ".join(f"{k} {v:.4f}" for k, v in test.items())
    if result.run_dir is None:
        return f"{line}. Worker {result.runtime.process_index}: the chief (process 0) wrote the run directory."
    return f"{line}. Run directory: {result.run_dir}"


#: The live table of `kspec tune`: (heading, width) of the fixed columns; the parameters follow.
TUNE_COLUMNS = (("trial", 5), ("state", 11), ("objective", 10), ("seconds", 8))


def tune_header(params: Sequence[str]) -> str:
    """The live table's heading line."""
    cells = [h.rjust(w) if h != "state" else h.ljust(w) for h, w in TUNE_COLUMNS]
    return "  ".join(cells + ["parameters"])


def tune_row(row: Any) -> str:
    """One trial of the live table: number, state, objective, time, its parameters, and why (invalid, failed)."""
    value = "" if row.value is None else f"{row.value:.4f}"
    seconds = "" if row.seconds is None else f"{row.seconds:.1f}"
    params = ", ".join(f"{k}={value_str(v)}" for k, v in row.params.items())
    cells = [str(row.number).rjust(5), row.state.ljust(11), value.rjust(10), seconds.rjust(8), params]
    line = "  ".join(cells)
    return line + (f"  [{cut(row.note, 160)}]" if row.note and row.state in ("invalid", "failed") else "")


def _row_json(row: Any) -> dict[str, Any]:
    return {
        "number": row.number,
        "state": row.state,
        "value": row.value,
        "seconds": row.seconds,
        "params": row.params,
        "run_dir": row.run_dir,
        "note": row.note or None,
    }


def tune_json(result: Any, metric: str) -> dict[str, Any]:
    """`kspec tune --format json`: the study, its best trial and every trial (`trials.csv`'s rows)."""
    return json_document(
        "tune",
        True,
        study=result.study_name,
        study_dir=str(result.study_dir),
        objective=metric,
        best=None if result.best is None else _row_json(result.best),
        best_spec=str(result.study_dir / "best.yaml") if result.best is not None else None,
        trials=[_row_json(r) for r in result.rows],
        files=result.files,
    )


def tune_line(result: Any, metric: str) -> str:
    """`kspec tune`'s last line: the best trial and where the study's files are."""
    counts: dict[str, int] = {}
    for r in result.rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    tally = ", ".join(f"{n} {state}" for state, n in counts.items())
    if result.best is None:
        return f"Study '{result.study_name}': {tally}; no trial completed yet. Study directory: {result.study_dir}"
    return (
        f"Study '{result.study_name}': {tally}. Best: trial {result.best.number}, {metric} {result.best.value:.4f} "
        f"({', '.join(f'{k}={value_str(v)}' for k, v in result.best.params.items())}); best spec: "
        f"{result.study_dir / 'best.yaml'}"
    )


@dataclass(frozen=True)
class Imported:
    """What `kspec import` made: the spec's name, form, counts, and where it went."""

    name: str
    form: str  # sequential or graph
    layers: int
    params: int
    output: str | None  # the file written, or None (the text went to stdout)
    text: str

    @classmethod
    def of(cls, report: Report, output: str | None, text: str) -> Imported:
        spec, inf = report.spec, report.inference
        assert spec is not None
        return cls(
            name=spec.name,
            form="sequential" if hasattr(spec.model, "layers") else "graph",
            layers=sum(1 for n in inf.nodes if n.shares is None) if inf else 0,
            params=inf.total_params if inf else 0,
            output=output,
            text=text,
        )


def import_json(imported: Imported, diagnostics: Iterable[Diagnostic] = ()) -> dict[str, Any]:
    """`kspec import --format json`."""
    return json_document(
        "import",
        True,
        name=imported.name,
        form=imported.form,
        layers=imported.layers,
        params=imported.params,
        output=imported.output,
        text=None if imported.output else imported.text,
        diagnostics=[d.to_json() for d in diagnostics],
    )


def import_line(imported: Imported) -> str:
    """`kspec import`'s line on stderr after writing a file."""
    return (
        f"Imported '{imported.name}' ({imported.layers} layers, {imported.params:,} parameters, {imported.form} form) "
        f"to {imported.output}. Its training section is a placeholder: edit it before training."
    )


# ---- the layer table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    """One row of `kspec summary`: an input, a layer call, or (collapsed) a layer or block use as written."""

    name: str
    type: str  # the layer type, InputLayer, or "block"
    shapes: tuple[tuple | None, ...]  # one output shape per output (None: not inferred)
    params: int
    block: str | None = None
    repeat: int | None = None
    shares: str | None = None
    #: Forward FLOPs and output bytes per example (`kspec.cost`); None where unknown.
    flops: int | None = None
    activation_bytes: int | None = None

    @property
    def label(self) -> str:
        if self.block is not None:
            kind = f"block {self.block}" + (f" x{self.repeat}" if self.repeat not in (None, 1) else "")
        else:
            kind = self.type + (f", shares {self.shares}" if self.shares else "")
        return f"{self.name} ({kind})"


def summary_rows(report: Report, *, collapsed: bool = False) -> list[SummaryRow]:
    """The rows of the layer table, from static inference (see `render_summary`)."""
    inf = report.inference
    assert inf is not None
    costs = _costs(report)[0]
    rows = [
        SummaryRow(name, "InputLayer", (t.shape,), 0, flops=0, activation_bytes=tensor_bytes(t))
        for name, t in inf.inputs.items()
    ]
    if collapsed and inf.expansion is not None:
        for use in inf.expansion.uses:
            members = [inf.node(n) for n in use.nodes]
            params = sum(m.params for m in members if m is not None and m.shares is None)
            shapes = tuple(t.shape if t is not None else None for t in map(inf.tensor, use.outputs))
            parts = [costs.node(m.name) if m is not None else None for m in members]
            flops = _sum([p.flops if p is not None else None for p in parts])
            held = _sum([p.activation_bytes if p is not None else None for p in parts])
            if use.block is None:
                node = members[0]
                kind = node.layer.layer_type if node is not None and node.layer is not None else "?"
                shares = node.shares if node is not None else None
                rows.append(
                    SummaryRow(
                        use.name, kind, shapes, params, shares=shares or None, flops=flops, activation_bytes=held
                    )
                )
            else:
                rows.append(
                    SummaryRow(
                        use.name,
                        "block",
                        shapes,
                        params,
                        block=use.block,
                        repeat=use.repeat,
                        flops=flops,
                        activation_bytes=held,
                    )
                )
        return rows
    for n, c in zip(inf.nodes, costs.nodes):
        kind = n.layer.layer_type if n.layer is not None else "?"
        shape = n.output.shape if n.output else None
        params = n.params if n.shares is None else 0
        rows.append(
            SummaryRow(
                n.name,
                kind,
                (shape,),
                params,
                shares=n.shares or None,
                flops=c.flops,
                activation_bytes=c.activation_bytes,
            )
        )
    return rows


def _sum(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _costs(report: Report) -> tuple[Cost, MemoryEstimate]:
    """The per-example cost of the report's inference and the estimate of a training step's memory."""
    assert report.inference is not None and report.spec is not None
    memory = training_memory(report.spec, report.inference)
    return cost(report.inference, memory.precision), memory


def render_summary(report: Report, *, collapsed: bool = False) -> str:
    """The layer table: name, type, output shape, parameters; then totals (from static inference).

    `collapsed` shows the model as written: one row per layer or block use (its block, repetitions,
    output shapes and the parameters of every layer it expanded to).
    """
    inf = report.inference
    assert inf is not None
    title = "Layer or block use (type)" if collapsed and inf.expansion is not None else "Layer (type)"
    rows = [(title, "Output Shape", "Param #", "FLOPs", "Act. mem")]
    for row in summary_rows(report, collapsed=collapsed):
        shown = ", ".join(shape_str(shape) if shape is not None else "?" for shape in row.shapes) or "(no layers)"
        flops = format_flops(row.flops) if row.flops is not None else "?"
        held = format_bytes(row.activation_bytes) if row.activation_bytes is not None else "?"
        rows.append((row.label, shown, f"{row.params:,}", flops, held))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    sep = "-" * (sum(widths) + 12)
    out = [f'Model: "{report.spec.name if report.spec else "?"}"', sep]
    for i, r in enumerate(rows):
        out.append(
            f"{r[0]:<{widths[0]}}   {r[1]:<{widths[1]}}   {r[2]:>{widths[2]}}   {r[3]:>{widths[3]}}   {r[4]:>{widths[4]}}"
        )
        if i == 0:
            out.append(sep)
    out.append(sep)
    out.append(f"Total params: {inf.total_params:,}")
    out.append(f"Trainable params: {inf.trainable_params:,}")
    out.append(f"Non-trainable params: {inf.non_trainable_params:,}")
    costs, memory = _costs(report)
    unknown = f" (without {len(costs.unknown)} layer(s) of unknown size)" if costs.unknown else ""
    out.append(f"Forward FLOPs per example: {format_flops(costs.flops)}{unknown}")
    out.append(f"Activation memory per example: {format_bytes(costs.activation_bytes)}{unknown}")
    out.append(f"Training step memory: {format_bytes(memory.total)} ({memory.parts()}){unknown}")
    if len(inf.outputs) > 1 or (report.spec and not hasattr(report.spec.model, "layers")):
        out.append(f"Outputs: {', '.join(inf.outputs)}")
    return "\n".join(out) + "\n"
