# Sourced by scripts/test.sh (from the repository root): PostgreSQL for the tests of studies shared through a
# database (tests/test_tune_postgres.py, whose fixture in tests/pg_server.py starts and stops its own server on
# loopback). When its binaries are missing and we are root with apt-get (a clean Debian CI machine), install
# Debian's `postgresql` package; otherwise do nothing, so that a developer's machine without root is left alone
# (those tests then skip, or fail where KSPEC_REQUIRE_POSTGRES=1, as .ci/run sets).
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing PostgreSQL (apt-get install postgresql) for tests/test_tune_postgres.py ..." >&2
        _pg_log="$(mktemp)"
        if ! {
            DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
        } >"$_pg_log" 2>&1; then
            # Not fatal here: the tests that need PostgreSQL say so (a skip, or a failure in CI).
            echo "Installing PostgreSQL failed; the tests that need it will skip (fail under KSPEC_REQUIRE_POSTGRES=1):" >&2
            tail -n 20 "$_pg_log" >&2
        fi
        rm -f "$_pg_log"
        unset _pg_log
    fi
fi
# Where this script can install PostgreSQL (root with apt-get: CI, a fresh machine), its tests must run, not skip.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export KSPEC_REQUIRE_POSTGRES="${KSPEC_REQUIRE_POSTGRES:-1}"
fi
