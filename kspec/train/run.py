"""`kspec build-and-train`: check the spec, load and check the data, build, compile, fit with
per-epoch checkpoints, evaluate, and leave a run directory a person can inspect.

The run directory (never written outside it; every file written atomically):

    run.json            status (running, interrupted, failed, complete), epochs done, seed, timings
    spec.yaml           the resolved spec: overrides applied, every default filled in, the seed fixed
    model.keras         the trained model (keras.saving.load_model)
    saved_model/        SavedModel export for serving (TensorFlow backend)
    history.csv/.json   per-epoch loss and metrics (training and validation)
    metrics.json        final metrics: last epoch's, and the held-out test split's
    curves.png          training curves
    summary.txt         Keras's model summary
    model.dot (+.png)   the model graph (PNG where Graphviz's `dot` is installed)
    checkpoint/         the last complete epoch (model + optimizer state), while the run is unfinished

A run that stops early (Ctrl-C, a killed process, NaN loss) keeps its last complete epoch in
`checkpoint/`; `--resume` continues from there.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import rundir
from ..check import check
from ..diagnostics import SpecError
from ..dump import spec_document, yaml_text
from ..rundir import CHECKPOINT, RunDirError, read_json
from ..spec import Spec
from . import artifacts

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


def resolve_spec(spec_path: str, opts: TrainOptions) -> tuple[Spec, Any, str]:
    """The validated spec with `--set`, `--epochs`, `--batch-size` and `--seed` applied, its
    inference and the source text. Raises SpecError with every diagnostic."""
    from ..check import read_source

    name, text, _, io_error = read_source(Path(spec_path))
    if io_error is not None:
        raise TrainError(io_error.message, 2)
    assert text is not None  # read_source gives the text of a file it could read
    overrides = list(opts.overrides)
    if opts.epochs is not None:
        overrides.append(f"training.epochs={opts.epochs}")
    if opts.batch_size is not None:
        overrides.append(f"training.batch_size={opts.batch_size}")
    if opts.seed is not None:
        overrides.append(f"training.seed={opts.seed}")
    if opts.distribution is not None:
        overrides.append(f"training.distribution={opts.distribution}")
    report = check(text, file=name, overrides=overrides)
    if not report.ok or report.spec is None:
        raise InvalidSpec(report, {name: text})
    return report.spec, report.inference, text


def resolved_document(spec: Spec) -> dict:
    """The spec as plain data with every default filled in (what `spec.yaml` holds)."""
    return spec_document(spec, defaults=True)


def dump_yaml(document: dict) -> str:
    """`spec.yaml`'s text: a header line, then the YAML of `kspec.dump_spec` (which reads back as the same spec)."""
    header = "# Resolved by kspec: overrides applied, every default filled in. Validates and builds the same model.\n"
    return header + yaml_text(document)


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
    spec, inference, _ = resolve_spec(spec_path, opts)
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

    state: dict[str, Any] = {}
    run_dir: Path | None = None
    if opts.resume:
        run_dir = rundir.find_resumable(spec.name, opts.output)
        lock.acquire(run_dir)
        spec, state = _resume_state(run_dir, spec, opts)
        from ..infer import infer

        inference = infer(spec)
    else:
        if spec.training.seed is None:  # fix a seed so that the resolved spec reproduces the run
            spec = spec.model_copy(
                update={"training": spec.training.model_copy(update={"seed": secrets.randbelow(2**31)})}
            )
        spec = _resolve_data(spec, inference, opts.data, Path(spec_path).resolve().parent)
        if opts.output:  # refuse a used or unwritable --output before the (slow) data loading
            rundir.check_new(Path(opts.output))

    from . import import_tensorflow_quietly
    from .data import load_data

    import_tensorflow_quietly()  # the TensorFlow part starts here
    try:
        rt.prepare_devices(backend, opts.cpu_devices)
        runtime = rt.start(backend, distribution, opts.cluster)
    except rt.RuntimeSetupError as exc:
        raise TrainError(str(exc), 2) from None

    seed = spec.training.seed
    loaded = load_data(spec, inference, base_dir=Path(spec_path).resolve().parent, seed=seed)
    if run_dir is None and runtime.chief:  # a new run: its directory is made only once the spec and the data are good
        run_dir = rundir.create(rundir.new_run_dir(spec.name, opts.output))
        lock.acquire(run_dir)
        artifacts.atomic_write_text(run_dir / "spec.yaml", dump_yaml(resolved_document(spec)))
    run_info: dict[str, Any] = {
        "status": "running",
        "spec": spec.name,
        "kspec_version": _version(),
        "seed": spec.training.seed,
        "epochs": spec.training.epochs,
        "epochs_done": int(state.get("epochs_done", 0)),
        "started": state.get("started") or _now(),
        "backend": runtime.backend,
        "distribution": runtime.distribution,
        "replicas": runtime.replicas,
        "processes": runtime.process_count,
    }
    _write_info(run_dir, run_info)
    echo(
        f"Run directory: {run_dir}"
        if run_dir
        else f"Worker {runtime.process_index}: the chief (process 0) writes the run directory."
    )
    echo(runtime.describe())
    echo(f"Data: {loaded.description}")
    try:
        with _Interrupts.active() as interrupts:
            return _train(spec_path, spec, inference, loaded, run_dir, run_info, state, opts, echo, runtime, interrupts)
    except KeyboardInterrupt:
        run_info.update(status="interrupted", stopped=_now())
        _write_info(run_dir, run_info)
        done = run_info["epochs_done"]
        raise TrainError(
            f"Interrupted{f' during epoch {done + 1}' if done < spec.training.epochs else ''}. The run directory "
            f"'{run_dir}' keeps the {done} complete epoch(s); continue with "
            f"`kspec build-and-train {spec_path} --output {run_dir} --resume`.",
            EXIT_INTERRUPTED,
        ) from None
    except Exception as exc:
        if run_info.get("status") == "running":
            run_info.update(status="failed", stopped=_now(), error=f"{type(exc).__name__}: {exc}"[:2000])
            _write_info(run_dir, run_info)
        raise


class _Interrupts:
    """Ctrl-C and SIGTERM stop training even when their KeyboardInterrupt is raised inside a finalizer.

    A signal's Python handler runs in whatever Python code the main thread executes next, and during
    training that is now and then a finalizer: TensorFlow frees graphs, functions and iterators in
    `__del__` methods and weakref callbacks, most of all as an epoch starts (right when an interrupt
    sent after an epoch's checkpoint arrives). Python cannot raise out of a finalizer: it prints
    "Exception ignored in ..." with a traceback and carries on, so the interrupt was lost and the run
    trained to its end.

    While `active`, the SIGINT and SIGTERM handlers that raise KeyboardInterrupt (Python's own for
    Ctrl-C, the command line's for SIGTERM) are wrapped to remember the interrupt; `check` raises it
    again at the next safe point (each step's and epoch's end, `callbacks.InterruptCheck`; after fit;
    before the run is marked complete), and the report of an interrupt swallowed by a finalizer is
    kept quiet. Signals handled otherwise (ignored, default, a caller's handler that does not raise)
    are left alone, and so is everything outside the main thread (where no signal handler can be set).
    """

    def __init__(self) -> None:
        self.pending = False

    def check(self) -> None:
        """Raise the interrupt that arrived but was swallowed before it could stop training."""
        if self.pending:
            raise KeyboardInterrupt

    def _wrap(self, handler: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        def on_signal(signum: int, frame: Any) -> Any:
            try:
                return handler(signum, frame)
            except KeyboardInterrupt:
                self.pending = True
                raise

        return on_signal

    @classmethod
    @contextlib.contextmanager
    def active(cls) -> Iterator[_Interrupts]:
        interrupts = cls()
        if threading.current_thread() is not threading.main_thread():
            yield interrupts
            return
        previous: dict[signal.Signals, Callable[[int, Any], Any]] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):
                previous[signum] = handler
                signal.signal(signum, interrupts._wrap(handler))
        report = sys.unraisablehook

        def unraisable(info: Any) -> None:
            if not (interrupts.pending and issubclass(info.exc_type, KeyboardInterrupt)):
                report(info)

        sys.unraisablehook = unraisable
        try:
            yield interrupts
        finally:
            sys.unraisablehook = report
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextlib.contextmanager
def _quiet_end_of_data(runtime: Any) -> Iterator[None]:
    """Under a multi-process JAX distribution Keras shards the pipelines, which loses their length, and
    warns "Your input ran out of data" when an evaluation reaches the end it then finds by running out.
    That end is expected there (training is an endless stream with a step count and never runs out)."""
    with warnings.catch_warnings():
        if runtime.process_count > 1:
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        yield


def _write_info(run_dir: Path | None, run_info: dict) -> None:
    """run.json, on the process that writes the run directory (None: a worker that is not the chief)."""
    if run_dir is not None:
        artifacts.write_json(run_dir / "run.json", run_info)


def _batches(runtime: Any, batch_size: int, examples: int, what: str) -> int:
    """The batch size for `examples` examples: the spec's (global) batch size, at most the examples; where
    the distribution needs whole batches split evenly over the replicas, a multiple of the replicas."""
    batch = min(batch_size, examples)
    if not runtime.whole_batches:
        return batch
    replicas = runtime.replicas
    if batch_size % replicas:
        raise TrainError(
            f"The batch size {batch_size} does not split evenly over {replicas} replicas: JAX gives each replica "
            f"an equal share of every global batch. Choose a multiple of {replicas} (training.batch_size or --batch-size).",
            2,
        )
    if batch < replicas:
        if what == "train":
            raise TrainError(
                f"{examples} training example(s) are fewer than the {replicas} replicas; each needs at least one.", 2
            )
        return 0
    if what == "train":
        return batch - batch % replicas
    # evaluation: the batch size (a multiple of the replicas) that leaves out the fewest examples
    return max(range(replicas, batch + 1, replicas), key=lambda b: (examples - examples % b, b))


def _train(
    spec_path: str,
    spec: Spec,
    inference: Any,
    loaded: Any,
    run_dir: Path | None,
    run_info: dict,
    state: dict,
    opts: TrainOptions,
    echo: Callable[[str], None],
    runtime: Any,
    interrupts: _Interrupts,
) -> RunResult:
    """Build, compile, fit (with checkpoints), evaluate, write the outputs; `run_info` is kept current.
    `run_dir` is None on a worker that is not the chief: it trains and evaluates, and writes nothing.
    `interrupts.check()` raises KeyboardInterrupt for a Ctrl-C or SIGTERM that a finalizer swallowed."""
    import keras

    from ..compile import auto_steps_per_execution, build_model, compile_model
    from .callbacks import Checkpointer, InterruptCheck, NanGuard
    from .data import make_tf_dataset

    seed = spec.training.seed
    keras.utils.set_random_seed(seed)
    training = spec.training
    whole = runtime.whole_batches
    batch_size = _batches(runtime, training.batch_size, len(loaded.train), "train")
    steps_per_epoch = len(loaded.train) // batch_size if whole else math.ceil(len(loaded.train) / batch_size)
    steps = min(opts.steps, steps_per_epoch) if opts.steps else None
    spe = auto_steps_per_execution(training, steps or steps_per_epoch)
    fit_steps = steps or (steps_per_epoch if whole else None)
    if fit_steps:
        # With steps_per_epoch given, Keras runs whole executions: 40 steps at 32 per call would run 64.
        spe = max(d for d in range(1, spe + 1) if fit_steps % d == 0)
    asked = training.steps_per_execution
    if runtime.backend == "torch" and asked != "auto" and asked > 1:  # auto_steps_per_execution gave 1
        echo(
            f"Note: steps_per_execution {asked} does not apply on the PyTorch backend (Keras runs one step per call there)."
        )
    with runtime.scope():
        model = build_model(spec, inference, file=spec_path)
        compile_model(model, training, steps_per_execution=spe)
    single_out = inference.outputs[0] if len(inference.outputs) == 1 else None
    initial_epoch = int(state.get("epochs_done", 0))
    history: dict[str, list[float]] = {k: list(v) for k, v in state.get("history", {}).items()}
    if initial_epoch:
        assert run_dir is not None  # only --resume starts after epoch 0, and it trains in its run directory
        with runtime.scope():
            _restore(model, run_dir)
        echo(f"Resuming after epoch {initial_epoch} of {training.epochs}.")
    train_ds = make_tf_dataset(
        loaded.train,
        batch_size=batch_size,
        shuffle=spec.data.shuffle if spec.data else True,
        seed=None if seed is None else seed + initial_epoch,
        single_output_name=single_out,
        drop_remainder=whole,
        # Keras shards a multi-worker pipeline itself (rebatch, shard), and its length is then unknown:
        # an endless stream with fit's steps_per_epoch keeps every process in step (and every JAX
        # distribution gets the same stream, so one process trains on exactly the same batches)
        repeat=whole,
    )
    val_ds = None
    if loaded.validation is not None and len(loaded.validation):
        val_batch = _batches(runtime, training.batch_size, len(loaded.validation), "validation")
        if val_batch:
            # Evaluation runs to the end of the pipeline. (Not a step count: with one, Keras runs whole
            # executions of steps_per_execution steps, more than one pass; a sharded pipeline's end is then
            # found by running out, which Keras warns of: `_quiet_end_of_data`.)
            val_ds = make_tf_dataset(
                loaded.validation,
                batch_size=val_batch,
                shuffle=False,
                seed=seed,
                single_output_name=single_out,
                drop_remainder=whole,
            )
            if whole and len(loaded.validation) % val_batch:
                echo(
                    f"Validation: {len(loaded.validation) - len(loaded.validation) % val_batch} of "
                    f"{len(loaded.validation)} examples (whole batches, split evenly over the replicas)."
                )
    echo(
        f"Model '{spec.name}': {model.count_params():,} parameters; training {training.epochs} epoch(s) of "
        f"{steps or steps_per_epoch} step(s), batch size {batch_size}"
        + (f" ({batch_size // runtime.replicas} per replica)." if runtime.replicas > 1 else ".")
    )

    checkpointer = Checkpointer(run_dir, history, run_info)
    guard = NanGuard()
    # InterruptCheck last: an epoch that ended before the interrupt is checkpointed first
    callbacks = [guard, checkpointer, *_spec_callbacks(spec, run_dir), InterruptCheck(interrupts)]
    started = time.perf_counter()
    if initial_epoch < training.epochs:
        with _quiet_end_of_data(runtime):
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=training.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=fit_steps,
                callbacks=callbacks,
                verbose=opts.verbose,
                shuffle=False,
            )
    interrupts.check()
    train_seconds = time.perf_counter() - started

    if guard.bad is not None:
        run_info.update(status="failed", stopped=_now(), error="non-finite loss")
        _write_info(run_dir, run_info)
        if run_dir is not None:
            _write_history(run_dir, history, spec)
        epoch, step, value = guard.bad
        kept = (
            f"The last finite state ({checkpointer.epochs_done} complete epoch(s)) is kept in '{run_dir / CHECKPOINT}'"
            if checkpointer.epochs_done and run_dir is not None
            else "No epoch completed, so there is no checkpoint"
            if run_dir is not None
            else "The chief (process 0) keeps the last finite state"
        )
        raise TrainError(
            f"Training stopped: the loss became {value} in epoch {epoch + 1} (by step {step + 1}). {kept}; "
            "the final model was not written. Lower the learning rate (training.optimizer.learning_rate), "
            "clip gradients (clipnorm) or check the data for extreme values.",
        )

    metrics: dict[str, Any] = {
        "epochs": checkpointer.epochs_done,
        "train_seconds": round(train_seconds, 3),
        "epoch_seconds": checkpointer.epoch_seconds,  # this process's epochs (after a resume: the resumed ones)
    }
    if history:
        metrics["final_epoch"] = {k: v[-1] for k, v in history.items() if v}
    test_batch = (
        _batches(runtime, training.batch_size, len(loaded.test), "test")
        if loaded.test is not None and len(loaded.test)
        else 0
    )
    if test_batch:
        test_ds = make_tf_dataset(
            loaded.test,
            batch_size=test_batch,
            shuffle=False,
            seed=seed,
            single_output_name=single_out,
            drop_remainder=whole,
        )
        examples = len(loaded.test) - (len(loaded.test) % test_batch if whole else 0)
        with _quiet_end_of_data(runtime):
            metrics["test"] = {k: float(v) for k, v in model.evaluate(test_ds, verbose=0, return_dict=True).items()}
        metrics["test_examples"] = examples
        of = (
            f"{examples} of {len(loaded.test)} examples: whole batches, split evenly over the replicas"
            if examples < len(loaded.test)
            else f"{examples} examples"
        )
        echo("Test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items()) + f" ({of})")
    else:
        echo("Test: no held-out split (set data.test_split to hold some examples out).")

    files: list[str] = []
    if run_dir is None:  # every process saves the model, in step (see artifacts.save_model)
        artifacts.save_model(model, None)
    else:
        _write_outputs(run_dir, spec, inference, model, history, metrics)
    interrupts.check()
    run_info.update(status="complete", finished=_now(), epochs_done=checkpointer.epochs_done)
    if run_dir is not None:
        _write_info(run_dir, run_info)
        shutil.rmtree(run_dir / CHECKPOINT, ignore_errors=True)
        files = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))
    return RunResult(run_dir, spec, history, metrics, checkpointer.epochs_done, initial_epoch, files, model, runtime)


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


def _resume_state(run_dir: Path, spec: Spec, opts: TrainOptions) -> tuple[Spec, dict]:
    """The run's own resolved spec (with a new epoch count if given) and its checkpoint state."""
    from ..check import check as check_spec

    info = read_json(run_dir / "run.json")
    if info.get("status") == "complete" and opts.epochs is None:
        raise TrainError(f"The run in '{run_dir}' is already complete; give --epochs N to train it further.", 2)
    report = check_spec(str(run_dir / "spec.yaml"))
    if not report.ok or report.spec is None:
        raise TrainError(f"Cannot resume '{run_dir}': its spec.yaml is missing or invalid.", 2)
    stored = report.spec
    if stored.model != spec.model or stored.name != spec.name:
        raise TrainError(
            f"Cannot resume '{run_dir}' with this spec: its model differs from the one the run started with. "
            "Resume with the same spec, or start a new run.",
            2,
        )
    # The checkpoint counts only with its model file (state.json is written after it).
    ckpt = read_json(run_dir / CHECKPOINT / "state.json") if (run_dir / CHECKPOINT / "model.keras").is_file() else {}
    done = max(int(info.get("epochs_done") or 0), int(ckpt.get("epochs_done") or 0))
    if opts.epochs is not None and opts.epochs < done:
        raise TrainError(
            f"The run in '{run_dir}' has already trained {done} epoch(s); --epochs {opts.epochs} would be fewer. "
            f"Give --epochs {done + 1} or more to train it further.",
            2,
        )
    if opts.epochs is not None:
        stored = stored.model_copy(update={"training": stored.training.model_copy(update={"epochs": opts.epochs})})
        artifacts.atomic_write_text(run_dir / "spec.yaml", dump_yaml(resolved_document(stored)))
    state = {
        "epochs_done": ckpt.get("epochs_done", 0),
        "history": ckpt.get("history", {}),
        "started": info.get("started"),
    }
    if info.get("status") == "complete":  # trained further from the final model
        state["epochs_done"] = info.get("epochs_done", 0)
        state["history"] = read_json(run_dir / "history.json")
        state["history"].pop("epoch", None)
        state["from_final"] = True
    return stored, state


def _restore(model: Any, run_dir: Path) -> None:
    """Weights and optimizer state of the last complete epoch (or of the final model)."""
    path = run_dir / CHECKPOINT / "model.keras"
    if not path.is_file():
        path = run_dir / "model.keras"
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign checkpoint: say so, do not crash
        raise TrainError(f"Cannot resume from '{path}': {exc}. Start a new run instead.", 2) from None


#: Callbacks that write files: only the process that writes the run directory runs them.
WRITING_CALLBACKS = frozenset({"ModelCheckpoint", "CSVLogger", "TensorBoard", "BackupAndRestore"})


def _spec_callbacks(spec: Spec, run_dir: Path | None) -> list:
    import keras

    out = []
    for cb in spec.training.callbacks:
        if run_dir is None and cb.type in WRITING_CALLBACKS:
            continue
        if cb.type == "TensorBoard":
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise TrainError(
                    "The spec has a TensorBoard callback, but the `tensorboard` package is not installed. "
                    "Install it (`pip install tensorboard`, part of kspec's `train` extra) or remove the callback.",
                    2,
                )
        config = cb.to_keras()["config"]
        for key in ("filepath", "log_dir", "filename", "backup_dir"):
            if key in config:
                assert run_dir is not None  # callbacks that write files are left out without a run directory
                config[key] = str(rundir.inside(run_dir, config[key]))
        out.append(getattr(keras.callbacks, cb.type)(**config))
    return out


def _write_history(run_dir: Path, history: dict, spec: Spec) -> None:
    if history:
        artifacts.write_history(run_dir, history)
        artifacts.plot_curves(run_dir / "curves.png", history, title=spec.name)


def _write_outputs(run_dir: Path, spec: Spec, inference: Any, model: Any, history: dict, metrics: dict) -> None:
    import keras

    _write_history(run_dir, history, spec)
    artifacts.write_json(run_dir / "metrics.json", metrics)
    artifacts.write_summary(run_dir / "summary.txt", model)
    artifacts.write_diagram(run_dir, inference, title=spec.name)
    artifacts.save_model(model, run_dir / "model.keras")
    if keras.backend.backend() == "tensorflow":
        with artifacts.atomic_dir(run_dir / "saved_model") as tmp:
            _export_saved_model(model, tmp)


def _export_saved_model(model: Any, path: Path) -> None:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # export prints its signature listing
        model.export(str(path), format="tf_saved_model")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _version() -> str:
    from .. import __version__

    return __version__
