"""One training session: build and compile the model, adapt what the spec adapts, fit with per-epoch
checkpoints, evaluate on the test split, and write the run directory's outputs.

`kspec.train.run` prepares a session (the spec, its data, the backend, the run directory) and runs it;
this module imports Keras, so it is imported only once training starts.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import rundir
from ..spec import Spec
from . import artifacts
from .errors import TrainError
from .interrupts import Interrupts


@dataclass
class Session:
    """What a training session works with; `run_info` (run.json) is kept current as it goes.
    `run_dir` is None on a multi-worker process that is not the chief: it trains and evaluates, and writes nothing."""

    spec_path: str
    spec: Spec
    inference: Any
    loaded: Any  # data.LoadedData
    run_dir: Path | None
    run_info: dict
    state: dict  # from --resume: epochs_done, history
    opts: Any  # run.TrainOptions
    echo: Callable[[str], None]
    runtime: Any  # runtime.Runtime
    interrupts: Interrupts
    warned: set[str] = field(default_factory=set)  # the codes of the spec's warnings, said before training
    notes: list[str] = field(default_factory=list)  # what Keras warned of, said once each at the end
    guard: Any = field(default=None, init=False)  # callbacks.NanGuard, made by `fit`
    checkpointer: Any = field(default=None, init=False)  # callbacks.Checkpointer, made by `fit`

    # ---- the whole session ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Train and write the outputs; returns {"model", "history", "metrics", "epochs_done", "files"}.
        `interrupts.check()` raises KeyboardInterrupt for a Ctrl-C or SIGTERM that a finalizer swallowed."""
        import keras

        keras.utils.set_random_seed(self.spec.training.seed)
        try:
            with keras_warnings(self.notes, self.warned):
                plan = self.plan()
                model = self.build(plan)
                history: dict[str, list[float]] = {k: list(v) for k, v in self.state.get("history", {}).items()}
                checkpointer, seconds = self.fit(model, plan, history)
                self.check_finite(checkpointer, history)
                metrics = self.final_metrics(checkpointer, history, seconds)
                self.test(model, plan, metrics)
                self.report_skipped(metrics)
        finally:  # also when training fails or is interrupted: what Keras warned of may say why
            for note in self.notes:
                self.echo(f"Note: {note}")
        files: list[str] = []
        if self.run_dir is None:  # every process saves the model, in step (see artifacts.save_model)
            artifacts.save_model(model, None)
        else:
            files = self.write_outputs(model, history, metrics)
        self.interrupts.check()
        self.run_info.update(status="complete", finished=now(), epochs_done=checkpointer.epochs_done)
        if self.run_dir is not None:
            write_info(self.run_dir, self.run_info)
            shutil.rmtree(self.run_dir / rundir.CHECKPOINT, ignore_errors=True)
            write_report(self.run_dir, self.echo)
            files = sorted(p.name for p in self.run_dir.iterdir() if not p.name.startswith("."))
        return {
            "model": model,
            "history": history,
            "metrics": metrics,
            "epochs_done": checkpointer.epochs_done,
            "files": files,
        }

    # ---- the pieces -----------------------------------------------------------------------------

    def plan(self) -> Plan:
        """Batch size, steps and steps per execution, from the spec, the data and the distribution."""
        from ..compile import auto_steps_per_execution

        training, runtime = self.spec.training, self.runtime
        whole = runtime.whole_batches
        examples = len(self.loaded.train)
        batch_size = batches(runtime, training.batch_size, examples, "train")
        steps_per_epoch = examples // batch_size if whole else math.ceil(examples / batch_size)
        steps = min(self.opts.steps, steps_per_epoch) if self.opts.steps else None
        spe = auto_steps_per_execution(training, steps or steps_per_epoch)
        fit_steps = steps or (steps_per_epoch if whole else None)
        if fit_steps:
            # With steps_per_epoch given, Keras runs whole executions: 40 steps at 32 per call would run 64.
            spe = max(d for d in range(1, spe + 1) if fit_steps % d == 0)
        asked = training.steps_per_execution
        if runtime.backend == "torch" and asked != "auto" and asked > 1:  # auto_steps_per_execution gave 1
            self.echo(
                f"Note: steps_per_execution {asked} does not apply on the PyTorch backend (Keras runs one step per call there)."
            )
        single = self.inference.outputs[0] if len(self.inference.outputs) == 1 else None
        return Plan(batch_size, steps or steps_per_epoch, fit_steps, spe, whole, single)

    def build(self, plan: Plan) -> Any:
        """The compiled model: resumed from the checkpoint, or with its adapted layers adapted to the training split."""
        from ..compile import build_model, compile_model
        from .adapt import adapt_layers
        from .resume import restore

        with self.runtime.scope():
            model = build_model(self.spec, self.inference, file=self.spec_path)
            compile_model(model, self.spec.training, steps_per_execution=plan.steps_per_execution)
        if int(self.state.get("epochs_done", 0)):
            assert self.run_dir is not None  # only --resume starts after epoch 0, and it trains in its run directory
            with self.runtime.scope():
                restore(model, self.run_dir)
            self.echo(f"Resuming after epoch {self.state['epochs_done']} of {self.spec.training.epochs}.")
        else:
            for line in adapt_layers(model, self.spec, self.inference, self.loaded.train):
                self.echo(line)
        return model

    def dataset(self, split: Any, plan: Plan, what: str) -> Any:
        """The tf.data pipeline of a split, or None when it has no whole batch for the replicas."""
        from .data import make_tf_dataset
        from .data.stream import is_stream

        seed = self.spec.training.seed
        sharded = is_stream(split) and self.runtime.process_count > 1
        if what == "train" and sharded:
            # A streamed source under several processes: each reads its own files (its own rows where there are
            # fewer files than processes), batches of its share of the global batch, and Keras does not shard again
            # (`distribution.auto_shard_dataset`, turned off by `fit`)
            initial = int(self.state.get("epochs_done", 0))
            runtime = self.runtime
            return split.dataset(
                batch_size=plan.batch_size // runtime.process_count,
                shuffle=self.spec.data.shuffle if self.spec.data else True,
                seed=None if seed is None else seed + initial,
                single_output_name=plan.single_output,
                drop_remainder=True,
                repeat=True,
                shard=(runtime.process_count, runtime.process_index),
            )
        if what == "train":
            initial = int(self.state.get("epochs_done", 0))
            return make_tf_dataset(
                split,
                batch_size=plan.batch_size,
                shuffle=self.spec.data.shuffle if self.spec.data else True,
                seed=None if seed is None else seed + initial,
                single_output_name=plan.single_output,
                drop_remainder=plan.whole,
                # Keras shards a multi-worker pipeline itself (rebatch, shard), and its length is then unknown:
                # an endless stream with fit's steps_per_epoch keeps every process in step (and every JAX
                # distribution gets the same stream, so one process trains on exactly the same batches)
                repeat=plan.whole,
            )
        batch = batches(self.runtime, self.spec.training.batch_size, len(split), what)
        if not batch:
            return None
        # Evaluation runs to the end of the pipeline. (Not a step count: with one, Keras runs whole
        # executions of steps_per_execution steps, more than one pass; a sharded pipeline's end is then
        # found by running out, which Keras warns of: `quiet_end_of_data`.)
        dataset = make_tf_dataset(
            split,
            batch_size=batch,
            shuffle=False,
            seed=seed,
            single_output_name=plan.single_output,
            drop_remainder=plan.whole,
        )
        if sharded:  # evaluation: each process its part of every global batch, as Keras shards (not turned off)
            import keras

            dataset = keras.distribution.distribution().distribute_tf_dataset(dataset)
        return dataset

    def fit(self, model: Any, plan: Plan, history: dict[str, list[float]]) -> tuple[Any, float]:
        from .callbacks import Checkpointer, EventLog, InterruptCheck, NanGuard

        training, loaded = self.spec.training, self.loaded
        initial_epoch = int(self.state.get("epochs_done", 0))
        train_ds = self.dataset(loaded.train, plan, "train")
        val_ds = None
        if loaded.validation is not None and len(loaded.validation):
            val_ds = self.dataset(loaded.validation, plan, "validation")
            kept = _whole_examples(self.runtime, training.batch_size, len(loaded.validation))
            if val_ds is not None and kept < len(loaded.validation):
                self.echo(
                    f"Validation: {kept} of {len(loaded.validation)} examples (whole batches, split evenly over the replicas)."
                )
        replicas = self.runtime.replicas
        self.echo(
            f"Model '{self.spec.name}': {model.count_params():,} parameters; training {training.epochs} epoch(s) of "
            f"{plan.steps} step(s), batch size {plan.batch_size}"
            + (f" ({plan.batch_size // replicas} per replica)." if replicas > 1 else ".")
        )
        self.guard = NanGuard()
        self.checkpointer = checkpointer = Checkpointer(self.run_dir, history, self.run_info, guard=self.guard)
        # InterruptCheck last: an epoch that ended before the interrupt is checkpointed first
        callbacks = [self.guard, checkpointer, *spec_callbacks(self.spec, self.run_dir), *self.opts.callbacks]
        events = self.past_events(initial_epoch)
        callbacks += [
            EventLog(self.run_dir / rundir.EVENTS if self.run_dir else None, events, callbacks),
            InterruptCheck(self.interrupts),
        ]
        from .data.stream import is_stream

        if is_stream(loaded.train) and self.runtime.process_count > 1:  # each process streams its own share
            import keras

            keras.distribution.distribution().auto_shard_dataset = False
        started = time.perf_counter()
        if initial_epoch < training.epochs:
            with quiet_end_of_data(self.runtime, self.skipping), self.bad_examples("Training", checkpointer):
                model.fit(
                    train_ds,
                    validation_data=val_ds,
                    epochs=training.epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=plan.fit_steps,
                    callbacks=callbacks,
                    verbose=self.opts.verbose,
                    shuffle=False,
                )
        self.interrupts.check()
        return checkpointer, time.perf_counter() - started

    def past_events(self, initial_epoch: int) -> list[dict]:
        """The events of the run's earlier sessions (up to the epoch it resumes after), and the resume itself."""
        if not initial_epoch or self.run_dir is None:
            return []
        try:
            past = json.loads((self.run_dir / rundir.EVENTS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            past = []
        kept = [
            e for e in past if isinstance(e, dict) and isinstance(e.get("epoch"), int) and e["epoch"] <= initial_epoch
        ]
        return [*kept, {"epoch": initial_epoch, "kind": "resume", "text": f"resumed after epoch {initial_epoch}"}]

    @property
    def skipping(self) -> bool:
        """Whether a streamed source skips its bad examples (--skip-bad-examples)."""
        log = getattr(self.loaded, "log", None)
        return bool(log is not None and log.skip)

    @contextlib.contextmanager
    def bad_examples(self, what: str, checkpointer: Any = None) -> Iterator[None]:
        """A streamed source's bad example, met while `what` ran, stops it with a DataError naming the example
        (the pipeline raised it inside TensorFlow, which wraps it); the run stays resumable."""
        log = getattr(self.loaded, "log", None)
        try:
            yield
        except Exception:
            if log is None or log.error is None:
                raise
            from .data import DataError

            done = checkpointer.epochs_done if checkpointer is not None else None
            kept = ""
            if self.run_dir is not None and done is not None:
                kept = (
                    f" The run directory '{self.run_dir}' keeps {done} complete epoch(s): fix or remove the example and "
                    f"continue with `kspec build-and-train {self.spec_path} --output {self.run_dir} --resume`."
                )
            raise DataError(
                f"{what} stopped at a bad example. {log.error}{kept} To count and skip such examples instead, pass "
                "--skip-bad-examples."
            ) from None

    def check_finite(self, checkpointer: Any, history: dict[str, list[float]]) -> None:
        """A loss or weights that became non-finite fail the run; the last finite epoch stays in checkpoint/."""
        guard = self.guard
        if guard.bad is None:
            return
        self.run_info.update(status="failed", stopped=now(), error=guard.reason)
        write_info(self.run_dir, self.run_info)
        if self.run_dir is not None:
            write_history(self.run_dir, history, self.spec)
        epoch, step, _ = guard.bad
        kept = (
            f"The last finite state ({checkpointer.epochs_done} complete epoch(s)) is kept in "
            f"'{self.run_dir / rundir.CHECKPOINT}'"
            if checkpointer.epochs_done and self.run_dir is not None
            else "No epoch completed, so there is no checkpoint"
            if self.run_dir is not None
            else "The chief (process 0) keeps the last finite state"
        )
        raise TrainError(
            f"Training stopped: {guard.reason} in epoch {epoch + 1} (by step {step + 1}). {kept}; "
            "the final model was not written. Lower the learning rate (training.optimizer.learning_rate), "
            "clip gradients (clipnorm) or check the data for extreme values.",
        )

    def final_metrics(self, checkpointer: Any, history: dict[str, list[float]], seconds: float) -> dict[str, Any]:
        metrics: dict[str, Any] = {
            "epochs": checkpointer.epochs_done,
            "train_seconds": round(seconds, 3),
            "epoch_seconds": checkpointer.epoch_seconds,  # this process's epochs (after a resume: the resumed ones)
        }
        if history:
            metrics["final_epoch"] = {k: v[-1] for k, v in history.items() if v}
        return metrics

    def report_skipped(self, metrics: dict[str, Any]) -> None:
        """With --skip-bad-examples on a streamed source: how many examples were skipped (training, validation and
        testing together), and the first few, into metrics.json and said."""
        log = getattr(self.loaded, "log", None)
        if log is not None and log.skip:
            metrics["skipped_examples"] = {"count": log.skipped, "first": list(log.first)}
            summary = log.summary()
            if summary:
                self.echo(summary)

    def test(self, model: Any, plan: Plan, metrics: dict[str, Any]) -> None:
        """The spec's metrics on the held-out test split, into `metrics["test"]`."""
        test = self.loaded.test
        test_ds = self.dataset(test, plan, "test") if test is not None and len(test) else None
        if test_ds is None:
            self.echo("Test: no held-out split (set data.test_split to hold some examples out).")
            return
        examples = _whole_examples(self.runtime, self.spec.training.batch_size, len(test)) if plan.whole else len(test)
        with quiet_end_of_data(self.runtime, self.skipping), self.bad_examples("Testing"):
            metrics["test"] = {k: float(v) for k, v in model.evaluate(test_ds, verbose=0, return_dict=True).items()}
        metrics["test_examples"] = examples
        of = (
            f"{examples} of {len(test)} examples: whole batches, split evenly over the replicas"
            if examples < len(test)
            else f"{examples} examples"
        )
        self.echo("Test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items()) + f" ({of})")

    def write_outputs(self, model: Any, history: dict, metrics: dict) -> list[str]:
        import keras

        run_dir, spec = self.run_dir, self.spec
        assert run_dir is not None
        write_history(run_dir, history, spec)
        artifacts.write_json(run_dir / rundir.METRICS, metrics)
        artifacts.write_summary(run_dir / rundir.SUMMARY, model)
        artifacts.write_diagram(run_dir, self.inference, title=spec.name)
        artifacts.save_model(model, run_dir / rundir.MODEL)
        if keras.backend.backend() == "tensorflow":
            with artifacts.atomic_dir(run_dir / rundir.SAVED_MODEL) as tmp:
                export_saved_model(model, tmp)
        from ..use import interface

        # then interface.json, preprocessing/ and serving.keras (checked against model.keras on raw examples)
        files = interface.write(run_dir, spec, self.inference, self.loaded, model)
        self.write_analysis(model)
        return files

    def write_analysis(self, model: Any) -> None:
        """analysis.json, the model on its test split for the report; a run without a test split has none.
        The run is complete without it: a failure here is said, and the report says there is no analysis."""
        test = self.loaded.test
        if self.run_dir is None or test is None or not len(test):
            return
        from ..use import interface

        try:
            from ..report.analysis import analyse

            described = interface.read(self.run_dir)
            vocabularies = {
                i.name: described.vocabulary(i.name)
                for i in described.inputs
                if (i.preprocessing or {}).get("kind") == "text"
            }
            with self.bad_examples("The test split's analysis"):
                result = analyse(
                    model,
                    self.spec,
                    test,
                    rundir.read_json(self.run_dir / rundir.INTERFACE),
                    vocabularies,
                    batch_size=self.spec.training.batch_size,
                )
            artifacts.write_json(self.run_dir / rundir.ANALYSIS, result)
        except Exception as exc:  # noqa: BLE001 - the trained model is kept whatever the analysis meets
            self.echo(f"Note: the report has no analysis of the test split: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Plan:
    batch_size: int
    steps: int  # steps per epoch that will run
    fit_steps: int | None  # steps_per_epoch for fit (None: one pass)
    steps_per_execution: int
    whole: bool  # whole batches only, split evenly over the replicas
    single_output: str | None  # the one output's name, fed as a plain tensor


# ---- helpers ------------------------------------------------------------------------------------------


def batches(runtime: Any, batch_size: int, examples: int, what: str) -> int:
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


def _whole_examples(runtime: Any, batch_size: int, examples: int) -> int:
    """How many of `examples` an evaluation in whole batches sees."""
    if not runtime.whole_batches:
        return examples
    batch = batches(runtime, batch_size, examples, "evaluation")
    return examples - examples % batch if batch else 0


@contextlib.contextmanager
def quiet_end_of_data(runtime: Any, skipping: bool = False) -> Iterator[None]:
    """Under a multi-process JAX distribution Keras shards the pipelines, which loses their length, and
    warns "Your input ran out of data" when an evaluation reaches the end it then finds by running out.
    That end is expected there (training is an endless stream with a step count and never runs out), and where a
    stream skips bad examples (`skipping`): its length is then unknown until the first epoch ends."""
    with warnings.catch_warnings():
        if runtime.process_count > 1 or skipping:
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        yield


#: Keras warnings that say what a kspec lint has said already (by a phrase of the warning -> the lint's code).
KERAS_WARNINGS_LINTED = {
    "received `from_logits=True`, but the `output` argument was produced by": "lint-softmax-from-logits",
}


@contextlib.contextmanager
def keras_warnings(notes: list[str], warned: set[str] = frozenset()) -> Iterator[None]:  # type: ignore[assignment]
    """Keras's (and TensorFlow's) Python warnings while training are not printed raw, with Keras's file and
    line: one that repeats a lint the spec got (`warned`: their codes) is dropped, and each other distinct one
    becomes a note (`Keras warned: ...`), said once at the end of the session."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning):
                    continue
                text = " ".join(str(w.message).split()).strip('"')
                if any(phrase in text and code in warned for phrase, code in KERAS_WARNINGS_LINTED.items()):
                    continue
                note = f"Keras warned: {text}"
                if note not in notes:
                    notes.append(note)


#: Callbacks that write files: only the process that writes the run directory runs them.
WRITING_CALLBACKS = frozenset({"ModelCheckpoint", "CSVLogger", "TensorBoard", "BackupAndRestore"})


def spec_callbacks(spec: Spec, run_dir: Path | None) -> list:
    import keras

    out = []
    for cb in spec.training.callbacks:
        if run_dir is None and cb.type in WRITING_CALLBACKS:
            continue
        config = cb.to_keras()["config"]
        for key in ("filepath", "log_dir", "filename", "backup_dir"):
            if key in config:
                assert run_dir is not None  # callbacks that write files are left out without a run directory
                config[key] = str(rundir.inside(run_dir, config[key]))
        out.append(getattr(keras.callbacks, cb.type)(**config))
    return out


def write_report(run_dir: Path | None, echo: Callable[[str], None]) -> None:
    """RUN_DIR/report.html, at the end of every run (complete, failed or interrupted). A report that cannot be
    written is said, and the run keeps its status: the report can be made again with `kspec report`."""
    if run_dir is None:
        return
    from ..report import write_report as report

    try:
        path = report([run_dir])
    except Exception as exc:  # noqa: BLE001 - the run's outcome stands whatever the report meets
        echo(f"Note: the report was not written: {type(exc).__name__}: {exc}")
        return
    echo(f"Report: {path}")


def write_info(run_dir: Path | None, run_info: dict) -> None:
    """run.json, on the process that writes the run directory (None: a worker that is not the chief)."""
    if run_dir is not None:
        artifacts.write_json(run_dir / rundir.RUN_JSON, run_info)


def write_history(run_dir: Path, history: dict, spec: Spec) -> None:
    if history:
        artifacts.write_history(run_dir, history)
        artifacts.plot_curves(run_dir / rundir.CURVES, history, title=spec.name)


def export_saved_model(model: Any, path: Path) -> None:
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # export prints its signature listing
        model.export(str(path), format="tf_saved_model")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
