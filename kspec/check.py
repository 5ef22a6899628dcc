"""The checking pipeline: load -> parse -> infer -> semantics -> lint, collecting every diagnostic.

`check` never raises on a bad spec: it returns a `Report`. `load_spec`
returns a typed `Spec` or raises `SpecError` carrying all diagnostics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any

from .diagnostics import Diagnostic, SpecError, has_errors
from .infer import Inference, infer
from .lint import lint
from .load import Loaded, SourceMap, load_text
from .semantics import DEFAULT_PARAM_BUDGET, check_semantics
from .spec import Spec
from .structure import parse

Source = str | os.PathLike | dict


@dataclass
class Report:
    """The result of checking one spec."""

    file: str | None
    spec: Spec | None = None
    inference: Inference | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

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
            return str(source), None, None, Diagnostic("io-error", f"Cannot read '{source}': not UTF-8 text ({exc.reason}).")
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
) -> Report:
    """Check a spec (a path, YAML/JSON text, or loaded data). Never raises on a bad spec.

    `strict` turns warnings into errors. The report carries every diagnostic,
    the typed spec and the inference (shapes, parameter counts) when it got that far.
    """
    name, text, data, io_error = read_source(source)
    file = file or name
    if io_error is not None:
        return Report(file, diagnostics=[io_error.with_source(file, None)])
    loaded = load_text(text) if text is not None else Loaded(data, SourceMap(None))
    report = Report(file)
    diagnostics = list(loaded.diagnostics)
    if loaded.ok:
        spec, problems = parse(loaded.data)
        diagnostics.extend(problems)
        report.spec = spec
        if spec is not None:
            inference = infer(spec)
            report.inference = inference
            diagnostics.extend(inference.diagnostics)
            if not has_errors(inference.diagnostics):
                diagnostics.extend(check_semantics(spec, inference, param_budget=param_budget))
                diagnostics.extend(lint(spec, inference))
    if strict:
        diagnostics = [replace(d, severity="error") if d.severity == "warning" else d for d in diagnostics]
    report.diagnostics = [_place(d, file, loaded.source_map) for d in diagnostics]
    return report


def _place(d: Diagnostic, file: str | None, source_map: SourceMap) -> Diagnostic:
    if d.span is not None:
        return replace(d, file=file)
    key = d.code in ("unknown-key", "duplicate-key")
    span = source_map.locate(d.path, key=key)
    notes = tuple(replace(n, span=n.span or source_map.locate(n.path)) if n.path else n for n in d.notes)
    return replace(d, file=file, span=span, notes=notes)


def load_spec(source: Source, *, strict: bool = False, param_budget: int = DEFAULT_PARAM_BUDGET) -> Spec:
    """The typed, validated Spec; raises SpecError (with every diagnostic) when the spec is invalid."""
    report = check(source, strict=strict, param_budget=param_budget)
    if not report.ok or report.spec is None:
        raise SpecError(report.diagnostics)
    return report.spec
