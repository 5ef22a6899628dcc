"""`kspec report`: one self-contained HTML page for a run, several runs side by side, or a study.

    collect.py   the page data from run and study directories (no Keras)
    page.py      the page: Jinja2 template, inlined scripts and styles (no network needed to open it)
    analysis.py  the model on its test split (Keras; at the end of a run, or `kspec report --analyse`)
    curves.py    precision-recall, ROC, calibration and regression figures (NumPy)
    examples.py  examples as the page shows them: thumbnails, text snippets, table rows, saliency maps

Every run writes RUN_DIR/report.html at its end (`write_report`). This package imports neither
TensorFlow nor Keras, except analysis.py, which only training and `--analyse` import.
"""

from __future__ import annotations

from pathlib import Path

from .. import rundir
from .page import ReportError

__all__ = ["ReportError", "default_output", "write_report"]


def default_output(paths: list[Path]) -> Path:
    """Where the report goes without -o: into the run (or study) directory for one, report.html here for more."""
    return Path(paths[0]) / rundir.REPORT if len(paths) == 1 else Path(rundir.REPORT)


def write_report(paths: list[str | Path], output: str | Path | None = None) -> Path:
    """Write the report of `paths` (run directories, and at most one study directory) to `output`, atomically.
    Raises ReportError for a directory that is neither, or a file that cannot be written."""
    from ..train.artifacts import atomic_write_text
    from .collect import collect
    from .page import render

    dirs = [Path(p) for p in paths]
    if not dirs:
        raise ReportError("Give at least one run directory (or a study directory) to report on.")
    target = Path(output) if output else default_output(dirs)
    text = render(collect(dirs))
    if target.is_dir():
        raise ReportError(f"Cannot write the report to '{target}': it is a directory. Give a file name with -o.")
    try:
        atomic_write_text(target, text)
    except OSError as exc:
        raise ReportError(f"Cannot write the report '{target}': {exc.strerror or exc}.") from None
    return target
