#!/usr/bin/env bash
# The main job: install kspec and check every example spec, then show the MNIST model's layer table.
source "$(dirname "$0")/_venv.sh"
.venv/bin/python -m pip install -q -e .
.venv/bin/kspec validate specs/
.venv/bin/kspec summary specs/mnist_cnn.yaml
