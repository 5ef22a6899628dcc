"""`kspec build-and-train`: check the spec, load and check the data, prepare the run directory, then
run a training session (`kspec.train.session`) that leaves a run directory a person can use.

The run directory's layout is `kspec.rundir`'s (never written outside it; every file written
atomically). A run that stops early (Ctrl-C, a killed process, a non-finite loss) keeps its last
complete epoch in `checkpoint/`; `--resume` continues from there (`kspec.train.resume`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import rundir
from ..check import check
from ..dump import resolved_document, resolved_yaml
from ..rundir import RunDirError
from ..spec import Spec
from . import artifacts
from .errors import EXIT_INTERRUPTED, InvalidSpec, TrainError
from .interrupts import Interrupts
from .resume import resume_state
from .session import Session, now, write_info, write_report

__all__ = [
    "EXIT_INTERRUPTED",
    "InvalidSpec",
    "RunResult",
    "TrainError",
    "TrainOptions",
    "build_and_train",
    "dump_yaml",
    "check_spec",
    "resolved_document",
]

#: `spec.yaml`'s text (kept under its old name for callers).
dump_yaml = resolved_yaml


@dataclass
class TrainOptions:
    data: str | None = None
    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    output: str | None = None
    seed: int | None = None
    resume: bool = False
    overrides: tuple[str, ...] = ()
    verbose: int = 2  # Keras fit verbosity: 1 progress bar, 2 one line per epoch, 0 silent
    backend: str | None = None  # tensorflow, jax or torch (default: KERAS_BACKEND, else see runtime.default_backend)
    distribution: str | None = None  # overrides training.distribution: none, mirrored, multi-worker
    cluster: Any = None  # runtime.Cluster: how a multi-worker process finds the others
    cpu_devices: int | None = None  # split the CPU into this many logical devices (distribution without GPUs)
    spec_text: str | None = None  # the spec's text when it came from stdin (spec_path is then "-")
    skip_bad_examples: bool = False  # a streamed source's bad examples are counted and skipped, not fatal
    memory_budget: int | None = None  # refuse the spec when a training step needs more bytes (`kspec.cost`)
    callbacks: tuple[Any, ...] = ()  # Keras callbacks added to the spec's own (kspec tune's pruning)
    spec_label: str | None = None  # what diagnostics call a spec given as spec_text (default: <stdin>)


@dataclass
class RunResult:
    run_dir: Path | None  # None on a multi-worker process other than the chief (it writes nothing)
    spec: Spec
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    epochs_done: int
    resumed_from: int = 0
    files: list[str] = field(default_factory=list)
    model: Any = None  # the trained Keras model
    runtime: Any = None  # runtime.Runtime: backend, distribution, replicas, process


# ---- the spec, with the command line's overrides -----------------------------------------------


def check_spec(spec_path: str, opts: TrainOptions, *, space: bool = False) -> tuple[Any, str]:
    """The checker's report on the spec with the options' overrides (it passed: warnings at most), and its text.
    A `tuning` section's search space is checked only with `space` (kspec tune); training ignores it."""
    from ..check import read_source

    name: str | None
    text: str | None
    if opts.spec_text is not None:
        name, text = opts.spec_label or "<stdin>", opts.spec_text
    else:
        name, text, _, io_error = read_source(Path(spec_path))
        if io_error is not None:
            raise TrainError(io_error.message, 2)
    assert text is not None  # read_source gives the text of a file it could read
    overrides: list[Any] = list(opts.overrides)
    # (override, the option the user typed): a diagnostic about the value names the option
    if opts.epochs is not None:
        overrides.append((f"training.epochs={opts.epochs}", f"--epochs {opts.epochs}"))
    if opts.batch_size is not None:
        overrides.append((f"training.batch_size={opts.batch_size}", f"--batch-size {opts.batch_size}"))
    if opts.seed is not None:
        overrides.append((f"training.seed={opts.seed}", f"--seed {opts.seed}"))
    if opts.distribution is not None:
        overrides.append((f"training.distribution={opts.distribution}", f"--distribution {opts.distribution}"))
    report = check(text, file=name, overrides=overrides, memory_budget=opts.memory_budget, space=space)
    if not report.ok or report.spec is None:
        raise InvalidSpec(report, {name: text})
    return report, text


# ---- training ------------------------------------------------------------------------------------


def build_and_train(
    spec_path: str, opts: TrainOptions | None = None, *, echo: Callable[[str], None] = print
) -> RunResult:
    """The whole `kspec build-and-train` job. Raises SpecError (the spec), DataError (the data) or
    TrainError (everything else a user can cause); a KspecBug is a bug in kspec."""
    opts = opts or TrainOptions()
    lock = rundir.Lock()
    try:
        return _build_and_train(spec_path, opts, echo, lock)
    except RunDirError as exc:
        raise TrainError(str(exc), exc.exit_code) from None
    finally:
        lock.release()


def _build_and_train(spec_path: str, opts: TrainOptions, echo: Callable[[str], None], lock: rundir.Lock) -> RunResult:
    if opts.resume:
        _check_resume_options(opts)
    report, _ = check_spec(spec_path, opts)
    spec, inference = report.spec, report.inference
    warned = _warnings(report, echo)
    check_dependencies(spec)
    backend, distribution = _backend(spec, opts)
    state: dict[str, Any] = {}
    run_dir: Path | None = None
    if opts.resume:
        run_dir = rundir.find_resumable(spec.name, opts.output)
        lock.acquire(run_dir)
        spec, state = resume_state(run_dir, spec, opts.epochs)
        from ..infer import infer

        inference = infer(spec)
    else:
        spec = _new_run_spec(spec, inference, opts, spec_path)
    runtime = _start_runtime(backend, distribution, opts)
    from .data import load_data

    loaded = load_data(
        spec,
        inference,
        base_dir=Path(spec_path).resolve().parent,
        seed=spec.training.seed,
        skip_bad=opts.skip_bad_examples,
    )
    if run_dir is None and runtime.chief:  # a new run: its directory is made only once the spec and the data are good
        run_dir = rundir.create(rundir.new_run_dir(spec.name, opts.output))
        lock.acquire(run_dir)
        artifacts.atomic_write_text(run_dir / rundir.SPEC, resolved_yaml(resolved_document(spec)))
    run_info = _run_info(spec, state, runtime)
    write_info(run_dir, run_info)
    echo(
        f"Run directory: {run_dir}"
        if run_dir
        else f"Worker {runtime.process_index}: the chief (process 0) writes the run directory."
    )
    echo(runtime.describe())
    echo(f"Data: {loaded.description}")
    try:
        with Interrupts.active() as interrupts:
            session = Session(
                spec_path, spec, inference, loaded, run_dir, run_info, state, opts, echo, runtime, interrupts, warned
            )
            out = session.run()
    except KeyboardInterrupt:
        run_info.update(status="interrupted", stopped=now())
        write_info(run_dir, run_info)
        write_report(run_dir, echo)
        done = run_info["epochs_done"]
        raise TrainError(
            f"Interrupted{f' during epoch {done + 1}' if done < spec.training.epochs else ''}. The run directory "
            f"'{run_dir}' keeps the {done} complete epoch(s); continue with "
            f"`kspec build-and-train {spec_path} --output {run_dir} --resume`.",
            EXIT_INTERRUPTED,
        ) from None
    except Exception as exc:
        if run_info.get("status") == "running":
            run_info.update(status="failed", stopped=now(), error=f"{type(exc).__name__}: {exc}"[:2000])
            write_info(run_dir, run_info)
        if run_info.get("status") == "failed":
            write_report(run_dir, echo)
        raise
    resumed_from = int(state.get("epochs_done", 0))
    return RunResult(
        run_dir,
        spec,
        out["history"],
        out["metrics"],
        out["epochs_done"],
        resumed_from,
        out["files"],
        out["model"],
        runtime,
    )


def _check_resume_options(opts: TrainOptions) -> None:
    changed = [
        name
        for name, value in (
            ("--set", opts.overrides),
            ("--data", opts.data),
            ("--seed", opts.seed),
            ("--batch-size", opts.batch_size),
        )
        if value
    ]
    if changed:
        raise TrainError(
            f"--resume continues a run exactly as it started; it cannot take {', '.join(changed)} "
            "(only --epochs, to train further). Start a new run to change the spec or the data.",
            2,
        )


def _backend(spec: Spec, opts: TrainOptions) -> tuple[str, str]:
    """The backend (selected now, before Keras loads) and the distribution, checked to go together."""
    from . import runtime as rt

    distribution = spec.training.distribution
    backend = opts.backend or rt.default_backend(distribution)
    try:
        rt.select_backend(backend)
        rt.check_combination(backend, distribution)
    except rt.RuntimeSetupError as exc:
        raise TrainError(str(exc), 2) from None
    if opts.resume and distribution == "multi-worker":
        raise TrainError(
            "--resume does not work with multi-worker training yet: every worker would need the chief's checkpoint. "
            "Start a new run, or resume on one machine (--distribution none or mirrored).",
            2,
        )
    return backend, distribution


def _new_run_spec(spec: Spec, inference: Any, opts: TrainOptions, spec_path: str) -> Spec:
    """The spec a new run records: its seed fixed, its data resolved, without a search space (`tuning`: the run
    trains one point of it); a used `--output` refused early."""
    spec = spec.model_copy(update={"tuning": None})
    if spec.training.seed is None:  # fix a seed so that the resolved spec reproduces the run
        spec = spec.model_copy(update={"training": spec.training.model_copy(update={"seed": secrets.randbelow(2**31)})})
    spec = _resolve_data(spec, inference, opts.data, Path(spec_path).resolve().parent)
    if opts.output:  # refuse a used or unwritable --output before the (slow) data loading
        rundir.check_new(Path(opts.output))
    return spec


def _start_runtime(backend: str, distribution: str, opts: TrainOptions) -> Any:
    """TensorFlow imported (quietly: the input pipelines use it on every backend), then the devices and the
    distribution started."""
    from . import import_tensorflow_quietly
    from . import runtime as rt

    import_tensorflow_quietly()
    try:
        rt.prepare_devices(backend, opts.cpu_devices)
        return rt.start(backend, distribution, opts.cluster)
    except rt.RuntimeSetupError as exc:
        raise TrainError(str(exc), 2) from None


def _run_info(spec: Spec, state: dict, runtime: Any) -> dict[str, Any]:
    """run.json as a run starts (or resumes)."""
    return {
        "status": "running",
        "spec": spec.name,
        "kspec_version": _version(),
        "seed": spec.training.seed,
        "epochs": spec.training.epochs,
        "epochs_done": int(state.get("epochs_done", 0)),
        "started": state.get("started") or now(),
        "backend": runtime.backend,
        "distribution": runtime.distribution,
        "replicas": runtime.replicas,
        "processes": runtime.process_count,
    }


def _warnings(report: Any, echo: Callable[[str], None]) -> set[str]:
    """Say the spec's warnings (lints) before training, as `kspec validate` would; returns their codes."""
    for d in report.warnings:
        where = ".".join(str(p) for p in d.path) if d.path else ""
        echo(f"Warning[{d.code}]: {d.message}" + (f" (at {where})" if where else ""))
    return {d.code for d in report.warnings}


def check_dependencies(spec: Spec) -> None:
    """Every package the run needs is there before anything trains (a run that trained for an hour must
    not stop at its end for want of matplotlib to draw its curves)."""
    import importlib.util

    needed = {"keras": "the model", "tensorflow": "the input pipelines", "matplotlib": "the training curves"}
    if any(cb.type == "TensorBoard" for cb in spec.training.callbacks):
        needed["tensorboard"] = "the spec's TensorBoard callback"
    missing = [f"`{name}` ({why})" for name, why in needed.items() if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainError(
            f"Training needs packages that are not installed: {', '.join(missing)}. Install kspec's `train` extra "
            "(`pip install 'kspec[train]'`), or the package itself.",
            2,
        )


def _resolve_data(spec: Spec, inference: Any, override: str | None, base: Path) -> Spec:
    """The data section as trained on, for the resolved spec: `--data` applied (synthetic data when
    the spec has none), settings implied by the model written in, and paths made absolute (relative
    paths are relative to the spec file, and the resolved spec lives elsewhere)."""
    from ..spec.data import Data, SyntheticSource
    from .data import resolve_source, source_from_cli

    if override:
        source = source_from_cli(override)
        base = Path.cwd()  # a path on the command line is relative to where the command runs
    elif spec.data is None:
        source = SyntheticSource(type="synthetic", seed=spec.training.seed)
    else:
        source = spec.data.source
    if getattr(source, "path", None):
        source = source.model_copy(update={"path": str((base / source.path).resolve())})
    if source.type == "synthetic" and source.seed is None:  # same spec and seed, same examples
        source = source.model_copy(update={"seed": spec.training.seed})
    data = spec.data.model_copy(update={"source": source}) if spec.data else Data(source=source)
    spec = spec.model_copy(update={"data": data})
    source = resolve_source(spec, inference)
    return spec.model_copy(update={"data": data.model_copy(update={"source": source})})


def _version() -> str:
    from .. import __version__

    return __version__
