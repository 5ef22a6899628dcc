"""`kspec evaluate RUN_DIR [--data ...]`: the spec's metrics on data, and for classifiers what they hide.

Data: by default the run's own held-out test split, reproduced exactly (the resolved spec fixes the
source, its absolute paths and the seed that shuffled it); with `--data`, any source that
`build-and-train --data` accepts, checked against the model the way training checks its data, with
the run's own preprocessing (its text vocabulary). A source with its own test split (an .npz with
`x_test`, a Keras dataset) is evaluated on that split; any other on every example it holds.

For every output trained with a classification loss (sparse or one-hot cross-entropy, or a binary
loss on one unit), the report adds per-class precision, recall, F1 and support, and the confusion
matrix (rows: true class, columns: predicted class), with the class names the run knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..rundir import EVALUATION, RunDirError
from .runs import UsableRun, load_model, open_run, start_keras


class EvaluateError(Exception):
    """Data that cannot be evaluated (one paragraph for the user) and the exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Evaluation:
    run_dir: Path
    data: str  # what was evaluated, for people
    examples: int
    metrics: dict[str, float]
    outputs: dict[str, dict] = field(default_factory=dict)  # classification report per classifier output
    written: Path | None = None

    def to_json(self) -> dict:
        return {
            "run_dir": str(self.run_dir),
            "data": self.data,
            "examples": self.examples,
            "metrics": self.metrics,
            "outputs": self.outputs,
        }


def evaluate_run(
    run_dir: str | Path,
    *,
    data: str | None = None,
    output: str | Path | None = None,
    batch_size: int | None = None,
) -> Evaluation:
    """Evaluate the run in `run_dir` (see the module docstring). Writes the report as JSON to `output`, by
    default RUN_DIR/evaluation.json (atomically). Raises RunDirError or EvaluateError; DataError for bad data."""
    run = open_run(run_dir)
    start_keras(
        run.backend, run.run_dir, "Evaluate"
    )  # the run's backend, chosen before anything imports Keras; TensorFlow quietly
    split, description = _split(run, data)
    if split is None or not len(split):
        raise EvaluateError(f"There are no examples to evaluate in {description}.", 1)
    model = load_model(run)
    from ..train.data import make_tf_dataset

    spec = run.spec
    single = run.inference.outputs[0] if len(run.inference.outputs) == 1 else None
    batch = batch_size or spec.training.batch_size
    dataset = make_tf_dataset(split, batch_size=batch, shuffle=False, seed=0, single_output_name=single)
    try:
        metrics = {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}
        outputs = _classification_reports(run, model, split, batch)
    except Exception:
        log = getattr(split, "log", None)  # a streamed split met a bad example (raised inside TensorFlow)
        if log is None or log.error is None:
            raise
        from ..train.data import DataError

        raise DataError(f"Evaluation stopped at a bad example. {log.error}") from None
    result = Evaluation(run.run_dir, description, len(split), metrics, outputs)
    from ..train import artifacts

    target = Path(output) if output else run.run_dir / EVALUATION
    try:
        artifacts.write_json(target, result.to_json())
    except OSError as exc:
        raise EvaluateError(f"Cannot write the report '{target}': {exc.strerror or exc}.", 2) from None
    result.written = target
    return result


def _split(run: UsableRun, data: str | None) -> tuple[Any, str]:
    """The examples to evaluate, checked and adapted to the model, and a description of them."""
    from ..train.data import load_data, source_from_cli

    spec = run.spec
    if data is None:
        if spec.data is None:
            raise RunDirError(f"The run in '{run.run_dir}' has no data section; give --data.")
        loaded = load_data(
            spec,
            run.inference,
            base_dir=run.run_dir,
            seed=spec.training.seed,
            **_preprocessing_of(run, spec.data.source),
        )
        if loaded.test is None or not len(loaded.test):
            raise EvaluateError(
                f"The run in '{run.run_dir}' held out no test split (its data.test_split is 0 and its source has "
                "none), so there is nothing it has not trained on; give the data to evaluate with --data.",
                2,
            )
        return loaded.test, f"the run's test split ({len(loaded.test):,} examples of {_title(loaded)})"
    source = source_from_cli(data)
    if getattr(source, "path", None):
        source = source.model_copy(update={"path": str(Path(source.path).resolve())})
    from ..spec.data import Data

    # every example, in order: no hold-outs, no shuffling
    base = spec.data.model_copy(update={"source": source}) if spec.data is not None else Data(source=source)
    base = base.model_copy(update={"test_split": 0.0, "shuffle": False})
    spec = spec.model_copy(
        update={"data": base, "training": spec.training.model_copy(update={"validation_split": 0.0})}
    )
    loaded = load_data(
        spec, run.inference, base_dir=Path.cwd(), seed=spec.training.seed, **_preprocessing_of(run, source)
    )
    if loaded.test is not None and len(loaded.test):
        return loaded.test, f"the test split of {_title(loaded)} ({len(loaded.test):,} examples)"
    return loaded.train, f"{_title(loaded)} ({len(loaded.train):,} examples)"


def _preprocessing_of(run: UsableRun, source: Any) -> dict[str, Any]:
    """What the loaders must reuse from the run rather than learn again from the data: the text vocabulary
    (a text directory's texts become the token ids the model was trained on, even if the directory changed)."""
    if source.type != "text_directory":
        return {}
    from .interface import read

    interface = read(run.run_dir)
    texts = [i.name for i in interface.inputs if (i.preprocessing or {}).get("kind") == "text"]
    if not texts and any(i.dtype == "string" for i in interface.inputs):
        return {}  # the model's own text layers read the texts: nothing to reuse
    if not texts:
        raise RunDirError(
            f"The run in '{run.run_dir}' keeps no text vocabulary (its interface.json has no text input), so texts "
            "cannot be turned into the token ids it was trained on."
        )
    return {"vocabulary": interface.vocabulary(texts[0])}


def _title(loaded: Any) -> str:
    text = str(loaded.description)
    return text.split(":")[0] if ":" in text else text


def _classification_reports(run: UsableRun, model: Any, split: Any, batch: int) -> dict[str, dict]:
    from ..spec.training import loss_kind

    spec, inference = run.spec, run.inference
    loss = spec.training.loss
    kinds = {
        name: loss_kind(loss[name] if isinstance(loss, dict) else loss)
        for name in inference.outputs
        if not isinstance(loss, dict) or name in loss
    }
    tensors = inference.output_tensors
    wanted = []
    for name, kind in kinds.items():
        last = tensors[name].shape[-1] if tensors.get(name) is not None else None
        if kind in ("sparse", "one_hot") or (kind == "binary" and last == 1):
            wanted.append(name)
    if not wanted:
        return {}
    from ..train.data.stream import is_stream

    if is_stream(split):  # read once more, batch by batch: the predictions and the labels of each batch
        predicted, label_arrays = _streamed_predictions(model, split, batch, inference.outputs)
    else:
        predicted, label_arrays = _predictions(model, split, batch, inference.outputs), split.y
    reports = {}
    for name in wanted:
        scores = np.asarray(predicted[name])
        labels = np.asarray(label_arrays[name])
        if kinds[name] == "binary":
            threshold = 0.0 if _logits(run, name) else 0.5
            # one unit per example, or per position of a sequence: every position counts
            pred = (scores.reshape(-1) > threshold).astype(np.int64)
            true = (labels.reshape(-1) > 0.5).astype(np.int64)
            classes = 2
        else:
            classes = int(scores.shape[-1])
            pred = scores.reshape(-1, classes).argmax(axis=-1)
            true = labels.reshape(-1, classes).argmax(axis=-1) if kinds[name] == "one_hot" else labels.reshape(-1)
            true = true.astype(np.int64)
        keep = (true >= 0) & (true < classes)  # an ignore_class label counts for no class
        reports[name] = classification_report(true[keep], pred[keep], classes, run.class_names(name))
    return reports


def _predictions(model: Any, split: Any, batch: int, outputs: list[str]) -> dict[str, Any]:
    """The model's predictions on an in-memory split, by output name."""
    x = next(iter(split.x.values())) if len(split.x) == 1 else dict(split.x)
    if any(np.asarray(a).dtype.kind == "O" for a in split.x.values()):  # texts reach Keras as strings via tf.data
        import tensorflow as tf

        predicted = model.predict(tf.data.Dataset.from_tensor_slices((x,)).batch(batch), verbose=0)
    else:
        predicted = model.predict(x, batch_size=batch, verbose=0)
    if not isinstance(predicted, dict):
        predicted = (
            dict(zip(outputs, predicted, strict=True))
            if isinstance(predicted, list | tuple)
            else {outputs[0]: predicted}
        )
    return predicted


def _streamed_predictions(model: Any, split: Any, batch: int, outputs: list[str]) -> tuple[dict, dict]:
    """The model's predictions on a streamed split and its labels, by output name, gathered batch by batch."""
    predicted: dict[str, list] = {name: [] for name in outputs}
    labels: dict[str, list] = {name: [] for name in outputs}
    for x, y in split.dataset(batch_size=batch, shuffle=False, seed=0):
        got = model.predict_on_batch(x)
        got = (
            dict(zip(outputs, got, strict=True))
            if isinstance(got, list | tuple)
            else (got if isinstance(got, dict) else {outputs[0]: got})
        )
        ys = y if isinstance(y, dict) else {outputs[0]: y}
        for name in outputs:
            predicted[name].append(np.asarray(got[name]))
            if name in ys:
                labels[name].append(np.asarray(ys[name]))
    return (
        {n: np.concatenate(v) for n, v in predicted.items() if v},
        {n: np.concatenate(v) for n, v in labels.items() if v},
    )


def _logits(run: UsableRun, name: str) -> bool:
    """The output gives logits (a binary decision at 0), not probabilities (at 0.5): as interface.json says
    (from the output's activation and its loss's from_logits)."""
    for item in run.interface().get("outputs", []):
        if item.get("name") == name:
            return str(item.get("kind", "")).endswith("logit")
    from ..spec.training import loss_from_logits

    loss = run.spec.training.loss
    return loss_from_logits(loss[name] if isinstance(loss, dict) else loss)


def classification_report(true: np.ndarray, pred: np.ndarray, classes: int, names: list[str] | None) -> dict:
    """Per-class precision, recall, F1 and support, the confusion matrix (rows true, columns predicted),
    accuracy and the macro averages. A class never predicted has precision 0; never present, recall 0."""
    if names is None or len(names) != classes:
        names = [str(i) for i in range(classes)]
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    tp = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(classes), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(classes), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(classes), where=denominator > 0)
    total = int(matrix.sum())
    return {
        "class_names": names,
        "per_class": [
            {
                "class": names[i],
                "precision": round(float(precision[i]), 6),
                "recall": round(float(recall[i]), 6),
                "f1": round(float(f1[i]), 6),
                "support": int(support[i]),
            }
            for i in range(classes)
        ],
        "confusion_matrix": matrix.tolist(),
        "accuracy": round(float(tp.sum() / total), 6) if total else 0.0,
        "macro_precision": round(float(precision.mean()), 6),
        "macro_recall": round(float(recall.mean()), 6),
        "macro_f1": round(float(f1.mean()), 6),
        "examples": total,
    }


def render_text(result: Evaluation) -> str:
    """The report for people: metrics, then per classifier output its classes and confusion matrix."""
    lines = [f"Evaluated {result.run_dir} on {result.data}:"]
    lines += [f"  {k}: {v:.4f}" for k, v in result.metrics.items()]
    for name, report in result.outputs.items():
        names = report["class_names"]
        width = max([len("class"), *(len(n) for n in names)])
        lines.append("")
        lines.append(f"Output '{name}': accuracy {report['accuracy']:.4f}, macro F1 {report['macro_f1']:.4f}")
        lines.append(f"  {'class':<{width}}  precision  recall      f1  support")
        for row in report["per_class"]:
            lines.append(
                f"  {row['class']:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}  "
                f"{row['support']:7d}"
            )
        cell = max(5, *(len(str(v)) for r in report["confusion_matrix"] for v in r))
        lines.append(f"  confusion matrix (rows: true class, columns: predicted), classes {', '.join(names)}:")
        for i, row in enumerate(report["confusion_matrix"]):
            lines.append(f"  {names[i]:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    if result.written is not None:
        lines.append("")
        lines.append(f"Report written to {result.written}.")
    return "\n".join(lines) + "\n"
