"""The checking pipeline: load -> parse -> infer -> semantics -> lint, collecting every diagnostic.

`check` never raises on a bad spec: it returns a `Report`. `load_spec`
returns a typed `Spec` or raises `SpecError` carrying all diagnostics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any

from .diagnostics import Diagnostic, Note, Path, SpecError, has_errors
from .infer import Inference, infer
from .lint import lint
from .load import MAX_INT, Loaded, SourceMap, load_data, load_text
from .recover import Repair, item_of, repair
from .semantics import DEFAULT_PARAM_BUDGET, check_semantics
from .spec import Spec
from .spec.layers import Tensor
from .structure import parse
from .text import cut, digits_of

Source = str | os.PathLike | dict


@dataclass
class Report:
    """The result of checking one spec."""

    file: str | None
    spec: Spec | None = None
    inference: Inference | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: The spec the inference is of: `spec`, or where the language refused the spec, the repaired copy that
    #: `kspec.recover` made to infer around the broken pieces (None when nothing could be inferred).
    draft: Spec | None = None
    #: Where each node of the loaded text is (`kspec.load.SourceMap`), for editors.
    source_map: SourceMap | None = None

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not has_errors(self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def param_count(self) -> int | None:
        return self.inference.total_params if self.inference and self.inference.complete else None

    @property
    def shapes(self) -> dict[str, tuple]:
        """Output shape of every input and layer call, by name (batch axis first, None for unknown)."""
        if self.inference is None:
            return {}
        out = {name: t.shape for name, t in self.inference.inputs.items()}
        out.update({n.name: n.output.shape for n in self.inference.nodes if n.output is not None})
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "params": self.param_count,
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def read_source(source: Source) -> tuple[str | None, str | None, dict | None, Diagnostic | None]:
    """(file name, text, data, io error) for a path, a text, or already-loaded data."""
    if isinstance(source, dict):
        return None, None, source, None
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source and _looks_like_path(source)):
        path = FsPath(source)
        try:
            return str(source), path.read_text(encoding="utf-8"), None, None
        except UnicodeDecodeError as exc:
            return (
                str(source),
                None,
                None,
                Diagnostic("io-error", f"Cannot read '{source}': not UTF-8 text ({exc.reason})."),
            )
        except OSError as exc:
            return str(source), None, None, Diagnostic("io-error", f"Cannot read '{source}': {exc.strerror or exc}.")
    return None, str(source), None, None


def _looks_like_path(s: str) -> bool:
    return s.endswith((".yaml", ".yml", ".json")) or os.path.exists(s)


def check(
    source: Source,
    *,
    file: str | None = None,
    strict: bool = False,
    param_budget: int = DEFAULT_PARAM_BUDGET,
    overrides: Sequence[Override] = (),
    memory_budget: int | None = None,
    space: bool = True,
) -> Report:
    """Check a spec (a path, YAML/JSON text, or loaded data). Never raises on a bad spec.

    `strict` turns warnings into errors. `overrides` are `KEY=VALUE` strings (dotted keys, list
    indices as numbers, values in YAML: `training.optimizer.learning_rate=0.01`) applied to the
    loaded document before it is validated, exactly like the file's own values; an item may also be
    a pair (`KEY=VALUE`, the option as the user wrote it, e.g. `--epochs 3`). A diagnostic about an
    overridden value (or about a key only an override made) comes from the option, not the file: its
    `file` is the option (`--set training.epochs=0`) and it has no line or column. Other diagnostics
    that only appear with the overrides keep their place in the file and get a note naming them.
    `memory_budget` (bytes; None: no budget) refuses a spec whose training step needs more memory
    than that by the estimate of `kspec.cost.training_memory` (code `memory-budget`).
    `space=False` leaves out the search space of a `tuning` section (`kspec.tune.space`: every point checked
    like the spec; the section's own structure is checked either way), for the commands that ignore it.
    The report carries every diagnostic, the typed spec and the inference (shapes, parameter
    counts) when it got that far.
    """
    name, text, data, io_error = read_source(source)
    file = file or name
    if io_error is not None:
        return Report(file, diagnostics=[io_error.with_source(file, None)])
    loaded = load_text(text) if text is not None else load_data(data)
    report = Report(file, source_map=loaded.source_map)
    diagnostics = list(loaded.diagnostics)
    original = loaded.data
    options = [_option(o) for o in overrides]
    if loaded.ok and options:
        data, problems = apply_overrides(loaded.data, options)
        limited = load_data(data)  # each value is within the limits; values set inside values may not be
        loaded = Loaded(limited.data, loaded.source_map)
        diagnostics.extend(problems + limited.diagnostics)
    if loaded.ok and not diagnostics:
        diagnostics.extend(_check_data(report, loaded.data, param_budget, memory_budget))
        if space and report.spec is not None and report.spec.tuning is not None and not has_errors(diagnostics):
            diagnostics.extend(_check_tuning(report.spec, loaded.data, param_budget, memory_budget))
    diagnostics = _fold_instantiations(diagnostics)
    if strict:
        diagnostics = [replace(d, severity="error") if d.severity == "warning" else d for d in diagnostics]
    if not options:
        report.diagnostics = [_place(d, file, loaded.source_map) for d in diagnostics]
        return report
    set_paths = _override_paths(options)
    placed: list[Diagnostic] = []
    for d in diagnostics:
        label = d.file if d.code == "override" else _origin(d.path, set_paths, original)
        if label is None:
            placed.append(_place(d, file, loaded.source_map))
        else:
            notes = tuple(
                n if _origin(n.path, set_paths, original) else _place_note(n, loaded.source_map) for n in d.notes
            )
            placed.append(replace(d, file=label, span=None, notes=notes))
    report.diagnostics = _note_overrides(placed, file, original, options, strict, param_budget, memory_budget)
    return report


def _check_data(report: Report, data: Any, param_budget: int, memory_budget: int | None = None) -> list[Diagnostic]:
    """Parse, infer, semantics and lints of loaded data, filling the report's spec and inference."""
    spec, diagnostics = parse(data)
    report.spec = report.draft = spec
    if spec is not None:
        inference, problems = _infer(spec)
        report.inference = inference
        diagnostics = diagnostics + problems
        if inference is not None and not has_errors(problems):
            diagnostics += check_semantics(spec, inference, param_budget=param_budget, memory_budget=memory_budget)
            diagnostics += lint(spec, inference)
        elif inference is None and any(item_of(d.path) for d in problems):
            # A block's body is checked as it expands: a broken piece there is repaired as one the language refused.
            diagnostics += _infer_around(report, data, problems, diagnostics)
        return diagnostics
    # The language refused the spec: infer around the broken pieces (`kspec.recover`), so that one pass gives the
    # shape errors too. Semantics and lints read sections a repair may have replaced: they wait for a valid spec.
    return diagnostics + _infer_around(report, data, diagnostics, diagnostics)


def _infer_around(report: Report, data: Any, errors: list[Diagnostic], known: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics that inference finds around the broken pieces `errors` point at (`kspec.recover`), less
    those already `known`; the report gets the repaired spec and its inference."""
    fixed, draft, later = repair(data, errors, parse)
    if fixed is None or draft is None:
        return []
    inference, problems = _infer(draft, fixed)
    if inference is not None:
        report.draft, report.inference = draft, inference
    seen = {(d.code, d.path, d.message) for d in known}
    out = []
    for d in later + [d for d in problems if not _about_stand_in(d, fixed)]:
        if (d.code, d.path, d.message) not in seen:
            seen.add((d.code, d.path, d.message))
            out.append(d)
    return out


def _check_tuning(spec: Spec, data: Any, param_budget: int, memory_budget: int | None) -> list[Diagnostic]:
    """The search space (`kspec.tune.space`): each point's spec checked as this one is, budgets included."""
    from .tune.space import check_objective, check_space

    assert spec.tuning is not None

    def checker(point_data: Any) -> list[Diagnostic]:
        return _check_data(Report(None), point_data, param_budget, memory_budget)

    return check_objective(spec) + check_space(data, spec.tuning, checker, seed=tuning_seed(spec))


def tuning_seed(spec: Spec) -> int:
    """The seed of a search: `tuning.seed`, else `training.seed`, else 0."""
    tuning_seed = spec.tuning.seed if spec.tuning is not None else None
    return tuning_seed if tuning_seed is not None else spec.training.seed or 0


def _about_stand_in(d: Diagnostic, fixed: Repair) -> bool:
    """A diagnostic of the repaired spec about a stand-in itself (its name, say), which the file does not have."""
    item = item_of(d.path)
    return item is not None and item in fixed.opaque


def _infer(spec: Spec, fixed: Repair | None = None) -> tuple[Inference | None, list[Diagnostic]]:
    """`infer`, with every tensor dimension held to 64 bits (`MAX_INT`), as every integer of the spec is.

    Layers multiply sizes (Flatten, UpSampling, strided transposed convolutions, Reshape), so 64-bit
    arguments can still give a dimension with thousands of digits, which Python refuses to write in
    a message (ValueError) or to turn into a float (OverflowError). The first tensor beyond 64 bits is
    refused with `too-large` (the report then has no inference), and semantics and lints, which
    print sizes, do not run.
    """
    try:
        inference = infer(spec, fixed)
        if inference.failed:
            return None, inference.diagnostics  # blocks that do not expand: nothing to infer
    except ValueError as exc:
        # A shape message of `infer` printing such a dimension: sys.get_int_max_str_digits().
        if "integer string conversion" not in str(exc):
            raise
        return None, [
            Diagnostic(
                "too-large",
                f"The model's tensors grow beyond {MAX_INT} (2**63 - 1) elements along an axis, to thousands "
                "of digits; no Keras model can hold that.",
                ("model",),
                hint="Look for a long chain of layers that multiply sizes (UpSampling, strided Conv*Transpose, Flatten).",
            )
        ]
    tensors: list[tuple[str, Path, Tensor]] = [(name, ("model",), t) for name, t in inference.inputs.items()]
    tensors += [(n.name, n.path, n.output) for n in inference.nodes if n.output is not None]
    for name, path, tensor in tensors:
        big = next((d for d in tensor.shape if d is not None and abs(d) > MAX_INT), None)
        if big is not None:
            digits = digits_of(big)
            # No inference in the report: its parameter count may have as many digits.
            return None, inference.diagnostics + [
                Diagnostic(
                    "too-large",
                    f"'{name}' has an axis of about {digits} digits, beyond {MAX_INT} (2**63 - 1), the most "
                    "elements Keras and TensorFlow can hold along an axis.",
                    path,
                )
            ]
    return inference, inference.diagnostics


def _fold_instantiations(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per place in a block definition: a block used 16 times with one mistake (or one
    suspicious layer) gives one diagnostic, with the first instantiation's notes and a count of the others."""
    first: dict[tuple, int] = {}
    others: dict[int, int] = {}
    out: list[Diagnostic] = []
    for d in diagnostics:
        if d.path[:1] != ("blocks",):
            out.append(d)
            continue
        key = (d.code, d.severity, d.path)
        if key in first:
            others[first[key]] = others.get(first[key], 0) + 1
            continue
        first[key] = len(out)
        out.append(d)
    for i, n in others.items():
        out[i] = replace(
            out[i],
            notes=out[i].notes
            + (Note(f"and {n} more instantiation(s) of this block give the same {out[i].severity}"),),
        )
    return out


def _place(d: Diagnostic, file: str | None, source_map: SourceMap) -> Diagnostic:
    if d.span is not None:
        return replace(d, file=file)
    key = d.code in ("unknown-key", "duplicate-key")
    span = source_map.locate(d.path, key=key)
    notes = tuple(_place_note(n, source_map) for n in d.notes)
    return replace(d, file=file, span=span, notes=notes)


def _place_note(n: Note, source_map: SourceMap) -> Note:
    return replace(n, span=n.span or source_map.locate(n.path)) if n.path else n


# ---- overrides: `--set KEY=VALUE` --------------------------------------------------------------

#: An override: `KEY=VALUE`, or (`KEY=VALUE`, the command-line option that gave it, as the user wrote it).
Override = str | tuple[str, str]

#: The most overrides a note lists by name (the others are counted).
NOTE_OVERRIDES = 5


def _option(override: Override) -> tuple[str, str]:
    """(`KEY=VALUE`, the option diagnostics name as their origin: `--set KEY=VALUE` unless given)."""
    if isinstance(override, tuple):
        return override
    return override, f"--set {_cut(override)}"


def _override_paths(options: list[tuple[str, str]]) -> list[tuple[tuple[str, ...], str]]:
    """(the dotted KEY as strings, the option) of each override that parses."""
    out = []
    for text, label in options:
        parsed = parse_override(text)
        if not isinstance(parsed, Diagnostic):
            out.append((tuple(str(p) for p in parsed[0]), label))
    return out


def _origin(path: Path, set_paths: list[tuple[tuple[str, ...], str]], original: Any) -> str | None:
    """The option a diagnostic at `path` comes from: the last override of the longest KEY that `path` is at or
    under, or that `path` leads to when the file has nothing at `path` (a key only the override made)."""
    at = tuple(str(p) for p in path)
    best: tuple[int, str] | None = None
    for key, label in set_paths:
        if at[: len(key)] == key:
            depth = len(key)
        elif key[: len(at)] == at and not _exists(original, path):
            depth = len(at)
        else:
            continue
        if best is None or depth >= best[0]:
            best = (depth, label)
    return best[1] if best else None


def _exists(data: Any, path: Path) -> bool:
    for part in path:
        data = _child(data, part)
        if data is None:
            return False
    return True


def _note_overrides(
    diagnostics: list[Diagnostic],
    file: str | None,
    original: Any,
    options: list[tuple[str, str]],
    strict: bool,
    param_budget: int,
    memory_budget: int | None = None,
) -> list[Diagnostic]:
    """Each diagnostic in the file that the overrides brought about (one the file alone does not give) gets a
    note naming the options in effect."""
    own = [i for i, d in enumerate(diagnostics) if d.file == file and d.code != "override"]
    if not own or any(d.code == "override" for d in diagnostics):
        return diagnostics
    alone = _check_data(Report(file), original, param_budget, memory_budget)
    before = {(d.code, "error" if strict else d.severity, d.path, d.message) for d in alone}
    labels = [label for _, label in options]
    shown = ", ".join(labels[:NOTE_OVERRIDES])
    if len(labels) > NOTE_OVERRIDES:
        shown += f" and {len(labels) - NOTE_OVERRIDES} more"
    note = Note(f"with the command line's {shown}")
    out = list(diagnostics)
    for i in own:
        d = out[i]
        if (d.code, d.severity, d.path, d.message) not in before:
            out[i] = replace(d, notes=d.notes + (note,))
    return out


def load_spec(source: Source, *, strict: bool = False, param_budget: int = DEFAULT_PARAM_BUDGET) -> Spec:
    """The typed, validated Spec; raises SpecError (with every diagnostic) when the spec is invalid."""
    report = check(source, strict=strict, param_budget=param_budget)
    if not report.ok or report.spec is None:
        raise SpecError(report.diagnostics)
    return report.spec


def parse_override(text: str) -> tuple[tuple[str | int, ...], Any] | Diagnostic:
    """`a.b.0.c=VALUE` -> (("a", "b", 0, "c"), value parsed as YAML), or a diagnostic."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".") if key.strip() else []
    if not sep or not parts or any(not p for p in parts):
        return Diagnostic(
            "override",
            f"An override must be KEY=VALUE with a dotted KEY, e.g. training.epochs=5. Received: {_cut(text)!r}",
            hint="List items are numbered from 0: model.layers.0.filters=64.",
        )
    # A list index is ASCII digits ("²".isdigit() too, and int() refuses it) of a size a list can have.
    path = tuple(int(p) if p.isascii() and p.isdigit() and len(p) <= 18 else p for p in parts)
    loaded = load_text(value) if value.strip() else Loaded(None, SourceMap(None))
    if not loaded.ok:
        return Diagnostic(
            "override",
            f"The value of `--set {_cut(key)}` is not valid YAML: {loaded.diagnostics[0].message} Received: {_cut(value)!r}",
            path,
        )
    return path, loaded.data


def apply_overrides(data: Any, overrides: Sequence[Override]) -> tuple[Any, list[Diagnostic]]:
    """A copy of the loaded document with each `KEY=VALUE` set, and diagnostics for the ones that cannot be
    (their `file` is the option)."""
    import copy

    data = copy.deepcopy(data)
    problems: list[Diagnostic] = []
    for text, label in map(_option, overrides):
        parsed = parse_override(text)
        if isinstance(parsed, Diagnostic):
            problems.append(replace(parsed, file=label))
            continue
        path, value = parsed
        node = data
        for depth, part in enumerate(path[:-1]):
            child = _child(node, part)
            if child is None and isinstance(node, dict):
                child = node[str(part)] = {}
            if not isinstance(child, (dict, list)):
                where = _cut(".".join(str(p) for p in path[: depth + 1]))
                problems.append(
                    Diagnostic(
                        "override",
                        f"`--set {_cut(text)}` goes through `{where}`, which is "
                        f"{'missing' if child is None else _cut(repr(child))}, not a mapping or list.",
                        path[: depth + 1],
                        file=label,
                        hint=f"Set `{where}` as a whole, e.g. --set '{where}={{type: ..., ...}}'.",
                    )
                )
                break
            node = child
        else:
            last = path[-1]
            if isinstance(node, dict):
                node[str(last)] = value
            elif isinstance(node, list) and isinstance(last, int) and last < len(node):
                node[last] = value
            else:
                problems.append(
                    Diagnostic(
                        "override",
                        f"`--set {_cut(text)}`: there is no item {_cut(repr(last))} to set"
                        + (f" (the list has {len(node)} items, numbered from 0)." if isinstance(node, list) else "."),
                        path[:-1],
                        file=label,
                    )
                )
    return data, problems


def _cut(text: str) -> str:
    """At most 80 characters of an override's own text in a message."""
    return cut(text)


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part if isinstance(part, str) else str(part))
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None
