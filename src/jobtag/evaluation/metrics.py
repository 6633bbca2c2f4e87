"""Multi-label metrics (scikit-learn's F1, precision, recall, Hamming loss, subset accuracy; P@1) and per-tag tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm


def _as_multilabel(y: np.ndarray) -> np.ndarray:
    """sklearn reads a one-column indicator as a binary target: add a column no job has."""
    return np.hstack([y, np.zeros((len(y), 1), dtype=bool)]) if y.shape[1] == 1 else y


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
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        _as_multilabel(y_true), _as_multilabel(y_pred), average=None, zero_division=0
    )
    predicted = y_pred.sum(0)
    names = list(tag_names) if tag_names is not None else [str(i) for i in range(y_true.shape[1])]
    return [
        {
            "tag": names[j],
            "precision": float(prec[j]),
            "recall": float(rec[j]),
            "f1": float(f1[j]),
            "support": int(support[j]),
            "predicted": int(predicted[j]),
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
    present = np.flatnonzero(y_true.any(0))
    empty = n == 0 or t == 0
    hamming = float((y_true != y_pred).mean()) if y_true.size else 0.0
    given = y_true, y_pred
    y_true, y_pred = _as_multilabel(y_true), _as_multilabel(y_pred)

    def score(fn: Any, **kw: Any) -> float:
        return 0.0 if empty else float(fn(y_true, y_pred, **{"zero_division": 0, **kw}))

    out: dict[str, Any] = {
        "n_jobs": n,
        "n_tags": t,
        "n_tags_present": len(present),
        "micro_f1": score(skm.f1_score, average="micro"),
        "macro_f1": score(skm.f1_score, average="macro", labels=present) if len(present) else 0.0,
        # a job with no true and no predicted tag counts as 1
        "samples_f1": score(skm.f1_score, average="samples", zero_division=1.0) if n else 0.0,
        "precision_micro": score(skm.precision_score, average="micro"),
        "recall_micro": score(skm.recall_score, average="micro"),
        "p_at_1": None,
        "hamming_loss": hamming,
        "subset_accuracy": 0.0 if empty else float(skm.accuracy_score(y_true, y_pred)),
        "binary_accuracy": 1.0 - hamming if not empty else 0.0,
    }
    if scores is not None and n and t:
        has = y_true.any(1)
        top = np.asarray(scores).argmax(1)
        hit = y_true[np.arange(n), top]
        out["p_at_1"] = float(hit[has].mean()) if has.any() else 0.0
    if tag_names is not None:
        out["per_tag"] = per_tag_metrics(*given, tag_names)
    return out


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The micro- and macro-F1 of a metrics dict (what the update history records), as floats."""
    return {k: float(metrics[k]) for k in ("micro_f1", "macro_f1") if k in metrics}
