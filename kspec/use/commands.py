"""The commands that use a finished run: `kspec predict`, `kspec evaluate`, `kspec report`, `kspec export`.

Thin click commands, registered on the main group by `kspec.cli`: each parses its options, calls one
function of `kspec.use` and renders the result. Importing this module imports neither TensorFlow nor
Keras; the functions they call do, on the run's backend.

Exit codes: 0 done, 1 the work failed (some inputs could not be predicted, an export missed its
parity tolerance, bad data), 2 usage or a run directory that cannot be used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@contextmanager
def _reported(fmt: str) -> Iterator[None]:
    """Every expected failure becomes one message (or the JSON error document) and its exit code; never a
    traceback. Kinds: run (a run directory that cannot be used), data, evaluate, export, predict."""
    from ..cli import fail
    from ..rundir import RunDirError

    try:
        yield
    except RunDirError as exc:
        fail(fmt, "run", str(exc), exc.exit_code)
    except Exception as exc:
        kind, code = _classify(exc)
        if kind is None:
            raise
        fail(fmt, kind, str(exc), code)


def _classify(exc: BaseException) -> tuple[str | None, int]:
    """The errors of the after-training modules, by their class (imported lazily: they load Keras)."""
    name = type(exc).__name__
    if name == "DataError":
        return "data", EXIT_FAILED
    if name in ("EvaluateError", "ExportError", "PredictError", "ReportError"):
        return name.removesuffix("Error").lower(), int(getattr(exc, "exit_code", EXIT_FAILED))
    return None, 0


def _document(ok: bool, **fields: object) -> None:
    from ..cli import _command_name, emit_json
    from ..reporters import json_document

    emit_json(json_document(_command_name(), ok, **fields))


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# ---- evaluate -----------------------------------------------------------------------------------


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--data",
    help="Evaluate on this data instead of the run's test split: a .npz or .csv file, an image or text directory, "
    "keras:NAME, embedded[:digits] (every example, or the source's own test split where it has one).",
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Examples per batch (default: the spec's).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the JSON report here (atomically; default: RUN_DIR/evaluation.json).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is a documented contract for tools (one document on stdout).",
)
def evaluate(run_dir: str, data: str | None, batch_size: int | None, output: str | None, fmt: str) -> None:
    """The spec's metrics for the model of RUN_DIR on data (default: the run's held-out test split); for
    classifiers also per-class precision, recall and F1, and the confusion matrix.

    Exit status: 0 evaluated, 1 bad data, 2 usage or a run directory that cannot be used.
    """
    _quiet_tensorflow()
    with _reported(fmt):
        from .evaluate import evaluate_run, render_text

        result = evaluate_run(run_dir, data=data, output=output, batch_size=batch_size)
        if fmt == "json":
            _document(True, **result.to_json(), written=str(result.written))
        else:
            click.echo(render_text(result), nl=False)


# ---- report -------------------------------------------------------------------------------------


@click.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the page here (atomically; default: DIR/report.html for one directory, ./report.html for more).",
)
@click.option(
    "--analyse",
    is_flag=True,
    help="First analyse each complete run on its test split where its directory has no analysis.json "
    "(loads the model: needs kspec[train]).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is a documented contract for tools (one document on stdout).",
)
def report(dirs: tuple[str, ...], output: str | None, analyse: bool, fmt: str) -> None:
    """One self-contained HTML page (it opens offline, anywhere) for one run directory, several side by side,
    or a `kspec tune` study directory: the run, the model's graph, the learning curves, and on the test split
    where the model errs and why.

    Exit status: 0 written, 2 usage or a directory that cannot be reported on.
    """
    from pathlib import Path

    from .. import rundir

    with _reported(fmt):
        from ..report import write_report

        if analyse:
            _quiet_tensorflow()
            from ..report.analysis import analyse_run

            for d in dirs:
                path = Path(d)
                if (path / rundir.RUN_JSON).is_file() and not (path / rundir.ANALYSIS).is_file():
                    finished = rundir.read_json(path / rundir.RUN_JSON).get("status") == "complete"
                    if finished and rundir.read_json(path / rundir.METRICS).get("test"):  # it held out a test split
                        analyse_run(path)
        written = write_report(list(dirs), output)
        size = written.stat().st_size
        if fmt == "json":
            _document(True, written=str(written), bytes=size, dirs=list(dirs))
        else:
            click.echo(f"Report written to {written} ({size / 1024:,.0f} KiB).")


# ---- export -------------------------------------------------------------------------------------


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--format",
    "formats",
    multiple=True,
    required=True,
    metavar="FORMAT",
    help="saved_model, onnx, litert or openvino (repeatable); each goes to RUN_DIR/export/FORMAT/.",
)
@click.option(
    "--report", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Report format."
)
def export(run_dir: str, formats: tuple[str, ...], fmt: str) -> None:
    """Export the model of RUN_DIR, verifying each export in its own runtime against the Keras model.

    Every format asked for is checked before any work: one that cannot work for this model or backend
    is refused with the reason. Each export's outputs are compared with the Keras model's on seeded
    batches; the largest difference and the tolerance go to export/FORMAT/parity.json, and an export
    that misses its tolerance fails (and is not kept).
    Exit status: 0 exported and verified, 1 an export failed its check, 2 usage or refused.
    """
    _quiet_tensorflow()
    echo = (lambda msg: None) if fmt == "json" else (lambda msg: click.echo(msg, err=True))
    with _reported(fmt):
        from .export import export_run

        results = export_run(run_dir, list(formats), echo=echo)
        if fmt == "json":
            _document(
                True,
                run_dir=run_dir,
                exports=[
                    {
                        "format": r.format,
                        "path": str(r.path),
                        "max_abs_diff": r.max_abs_diff,
                        "tolerance": r.tolerance,
                        "batch_sizes": r.batch_sizes,
                        "passed": r.ok,
                    }
                    for r in results
                ],
            )
        else:
            for r in results:
                click.echo(
                    f"Exported {r.format} to {r.path}: verified, largest difference {r.max_abs_diff:.3g} "
                    f"(tolerance {r.tolerance:.3g}) at batch sizes {', '.join(map(str, r.batch_sizes))}."
                )


# ---- predict ------------------------------------------------------------------------------------


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("inputs", nargs=-1)
@click.option("--text", "texts", multiple=True, help="A text to classify (repeatable).")
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True, help="Classes shown per output.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json (one object per line) or csv for tools.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the predictions here (atomically).")
@click.option("--progress/--no-progress", default=None, help="A progress count on stderr (default: on a terminal).")
def predict(
    run_dir: str,
    inputs: tuple[str, ...],
    texts: tuple[str, ...],
    top_k: int,
    batch_size: int,
    fmt: str,
    output: str | None,
    progress: bool | None,
) -> None:
    """Predict with the model of RUN_DIR on INPUT...: image files or directories of them, .txt files,
    CSV or .npz files, or - for JSON lines on stdin (one object per line: input name -> value).

    Inputs are read, preprocessed as in training (the run keeps its vocabulary, image size and columns)
    and predicted in batches; a bad input is reported with its file and the others are still predicted.
    Exit status: 0 all predicted, 1 some inputs failed, 2 usage or a run directory that cannot be used.
    """
    _quiet_tensorflow()
    if not inputs and not texts:
        raise click.UsageError('Give inputs to predict: files or directories, --text "...", or - for stdin.')
    show_progress = progress if progress is not None else sys.stderr.isatty()
    with _reported("json" if fmt == "json" else "text"):
        from . import predict as predicting

        stdin = sys.stdin if "-" in inputs else None
        files = [i for i in inputs if i != "-"]
        counted = [0]

        def tick(n: int) -> None:
            counted[0] = n
            if show_progress:
                click.echo(f"\rPredicted {n:,}", nl=False, err=True)

        rows = predicting.predict_run(
            run_dir, files, texts=texts, stdin=stdin, top_k=top_k, batch_size=batch_size, progress=tick
        )
        failures = predicting.emit(rows, fmt=fmt, top_k=top_k, output=output, echo=click.echo)
        if show_progress:
            click.echo("", err=True)
        if output:  # the failures are rows of the file; say which here too
            for failure in failures:
                click.echo(f"Error: {failure.source}: {failure.message}", err=True)
        if failures:
            click.echo(f"{len(failures)} input(s) could not be predicted; the others were.", err=True)
            sys.exit(EXIT_FAILED)
