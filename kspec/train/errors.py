"""The errors training raises for what a user can cause or fix (no traceback reaches the user)."""

from __future__ import annotations

from typing import Any

from ..diagnostics import SpecError

EXIT_INTERRUPTED = 130


class InvalidSpec(SpecError):
    """The spec (with its overrides) does not pass the checker; carries the report for the text reporter."""

    def __init__(self, report: Any, sources: dict):
        super().__init__(report.diagnostics)
        self.report = report
        self.sources = sources


class TrainError(Exception):
    """A failure the user can cause or fix: one paragraph, no traceback."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
