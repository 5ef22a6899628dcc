"""Every Keras 3 backend: the same spec builds and trains on TensorFlow, JAX and PyTorch; the soundness
properties (tests/test_spec_properties.py) hold on each, in a smaller profile; and the checker's
verdicts do not depend on the backend (where Keras's do, the diagnostic names the backends that fail).

Each backend runs in its own process: Keras fixes its backend when it is first imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kspec
from kspec.backends import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
KSPEC = [str(Path(sys.executable).parent / "kspec")]
OTHER_BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec({"jax": "jax", "torch": "torch"}[b]) is None, reason=f"{b} not installed"))
    for b in ("jax", "torch")]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KSPEC_HYPOTHESIS_PROFILE")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_demo_spec_trains_on_backend(backend, tmp_path):
    """`--backend` trains the demo spec there; the run records it, and the model it saves loads on TensorFlow."""
    out = tmp_path / "run"
    r = subprocess.run(KSPEC + ["build-and-train", "specs/digits_cnn.yaml", "--backend", backend, "--epochs", "1",
                                "--steps", "3", "-o", str(out)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Backend: {'JAX' if backend == 'jax' else 'PyTorch'}" in r.stderr
    info = json.loads((out / "run.json").read_text())
    assert (info["backend"], info["status"], info["epochs_done"]) == (backend, "complete", 1)
    import keras

    model = keras.saving.load_model(out / "model.keras")
    assert model.count_params() == kspec.check(ROOT / "specs" / "digits_cnn.yaml").param_count == 151_306


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_properties_hold_on_backend(backend):
    """The soundness and completeness properties, a quarter of their examples (the `backend` profile),
    with Keras on this backend as the oracle: what kspec accepts trains there, and what it refuses fails
    there, or is a documented policy (a `portability` refusal names the backends that fail, and is checked
    against Keras on each of them)."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_spec_properties.py"],
        cwd=ROOT, env=_env(KERAS_BACKEND=backend, KSPEC_HYPOTHESIS_PROFILE="backend"),
        capture_output=True, text=True, timeout=1500,
    )
    assert r.returncode == 0, r.stdout[-6000:]
    assert " passed" in r.stdout and "failed" not in r.stdout


def test_verdicts_do_not_depend_on_the_backend():
    """`kspec validate` never loads Keras: the same report, whatever KERAS_BACKEND says."""
    outputs = set()
    for backend in BACKENDS:
        r = subprocess.run(KSPEC + ["validate", "--format", "json", "specs/"], cwd=ROOT, env=_env(KERAS_BACKEND=backend),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout
        outputs.add(r.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize(
    "layers, shape, dtype, backends",
    [
        # TensorFlow only: unrolling over an unknown number of steps (JAX and PyTorch see each batch's steps)
        ([{"type": "LSTM", "units": 3, "unroll": True}], [None, 2], "float32", ["tensorflow"]),
        ([{"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}}, {"type": "Flatten"}], [None, 3], "float32", ["tensorflow"]),
        # an integer convolution: JAX promotes the integers; TensorFlow and PyTorch fail
        ([{"type": "Conv1D", "filters": 2, "kernel_size": 2}, {"type": "Flatten"}], [5, 2], "int32", ["tensorflow", "torch"]),
        # an integer average pooling: JAX averages into float32; TensorFlow fails, PyTorch keeps int64 (or fails)
        ([{"type": "AveragePooling2D", "pool_size": [1, 2], "padding": "same"}, {"type": "Flatten"}], [4, 4, 1], "uint8",
         ["tensorflow", "torch"]),
        # activations on integers (measured on each backend: JAX promotes them in most kernels)
        ([{"type": "ELU"}, {"type": "Flatten"}], [3, 2], "uint8", ["tensorflow", "torch"]),
        ([{"type": "Softmax"}, {"type": "Flatten"}], [3, 2], "int32", ["tensorflow", "torch"]),
        ([{"type": "Softmax", "axis": [1, 2]}, {"type": "Flatten"}], [3, 2], "int32", ["tensorflow"]),
        ([{"type": "PReLU"}, {"type": "Flatten"}], [3, 2], "int64", ["tensorflow"]),
        ([{"type": "LeakyReLU"}, {"type": "Flatten"}], [3, 2], "int32", ["torch"]),
        ([{"type": "ReLU", "negative_slope": 0.1}, {"type": "Flatten"}], [3, 2], "uint8", ["torch"]),
        ([{"type": "ReLU", "negative_slope": 0.1, "max_value": 6.0}, {"type": "Flatten"}], [3, 2], "int32", ["tensorflow", "torch"]),
        ([{"type": "UnitNormalization"}, {"type": "Flatten"}], [3, 2], "int32", ["tensorflow", "jax"]),
        # PyTorch's layer_norm normalizes trailing axes only
        ([{"type": "LayerNormalization", "axis": [1, 2]}, {"type": "Flatten"}], [4, 4, 1], "float32", ["torch"]),
        # JAX's fused attention needs equal head sizes for keys and values
        ([{"type": "MultiHeadAttention", "num_heads": 1, "key_dim": 3, "value_dim": 2}], [4, 2], "float32", ["jax"]),
        # two inputs of the same integer or bool tensor
        ([{"type": "MultiHeadAttention", "num_heads": 1, "key_dim": 2}], [4, 2], "int32", ["torch"]),
        ([{"type": "MultiHeadAttention", "num_heads": 1, "key_dim": 2}], [4, 2], "bool", ["torch"]),
        ([{"type": "Attention"}], [4, 2], "int64", ["tensorflow", "torch"]),
        ([{"type": "Average"}], [4, 2], "bool", ["tensorflow"]),
    ],
)
def test_backend_differences_are_named(layers, shape, dtype, backends):
    """Where Keras fails on some backends only, kspec refuses on all of them (portability policy) and names
    the ones that fail, in the message and in the JSON output."""
    if layers[0]["type"] in ("MultiHeadAttention", "Attention", "Average"):
        spec = {"kspec": 1, "name": "m", "model": {"inputs": [{"name": "x", "shape": shape, "dtype": dtype}], "nodes": [
            {**layers[0], "name": "a", "inputs": ["x", "x"]}, {"type": "Flatten", "name": "f", "inputs": "a"},
            {"type": "Dense", "units": 1, "name": "out", "inputs": "f"}], "outputs": ["out"]},
            "training": {"loss": "mse"}}
    else:
        spec = {"kspec": 1, "name": "m", "model": {"input": {"shape": shape, "dtype": dtype},
                                                   "layers": [*layers, {"type": "Dense", "units": 1}]},
                "training": {"loss": "mse"}}
    report = kspec.check(spec)
    assert not report.ok
    (d,) = report.errors
    assert (d.policy, list(d.backends)) == ("portability", backends)
    from kspec.backends import names

    assert f"Keras fails on the {names(backends)} backend" in d.message
    assert d.to_json()["backends"] == backends


def test_binary_crossentropy_metric_on_regression_labels():
    """PyTorch's binary cross-entropy fails on labels outside [0, 1], which a regression loss's labels can be."""
    def spec(loss, metric):
        return {"kspec": 1, "name": "m", "model": {"input": {"shape": [3]}, "layers": [{"type": "Dense", "units": 2, "activation": "sigmoid"}]},
                "training": {"loss": loss, "metrics": [metric]}}

    (d,) = kspec.check(spec("mse", "binary_crossentropy")).errors
    assert (d.code, d.policy, d.backends, d.path) == ("metric", "portability", ("torch",), ("training", "metrics", 0))
    assert kspec.check(spec("binary_crossentropy", "binary_crossentropy")).ok
    assert kspec.check(spec("mse", "mae")).ok


def test_uint64_inputs_are_refused_for_pytorch():
    """PyTorch has no uint64 tensors: a uint64 input fails there in any model (portability, at the input)."""
    spec = {"kspec": 1, "name": "m", "model": {"input": {"shape": [3], "dtype": "uint64"}, "layers": [{"type": "Dense", "units": 1}]},
            "training": {"loss": "mse"}}
    (d,) = kspec.check(spec).errors
    assert (d.code, d.path, d.policy, d.backends) == ("value", ("model", "input", "dtype"), "portability", ("torch",))
    graph = {"kspec": 1, "name": "m", "model": {"inputs": [{"name": "x", "shape": [3]}, {"name": "y", "shape": [3], "dtype": "uint64"}],
             "nodes": [{"type": "Concatenate", "name": "c", "inputs": ["x", "y"]}, {"type": "Dense", "units": 1, "name": "o", "inputs": "c"}],
             "outputs": ["o"]}, "training": {"loss": "mse"}}
    (d,) = kspec.check(graph).errors
    assert (d.path, d.backends) == (("model", "inputs", 1, "dtype"), ("torch",))


def test_top_k_above_the_classes():
    """A top-k accuracy over fewer classes than k fails on PyTorch only (portability); Precision with such a
    top_k fails on every backend (a plain refusal, which Keras confirms)."""
    def spec(metric):
        return {"kspec": 1, "name": "m", "model": {"input": {"shape": [3]}, "layers": [{"type": "Dense", "units": 2, "activation": "softmax"}]},
                "training": {"loss": "categorical_crossentropy", "metrics": [metric]}}

    (d,) = kspec.check(spec("top_k_categorical_accuracy")).errors
    assert (d.code, d.policy, d.backends, d.path) == ("metric", "portability", ("torch",), ("training", "metrics", 0))
    assert "takes the top 5" in d.message and "k: 2" in d.hint
    assert kspec.check(spec({"type": "TopKCategoricalAccuracy", "k": 2})).ok
    (d,) = kspec.check(spec({"type": "Precision", "top_k": 3})).errors
    assert (d.code, d.policy, d.backends) == ("metric", None, ())


def test_backend_setup_errors(monkeypatch):
    """A backend whose package is missing, and one that Keras did not load with, are clear errors."""
    from kspec.train import runtime

    real = runtime.importlib.util.find_spec
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(runtime.RuntimeSetupError, match=r"pip install 'kspec\[torch\]'"):
        runtime.select_backend("torch")
    monkeypatch.undo()
    import keras

    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    with pytest.raises(runtime.RuntimeSetupError, match="already loaded in this process"):
        runtime.select_backend(other)
    with pytest.raises(runtime.RuntimeSetupError, match="keras-team/keras#20585"):
        runtime.check_combination("tensorflow", "multi-worker")


_API_SCRIPT = """
import numpy as np
import kspec
model = kspec.build_model(SPEC)
kspec.compile_model(model, kspec.load_spec(SPEC))
result = model.fit(np.zeros((40, 3), "float32"), np.zeros((40, 2), "float32"), batch_size=4, epochs=1, verbose=0)
print("loss", result.history["loss"][-1])
"""


@pytest.mark.parametrize("backend", ["tensorflow", *OTHER_BACKENDS])
def test_public_api_compiles_as_build_and_train_does(backend, tmp_path):
    """`kspec.compile_model` resolves `steps_per_execution: auto` for the backend it runs on, as `kspec build-and-train`
    does (the PyTorch trainer refuses more than one step per call)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "kspec: 1\nname: api\nmodel: {input: {shape: [3]}, layers: [{type: Dense, units: 2}]}\n"
        "training: {optimizer: sgd, loss: mse}\n"
    )
    script = _API_SCRIPT.replace("SPEC", repr(str(spec)))
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(KERAS_BACKEND=backend), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "loss" in r.stdout
