"""The run-directory writers in kspec.train.artifacts: atomic writes, JSON, history, curves,
model diagram and summary."""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.train import artifacts
from kspec.train.artifacts import (
    atomic_dir,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    model_dot,
    plot_curves,
    write_diagram,
    write_history,
    write_json,
    write_summary,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

GRAPH_SPEC = """\
kspec: 1
name: shared_pair
model:
  inputs:
    - {name: left, shape: [8]}
    - {name: right, shape: [8]}
  nodes:
    - {name: encode, type: Dense, units: 4, inputs: left}
    - {name: encode_right, shares: encode, inputs: right}
    - {name: merged, type: Concatenate, inputs: [encode, encode_right]}
    - {name: out, type: Dense, units: 1, activation: sigmoid, inputs: merged}
  outputs: [out]
training:
  optimizer: adam
  loss: binary_crossentropy
  epochs: 1
  batch_size: 4
"""


def tiny_png() -> bytes:
    """A valid 2x1 RGB PNG, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00" + b"\xff\x00\x00" + b"\x00\x00\xff"
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- atomic writes ------------------------------------------------------------------------------


def test_atomic_write_bytes_and_text(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"\x00\x01first")
    assert target.read_bytes() == b"\x00\x01first"
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    text = tmp_path / "t.txt"
    atomic_write_text(text, "héllo\nwörld\n")
    assert text.read_bytes() == "héllo\nwörld\n".encode("utf-8")
    assert names(tmp_path) == ["a.bin", "t.txt"]
    # Not mkstemp's 0600: what an ordinary open() would have created.
    assert stat.S_IMODE(text.stat().st_mode) == 0o666 & ~umask()


def test_atomic_write_keeps_existing_mode(tmp_path):
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o751)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "keep.txt"
    atomic_write_text(target, "complete")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "complete"
    assert names(tmp_path) == ["keep.txt"]


def test_atomic_write_failing_replace_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    atomic_write_text(target, "complete")

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(artifacts.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_text(target, "half")
    monkeypatch.undo()
    assert target.read_text() == "complete"
    assert names(tmp_path) == ["keep.txt"]


def test_atomic_path_success(tmp_path):
    target = tmp_path / "model.keras"
    with atomic_path(target, suffix=".keras") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.endswith(".keras")
        assert not tmp.exists()
        assert tmp != target
        tmp.write_bytes(b"weights")
        assert not target.exists()
    assert target.read_bytes() == b"weights"
    assert names(tmp_path) == ["model.keras"]


def test_atomic_path_exception_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old complete model")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_path(target, suffix=".keras") as tmp:
            tmp.write_bytes(b"half a mod")
            raise RuntimeError("crash while saving")
    assert target.read_bytes() == b"old complete model"
    assert names(tmp_path) == ["model.keras"]


def test_atomic_path_without_a_written_file_raises(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    assert target.read_text() == "old"
    assert names(tmp_path) == ["x.txt"]


def test_atomic_dir_new_replace_and_crash(tmp_path):
    target = tmp_path / "saved_model"
    with atomic_dir(target) as tmp:
        assert tmp.is_dir() and tmp.parent == tmp_path and tmp != target
        (tmp / "saved_model.pb").write_bytes(b"v1")
        (tmp / "variables").mkdir()
        (tmp / "variables" / "variables.index").write_bytes(b"i1")
    assert (target / "saved_model.pb").read_bytes() == b"v1"
    assert (target / "variables" / "variables.index").read_bytes() == b"i1"
    assert names(tmp_path) == ["saved_model"]

    with atomic_dir(target) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"v2")
    assert names(target) == ["saved_model.pb"]  # the old tree is gone, not merged
    assert (target / "saved_model.pb").read_bytes() == b"v2"
    assert names(tmp_path) == ["saved_model"]

    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "saved_model.pb").write_bytes(b"v3-partial")
            raise KeyboardInterrupt
    assert (target / "saved_model.pb").read_bytes() == b"v2"
    assert names(tmp_path) == ["saved_model"]


# ---- JSON ---------------------------------------------------------------------------------------


def test_write_json_nan_inf_numpy(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(
        target,
        {
            "z": float("nan"),
            "a": [1.5, float("inf"), -math.inf, np.float32(0.25), np.int64(3)],
            "arr": np.array([[1.0, np.nan]]),
            "nested": {"ok": True, "none": None, "t": (1, 2)},
            "path": Path("runs/x"),
        },
    )
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "z": None,
        "a": [1.5, None, None, 0.25, 3],
        "arr": [[1.0, None]],
        "nested": {"ok": True, "none": None, "t": [1, 2]},
        "path": "runs/x",
    }
    assert list(json.loads(text)) == ["z", "a", "arr", "nested", "path"]  # order kept, not sorted
    assert text.startswith('{\n  "z": null,\n')  # indent 2
    assert names(tmp_path) == ["metrics.json"]


def test_write_json_unserialisable_raises_and_keeps_old(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"ok": 1})
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert names(tmp_path) == ["m.json"]


# ---- history ------------------------------------------------------------------------------------


def test_write_history_csv_and_json(tmp_path):
    history = {
        "loss": [0.5, 0.25, 0.125],
        "accuracy": [0.5, 0.75, 1.0],
        "val_loss": [0.625, float("nan"), 0.1],
    }
    write_history(tmp_path, history)
    assert (tmp_path / "history.csv").read_text() == (
        "epoch,loss,accuracy,val_loss\n"
        "1,0.5,0.5,0.625\n"
        "2,0.25,0.75,\n"
        "3,0.125,1.0,0.1\n"
    )
    data = json.loads((tmp_path / "history.json").read_text())
    assert data == {
        "epoch": [1, 2, 3],
        "loss": [0.5, 0.25, 0.125],
        "accuracy": [0.5, 0.75, 1.0],
        "val_loss": [0.625, None, 0.1],
    }
    assert list(data) == ["epoch", "loss", "accuracy", "val_loss"]
    assert names(tmp_path) == ["history.csv", "history.json"]


def test_write_history_explicit_epochs_and_numpy(tmp_path):
    write_history(tmp_path, {"loss": [np.float32(0.5), np.float64(0.25)]}, epochs=[4, 5])
    assert (tmp_path / "history.csv").read_text() == "epoch,loss\n4,0.5\n5,0.25\n"
    assert json.loads((tmp_path / "history.json").read_text()) == {"epoch": [4, 5], "loss": [0.5, 0.25]}


def test_write_history_empty(tmp_path):
    write_history(tmp_path, {})
    assert (tmp_path / "history.csv").read_text() == "epoch\n"
    assert json.loads((tmp_path / "history.json").read_text()) == {"epoch": []}


def test_write_history_rejects_ragged_series(tmp_path):
    with pytest.raises(ValueError, match="one value per epoch"):
        write_history(tmp_path, {"loss": [1.0, 0.5], "val_loss": [1.0]})
    with pytest.raises(ValueError, match="one value per epoch"):
        write_history(tmp_path, {"loss": [1.0, 0.5]}, epochs=[1])
    with pytest.raises(ValueError, match="epoch"):
        write_history(tmp_path, {"epoch": [1.0]})
    assert names(tmp_path) == []


# ---- training curves ----------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    import matplotlib.image

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(path)
    return image.shape[0], image.shape[1]


def test_metric_panels_pair_validation_series():
    assert artifacts._metric_panels(
        ["loss", "out_a_loss", "out_a_accuracy", "val_loss", "val_out_a_loss", "val_out_a_accuracy", "val_only"]
    ) == [
        ("loss", "loss", "val_loss"),
        ("out_a_loss", "out_a_loss", "val_out_a_loss"),
        ("out_a_accuracy", "out_a_accuracy", "val_out_a_accuracy"),
        ("val_only", None, "val_only"),
    ]


@pytest.mark.parametrize(
    "history",
    [
        pytest.param({"loss": [0.7], "val_loss": [0.8], "accuracy": [0.5], "val_accuracy": [0.4]}, id="one-epoch"),
        pytest.param(
            {"loss": [0.9, float("nan"), 0.3], "val_loss": [1.0, 0.6, float("inf")], "mae": [float("nan")] * 3},
            id="three-epochs-nan",
        ),
        pytest.param(
            {
                "loss": [1.2, 0.9, 0.7],
                "out_a_loss": [0.7, 0.5, 0.4],
                "out_b_loss": [0.5, 0.4, 0.3],
                "out_a_accuracy": [0.3, 0.5, 0.6],
                "out_b_mae": [0.9, 0.8, 0.7],
                "val_loss": [1.3, 1.0, 0.8],
                "val_out_a_loss": [0.8, 0.6, 0.5],
                "val_out_b_loss": [0.5, 0.4, 0.3],
                "val_out_a_accuracy": [0.2, 0.4, 0.5],
                "val_out_b_mae": [1.0, 0.9, 0.8],
            },
            id="per-output",
        ),
        pytest.param({}, id="empty"),
    ],
)
def test_plot_curves_writes_png(tmp_path, history):
    target = tmp_path / "curves.png"
    plot_curves(target, history, title="run 1")
    height, width = png_size(target)
    assert height > 200 and width > 400
    assert names(tmp_path) == ["curves.png"]


def test_plot_curves_grows_with_panels(tmp_path):
    one = tmp_path / "one.png"
    many = tmp_path / "many.png"
    plot_curves(one, {"loss": [1.0, 0.5]}, title="one")
    plot_curves(many, {f"m{i}": [1.0, 0.5] for i in range(5)}, title="many", epochs=[3, 4])
    assert png_size(many)[0] > png_size(one)[0]
    assert png_size(many)[1] > png_size(one)[1]


# ---- model diagram ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inference():
    report = kspec.check(GRAPH_SPEC)
    assert report.ok, report.diagnostics
    return report.inference


def test_model_dot_graph(inference):
    dot = model_dot(inference, title="shared_pair")
    assert dot.startswith('digraph "shared_pair" {')
    assert dot.endswith("}\n")
    for name in ("left", "right", "encode", "encode_right", "merged", "out"):
        assert f'  "{name}" [label="{name}\\n' in dot
    for edge in (
        '"left" -> "encode";',
        '"right" -> "encode_right";',
        '"encode" -> "merged";',
        '"encode_right" -> "merged";',
        '"merged" -> "out";',
    ):
        assert edge in dot
    assert '"encode" -> "encode_right" [style=dashed' in dot
    assert "shares encode" in dot
    assert '"left" [label="left\\nInput\\n(None, 8)"' in dot
    assert '"encode" [label="encode\\nDense\\n(None, 4)\\nparams: 36"' in dot
    assert '"merged" [label="merged\\nConcatenate\\n(None, 8)"]' in dot  # no params line when 0
    # The shared call does not repeat the shared layer's weights.
    shared_line = next(line for line in dot.splitlines() if line.startswith('  "encode_right" ['))
    assert "params" not in shared_line and "dashed" in shared_line
    out_line = next(line for line in dot.splitlines() if line.startswith('  "out" ['))
    assert "bold" in out_line
    assert model_dot(inference, title="shared_pair") == dot  # deterministic


def test_model_dot_sequential_and_escaping():
    report = kspec.check(
        "kspec: 1\nname: seq\nmodel:\n  input: {shape: [28, 28, 1]}\n  layers:\n"
        "    - {type: Conv2D, filters: 32, kernel_size: 3}\n    - {type: Flatten}\n"
        "training: {optimizer: adam, loss: mse, epochs: 1, batch_size: 2}\n"
    )
    dot = model_dot(report.inference, title='say "hi" \\ bye\nnow')
    assert 'digraph "say \\"hi\\" \\\\ bye\\nnow" {' in dot
    assert '"conv2d" [label="conv2d\\nConv2D\\n(None, 26, 26, 32)\\nparams: 320"' in dot
    assert '"input_layer" -> "conv2d";' in dot
    assert '"conv2d" -> "flatten";' in dot
    assert "\n\n" not in dot


def write_fake_dot(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "dot"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


def test_write_diagram_without_dot_writes_dot_file(tmp_path, inference, monkeypatch):
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = write_diagram(run_dir, inference, title="shared_pair")
    assert result == run_dir / "model.dot"
    assert result.read_text() == model_dot(inference, title="shared_pair")
    assert names(run_dir) == ["model.dot"]


def test_write_diagram_renders_png_with_dot(tmp_path, inference, monkeypatch):
    known = tmp_path / "known.png"
    known.write_bytes(tiny_png())
    log = tmp_path / "args.txt"
    # Expects exactly: dot -Tpng -o OUT IN
    write_fake_dot(
        tmp_path / "bin",
        f'echo "$@" > "{log}"\n'
        '[ "$1" = "-Tpng" ] && [ "$2" = "-o" ] && [ -f "$4" ] || exit 3\n'
        f'exec cat "{known}" > "$3"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = write_diagram(run_dir, inference, title="shared_pair")
    assert result == run_dir / "model.png"
    assert result.read_bytes() == tiny_png()
    assert png_size(result) == (1, 2)
    assert names(run_dir) == ["model.dot", "model.png"]
    args = log.read_text().split()
    assert args[0] == "-Tpng" and args[1] == "-o" and args[3] == str(run_dir / "model.dot")
    assert Path(args[2]).parent == run_dir and args[2] != str(run_dir / "model.png")  # rendered to a temp


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("echo broken >&2\nexit 1\n", id="exit-status"),
        pytest.param('echo "not a png" > "$3"\n', id="not-png"),
        pytest.param("exit 0\n", id="writes-nothing"),
    ],
)
def test_write_diagram_failing_dot_falls_back(tmp_path, inference, monkeypatch, body):
    write_fake_dot(tmp_path / "bin", body)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = write_diagram(run_dir, inference, title="shared_pair")
    assert result == run_dir / "model.dot"
    assert names(run_dir) == ["model.dot"]


def test_write_diagram_dot_timeout_falls_back(tmp_path, inference, monkeypatch):
    write_fake_dot(tmp_path / "bin", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(artifacts, "DOT_TIMEOUT_S", 0.5)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert write_diagram(run_dir, inference, title="t") == run_dir / "model.dot"
    assert names(run_dir) == ["model.dot"]


# ---- model summary ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_write_summary_plain_text(tmp_path, keras, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "40")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(5, name="hidden_dense"), keras.layers.Dense(2, name="head")],
        name="tiny",
    )
    target = tmp_path / "summary.txt"
    write_summary(target, model)
    text = target.read_text(encoding="utf-8")
    assert os.environ["COLUMNS"] == "40"  # restored
    assert 'Model: "tiny"' in text
    assert "hidden_dense (Dense)" in text and "head (Dense)" in text
    assert "Total params: 47" in text
    assert "Param #" in text  # not cropped to a narrow console
    assert "\x1b[" not in text and "\x1b" not in text
    assert "[bold]" not in text and "[/]" not in text and "color(" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert names(tmp_path) == ["summary.txt"]


def test_write_summary_functional_shared(tmp_path, keras):
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = keras.layers.Dense(3, name="shared_dense")
    out = keras.layers.Add(name="sum")([shared(a), shared(b)])
    model = keras.Model([a, b], out, name="pair")
    target = tmp_path / "summary.txt"
    write_summary(target, model, line_length=120)
    text = target.read_text(encoding="utf-8")
    assert "shared_dense (Dense)" in text and "sum (Add)" in text and "Connected to" in text
    assert "Total params: 15" in text
    assert "\x1b" not in text
    assert max(len(line) for line in text.splitlines()) <= 120


BN_SPEC = """\
kspec: 1
name: bn_adam
model:
  input: {shape: [6]}
  layers:
    - {type: Dense, units: 5, name: hidden}
    - {type: BatchNormalization, name: norm}
    - {type: Dense, units: 2, name: head}
training:
  optimizer: adam
  loss: mse
  epochs: 1
  batch_size: 4
"""


def test_write_summary_states_the_figures_of_kspec_summary(tmp_path, keras):
    """A compiled, trained model with non-trainable weights (BatchNormalization's moving statistics) and an
    optimizer with state (Adam): summary.txt counts the model's weights as `kspec summary` and Keras's
    count_params do, and names the optimizer's state without counting it (Keras's own total counts it)."""
    from kspec.compile import build_model, compile_model
    from kspec.reporters import render_summary

    report = kspec.check(BN_SPEC)
    assert report.ok and report.spec is not None and report.inference is not None
    model = build_model(report.spec, report.inference)
    compile_model(model, report.spec.training)
    model.fit(np.ones((8, 6), np.float32), np.zeros((8, 2), np.float32), batch_size=4, verbose=0)
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    non_trainable = sum(math.prod(v.shape) for v in model.non_trainable_weights)
    assert (model.count_params(), trainable, non_trainable) == (67, 57, 10)
    optimizer = model.optimizer.variables
    values = sum(math.prod(v.shape) for v in optimizer)
    assert values == 2 * 57 + 2  # Adam's two moments per trainable value, its iteration and learning rate

    target = tmp_path / "summary.txt"
    write_summary(target, model)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == (
        f"Parameters: 67 (57 trainable, 10 non-trainable): the model's weights; the optimizer's state "
        f"({len(optimizer)} variables, {values} values) is not counted."
    )
    assert lines[1] == 'Model: "bn_adam"'
    assert any(line.startswith("│ norm (BatchNormalization)") for line in lines)  # Keras's layer table stays
    totals = ["Total params: 67", "Trainable params: 57", "Non-trainable params: 10"]
    assert lines[-4:] == [*totals, f"Optimizer state (not counted above): {len(optimizer)} variables, {values} values"]
    kspec_summary = render_summary(report).splitlines()
    assert [line for line in kspec_summary if "params:" in line] == totals
    assert not any("Optimizer params" in line or "Total params: 183" in line for line in lines)


def test_write_summary_without_an_optimizer(tmp_path, keras):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")], name="plain")
    write_summary(tmp_path / "summary.txt", model)
    lines = (tmp_path / "summary.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Parameters: 8 (8 trainable, 0 non-trainable): the model's weights; there is no optimizer state."
    assert lines[-3:] == ["Total params: 8", "Trainable params: 8", "Non-trainable params: 0"]


def test_atomic_path_with_keras_save(tmp_path, keras):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
    target = tmp_path / "model.keras"
    with atomic_path(target, suffix=".keras") as tmp:
        model.save(tmp)
    assert names(tmp_path) == ["model.keras"]
    loaded = keras.saving.load_model(target)
    assert loaded.get_layer("d").count_params() == 3
