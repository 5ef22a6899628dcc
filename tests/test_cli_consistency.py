"""The commands agree with each other: `--format text|json` wherever a command reports something (one JSON
document on stdout, the shapes `kspec.reporters` documents), `-` for stdin wherever a spec is read, `--set` errors
that point at the option, and nothing but kspec's own lines on the terminal.

Most tests use click's CliRunner (no TensorFlow). Three start a process: `kspec import` with TensorFlow's start-up
logs, and `build-and-train` reading its spec from stdin (each a few seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kspec.cli import main
from tests.training_specs import TINY

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
MNIST = SPECS / "mnist_cnn.yaml"
KSPEC = [sys.executable, "-c", "from kspec.cli import entry; entry()"]
DIAGNOSTIC_KEYS = {"code", "severity", "message", "file", "line", "column", "path", "hint", "policy", "backends", "notes"}


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def document(result) -> dict:
    """The JSON document on stdout: the whole of stdout, and nothing on stderr."""
    assert result.stderr == "", result.stderr
    return json.loads(result.stdout)


# ---- every reporting command has --format, every spec argument takes - --------------------------------------


@pytest.mark.parametrize("command", ["validate", "summary", "build-and-train", "tune", "import", "evaluate", "report"])
def test_every_reporting_command_has_format(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "--format [text|json]" in result.output


@pytest.mark.parametrize("command", ["validate", "summary", "build-and-train", "tune"])
def test_every_spec_argument_takes_stdin(command):
    bad = MNIST.read_text().replace("units: 10", "units: ten")
    result = run(command, "-", "--format", "json", input=bad)
    assert result.exit_code == 1
    doc = document(result)
    assert doc["version"] == 1 and doc["ok"] is False
    diagnostics = doc["files"][0]["diagnostics"] if command == "validate" else doc["diagnostics"]
    assert [(d["file"], d["line"], d["code"]) for d in diagnostics] == [("<stdin>", 15, "type")]


# ---- summary --------------------------------------------------------------------------------------------------


def test_summary_json_is_the_layer_table():
    doc = document(run("summary", str(MNIST), "--format", "json"))
    assert {k: v for k, v in doc.items() if k != "layers"} == {
        "version": 1,
        "command": "summary",
        "ok": True,
        "file": str(MNIST),
        "name": "mnist_cnn",
        "collapsed": False,
        "totals": {
            "params": 34826,
            "trainable": 34826,
            "non_trainable": 0,
            "flops": 4961746,
            "activation_bytes": 158376,
            "training_memory": {
                "total": 58432672,
                "weights": 139304,
                "gradients": 139304,
                "optimizer": 278608,
                "activations": 57468928,
                "inputs": 406528,
                "batch_size": 128,
                "precision": "float32",
                "optimizer_slots": 2,
            },
        },
        "outputs": ["dense"],
        "diagnostics": [],
    }
    rows = [(r["name"], r["type"], r["output_shapes"], r["params"], r["flops"], r["activation_bytes"]) for r in doc["layers"]]
    assert rows == [
        ("input_layer", "InputLayer", [[None, 28, 28, 1]], 0, 0, 3136),
        ("conv2d", "Conv2D", [[None, 26, 26, 32]], 320, 432640, 86528),
        ("max_pooling2d", "MaxPooling2D", [[None, 13, 13, 32]], 0, 16224, 21632),
        ("conv2d_1", "Conv2D", [[None, 11, 11, 64]], 18496, 4476032, 30976),
        ("max_pooling2d_1", "MaxPooling2D", [[None, 5, 5, 64]], 0, 4800, 6400),
        ("flatten", "Flatten", [[None, 1600]], 0, 0, 6400),
        ("dropout", "Dropout", [[None, 1600]], 0, 0, 6400),
        ("dense", "Dense", [[None, 10]], 16010, 32050, 40),
    ]
    assert sum(r["flops"] for r in doc["layers"]) == doc["totals"]["flops"]
    assert all(r["block"] is None and r["repeat"] is None and r["shares"] is None for r in doc["layers"])


def test_summary_json_of_shared_layers_and_block_uses():
    shared = document(run("summary", str(SPECS / "two_tower.yaml"), "--format", "json"))
    row = next(r for r in shared["layers"] if r["name"] == "encode_before")
    assert (row["type"], row["shares"], row["params"]) == ("Dense", "encode", 0)
    assert shared["outputs"] == ["label", "score"]
    blocks = """\
kspec: 1
name: blocks
blocks:
  dense_relu:
    params: {units: int}
    layers:
      - {type: Dense, units: "${units}", activation: relu}
model:
  input: {shape: [4]}
  layers:
    - {block: dense_relu, name: hidden, repeat: 2, units: 8}
    - {type: Dense, units: 3, activation: softmax}
training: {loss: sparse_categorical_crossentropy}
"""
    result = run("summary", "-", "--collapsed", "--format", "json", input=blocks)
    assert result.exit_code == 0, result.output
    doc = document(result)
    assert doc["collapsed"] is True and doc["file"] == "<stdin>"
    use = doc["layers"][1]
    assert (use["name"], use["type"], use["block"], use["repeat"]) == ("hidden", "block", "dense_relu", 2)
    assert (use["output_shapes"], use["params"]) == ([[None, 8]], 4 * 8 + 8 + 8 * 8 + 8)
    # the FLOPs of the layers the use expanded to: each Dense's multiply-adds, bias and relu
    assert use["flops"] == (2 * 4 * 8 + 8 + 8) + (2 * 8 * 8 + 8 + 8)


def test_summary_failure_gives_validate_s_diagnostics():
    bad = str(ROOT / "tests" / "data" / "invalid" / "shape_errors.yaml")
    summary = run("summary", bad, "--format", "json")
    assert summary.exit_code == 1
    doc = document(summary)
    assert doc["ok"] is False and doc["error"]["kind"] == "spec" and doc["error"]["exit_code"] == 1
    assert doc["error"]["message"].startswith(f"{len(doc['diagnostics'])} error(s); first: {bad}:")
    validate = json.loads(run("validate", bad, "--format", "json").stdout)
    assert doc["diagnostics"] == validate["files"][0]["diagnostics"]
    assert all(set(d) == DIAGNOSTIC_KEYS for d in doc["diagnostics"])


def test_summary_of_a_missing_file_is_an_io_error_in_both_formats():
    result = run("summary", "no/such.yaml", "--format", "json")
    assert result.exit_code == 2
    doc = document(result)
    assert doc["error"] == {
        "kind": "io",
        "message": "Cannot read 'no/such.yaml': No such file or directory.",
        "exit_code": 2,
    }
    assert [d["code"] for d in doc["diagnostics"]] == ["io-error"]
    text = run("summary", "no/such.yaml")
    assert (text.exit_code, text.stdout) == (2, "")
    assert text.stderr == (
        "no/such.yaml: error[io-error]: Cannot read 'no/such.yaml': No such file or directory.\n"
        "1 file(s) checked: 1 error(s), 0 warning(s)\n"
    )


# ---- --set: the option, not a line of the file ---------------------------------------------------------------


def test_summary_and_validate_take_set_and_point_at_the_option():
    summary = run("summary", str(MNIST), "--set", "model.layers.0.filters=16")
    assert summary.exit_code == 0 and "Total params: 25,450" in summary.stdout.splitlines()
    for command in ("summary", "validate"):
        result = run(command, str(MNIST), "--set", "training.epochs=0")
        assert result.exit_code == 1
        assert result.output.startswith(
            "--set training.epochs=0: error[value]: `epochs` in Training must be >= 1. Received: epochs=0\n"
            "  at training.epochs\n"
            "   cli | --set training.epochs=0\n"
            "       |                       ^\n"
        )


def test_build_and_train_set_error_points_at_the_option():
    result = run("build-and-train", str(MNIST), "--set", "training.optimizer={type: Adam, learning_rate: fast}")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "--set training.optimizer={type: Adam, learning_rate: fast}: error[type]: `learning_rate` must be a number, "
        "not a string. Received: learning_rate='fast'\n"
        "  at training.optimizer.learning_rate\n"
        "   cli | --set training.optimizer={type: Adam, learning_rate: fast}\n"
        "       |                          ^\n"
        "1 file(s) checked: 1 error(s), 0 warning(s)\n"
    )


# ---- build-and-train ----------------------------------------------------------------------------------------------


def test_build_and_train_usage_error_in_json():
    result = run("build-and-train", str(MNIST), "--num-processes", "2", "--process-id", "2", "--format", "json")
    assert result.exit_code == 2
    assert document(result) == {
        "version": 1,
        "command": "build-and-train",
        "ok": False,
        "status": "invalid",
        "error": {
            "kind": "usage",
            "message": "--process-id 2 is out of range for --num-processes 2 (0 to 1).",
            "exit_code": 2,
        },
        "diagnostics": [],
    }


@pytest.fixture
def quiet_env(tmp_path) -> dict[str, str]:
    """A kspec process's environment without TF_CPP_MIN_LOG_LEVEL (kspec must set it) and with an empty Keras home."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_HOME"] = str(tmp_path / "keras_home")
    return env


def test_build_and_train_from_stdin_in_json(tmp_path, quiet_env):
    # The spec's relative data path is read from the current directory; stdout holds only the document.
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((64, 4)).astype(np.float32), y=rng.integers(0, 3, 64))
    spec = TINY.replace("source: {type: synthetic, samples: 64}", "source: {type: npz, path: d.npz}")
    proc = subprocess.run(
        [*KSPEC, "build-and-train", "-", "--steps", "1", "--seed", "1", "-o", "run", "--format", "json"],
        input=spec, cwd=tmp_path, env=quiet_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {k: doc[k] for k in ("command", "ok", "status", "spec", "run_dir", "epochs_done", "process")} == {
        "command": "build-and-train", "ok": True, "status": "complete", "spec": "tiny", "run_dir": "run",
        "epochs_done": 1, "process": 0,
    }
    assert set(doc["metrics"]) == {"final_epoch", "test"}
    assert set(doc["metrics"]["test"]) == {"accuracy", "loss"} and "val_loss" in doc["metrics"]["final_epoch"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert doc["metrics"]["test"] == metrics["test"]
    lines = proc.stderr.splitlines()
    assert lines[0] == "Run directory: run" and "Data: d.npz: 36 train / 12 validation / 16 test examples" in lines
    assert any(line.startswith("1/1 - ") for line in lines)  # Keras's epoch line: on stderr, not in the document


# ---- import ------------------------------------------------------------------------------------------------------


def _dense(name: str, units: int, activation: str, inputs: int) -> dict:
    """A Dense layer as Keras 3 serialises it (with arguments kspec does not model, so the importer reads Keras's
    defaults and imports Keras)."""
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": name, "trainable": True, "units": units, "activation": activation, "use_bias": True,
            "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
            "quantization_config": None,
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, inputs]},
    }


def keras_file(path: Path, *, layers: list[dict] | None = None) -> Path:
    """A .keras archive holding only config.json (all the importer reads), written without Keras."""
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "tiny",
            "trainable": True,
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input_layer"},
                    "registered_name": None,
                },
                *(layers or [_dense("dense", 3, "relu", 4), _dense("dense_1", 2, "softmax", 3)]),
            ],
        },
        "registered_name": None,
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return path


def test_import_prints_only_kspec_s_lines(tmp_path, quiet_env):
    # TensorFlow's start-up logs (absl, oneDNN, CPU features) go to the process's stderr, below Python: a
    # separate process, with TF_CPP_MIN_LOG_LEVEL unset, is the only honest test.
    model = keras_file(tmp_path / "tiny.keras")
    proc = subprocess.run(
        [*KSPEC, "import", str(model), "-o", str(tmp_path / "tiny.yaml")],
        cwd=tmp_path, env=quiet_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (
        f"Imported 'tiny' (2 layers, 23 parameters, sequential form) to {tmp_path / 'tiny.yaml'}. "
        "Its training section is a placeholder: edit it before training.\n"
    )


def test_import_json(tmp_path):
    model = keras_file(tmp_path / "tiny.keras")
    doc = document(run("import", str(model), "--format", "json"))
    text = doc.pop("text")
    assert doc == {
        "version": 1, "command": "import", "ok": True, "name": "tiny", "form": "sequential", "layers": 2,
        "params": 23, "output": None, "diagnostics": [],
    }
    assert text.startswith("# Imported by `kspec import` from tiny.keras.\n") and "name: tiny\n" in text
    out = tmp_path / "tiny.yaml"
    written = document(run("import", str(model), "-o", str(out), "--format", "json"))
    assert (written["output"], written["text"]) == (str(out), None) and out.read_text() == text
    again = run("import", str(model), "-o", str(out), "--format", "json")
    assert again.exit_code == 2
    assert document(again)["error"] == {
        "kind": "usage",
        "message": f"'{out}' exists; use --force to replace it.",
        "exit_code": 2,
    }


def test_import_unsupported_and_unreadable_in_json(tmp_path):
    odd = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "odd"}, "registered_name": None}
    model = keras_file(tmp_path / "odd.keras", layers=[odd])
    result = run("import", str(model), "--format", "json")
    assert result.exit_code == 1
    doc = document(result)
    assert doc["error"]["kind"] == "unsupported" and doc["error"]["exit_code"] == 1
    assert doc["error"]["message"] == "Cannot import model 'tiny': kspec cannot express 1 thing(s) in it:"
    assert len(doc["unsupported"]) == 1 and "odd" in doc["unsupported"][0] and "Lambda" in doc["unsupported"][0]
    missing = run("import", str(tmp_path / "missing.keras"), "--format", "json")
    assert missing.exit_code == 2
    assert document(missing)["error"] == {
        "kind": "io",
        "message": f"Cannot read '{tmp_path / 'missing.keras'}': No such file or directory.",
        "exit_code": 2,
    }
