"""A real PostgreSQL server on loopback for the tests of shared studies (`kspec tune --storage postgresql://...`).

`postgres_url` (module scoped: under `pytest-xdist --dist loadfile` a test file runs in one worker, so each
file that uses it gets its own server) starts a server in a fresh temporary directory on a free port of
127.0.0.1, with trust authentication, a unix socket in that directory and a database `kspec`, yields its
SQLAlchemy URL (`postgresql+psycopg2://postgres@127.0.0.1:PORT/kspec`), then stops the server
(`pg_ctl stop -m fast`) and removes the directory.

The binaries are looked up on PATH, then in /usr/lib/postgresql/*/bin (Debian's place, newest version
first). PostgreSQL refuses to run as root: as root the server commands run as the `postgres` user (through
`runuser`), which owns the temporary directory; as anyone else they run directly.

Without PostgreSQL the tests that use the fixture are skipped, with the reason; with
KSPEC_REQUIRE_POSTGRES=1 (set by .ci/run) they fail instead, so that CI cannot pass without them.
`bash scripts/test.sh` installs PostgreSQL when it is missing and can (root with apt-get).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE = "KSPEC_REQUIRE_POSTGRES"
SERVER_USER = "postgres"  # the OS user that runs the server when we are root, and the database superuser
DATABASE = "kspec"
#: Seconds that initdb, a start, a stop or createdb may take.
STEP_TIMEOUT = 120


class PostgresUnavailable(Exception):
    """PostgreSQL cannot run here (not installed, or no user to run it as root): a skip, or a failure in CI."""


def _version(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([\d.]+)/bin/", path)
    return tuple(int(p) for p in match.group(1).split(".") if p) if match else ()


def find_bin_dir() -> Path:
    """The directory holding initdb, pg_ctl and createdb: that of initdb on PATH, else the newest
    /usr/lib/postgresql/*/bin that has all three."""
    names = ("initdb", "pg_ctl", "createdb")
    found = shutil.which("initdb")
    candidates = [Path(os.path.realpath(found)).parent] if found else []
    candidates += [
        Path(d).parent for d in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
    ]
    for directory in candidates:
        if all(os.access(directory / n, os.X_OK) for n in names):
            return directory
    raise PostgresUnavailable(
        "PostgreSQL is not installed: no initdb, pg_ctl and createdb on PATH or in /usr/lib/postgresql/*/bin "
        "(Debian: apt-get install postgresql; `bash scripts/test.sh` does it as root)."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One server: its binaries, its directory (data, socket, log) and its port."""

    bin_dir: Path
    root: Path
    port: int
    as_user: str | None  # run the server commands as this user (we are root), else directly

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{SERVER_USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str, server: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if server and self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC"}
        return subprocess.run(
            command, cwd=self.root, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False
        )

    def _check(self, what: str, done: subprocess.CompletedProcess) -> None:
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.is_file() else ""
            raise RuntimeError(
                f"PostgreSQL: {what} failed (exit status {done.returncode}) in {self.root}:\n"
                f"{done.stdout}{done.stderr}{log}"
            )

    def init(self) -> None:
        args = ["-D", str(self.data), "-U", SERVER_USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        self._check("initdb", self._run("initdb", *args))

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._check(
            "start",
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"),
        )
        self._check(
            "createdb",
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SERVER_USER, DATABASE, server=False),
        )

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").is_file():
            return
        done = self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        if done.returncode != 0:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")


def _server_user() -> str | None:
    """Whom the server runs as: `postgres` when we are root (PostgreSQL refuses root), else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and there is no '{SERVER_USER}' user to run PostgreSQL as (installing the Debian "
            "package postgresql creates it)."
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root, and there is no runuser to run PostgreSQL as another user.")
    return SERVER_USER


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1, but PostgreSQL cannot run here: {reason}", pytrace=False)
    pytest.skip(f"needs PostgreSQL: {reason} (with {REQUIRE}=1 this is a failure)")


def start_server(attempts: int = 3) -> PostgresServer:
    """A started server with its database; the caller stops it and removes `root`. A port taken between
    choosing it and the start is retried with another."""
    bin_dir = find_bin_dir()
    user = _server_user()
    # As root, in /tmp rather than $TMPDIR: the server's user must reach the directory.
    root = Path(tempfile.mkdtemp(prefix="kspec-pg-", dir="/tmp" if user is not None else None))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bin_dir, root, free_port(), user)
    try:
        server.init()
        for attempt in range(attempts):
            try:
                server.start()
                return server
            except RuntimeError:
                server.stop()
                if attempt == attempts - 1:
                    raise
                server.port = free_port()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh PostgreSQL server with an empty database, for this test module."""
    reason = ""
    try:
        server = start_server()
    except PostgresUnavailable as exc:
        reason = str(exc)
    if reason:
        _unavailable(reason)  # skips, or fails in CI
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
