#!/usr/bin/env bash
# The main job: install kspec with its training extra, check every example spec, then train the demo
# spec (a small convnet) on the embedded 8x8 digits dataset and write a run directory under runs/.
source "$(dirname "$0")/_venv.sh"
.venv/bin/python -m pip install -q -e '.[train]'
.venv/bin/kspec validate specs/
exec .venv/bin/kspec build-and-train specs/digits_cnn.yaml "$@"
