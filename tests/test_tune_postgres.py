"""Studies shared through a real PostgreSQL server (`kspec tune --storage postgresql://... --study NAME`).

Two worker processes, each with its own study directory, tune one study at once: both finish, no trial
number is given twice, every trained trial has one run directory (under the worker that trained it), each
worker trained some, and the best trial is the same seen from either. A storage that cannot be opened is a
one-line error (exit status 2) that never shows the URL's password.

The server comes from tests/pg_server.py (started and stopped per module; skipped without PostgreSQL unless
KSPEC_REQUIRE_POSTGRES=1). Each test bounds its own time and kills what it started.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.pg_server import free_port, postgres_url  # noqa: F401  (postgres_url: the fixture)

optuna = pytest.importorskip("optuna")
psycopg2 = pytest.importorskip("psycopg2")

ROOT = Path(__file__).resolve().parent.parent
KSPEC = str(Path(sys.executable).parent / "kspec")
TRIALS = 3
PASSWORD = "not-a-real-pw-5f3a"  # trust authentication ignores it; no output may show it


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _small_spec(tmp_path: Path) -> Path:
    """specs/digits_tune.yaml, made fast and without invalid regions (so that a worker's trial is always
    trained): two epochs, depth 1..2, no pruning."""
    data = yaml.safe_load((ROOT / "specs" / "digits_tune.yaml").read_text())
    data["training"]["epochs"] = 2
    data["tuning"]["params"]["depth"]["high"] = 2
    data["tuning"]["pruner"] = {"type": "none"}
    path = tmp_path / "digits_tune_small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def _plain(url: str) -> str:
    """The URL as psycopg2 takes it (without SQLAlchemy's driver name)."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


#: Sessions waiting for a lock inside Optuna's trial creation (RDBStorage._create_new_trial): the first to
#: come locks its study's row (`SELECT ... FROM studies ... FOR UPDATE`) and waits to insert into `trials`;
#: the others wait for that row.
CREATING = """
SELECT count(DISTINCT pid) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> pg_backend_pid()
  AND (query ILIKE 'INSERT INTO trials %' OR (query ILIKE '%FROM studies%' AND query ILIKE '%FOR UPDATE%'))
"""


def _creating_trials(conn) -> int:
    """How many sessions wait to create a trial."""
    with conn.cursor() as cur:
        cur.execute(CREATING)
        return int(cur.fetchone()[0])


def _communicate(procs: list[subprocess.Popen], deadline: float) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        out.append((p.returncode, stdout, stderr))
    return out


def _kill(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _best_number(stdout: str) -> int:
    last = stdout.strip().splitlines()[-1]
    match = re.search(r"Best: trial (\d+)", last)
    assert match, f"the last line names no best trial: {last!r}"
    return int(match.group(1))


def test_two_workers_share_one_study(postgres_url, tmp_path):  # noqa: F811
    """Two workers started at once on one study (the URL carries a password, which no output shows)."""
    spec = _small_spec(tmp_path)
    url = _with_password(postgres_url)
    name = "digits-two-workers"
    dirs = [tmp_path / "worker-a", tmp_path / "worker-b"]
    commands = [
        [KSPEC, "tune", str(spec), "--storage", url, "--study", name, "-o", str(d), "--trials", str(TRIALS)]
        for d in dirs
    ]
    optuna.storages.RDBStorage(postgres_url)  # Optuna's tables, so that the lock below has one to hold

    # Both workers start at once; while the test holds the `trials` table in SHARE mode they can read the
    # study but not create a trial. Once both wait inside trial creation, each has seen the study unfinished
    # and is creating its first trial: releasing the lock lets each train at least one, whatever their speeds.
    gate = psycopg2.connect(_plain(postgres_url))
    procs: list[subprocess.Popen] = []
    deadline = time.monotonic() + 600
    try:
        with gate.cursor() as cur:
            cur.execute("LOCK TABLE trials IN SHARE MODE")
        procs = [
            subprocess.Popen(c, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in commands
        ]
        watch = psycopg2.connect(_plain(postgres_url))
        watch.autocommit = True
        try:
            gate_deadline = time.monotonic() + 240
            while _creating_trials(watch) < 2:
                exited = [p for p in procs if p.poll() is not None]
                assert not exited, f"a worker ended before its first trial: {_communicate(exited, deadline)}"
                assert time.monotonic() < gate_deadline, "the workers did not reach their first trial in 240 s"
                time.sleep(0.2)
        finally:
            watch.close()
        gate.rollback()  # releases the lock
        results = _communicate(procs, deadline)
    finally:
        gate.close()
        _kill(procs)

    for rc, stdout, stderr in results:
        assert rc == 0, f"exit status {rc}\n{stdout}\n{stderr}"
        assert PASSWORD not in stdout + stderr

    study = optuna.load_study(study_name=name, storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), f"trial numbers given twice: {sorted(numbers)}"
    assert sorted(numbers) == list(range(len(numbers)))
    finished = [t for t in trials if t.state.is_finished()]
    assert len(finished) == len(trials) >= TRIALS, [(t.number, t.state.name) for t in trials]

    # Every trained trial has exactly one run directory, under the worker that trained it; nothing else is there.
    trained = {t.number: Path(t.user_attrs["run_dir"]) for t in trials if "run_dir" in t.user_attrs}
    assert len(trained) == len(trials), "every point of this space is valid: every trial is trained"
    on_disk = {d: {p.name for p in d.glob("trial-*")} for d in dirs}
    for number, run_dir in trained.items():
        holders = [d for d in dirs if f"trial-{number:04d}" in on_disk[d]]
        assert len(holders) == 1, f"trial {number} has run directories under {holders}"
        assert run_dir.resolve() == (holders[0] / f"trial-{number:04d}").resolve()
        assert (run_dir / "run.json").is_file()
    assert sum(len(names) for names in on_disk.values()) == len(trained)
    assert all(on_disk[d] for d in dirs), f"a worker trained nothing: {on_disk}"

    # Rerun each worker's command: the study is done, so it trains nothing, and both name the same best trial.
    reruns = [
        subprocess.run(c, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300) for c in commands
    ]
    for done in reruns:
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        assert "already has" in done.stderr
        assert PASSWORD not in done.stdout + done.stderr
    assert len(study.get_trials(deepcopy=False)) == len(trials)
    bests = {_best_number(done.stdout) for done in reruns}
    assert bests == {study.best_trial.number}
    best_specs = [(d / "best.yaml").read_text() for d in dirs]
    assert best_specs[0] == best_specs[1]


def _tune_error(tmp_path: Path, storage: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KSPEC, "tune", str(_small_spec(tmp_path)), "--storage", storage, "--study", "s", "-o", str(tmp_path / "s")],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_storage_error(done: subprocess.CompletedProcess, shown: str) -> None:
    assert done.returncode == 2, f"{done.stdout}\n{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: Cannot open the study storage"), lines[0]
    assert shown in lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize("port", ["closed", "notaport"])
def test_unreachable_storage_is_one_line_without_password(tmp_path, port):
    """A port where nothing listens, and one that is not a number: exit status 2, the storage named."""
    port = str(free_port()) if port == "closed" else port
    done = _tune_error(tmp_path, f"postgresql+psycopg2://kspec:{PASSWORD}@127.0.0.1:{port}/kspec")
    _assert_storage_error(done, f"postgresql+psycopg2://kspec:***@127.0.0.1:{port}/kspec")


def test_missing_database_is_one_line_without_password(postgres_url, tmp_path):  # noqa: F811
    """The server answers, but the database does not exist."""
    storage = _with_password(postgres_url).rsplit("/", 1)[0] + "/no_such_db"
    done = _tune_error(tmp_path, storage)
    _assert_storage_error(done, "postgres:***@127.0.0.1:")
    assert "no_such_db" in done.stderr
