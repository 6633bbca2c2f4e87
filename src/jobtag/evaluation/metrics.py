"""Multi-label metrics (micro/macro/samples F1, P@1, Hamming loss, ...) and per-tag tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _f1(tp: np.ndarray | float, fp: np.ndarray | float, fn: np.ndarray | float) -> Any:
    tp, fp, fn = np.asarray(tp, float), np.asarray(fp, float), np.asarray(fn, float)
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)


def _check(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None) -> None:
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal 2-D shapes"
        )
    if scores is not None and scores.shape != y_true.shape:
        raise ValueError(f"scores {scores.shape} must have the shape of y_true {y_true.shape}")


def per_tag_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, tag_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One row per tag: tag, precision, recall, f1, support (true count), predicted count."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    _check(y_true, y_pred, None)
    tp = (y_true & y_pred).sum(0)
    fp = (~y_true & y_pred).sum(0)
    fn = (y_true & ~y_pred).sum(0)
    prec = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=(tp + fp) > 0)
    rec = np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=(tp + fn) > 0)
    f1 = _f1(tp, fp, fn)
    names = list(tag_names) if tag_names is not None else [str(i) for i in range(y_true.shape[1])]
    return [
        {
            "tag": names[j],
            "precision": float(prec[j]),
            "recall": float(rec[j]),
            "f1": float(f1[j]),
            "support": int(tp[j] + fn[j]),
            "predicted": int(tp[j] + fp[j]),
        }
        for j in range(y_true.shape[1])
    ]


def multilabel_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    scores: np.ndarray | None = None,
    tag_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics of bool (n, T) decisions against bool (n, T) truth; `scores` enables P@1.

    macro_f1 averages per-tag F1 over the tags that occur in y_true; samples_f1 averages per-job F1
    (a job with no true and no predicted tag counts as 1); binary_accuracy is the share of all
    (job, tag) cells decided right (dominated by the easy negatives, hence misleading).
    With `tag_names`, a "per_tag" list is added.
    """
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    _check(y_true, y_pred, scores)
    n, t = y_true.shape
    tp = int((y_true & y_pred).sum())
    fp = int((~y_true & y_pred).sum())
    fn = int((y_true & ~y_pred).sum())
    per_tp = (y_true & y_pred).sum(0)
    per_fp = (~y_true & y_pred).sum(0)
    per_fn = (y_true & ~y_pred).sum(0)
    present = y_true.any(0)
    tag_f1 = _f1(per_tp, per_fp, per_fn)
    row_tp = (y_true & y_pred).sum(1)
    row_den = y_true.sum(1) + y_pred.sum(1)
    row_f1 = np.divide(2 * row_tp, row_den, out=np.ones(n), where=row_den > 0)
    out: dict[str, Any] = {
        "n_jobs": n,
        "n_tags": t,
        "n_tags_present": int(present.sum()),
        "micro_f1": float(_f1(tp, fp, fn)),
        "macro_f1": float(tag_f1[present].mean()) if present.any() else 0.0,
        "samples_f1": float(row_f1.mean()) if n else 0.0,
        "precision_micro": tp / (tp + fp) if tp + fp else 0.0,
        "recall_micro": tp / (tp + fn) if tp + fn else 0.0,
        "p_at_1": None,
        "hamming_loss": float((y_true != y_pred).mean()) if y_true.size else 0.0,
        "subset_accuracy": float((y_true == y_pred).all(1).mean()) if n else 0.0,
        "binary_accuracy": float((y_true == y_pred).mean()) if y_true.size else 0.0,
    }
    if scores is not None and n and t:
        has = y_true.any(1)
        top = np.asarray(scores).argmax(1)
        hit = y_true[np.arange(n), top]
        out["p_at_1"] = float(hit[has].mean()) if has.any() else 0.0
    if tag_names is not None:
        out["per_tag"] = per_tag_metrics(y_true, y_pred, tag_names)
    return out
