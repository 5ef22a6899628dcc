"""`kspec tune`: hyperparameter search over a spec's `tuning` section, with Optuna.

`kspec.tune.space` checks a search space without Optuna or TensorFlow (`kspec validate` runs it);
`kspec.tune.study` runs the study (Optuna: samplers, pruners, storage); `kspec.tune.results` writes
what the study leaves in its directory. `tune` is the whole command.
"""

from __future__ import annotations

from collections.abc import Callable

from .study import TrialRow, TuneError, TuneOptions, TuneResult


def tune(
    spec_path: str, opts: TuneOptions, *, echo: Callable[[str], None], row: Callable[[TrialRow], None]
) -> TuneResult:
    """Check the spec and its space, then train trials until the study has its trials (or the time is up) and
    write the results. Raises InvalidSpec (the spec or its space), TuneError (the study: storage, objective)."""
    import importlib.util

    from ..rundir import Lock, RunDirError
    from ..train.run import InvalidSpec, TrainOptions, check_spec
    from . import results
    from .study import Tuner, study_dir_of

    if importlib.util.find_spec("optuna") is None:
        raise TuneError("kspec tune needs Optuna, which is not installed: pip install 'kspec[tune]'.", 2)
    train_opts = TrainOptions(overrides=opts.overrides, memory_budget=opts.memory_budget, spec_text=opts.spec_text)
    report, text = check_spec(spec_path, train_opts, space=True)
    spec = report.spec
    if spec.tuning is None:
        raise TuneError(f"'{spec_path}' has no `tuning` section: there is nothing to search. See docs/tuning.md.", 1)
    from ..check import apply_overrides
    from ..load import load_text

    data, _ = apply_overrides(load_text(text).data, list(opts.overrides))
    study_dir = study_dir_of(spec, opts.output)
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TuneError(f"Cannot make the study directory '{study_dir}': {exc.strerror or exc}.", 2) from None
    lock = Lock()
    try:
        if opts.storage is None:
            try:
                lock.acquire(study_dir)
            except RunDirError:
                raise TuneError(
                    f"The study in '{study_dir}' is in use by another kspec tune; a study in a file has one worker. "
                    "Share a study between workers with --storage (a PostgreSQL URL).",
                    2,
                ) from None
        tuner = Tuner(spec_path, text, data, spec, opts, echo, row)
        tuner.open()
        echo(
            f"Study '{tuner.name}' in {study_dir}: {tuner.finished()} of {tuner.trials} trial(s) done; "
            f"{spec.tuning.objective.direction} {tuner.metric}."
        )
        try:
            tuner.run()
        finally:
            files = results.write_results(tuner.study, spec.tuning, data, spec_path, study_dir, tuner.metric)
        rows = results.trial_rows(tuner.study, spec.tuning)
        best = results.best_trial(tuner.study)
        best_row = next((r for r in rows if best is not None and r.number == best.number), None)
        return TuneResult(study_dir, tuner.name, tuner.metric, best_row, rows, files)
    except InvalidSpec:
        raise
    finally:
        lock.release()


__all__ = ["TrialRow", "TuneError", "TuneOptions", "TuneResult", "tune"]
