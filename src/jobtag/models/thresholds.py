"""Decision thresholds: the F1-optimal cut per tag on validation scores, else a global cut."""

from __future__ import annotations

import numpy as np


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximizing F1 of `scores >= threshold` against bool `truth` (1-D).

    Cuts lie midway between consecutive distinct sorted scores; with no positive the threshold
    is just above the top score (predict nothing) and F1 is 0.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    truth = np.asarray(truth, dtype=bool).ravel()
    n_pos = int(truth.sum())
    if scores.size == 0:
        return 0.5, 0.0
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order]
    if n_pos == 0:
        return float(min(1.0, s[0] + 1e-6)), 0.0
    tp = np.cumsum(t)
    k = np.arange(1, len(s) + 1)
    # only cut where the next score differs (ties are decided together)
    last = np.r_[s[1:] != s[:-1], True]
    f1 = np.where(last, 2 * tp / (k + n_pos), -1.0)
    i = int(np.argmax(f1))
    thr = (s[i] + s[i + 1]) / 2 if i + 1 < len(s) else s[i] - 1e-6
    return float(thr), float(f1[i])


def calibrate_thresholds(
    scores: np.ndarray,
    truth: np.ndarray,
    min_positives: int = 3,
    shrink: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Per-tag thresholds (T,) and the global (micro-F1-optimal) one.

    Tags with fewer than `min_positives` positives in `truth` get the global threshold; with
    `shrink` > 0 a tag with p positives gets (p * own + shrink * global) / (p + shrink).
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    glob, _ = best_threshold(scores.ravel(), truth.ravel())
    out = np.full(scores.shape[1], glob, dtype=np.float64)
    for j in range(scores.shape[1]):
        p = int(truth[:, j].sum())
        if p >= max(1, min_positives):
            own, _ = best_threshold(scores[:, j], truth[:, j])
            out[j] = (p * own + shrink * glob) / (p + shrink) if shrink > 0 else own
    return out.astype(np.float32), float(glob)
