"""Acceptance tests of the CLI through click's CliRunner: exit codes and exact output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kspec.cli import main

ROOT = Path(__file__).parent.parent
SPECS = ROOT / "specs"
INVALID = ROOT / "tests" / "data" / "invalid"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def test_validate_valid_file_exits_0() -> None:
    result = run("validate", str(SPECS / "mnist_cnn.yaml"))
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{SPECS / 'mnist_cnn.yaml'}: ok, 34,826 parameters\n1 file(s) checked: 0 error(s), 0 warning(s)\n"
    )


def test_validate_directory_checks_every_spec() -> None:
    result = run("validate", str(SPECS))
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok,") == len(list(SPECS.glob("*.yaml")))


def test_validate_invalid_exits_1_with_position_path_and_hint() -> None:
    path = INVALID / "typos.yaml"
    result = run("validate", str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first == (
        f"{path}:11:22: error[unknown-key]: Unknown key 'filter' in layer Conv2D. Received: filter=32"
    )
    assert "  at model.layers[0].filter" in result.output
    assert "  hint: Did you mean 'filters'?" in result.output
    assert "  hint: Did you mean 'MaxPooling2D'?" in result.output
    assert result.output.endswith("1 file(s) checked: 5 error(s), 0 warning(s)\n")


def test_validate_reports_every_file_even_after_a_bad_one() -> None:
    result = run("validate", str(INVALID / "bad_yaml.yaml"), str(SPECS / "mnist_cnn.yaml"))
    assert result.exit_code == 1
    assert "error[yaml-syntax]" in result.output
    assert "mnist_cnn.yaml: ok" in result.output


def test_validate_json_format_contract() -> None:
    result = run("validate", "--format", "json", str(INVALID / "graph_cycle.yaml"), str(SPECS / "two_tower.yaml"))
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["version"] == 1 and doc["ok"] is False
    bad, good = doc["files"]
    assert good["ok"] is True and good["params"] > 0 and good["diagnostics"] == []
    assert bad["ok"] is False and bad["errors"] == 1
    (d,) = bad["diagnostics"]
    assert set(d) == {"code", "severity", "message", "file", "line", "column", "path", "hint", "policy", "backends", "notes"}
    assert d["code"] == "cycle" and d["severity"] == "error" and d["path"] == "model.nodes[0].inputs"
    assert (d["line"], d["column"]) == (8, 48)


def test_validate_stdin() -> None:
    text = (SPECS / "mnist_cnn.yaml").read_text()
    result = run("validate", "-", input=text)
    assert result.exit_code == 0
    assert result.output.startswith("<stdin>: ok")
    result = run("validate", "-", input=text.replace("units: 10", "units: ten"))
    assert result.exit_code == 1
    assert "<stdin>:" in result.output and "error[type]" in result.output


def test_missing_file_and_usage_errors_exit_2() -> None:
    result = run("validate", "no/such/spec.yaml")
    assert result.exit_code == 2
    assert "error[io-error]: No such file or directory: 'no/such/spec.yaml'." in result.output
    assert run("validate").exit_code == 2
    assert run("validate", "--format", "xml", str(SPECS)).exit_code == 2


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    result = run("validate", str(binary))
    assert result.exit_code == 2
    assert "error[io-error]" in result.output


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    spec = tmp_path / "stack.yaml"
    spec.write_text(
        "kspec: 1\nname: stack\nmodel:\n  input: {shape: [4]}\n  layers:\n    - {type: Dense, units: 8}\n"
        "    - {type: Dense, units: 3, activation: softmax}\ntraining:\n  loss: sparse_categorical_crossentropy\n"
    )
    relaxed = run("validate", str(spec))
    assert relaxed.exit_code == 0
    assert "warning[lint-no-activation-stack]" in relaxed.output
    strict = run("validate", "--strict", str(spec))
    assert strict.exit_code == 1
    assert "error[lint-no-activation-stack]" in strict.output


def test_param_budget_option(tmp_path: Path) -> None:
    result = run("validate", "--param-budget", "1000", str(SPECS / "mnist_cnn.yaml"))
    assert result.exit_code == 1
    assert "error[param-budget]" in result.output


def test_summary_table_matches_keras_layout() -> None:
    result = run("summary", str(SPECS / "mnist_cnn.yaml"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == 'Model: "mnist_cnn"'
    # name, shape, parameters, then forward FLOPs (26*26*32 * (2*9 + 2) with the bias and relu) and the output's bytes
    assert any(
        line.startswith("conv2d (Conv2D)") and line.endswith("320   432.6K   84.5 KiB") and "(None, 26, 26, 32)" in line
        for line in lines
    )
    assert any(line.startswith("max_pooling2d_1 (MaxPooling2D)") and "(None, 5, 5, 64)" in line for line in lines)
    assert "Total params: 34,826" in lines
    assert "Non-trainable params: 0" in lines


def test_summary_of_graph_lists_shared_calls() -> None:
    result = run("summary", str(SPECS / "two_tower.yaml"))
    assert result.exit_code == 0, result.output
    assert "encode_before (Dense, shares encode)" in result.output
    assert "Outputs: label, score" in result.output


def test_summary_of_invalid_spec_exits_1() -> None:
    result = run("summary", str(INVALID / "shape_errors.yaml"))
    assert result.exit_code == 1


def test_schema_command_prints_the_schema(tmp_path: Path) -> None:
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.output)["$id"].endswith("kspec.schema.json")
    out = tmp_path / "s.json"
    assert run("schema", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text()) == json.loads(result.output)


def test_console_script_never_prints_a_traceback() -> None:
    # A closed pipe and a directory passed as a file must not end in a traceback.
    proc = subprocess.run(
        [sys.executable, "-c", "from kspec.cli import entry; import sys; sys.argv=['kspec','summary',%r]; entry()" % str(SPECS)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
