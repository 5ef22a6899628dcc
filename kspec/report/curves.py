"""The numbers behind the report's classifier and regression charts, from scores and labels (NumPy only).

>>> roc = roc_curve(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0]))
>>> roc["auc"]
0.75
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The most points a curve keeps (the page draws every one); a history keeps up to HISTORY_POINTS epochs.
CURVE_POINTS = 200
HISTORY_POINTS = 500
SCATTER_POINTS = 1000


def decimate_indices(n: int, keep: int) -> np.ndarray:
    """At most `keep` indices of `n` points, evenly spread, the first and the last always kept."""
    if n <= keep:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, keep)).astype(np.int64))


def _r(values: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in values]


def _ranked(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at each distinct threshold, from the highest score down."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], positive[order].astype(np.float64)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last example of each distinct score
    tp = np.cumsum(y)[last]
    fp = (np.arange(1, len(s) + 1) - np.cumsum(y))[last]
    return tp, fp


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> dict[str, Any]:
    """False and true positive rates at every threshold (from (0, 0) to (1, 1)) and the area under them.
    A class with no positive or no negative example has no curve (None)."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive).astype(bool)
    p, n = int(positive.sum()), int((~positive).sum())
    if p == 0 or n == 0:
        return {"fpr": [], "tpr": [], "auc": None}
    tp, fp = _ranked(scores, positive)
    tpr, fpr = np.r_[0.0, tp / p], np.r_[0.0, fp / n]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    keep = decimate_indices(len(fpr), CURVE_POINTS)
    return {"fpr": _r(fpr[keep]), "tpr": _r(tpr[keep]), "auc": round(auc, 6)}


def pr_curve(scores: np.ndarray, positive: np.ndarray) -> dict[str, Any]:
    """Precision against recall at every threshold, with the average precision (the step-wise area, as
    scikit-learn's `average_precision_score` defines it). None without a positive example."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive).astype(bool)
    p = int(positive.sum())
    if p == 0:
        return {"recall": [], "precision": [], "ap": None}
    tp, fp = _ranked(scores, positive)
    precision, recall = tp / (tp + fp), tp / p
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    recall, precision = np.r_[0.0, recall], np.r_[precision[0], precision]
    keep = decimate_indices(len(recall), CURVE_POINTS)
    return {"recall": _r(recall[keep]), "precision": _r(precision[keep]), "ap": round(ap, 6)}


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """The reliability diagram: in each of `bins` equal-width bins of confidence, the mean confidence, the
    accuracy and the count (empty bins left out), and the expected calibration error (the count-weighted
    mean gap between the two)."""
    confidence = np.clip(np.asarray(confidence, np.float64), 0.0, 1.0)
    correct = np.asarray(correct).astype(np.float64)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    out: dict[str, list] = {"confidence": [], "accuracy": [], "count": []}
    ece = 0.0
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        if not count:
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        out["confidence"].append(round(conf, 5))
        out["accuracy"].append(round(acc, 5))
        out["count"].append(count)
        ece += count * abs(acc - conf)
    return {**out, "ece": round(ece / max(len(confidence), 1), 6)}


def regression(true: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Mean absolute error, root mean squared error, R², up to SCATTER_POINTS (true, predicted) pairs sorted
    by the true value, and a histogram of the residuals (predicted minus true)."""
    true, pred = np.asarray(true, np.float64).ravel(), np.asarray(pred, np.float64).ravel()
    residual = pred - true
    variance = float(np.sum((true - true.mean()) ** 2)) if len(true) else 0.0
    r2 = 1.0 - float(np.sum(residual**2)) / variance if variance > 0 else None
    order = np.argsort(true, kind="mergesort")
    keep = order[decimate_indices(len(order), SCATTER_POINTS)]
    counts, edges = np.histogram(residual, bins=min(30, max(len(true), 1))) if len(true) else (np.zeros(0), np.zeros(0))
    return {
        "true": _r(true[keep]),
        "pred": _r(pred[keep]),
        "mae": round(float(np.abs(residual).mean()), 6) if len(true) else None,
        "rmse": round(float(np.sqrt((residual**2).mean())), 6) if len(true) else None,
        "r2": None if r2 is None else round(r2, 6),
        "residual_hist": {"edges": _r(np.asarray(edges)), "counts": [int(c) for c in counts]},
    }
