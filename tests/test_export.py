"""`kspec.use.export`: every format a TensorFlow run supports exports and matches Keras in its own runtime
(a CNN and a three-input, two-output model); refusals come before any work and say why; an export is
swapped in only once verified, and a failed one leaves nothing behind. JAX and PyTorch runs export in a
subprocess each (Keras picks its backend once per process).

The runs are tiny (one training step on synthetic data) and trained once per module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402

from kspec.train.run import TrainOptions, build_and_train  # noqa: E402
from kspec.use import export as export_module  # noqa: E402
from kspec.use.export import ExportError, InputSpec, export_run, sample_batch, supported_formats  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TF_FORMATS = [name for name, why in supported_formats("tensorflow").items() if why is None]


def train(spec: Path, output: Path, backend: str = "tensorflow") -> Path:
    opts = TrainOptions(data="synthetic", epochs=1, steps=1, verbose=0, output=str(output), seed=3, backend=backend)
    return build_and_train(str(spec), opts, echo=lambda _: None).run_dir


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def copy_run(run: Path, target: Path, **run_json: object) -> Path:
    """A copy of a run directory without its exports; `run_json` overrides fields of its run.json."""
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("export"))
    info = read_json(target / "run.json") | run_json
    (target / "run.json").write_text(json.dumps(info), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory) -> Path:
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the in-process tests need the TensorFlow backend")
    return train(ROOT / "specs" / "digits_cnn.yaml", tmp_path_factory.mktemp("cnn") / "run")


@pytest.fixture(scope="module")
def cnn_exports(cnn_run):
    messages: list[str] = []
    return export_run(cnn_run, TF_FORMATS, echo=messages.append), messages


@pytest.fixture(scope="module")
def two_tower_run(tmp_path_factory) -> Path:
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the in-process tests need the TensorFlow backend")
    return train(ROOT / "specs" / "two_tower.yaml", tmp_path_factory.mktemp("two_tower") / "run")


# ---- what each backend can do -----------------------------------------------------------------------


def test_supported_formats_per_backend():
    tf, jax, torch = (supported_formats(b) for b in ("tensorflow", "jax", "torch"))
    assert set(tf) == set(jax) == set(torch) == {"saved_model", "onnx", "litert", "openvino"}
    assert all(why is None for why in tf.values()), tf  # kspec[export] is installed for the tests
    assert jax["saved_model"] is None and jax["onnx"] is None
    assert "TensorFlow and PyTorch backends" in jax["litert"]
    assert "XlaCallModule" in jax["openvino"]
    assert torch["onnx"] is None and torch["openvino"] is None
    assert "torch_xla" in torch["saved_model"]
    assert supported_formats("theano") == dict.fromkeys(
        tf, "the run's backend 'theano' is not one of tensorflow, jax, torch"
    )


def test_missing_runtime_names_the_extra(monkeypatch):
    real = export_module.importlib.util.find_spec
    monkeypatch.setattr(export_module.importlib.util, "find_spec", lambda n: None if n == "onnxruntime" else real(n))
    assert supported_formats("tensorflow")["onnx"] == (
        "it needs onnxruntime on the TensorFlow backend, which is not installed: `pip install 'kspec[export]'`"
    )


# ---- TensorFlow: every format, verified -----------------------------------------------------------------


def test_cnn_exports_every_format(cnn_run, cnn_exports):
    results, messages = cnn_exports
    assert [r.format for r in results] == TF_FORMATS
    for r in results:
        assert r.ok and r.batch_sizes == [1, 2, 7] and 0 <= r.max_abs_diff <= r.tolerance == 1e-4
        assert r.path.exists() and r.path.is_relative_to(cnn_run / "export" / r.format)
    files = {r.format: r.path.relative_to(cnn_run / "export").as_posix() for r in results}
    assert files == {
        "saved_model": "saved_model",
        "onnx": "onnx/model.onnx",
        "litert": "litert/model.tflite",
        "openvino": "openvino/model.xml",
    }
    assert (cnn_run / "export" / "openvino" / "model.bin").is_file()
    assert sorted(p.name for p in (cnn_run / "export").iterdir()) == sorted(TF_FORMATS)  # no temporary left
    assert sum("verified with" in m for m in messages) == len(TF_FORMATS)


def test_parity_json(cnn_run, cnn_exports):
    parity = read_json(cnn_run / "export" / "onnx" / "parity.json")
    assert parity["format"] == "onnx" and parity["file"] == "model.onnx"
    assert parity["backend"] == "tensorflow" and parity["keras_version"] == keras.__version__
    assert parity["converter"].startswith("tf2onnx ")
    assert parity["runtime"]["name"] == "ONNX Runtime"
    assert parity["runtime"]["version"] == __import__("onnxruntime").__version__
    assert parity["batch_sizes"] == [1, 2, 7] and parity["fixed_batch_size"] is None
    assert parity["inputs"] == [
        {"name": "image", "dtype": "float32", "shape": [None, 8, 8, 1], "value_range": None, "fed_as": "image"}
    ]
    assert parity["inputs_matched_by"] == "name"
    assert [(o["name"], o["dtype"], o["shape"]) for o in parity["outputs"]] == [("digit", "float32", [None, 10])]
    assert parity["tolerance"]["atol"] == parity["tolerance"]["rtol"] == 1e-4
    assert parity["passed"] is True and parity["max_abs_diff"] == cnn_exports[0][1].max_abs_diff
    assert set(parity["seconds"]) == {"export", "verify"}
    runtimes = {f: read_json(cnn_run / "export" / f / "parity.json")["runtime"]["name"] for f in TF_FORMATS}
    assert runtimes == {"saved_model": "TensorFlow", "onnx": "ONNX Runtime", "litert": "LiteRT", "openvino": "OpenVINO"}


def test_onnx_export_predicts_like_keras(cnn_run, cnn_exports):
    """Independent of the module's own comparison: the exported file, run by ONNX Runtime, equals Keras."""
    import onnxruntime as ort

    model = keras.saving.load_model(cnn_run / "model.keras", compile=False)
    x = np.random.default_rng(5).uniform(0, 16, (3, 8, 8, 1)).astype("float32")
    session = ort.InferenceSession(str(cnn_run / "export" / "onnx" / "model.onnx"))
    (got,) = session.run(None, {"image": x})
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(x)), atol=1e-5)


def test_two_inputs_two_outputs(two_tower_run):
    results = export_run(two_tower_run, TF_FORMATS, echo=lambda _: None)
    assert all(r.ok and r.max_abs_diff <= 1e-4 for r in results)
    for fmt in TF_FORMATS:
        parity = read_json(two_tower_run / "export" / fmt / "parity.json")
        assert [(i["name"], i["fed_as"]) for i in parity["inputs"]] == [
            ("image", "image"),
            ("meta_now", "meta_now"),
            ("meta_before", "meta_before"),
        ], fmt
        assert [(o["name"], o["shape"]) for o in parity["outputs"]] == [("label", [None, 5]), ("score", [None, 1])]


def test_interface_json_value_ranges(cnn_run, tmp_path):
    run = copy_run(cnn_run, tmp_path / "run")
    interface = {
        "inputs": [{"name": "image", "dtype": "float32", "shape": [None, 8, 8, 1], "value_range": [0, 16]}],
        "outputs": [{"name": "digit", "dtype": "float32", "shape": [None, 10]}],
    }
    (run / "interface.json").write_text(json.dumps(interface), encoding="utf-8")
    export_run(run, ["onnx"], echo=lambda _: None, seed=4)
    assert read_json(run / "export" / "onnx" / "parity.json")["inputs"][0]["value_range"] == [0.0, 16.0]


# ---- refusals ----------------------------------------------------------------------------------------------


def test_unknown_format_is_refused_before_any_work(cnn_run, tmp_path):
    run = copy_run(cnn_run, tmp_path / "run")
    with pytest.raises(ExportError) as caught:
        export_run(run, ["onnx", "tflite"], echo=lambda _: None)
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "Unknown export format 'tflite'. Expected one of: saved_model, onnx, litert, openvino. Nothing was exported. "
        "Formats this run can be exported to here: saved_model, onnx, litert, openvino."
    )
    assert not (run / "export").exists()


def test_format_the_backend_cannot_export_is_refused(cnn_run, tmp_path):
    run = copy_run(cnn_run, tmp_path / "run", backend="jax")
    with pytest.raises(ExportError) as caught:
        export_run(run, ["saved_model", "litert", "openvino"], echo=lambda _: None)
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f"Cannot export the run in '{run}' (JAX backend) to litert: Keras 3.15 exports LiteRT only from the "
        f"TensorFlow and PyTorch backends. Cannot export the run in '{run}' (JAX backend) to openvino: Keras 3.15 "
        "converts JAX models for OpenVINO through jax2tf, whose graphs are XlaCallModule operations since JAX 0.5 "
        "(its native_serialization=False is gone), and OpenVINO cannot convert those. Nothing was exported. "
        "Formats this run can be exported to here: saved_model, onnx."
    )
    assert not (run / "export").exists()  # saved_model, which JAX can do, was not started either


def test_keras_loaded_with_another_backend(cnn_run, tmp_path):
    run = copy_run(cnn_run, tmp_path / "run", backend="torch")
    with pytest.raises(ExportError) as caught:
        export_run(run, ["onnx"], echo=lambda _: None)
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f"The run in '{run}' was trained with the PyTorch backend, but Keras is already loaded in this process with "
        "the TensorFlow backend; the backend is chosen before Keras loads. Export it in a new process "
        "(KERAS_BACKEND=torch)."
    )


def test_unfinished_run_and_no_format(cnn_run, tmp_path):
    run = copy_run(cnn_run, tmp_path / "run", status="interrupted")
    with pytest.raises(ExportError, match=r"is not complete \(status: interrupted\)") as caught:
        export_run(run, ["onnx"], echo=lambda _: None)
    assert caught.value.exit_code == 2
    with pytest.raises(ExportError, match="No export format given") as caught:
        export_run(cnn_run, [], echo=lambda _: None)
    assert caught.value.exit_code == 2


# ---- atomic replacement and failed parity --------------------------------------------------------------------


def test_failed_parity_leaves_no_export(cnn_run, tmp_path, monkeypatch):
    run = copy_run(cnn_run, tmp_path / "run")
    monkeypatch.setitem(export_module.TOLERANCES, "float32", (-1.0, 0.0))  # nothing can be that close
    with pytest.raises(ExportError) as caught:
        export_run(run, ["onnx"], echo=lambda _: None)
    assert caught.value.exit_code == 1
    message = str(caught.value)
    assert message.startswith(f"The onnx export of '{run}' (made by tf2onnx ")
    assert "does not reproduce the Keras model under ONNX Runtime: the largest difference is" in message
    assert message.endswith(
        f"; the comparison is in '{run / 'export' / 'onnx-failed-parity.json'}'. "
        f"Nothing was written to '{run / 'export' / 'onnx'}'."
    )
    assert sorted(p.name for p in (run / "export").iterdir()) == ["onnx-failed-parity.json"]
    report = read_json(run / "export" / "onnx-failed-parity.json")
    assert report["passed"] is False and report["tolerance"]["atol"] == -1.0


def test_converter_failure_leaves_no_export(cnn_run, tmp_path, monkeypatch):
    run = copy_run(cnn_run, tmp_path / "run")

    def fails(self, model, target):
        target.write_bytes(b"half a model")
        raise ValueError("Unsupported op: Foo\nTraceback details")

    monkeypatch.setattr(export_module.Onnx, "export", fails)
    with pytest.raises(ExportError) as caught:
        export_run(run, ["onnx"], echo=lambda _: None)
    assert caught.value.exit_code == 1
    assert str(caught.value) == (
        f"Keras could not export the model of '{run}' to onnx (TensorFlow backend, with "
        f"{export_module.Onnx().converter('tensorflow')}): Unsupported op: Foo. Nothing was written to "
        f"'{run / 'export' / 'onnx'}'."
    )
    assert list((run / "export").iterdir()) == []


def test_existing_export_replaced_only_once_verified(cnn_run, tmp_path, monkeypatch):
    run = copy_run(cnn_run, tmp_path / "run")
    old = run / "export" / "onnx"
    old.mkdir(parents=True)
    (old / "model.onnx").write_bytes(b"the previous, verified export")
    original_open = export_module.Onnx.open

    def corrupted(self, target):  # the runtime's outputs are off by 0.01
        runner = original_open(self, target)
        call = runner.call
        runner.call = lambda arrays: [o + 0.01 for o in call(arrays)]
        return runner

    monkeypatch.setattr(export_module.Onnx, "open", corrupted)
    with pytest.raises(ExportError, match="the largest difference is 0.01") as caught:
        export_run(run, ["onnx"], echo=lambda _: None)
    assert caught.value.exit_code == 1
    assert str(caught.value).endswith(f"The new export was discarded; the earlier one in '{old}' is unchanged.")
    assert (old / "model.onnx").read_bytes() == b"the previous, verified export"
    assert sorted(p.name for p in (run / "export").iterdir()) == ["onnx", "onnx-failed-parity.json"]

    monkeypatch.setattr(export_module.Onnx, "open", original_open)
    (result,) = export_run(run, ["onnx"], echo=lambda _: None)
    assert result.ok and (old / "model.onnx").read_bytes() != b"the previous, verified export"
    assert sorted(p.name for p in (run / "export").iterdir()) == ["onnx"]  # the failure's report is gone
    assert read_json(old / "parity.json")["passed"] is True


# ---- the batch generator ---------------------------------------------------------------------------------------


def test_sample_batch():
    inputs = [
        InputSpec("ids", "int32", (None, None), (3, 7)),
        InputSpec("pixels", "float32", (None, 4, 4, 1), (0.0, 255.0)),
        InputSpec("noise", "float64", (None, 2)),
        InputSpec("flags", "int64", (None, 3)),
        InputSpec("mask", "bool", (None, 3)),
    ]
    batch = sample_batch(inputs, 6, np.random.default_rng(0))
    assert {k: (v.shape, str(v.dtype)) for k, v in batch.items()} == {
        "ids": ((6, export_module.FREE_DIM), "int32"),
        "pixels": ((6, 4, 4, 1), "float32"),
        "noise": ((6, 2), "float64"),
        "flags": ((6, 3), "int64"),
        "mask": ((6, 3), "bool"),
    }
    assert batch["ids"].min() >= 3 and batch["ids"].max() < 7
    assert 0 <= batch["pixels"].min() and batch["pixels"].max() < 255
    assert set(np.unique(batch["flags"])) <= {0, 1}
    again = sample_batch(inputs, 6, np.random.default_rng(0))
    assert all(np.array_equal(batch[k], again[k]) for k in batch)


# ---- JAX and PyTorch, each in its own process -----------------------------------------------------------------

OTHER_BACKEND = """\
import json, sys
from pathlib import Path
from kspec.train.run import TrainOptions, build_and_train
from kspec.use.export import ExportError, export_run

spec, out, formats = sys.argv[1], Path(sys.argv[2]), sys.argv[3].split(",")
opts = TrainOptions(data="synthetic", epochs=1, steps=1, verbose=0, output=str(out), seed=3, backend="{backend}")
build_and_train(spec, opts, echo=lambda _: None)
results = export_run(out, formats, echo=lambda _: None)
refused = None
try:
    export_run(out, ["litert"], echo=lambda _: None)
except ExportError as exc:
    refused = [exc.exit_code, str(exc)]
print(json.dumps({{"results": [[r.format, r.ok, r.max_abs_diff, r.batch_sizes] for r in results], "refused": refused}}))
"""


@pytest.mark.parametrize(("backend", "formats"), [("jax", ["saved_model", "onnx"]), ("torch", ["onnx", "openvino"])])
def test_other_backend_exports(backend, formats, tmp_path):
    pytest.importorskip(backend)
    if any(supported_formats(backend)[f] for f in formats):
        pytest.skip(f"{formats} need packages not installed here: {supported_formats(backend)}")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = textwrap.dedent(OTHER_BACKEND.format(backend=backend))
    spec = ROOT / "specs" / "two_tower.yaml"  # JAX's ONNX converter cannot do MaxPooling2D (jax2onnx 0.17.1)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(spec), str(tmp_path / "run"), ",".join(formats)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r[0] for r in report["results"]] == formats
    assert all(ok and diff <= 1e-4 and sizes == [1, 2, 7] for _, ok, diff, sizes in report["results"])
    for fmt in formats:
        parity = read_json(tmp_path / "run" / "export" / fmt / "parity.json")
        assert parity["backend"] == backend and parity["passed"] is True
    if backend == "jax":
        assert (
            report["refused"][0] == 2 and "exports LiteRT only from the TensorFlow and PyTorch" in report["refused"][1]
        )
    elif supported_formats("torch")["litert"]:
        assert report["refused"][0] == 2 and "pip install litert-torch" in report["refused"][1]


# ---- every example spec -------------------------------------------------------------------------------------

#: digits_cnn and two_tower are exported above; text_classifier's LSTM with a mask exports too (below)
EXAMPLES = sorted(p for p in (ROOT / "specs").glob("*.yaml") if p.stem not in ("digits_cnn", "two_tower"))


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_spec_exports_to_every_format_of_its_backend(spec, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the in-process tests need the TensorFlow backend")
    run = train(spec, tmp_path / "run")
    formats = list(TF_FORMATS)
    if spec.stem == "text_vectorization":  # a string input: refused, with the reason, before any work
        with pytest.raises(ExportError) as err:
            export_run(run, formats, echo=lambda _: None)
        assert err.value.exit_code == 2 and str(err.value) == (
            "The model's input 'text' is of dtype string; exports take numeric inputs (float16, float32, float64, "
            "int8, int16, int32, int64, uint8, bool). Export the model without its text preprocessing."
        )
        assert not (run / "export").exists()
        return
    if spec.stem == "text_classifier":  # an LSTM's loop: LiteRT without the Flex delegate cannot run it
        with pytest.raises(ExportError) as err:
            export_run(run, formats, echo=lambda _: None)
        assert err.value.exit_code == 2 and str(err.value) == (
            f"Cannot export the run in '{run}' to litert: the loop of its recurrent layer(s) 'lstm' (LSTM) becomes "
            "TensorFlow TensorList ops, which LiteRT's builtin kernels lack (they need the Flex delegate, which "
            "neither LiteRT's interpreter nor TensorFlow's pip package links in). Set `unroll: true` on the layer "
            f"(it needs a known number of timesteps). Cannot export the run in '{run}' to openvino: OpenVINO's "
            "TensorFlow front end cannot convert the loop of its recurrent layer(s) 'lstm' (LSTM) (TensorList ops), "
            "and unrolled, it gives the model the steps' inner tensors as extra outputs. Export to onnx or "
            "saved_model. Nothing was exported."
        )
        assert not (run / "export").exists()  # refused before any work
        formats = [f for f in formats if f not in ("litert", "openvino")]
    results = export_run(run, formats, echo=lambda _: None)
    assert [r.format for r in results] == formats
    for r in results:
        parity = read_json(run / "export" / r.format / "parity.json")
        assert r.ok and parity["passed"] and parity["max_abs_diff"] == r.max_abs_diff


def test_an_unrolled_recurrent_layer_exports_to_litert(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the in-process tests need the TensorFlow backend")
    spec = tmp_path / "rnn.yaml"
    spec.write_text(
        "kspec: 1\nname: rnn\nmodel:\n  input: {shape: [6, 3]}\n  layers:\n"
        "    - {type: LSTM, units: 4, unroll: true}\n    - {type: Dense, units: 1}\ntraining:\n  loss: mse\n",
        encoding="utf-8",
    )
    (result,) = export_run(train(spec, tmp_path / "run"), ["litert"], echo=lambda _: None)
    assert result.ok and result.max_abs_diff <= 1e-4


@pytest.mark.parametrize("dropout", [True, False], ids=["with dropout", "alone"])
def test_an_adapted_normalization_exports_its_statistics(tmp_path, dropout):
    """The inference copy (Dropout left out) must keep what `adapt` computed: a Normalization rebuilt from its
    config and given its weights still divides by 1 until it finalizes its state; the check compares the
    export with the trained model as loaded, not with the copy."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the in-process tests need the TensorFlow backend")
    rng = np.random.default_rng(0)
    x = rng.normal(loc=50.0, scale=10.0, size=(64, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=x[:, :1] / 50.0)
    spec = tmp_path / "n.yaml"
    spec.write_text(
        "kspec: 1\nname: n\nmodel:\n  input: {shape: [3]}\n  layers:\n    - {type: Normalization, adapt: true}\n"
        + ("    - {type: Dropout, rate: 0.5}\n" if dropout else "") + "    - {type: Dense, units: 1}\ntraining:\n  loss: mse\n  seed: 1\n"
        "data:\n  source: {type: npz, path: d.npz}\n",
        encoding="utf-8",
    )
    run = build_and_train(str(spec), TrainOptions(epochs=1, verbose=0, output=str(tmp_path / "run")), echo=len).run_dir
    results = export_run(run, TF_FORMATS, echo=lambda _: None)
    assert all(r.ok for r in results)
    result = results[TF_FORMATS.index("onnx")]
    import onnxruntime as ort

    session = ort.InferenceSession(str(result.path))
    (got,) = session.run(None, {session.get_inputs()[0].name: x[:5]})
    want = keras.saving.load_model(run / "model.keras").predict(x[:5], verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_failing_format_does_not_stop_the_others(cnn_run, tmp_path, monkeypatch):
    run = copy_run(cnn_run, tmp_path / "run")

    def fails(self, model, target):
        raise ValueError("Unsupported op: Foo")

    monkeypatch.setattr(export_module.Onnx, "export", fails)
    with pytest.raises(ExportError) as caught:
        export_run(run, ["onnx", "saved_model"], echo=lambda _: None)
    assert caught.value.exit_code == 1
    assert str(caught.value).startswith(f"Keras could not export the model of '{run}' to onnx")
    assert str(caught.value).endswith(" Exported and verified: saved_model.")
    assert read_json(run / "export" / "saved_model" / "parity.json")["passed"]
    assert not (run / "export" / "onnx").exists()
