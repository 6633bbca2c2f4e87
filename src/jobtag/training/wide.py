"""The wide path's fits: one objective (L2 squared-hinge SVM per tag), a cold and a warm solver.

Objective, per tag j (s = 2y - 1, so soft targets in [0, 1] are allowed):

    ||w_j||^2 / 2 + b_j^2 / 2 + C * sum_i sw_i * max(0, 1 - s_ij * (x_i . w_j + b_j))^2

This is scikit-learn's LinearSVC (liblinear, intercept regularized as with intercept_scaling=1).
A first training fits it cold with liblinear, one tag at a time (fast from zero); an update
refits it warm-started from the current weights for all tags at once, full batch, with
torch's L-BFGS fed the closed-form gradient (scipy's sparse products: autograd through torch's
sparse products took most of an update's time). Both
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
    y: (n, T) in [0, 1]; sample_weight: (n,). Returns the final objective. torch's L-BFGS is fed
    the closed-form gradient (2 C X^T (sw * s * -hinge) + w) computed with scipy's sparse products.
    """
    if x.shape[0] != y.shape[0] or weight.shape != (x.shape[1], y.shape[1]):
        raise ValueError(f"x {x.shape}, y {y.shape}, weight {tuple(weight.shape)} do not fit")
    cols = np.unique(x.indices)  # only columns that occur can move; the others keep their value
    xs = sp.csr_matrix(x[:, cols], dtype=np.float32)
    xt = xs.T.tocsr()
    s = 2 * np.asarray(y, dtype=np.float32) - 1  # (n, T) in [-1, 1]
    sw = np.ones(len(y), np.float32) if sample_weight is None else sample_weight.astype(np.float32)
    w0 = weight.detach()[torch.from_numpy(cols)].clone().float()
    b0 = bias.detach().clone().float()
    w0.requires_grad_(True)
    b0.requires_grad_(True)
    opt = torch.optim.LBFGS(
        [w0, b0], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        w, b = w0.detach().numpy(), b0.detach().numpy()
        hinge = np.maximum(0.0, 1.0 - s * (xs @ w + b))  # (n, T)
        loss = C * float((sw[:, None] * hinge * hinge).sum())
        loss += 0.5 * float((w * w).sum() + (b * b).sum())
        g = (-2.0 * C) * sw[:, None] * s * hinge  # d loss / d margins
        w0.grad = torch.from_numpy(np.asarray(xt @ g, dtype=np.float32) + w)
        b0.grad = torch.from_numpy((g.sum(0) + b).astype(np.float32))
        return torch.tensor(loss)

    opt.step(closure)
    final = float(closure())
    with torch.no_grad():
        weight[torch.from_numpy(cols)] = w0.detach().to(weight.dtype)
        bias.copy_(b0.detach().to(bias.dtype))
    log.debug("wide path refit on %d jobs, %d columns: objective %.2f", len(y), len(cols), final)
    return final
