#!/usr/bin/env bash
# Install kspec with its test and training extras, check kspec/ (ruff, mypy), then run the whole test suite.
source "$(dirname "$0")/_venv.sh"
.venv/bin/python -m pip install -q -e '.[test]'
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
# Lint, format and type checks first (seconds); any failure stops here (set -e, from _venv.sh).
.venv/bin/ruff check kspec
.venv/bin/ruff format --check kspec
.venv/bin/mypy kspec
exec .venv/bin/python -m pytest -q "$@"
