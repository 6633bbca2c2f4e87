"""The wide path's fits: one objective (L2 squared-hinge SVM per tag), a cold and a warm solver.

Objective, per tag j (s = 2y - 1, so soft targets in [0, 1] are allowed):

    ||w_j||^2 / 2 + b_j^2 / 2 + C * sum_i sw_i * max(0, 1 - s_ij * (x_i . w_j + b_j))^2

This is scikit-learn's LinearSVC (liblinear, intercept regularized as with intercept_scaling=1).
A first training fits it cold with liblinear, one tag at a time (fast from zero); an update
refits it warm-started from the current weights for all tags at once, full batch, with torch's
L-BFGS over a sparse design matrix (Reuters: 7.7k jobs x 32k columns x 90 tags in ~1 s). Both
reach the same optimum (checked against each other in tests/training/test_wide.py). Mini-batch
SGD is not used here: it drifts away from this optimum (Reuters: no gain from 1,500 corrections).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

log = logging.getLogger(__name__)

EMPTY_MARGIN = 1.0  # |margin| of a tag that has only negatives (or only positives) to learn from


def fit_wide(
    x: sp.csr_matrix,
    y: np.ndarray,
    C: float,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cold fit: (coef (n_features, T), intercept (T,)) float32 minimising the objective above.

    x: (n, n_features) csr; y: (n, T) bool. A tag without positives (or without negatives) gets
    zero weights and an intercept of -EMPTY_MARGIN (+EMPTY_MARGIN).
    """
    y = np.asarray(y, dtype=bool)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows, y {y.shape[0]}")
    coef = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
    intercept = np.full(y.shape[1], -EMPTY_MARGIN, dtype=np.float32)
    for j in range(y.shape[1]):
        pos = int(y[:, j].sum())
        if pos == len(y):
            intercept[j] = EMPTY_MARGIN
        if 0 < pos < len(y):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf = LinearSVC(C=C, max_iter=2000, random_state=0).fit(
                    x, y[:, j], sample_weight=sample_weight
                )
            coef[:, j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    return coef, intercept


def _sparse(x: sp.csr_matrix) -> torch.Tensor:
    coo = x.tocoo()
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    data = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(idx, data, x.shape, check_invariants=False)


def refit_wide(
    weight: torch.Tensor,
    bias: torch.Tensor,
    x: sp.csr_matrix,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    C: float = 1.0,
    max_iter: int = 60,
) -> float:
    """Warm refit: minimise the objective above from the current (weight, bias), in place.

    weight: (n_features, T) — the wide EmbeddingBag's table; bias: (T,); x: (n, n_features) csr;
    y: (n, T) in [0, 1]; sample_weight: (n,). Returns the final objective.
    """
    if x.shape[0] != y.shape[0] or weight.shape != (x.shape[1], y.shape[1]):
        raise ValueError(f"x {x.shape}, y {y.shape}, weight {tuple(weight.shape)} do not fit")
    cols = np.unique(x.indices)  # only columns that occur can move; the others keep their value
    xs = _sparse(x[:, cols].tocsr())
    w0 = weight.detach()[torch.from_numpy(cols)].clone().requires_grad_(True)
    b0 = bias.detach().clone().requires_grad_(True)
    s = torch.from_numpy(2 * np.asarray(y, dtype=np.float32) - 1)  # (n, T) in [-1, 1]
    sw = torch.from_numpy(
        np.ones(len(y), np.float32) if sample_weight is None else sample_weight.astype(np.float32)
    )[:, None]
    opt = torch.optim.LBFGS(
        [w0, b0], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe"
    )

    def objective() -> torch.Tensor:
        margins = torch.sparse.mm(xs, w0) + b0  # (n, T)
        hinge = torch.clamp(1 - s * margins, min=0).pow(2) * sw
        return C * hinge.sum() + 0.5 * (w0 * w0).sum() + 0.5 * (b0 * b0).sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = float(objective())
        weight[torch.from_numpy(cols)] = w0.detach()
        bias.copy_(b0.detach())
    log.debug("wide path refit on %d jobs, %d columns: objective %.2f", len(y), len(cols), final)
    return final
