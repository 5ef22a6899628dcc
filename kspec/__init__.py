"""kspec: a declarative model-spec compiler for Keras.

Checking (`load_spec`, `check`, `json_schema`) never imports TensorFlow or Keras; building
(`build_model`, `compile_model`), training (`build_and_train`) and using a finished run (`predict`,
`evaluate`, `export`) import them when called.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# TensorFlow's CPU kernels differ with oneDNN: without it (its default on CPUs without AVX-512, such as
# many AMD EPYCs) dilated transposed convolutions and depthwise convolutions with unequal strides fail,
# with it softmax over rank >= 6 fails. kspec's rules follow TensorFlow with oneDNN, so it is turned on
# for any TensorFlow imported after kspec (a value the user set is kept). No TensorFlow is imported here.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from .check import Report, check, load_spec
from .diagnostics import Diagnostic, SpecError
from .dump import dump_spec
from .spec import Spec, json_schema

__version__ = "0.1.0"
__all__ = [
    "Diagnostic",
    "Report",
    "Spec",
    "SpecError",
    "build_and_train",
    "build_model",
    "check",
    "compile_model",
    "dump_spec",
    "evaluate",
    "export",
    "import_model",
    "json_schema",
    "load_spec",
    "predict",
    "__version__",
]


def build_model(spec: Spec | str | dict, *, compile: bool = False) -> Any:
    """The Keras model of a spec (a `Spec`, a path, YAML/JSON text or loaded data).

    Raises `SpecError` for an invalid spec and `kspec.compile.KspecBug` if Keras's shapes or
    parameter counts differ from the checker's. `compile=True` also runs `model.compile` from
    the spec's training section.
    """
    from . import compile as compiler

    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    model = compiler.build_model(spec)
    if compile:
        compiler.compile_model(model, spec.training)
    return model


def compile_model(model: Any, spec: Spec) -> Any:
    """`model.compile` from the spec's training section (optimizer, losses, loss weights, metrics)."""
    from . import compile as compiler

    return compiler.compile_model(model, spec.training)


def build_and_train(spec_path: str, **options: Any) -> Any:
    """`kspec build-and-train` as a function: options as in `kspec.train.run.TrainOptions`; returns a `RunResult`."""
    from .train.run import TrainOptions
    from .train.run import build_and_train as run

    return run(spec_path, TrainOptions(**options), echo=lambda message: None)


def import_model(model: Any, *, name: str | None = None) -> Spec:
    """The kspec spec of a Keras model (a `keras.Model`, a path to a `.keras` or `.json` file, or JSON text), in
    the sequential form for a plain stack of layers, else the graph form. Nothing in a file is run: its
    configuration is read as data. Raises `kspec.importer.UnsupportedModel` listing every layer and argument kspec
    cannot express; `kspec.importer.spec_text(spec)` writes the spec (one line per layer, defaults left out).
    """
    from .importer import import_model as run

    return run(model, name=name)


def evaluate(run_dir: str | Path, *, data: str | None = None, output: str | Path | None = None) -> Any:
    """`kspec evaluate` as a function: the spec's metrics for the run's model on `data` (any `--data` form; default:
    the run's own test split), with per-class precision, recall, F1 and the confusion matrix for classifiers.
    Returns a `kspec.use.evaluate.Evaluation` (`.metrics`, `.outputs`, `.to_json()`); the report is also written
    to `output` (default RUN_DIR/evaluation.json). Raises `kspec.rundir.RunDirError`,
    `kspec.use.evaluate.EvaluateError` or `kspec.train.data.DataError`, each with a message for people."""
    from .use.evaluate import evaluate_run

    return evaluate_run(run_dir, data=data, output=output)


def export(run_dir: str | Path, formats: list[str] | tuple[str, ...] | str) -> Any:
    """`kspec export` as a function: each format (saved_model, onnx, litert, openvino) into RUN_DIR/export/FORMAT/,
    verified against the Keras model in the format's own runtime. Returns a list of
    `kspec.use.export.ExportResult`; raises `kspec.use.export.ExportError` (refused before any work, or an
    export that missed its parity tolerance) or `kspec.rundir.RunDirError`."""
    from .use.export import export_run

    return export_run(run_dir, [formats] if isinstance(formats, str) else list(formats), echo=lambda message: None)


def predict(
    run_dir: str | Path,
    inputs: list[str] | tuple[str, ...] = (),
    *,
    texts: list[str] | tuple[str, ...] = (),
    top_k: int = 5,
    batch_size: int = 64,
) -> Any:
    """`kspec predict` as a function: an iterator over the inputs (image files or directories of them, `.txt`,
    CSV or `.npz` files) and `texts`, in batches, yielding a `kspec.use.predict.Prediction` (`.source`,
    `.outputs`: per output the top-k (class name, probability) pairs or the values) or a
    `kspec.use.predict.Failure` (`.source`, `.message`) for an input that cannot be predicted. Raises
    `kspec.use.predict.PredictError` (or `kspec.rundir.RunDirError`) for a run that cannot be used."""
    from .use.predict import predict_run

    return predict_run(run_dir, list(inputs), texts=list(texts), top_k=top_k, batch_size=batch_size)
