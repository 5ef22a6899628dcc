"""Deterministic page data for the report's page (kspec.report.page.render), shaped as the data contract
(/work/notes/report_contract.md, kspec/report/collect.py) says, with hostile strings in it.

`sample_data()` is what the browser tests (tests/test_report_page.py) render; it holds a class named
`<script>alert(1)</script>`, a spec text with `</script>` in it, mistakes of each example kind (image, text,
row), a classifier and a regression output, an image and a text explanation (the first run explains images,
the second texts), events of every kind, nested groups in the graph and a shared layer.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

HOSTILE = "<script>alert(1)</script>"
CLASS_NAMES = ["zero", "one", HOSTILE, "three"]
EVENT_KINDS = ["lr", "early_stop", "checkpoint", "prune", "resume", "nan"]
SPEC_TEXT = """\
# kspec spec: digits_cnn
name: digits_cnn
note: "a comment that tries to close the script: </script><b>bold</b>"
inputs:
  image: {shape: [8, 8, 1]}
layers:
  - Conv2D: {filters: 16, kernel_size: 3}
  - use: conv_block
    repeat: 2
  - Dense: {units: 4, activation: softmax, name: digit}
train:
  epochs: 12
  seed: 7
"""


def png_data_url(pixels: np.ndarray) -> str:
    """A `data:image/png;base64,...` URL of a uint8 array (H, W) or (H, W, 3)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _highlight(text: str) -> str:
    """Escaped spec text with comments and keys in spans (as the collector's highlighter writes it)."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            lines.append(f'<span class="c">{html.escape(line)}</span>')
            continue
        key, sep, rest = line.partition(":")
        if sep:
            lines.append(f'<span class="k">{html.escape(key)}</span>:<span class="s">{html.escape(rest)}</span>')
        else:
            lines.append(html.escape(line))
    return "\n".join(lines)


def _graph(big: bool) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "image", "type": "Input", "shape": "(None, 8, 8, 1)", "params": 0, "role": "input"},
        {"id": "conv", "type": "Conv2D", "shape": "(None, 6, 6, 16)", "params": 160, "role": "layer"},
    ]
    groups: dict[str, Any] = {}
    for block in range(4 if big else 2):
        prefix = f"block{block}"
        inner = f"{prefix}/inner"
        groups[prefix] = {"block": "conv_block", "parent": None, "nodes": 0}
        groups[inner] = {"block": "norm_block", "parent": prefix, "nodes": 0}
        names = [("conv_a", "Conv2D", [prefix]), ("bn", "BatchNormalization", [prefix, inner])]
        names += [("relu", "ReLU", [prefix, inner])]
        names += [(f"extra{i}", "Conv2D", [prefix]) for i in range(14 if big else 0)]
        for name, kind, prefixes in names:
            node_id = f"{prefix}/{name}"
            nodes.append({"id": node_id, "type": kind, "shape": "(None, 6, 6, 16)", "params": 64, "role": "layer"})
            nodes[-1]["groups"] = prefixes
            for group in prefixes:
                groups[group]["nodes"] += 1
    nodes += [
        {"id": "flatten", "type": "Flatten", "shape": "(None, 576)", "params": 0, "role": "layer"},
        {"id": "dense_a", "type": "Dense", "shape": "(None, 32)", "params": 18464, "role": "layer"},
        {"id": "dense_b", "type": "Dense", "shape": "(None, 32)", "params": 0, "role": "layer", "shares": "dense_a"},
        {"id": "digit", "type": "Dense", "shape": "(None, 4)", "params": 132, "role": "output"},
        {"id": "value", "type": "Dense", "shape": "(None, 1)", "params": 33, "role": "output"},
    ]
    for node in nodes:
        node.setdefault("shares", None)
        node.setdefault("groups", [])
    ids = [node["id"] for node in nodes]
    edges = [[a, b] for a, b in zip(ids[: ids.index("dense_a") + 1], ids[1 : ids.index("dense_a") + 1])]
    edges += [["flatten", "dense_b"], ["dense_a", "digit"], ["dense_b", "value"]]
    collapsed = [prefix for prefix, group in groups.items() if group["parent"] is None] if big else []
    return {"nodes": nodes, "edges": edges, "groups": groups, "collapsed": collapsed}


def _classifier(rng: np.random.Generator, examples: int) -> dict[str, Any]:
    k = len(CLASS_NAMES)
    true = rng.integers(0, k, examples)
    pred = np.where(rng.random(examples) < 0.8, true, rng.integers(0, k, examples))
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (true, pred), 1)
    per_class, curves = [], []
    for c, name in enumerate(CLASS_NAMES):
        tp = matrix[c, c]
        precision = tp / max(matrix[:, c].sum(), 1)
        recall = tp / max(matrix[c].sum(), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        per_class.append(
            {"class": name, "precision": precision, "recall": recall, "f1": f1, "support": int(matrix[c].sum())}
        )
        steps = np.linspace(0, 1, 40)
        curves.append(
            {
                "class": name,
                "pr": {"recall": steps.tolist(), "precision": (1 - 0.3 * steps ** (2 + c)).tolist()},
                "ap": 0.9 - 0.05 * c,
                "roc": {"fpr": steps.tolist(), "tpr": (steps ** (0.2 + 0.1 * c)).tolist()},
                "auc": 0.95 - 0.03 * c,
            }
        )
    bins = np.linspace(0.35, 0.95, 7)
    gray = (rng.random((8, 8)) * 255).astype(np.uint8)
    mistakes = [
        {"index": 17, "true": HOSTILE, "pred": "one", "confidence": 0.97, "example": {"kind": "image", "src": png_data_url(gray)}},
        {"index": 3, "true": "zero", "pred": HOSTILE, "confidence": 0.91, "example": {"kind": "text", "text": "a text with <b>markup</b> & </script> in it"}},
        {"index": 42, "true": "three", "pred": "zero", "confidence": 0.88, "example": {"kind": "row", "fields": [["age", "41"], ["city", "<i>Paris</i>"]]}},
    ]  # fmt: skip
    return {
        "name": "digit",
        "kind": "classification",
        "binary": False,
        "class_names": CLASS_NAMES,
        "accuracy": float(np.trace(matrix) / examples),
        "macro_f1": float(np.mean([row["f1"] for row in per_class])),
        "per_class": [{key: (float(v) if key in ("precision", "recall", "f1") else v) for key, v in row.items()} for row in per_class],
        "confusion_matrix": matrix.tolist(),
        "confusion_max": int(matrix.max()),
        "curves": curves,
        "calibration": {
            "confidence": bins.tolist(),
            "accuracy": np.clip(bins - 0.05 + 0.05 * rng.random(7), 0, 1).tolist(),
            "count": rng.integers(5, 80, 7).tolist(),
            "ece": 0.042,
        },
        "mistakes": mistakes,
    }  # fmt: skip


def _regression(rng: np.random.Generator, examples: int) -> dict[str, Any]:
    true = rng.normal(0, 2, min(examples, 1000))
    pred = true + rng.normal(0, 0.5, true.size)
    residual = pred - true
    counts, edges = np.histogram(residual, bins=20)
    return {
        "name": "value",
        "kind": "regression",
        "true": true.round(4).tolist(),
        "pred": pred.round(4).tolist(),
        "mae": float(np.abs(residual).mean()),
        "rmse": float(np.sqrt((residual**2).mean())),
        "r2": float(1 - (residual**2).sum() / ((true - true.mean()) ** 2).sum()),
        "residual_hist": {"edges": edges.round(4).tolist(), "counts": counts.tolist()},
    }


def _explanation(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    if kind == "image":
        items = []
        for i in range(3):
            image = (rng.random((16, 16)) * 255).astype(np.uint8)
            heat = np.zeros((16, 16, 3), dtype=np.uint8)
            heat[..., 0] = (rng.random((16, 16)) * 255).astype(np.uint8)
            items.append({"true": CLASS_NAMES[i], "pred": CLASS_NAMES[i], "confidence": 0.9 - 0.1 * i,
                          "image": png_data_url(image), "saliency": png_data_url(heat)})  # fmt: skip
        method = "Integrated gradients (32 steps from a black image): red pixels pushed toward the prediction."
        return {"method": method, "kind": "image", "items": items}
    words = ["the", "movie", "was", "<b>great</b>", "not", "boring", HOSTILE]
    items = [
        {"true": "one", "pred": "one", "confidence": 0.8,
         "tokens": [[word, float(w)] for word, w in zip(words, np.linspace(-1, 1, len(words)))]}
    ]  # fmt: skip
    return {"method": "Gradient times input over the token embeddings.", "kind": "text", "items": items}


def _run(index: int, epochs: int, examples: int, big_graph: bool, analysis: bool) -> dict[str, Any]:
    rng = np.random.default_rng(index)
    epoch = list(range(1, epochs + 1))
    t = np.arange(1, epochs + 1)
    loss = 1.5 * np.exp(-t / (4 + index)) + 0.1
    accuracy = 1 - 0.7 * np.exp(-t / (3 + index))
    history = {
        "epoch": epoch,
        "loss": loss.round(5).tolist(),
        "val_loss": (loss + 0.05 + 0.02 * rng.random(epochs)).round(5).tolist(),
        "accuracy": accuracy.round(5).tolist(),
        "val_accuracy": (accuracy - 0.03).round(5).tolist(),
    }
    history["val_loss"][min(2, epochs - 1)] = None  # a missing value (a NaN epoch)
    events = [
        {"epoch": max(1, round(epochs * (i + 1) / (len(EVENT_KINDS) + 1))), "kind": kind, "text": f"{kind} <event>"}
        for i, kind in enumerate(EVENT_KINDS)
    ]
    graph = _graph(big_graph)
    layers = [
        {"name": n["id"], "type": n["type"], "shape": n["shape"], "params": n["params"], "trainable": 1, "shares": n["shares"]}
        for n in graph["nodes"]
    ]  # fmt: skip
    total = sum(layer["params"] for layer in layers)
    label = f"digits_cnn_{index}" if index else "digits_cnn"
    spec_text = SPEC_TEXT.replace("seed: 7", f"seed: {7 + index}")
    run: dict[str, Any] = {
        "id": f"run{index}",
        "label": label,
        "dir": f"/tmp/runs/{label}",
        "info": [
            ["spec", "digits_cnn <v1>"],
            ["spec hash", f"{index:08x}"],
            ["status", "complete"],
            ["backend", "tensorflow"],
            ["seed", str(7 + index)],
            ["epochs", str(epochs)],
        ],  # fmt: skip
        "status": "complete",
        "spec_text": spec_text,
        "spec_html": _highlight(spec_text),
        "graph": graph,
        "layers": layers,
        "totals": {"params": total, "trainable": total - 64, "non_trainable": 64, "layers": len(layers)},
        "history": history,
        "panels": [
            {"metric": "loss", "series": ["loss", "val_loss"]},
            {"metric": "accuracy", "series": ["accuracy", "val_accuracy"]},
        ],  # fmt: skip
        "events": events,
        "final": [["loss", f"{loss[-1]:.4f}"], ["test_accuracy", f"{accuracy[-1]:.4f}"]],
        "analysis": None,
        "analysis_note": "no held-out test split",
    }
    if analysis:
        run["analysis"] = {
            "examples": examples,
            "of": examples,
            "data": f"the run's test split ({examples} examples)",
            "outputs": [_classifier(rng, examples), _regression(rng, examples)],
            "explanation": _explanation(rng, "image" if index % 2 == 0 else "text"),
        }
        run["analysis_note"] = None
    return run


def _comparison(runs: list[dict[str, Any]]) -> dict[str, Any]:
    labels = [run["label"] for run in runs]
    metrics = [[name, [dict(run["final"])[name] for run in runs]] for name in ("loss", "test_accuracy")]
    curves = [
        {"metric": metric, "epochs": runs[0]["history"]["epoch"],
         "series": {run["label"]: run["history"][metric] for run in runs}}
        for metric in ("val_loss", "val_accuracy")
    ]  # fmt: skip
    diffs, parts = [], []
    for run in runs[1:]:
        lines = [
            ["@", "@ -12,1 +12,1 @@"],
            ["-", "  seed: 7"],
            ["+", f"  seed: {run['info'][4][1]}"],
            [" ", "</script>"],
        ]
        diffs.append({"a": labels[0], "b": run["label"], "lines": lines})
        classes = {"@": "hunk", "-": "del", "+": "add", " ": "ctx"}
        parts.append(f"--- {html.escape(labels[0])}\n+++ {html.escape(run['label'])}")
        parts += [f'<span class="{classes[k]}">{html.escape(k + text)}</span>' for k, text in lines]
    return {"runs": labels, "metrics": metrics, "curves": curves, "diff_html": "\n".join(parts), "diffs": diffs}


def _study(rng: np.random.Generator, trials: int = 12) -> dict[str, Any]:
    rows = []
    for number in range(trials):
        failed = number == 4
        rows.append({
            "number": number,
            "state": "FAIL" if failed else "COMPLETE",
            "value": None if failed else float(0.7 + 0.25 * rng.random()),
            "seconds": None if failed else float(10 + 5 * rng.random()),
            "params": {"units": str(int(rng.integers(8, 128))), "lr": f"{10 ** rng.uniform(-4, -2):.2e}"},
            "note": "<nan loss>" if failed else "",
        })  # fmt: skip
    values = [(row["value"], row["number"]) for row in rows if row["value"] is not None]
    return {
        "dir": "/tmp/studies/digits <study>",
        "name": "digits <study>",
        "metric": "val_accuracy",
        "direction": "maximize",
        "trials": rows,
        "param_names": ["units", "lr"],
        "best": max(values)[1],
        "importances": [["lr", 0.71], ["units", 0.29]],
    }


def sample_data(
    runs: int = 1,
    epochs: int = 12,
    examples: int = 360,
    study: bool = False,
    big_graph: bool = False,
    analysis: bool = True,
) -> dict[str, Any]:
    """Page data for `runs` runs (0..n) of `epochs` epochs, analysed on `examples` test examples, with a study
    when `study`; `big_graph` gives the graph more than 60 nodes (its top-level groups start collapsed)."""
    items = [_run(i, epochs, examples, big_graph, analysis) for i in range(runs)]
    title = "kspec report: " + (items[0]["label"] if runs == 1 else f"{runs} runs" if runs else "study <digits>")
    return {
        "title": title,
        "generated": "2026-12-06 13:10 UTC",
        "kspec_version": "0.1.0",
        "runs": items,
        "comparison": _comparison(items) if runs >= 2 else None,
        "study": _study(np.random.default_rng(99)) if study else None,
    }
