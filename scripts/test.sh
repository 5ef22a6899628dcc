#!/usr/bin/env bash
# Install kspec with its test and training extras, check kspec/ (ruff, mypy), then run the whole test suite.
source "$(dirname "$0")/_venv.sh"
.venv/bin/python -m pip install -q -e '.[test]'
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
# Lint, format and type checks first (seconds); any failure stops here (set -e, from _venv.sh).
.venv/bin/ruff check kspec
.venv/bin/ruff format --check kspec
.venv/bin/mypy kspec
# PostgreSQL for tests/test_tune_postgres.py: installed here when missing and we are root with apt-get.
source scripts/_postgres.sh
source scripts/_browser.sh
source scripts/_yamlls.sh
source scripts/_neovim.sh
# Two pytest-xdist workers (the CI machine has two cores), each running whole test files (`--dist loadfile`: a
# module's fixtures, its trained runs among them, are made once), in collection order (`--no-loadscope-reorder`:
# tests/conftest.py puts the files that take minutes first). Arguments given here come later and win: `-n 0` runs
# in one process (as `--pdb` needs). KSPEC_TEST_WORKERS sets the number of workers.
exec .venv/bin/python -m pytest -q -n "${KSPEC_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
