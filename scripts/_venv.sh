# Shared by scripts/demo.sh and scripts/test.sh: a project-local virtual environment in .venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "kspec needs Python 3.11 or newer; set PYTHON=/path/to/python3.11 (found: $("$PYTHON" --version 2>&1))." >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
