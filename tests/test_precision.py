"""`training.precision` and `training.jit_compile` (kspec.compile, kspec.precision), with Keras as the oracle.

- The fields: their schema and validation.
- The build: every layer takes the spec's dtype policy, the layer or operation that makes an output computes in
  float32, the model's policy makes `model.compile` add dynamic loss scaling under mixed_float16 (never twice), and
  Keras's global policy is as it was after the build.
- Every example spec trains a step under each mixed precision (the inputs shrunk where the spec allows).
- `jit_compile` reaches `model.compile`.
- The checker's findings, each pinned by an example on which Keras itself fails (an error) or computes infinite,
  NaN or rounded values (a warning), and examples on which it does neither (no diagnostic).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.compile import build_model, compile_model, dtype_policy

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parent.parent
MIXED = ("mixed_float16", "mixed_bfloat16")
PRECISIONS = ("float32", *MIXED)
HALF = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16", "float32": "float32"}


def seq(layers: str, *, shape: str = "[8]", dtype: str = "", training: str = "") -> str:
    """A sequential spec: one input, `layers` (YAML list items), an mse loss."""
    dtype_key = f", dtype: {dtype}" if dtype else ""
    return (
        f"kspec: 1\nname: t\nmodel:\n  input: {{shape: {shape}{dtype_key}}}\n  layers:\n{layers}"
        f"training:\n  loss: mse\n{training}"
    )


def with_precision(text: str, precision: str) -> kspec.Spec:
    """The spec under `precision`, also where the checker refuses it (to see what Keras does)."""
    spec = kspec.load_spec(text)
    return spec.model_copy(update={"training": spec.training.model_copy(update={"precision": precision})})


def diagnostics(text: str, **training: str) -> list:
    extra = "".join(f"  {key}: {value}\n" for key, value in training.items())
    return [d for d in kspec.check(text + extra, file="case.yaml").diagnostics if "precision" in d.code]


def codes(text: str, **training: str) -> list[tuple[str, str]]:
    return [(d.code, d.severity) for d in diagnostics(text, **training)]


# ---- the fields ----------------------------------------------------------------------------------------


def test_the_schema_has_the_fields_with_their_defaults() -> None:
    schema = json.loads((ROOT / "schema" / "kspec.schema.json").read_text())
    props = schema["$defs"]["Training"]["properties"]
    assert props["precision"]["enum"] == ["float32", "mixed_float16", "mixed_bfloat16"]
    assert props["precision"]["default"] == "float32" and props["precision"]["description"]
    assert props["jit_compile"]["default"] == "auto" and props["jit_compile"]["description"]
    spec = kspec.load_spec(seq("    - {type: Dense, units: 1}\n"))
    assert (spec.training.precision, spec.training.jit_compile) == ("float32", "auto")


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("precision", "float16", "value"),  # a dtype, not a policy: Keras would compute everything in float16
        ("precision", "mixed-float16", "value"),
        ("precision", "true", "value"),
        ("jit_compile", "yes", "value"),
        ("jit_compile", "1", "value"),  # no coercion: 1 is not true
    ],
)
def test_invalid_values_are_refused_with_a_position(key: str, value: str, code: str) -> None:
    report = kspec.check(seq("    - {type: Dense, units: 1}\n", training=f"  {key}: {value}\n"), file="case.yaml")
    assert [d.code for d in report.diagnostics] == [code]
    d = report.diagnostics[0]
    assert d.location == f"training.{key}" and d.span is not None


@pytest.mark.parametrize("value", ["auto", "true", "false"])
def test_jit_compile_values_are_accepted(value: str) -> None:
    spec = kspec.load_spec(seq("    - {type: Dense, units: 1}\n", training=f"  jit_compile: {value}\n"))
    assert spec.training.jit_compile == {"auto": "auto", "true": True, "false": False}[value]


# ---- the build ------------------------------------------------------------------------------------------

GRAPH = """\
kspec: 1
name: g
model:
  inputs:
    - {name: a, shape: [6]}
    - {name: b, shape: [6]}
  nodes:
    - {name: enc, type: Dense, units: 4, activation: relu, inputs: a}
    - {name: enc_b, shares: enc, inputs: b}
    - {name: both, type: Concatenate, inputs: [enc, enc_b]}
    - {name: hidden, type: Dense, units: 8, activation: relu, inputs: both}
    - {name: probs, type: Dense, units: 3, activation: softmax, inputs: hidden}
    - {name: scaled, type: ops.multiply, x2: 2.0, inputs: hidden}
  outputs: [probs, scaled, enc_b]
training:
  loss: {probs: sparse_categorical_crossentropy, scaled: mse, enc_b: mse}
"""


@pytest.mark.parametrize("precision", PRECISIONS)
def test_layers_take_the_policy_and_outputs_compute_in_float32(precision: str) -> None:
    model = build_model(with_precision(GRAPH, precision))
    assert model.dtype_policy.name == precision
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers if hasattr(layer, "dtype_policy")}
    assert policies["enc"] == policies["hidden"] == policies["both"] == precision
    assert policies["probs"] == "float32"  # the output layer (the mixed-precision guide's float32 softmax)
    assert policies["enc_b"] == "float32"  # a shared layer's later call as an output: a float32 Identity
    assert model.output_names == ["probs", "scaled", "enc_b"]
    assert [keras.backend.standardize_dtype(t.dtype) for t in model.outputs] == ["float32"] * 3
    x = {"a": np.ones((2, 6), "float32"), "b": np.ones((2, 6), "float32")}
    assert [np.asarray(y).dtype for y in model.predict(x, verbose=0)] == [np.float32] * 3
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    assert keras.backend.standardize_dtype(hidden.outputs[0].dtype) == HALF[precision]
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_the_global_policy_is_restored_when_a_build_fails(monkeypatch) -> None:
    import kspec.compile as compiler

    def fail(*args, **kwargs):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"  # the build runs under the spec's policy
        raise RuntimeError("the build failed")

    spec = with_precision(seq("    - {type: Dense, units: 2}\n    - {type: Dense, units: 1}\n"), "mixed_bfloat16")
    monkeypatch.setattr(compiler, "_build", fail)
    with pytest.raises(RuntimeError, match="the build failed"):
        build_model(spec)
    assert keras.config.dtype_policy().name == "float32"
    monkeypatch.undo()
    model = build_model(kspec.load_spec(seq("    - {type: Dense, units: 2}\n    - {type: Dense, units: 1}\n")))
    assert [layer.dtype_policy.name for layer in model.layers] == ["float32", "float32"]


def test_the_agreement_check_compares_output_dtypes_under_a_mixed_precision() -> None:
    from kspec.compile import KspecBug, assert_agrees
    from kspec.infer import infer

    spec = with_precision(seq("    - {type: Dense, units: 2}\n    - {type: Dense, units: 1}\n"), "mixed_float16")
    inference = infer(spec)
    with dtype_policy("mixed_float16"):  # every layer in float16, the output too: not what kspec builds
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    built = [(node, layer, layer.output) for node, layer in zip(inference.nodes, model.layers)]
    with pytest.raises(KspecBug, match="Keras's dtype is float16, kspec inferred float32"):
        assert_agrees(model, built, inference, output_dtypes=True)
    assert_agrees(model, built, inference)  # shapes and parameters agree


def optimizer_after_compile(text: str, precision: str):
    spec = with_precision(text, precision)
    model = compile_model(build_model(spec), spec.training, steps_per_execution=1)
    model.fit(np.ones((4, 8), "float32"), np.ones((4, 1), "float32"), verbose=0)
    return model.optimizer


DENSE = seq("    - {type: Dense, units: 4, activation: relu}\n    - {type: Dense, units: 1}\n")


def test_mixed_float16_trains_with_dynamic_loss_scaling() -> None:
    optimizer = optimizer_after_compile(DENSE, "mixed_float16")
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(optimizer.inner_optimizer, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(optimizer_after_compile(DENSE, "mixed_bfloat16"), keras.optimizers.LossScaleOptimizer)
    assert not isinstance(optimizer_after_compile(DENSE, "float32"), keras.optimizers.LossScaleOptimizer)


def test_a_loss_scale_optimizer_of_the_spec_is_not_wrapped_twice() -> None:
    text = DENSE + "  optimizer: {type: LossScaleOptimizer, inner_optimizer: adam, initial_scale: 1024.0}\n"
    optimizer = optimizer_after_compile(text, "mixed_float16")
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert optimizer.initial_scale == 1024.0  # the spec's, not Keras's default 2**15
    assert isinstance(optimizer.inner_optimizer, keras.optimizers.Adam)


def test_a_multi_optimizer_is_wrapped_and_trains() -> None:
    text = seq(
        "    - {name: first, type: Dense, units: 4, activation: relu}\n    - {type: Dense, units: 1}\n",
        training="  optimizer: {type: MultiOptimizer, default_optimizer: adam, optimizer_map: {first: sgd}}\n",
    )
    optimizer = optimizer_after_compile(text, "mixed_float16")
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(optimizer.inner_optimizer, keras.optimizers.MultiOptimizer)


def shrunk(name: str) -> tuple[str, ...]:
    """Overrides that keep an example spec's layers and make a step cheap: a small batch, one epoch, and resnet50's
    input 32x32 (its weights do not depend on the image size)."""
    out = ("training.batch_size=4", "training.epochs=1", "training.validation_split=0")
    if name == "resnet50":
        out += ("model.input.shape=[32, 32, 3]",)
    return out


EXAMPLES = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("precision", MIXED)
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_spec_trains_a_step(name: str, precision: str, tmp_path) -> None:
    """Through `build-and-train` (synthetic data, one step), except resnet50: its run directory alone (the model
    and its checkpoint, 100 MB each) takes most of a minute to write here, so it trains a step on its compiled model."""
    overrides = (*shrunk(name), f"training.precision={precision}")
    # space=False: a search space (digits_tune) is not what trains; without validation data its objective is not met
    report = kspec.check(ROOT / "specs" / f"{name}.yaml", overrides=list(overrides), space=False)
    assert report.ok and not [d for d in report.diagnostics if "precision" in d.code]
    if name == "resnet50":
        model = compile_model(build_model(report.spec, report.inference), report.spec.training, steps_per_execution=1)
        x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
        losses = {"loss": [float(model.train_on_batch(x, np.array([1, 2]))[0])]}
    else:
        result = kspec.build_and_train(
            str(ROOT / "specs" / f"{name}.yaml"),
            data="synthetic:8",
            steps=1,
            overrides=overrides,
            output=str(tmp_path / "run"),
            verbose=0,
            seed=1,
        )
        model, losses = result.model, result.history
    assert model.dtype_policy.name == precision
    assert all(keras.backend.standardize_dtype(t.dtype) == "float32" for t in model.outputs)
    assert all(math.isfinite(v[-1]) for k, v in losses.items() if "loss" in k)
    if precision == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_a_mixed_float16_run_resumes_and_evaluates(tmp_path) -> None:
    """The run directory of a mixed_float16 run holds the LossScaleOptimizer's state: --resume restores it into the
    rebuilt model, and evaluate loads the model."""
    text = (ROOT / "specs" / "mnist_cnn.yaml").read_text()
    text = text.replace("source: {type: keras_dataset, name: mnist}", "source: {type: synthetic, samples: 64}")
    text = text.replace("epochs: 15", "epochs: 1\n  precision: mixed_float16").replace("validation_split: 0.1", "")
    (tmp_path / "s.yaml").write_text(text)
    first = kspec.build_and_train(str(tmp_path / "s.yaml"), output=str(tmp_path / "run"), verbose=0)
    again = kspec.build_and_train(
        str(tmp_path / "s.yaml"), epochs=2, output=str(tmp_path / "run"), verbose=0, resume=True
    )
    assert (again.resumed_from, again.epochs_done) == (1, 2)
    assert again.history["loss"][0] == first.history["loss"][0]
    assert isinstance(again.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert math.isfinite(kspec.evaluate(tmp_path / "run", data="synthetic:16").metrics["loss"])


def test_a_mixed_bfloat16_run_exports_to_saved_model_within_bfloat16s_tolerance_and_refuses_onnx(tmp_path) -> None:
    """The outputs are float32, but what led to them was computed in bfloat16: the export is compared with the
    tolerance of bfloat16 (float32's, 1e-4, is missed by a SavedModel of the same model); ONNX is refused before
    any work (ONNX Runtime refuses the bfloat16 graph tf2onnx makes)."""
    from kspec.use.export import ExportError, export_run

    text = (ROOT / "specs" / "digits_cnn.yaml").read_text().replace("epochs: 40", "epochs: 1\n  precision: mixed_bfloat16")
    (tmp_path / "s.yaml").write_text(text)
    kspec.build_and_train(str(tmp_path / "s.yaml"), output=str(tmp_path / "run"), verbose=0, steps=5)
    done = export_run(tmp_path / "run", ["saved_model"], echo=lambda message: None)
    parity = json.loads((tmp_path / "run" / "export" / "saved_model" / "parity.json").read_text())
    assert parity["passed"] and parity["tolerance"]["atol"] == 2e-2
    with pytest.raises(ExportError) as err:
        export_run(tmp_path / "run", ["onnx"], echo=lambda message: None)
    assert err.value.exit_code == 2 and "computes in bfloat16 (training.precision: mixed_bfloat16)" in str(err.value)
    assert done is not None


# ---- jit_compile ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "compiled"), [("true", True), ("false", False)])
def test_jit_compile_reaches_model_compile(value: str, compiled: bool) -> None:
    spec = kspec.load_spec(DENSE + f"  jit_compile: {value}\n")
    model = compile_model(build_model(spec), spec.training, steps_per_execution=1)
    assert model.jit_compile is compiled
    model.fit(np.ones((4, 8), "float32"), np.ones((4, 1), "float32"), verbose=0)


def test_jit_compile_auto_is_what_keras_decides() -> None:
    spec = kspec.load_spec(DENSE)
    model = compile_model(build_model(spec), spec.training, steps_per_execution=1)
    plain = build_model(spec)
    plain.compile(optimizer="adam", loss="mse")  # Keras's default, jit_compile="auto"
    assert model.jit_compile == plain.jit_compile


JIT_REFUSED = seq(
    "    - {type: RandomRotation, factor: 0.1}\n    - {type: Flatten}\n    - {type: Dense, units: 1}\n",
    shape="[8, 8, 3]",
)


def test_jit_compile_true_on_a_layer_without_xla_warns_as_keras_does() -> None:
    assert codes(JIT_REFUSED, jit_compile="true") == [("lint-precision", "warning")]
    assert diagnostics(JIT_REFUSED, jit_compile="true")[0].location == "training.jit_compile"
    assert codes(JIT_REFUSED, jit_compile="auto") == codes(JIT_REFUSED, jit_compile="false") == []
    spec = kspec.load_spec(JIT_REFUSED + "  jit_compile: true\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = compile_model(build_model(spec), spec.training)
    assert model.jit_compile is False
    assert any("doesn't support `jit_compile=True`" in str(w.message) for w in caught)


# ---- the checker's findings, each with Keras's behaviour ---------------------------------------------------


def train_step(text: str, precision: str, x: np.ndarray) -> tuple[np.ndarray, float]:
    """The model's output on `x` and the loss of a training step on it (targets 1), built as kspec builds it."""
    spec = with_precision(text, precision)
    keras.utils.set_random_seed(1)
    model = compile_model(build_model(spec), spec.training, steps_per_execution=1)
    y = model.predict(x, verbose=0)
    history = model.fit(x, np.ones((len(x), 1), "float32"), verbose=0)
    return y, history.history["loss"][-1]


def hidden(text: str, precision: str, x: np.ndarray) -> np.ndarray:
    """The first layer's output (it computes in the half type), in float32."""
    model = build_model(with_precision(text, precision))
    first = keras.Model(model.inputs[0], model.layers[0].output)
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(first(x), "float32")))


#: What Keras fails to run in half precision: (layer, input shape, precision, the backends that fail (empty: all)).
FAILING = [
    ("{type: MaxPooling3D, pool_size: 2}", "[4, 4, 4, 2]", "mixed_float16", ("tensorflow",)),
    ("{type: AveragePooling3D, pool_size: 2}", "[4, 4, 4, 2]", "mixed_float16", ("tensorflow", "torch")),
    ("{type: AdaptiveMaxPooling3D, output_size: 2}", "[4, 4, 4, 2]", "mixed_float16", ("tensorflow",)),
    ("{type: AdaptiveAveragePooling3D, output_size: 2}", "[4, 4, 4, 2]", "mixed_float16", ("tensorflow",)),
    ("{type: RandomGaussianBlur, value_range: [0, 1]}", "[8, 8, 3]", "mixed_float16", ("tensorflow",)),
    ("{type: RandomErasing, value_range: [0, 1]}", "[8, 8, 3]", "mixed_float16", ("tensorflow",)),
    ("{type: AveragePooling3D, pool_size: 2}", "[4, 4, 4, 2]", "mixed_bfloat16", ("torch",)),
    ("{type: STFTSpectrogram, frame_length: 32, frame_step: 16}", "[256, 1]", "mixed_bfloat16", ()),
]


@pytest.mark.parametrize(("layer", "shape", "precision", "backends"), FAILING)
def test_what_keras_cannot_run_in_half_precision_is_refused(layer, shape, precision, backends) -> None:
    text = seq(f"    - {layer}\n    - {{type: Flatten}}\n    - {{type: Dense, units: 1}}\n", shape=shape)
    found = diagnostics(text, precision=precision)
    assert [(d.code, d.severity, d.location, d.backends) for d in found] == [
        ("precision", "error", "training.precision", backends)
    ]
    assert found[0].policy == ("portability" if backends else None)
    assert codes(text, precision="float32") == []
    dims = [int(n) for n in shape.strip("[]").split(",")]
    x = np.random.default_rng(0).uniform(0, 1, (2, *dims)).astype("float32")
    if not backends or keras.backend.backend() in backends:
        with pytest.raises(Exception, match="No OpKernel|Unsupported dtype|not implemented for|Invalid input type"):
            train_step(text, precision, x)
    else:
        assert math.isfinite(train_step(text, precision, x)[1])
    assert math.isfinite(train_step(text, "float32", x)[1])


def test_3d_pooling_that_makes_an_output_computes_in_float32() -> None:
    text = seq(
        "    - {type: Conv3D, filters: 1, kernel_size: 1}\n    - {type: MaxPooling3D, pool_size: 2}\n",
        shape="[4, 4, 4, 2]",
    )
    assert codes(text, precision="mixed_float16") == []
    model = build_model(with_precision(text, "mixed_float16"))
    assert model.layers[-1].dtype_policy.name == "float32"
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((2, 4, 4, 4, 2), "float32"), np.ones((2, 2, 2, 2, 1), "float32"), verbose=0)


def test_stft_in_float16_is_not_refused() -> None:
    text = seq(f"    - {FAILING[-1][0]}\n    - {{type: Flatten}}\n    - {{type: Dense, units: 1}}\n", shape="[256, 1]")
    assert codes(text, precision="mixed_float16") == []
    x = np.random.default_rng(0).standard_normal((2, 256, 1)).astype("float32")
    assert math.isfinite(train_step(text, "mixed_float16", x)[1])


UNIT = seq("    - {type: UnitNormalization}\n    - {type: Dense, units: 1}\n")


def test_unit_normalization_of_zeros_is_nan_in_float16() -> None:
    assert codes(UNIT, precision="mixed_float16") == [("lint-precision", "warning")]
    assert codes(UNIT, precision="mixed_bfloat16") == codes(UNIT, precision="float32") == []
    zeros = np.zeros((2, 8), "float32")
    assert np.isnan(hidden(UNIT, "mixed_float16", zeros)).all()
    assert np.isfinite(hidden(UNIT, "mixed_bfloat16", zeros)).all()
    assert np.isfinite(hidden(UNIT, "float32", zeros)).all()


NORMALIZATION = seq(
    "    - {type: Normalization, mean: [70000.0, 0.0, 0.0], variance: [1.0, 1.0e-9, 1.0e10]}\n"
    "    - {type: Dense, units: 1}\n",
    shape="[3]",
)


def test_normalization_statistics_beyond_float16() -> None:
    found = diagnostics(NORMALIZATION, precision="mixed_float16")
    assert [(d.code, d.severity, d.location) for d in found] == [
        ("lint-precision", "warning", "model.layers[0].mean"),
        ("lint-precision", "warning", "model.layers[0].variance"),
    ]
    assert "70000" in found[0].message and "1e-09" in found[1].message
    assert codes(NORMALIZATION, precision="mixed_bfloat16") == []
    x = np.array([[70000.0, 1e-5, 1e4]] * 2, "float32")
    want = hidden(NORMALIZATION, "float32", x)
    got = hidden(NORMALIZATION, "mixed_float16", x)
    assert not np.isfinite(got[:, 0]).any()  # the mean is infinite: NaN
    assert not np.allclose(got[:, 1], want[:, 1], rtol=0.1)  # the tiny variance: wrongly scaled
    assert np.allclose(hidden(NORMALIZATION, "mixed_bfloat16", x), want, rtol=0.02)


INTEGERS = seq(
    "    - {type: Dense, units: 1, use_bias: false, kernel_initializer: ones}\n    - {type: Dense, units: 1}\n",
    shape="[1]",
)


@pytest.mark.parametrize(
    ("dtype", "precision", "value", "finite_and_exact"),
    [
        ("int32", "mixed_float16", 70000, False),  # beyond 65504: infinite
        ("int32", "mixed_float16", 2049, False),  # above 2048: rounded to 2048
        ("int16", "mixed_bfloat16", 257, False),  # above 256: rounded to 256
        ("int32", "float32", 70000, True),
    ],
)
def test_integers_read_as_numbers_in_half_precision(
    dtype: str, precision: str, value: int, finite_and_exact: bool
) -> None:
    text = INTEGERS.replace("shape: [1]", f"shape: [1], dtype: {dtype}")
    assert codes(text, precision=precision) == ([] if finite_and_exact else [("lint-precision", "warning")])
    got = hidden(text, precision, np.full((2, 1), value, dtype))
    assert bool(np.isfinite(got).all() and (got == value).all()) is finite_and_exact


@pytest.mark.parametrize(
    ("layers", "dtype"),
    [
        ("    - {type: Dense, units: 1}\n", "int32"),  # the output layer computes in float32
        ("    - {type: Dense, units: 2}\n    - {type: Dense, units: 1}\n", "uint8"),  # 0..255: exact in both
        # a lookup's indices (0..3) read as numbers: exact in both
        (
            "    - {type: IntegerLookup, vocabulary: [1, 2, 3]}\n    - {type: Dense, units: 2}\n    - {type: Dense, units: 1}\n",
            "int32",
        ),
        (
            "    - {type: Embedding, input_dim: 70000, output_dim: 2}\n    - {type: Flatten}\n    - {type: Dense, units: 1}\n",
            "int32",
        ),
    ],
)
def test_integers_that_stay_exact_get_no_warning(layers: str, dtype: str) -> None:
    text = seq(layers, shape="[3]", dtype=dtype)
    assert codes(text, precision="mixed_float16") == codes(text, precision="mixed_bfloat16") == []


def test_hash_bins_beyond_256_read_as_numbers_in_bfloat16() -> None:
    text = seq(
        "    - {type: Hashing, num_bins: 4000}\n    - {type: Dense, units: 2}\n    - {type: Dense, units: 1}\n",
        shape="[3]",
        dtype="int32",
    )
    found = diagnostics(text, precision="mixed_bfloat16")
    assert [(d.code, d.location) for d in found] == [("lint-precision", "model.layers[1]")]
    assert "'hashing' as numbers in bfloat16" in found[0].message
    assert codes(text, precision="mixed_float16") == [("lint-precision", "warning")]  # ids up to 3999 > 2048
    small = text.replace("num_bins: 4000", "num_bins: 200")
    assert codes(small, precision="mixed_bfloat16") == codes(small, precision="mixed_float16") == []


def test_an_operation_constant_beyond_float16_is_infinite() -> None:
    text = seq("    - {type: Dense, units: 2}\n    - {type: ops.add, x2: 100000.0}\n    - {type: Dense, units: 1}\n")
    assert codes(text, precision="mixed_float16") == [("lint-precision", "warning")]
    assert diagnostics(text, precision="mixed_float16")[0].location == "model.layers[1].x2"
    assert codes(text, precision="mixed_bfloat16") == []
    x = np.ones((2, 8), "float32")
    assert not np.isfinite(train_step(text, "mixed_float16", x)[0]).any()
    assert np.isfinite(train_step(text, "mixed_bfloat16", x)[0]).all()


def test_a_loss_scale_factor_that_loss_scaling_clears_is_refused() -> None:
    text = DENSE + "  optimizer: {type: Adam, loss_scale_factor: 128.0}\n"
    found = diagnostics(text, precision="mixed_float16")
    assert [(d.code, d.severity, d.location, d.policy) for d in found] == [
        ("precision", "error", "training.optimizer.loss_scale_factor", "ignored-argument")
    ]
    assert codes(text, precision="mixed_bfloat16") == codes(text, precision="float32") == []
    optimizer = optimizer_after_compile(text, "mixed_float16")
    assert optimizer.inner_optimizer.loss_scale_factor is None  # Keras cleared it


@pytest.mark.parametrize(
    "layer",
    [
        "{type: BatchNormalization, epsilon: 1.0e-9}",
        "{type: LayerNormalization, epsilon: 1.0e-9}",
        "{type: RMSNormalization, epsilon: 1.0e-9}",
    ],
)
def test_normalizations_with_epsilons_below_float16_are_safe(layer: str) -> None:
    """Keras computes them in float32 inside: an epsilon float16 cannot hold does not matter (constant inputs, whose
    variance is 0, stay finite)."""
    text = seq(f"    - {layer}\n    - {{type: Dense, units: 1}}\n")
    assert codes(text, precision="mixed_float16") == []
    y, loss = train_step(text, "mixed_float16", np.ones((4, 8), "float32"))
    assert np.isfinite(y).all() and math.isfinite(loss)
