"""The command line: thin click commands that parse options, call one function and hand the result to a reporter.

Exit codes: 0 valid, 1 invalid, 2 usage or I/O error. Never a traceback.
Every command that reports something takes `--format text|json` (`format_option`); with json, stdout holds one
JSON document (`kspec.reporters` documents them) and failures end through `fail`, which prints the error
document. A spec argument may be `-` (stdin) everywhere (`read_spec`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .backends import BACKENDS, DISTRIBUTIONS
from .semantics import DEFAULT_PARAM_BUDGET

if TYPE_CHECKING:
    from .check import Report
    from .diagnostics import Diagnostic

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _expand(paths: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Files to check (directories searched for *.yaml, *.yml, *.json) and paths that do not exist."""
    files: list[str] = []
    missing: list[str] = []
    for p in paths:
        if p == "-":
            files.append(p)
        elif os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).rglob("*") if f.suffix in SPEC_SUFFIXES and f.is_file())
            files.extend(found)
        elif os.path.exists(p):
            files.append(p)
        else:
            missing.append(p)
    return files, missing


# ---- shared by the commands: --format, --set, reading a spec, JSON output, failures -------------------

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str) -> Callable[[F], F]:
    """`--format` (the parameter `fmt`, default text): `@format_option()` gives text|json; a command with more
    report formats names them all, e.g. `@format_option("text", "json", "csv")`. With json, stdout holds exactly
    one document (`emit_json`), failures included (`fail`)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices or ("text", "json"))),
        default="text",
        show_default=True,
        help="Output format; json is a documented contract for tools (one document on stdout).",
    )


class _Size(click.ParamType):
    """A size in bytes as a user writes it (`kspec.cost.parse_size`): 16GiB, 80GB, 512MiB, 1000000."""

    name = "size"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        from .cost import parse_size

        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def memory_budget_option(command: F) -> F:
    """`--memory-budget SIZE`: refuse a spec whose training step needs more memory (`kspec.cost`)."""
    return click.option(
        "--memory-budget",
        type=_Size(),
        default=None,
        help="Refuse a spec whose training step needs more memory than this, by kspec's estimate (weights, "
        "gradients, optimizer slots, activations at the batch size): 16GiB, 80GB, 512MiB or bytes. No budget "
        "by default.",
    )(command)


def set_option(command: F) -> F:
    """`--set KEY=VALUE`, repeatable (the parameter `overrides`): a spec field, validated like the file."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override any spec field, validated like the file: --set training.optimizer.learning_rate=0.01 (repeatable).",
    )(command)


def emit_json(document: dict[str, Any]) -> None:
    """Print a JSON document (built by `kspec.reporters`: `json_document`, `summary_json`, ...) on stdout."""
    from .reporters import render_document

    click.echo(render_document(document), nl=False)


def fail(
    fmt: str,
    kind: str,
    message: str,
    exit_code: int,
    *,
    report: Report | None = None,
    sources: dict[str | None, str] | None = None,
    text: str | None = None,
    **fields: Any,
) -> NoReturn:
    """End the command with `exit_code`.

    Text: the report's diagnostics (with `sources` for excerpts), else `text`, else `Error: {message}`
    (`Data error: {message}` for kind data), on stderr. JSON: the error document on stdout
    (`kspec.reporters.error_document`: kind, message, exit code, the report's diagnostics, then `fields`).
    Kinds: usage, io, spec, data, train, unsupported, internal (documented in `kspec.reporters`).
    """
    from .reporters import error_document, render_text

    if fmt == "json":
        diagnostics: Iterable[Diagnostic] = report.diagnostics if report is not None else ()
        emit_json(error_document(_command_name(), kind, message, exit_code, diagnostics, **fields))
    elif report is not None:
        click.echo(render_text([report], sources), nl=False, err=True)
    else:
        prefix = "Data error" if kind == "data" else "Error"
        click.echo(text if text is not None else f"{prefix}: {message}", err=True)
    sys.exit(exit_code)


def read_spec(path: str, fmt: str) -> tuple[str, str]:
    """(display name, text) of a spec file or `-` (stdin, shown as `<stdin>`); a file that cannot be read ends the
    command (`fail`, kind io, exit 2)."""
    from .check import Report

    name, text, io = _read(path)
    if io is not None:
        fail(fmt, "io", io.message, EXIT_USAGE, report=Report(name, diagnostics=[io]))
    return name, text


def check_spec(path: str, fmt: str, **options: Any) -> tuple[Report, str]:
    """The report of a spec file or `-` and its text; an invalid spec ends the command (`fail`, kind spec, exit 1,
    with every diagnostic). `options` go to `kspec.check` (overrides, param_budget, strict)."""
    from .check import check
    from .reporters import error_message

    name, text = read_spec(path, fmt)
    report = check(text, file=name, **options)
    if not report.ok or report.spec is None or report.inference is None:
        fail(fmt, "spec", error_message(report), EXIT_INVALID, report=report, sources={name: text})
    return report, text


def _command_name() -> str:
    ctx = click.get_current_context(silent=True)
    return (ctx.info_name or "kspec") if ctx is not None else "kspec"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kspec")
def main() -> None:
    """kspec: declarative model specs for Keras. Validate, summarise, build and train."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@format_option()
@set_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--param-budget",
    type=click.IntRange(min=1),
    default=DEFAULT_PARAM_BUDGET,
    show_default=True,
    help="Refuse models with more parameters than this.",
)
@memory_budget_option
def validate(
    paths: tuple[str, ...],
    fmt: str,
    overrides: tuple[str, ...],
    strict: bool,
    param_budget: int,
    memory_budget: int | None,
) -> None:
    """Check spec files (or directories of them, or - for stdin) without TensorFlow.

    Exit status: 0 all valid, 1 some invalid, 2 usage or I/O error.
    """
    from .check import Report, check
    from .diagnostics import Diagnostic
    from .reporters import render_json, render_text

    files, missing = _expand(paths)
    reports: list[Report] = []
    sources: dict[str | None, str] = {}
    io_error = bool(missing)
    for m in missing:
        reports.append(Report(m, diagnostics=[Diagnostic("io-error", f"No such file or directory: '{m}'.", file=m)]))
    if not files and not missing:
        raise click.UsageError(f"No spec files (*.yaml, *.yml, *.json) found in: {', '.join(paths)}")
    for f in files:
        name, text, io = _read(f)
        if io is not None:
            reports.append(Report(name, diagnostics=[io]))
            io_error = True
            continue
        sources[name] = text
        reports.append(
            check(
                text,
                file=name,
                strict=strict,
                param_budget=param_budget,
                overrides=overrides,
                memory_budget=memory_budget,
            )
        )
    out = render_json(reports) if fmt == "json" else render_text(reports, sources)
    click.echo(out, nl=False)
    if io_error:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK if all(r.ok for r in reports) else EXIT_INVALID)


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file (atomically) instead of stdout.",
)
@click.option(
    "--path",
    "print_path",
    is_flag=True,
    help="Print the path of the schema installed with kspec instead, for an editor's modeline: "
    "`# yaml-language-server: $schema=<path>`.",
)
def schema(output: str | None, print_path: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of the spec language, or (--path) where kspec installed it."""
    from .spec import json_schema_text, schema_path

    if print_path:
        if output:
            raise click.UsageError("--path prints where the schema is installed; it takes no -o/--output.")
        click.echo(str(schema_path()))
        return
    text = json_schema_text()
    if output:
        _atomic_write(Path(output), text)
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--stdio", is_flag=True, help="Speak over stdin and stdout (the default, and the only transport).")
def lsp(stdio: bool) -> None:
    """Run the language server (LSP over stdio) for editors: every diagnostic of `kspec check` as you type, each
    layer's output shape inline, hover, completion, go to definition, code actions. Needs `pip install 'kspec[lsp]'`."""
    try:
        from .lsp.server import serve
    except ImportError as exc:
        click.echo(f"kspec lsp needs pygls, which is not installed ({exc}): pip install 'kspec[lsp]'.", err=True)
        sys.exit(EXIT_USAGE)
    serve()


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False, allow_dash=True))
@format_option()
@set_option
@click.option("--param-budget", type=click.IntRange(min=1), default=DEFAULT_PARAM_BUDGET, show_default=True)
@click.option(
    "--collapsed", is_flag=True, help="One row per layer or block use, as written, instead of every expanded layer."
)
@memory_budget_option
def summary(
    spec: str, fmt: str, overrides: tuple[str, ...], param_budget: int, collapsed: bool, memory_budget: int | None
) -> None:
    """Print the layer table (name, type, output shape, parameters) from static inference.

    SPEC is a file or - (stdin). Exit status: 0 printed, 1 invalid spec, 2 usage or I/O error.
    """
    from .reporters import render_summary, summary_json

    report, _ = check_spec(
        spec, fmt, param_budget=param_budget, overrides=overrides, memory_budget=memory_budget, space=False
    )
    if fmt == "json":
        emit_json(summary_json(report, collapsed=collapsed))
    else:
        click.echo(render_summary(report, collapsed=collapsed), nl=False)


@main.command("build-and-train")
@click.argument("spec", type=click.Path(dir_okay=False, allow_dash=True))
@format_option()
@click.option(
    "--data",
    help="Use this data instead of the spec's: a .npz or .csv file, an image or text directory, synthetic[:N], embedded[:digits] or keras:NAME.",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Number of epochs (overrides training.epochs).")
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    help="Training steps per epoch (at most one pass over the data); `--steps 1` with one epoch runs one step.",
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Examples per step (overrides training.batch_size).")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Run directory (default: runs/NAME-YYYYMMDD-HHMMSS). Nothing is written outside it.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31 - 1),
    help="Random seed (overrides training.seed); same spec and seed, same run.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run (--output DIR, or the latest unfinished run of this spec).",
)
@set_option
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars (default: when the output is a terminal; otherwise one line per epoch).",
)
@click.option(
    "--skip-bad-examples",
    is_flag=True,
    help="A streamed source's bad examples (an image that does not decode, a NaN, a label out of range) are counted, "
    "reported and skipped instead of stopping training.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final result.")
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    help="Keras backend (default: KERAS_BACKEND if set, else jax for multi-worker training, else tensorflow).",
)
@click.option(
    "--distribution",
    type=click.Choice(list(DISTRIBUTIONS)),
    help="How training is spread (overrides training.distribution): none, mirrored (every device of this machine), multi-worker (several processes, JAX).",
)
@click.option(
    "--coordinator",
    envvar="KSPEC_COORDINATOR",
    metavar="HOST:PORT",
    help="multi-worker: process 0's address, the same for every process [env KSPEC_COORDINATOR].",
)
@click.option(
    "--num-processes",
    envvar="KSPEC_NUM_PROCESSES",
    type=click.IntRange(min=1),
    help="multi-worker: how many processes train together [env KSPEC_NUM_PROCESSES].",
)
@click.option(
    "--process-id",
    envvar="KSPEC_PROCESS_ID",
    type=click.IntRange(min=0),
    help="multi-worker: this process's index, 0 to N-1; 0 writes the run directory [env KSPEC_PROCESS_ID].",
)
@click.option(
    "--join-timeout",
    envvar="KSPEC_JOIN_TIMEOUT",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="multi-worker: seconds to wait for every process to join [env KSPEC_JOIN_TIMEOUT].",
)
@click.option(
    "--cpu-devices",
    type=click.IntRange(min=1),
    help="Split the CPU into this many logical devices (to try a distribution on a machine without GPUs).",
)
@memory_budget_option
def build_and_train(
    spec: str,
    fmt: str,
    data,
    epochs,
    steps,
    batch_size,
    output,
    seed,
    resume,
    overrides,
    progress,
    skip_bad_examples,
    quiet,
    backend,
    distribution,
    coordinator,
    num_processes,
    process_id,
    join_timeout,
    cpu_devices,
    memory_budget,
) -> None:
    """Build the model of SPEC (a file, or - for stdin), train it on its data and write a run directory.

    The run directory holds the resolved spec, the trained model (.keras and a SavedModel), the
    history (CSV, JSON), final and test metrics, training curves, the model summary and diagram.
    Progress and notes go to stderr; the result (one line, or the JSON document) to stdout.
    Exit status: 0 trained, 1 invalid spec, data or training failure, 2 usage or I/O error,
    130 interrupted (resume with --resume).

    A spec read from stdin reads its relative data paths from the current directory; --resume with
    - needs the same spec on stdin again.
    Multi-worker training runs one such command per worker, each with the same --coordinator and
    --num-processes and its own --process-id; only process 0 writes the run directory.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _terminate_as_interrupt()
    from contextlib import nullcontext, redirect_stdout

    from .reporters import error_message, train_json, train_line
    from .train.run import EXIT_INTERRUPTED, InvalidSpec, TrainError, TrainOptions
    from .train.run import build_and_train as run
    from .train.runtime import Cluster

    if num_processes is not None and process_id is not None and process_id >= num_processes:
        fail(
            fmt,
            "usage",
            f"--process-id {process_id} is out of range for --num-processes {num_processes} (0 to {num_processes - 1}).",
            EXIT_USAGE,
            status="invalid",
        )
    spec_text = read_spec(spec, fmt)[1] if spec == "-" else None
    if steps is not None and epochs is None and not resume:
        epochs = 1
    # With --format json, stdout holds only the document: Keras's progress goes to stderr with the notes.
    terminal = (sys.stderr if fmt == "json" else sys.stdout).isatty()
    verbose = 0 if quiet else (1 if (progress if progress is not None else terminal) else 2)
    opts = TrainOptions(
        data=data,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        output=output,
        seed=seed,
        resume=resume,
        overrides=tuple(overrides),
        verbose=verbose,
        backend=backend,
        distribution=distribution,
        cluster=Cluster(coordinator, num_processes, process_id, join_timeout),
        cpu_devices=cpu_devices,
        spec_text=spec_text,
        skip_bad_examples=skip_bad_examples,
        memory_budget=memory_budget,
    )
    echo = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    try:
        from .compile import KspecBug
        from .train.data import DataError

        with redirect_stdout(sys.stderr) if fmt == "json" else nullcontext():
            result = run(spec, opts, echo=echo)
    except InvalidSpec as exc:
        fail(
            fmt,
            "spec",
            error_message(exc.report),
            EXIT_INVALID,
            report=exc.report,
            sources=exc.sources,
            status="invalid",
        )
    except DataError as exc:
        fail(fmt, "data", str(exc), EXIT_INVALID, status="failed")
    except TrainError as exc:
        status = "interrupted" if exc.exit_code == EXIT_INTERRUPTED else "failed"
        fail(fmt, "train", str(exc), exc.exit_code, status=status)
    except KspecBug as exc:
        fail(fmt, "internal", str(exc), EXIT_USAGE, text=str(exc), status="failed")
    if fmt == "json":
        emit_json(train_json(result))
    else:
        click.echo(train_line(result))


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False, allow_dash=True))
@format_option()
@click.option(
    "--trials", type=click.IntRange(min=1), help="Trained trials of the study in all (overrides tuning.trials)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds after which no new trial starts (overrides tuning.timeout).",
)
@click.option("-o", "--output", help="The study directory (default: runs/NAME-study); rerunning continues its study.")
@click.option(
    "--storage",
    help="An Optuna storage URL shared by many workers (postgresql://USER:PASSWORD@HOST/DB); default: a SQLite file "
    "in the study directory.",
)
@click.option("--study", "study_name", help="The study's name in the storage (default: the spec's name).")
@click.option("--backend", type=click.Choice(BACKENDS), help="The Keras backend of every trial.")
@click.option(
    "--param-budget",
    type=click.IntRange(min=1),
    default=DEFAULT_PARAM_BUDGET,
    show_default=True,
    help="A trial's model may have at most this many parameters; larger ones are invalid, never trained.",
)
@memory_budget_option
@set_option
def tune(
    spec, fmt, trials, timeout, output, storage, study_name, backend, param_budget, memory_budget, overrides
) -> None:
    """Search the space in SPEC's `tuning` section: train trials (each an ordinary run directory under the study
    directory), pruning poor ones, and write the best spec (best.yaml), every trial (trials.csv), parameter
    importances and plots into the study directory.

    Every sampled point is checked first and never trained when invalid. Rerunning the same command continues
    the study; a trial cut short continues its own run. Many workers share one study with the same
    --storage URL and --study name. The table of trials goes to stdout as they finish (stderr with --format
    json). Exit status: 0 done, 1 invalid spec or space, 2 usage, storage or I/O error, 130 interrupted.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _terminate_as_interrupt()
    from .reporters import error_message, tune_header, tune_json, tune_line, tune_row
    from .train.run import EXIT_INTERRUPTED, InvalidSpec
    from .tune import TuneError, TuneOptions
    from .tune import tune as run
    from .tune.study import Interrupted

    opts = TuneOptions(
        trials=trials,
        timeout=timeout,
        output=output,
        storage=storage,
        study=study_name,
        backend=backend,
        memory_budget=memory_budget,
        param_budget=param_budget,
        overrides=tuple(overrides),
        spec_text=read_spec(spec, fmt)[1] if spec == "-" else None,
    )
    table = fmt == "json"
    headed: list[bool] = []

    def row(r: Any) -> None:
        if not headed:
            click.echo(tune_header(list(r.params)), err=table)
            headed.append(True)
        click.echo(tune_row(r), err=table)

    try:
        result = run(spec, opts, echo=lambda msg: click.echo(msg, err=True), row=row)
    except InvalidSpec as exc:
        fail(fmt, "spec", error_message(exc.report), EXIT_INVALID, report=exc.report, sources=exc.sources)
    except TuneError as exc:
        fail(fmt, "tune", str(exc), exc.exit_code)
    except (Interrupted, KeyboardInterrupt):
        message = (
            "Interrupted. The trial that was running is queued again; rerun the same command to continue the study."
        )
        fail(fmt, "train", message, EXIT_INTERRUPTED)
    if fmt == "json":
        emit_json(tune_json(result, result.metric))
    else:
        click.echo(tune_line(result, result.metric))


@main.command("import")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the spec to this file (atomically) instead of stdout: JSON for a .json file, YAML otherwise.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the output file if it exists (without it, an existing file is never overwritten).",
)
@click.option("--name", help="The spec's name (default: the model's name, made a valid kspec name).")
@format_option()
def import_command(model: str, output: str | None, force: bool, name: str | None, fmt: str) -> None:
    """Convert a Keras model (a .keras file, or the JSON of model.to_json()) into a kspec spec.

    Nothing in the file is deserialised or run: kspec reads the model's configuration as data.
    The spec's training section is a placeholder to edit. With --format json and no --output,
    the spec's text is in the document's `text`.
    Exit status: 0 imported, 1 the model uses what kspec cannot express (all of it is listed),
    2 usage or I/O error.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports TensorFlow
    from .importer import ModelFileError, UnsupportedModel, import_report, spec_text
    from .reporters import Imported, import_json, import_line

    target = Path(output) if output else None
    if target is not None and target.exists() and not force:
        fail(fmt, "usage", f"'{output}' exists; use --force to replace it.", EXIT_USAGE)
    try:
        report = import_report(model, name=name)
    except ModelFileError as exc:
        fail(fmt, "io", str(exc), EXIT_USAGE)
    except UnsupportedModel as exc:
        fail(fmt, "unsupported", str(exc).splitlines()[0], EXIT_INVALID, text=str(exc), unsupported=exc.problems)
    assert report.spec is not None
    file_format = "json" if target is not None and target.suffix == ".json" else "yaml"
    text = spec_text(report.spec, file_format, source=os.path.basename(model))
    imported = Imported.of(report, output, text)
    if target is not None:
        try:
            _atomic_write(target, text)
        except click.ClickException as exc:
            fail(fmt, "io", exc.message, EXIT_USAGE)
    if fmt == "json":
        emit_json(import_json(imported, report.diagnostics))
    elif target is None:
        click.echo(text, nl=False)
    else:
        click.echo(import_line(imported), err=True)


# After training: predict, evaluate, report, export (kspec/use/commands.py; importing it loads no TensorFlow).
from .use.commands import evaluate, export, predict, report  # noqa: E402 - registered after the group exists

main.add_command(predict)
main.add_command(evaluate)
main.add_command(report)
main.add_command(export)


def _terminate_as_interrupt() -> None:
    """SIGTERM (`kill`, a scheduler's stop) ends training like Ctrl-C: the run is marked interrupted
    and can be resumed."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, handler)


def _read(path: str) -> tuple[str, str, Diagnostic | None]:
    """(display name, text, io-error diagnostic or None) for a path or `-` (stdin)."""
    from .check import read_source

    if path == "-":
        return "<stdin>", sys.stdin.read(), None
    name, text, _, io_error = read_source(Path(path))
    name = name or path
    return name, text or "", io_error and io_error.with_source(name, None)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise click.ClickException(f"Cannot write '{path}': {exc.strerror or exc}.") from None


def entry() -> None:
    """Console entry point: click's own handling, plus no traceback for anything else.

    The process ends with `os._exit` once output is flushed: tearing down the interpreter
    (freeing every module and pydantic model) took ~40 ms of a ~0.25 s `kspec validate`,
    and nothing of kspec's needs it (files are written atomically before this point).
    """
    code = _run()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # ValueError: closed by the reader's end (`kspec lsp` after `exit`)
        pass
    os._exit(code)


def _run() -> int:
    from .spec import plugins

    for problem in plugins.PROBLEMS:
        click.echo(f"kspec: warning: {problem}", err=True)
    try:
        main(standalone_mode=False)
        return EXIT_OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code in (1, 2) else exc.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `kspec schema | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - a kspec bug must still not print a traceback
        if os.environ.get("KSPEC_TRACEBACK"):  # for a bug report: KSPEC_TRACEBACK=1 shows where it happened
            import traceback

            traceback.print_exc()
        click.echo(
            f"kspec: internal error: {type(exc).__name__}: {exc}. This is a bug in kspec; "
            "please report it with the spec that caused it.",
            err=True,
        )
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    entry()
