"""A search space, checked before anything trains: its parameters, then the model across the space.

Nothing here imports Optuna, TensorFlow or Keras: `kspec validate` runs it. A point of the space is
a value for each active parameter (a parameter with `when` is active only when its condition holds);
`apply` writes a point into the spec's loaded data, and the ordinary checker judges the result.

`check_space` checks every point of a small space (every parameter discrete, at most `ALL_POINTS`
points); otherwise every combination of each dimension's extremes (its low and high, or each of its
choices; at most `CORNERS` of them, drawn with the seed beyond that) and `SAMPLE` points drawn with the
seed. Its diagnostics:

- `tuning` (error): a parameter that cannot work: an empty range, log scale over zero, a `when` that names
  nothing, a path that names nothing in any point, a value of its domain that the field refuses wherever it
  is tried (a choice whose piece of spec does not fit the field);
- `tuning-region` (warning; `--strict`: error): points where the model is invalid, one per place and
  kind of failure, at the parameter whose value makes the difference, with a failing assignment and
  the fraction of the checked points that fail;
- `tuning-empty` (error): no checked point is valid.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Diagnostic, Note, Path, did_you_mean
from ..spec import Spec
from ..spec.tuning import ChoiceParam, FloatParam, IntParam, Tuning
from ..text import value_str

#: A small space (every parameter discrete) of at most this many points is checked whole.
ALL_POINTS = 256
#: At most this many combinations of the dimensions' extremes are checked.
CORNERS = 256
#: Points drawn at random from the whole space, besides the extremes.
SAMPLE = 64

#: A point: parameter name -> value (a choice's index into `choices`), active parameters only.
Point = dict[str, Any]

Checker = Callable[[Any], list[Diagnostic]]


def param_path(name: str) -> Path:
    return ("tuning", "params", name)


def split_path(text: str) -> tuple[str | int, ...]:
    """`model.layers.1.filters` -> ("model", "layers", 1, "filters"), as `--set` reads it."""
    return tuple(int(p) if p.isascii() and p.isdigit() and len(p) <= 18 else p for p in text.split("."))


def value_of(tuning: Tuning, name: str, raw: Any) -> Any:
    """The value a point's entry stands for (a choice's index -> a copy of the choice)."""
    param = tuning.params[name]
    return copy.deepcopy(param.choices[raw]) if isinstance(param, ChoiceParam) else raw


def label(tuning: Tuning, name: str, raw: Any) -> str:
    """A short text of a point's value: `0.003`, `relu`, `SGD` (a mapping choice: its type), `{...}`."""
    value = value_of(tuning, name, raw)
    if isinstance(value, dict):
        return str(value["type"]) if "type" in value else f"choice {raw}"
    return value_str(value)


def show(tuning: Tuning, point: Point, names: Sequence[str] | None = None) -> str:
    """`depth: 4, width: 8`."""
    return ", ".join(f"{n}: {label(tuning, n, point[n])}" for n in (names or point) if n in point)


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) != isinstance(wanted, bool):
        return False
    return value == wanted


def matches(value: Any, wanted: Sequence[Any]) -> bool:
    """A parameter's value against a `when` list: equal to one, or a mapping whose `type` is one."""
    return any(_same(value, w) or (isinstance(value, dict) and _same(value.get("type"), w)) for w in wanted)


def active(tuning: Tuning, name: str, point: Point) -> bool:
    """Whether `name` exists given the values of the parameters declared before it."""
    when = tuning.params[name].when or {}
    return all(other in point and matches(value_of(tuning, other, point[other]), want) for other, want in when.items())


def resolve(tuning: Tuning, raw: dict[str, Any]) -> Point:
    """A point from a value for every parameter: the inactive ones dropped, in declaration order."""
    point: Point = {}
    for name in tuning.params:
        if active(tuning, name, point):
            point[name] = raw[name]
    return point


def apply(data: dict, tuning: Tuning, point: Point) -> tuple[dict, list[tuple[str, str]]]:
    """The spec's data (without `tuning`) with the point's values set, in declaration order, and
    (parameter, why) for each path that names nothing there."""
    out = copy.deepcopy({k: v for k, v in data.items() if k != "tuning"})
    problems: list[tuple[str, str]] = []
    for name, raw in point.items():
        for text in tuning.params[name].path:
            why = _set(out, split_path(text), value_of(tuning, name, raw))
            if why is not None:
                problems.append((name, why))
    return out, problems


def _set(data: Any, path: tuple[str | int, ...], value: Any) -> str | None:
    node = data
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(str(p) for p in path[: depth + 1])
        if isinstance(node, dict):
            key = str(part)
            if last:
                node[key] = value
                return None
            if key not in node:
                return f"the spec has no `{where}`"
            node = node[key]
        elif isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                return (
                    f"the spec has no `{where}` (`{where.rpartition('.')[0]}` has {len(node)} items, numbered from 0)"
                )
            if last:
                node[part] = value
                return None
            node = node[part]
        else:
            return f"`{where.rpartition('.')[0]}` is {node!r}, not a mapping or a list"
    return None


# ---- the parameters on their own ---------------------------------------------------------------


def check_objective(spec: Spec) -> list[Diagnostic]:
    """A validation metric needs validation data."""
    assert spec.tuning is not None
    metric = spec.tuning.objective.metric
    if metric.startswith("val_") and not spec.training.validates:
        return [
            _error(
                f"The objective '{metric}' is measured on validation data, but training has none.",
                ("tuning", "objective", "metric"),
                hint="Set training.validation_split (e.g. 0.2), or optimise a training metric such as 'loss'.",
            )
        ]
    return []


def check_params(tuning: Tuning) -> list[Diagnostic]:
    """The rules of each parameter that need no model: ranges, log scale, steps, `when`, shared paths."""
    out: list[Diagnostic] = []
    names = list(tuning.params)
    seen_paths: dict[str, str] = {}
    for i, (name, p) in enumerate(tuning.params.items()):
        at = param_path(name)
        if isinstance(p, (IntParam, FloatParam)):
            if p.low > p.high:
                out.append(
                    _error(
                        f"The range of `{name}` is empty: low must be at most high. Received: low={p.low}, high={p.high}",
                        at + ("high",),
                    )
                )
            if p.log and p.low <= 0:
                out.append(
                    _error(
                        f"`{name}` draws on a log scale, so low must be above 0. Received: low={p.low}",
                        at + ("low",),
                        hint="Start the range at a small positive value (1e-5), or set log: false.",
                    )
                )
            if p.log and (p.step if isinstance(p, FloatParam) else p.step != 1):
                out.append(
                    _error(
                        f"`{name}` cannot have both log: true and a step (Optuna draws either on a log scale or on a grid). Received: step={p.step}",
                        at + ("step",),
                    )
                )
        if tuning.sampler == "grid" and isinstance(p, FloatParam) and p.step is None:
            out.append(
                _error(
                    f"The grid sampler needs every value of `{name}`: give it a step, or choose another sampler.",
                    at,
                    hint="e.g. step: 0.1",
                )
            )
        if isinstance(p, ChoiceParam):
            for j, choice in enumerate(p.choices):
                if any(_same(choice, earlier) for earlier in p.choices[:j]):
                    out.append(
                        _error(
                            f"`{name}` lists the same choice twice. Received: choices[{j}]={choice!r}",
                            at + ("choices", j),
                        )
                    )
        for text_path in p.path:
            if text_path in seen_paths:
                out.append(
                    _error(
                        f"`{name}` and `{seen_paths[text_path]}` both set `{text_path}`; a place in the spec takes one parameter.",
                        at + ("path",),
                    )
                )
            seen_paths.setdefault(text_path, name)
        for other, wanted in (p.when or {}).items():
            where = at + ("when", other)
            if other not in tuning.params or other == name:
                msg = f"`{name}` depends on `{other}`, which is not " + (
                    "another parameter." if other == name else "a parameter."
                )
                out.append(_error(msg, where, hint=did_you_mean(other, [n for n in names if n != name])))
            elif names.index(other) > i:
                out.append(
                    _error(
                        f"`{name}` depends on `{other}`, which is declared after it; declare `{other}` first.", where
                    )
                )
            else:
                out += _when_values(name, other, tuning.params[other], wanted, where)
    return out


def _when_values(name: str, other: str, dep: Any, wanted: list[Any], where: Path) -> list[Diagnostic]:
    out = []
    for w in wanted:
        if isinstance(dep, ChoiceParam):
            ok = any(matches(c, [w]) for c in dep.choices)
        elif isinstance(w, bool) or not isinstance(w, (int, float)):
            ok = False
        else:
            ok = dep.low <= w <= dep.high and (isinstance(dep, FloatParam) or isinstance(w, int))
        if not ok:
            domain = (
                "its choices (or the `type` of a mapping choice)"
                if isinstance(dep, ChoiceParam)
                else f"its range [{dep.low}, {dep.high}]"
            )
            out.append(_error(f"`{name}` exists when `{other}` is {w!r}, which is not one of {domain}.", where))
    return out


def _error(message: str, path: Path, hint: str | None = None) -> Diagnostic:
    return Diagnostic("tuning", message, path, hint=hint)


# ---- the points to check --------------------------------------------------------------------------


def _values(p: Any) -> list[Any] | None:
    """Every value of a discrete domain, or None (a float range without a step, or too many)."""
    if isinstance(p, ChoiceParam):
        return list(range(len(p.choices)))
    if isinstance(p, IntParam):
        count = (p.high - p.low) // p.step + 1
        return [p.low + k * p.step for k in range(count)] if count <= ALL_POINTS else None
    if p.step is not None:
        count = math.floor((p.high - p.low) / p.step + 1e-9) + 1
        return [p.low + k * p.step for k in range(count)] if count <= ALL_POINTS else None
    return None


def _extremes(p: Any) -> list[Any]:
    if isinstance(p, ChoiceParam):
        return list(range(len(p.choices)))
    return [p.low] if p.low == p.high else [p.low, p.high]


def _draw(p: Any, rng: random.Random) -> Any:
    if isinstance(p, ChoiceParam):
        return rng.randrange(len(p.choices))
    if isinstance(p, IntParam):
        if p.log:
            return min(p.high, max(p.low, round(math.exp(rng.uniform(math.log(p.low), math.log(p.high + 0.5))) - 0.5)))
        return p.low + p.step * rng.randrange((p.high - p.low) // p.step + 1)
    if p.log:
        return math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
    if p.step is not None:
        return p.low + p.step * rng.randrange(math.floor((p.high - p.low) / p.step + 1e-9) + 1)
    return rng.uniform(p.low, p.high)


def points(tuning: Tuning, seed: int) -> tuple[list[Point], bool]:
    """The points to check and whether they are the whole space."""
    names = list(tuning.params)
    params = list(tuning.params.values())
    every = [_values(p) for p in params]
    rng = random.Random(seed)
    raws: list[tuple[Any, ...]]
    whole = all(v is not None for v in every) and math.prod(len(v) for v in every if v) <= ALL_POINTS
    if whole:
        raws = list(itertools.product(*every))  # type: ignore[arg-type]
    else:
        corners = [_extremes(p) for p in params]
        if math.prod(len(c) for c in corners) <= CORNERS:
            raws = list(itertools.product(*corners))
        else:
            raws = [tuple(rng.choice(c) for c in corners) for _ in range(CORNERS)]
        raws += [tuple(_draw(p, rng) for p in params) for _ in range(SAMPLE)]
    out: list[Point] = []
    seen: set[str] = set()
    for raw in raws:
        point = resolve(tuning, dict(zip(names, raw, strict=True)))
        key = repr(sorted(point.items()))
        if key not in seen:
            seen.add(key)
            out.append(point)
    return out, whole


# ---- the model across the space --------------------------------------------------------------------


@dataclass
class Outcome:
    """A checked point: the errors of the spec it makes, and its paths that name nothing."""

    point: Point
    errors: list[Diagnostic] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.missing


def check_point(data: dict, tuning: Tuning, point: Point, checker: Checker) -> Outcome:
    """One point: its spec checked like any spec (errors only: a warning does not make a point invalid)."""
    spec_data, missing = apply(data, tuning, point)
    if missing:
        return Outcome(point, missing=missing)
    return Outcome(point, [d for d in checker(spec_data) if d.severity == "error"])


def check_space(data: dict, tuning: Tuning, checker: Checker, *, seed: int = 0) -> list[Diagnostic]:
    """Every diagnostic of the space (module docstring); `checker` checks one spec's data."""
    problems = check_params(tuning)
    if problems:
        return problems
    todo, whole = points(tuning, seed)
    outcomes = [check_point(data, tuning, p, checker) for p in todo]
    return _judge(tuning, outcomes, whole, lambda p: check_point(data, tuning, p, checker).ok)


def _owner(tuning: Tuning, point: Point, path: Path) -> str | None:
    """The active parameter whose path `path` is at or under (the deepest), if any."""
    best: tuple[int, str] | None = None
    at = tuple(str(p) for p in path)
    for name in point:
        for text in tuning.params[name].path:
            key = text.split(".")
            if list(at[: len(key)]) == key and (best is None or len(key) > best[0]):
                best = (len(key), name)
    return best[1] if best else None


def _judge(tuning: Tuning, outcomes: list[Outcome], whole: bool, ok: Callable[[Point], bool]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    valid = [o for o in outcomes if o.ok]
    out += _missing_paths(tuning, outcomes)
    domain, regions = _domain_and_regions(tuning, outcomes)
    out += domain
    total = len(outcomes)
    failed = total - len(valid)
    scope = "points of the space" if whole else "points checked"
    share = f"{failed} of {total} {scope} ({failed / total:.0%}) are invalid"
    if not valid:
        first = next((o for o in outcomes if o.errors or o.missing), None)
        why = first.errors[0].message if first and first.errors else first.missing[0][1] if first else ""
        out.append(
            Diagnostic(
                "tuning-empty",
                f"None of the {scope} is a valid spec ({share}). The first, with {show(tuning, first.point) if first else '-'}: {why}",
                ("tuning", "params"),
                hint="Fix the model or narrow the ranges: kspec tune has nothing it could train.",
            )
        )
        return out
    for (_code, _path), fails in regions.items():
        out.append(_region(tuning, fails, valid, share, ok))
    return out


def _missing_paths(tuning: Tuning, outcomes: list[Outcome]) -> list[Diagnostic]:
    """A parameter whose path names nothing wherever the parameter is active."""
    out = []
    for name in tuning.params:
        mine = [o for o in outcomes if name in o.point]
        whys = [why for o in mine for n, why in o.missing if n == name]
        if mine and len(whys) >= len(mine):
            out.append(
                _error(
                    f"The path of `{name}` names nothing: {whys[0]}. A parameter's path is where its value goes, "
                    "as `--set` writes it (list items numbered from 0).",
                    param_path(name) + ("path",),
                )
            )
    return out


def _bound_path(tuning: Tuning, name: str, raw: Any) -> tuple[Path, str]:
    p = tuning.params[name]
    if isinstance(p, ChoiceParam):
        return param_path(name) + ("choices", raw), f"choices[{raw}]"
    if raw == p.low:
        return param_path(name) + ("low",), f"low: {raw}"
    if raw == p.high:
        return param_path(name) + ("high",), f"high: {raw}"
    return param_path(name), f"the value {label(tuning, name, raw)}"


def _domain_and_regions(
    tuning: Tuning, outcomes: list[Outcome]
) -> tuple[list[Diagnostic], dict[tuple[str, Path], list[tuple[Outcome, Diagnostic]]]]:
    """Values of a parameter that fail at its own place wherever they are tried (`tuning`), and the other
    failures grouped by where and how (regions)."""
    by_value: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        for name, raw in o.point.items():
            by_value.setdefault((name, repr(raw)), []).append(o)
    domain: list[Diagnostic] = []
    bad: set[tuple[str, str]] = set()
    refused: dict[str, list[tuple[Any, Diagnostic]]] = {}
    for (name, key), mine in by_value.items():
        owned = [e for o in mine for e in o.errors if _owner(tuning, o.point, e.path) == name]
        if owned and not any(o.ok for o in mine):
            bad.add((name, key))
            refused.setdefault(name, []).append((mine[0].point[name], owned[0]))
    for name, values in refused.items():
        if isinstance(tuning.params[name], ChoiceParam):
            domain += [_refused(tuning, name, [(raw, e)], len(by_value)) for raw, e in values]
        else:
            tried = sum(1 for n, _ in by_value if n == name)
            domain.append(_refused(tuning, name, values, tried))
    regions: dict[tuple[str, Path], list[tuple[Outcome, Diagnostic]]] = {}
    for o in outcomes:
        if any((n, repr(r)) in bad for n, r in o.point.items()):
            continue
        for e in o.errors:
            regions.setdefault((e.code, e.path), []).append((o, e))
        for name, why in o.missing:
            miss = Diagnostic("tuning", f"the path of `{name}` names nothing: {why}", param_path(name) + ("path",))
            regions.setdefault(("missing", param_path(name)), []).append((o, miss))
    return domain, regions


def _refused(tuning: Tuning, name: str, values: list[tuple[Any, Diagnostic]], tried: int) -> Diagnostic:
    """A parameter's values that fail at the parameter's own place and are valid nowhere."""
    p = tuning.params[name]
    ends = [raw for raw, _ in values if not isinstance(p, ChoiceParam) and raw in (p.high, p.low)]
    raw, first = next(((r, e) for r, e in values if r in ends), values[0])
    where, what = _bound_path(tuning, name, raw)
    if isinstance(p, ChoiceParam):
        head = f"`{name}` offers {what}, which does not fit where it goes"
    else:
        head = f"`{name}` takes {what}, which does not fit where it goes" + (
            f" (nor do {len(values) - 1} other value(s) of the {tried} tried)" if len(values) > 1 else ""
        )
    place = ".".join(str(q) for q in first.path)
    return Diagnostic(
        "tuning",
        f"{head}: {first.message}",
        where,
        hint=f"Narrow the domain of `{name}` to values that fit `{place}`.",
        notes=(Note("it goes here", path=first.path),),
    )


def _nearest(point: Point, valid: list[Outcome]) -> Point:
    def distance(q: Point) -> tuple[int, float]:
        differ = [n for n in point.keys() | q.keys() if repr(point.get(n)) != repr(q.get(n))]
        gap = sum(
            abs(point[n] - q[n])
            for n in differ
            if isinstance(point.get(n), (int, float)) and isinstance(q.get(n), (int, float))
        )
        return len(differ), gap

    return min((o.point for o in valid), key=distance)


def _edge(tuning: Tuning, point: Point, near: Point, name: str, ok: Callable[[Point], bool]) -> Point:
    """With one integer parameter making the difference: the valid value nearest the failing one (a binary
    search between the two, the others as in the failing point), so that the note says where the edge is."""
    bad, good = point[name], near[name]
    param = tuning.params[name]
    assert isinstance(param, IntParam)
    step = param.step
    while abs(bad - good) > step:
        middle = good + (bad - good) // (2 * step) * step
        if middle in (good, bad):
            break
        if ok({**point, name: middle}):
            good = middle
        else:
            bad = middle
    return {**point, name: good}


def _region(
    tuning: Tuning,
    fails: list[tuple[Outcome, Diagnostic]],
    valid: list[Outcome],
    share: str,
    ok: Callable[[Point], bool],
) -> Diagnostic:
    outcome, diag = fails[0]
    point = outcome.point
    near = _nearest(point, valid)
    culprits = [n for n in point if repr(point.get(n)) != repr(near.get(n))] or list(point)
    if len(culprits) == 1 and isinstance(tuning.params[culprits[0]], IntParam) and culprits[0] in near:
        near = _edge(tuning, point, near, culprits[0], ok)
    others = [n for n in point if n not in culprits]
    message = (
        f"Part of the search space gives an invalid model: with {show(tuning, point, culprits)}"
        + (f" (and {show(tuning, point, others)})" if others else "")
        + f", {_lower_first(diag.message)} {len(fails)} checked point(s) fail this way; {share}."
    )
    notes = [Note(f"valid with {show(tuning, near, culprits)}")]
    if diag.path and diag.path[0] != "tuning":
        notes.insert(0, Note("the model fails here", path=diag.path))
    return Diagnostic(
        "tuning-region",
        message,
        param_path(culprits[0]),
        severity="warning",
        hint="kspec tune never trains such a point (it tells the sampler it is infeasible); narrow the domain to "
        "spend no trial on it.",
        notes=tuple(notes),
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
