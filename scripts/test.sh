#!/usr/bin/env bash
# Install kspec with its test and training extras, then run the whole test suite.
source "$(dirname "$0")/_venv.sh"
.venv/bin/python -m pip install -q -e '.[test]'
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/python -m pytest -q "$@"
