"""The report's page data, read from run directories and study directories (nothing else).

A run directory gives run.json, the resolved spec (checked again: its graph, shapes and parameters come
from kspec's own inference, without Keras), history.json, events.json, metrics.json and analysis.json;
a study directory (`kspec tune`) gives trials.csv, importances.json and, where it has one, the best
trial's run. `kspec.report.page` renders what this module returns. No TensorFlow, no Keras.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import html
import json
import math
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from .. import rundir
from ..text import shape_str
from .curves import HISTORY_POINTS, decimate_indices
from .page import ReportError

#: A graph with more nodes than this opens with its blocks collapsed.
COLLAPSE_ABOVE = 60


def is_study(path: Path) -> bool:
    return (path / "trials.csv").is_file() and not (path / rundir.RUN_JSON).is_file()


def collect(paths: list[Path]) -> dict[str, Any]:
    """The page data for runs and at most one study (whose best trial's run is shown as a run too)."""
    runs: list[dict] = []
    study = None
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            raise ReportError(f"'{path}' is not a directory; expected a kspec run directory or a study directory.")
        if is_study(path):
            if study is not None:
                raise ReportError(f"'{path}' is a second study directory; a report shows one study.")
            study = study_data(path)
            best = study.get("best_run")
            if best and len(paths) == 1 and (Path(best) / rundir.RUN_JSON).is_file():
                runs.append(run_data(Path(best), len(runs), label=f"best trial ({Path(best).name})"))
        elif (path / rundir.RUN_JSON).is_file():
            runs.append(run_data(path, len(runs)))
        else:
            raise ReportError(
                f"'{path}' holds no kspec run (no {rundir.RUN_JSON}) and no study (no trials.csv); "
                "give a directory that `kspec build-and-train` or `kspec tune` wrote."
            )
    labels = [r["label"] for r in runs]
    for i, run in enumerate(runs):  # two runs of one name: tell them apart by their place
        if labels.count(run["label"]) > 1:
            run["label"] = f"{run['label']} ({i + 1})"
    if len(runs) == 1:
        title = f"kspec report: {runs[0]['label']}"
    elif runs:
        title = f"kspec report: {len(runs)} runs"
    else:
        title = "kspec report: study"
    if study is not None and len(runs) <= 1:
        title = f"kspec report: study {study['name']}"
    return {
        "title": title,
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "kspec_version": _version(),
        "runs": runs,
        "comparison": comparison(runs) if len(runs) >= 2 else None,
        "study": study,
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kspec")
    except PackageNotFoundError:
        return "unknown"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ---- one run --------------------------------------------------------------------------------------------------


def run_data(run_dir: Path, index: int, label: str | None = None) -> dict[str, Any]:
    info = rundir.read_json(run_dir / rundir.RUN_JSON)
    spec_text = _read_text(run_dir / rundir.SPEC)
    history = _read_json(run_dir / rundir.HISTORY_JSON) or {}
    metrics = rundir.read_json(run_dir / rundir.METRICS)
    events = _read_json(run_dir / rundir.EVENTS) or []
    analysis = _read_json(run_dir / rundir.ANALYSIS)
    report = _check(run_dir / rundir.SPEC)
    no_totals = {"params": 0, "trainable": 0, "non_trainable": 0, "layers": 0}
    graph, layers, totals = _graph(report.inference) if report is not None else (None, [], no_totals)
    spec = report.spec if report is not None else None
    status = str(info.get("status", "unknown"))
    note = None
    if analysis is None:
        note = (
            "This run has no analysis: it is not complete."
            if status != "complete"
            else "This run held out no test split (data.test_split), so there is nothing to analyse."
            if not metrics.get("test")
            else "This run's directory has no analysis.json; `kspec report --analyse` computes it."
        )
    return {
        "id": f"run{index}",
        "label": label or run_dir.resolve().name,
        "dir": str(run_dir.resolve()),
        "status": status,
        "info": _info_rows(info, spec, spec_text, metrics),
        "spec_text": spec_text,
        "spec_html": highlight_yaml(spec_text),
        "graph": graph,
        "layers": layers,
        "totals": totals,
        **_history(history),
        "events": [e for e in events if isinstance(e, dict) and "epoch" in e],
        "final": _final_rows(metrics),
        "analysis": analysis,
        "analysis_note": note,
    }


def _check(path: Path) -> Any:
    from ..check import check

    if not path.is_file():
        return None
    report = check(path)
    return report if report.ok and report.inference is not None else None


def _duration(info: dict) -> str:
    start, end = info.get("started"), info.get("finished") or info.get("stopped")
    try:
        from datetime import datetime

        seconds = (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except (TypeError, ValueError):
        return ""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


def _info_rows(info: dict, spec: Any, spec_text: str, metrics: dict) -> list[list[str]]:
    training = getattr(spec, "training", None)
    distribution = str(info.get("distribution") or "none")
    if int(info.get("replicas") or 1) > 1:
        distribution += f" ({info['replicas']} replicas)"
    rows = [
        ["spec", str(info.get("spec", ""))],
        ["spec hash", "sha256:" + hashlib.sha256(spec_text.encode("utf-8")).hexdigest()[:16]],
        ["status", str(info.get("status", "unknown"))],
        ["backend", str(info.get("backend", ""))],
        ["precision", str(getattr(training, "precision", "") or "")],
        ["distribution", distribution],
        ["seed", str(info.get("seed", ""))],
        ["started", str(info.get("started", ""))],
        ["finished", str(info.get("finished") or info.get("stopped") or "")],
        ["duration", _duration(info)],
        ["epochs", f"{info.get('epochs_done', 0)} of {info.get('epochs', '?')}"],
        ["kspec", str(info.get("kspec_version", ""))],
    ]
    if info.get("error"):
        rows.append(["error", str(info["error"])])
    if metrics.get("test_examples"):
        rows.append(["test examples", f"{metrics['test_examples']:,}"])
    return [r for r in rows if r[1]]


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _final_rows(metrics: dict) -> list[list[str]]:
    rows = [[f"{k} (last epoch)", _number(v)] for k, v in (metrics.get("final_epoch") or {}).items()]
    rows += [[f"{k} (test)", _number(v)] for k, v in (metrics.get("test") or {}).items()]
    if metrics.get("train_seconds") is not None:
        rows.append(["training time", f"{metrics['train_seconds']:.1f} s"])
    return rows


def _history(history: dict) -> dict[str, Any]:
    from ..train.artifacts import _metric_panels

    epochs = [int(e) for e in history.get("epoch", [])]
    keep = decimate_indices(len(epochs), HISTORY_POINTS)
    series = {
        k: [v[i] if i < len(v) else None for i in keep]
        for k, v in history.items()
        if k != "epoch" and isinstance(v, list)
    }
    panels = [
        {"metric": title, "series": [s for s in (train, val) if s]}
        for title, train, val in _metric_panels(list(series))
    ]
    return {"history": {"epoch": [epochs[i] for i in keep], **series}, "panels": panels}


def _graph(inference: Any) -> tuple[dict, list[dict], dict]:
    """The model graph for the page: nodes (inputs and layer calls), edges, and the block uses as groups."""
    outputs = set(inference.outputs)
    nodes: list[dict] = []
    groups: dict[str, dict] = {}
    for name, tensor in inference.inputs.items():
        nodes.append({"id": name, "type": "Input", "shape": shape_str(tensor.shape), "params": 0,
                      "role": "input", "shares": None, "groups": []})  # fmt: skip
    layers, total, frozen = [], 0, 0
    for node in inference.nodes:
        chain: list[str] = []
        origin = node.origin
        if origin is not None and origin.instantiated:
            parent = None
            for use in reversed(origin.uses):  # outermost first
                group = groups.setdefault(
                    use.prefix, {"block": use.block, "parent": parent, "nodes": 0, "params": 0, "shape": ""}
                )
                group["nodes"] += 1
                group["params"] += node.params if node.shares is None else 0
                group["shape"] = shape_str(node.output.shape) if node.output is not None else "?"  # its last node's
                chain.append(use.prefix)
                parent = use.prefix
        params = node.params if node.shares is None else 0
        total += params
        frozen += node.non_trainable if node.shares is None else 0
        shape = shape_str(node.output.shape) if node.output is not None else "?"
        nodes.append({"id": node.name, "type": node.layer_type, "shape": shape, "params": params,
                      "role": "output" if node.name in outputs else "layer", "shares": node.shares,
                      "groups": chain})  # fmt: skip
        layers.append({"name": node.name, "type": node.layer_type, "shape": shape, "params": params,
                       "shares": node.shares, "block": chain[-1] if chain else ""})  # fmt: skip
    edges = [[ref, node.name] for node in inference.nodes for ref in node.inputs]
    collapsed = [p for p, g in groups.items() if g["parent"] is None] if len(nodes) > COLLAPSE_ABOVE else []
    totals = {"params": total, "trainable": total - frozen, "non_trainable": frozen, "layers": len(layers)}
    return {"nodes": nodes, "edges": edges, "groups": groups, "collapsed": collapsed}, layers, totals


# ---- the resolved spec, highlighted ----------------------------------------------------------------------------

_YAML_LINE = re.compile(r"^(\s*(?:-\s+)*)([^\s#'\"][^:#]*?|'[^']*'|\"[^\"]*\")(:)(\s|$)(.*)$")
_SCALAR = re.compile(r"^(-?\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.inf|-\.inf|\.nan)$")


def _value_html(value: str) -> str:
    comment = ""
    if " #" in value and not value.lstrip().startswith(("'", '"')):
        value, comment = value.split(" #", 1)
        comment = f'<span class="c"> #{html.escape(comment)}</span>'
    stripped = value.strip()
    if not stripped:
        return html.escape(value) + comment
    if _SCALAR.match(stripped):
        cls = "n"
    elif stripped in ("true", "false", "null", "~"):
        cls = "b"
    else:
        cls = "s"
    return f'<span class="{cls}">{html.escape(value)}</span>{comment}'


def highlight_yaml(text: str) -> str:
    """The YAML text as escaped HTML, keys, strings, numbers, booleans and comments in spans (k, s, n, b, c)."""
    out = []
    for line in text.split("\n"):
        if line.lstrip().startswith("#"):
            out.append(f'<span class="c">{html.escape(line)}</span>')
            continue
        match = _YAML_LINE.match(line)
        if match:
            indent, key, colon, space, rest = match.groups()
            out.append(
                f'{html.escape(indent)}<span class="k">{html.escape(key)}</span>{colon}{space}{_value_html(rest)}'
            )
        else:
            stripped = line.lstrip()
            lead = line[: len(line) - len(stripped)]
            if stripped.startswith("- "):
                out.append(f"{html.escape(lead)}- {_value_html(stripped[2:])}")
            else:
                out.append(html.escape(lead) + (_value_html(stripped) if stripped else ""))
    return "\n".join(out)


# ---- several runs --------------------------------------------------------------------------------------------


def diff(a: str, b: str, a_label: str, b_label: str) -> list[list[str]]:
    """The unified diff of two specs' texts as (kind, text) lines: kind " ", "+", "-" or "@"."""
    lines = []
    for line in list(difflib.unified_diff(a.splitlines(), b.splitlines(), a_label, b_label, n=2, lineterm=""))[2:]:
        kind = "@" if line.startswith("@@") else line[:1] if line[:1] in "+- " else " "
        lines.append([kind, line[1:] if kind != "@" else line])
    return lines


def diff_html(lines: list[list[str]]) -> str:
    classes = {"+": "add", "-": "del", "@": "hunk", " ": "ctx"}
    marks = {"+": "+", "-": "-", "@": "", " ": " "}
    return "\n".join(f'<span class="{classes[kind]}">{html.escape(marks[kind] + text)}</span>' for kind, text in lines)


def comparison(runs: list[dict]) -> dict[str, Any]:
    labels = [r["label"] for r in runs]
    finals = [dict(r["final"]) for r in runs]
    names = list(dict.fromkeys(k for f in finals for k in f))
    metrics = [[n, [f.get(n, "—") for f in finals]] for n in names]
    series_names = list(dict.fromkeys(k for r in runs for k in r["history"] if k != "epoch"))
    comparison_curves = []
    for name in series_names:
        series = {r["label"]: r["history"].get(name) for r in runs if r["history"].get(name)}
        epochs = sorted({e for r in runs if r["history"].get(name) for e in r["history"]["epoch"]})
        aligned = {}
        for r in runs:
            if r["label"] in series:
                by_epoch = dict(zip(r["history"]["epoch"], r["history"][name], strict=False))
                aligned[r["label"]] = [by_epoch.get(e) for e in epochs]
        comparison_curves.append({"metric": name, "epochs": epochs, "series": aligned})
    diffs = []
    for other in runs[1:]:
        lines = diff(runs[0]["spec_text"], other["spec_text"], runs[0]["label"], other["label"])
        diffs.append({"a": runs[0]["label"], "b": other["label"], "lines": lines, "html": diff_html(lines)})
    return {
        "runs": labels,
        "metrics": metrics,
        "curves": comparison_curves,
        "diffs": diffs,
        "diff_html": "\n".join(
            f'<span class="hunk">{html.escape(d["a"])} → {html.escape(d["b"])}</span>\n'
            + (d["html"] or '<span class="ctx">(the specs are the same)</span>')
            for d in diffs
        ),
    }


# ---- a study ----------------------------------------------------------------------------------------------------


def _direction(study_dir: Path, metric: str) -> str:
    """The study's direction, from its SQLite storage; else guessed from the metric (losses and errors down)."""
    db = study_dir / "study.db"
    if db.is_file():
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                row = con.execute("SELECT direction FROM study_directions LIMIT 1").fetchone()
            finally:
                con.close()
            if row:
                return "minimize" if "MINIMIZE" in str(row[0]).upper() else "maximize"
        except sqlite3.Error:
            pass
    lower = metric.lower()
    down = ("loss", "error", "mae", "mse", "mape", "msle", "rmse", "hinge", "crossentropy", "divergence")
    return "minimize" if any(word in lower for word in down) else "maximize"


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def study_data(study_dir: Path) -> dict[str, Any]:
    try:
        with open(study_dir / "trials.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"Cannot read '{study_dir / 'trials.csv'}': {exc}.") from None
    if not rows or len(rows[0]) < 6 or rows[0][:2] != ["number", "state"]:
        raise ReportError(f"'{study_dir / 'trials.csv'}' is not a trials table that `kspec tune` wrote.")
    header = rows[0]
    metric, params = header[2], header[4:-2]
    trials: list[dict[str, Any]] = []
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        cells = dict(zip(header, row, strict=True))
        trials.append(
            {
                "number": int(cells["number"]) if cells["number"].isdigit() else cells["number"],
                "state": cells["state"],
                "value": _float(cells[metric]),
                "seconds": _float(cells["seconds"]),
                "params": {p: cells[p] for p in params},
                "note": cells["note"],
                "run_dir": cells["run_dir"],
            }
        )
    direction = _direction(study_dir, metric)
    done = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
    best = (max if direction == "maximize" else min)(done, key=lambda t: t["value"]) if done else None
    importances = _read_json(study_dir / "importances.json") or {}
    best_run = None
    if best is not None and best["run_dir"]:
        # trials.csv holds the path as `kspec tune` was given it: absolute, or relative to where it ran
        path = Path(best["run_dir"])
        candidates = [path] if path.is_absolute() else [study_dir / path.name, path, study_dir / path]
        best_run = str(next((c for c in candidates if (c / rundir.RUN_JSON).is_file()), candidates[0]))
    return {
        "dir": str(study_dir.resolve()),
        "name": study_dir.resolve().name,
        "metric": metric,
        "direction": direction,
        "trials": trials,
        "param_names": params,
        "best": best["number"] if best else None,
        "best_run": best_run,
        "importances": sorted(
            ([k, round(float(v), 6)] for k, v in importances.items() if isinstance(v, int | float)),
            key=lambda kv: -kv[1],
        ),
    }
