"""What the report shows of a trained model on its held-out test split: for classifiers the confusion
matrix, per-class figures, precision-recall, ROC and calibration, and the most confident mistakes; for
regression predicted against true and the residuals; and why the model decided, on a few examples.

Written at the end of a run into `analysis.json` (while the model is in memory), so that `kspec report`
needs no Keras. Imports Keras: only training and `kspec report --analyse` import this module.

Why the model decided:
- image models (one image input, a classifier output): integrated gradients (Sundararajan et al., 2017)
  of the predicted class's score with respect to the pixels, from a black image in IG_STEPS steps; for a
  large model, where that would cost too much, the gradient times the input (one step);
- text models (token ids or strings feeding a classifier): occlusion, each token's weight being how much
  the predicted class's probability drops when that token alone is left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import curves
from .examples import image_src, is_image, row_fields, saliency_src, text_snippet, token_text

#: The most test examples analysed (the page says how many of how many).
LIMIT = 10_000
MISTAKES = 12
CURVE_CLASSES = 10
#: Above this many classes the page leaves the confusion matrix out.
MATRIX_CLASSES = 50
EXPLAINED = 4
IG_STEPS = 16
#: Above this many parameters x input values x IG_STEPS, integrated gradients would take too long (a proxy of
#: the work of IG_STEPS backward passes): the gradient times the input, in one step, instead.
IG_BUDGET = 3.2e11
OCCLUDED_TOKENS = 64


def analyse(
    model: Any,
    spec: Any,
    split: Any,
    interface: dict,
    vocabularies: dict[str, list[str]],
    *,
    batch_size: int,
) -> dict[str, Any]:
    """The analysis of `model` on `split` (the run's test split), as analysis.json holds it."""
    from ..train.data.stream import is_stream

    total = len(split)
    count = min(total, LIMIT)
    outputs = [o["name"] for o in interface.get("outputs", [])]
    if is_stream(split):
        predicted, labels = _streamed(model, split, batch_size, outputs, count)
    else:
        if count < total:
            split = split.take(slice(0, count))
        from ..use.evaluate import _predictions

        predicted, labels = _predictions(model, split, batch_size, outputs), split.y
    count = len(next(iter(predicted.values()))) if predicted else 0
    described: dict[str, Any] = {
        "examples": count,
        "of": total,
        "data": f"the first {count:,} of the run's {total:,} test examples"
        if count < total
        else f"the run's test split ({total:,} examples)",
        "outputs": [],
        "explanation": None,
        "notes": [],
    }
    fetch = _Fetcher(split, batch_size, count, [i["name"] for i in interface.get("inputs", [])])
    explained = False
    for info in interface.get("outputs", []):
        name = info["name"]
        if name not in predicted or name not in labels:
            continue
        kind = info.get("kind", "values")
        scores, truth = np.asarray(predicted[name]), np.asarray(labels[name])
        if kind in ("class_probabilities", "class_logits", "binary_probability", "binary_logit"):
            out, per_example = _classifier(name, info, spec, scores, truth)
            if per_example and out["mistake_rows"]:
                examples = fetch(out["mistake_rows"])
                out["mistakes"] = [
                    {**m, "example": _example({k: v[i] for k, v in examples.items()}, interface, vocabularies)}
                    for i, m in enumerate(out["mistakes"])
                ]
            elif not per_example:
                described["notes"].append(
                    f"Output '{name}' classifies each position of an example, so its mistakes are not shown "
                    "as examples (its figures count every position)."
                )
            if per_example and not explained:
                explained = True
                try:
                    described["explanation"] = _explain(
                        model, name, outputs, split, fetch, out, interface, vocabularies
                    )
                except Exception as exc:  # noqa: BLE001 - the figures above stand without it
                    described["notes"].append(f"No explanation of output '{name}': {type(exc).__name__}: {exc}")
            del out["mistake_rows"], out["first_true"]
            described["outputs"].append(out)
        elif kind == "regression":
            described["outputs"].append({"name": name, "kind": "regression", **curves.regression(truth, scores)})
        else:
            described["notes"].append(f"Output '{name}' ({kind.replace('_', ' ')}) is not analysed.")
    return described


# ---- predictions ----------------------------------------------------------------------------------------------


def _as_dict(got: Any, outputs: list[str]) -> dict[str, Any]:
    if isinstance(got, dict):
        return got
    if isinstance(got, list | tuple):
        return dict(zip(outputs, got, strict=True))
    return {outputs[0]: got}


def _streamed(model: Any, split: Any, batch: int, outputs: list[str], count: int) -> tuple[dict, dict]:
    predicted: dict[str, list] = {n: [] for n in outputs}
    labels: dict[str, list] = {n: [] for n in outputs}
    seen = 0
    for x, y in split.dataset(batch_size=batch, shuffle=False, seed=0):
        got = _as_dict(model.predict_on_batch(x), outputs)
        ys = y if isinstance(y, dict) else {outputs[0]: y}
        for name in outputs:
            predicted[name].append(np.asarray(got[name]))
            if name in ys:
                labels[name].append(np.asarray(ys[name]))
        seen += len(np.asarray(got[outputs[0]]))
        if seen >= count:
            break
    return (
        {n: np.concatenate(v)[:count] for n, v in predicted.items() if v},
        {n: np.concatenate(v)[:count] for n, v in labels.items() if v},
    )


class _Fetcher:
    """The model inputs of chosen test examples, by row: indexed in memory, or read again from a stream."""

    def __init__(self, split: Any, batch: int, count: int, inputs: list[str]) -> None:
        self.split, self.batch, self.count, self.inputs = split, batch, count, inputs

    def __call__(self, rows: list[int]) -> dict[str, np.ndarray]:
        from ..train.data.stream import is_stream

        if not is_stream(self.split):
            return {k: np.asarray(v)[rows] for k, v in self.split.x.items()}
        wanted, found, start = set(rows), {}, 0
        for x, _ in self.split.dataset(batch_size=self.batch, shuffle=False, seed=0):
            xs = x if isinstance(x, dict) else {self.inputs[0]: x}
            n = len(np.asarray(next(iter(xs.values()))))
            for row in wanted & set(range(start, start + n)):
                found[row] = {k: np.asarray(v)[row - start] for k, v in xs.items()}
            start += n
            if start >= max(rows) + 1:
                break
        return {k: np.stack([found[r][k] for r in rows]) for k in found[rows[0]]}


# ---- classifiers ----------------------------------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _classifier(name: str, info: dict, spec: Any, scores: np.ndarray, labels: np.ndarray) -> tuple[dict, bool]:
    """The classifier's figures, its most confident mistakes (rows to fetch) and whether its predictions are
    one per example (not one per position)."""
    from ..spec.losses import loss_kind
    from ..use.evaluate import classification_report

    kind = info["kind"]
    loss = spec.training.loss
    loss = loss.get(name) if isinstance(loss, dict) else loss
    m = len(scores)
    if kind.startswith("binary"):  # one unit per example, or per position of a sequence: each position counts
        per_example = scores.reshape(m, -1).shape[1] == 1
        p = scores.reshape(-1).astype(np.float64)
        if kind == "binary_logit":
            p = 1 / (1 + np.exp(-p))
        probs = np.stack([1 - p, p], axis=-1)
        true = (labels.reshape(-1) > 0.5).astype(np.int64)
        classes = 2
    else:
        classes = int(scores.shape[-1])
        per_example = scores.ndim == 2
        probs = scores.reshape(-1, classes).astype(np.float64)
        if kind == "class_logits":
            probs = _softmax(probs)
        true = labels.reshape(-1, classes).argmax(-1) if loss_kind(loss) == "one_hot" else labels.reshape(-1)
        true = true.astype(np.int64)
    keep = (true >= 0) & (true < classes)  # an ignore_class label counts for no class
    pred = probs.argmax(-1)
    report = classification_report(true[keep], pred[keep], classes, info.get("class_names"))
    names = report["class_names"]
    out: dict[str, Any] = {
        "name": name,
        "kind": "classification",
        "binary": kind.startswith("binary"),
        "logits": kind in ("class_logits", "binary_logit"),
        **{k: report[k] for k in ("class_names", "accuracy", "macro_f1", "per_class", "confusion_matrix")},
        "confusion_max": int(max((max(r) for r in report["confusion_matrix"]), default=0)),
    }
    kept_probs, kept_true = probs[keep], true[keep]
    shown = [1] if out["binary"] else list(range(min(classes, CURVE_CLASSES)))
    out["curves"] = []
    for c in shown:
        pr = curves.pr_curve(kept_probs[:, c], kept_true == c)
        roc = curves.roc_curve(kept_probs[:, c], kept_true == c)
        out["curves"].append(
            {
                "class": names[c],
                "pr": {"recall": pr["recall"], "precision": pr["precision"]},
                "ap": pr["ap"],
                "roc": {"fpr": roc["fpr"], "tpr": roc["tpr"]},
                "auc": roc["auc"],
            }
        )
    if classes > CURVE_CLASSES and not out["binary"]:
        out["curves_note"] = f"Curves of the first {CURVE_CLASSES} of {classes} classes."
    confidence = kept_probs.max(-1)
    out["calibration"] = curves.calibration(confidence, kept_probs.argmax(-1) == kept_true)
    out["mistakes"], out["mistake_rows"] = [], []
    out["first_true"] = [names[t] if 0 <= t < classes else "—" for t in true[:EXPLAINED]] if per_example else []
    if classes > MATRIX_CLASSES:  # a matrix of 1,000 classes would be a million cells: the table has every class
        out["matrix_note"] = (
            f"{classes} classes: the confusion matrix is left out (over {MATRIX_CLASSES}); the table has every class."
        )
        out["confusion_matrix"] = []
    if per_example:
        rows = np.nonzero(keep & (pred != true))[0]
        rows = rows[np.argsort(-probs[rows, pred[rows]], kind="mergesort")][:MISTAKES]
        out["mistake_rows"] = [int(r) for r in rows]
        out["mistakes"] = [
            {
                "index": int(r),
                "true": names[true[r]],
                "pred": names[pred[r]],
                "confidence": round(float(probs[r, pred[r]]), 4),
            }
            for r in rows
        ]
    return out, per_example


# ---- how an example is shown ----------------------------------------------------------------------------------


def _input_info(interface: dict, name: str) -> dict:
    return next((i for i in interface.get("inputs", []) if i.get("name") == name), {})


def _value_range(info: dict) -> tuple[float, float] | None:
    pre = info.get("preprocessing") or {}
    if pre.get("kind") == "image":
        lo, hi = pre.get("value_range") or (0, 255)
        return float(lo), float(hi)
    return None


def _example(x: dict[str, np.ndarray], interface: dict, vocabularies: dict[str, list[str]]) -> dict[str, Any]:
    if len(x) == 1:
        name, value = next(iter(x.items()))
        info = _input_info(interface, name)
        value = np.asarray(value)
        if name in vocabularies:
            return {"kind": "text", "text": text_snippet(token_text(value, vocabularies[name]))}
        if value.dtype.kind in "OSU":
            item = value.ravel()[0] if value.size else ""
            text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
            return {"kind": "text", "text": text_snippet(text)}
        if value.dtype.kind in "fiub" and is_image(value.shape):
            return {"kind": "image", "src": image_src(value, _value_range(info))}
    columns = {name: (_input_info(interface, name).get("preprocessing") or {}).get("columns") or [] for name in x}
    return {"kind": "row", "fields": row_fields(x, columns)}


# ---- why the model decided ------------------------------------------------------------------------------------


def _explain(
    model: Any,
    output: str,
    outputs: list[str],
    split: Any,
    fetch: _Fetcher,
    out: dict,
    interface: dict,
    vocabularies: dict[str, list[str]],
) -> dict[str, Any] | None:
    inputs = [i["name"] for i in interface.get("inputs", [])]
    rows = list(range(min(EXPLAINED, fetch.count)))
    if len(inputs) != 1 or not rows:
        return None
    name = inputs[0]
    x = fetch(rows)[name]
    index = outputs.index(output)
    info = _input_info(interface, name)
    if x.dtype.kind == "f" and is_image(x.shape[1:]):
        return _saliency(model, x, index, len(outputs), out, _value_range(info))
    if x.dtype.kind in "iu" and x.ndim == 2 and (name in vocabularies or info.get("value_range")):
        return _occlusion_ids(model, x, index, len(outputs), out, vocabularies.get(name))
    if x.dtype.kind in "OSU":
        return _occlusion_strings(model, x, index, len(outputs), out)
    return None


def _probabilities(got: Any, index: int, n_outputs: int, out: dict) -> np.ndarray:
    """(examples, classes) probabilities of the explained output from the model's raw predictions."""
    if isinstance(got, dict):
        got = list(got.values())[index]
    elif n_outputs > 1 and isinstance(got, list | tuple):
        got = got[index]
    value = np.asarray(got, np.float64)
    value = value.reshape(len(value), -1)
    if out["binary"]:
        p = 1 / (1 + np.exp(-value[:, 0])) if out["logits"] else value[:, 0]
        return np.stack([1 - p, p], axis=-1)
    return _softmax(value) if out["logits"] else value


def _verdicts(probs: np.ndarray, out: dict) -> tuple[np.ndarray, list[dict]]:
    names, truth = out["class_names"], out["first_true"]
    pred = probs.argmax(-1)
    return pred, [
        {"true": truth[i] if i < len(truth) else "?", "pred": names[p], "confidence": round(float(probs[i, p]), 4)}
        for i, p in enumerate(pred)
    ]


def _saliency(
    model: Any, x: np.ndarray, index: int, n_outputs: int, out: dict, value_range: tuple[float, float] | None
) -> dict[str, Any]:
    probs = _probabilities(model.predict(x, verbose=0), index, n_outputs, out)
    pred, verdicts = _verdicts(probs, out)
    steps = IG_STEPS if model.count_params() * x[0].size * IG_STEPS <= IG_BUDGET else 1
    baseline = np.zeros_like(x[:1])
    items = []
    for i in range(len(x)):
        alphas = ((np.arange(steps) + 0.5) / steps).reshape(-1, *([1] * (x.ndim - 1))).astype(x.dtype)
        path = baseline + alphas * (x[i : i + 1] - baseline) if steps > 1 else x[i : i + 1]
        grads = _gradients(model, path, int(pred[i]), index, n_outputs, out["binary"], out["logits"]).mean(axis=0)
        attribution = np.abs(grads * (x[i] - baseline[0]))
        weights = attribution.sum(axis=-1) if attribution.ndim == 3 else attribution
        items.append(
            {
                **verdicts[i],
                "image": image_src(x[i], value_range),
                "saliency": saliency_src(x[i], weights, value_range),
            }
        )
    method = (
        f"Integrated gradients ({steps} steps from a black image): how much each pixel, moved from black to "
        "its value, raised the predicted class's probability (the absolute attribution, summed over the "
        "colour channels; brighter is more)."
        if steps > 1
        else "Gradient times input: how much each pixel raises the predicted class's probability, to first "
        "order (the model is too large for integrated gradients here; brighter is more)."
    )
    return {"method": method, "kind": "image", "items": items}


def _gradients(
    model: Any, x: np.ndarray, cls: int, index: int, n_outputs: int, binary: bool, logits: bool = False
) -> np.ndarray:
    """d(probability of class `cls`)/d(input) for each example of `x`, on the model's backend (an output of
    logits is turned into probabilities first: sigmoid, or softmax over the classes)."""
    import keras
    from keras import ops

    def score(inputs: Any) -> Any:
        got = model(inputs, training=False)
        if isinstance(got, dict):
            got = list(got.values())[index]
        elif isinstance(got, list | tuple):
            got = got[index]
        got = ops.reshape(got, (ops.shape(got)[0], -1))
        if binary:
            p = ops.sigmoid(got[:, 0]) if logits else got[:, 0]
            return ops.sum(p if cls == 1 else 1 - p)
        if logits:
            got = ops.softmax(got, axis=-1)
        return ops.sum(got[:, cls])

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = score(tensor)
        return np.asarray(tape.gradient(value, tensor))
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: score(v))(x))
    import torch

    tensor = torch.tensor(x, requires_grad=True)
    score(tensor).backward()
    assert tensor.grad is not None
    return tensor.grad.detach().cpu().numpy()


def _token_weights(full: np.ndarray, without: np.ndarray, cls: int) -> list[float]:
    drops = full[cls] - without[:, cls]
    top = float(np.abs(drops).max()) if len(drops) else 0.0
    return [round(float(d / top), 4) if top > 0 else 0.0 for d in drops]


def _occlusion_ids(
    model: Any, x: np.ndarray, index: int, n_outputs: int, out: dict, vocabulary: list[str] | None
) -> dict[str, Any]:
    """Token ids (an Embedding's input): each shown as its vocabulary's token, or as #ID without one."""
    probs = _probabilities(model.predict(x, verbose=0), index, n_outputs, out)
    pred, verdicts = _verdicts(probs, out)
    items = []
    for i in range(len(x)):
        positions = np.nonzero(x[i])[0][:OCCLUDED_TOKENS]
        if not len(positions):  # all padding: nothing to leave out
            items.append({**verdicts[i], "tokens": []})
            continue
        variants = np.repeat(x[i : i + 1], len(positions), axis=0)
        variants[np.arange(len(positions)), positions] = 0
        without = _probabilities(model.predict(variants, verbose=0), index, n_outputs, out)
        weights = _token_weights(probs[i], without, int(pred[i])) if len(positions) else []
        tokens = [
            (vocabulary[t] if 0 <= t < len(vocabulary) else "[UNK]") if vocabulary else f"#{t}" for t in x[i][positions]
        ]
        items.append({**verdicts[i], "tokens": [[t, w] for t, w in zip(tokens, weights, strict=True)]})
    return {"method": _OCCLUSION, "kind": "text", "items": items}


def _occlusion_strings(model: Any, x: np.ndarray, index: int, n_outputs: int, out: dict) -> dict[str, Any]:
    import tensorflow as tf

    def predict(texts: list[str]) -> np.ndarray:
        data = tf.data.Dataset.from_tensor_slices((np.array(texts, dtype=object),)).batch(64)
        return _probabilities(model.predict(data, verbose=0), index, n_outputs, out)

    texts = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in x.ravel()]
    probs = predict(texts)
    pred, verdicts = _verdicts(probs, out)
    items = []
    for i, text in enumerate(texts):
        words = text.split()[:OCCLUDED_TOKENS]
        if not words:
            items.append({**verdicts[i], "tokens": []})
            continue
        without = predict([" ".join(words[:j] + words[j + 1 :]) for j in range(len(words))])
        items.append(
            {
                **verdicts[i],
                "tokens": [[w, s] for w, s in zip(words, _token_weights(probs[i], without, int(pred[i])), strict=True)],
            }
        )
    return {"method": _OCCLUSION, "kind": "text", "items": items}


_OCCLUSION = (
    "Occlusion: each token's weight is how much the predicted class's probability drops when that token alone "
    "is left out (replaced by padding), relative to the token that weighs most (red raises the prediction, "
    "blue lowers it)."
)


def analyse_run(run_dir: Any) -> Any:
    """analysis.json for a finished run that has none (one written before kspec wrote them): the model
    loaded on the run's backend and its test split reproduced, as `kspec evaluate` does. Returns its path."""
    from ..rundir import ANALYSIS, INTERFACE, read_json
    from ..train import artifacts
    from ..use.evaluate import EvaluateError, _split
    from ..use.interface import read
    from ..use.runs import load_model, open_run, start_keras

    run = open_run(run_dir)
    start_keras(run.backend, run.run_dir, "Analyse")
    split, _ = _split(run, None)
    if split is None or not len(split):
        raise EvaluateError(f"The run in '{run.run_dir}' has no test examples to analyse.", 2)
    described = read(run.run_dir)
    vocabularies = {
        i.name: described.vocabulary(i.name) for i in described.inputs if (i.preprocessing or {}).get("kind") == "text"
    }
    result = analyse(
        load_model(run),
        run.spec,
        split,
        read_json(run.run_dir / INTERFACE),
        vocabularies,
        batch_size=run.spec.training.batch_size,
    )
    target = run.run_dir / ANALYSIS
    artifacts.write_json(target, result)
    return target
