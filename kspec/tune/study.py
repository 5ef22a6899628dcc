"""`kspec tune`: an Optuna study over a spec's search space; each trial an ordinary kspec run.

The study lives in Optuna's RDB storage: by default a SQLite file in the study directory (one worker
at a time: the directory is locked), or a shared database (`--storage postgresql://...`) that many
workers use at once, each with a heartbeat so that a worker killed mid-trial leaves its trial failed.
Either way a trial that a kill or Ctrl-C cut short is queued again with the same values and continues
its own run directory (`--resume`), so rerunning the command continues the study.

Each sampled point is checked by kspec (with the per-trial budgets) before anything is built: an
invalid point is never trained; it is recorded as pruned with a violated constraint (TPE learns to
avoid it) and its diagnostics kept with the trial.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..check import check, tuning_seed
from ..diagnostics import Diagnostic
from ..dump import yaml_text
from ..spec import Spec
from ..spec.tuning import ChoiceParam, FloatParam, IntParam, Tuning
from .space import active, apply

#: Seconds between a running trial's heartbeats in a shared database, and the silence after which it is failed.
HEARTBEAT = 10
GRACE = 40
#: The user attribute that holds kspec's own state of a trial (`trial_state`).
STATE = "kspec_state"
CONSTRAINT = "kspec_valid"
DB = "study.db"


def trial_state(trial: Any) -> str:
    """kspec's state of a trial: complete, pruned, invalid, failed, interrupted (killed or stopped, queued again),
    running or waiting."""
    name = trial.state.name
    if name in ("RUNNING", "WAITING"):
        return name.lower()
    return trial.user_attrs.get(STATE) or ("interrupted" if name == "FAIL" else name.lower())


def counts(study: Any) -> dict[str, int]:
    """How many trials of the study are in each state (`trial_state`)."""
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        state = trial_state(t)
        out[state] = out.get(state, 0) + 1
    return out


def finished(study: Any) -> int:
    """The trials that count towards the study's number: trained ones (complete, pruned, failed). An invalid point
    costs milliseconds and no training: it is not a trial spent; one cut short is queued again."""
    c = counts(study)
    return c.get("complete", 0) + c.get("pruned", 0) + c.get("failed", 0)


#: A search stops after drawing this many invalid points per trial it was asked for (with at least 100): the
#: sampler keeps landing where kspec finds no valid model, and the space needs narrowing.
INVALID_PER_TRIAL = 10


class TuneError(Exception):
    """A problem that stops the whole search (not one trial): a message, and the exit status."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TuneOptions:
    trials: int | None = None  # overrides tuning.trials
    timeout: float | None = None  # overrides tuning.timeout
    output: str | None = None  # the study directory (default: runs/NAME-study)
    storage: str | None = None  # an Optuna RDB URL shared by many workers; default: sqlite in the study directory
    study: str | None = None  # the study's name in the storage (default: the spec's name)
    backend: str | None = None
    memory_budget: int | None = None
    param_budget: int | None = None
    overrides: tuple[str, ...] = ()
    spec_text: str | None = None  # the spec's text when it came from stdin (the spec path is then "-")


@dataclass
class TrialRow:
    """A trial as the live table and trials.csv show it."""

    number: int
    state: str
    value: float | None
    seconds: float | None
    params: dict[str, Any]  # as Optuna stores them: numbers, a choice's label
    run_dir: str | None = None
    note: str = ""


@dataclass
class TuneResult:
    study_dir: Path
    study_name: str
    metric: str
    best: TrialRow | None
    rows: list[TrialRow] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _quiet_optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # kspec's table says how each trial ended
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def study_dir_of(spec: Spec, output: str | None) -> Path:
    return Path(output) if output else Path("runs") / f"{spec.name}-study"


def choice_labels(param: ChoiceParam) -> list[Any]:
    """What Optuna stores for each choice (it keeps numbers, strings, booleans and null): the value itself,
    or for a piece of spec its `type` (`SGD`), numbered when two would read the same (`SGD #2`)."""
    out: list[Any] = []
    for i, choice in enumerate(param.choices):
        if choice is None or isinstance(choice, (bool, int, float, str)):
            out.append(choice)
        else:
            text = str(choice.get("type", f"choice {i}")) if isinstance(choice, dict) else f"choice {i}"
            out.append(text if text not in out else f"{text} #{i}")
    return out


def suggest(trial: Any, tuning: Tuning) -> dict[str, Any]:
    """The trial's point: each active parameter suggested in declaration order (a choice -> its index)."""
    point: dict[str, Any] = {}
    for name, p in tuning.params.items():
        if not active(tuning, name, point):
            continue
        if isinstance(p, IntParam):
            point[name] = trial.suggest_int(name, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, FloatParam):
            point[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
        else:
            labels = choice_labels(p)
            point[name] = labels.index(trial.suggest_categorical(name, labels))
    return point


def grid_space(tuning: Tuning) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, p in tuning.params.items():
        if isinstance(p, ChoiceParam):
            out[name] = choice_labels(p)
        elif isinstance(p, IntParam):
            out[name] = list(range(p.low, p.high + 1, p.step))
        else:
            assert p.step is not None  # kspec.tune.space refuses a grid over a float without a step
            count = math.floor((p.high - p.low) / p.step + 1e-9) + 1
            out[name] = [p.low + k * p.step for k in range(count)]
    return out


def sampler_of(tuning: Tuning, seed: int | None) -> Any:
    optuna = _quiet_optuna()
    if tuning.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if tuning.sampler == "grid":
        return optuna.samplers.GridSampler(grid_space(tuning), seed=seed)
    # multivariate with groups: the conditional parameters (`when`) are modelled with what they depend on
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=5)


def pruner_of(tuning: Tuning, epochs: int) -> Any:
    optuna = _quiet_optuna()
    p = tuning.pruner
    if p.type == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=p.startup_trials, n_warmup_steps=p.warmup_epochs)
    if p.type == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p.min_epochs, max_resource=epochs, reduction_factor=p.reduction_factor
        )
    if p.type == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=p.min_epochs, reduction_factor=p.reduction_factor)
    return optuna.pruners.NopPruner()


def storage_of(url: str, shared: bool) -> Any:
    optuna = _quiet_optuna()
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    try:
        if not shared:
            return RDBStorage(url)
        return RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT,
            grace_period=GRACE,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
        )
    except Exception as exc:  # SQLAlchemy: a bad URL, a server that does not answer, a missing driver
        what = type(exc).__name__
        text = str(exc).splitlines()[0] if str(exc) else what
        text = _without_password(text, url)
        raise TuneError(f"Cannot open the study storage '{_safe_url(url)}': {what}: {text}", 2) from None
    finally:
        del optuna


def _safe_url(url: str) -> str:
    """A storage URL without its password."""
    head, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        return f"{head}{sep}{creds.split(':', 1)[0]}:***@{host}"
    return url


def _without_password(text: str, url: str) -> str:
    _, _, rest = url.partition("://")
    creds = rest.rpartition("@")[0]
    password = creds.split(":", 1)[1] if ":" in creds else ""
    return text.replace(password, "***") if password else text


class _Pruning:
    """A Keras callback that reports the objective each epoch and stops training when Optuna prunes."""

    def __new__(cls, trial: Any, metric: str) -> Any:
        import keras

        class Pruning(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.pruned_at: int | None = None

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                value = (logs or {}).get(metric)
                if value is None or not math.isfinite(float(value)):
                    return
                trial.report(float(value), epoch + 1)
                if trial.should_prune():
                    self.pruned_at = epoch + 1
                    self.model.stop_training = True

        return Pruning()


class Tuner:
    """One worker of a study: `run()` trains trials until the study has its trials or the time is up."""

    def __init__(
        self,
        spec_path: str,
        text: str,
        data: dict,
        spec: Spec,
        opts: TuneOptions,
        echo: Callable[[str], None],
        row: Callable[[TrialRow], None],
    ):
        assert spec.tuning is not None
        self.spec_path, self.text, self.data, self.spec, self.opts = spec_path, text, data, spec, opts
        self.tuning: Tuning = spec.tuning
        self.echo, self.row = echo, row
        self.metric = self.tuning.objective.metric
        self.maximize = self.tuning.objective.direction == "maximize"
        self.study_dir = study_dir_of(spec, opts.output)
        self.shared = opts.storage is not None
        self.name = opts.study or spec.name
        self.trials = opts.trials or self.tuning.trials
        self.timeout = opts.timeout if opts.timeout is not None else self.tuning.timeout
        self.study: Any = None

    # ---- the study ----------------------------------------------------------------------------------

    def open(self) -> Any:
        optuna = _quiet_optuna()
        url = self.opts.storage or f"sqlite:///{(self.study_dir / DB).resolve()}"
        storage = storage_of(url, self.shared)
        seed = tuning_seed(self.spec)
        if self.shared:  # workers of one study must not draw the same values: each its own stream
            seed = seed + os.getpid()
        direction = "maximize" if self.maximize else "minimize"
        try:
            self.study = optuna.create_study(
                storage=storage,
                study_name=self.name,
                direction=direction,
                sampler=sampler_of(self.tuning, seed),
                pruner=pruner_of(self.tuning, self.spec.training.epochs),
                load_if_exists=True,
            )
        except Exception as exc:
            text = _without_password(str(exc), url)
            raise TuneError(f"Cannot open the study '{self.name}' in '{_safe_url(url)}': {text}", 2) from None
        if self.study.direction.name.lower() != direction:
            raise TuneError(
                f"The study '{self.name}' {self.study.direction.name.lower()}s its objective, but the spec says "
                f"{direction}. Use another --study name or --output.",
                2,
            )
        kept = self.study.user_attrs.get("kspec_objective")
        if kept is None:
            self.study.set_user_attr("kspec_objective", self.metric)
        elif kept != self.metric:
            raise TuneError(
                f"The study '{self.name}' optimises '{kept}', but the spec's objective is '{self.metric}'. Use another "
                "--study name or --output.",
                2,
            )
        if not self.shared:
            self._retry_cut_short()
        return self.study

    def _retry_cut_short(self) -> None:
        """With the study directory locked, a trial still marked running was cut short (kill, power loss): it is
        failed and queued again, to continue its run directory."""
        optuna = _quiet_optuna()
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            self.study._storage.set_trial_user_attr(t._trial_id, STATE, "interrupted")
            self.study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            RetryHeartbeatStaleTrialCallback(max_retry=3)(self.study, self.study._storage.get_trial(t._trial_id))
            self.echo(f"Trial {t.number} was cut short; it is queued again and continues its run directory.")

    def finished(self) -> int:
        return finished(self.study)

    def run(self) -> None:
        from ..train import import_quietly

        if self.shared:  # a trial whose worker has been silent for GRACE seconds: failed and queued again now
            from optuna.storages import fail_stale_trials

            fail_stale_trials(self.study)
        left = self.trials - self.finished()
        if left <= 0:
            self.echo(f"The study '{self.name}' already has {self.trials} finished trial(s).")
            return
        import_quietly("tensorflow")  # before Keras: its start-up chatter kept off the terminal
        import_quietly("keras")
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # retracing notes, one model after another, would break into the table
        trials = self.trials
        most_invalid = max(100, INVALID_PER_TRIAL * trials)

        def enough(study: Any, _trial: Any) -> None:
            if finished(study) >= trials:
                study.stop()
            elif counts(study).get("invalid", 0) >= most_invalid:
                self.echo(
                    f"Stopping: {most_invalid} points drawn so far are invalid models. Narrow the space where "
                    "`kspec validate` reports invalid regions."
                )
                study.stop()

        self.study.optimize(
            self.objective, timeout=self.timeout, callbacks=[enough], catch=(_TrialFailed,), gc_after_trial=True
        )

    # ---- one trial ----------------------------------------------------------------------------------

    def objective(self, trial: Any) -> float:
        optuna = _quiet_optuna()
        started = time.perf_counter()
        point = suggest(trial, self.tuning)
        params = {n: trial.params[n] for n in point}
        t0 = time.perf_counter()
        spec_data, missing = apply(self.data, self.tuning, point)
        diagnostics = [] if missing else self._check(spec_data)
        trial.set_user_attr("check_seconds", time.perf_counter() - t0)
        if missing or diagnostics:
            notes = [why for _, why in missing] + [_one_line(d) for d in diagnostics]
            trial.set_user_attr(STATE, "invalid")
            trial.set_user_attr("diagnostics", notes[:20])
            _constrain(trial, 1.0)
            self.row(TrialRow(trial.number, "invalid", None, time.perf_counter() - started, params, None, notes[0]))
            raise optuna.TrialPruned()
        _constrain(trial, 0.0)
        run_dir, resume = self._run_dir(trial)
        trial.set_user_attr("run_dir", str(run_dir))
        pruning = _Pruning(trial, self.metric)
        try:
            result = self._train(spec_data, run_dir, resume, pruning)
        except Interrupted:
            self._queue_again(trial)
            trial.set_user_attr(STATE, "interrupted")
            raise
        except _TrialFailed as exc:
            trial.set_user_attr(STATE, "failed")
            trial.set_user_attr("diagnostics", [str(exc)[:2000]])
            self.row(
                TrialRow(
                    trial.number,
                    "failed",
                    None,
                    time.perf_counter() - started,
                    params,
                    str(run_dir),
                    str(exc),
                )
            )
            raise
        trial.set_user_attr("train_seconds", result.metrics.get("train_seconds", time.perf_counter() - t0))
        value = self._objective_value(result.history, run_dir)
        seconds = time.perf_counter() - started
        if pruning.pruned_at is not None:
            trial.set_user_attr(STATE, "pruned")
            trial.set_user_attr("value", value)
            self.row(
                TrialRow(
                    trial.number,
                    "pruned",
                    value,
                    seconds,
                    params,
                    str(run_dir),
                    f"after epoch {pruning.pruned_at}",
                )
            )
            raise optuna.TrialPruned()
        trial.set_user_attr(STATE, "complete")
        self.row(TrialRow(trial.number, "complete", value, seconds, params, str(run_dir), ""))
        return value

    def _check(self, spec_data: dict) -> list[Diagnostic]:
        from ..semantics import DEFAULT_PARAM_BUDGET

        report = check(
            spec_data,
            param_budget=self.opts.param_budget or DEFAULT_PARAM_BUDGET,
            memory_budget=self.opts.memory_budget,
        )
        return report.errors

    def _run_dir(self, trial: Any) -> tuple[Path, bool]:
        """The trial's run directory, and whether it continues one that a cut-short trial began."""
        first = self.study._storage.get_trial_system_attrs(trial._trial_id).get("failed_trial")
        if first is not None:
            earlier = self.study_dir / f"trial-{first:04d}"
            info = earlier / "run.json"
            if info.is_file():
                import json

                status = json.loads(info.read_text()).get("status")
                if status in ("running", "interrupted"):
                    return earlier, True
        return self.study_dir / f"trial-{trial.number:04d}", False

    def _train(self, spec_data: dict, run_dir: Path, resume: bool, pruning: Any) -> Any:
        from ..train.run import EXIT_INTERRUPTED, TrainError, TrainOptions, build_and_train

        opts = TrainOptions(
            output=str(run_dir),
            resume=resume,
            verbose=0,
            backend=self.opts.backend,
            spec_text=yaml_text(spec_data),
            spec_label=f"{'<stdin>' if self.spec_path == '-' else self.spec_path} (trial)",
            memory_budget=self.opts.memory_budget,
            callbacks=(pruning,),
        )
        try:
            return build_and_train(self.spec_path, opts, echo=lambda _line: None)
        except TrainError as exc:
            if exc.exit_code == EXIT_INTERRUPTED:
                raise Interrupted(str(exc)) from None
            raise _TrialFailed(str(exc)) from None
        except Exception as exc:  # DataError, SpecError, a NaN loss: this trial fails, the study goes on
            from ..diagnostics import SpecError

            if isinstance(exc, SpecError):
                raise _TrialFailed("; ".join(_one_line(d) for d in exc.diagnostics[:3])) from None
            if type(exc).__name__ in ("DataError", "InvalidSpec", "KspecBug"):
                raise _TrialFailed(str(exc)) from None
            raise

    def _objective_value(self, history: dict[str, list[float]], run_dir: Path) -> float:
        values = [v for v in history.get(self.metric, []) if v is not None and math.isfinite(v)]
        if self.metric not in history:
            raise TuneError(
                f"The objective '{self.metric}' is not in the training history of '{run_dir}'; it has: "
                f"{', '.join(sorted(history)) or 'nothing'}. Set tuning.objective.metric to one of these.",
                1,
            )
        if not values:
            raise _TrialFailed(f"'{self.metric}' has no finite value in any epoch.")
        return max(values) if self.maximize else min(values)

    def _queue_again(self, trial: Any) -> None:
        optuna = _quiet_optuna()
        frozen = self.study._storage.get_trial(trial._trial_id)
        self.study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING,
                params=frozen.params,
                distributions=frozen.distributions,
                system_attrs={"failed_trial": frozen.system_attrs.get("failed_trial", trial.number)},
            )
        )


def _constrain(trial: Any, value: float) -> None:
    """Mark the point feasible (0) or not (1). A retried trial already carries its first try's value (the same
    point, the same value); Optuna keeps it and warns, which is noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The constraint value is ignored")
        trial.set_constraint(CONSTRAINT, value)


class _TrialFailed(Exception):
    """This trial failed (bad data, a NaN loss): recorded as failed; the study goes on."""


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) during a trial: the trial is queued again and the search stops."""


def _one_line(d: Diagnostic) -> str:
    where = ".".join(str(p) for p in d.path)
    return f"{d.code}: {d.message}" + (f" (at {where})" if where else "")
