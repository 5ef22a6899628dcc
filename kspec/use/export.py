"""`kspec export`: a finished run's model in a serving format, verified against Keras in the format's own runtime.

    export/FORMAT/            the export, swapped in only once it is verified
        model.onnx | model.tflite | model.xml + model.bin | the SavedModel itself (saved_model.pb, variables/)
        parity.json           how it was verified: runtime, batch sizes, inputs, largest difference, tolerance
    export/FORMAT-failed-parity.json   the report of the last export that missed its tolerance (no export is kept)

Each format is exported by Keras 3's `model.export` under the run's own backend, then loaded by its own
runtime (TensorFlow, ONNX Runtime, the LiteRT interpreter, OpenVINO) and fed seeded random batches at
several batch sizes; its outputs must equal the Keras model's within the tolerance of the output dtype
(`TOLERANCES`: |export - keras| <= atol + rtol * |keras|, elementwise). float32 keeps about seven
significant digits and another runtime sums in another order, which moves results by about 1e-6 here;
1e-4 absolute plus 1e-4 relative leaves room for deep networks and still catches every real mistake
(wrong weights, layout or layer change outputs by 1e-2 or more).

What each backend can export is decided before any work (`supported_formats`): Keras's own limits
and the optional packages of `kspec[export]`. Keras is imported only inside `export_run`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import rundir
from ..backends import BACKENDS, DISPLAY
from ..rundir import RunDirError, read_json
from .runs import first_line

BATCH_SIZES = (1, 2, 7)
#: the length given to an unknown dimension other than the batch (a variable-length sequence)
FREE_DIM = 5
#: output dtype -> (atol, rtol); ints and bools must be equal
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-6, 1e-6),
    "float32": (1e-4, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (2e-2, 2e-2),
}
NUMERIC = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
EXTRA = "pip install 'kspec[export]'"


class ExportError(Exception):
    """An export that cannot be made or did not verify: one paragraph for the user. exit_code 2: refused
    before any work; 1: the export or its verification failed."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class ExportResult:
    format: str
    path: Path  # the exported file (or the SavedModel's directory)
    max_abs_diff: float
    tolerance: float  # atol; rtol is the same figure (see TOLERANCES)
    batch_sizes: list[int]
    ok: bool
    seconds: float


@dataclass(frozen=True)
class InputSpec:
    """One model input as the batch generator needs it; `shape` includes the batch dimension (None)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    value_range: tuple[float, float] | None = None  # [lo, hi): ints drawn from it, floats uniform in it


def sample_batch(inputs: Sequence[InputSpec], batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random inputs by name: floats uniform in `value_range` (standard normal without one), integers in
    [lo, hi) (ids in [0, 2) without one), booleans fair; unknown dimensions after the batch are FREE_DIM long."""
    batch: dict[str, np.ndarray] = {}
    for spec in inputs:
        shape = (batch_size, *(FREE_DIM if d is None else d for d in spec.shape[1:]))
        kind = np.dtype(spec.dtype).kind
        value: np.ndarray
        if kind == "f":
            lo_hi = spec.value_range
            value = rng.uniform(lo_hi[0], lo_hi[1], shape) if lo_hi else rng.standard_normal(shape)
        elif kind in "iu":
            lo, hi = spec.value_range or (0, 2)
            value = rng.integers(int(lo), max(int(hi), int(lo) + 1), shape)
        else:
            value = rng.integers(0, 2, shape).astype(bool)
        batch[spec.name] = value.astype(spec.dtype)
    return batch


# ---- the formats ---------------------------------------------------------------------------------


@dataclass
class Runner:
    """A loaded export: its input names (in its own order), fixed batch size (None: any) and a call."""

    runtime: str
    version: str
    input_names: list[str]
    batch_size: int | None
    call: Callable[[list[np.ndarray]], list[np.ndarray]]  # inputs in input_names' order -> outputs in order


class Format:
    """One export format: what it needs on each backend, how Keras writes it, how its runtime runs it."""

    name = ""
    keras_format = ""
    filename: str | None = None  # the file inside export/FORMAT/; None: the directory is the export
    #: backend -> why Keras 3.15 cannot export this format from it
    refused: Mapping[str, str] = {}
    #: backend -> the modules the export and its verification import, with the pip package of each
    needs: Mapping[str, Mapping[str, str]] = {}
    #: backend -> the package that converts the model for Keras (recorded in parity.json, named in failures)
    converters: Mapping[str, str] = {}

    def why_not(self, backend: str) -> str | None:
        if backend in self.refused:
            return self.refused[backend]
        missing = [
            pip for module, pip in self.needs.get(backend, {}).items() if importlib.util.find_spec(module) is None
        ]
        if missing:
            return (
                f"it needs {', '.join(missing)} on the {DISPLAY[backend]} backend, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed: {self.install_hint(backend)}"
            )
        return None

    def install_hint(self, backend: str) -> str:
        return f"`{EXTRA}`"

    def converter(self, backend: str) -> str:
        package = self.converters.get(backend, "keras")
        try:
            return f"{package} {importlib.metadata.version(package)}"
        except importlib.metadata.PackageNotFoundError:
            return package

    def target(self, directory: Path) -> Path:
        return directory / self.filename if self.filename else directory

    def export(self, model: Any, target: Path) -> None:
        model.export(str(target), format=self.keras_format, verbose=False)

    def open(self, target: Path) -> Runner:
        raise NotImplementedError


class SavedModel(Format):
    name, keras_format = "saved_model", "tf_saved_model"
    refused = {
        "torch": "Keras 3.15 exports a SavedModel from PyTorch through torch_xla, which has no release for "
        "torch 2.13 (and its torch.export step already fails on kspec's models); export onnx or openvino instead",
    }
    needs = {b: {"tensorflow": "tensorflow"} for b in ("tensorflow", "jax")}
    converters = {"tensorflow": "tensorflow", "jax": "jax"}  # jax2tf

    def open(self, target: Path) -> Runner:
        import tensorflow as tf

        serve = tf.saved_model.load(str(target)).signatures["serving_default"]
        specs = serve.structured_input_signature[1]
        names = list(specs)

        def call(arrays: list[np.ndarray]) -> list[np.ndarray]:
            out = serve(**{n: tf.constant(a) for n, a in zip(names, arrays)})
            return [out[k].numpy() for k in sorted(out, key=_output_index)]

        fixed = {specs[n].shape[0] for n in names}
        return Runner("TensorFlow", tf.__version__, names, _fixed(fixed), call)


class Onnx(Format):
    name = keras_format = "onnx"
    filename = "model.onnx"
    needs = {
        "tensorflow": {"tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"},
        "jax": {"jax2onnx": "jax2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"},
        "torch": {"onnx": "onnx", "onnxruntime": "onnxruntime"},
    }
    converters = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch"}  # torch.onnx

    def export(self, model: Any, target: Path) -> None:
        for name in ("tf2onnx", "jax2onnx"):  # their INFO lines go through logging
            logging.getLogger(name).setLevel(logging.ERROR)
        super().export(model, target)

    def open(self, target: Path) -> Runner:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def call(arrays: list[np.ndarray]) -> list[np.ndarray]:
            return [np.asarray(o) for o in session.run(None, dict(zip(names, arrays)))]

        fixed = {i.shape[0] if isinstance(i.shape[0], int) else None for i in session.get_inputs()}
        return Runner("ONNX Runtime", ort.__version__, names, _fixed(fixed), call)


class LiteRT(Format):
    """From PyTorch (with litert-torch), Keras 3.15 fixes every unknown dimension, the batch's too, to 1: such
    an export is verified at the batch size it takes."""

    name = keras_format = "litert"
    filename = "model.tflite"
    refused = {"jax": "Keras 3.15 exports LiteRT only from the TensorFlow and PyTorch backends"}
    needs = {"tensorflow": {"tensorflow": "tensorflow"}, "torch": {"litert_torch": "litert-torch"}}
    converters = {"tensorflow": "tensorflow", "torch": "litert-torch"}  # TFLiteConverter

    def install_hint(self, backend: str) -> str:
        if backend == "torch":  # not in kspec[export]: see the README's Dependencies
            return (
                "`pip install litert-torch` (left out of kspec[export]: its dependency xdsl 0.28 pins "
                "typing-extensions<4.13, which forces pydantic back to 2.11)"
            )
        return super().install_hint(backend)

    def open(self, target: Path) -> Runner:
        if importlib.util.find_spec("ai_edge_litert") is not None:
            from ai_edge_litert.interpreter import Interpreter

            runtime, version = "LiteRT", importlib.metadata.version("ai-edge-litert")
        else:
            import tensorflow as tf

            Interpreter, runtime, version = tf.lite.Interpreter, "TensorFlow Lite", tf.__version__
        interpreter = Interpreter(model_path=str(target))
        runner = interpreter.get_signature_runner()
        details = runner.get_input_details()
        names = list(details)

        def call(arrays: list[np.ndarray]) -> list[np.ndarray]:
            out = runner(**dict(zip(names, arrays)))
            return [np.array(out[k]) for k in sorted(out, key=_output_index)]

        fixed = {int(d["shape_signature"][0]) if int(d["shape_signature"][0]) > 0 else None for d in details.values()}
        return Runner(runtime, version, names, _fixed(fixed), call)


class OpenVINO(Format):
    name = keras_format = "openvino"
    filename = "model.xml"  # and model.bin beside it
    refused = {
        "jax": "Keras 3.15 converts JAX models for OpenVINO through jax2tf, whose graphs are XlaCallModule "
        "operations since JAX 0.5 (its native_serialization=False is gone), and OpenVINO cannot convert those",
    }
    needs = {b: {"openvino": "openvino"} for b in ("tensorflow", "torch")}
    converters = {"tensorflow": "openvino", "torch": "openvino"}  # openvino.convert_model

    def open(self, target: Path) -> Runner:
        import openvino as ov

        # Verified at float32: on CPUs with bfloat16 units OpenVINO would otherwise compute in bfloat16.
        compiled = ov.Core().compile_model(str(target), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        names = [i.get_any_name() for i in compiled.inputs]

        def call(arrays: list[np.ndarray]) -> list[np.ndarray]:
            result = compiled(arrays)
            return [np.asarray(result[o]) for o in compiled.outputs]

        shapes = [i.get_partial_shape() for i in compiled.inputs]
        fixed = {s[0].get_length() if s.rank.is_static and s[0].is_static else None for s in shapes}
        return Runner("OpenVINO", importlib.metadata.version("openvino"), names, _fixed(fixed), call)


FORMATS: dict[str, Format] = {f.name: f for f in (SavedModel(), Onnx(), LiteRT(), OpenVINO())}


def _output_index(key: str) -> int:
    """'output_1' -> 1: SavedModel and LiteRT signatures name outputs output_0, output_1, ..."""
    tail = key.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _fixed(batch_dims: set[Any]) -> int | None:
    dims = {d for d in batch_dims if d is not None}
    return dims.pop() if len(dims) == 1 else None


def supported_formats(backend: str) -> dict[str, str | None]:
    """Format -> None where a run of `backend` can be exported to it here, else why not (imports nothing)."""
    if backend not in BACKENDS:
        why = f"the run's backend '{backend}' is not one of {', '.join(BACKENDS)}"
        return dict.fromkeys(FORMATS, why)
    return {name: fmt.why_not(backend) for name, fmt in FORMATS.items()}


# ---- export_run ------------------------------------------------------------------------------------


def export_run(
    run_dir: str | os.PathLike, formats: Sequence[str], *, echo: Callable[[str], None] = print, seed: int = 0
) -> list[ExportResult]:
    """Export the finished run in `run_dir` to each of `formats` and verify each; every request is checked
    before any work. Raises ExportError (exit_code 2: refused; 1: an export failed or missed its tolerance)."""
    try:
        path = rundir.open_complete(Path(run_dir))
    except RunDirError as exc:
        raise ExportError(str(exc), 2) from None
    backend = str(read_json(path / rundir.RUN_JSON).get("backend", "tensorflow"))
    wanted = _check_request(path, backend, formats)
    _check_model(path, backend, wanted)
    lock = rundir.Lock()
    try:
        lock.acquire(path)
        trained = _load_model(path, backend)
        model = inference_model(trained, path)
        inputs = input_specs(path, model)
        # A loaded model has not been called yet, and Keras exports only models that have been.
        _keras_outputs(model, inputs, sample_batch(inputs, 1, np.random.default_rng(seed)))
        # exported: the inference copy; verified against: the trained model as loaded
        results, failures = [], []
        for name in wanted:  # a format that fails does not stop the others
            try:
                results.append(_export_one(path, FORMATS[name], model, trained, inputs, backend, seed, echo))
            except ExportError as exc:
                failures.append(exc)
        if failures:
            done = f" Exported and verified: {', '.join(r.format for r in results)}." if results else ""
            raise ExportError(" ".join(str(f) for f in failures) + done, max(f.exit_code for f in failures))
        return results
    except RunDirError as exc:
        raise ExportError(str(exc), exc.exit_code) from None
    finally:
        lock.release()


def _check_request(run_dir: Path, backend: str, formats: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(formats))
    if not wanted:
        raise ExportError(f"No export format given. Expected one or more of: {', '.join(FORMATS)}.", 2)
    supported = supported_formats(backend)
    problems = []
    for name in wanted:
        if name not in FORMATS:
            problems.append(f"Unknown export format '{name}'. Expected one of: {', '.join(FORMATS)}.")
        elif supported[name]:
            problems.append(
                f"Cannot export the run in '{run_dir}' ({DISPLAY.get(backend, backend)} backend) to {name}: "
                f"{supported[name]}."
            )
    if problems:
        able = [name for name, why in supported.items() if why is None]
        raise ExportError(
            " ".join(problems)
            + f" Nothing was exported. Formats this run can be exported to here: {', '.join(able) or 'none'}.",
            2,
        )
    return wanted


def _check_model(run_dir: Path, backend: str, formats: list[str]) -> None:
    """Formats this model cannot work in, refused before any work (from the layers of the run's spec). On
    TensorFlow, LiteRT and OpenVINO convert the TensorFlow graph. A recurrent layer's loop becomes TensorList ops,
    which LiteRT's builtin kernels lack (they need the Flex delegate, which neither LiteRT's interpreter nor
    TensorFlow's pip package links in) and OpenVINO's front end cannot convert; unrolled, LiteRT runs it, but
    OpenVINO 2026.4 gives the model the unrolled steps' inner tensors as extra outputs."""
    if backend != "tensorflow" or not {"litert", "openvino", "onnx"} & set(formats):
        return
    from ..check import check

    report = check(run_dir / rundir.SPEC)
    if report.inference is None:
        return
    if "onnx" in formats and report.spec is not None and report.spec.training.precision == "mixed_bfloat16":
        raise ExportError(
            f"Cannot export the run in '{run_dir}' to onnx: it computes in bfloat16 (training.precision: "
            "mixed_bfloat16), and the ONNX graph tf2onnx makes of it is one ONNX Runtime refuses. Export to "
            "saved_model, or train with float32 or mixed_float16. Nothing was exported.",
            2,
        )
    if not {"litert", "openvino"} & set(formats):
        return
    layers = [n for n in report.inference.nodes if n.layer is not None]
    problems = []
    looped = [n for n in layers if n.layer.loops_over_tensor_lists()]
    if "litert" in formats and looped:
        problems.append(
            f"Cannot export the run in '{run_dir}' to litert: the loop of its recurrent layer(s) "
            f"{_named(looped)} becomes TensorFlow TensorList ops, which LiteRT's builtin kernels lack (they need the "
            "Flex delegate, which neither LiteRT's interpreter nor TensorFlow's pip package links in). Set "
            "`unroll: true` on the layer (it needs a known number of timesteps)."
        )
    recurrent = [n for n in layers if n.layer.recurrent()]
    if "openvino" in formats and recurrent:
        problems.append(
            f"Cannot export the run in '{run_dir}' to openvino: OpenVINO's TensorFlow front end cannot convert the "
            f"loop of its recurrent layer(s) {_named(recurrent)} (TensorList ops), and unrolled, it gives the model "
            "the steps' inner tensors as extra outputs."
        )
    if problems:
        raise ExportError(" ".join(problems) + " Export to onnx or saved_model. Nothing was exported.", 2)


def _named(nodes: list[Any]) -> str:
    return ", ".join(f"'{n.name}' ({n.layer.layer_type})" for n in nodes[:3]) + (" ..." if len(nodes) > 3 else "")


def _load_model(run_dir: Path, backend: str) -> Any:
    from .runs import start_keras

    try:
        start_keras(backend, run_dir, "Export")
    except RunDirError as exc:
        raise ExportError(str(exc), 2) from None
    import keras

    try:
        return keras.saving.load_model(run_dir / rundir.MODEL, compile=False)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign model file is the user's to fix
        raise ExportError(f"Cannot load the model '{run_dir / rundir.MODEL}': {_first_line(exc)}.", 2) from None


def inference_model(model: Any, run_dir: Path) -> Any:
    """The model as it runs at inference, in layers every converter takes:
    - the layers that act in training only (augmentation, dropout, noise: `Layer.training_only`) become
      `Identity`: Keras skips them at inference already, but some still build their random draws into the traced
      graph (RandomFlip's StatelessRandomUniformV2), which ONNX cannot hold;
    - a Normalization becomes the `Rescaling` that computes the same (x * scale + offset): its mean and variance
      are tensors computed outside the traced function, which tf2onnx turns into extra inputs of the model."""
    import keras

    from ..check import check

    report = check(run_dir / rundir.SPEC)
    if report.inference is None:
        return model
    names = {n.name for n in report.inference.nodes if n.layer is not None and n.layer.training_only}
    normalizations = {layer.name for layer in model.layers if isinstance(layer, keras.layers.Normalization)}
    if not (names | normalizations) & {layer.name for layer in model.layers}:
        return model

    def clone(layer: Any) -> Any:
        if layer.name in names:
            return keras.layers.Identity(name=layer.name)
        if layer.name in normalizations:
            return _rescaling(keras, layer)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in copy.layers:
        if layer.name not in names | normalizations and layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy


def _rescaling(keras: Any, layer: Any) -> Any:
    """The Rescaling equal to a (built) Normalization: Keras computes (x - mean) / max(sqrt(variance), eps), or
    with `invert`, mean + x * max(sqrt(variance), eps)."""
    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float64)
    variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float64)
    std = np.maximum(np.sqrt(variance), keras.config.epsilon())
    scale, offset = (std, mean) if layer.invert else (1.0 / std, -mean / std)
    return keras.layers.Rescaling(
        scale=scale.astype(np.float32).tolist(), offset=offset.astype(np.float32).tolist(), name=layer.name
    )


def input_specs(run_dir: Path, model: Any) -> list[InputSpec]:
    """The model's inputs (names, shapes, dtypes); interface.json adds, by name, a value range (an integer
    input's ids, or the 0..255 of decoded images) and a dtype."""
    described = {
        entry.get("name"): entry
        for entry in read_json(run_dir / rundir.INTERFACE).get("inputs", [])
        if isinstance(entry, dict)
    }
    specs = []
    for tensor in model.inputs:
        name, dtype = tensor.name, str(tensor.dtype)
        entry = described.get(name, {})
        if entry.get("dtype") in NUMERIC:
            dtype = entry["dtype"]
        if dtype not in NUMERIC:
            raise ExportError(
                f"The model's input '{name}' is of dtype {dtype}; exports take numeric inputs "
                f"({', '.join(NUMERIC)}). Export the model without its text preprocessing.",
                2,
            )
        preprocessing = entry.get("preprocessing")
        bounds = entry.get("value_range") or (
            preprocessing.get("value_range") if isinstance(preprocessing, dict) else None
        )
        value_range = (float(bounds[0]), float(bounds[1])) if isinstance(bounds, list) and len(bounds) == 2 else None
        specs.append(InputSpec(name, dtype, tuple(tensor.shape), value_range))
    return specs


def _export_one(
    run_dir: Path,
    fmt: Format,
    model: Any,
    trained: Any,
    inputs: list[InputSpec],
    backend: str,
    seed: int,
    echo: Callable[[str], None],
) -> ExportResult:
    import keras

    from ..train import artifacts

    start = time.perf_counter()
    converter = fmt.converter(backend)
    export_dir = run_dir / rundir.EXPORT
    try:
        export_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot write the exports in '{export_dir}': {exc.strerror or exc}.", 2) from None
    final = export_dir / fmt.name
    failed = export_dir / f"{fmt.name}-failed-parity.json"
    what = f"The {fmt.name} export of '{run_dir}' (made by {converter})"
    left = (
        f"The new export was discarded; the earlier one in '{final}' is unchanged."
        if final.exists()
        else f"Nothing was written to '{final}'."
    )
    echo(f"{fmt.name}: exporting with Keras {keras.__version__} ({DISPLAY[backend]} backend)...")
    try:
        with artifacts.atomic_dir(final) as tmp:
            target = fmt.target(tmp)
            try:
                with _quiet():
                    fmt.export(model, target)
            except Exception as exc:  # noqa: BLE001 - Keras's or the converter's refusal, shown in one line
                raise ExportError(
                    f"Keras could not export the model of '{run_dir}' to {fmt.name} ({DISPLAY[backend]} backend, "
                    f"with {converter}): {_first_line(exc)}.",
                    1,
                ) from None
            exported = time.perf_counter()
            report = {
                "format": fmt.name,
                "file": fmt.filename or ".",
                "backend": backend,
                "keras_version": keras.__version__,
                "converter": converter,
                "seed": seed,
                **_verify(fmt, target, trained, inputs, seed, what),
                "seconds": {"export": round(exported - start, 3), "verify": round(time.perf_counter() - exported, 3)},
            }
            if not report["passed"]:
                artifacts.write_json(failed, report)
                tolerance = report["tolerance"]
                raise ExportError(
                    f"{what} does not reproduce the Keras model under {report['runtime']['name']}: the largest "
                    f"difference is {report['max_abs_diff']:.3g}, over the tolerance (|export - keras| <= "
                    f"{tolerance['atol']:g} + {tolerance['rtol']:g} * |keras|); the comparison is in '{failed}'.",
                    1,
                )
            artifacts.write_json(tmp / "parity.json", report)
    except ExportError as exc:
        raise ExportError(f"{exc} {left}", exc.exit_code) from None
    except OSError as exc:  # the run directory is full or not writable
        raise ExportError(f"Cannot write the {fmt.name} export in '{export_dir}': {exc.strerror or exc}.", 2) from None
    failed.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    runtime, tolerance = report["runtime"], report["tolerance"]
    echo(
        f"{fmt.name}: verified with {runtime['name']} {runtime['version']} at batch sizes "
        f"{', '.join(map(str, report['batch_sizes']))}: largest difference {report['max_abs_diff']:.2g} "
        f"(tolerance {tolerance['atol']:g} + {tolerance['rtol']:g} * |keras|) -> {fmt.target(final)} ({seconds:.1f} s)"
    )
    return ExportResult(
        fmt.name, fmt.target(final), report["max_abs_diff"], tolerance["atol"], report["batch_sizes"], True, seconds
    )


def _keras_outputs(model: Any, inputs: list[InputSpec], batch: dict[str, np.ndarray]) -> list[np.ndarray]:
    import keras

    arrays = [batch[spec.name] for spec in inputs]
    y = model(arrays if len(arrays) > 1 else arrays[0], training=False)
    if isinstance(y, dict):
        y = [y[name] for name in model.output_names]
    return [keras.ops.convert_to_numpy(t) for t in (y if isinstance(y, (list, tuple)) else [y])]


@dataclass
class _Comparison:
    max_abs_diff: float = 0.0
    passed: bool = True
    outputs: list[dict] = field(default_factory=list)


def _verify(
    fmt: Format,
    target: Path,
    model: Any,
    inputs: list[InputSpec],
    seed: int,
    what: str,
) -> dict[str, Any]:
    """Run the export in its runtime on every batch it takes and compare with Keras; the parity report.
    `what` names the export in errors."""
    try:
        with _quiet():
            runner = fmt.open(target)
    except Exception as exc:  # noqa: BLE001 - the runtime's refusal, shown in one line
        raise ExportError(
            f"{what} cannot be loaded by its runtime: {_first_line(exc)}.",
            1,
        ) from None
    names = [spec.name for spec in inputs]
    by_name = sorted(runner.input_names) == sorted(names)
    if not by_name and len(runner.input_names) != len(names):
        raise ExportError(
            f"{what} takes {len(runner.input_names)} input(s) "
            f"({', '.join(runner.input_names)}); the model takes {len(names)} ({', '.join(names)}).",
            1,
        )
    order = [runner.input_names.index(n) for n in names] if by_name else list(range(len(names)))
    sizes = [runner.batch_size] if runner.batch_size is not None else list(BATCH_SIZES)
    rng = np.random.default_rng(seed)
    batches = [sample_batch(inputs, size, rng) for size in sizes]
    expected = [_keras_outputs(model, inputs, batch) for batch in batches]
    atol, rtol = _tolerance(expected[0], model)
    output_names = _output_names(model, len(expected[0]))
    comparison = _Comparison(outputs=[{"name": n, "max_abs_diff": 0.0} for n in output_names])
    for size, batch, want in zip(sizes, batches, expected):
        feeds = [np.empty(0)] * len(names)
        for spec, position in zip(inputs, order):
            feeds[position] = batch[spec.name]
        try:
            with _quiet():
                got = runner.call(feeds)
        except Exception as exc:  # noqa: BLE001 - the runtime's failure, shown in one line
            raise ExportError(
                f"{what} fails under {runner.runtime} {runner.version} on a batch of {size}: {_first_line(exc)}.",
                1,
            ) from None
        _compare(comparison, got, want, atol, rtol)
    for entry, tensor in zip(comparison.outputs, expected[0]):
        entry.update(dtype=str(tensor.dtype), shape=[None, *tensor.shape[1:]])
    return {
        "runtime": {"name": runner.runtime, "version": runner.version},
        "batch_sizes": sizes,
        "fixed_batch_size": runner.batch_size,
        "inputs": [
            {**asdict(spec), "shape": list(spec.shape), "fed_as": runner.input_names[position]}
            for spec, position in zip(inputs, order)
        ],
        "inputs_matched_by": "name" if by_name else "position",
        "outputs": comparison.outputs,
        "max_abs_diff": comparison.max_abs_diff,
        "tolerance": {"atol": atol, "rtol": rtol, "rule": "|export - keras| <= atol + rtol * |keras|, elementwise"},
        "passed": comparison.passed,
    }


def _output_names(model: Any, count: int) -> list[str]:
    """A functional model's output names; a Sequential model's last layer's (it has no output_names)."""
    names = getattr(model, "output_names", None)
    if not names and count == 1 and getattr(model, "layers", None):
        names = [model.layers[-1].name]
    return list(names) if names and len(names) == count else [f"output_{i}" for i in range(count)]


def _tolerance(outputs: list[np.ndarray], model: Any = None) -> tuple[float, float]:
    """The loosest tolerance among the outputs' dtypes (exact for integer outputs), and among the half-precision
    dtypes the model's layers compute in (`training.precision`: the outputs are float32, what led to them is not;
    a loaded model keeps its layers' dtype policies, not its own)."""
    dtypes = [str(t.dtype) for t in outputs]
    for layer in getattr(model, "layers", None) or []:
        compute = str(getattr(layer, "compute_dtype", ""))
        if compute in ("float16", "bfloat16"):
            dtypes.append(compute)
    pairs = [TOLERANCES.get(d, (0.0, 0.0)) for d in dtypes]
    return max(a for a, _ in pairs), max(r for _, r in pairs)


def _compare(comparison: _Comparison, got: list[np.ndarray], want: list[np.ndarray], atol: float, rtol: float) -> None:
    if len(got) != len(want):
        comparison.passed, comparison.max_abs_diff = False, float("inf")
        return
    for entry, g, w in zip(comparison.outputs, got, want):
        if g.shape != w.shape:
            entry["shape_mismatch"] = [list(g.shape), list(w.shape)]
            comparison.passed, comparison.max_abs_diff = False, float("inf")
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        both_nan = np.isnan(g64) & np.isnan(w64)
        diff = np.where(both_nan, 0.0, np.abs(g64 - w64))
        worst = float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0))
        entry["max_abs_diff"] = max(entry["max_abs_diff"], worst)
        comparison.max_abs_diff = max(comparison.max_abs_diff, worst)
        if not np.all(both_nan | (diff <= atol + rtol * np.abs(w64))):
            comparison.passed = False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keras and the converters print progress and signatures, warn about tracing, and the runtimes' native
    code writes notices to the process's stderr ("Created TensorFlow Lite XNNPACK delegate"); none of it is
    the user's business. Errors still reach the user, as the ExportError that follows."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _first_line(exc: BaseException) -> str:
    """`first_line`, cut to 300 characters (converters' messages can run to pages) and without its full stop."""
    return first_line(exc)[:300].rstrip(".")
