"""What a study leaves in its directory: the best spec, every trial, parameter importances, plots.

best.yaml          the spec with the best trial's values filled in, without `tuning`: it validates and
                   trains as it is (data paths made absolute: it lives in another directory)
trials.csv         every trial: number, state (complete, pruned, invalid, failed, running, waiting),
                   objective, seconds, each parameter, run directory, note (why invalid or failed)
importances.json   each parameter's share of the objective's variance (Optuna's fANOVA), when at least
                   two trials completed
history.png        the objective of each trial and the best so far
params.png         the objective against each parameter
study.db           the study itself (SQLite; not with --storage)
trial-NNNN/        each trained trial's run directory
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Any

from ..dump import yaml_text
from ..spec.tuning import ChoiceParam, Tuning
from ..text import value_str
from ..train.artifacts import atomic_write_text, write_json
from .space import apply
from .study import TrialRow, choice_labels, trial_state


def trial_rows(study: Any, tuning: Tuning) -> list[TrialRow]:
    """Every trial of the study, as the table shows them."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = trial_state(t)
        value = t.value if t.state.name == "COMPLETE" else t.user_attrs.get("value")
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        params = {n: t.params[n] for n in tuning.params if n in t.params}
        notes = t.user_attrs.get("diagnostics") or []
        rows.append(
            TrialRow(
                t.number,
                state,
                value,
                seconds,
                params,
                t.user_attrs.get("run_dir"),
                notes[0] if notes else "",
            )
        )
    return rows


def _cell(value: Any) -> str:
    """A parameter's value in trials.csv: in full."""
    if isinstance(value, float):
        return repr(value)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def best_trial(study: Any) -> Any:
    """The best feasible complete trial, or None."""
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet, or none feasible
        return None


def point_of(trial: Any, tuning: Tuning) -> dict[str, Any]:
    """A finished trial's point (a choice -> its index), from what Optuna stored."""
    point = {}
    for name, p in tuning.params.items():
        if name in trial.params:
            value = trial.params[name]
            point[name] = choice_labels(p).index(value) if isinstance(p, ChoiceParam) else value
    return point


def best_document(data: dict, tuning: Tuning, trial: Any, spec_dir: Path) -> dict:
    """The spec with the trial's values and without `tuning`; a relative data path made absolute."""
    doc, _missing = apply(data, tuning, point_of(trial, tuning))
    source = (doc.get("data") or {}).get("source")
    if isinstance(source, dict) and isinstance(source.get("path"), str) and not Path(source["path"]).is_absolute():
        source["path"] = str((spec_dir / source["path"]).resolve())
    return doc


def write_results(study: Any, tuning: Tuning, data: dict, spec_path: str, study_dir: Path, metric: str) -> list[str]:
    """Write the files above (the study directory exists); returns their names."""
    study_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study, tuning)
    files = []
    atomic_write_text(study_dir / "trials.csv", _csv(rows, tuning, metric))
    files.append("trials.csv")
    best = best_trial(study)
    if best is not None:
        spec_dir = Path(spec_path).resolve().parent
        header = (
            f"# The best trial ({best.number}, {metric} = {best.value:.6g}) of the study '{study.study_name}' "
            f"over {'<stdin>' if spec_path == '-' else Path(spec_path).name}: kspec tune.\n"
        )
        atomic_write_text(study_dir / "best.yaml", header + yaml_text(best_document(data, tuning, best, spec_dir)))
        files.append("best.yaml")
    importances = _importances(study)
    if importances is not None:
        write_json(study_dir / "importances.json", importances)
        files.append("importances.json")
    files += _plots(rows, tuning, study_dir, metric, study.direction.name == "MAXIMIZE")
    return files


def _csv(rows: list[TrialRow], tuning: Tuning, metric: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["number", "state", metric, "seconds", *tuning.params, "run_dir", "note"])
    for r in rows:
        writer.writerow(
            [
                r.number,
                r.state,
                "" if r.value is None else repr(r.value),
                "" if r.seconds is None else f"{r.seconds:.3f}",
                *(_cell(r.params[n]) if n in r.params else "" for n in tuning.params),
                r.run_dir or "",
                r.note,
            ]
        )
    return buf.getvalue()


def _importances(study: Any) -> dict[str, float] | None:
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2 or not any(t.params for t in complete):
        return None
    try:
        with warnings.catch_warnings():  # a parameter with few trials per value: the figure says what it can
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # every completed trial drew the same values, or one parameter only varies
        return None
    return {name: round(float(v), 6) for name, v in found.items()}


def _plots(rows: list[TrialRow], tuning: Tuning, study_dir: Path, metric: str, maximize: bool) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in rows if r.value is not None and math.isfinite(r.value)]
    if not scored:
        return []
    files = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for state, marker in (("complete", "o"), ("pruned", "x")):
        mine = [r for r in scored if r.state == state]
        ax.scatter([r.number for r in mine], [float(r.value or 0.0) for r in mine], marker=marker, label=state)
    complete = sorted((r for r in scored if r.state == "complete"), key=lambda r: r.number)
    best, line = None, []
    for r in complete:
        assert r.value is not None
        best = r.value if best is None else (max(best, r.value) if maximize else min(best, r.value))
        line.append((r.number, best))
    if line:
        ax.step([n for n, _ in line], [v for _, v in line], where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Optimisation history ({'max' if maximize else 'min'}imise {metric})")
    ax.legend()
    fig.tight_layout()
    _save(fig, study_dir / "history.png")
    plt.close(fig)
    files.append("history.png")
    names = list(tuning.params)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [r for r in scored if name in r.params]
        xs: list[Any] = [r.params[name] for r in mine]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            xs = [value_str(x) for x in xs]
        ax.scatter(xs, [float(r.value or 0.0) for r in mine], c=[r.number for r in mine], cmap="viridis", s=18)
        p = tuning.params[name]
        if getattr(p, "log", False):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
    fig.suptitle(f"{metric} against each parameter (colour: trial number)")
    fig.tight_layout()
    _save(fig, study_dir / "params.png")
    plt.close(fig)
    files.append("params.png")
    return files


def _save(fig: Any, path: Path) -> None:
    """Written beside and renamed: a crash never leaves half a PNG."""
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=90)
    tmp.replace(path)
