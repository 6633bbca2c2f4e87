"""The wide path's fits: one objective (L2 squared-hinge SVM per tag), a cold and a warm solver.

Objective, per tag j (s = 2y - 1, so soft targets in [0, 1] are allowed):

    ||w_j||^2 / 2 + b_j^2 / 2 + C * sum_i sw_i * max(0, 1 - s_ij * (x_i . w_j + b_j))^2

This is scikit-learn's LinearSVC (liblinear, intercept regularized as with intercept_scaling=1).
A first training fits it cold with liblinear, one tag at a time (fast from zero); an update
refits it warm-started from the current weights with a finite Newton method (Keerthi & DeCoste
2005, as in liblinear's primal solver): per step, conjugate gradients on the generalized Hessian
over the rows inside the margin, then an exact line search. All tags are solved side by side
(vectorized), and a tag leaves the solve once its gradient norm is <= `tol`. The objective is
1-strongly convex, so that stop guarantees ||(w_j, b_j) - optimum|| <= tol: with the bag's rows
of unit norm, every margin is within tol * sqrt(2) of the exact optimum's. After a small update
most tags are there after one or two steps. Both solvers reach the same optimum (checked against
each other in tests/training/test_wide.py). Mini-batch SGD is not used here: it drifts away from
this optimum (Reuters: no gain from 1,500 corrections); the warm L-BFGS used before stopped
after a fixed number of iterations, far from it (margins off by up to 3 on Reuters).
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
REFIT_TOL = 0.01  # a tag's warm refit stops at this gradient norm (= its distance to the optimum)
CG_FORCING = 0.1  # each Newton step's CG stops at this fraction of the gradient norm
CG_MAX = 100  # ... or after this many iterations (its direction still descends)


def fit_wide(
    x: sp.csr_matrix,
    y: np.ndarray,
    C: float,
    sample_weight: np.ndarray | None = None,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cold fit: (coef (n_features, T), intercept (T,)) float32 minimising the objective above.

    x: (n, n_features) csr; y: (n, T) bool. A tag without positives (or without negatives) gets
    zero weights and an intercept of -EMPTY_MARGIN (+EMPTY_MARGIN). `extra` (n, T): tag j's SVM
    reads one more column, extra[:, j], whose weight is coef's last row (n_features + 1 rows).
    """
    y = np.asarray(y, dtype=bool)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows, y {y.shape[0]}")
    last = None
    if extra is not None:  # one column more, its values set per tag below
        x = sp.hstack([x, np.ones((x.shape[0], 1), np.float32)], format="csr", dtype=np.float32)
        last = x.indptr[1:] - 1  # each row's entry in the last column
    # liblinear's input as LinearSVC wants it (float64, sorted indices), made once here and not
    # once per tag (that copy was 13% of the fits' time on Reuters)
    x = sp.csr_matrix(x, dtype=np.float64, copy=x.dtype == np.float64)
    x.sort_indices()
    coef = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
    intercept = np.full(y.shape[1], -EMPTY_MARGIN, dtype=np.float32)
    for j in range(y.shape[1]):
        pos = int(y[:, j].sum())
        if pos == len(y):
            intercept[j] = EMPTY_MARGIN
        if 0 < pos < len(y):
            if last is not None:
                x.data[last] = extra[:, j]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf = LinearSVC(C=C, max_iter=2000, random_state=0).fit(
                    x, y[:, j], sample_weight=sample_weight
                )
            coef[:, j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    return coef, intercept


def _sq(a: np.ndarray) -> np.ndarray:
    """Per-column sums of squares, in float64."""
    return np.einsum("ij,ij->j", a, a, dtype=np.float64)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column dot products, in float64."""
    return np.einsum("ij,ij->j", a, b, dtype=np.float64)


class _Problem:
    """The objective's data for the columns that occur: x (csr), x^T, s = 2y - 1, sample weights."""

    def __init__(
        self, x: sp.csr_matrix, y: np.ndarray, sw: np.ndarray, C: float, offset: np.ndarray | float
    ) -> None:
        self.x, self.xt = x, x.T.tocsr()
        self.s = 2 * np.asarray(y, dtype=np.float32) - 1  # (n, T) in [-1, 1]
        self.sw, self.C = sw, float(C)
        self.offset = offset  # (n, T) margins of the columns held fixed (or 0)

    def gradient(
        self, w: np.ndarray, b: np.ndarray, m: np.ndarray, tags: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(d loss/d w, d loss/d b, hinge) for `tags`, given their margins m (n, len(tags))."""
        s = self.s[:, tags]
        hinge = np.maximum(0.0, 1.0 - s * m)
        g = (-2.0 * self.C) * self.sw[:, None] * s * hinge  # d loss / d margins
        return np.asarray(self.xt @ g) + w, g.sum(0) + b, hinge

    def newton_direction(
        self, gw: np.ndarray, gb: np.ndarray, gnorm: np.ndarray, hinge: np.ndarray, tags: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """CG on (I + 2C X~^T D X~) d = -g per tag (X~ = [x, 1], D = sw s^2 on rows in the margin)."""
        s = self.s[:, tags]
        dd = (2.0 * self.C) * (self.sw[:, None] * s * s) * (hinge > 0)
        rows = np.flatnonzero(dd.any(1))  # rows outside every margin add nothing to the Hessian
        x, dd = self.x[rows], dd[rows]
        xt = x.T.tocsr()
        dw, db = np.zeros_like(gw), np.zeros_like(gb)
        rw, rb = -gw, -gb
        pw, pb = rw.copy(), rb.copy()
        rr = _sq(rw) + rb.astype(np.float64) ** 2
        on = np.ones(len(tags), bool)
        for _ in range(CG_MAX):
            z = dd * (np.asarray(x @ pw) + pb)
            qw, qb = np.asarray(xt @ z) + pw, z.sum(0) + pb
            alpha = np.where(on, rr / np.maximum(_dot(pw, qw) + pb * qb, 1e-30), 0.0)
            alpha = alpha.astype(np.float32)
            dw += alpha * pw
            db += alpha * pb
            rw -= alpha * qw
            rb -= alpha * qb
            rr_new = _sq(rw) + rb.astype(np.float64) ** 2
            on &= np.sqrt(rr_new) > CG_FORCING * gnorm
            if not on.any():
                break
            beta = np.where(on, rr_new / np.maximum(rr, 1e-30), 0.0).astype(np.float32)
            pw = rw + beta * pw
            pb = rb + beta * pb
            rr = rr_new
        return dw, db

    def line_search(
        self,
        w: np.ndarray,
        b: np.ndarray,
        m: np.ndarray,
        dw: np.ndarray,
        db: np.ndarray,
        q: np.ndarray,
        tags: np.ndarray,
    ) -> np.ndarray:
        """Exact step per tag along (dw, db): the root of the objective's derivative, which is
        piecewise linear and increasing in the step (Newton's method on it ends in a few steps);
        q = X~ (dw, db) (n, len(tags))."""
        s = self.s[:, tags]
        sq = s * q
        wd = _dot(w, dw) + b.astype(np.float64) * db
        dd = _sq(dw) + db.astype(np.float64) ** 2
        base = 1.0 - s * m
        t = np.ones(len(tags))
        lo, hi = np.zeros(len(tags)), np.full(len(tags), np.inf)  # derivative < 0 at lo, > 0 at hi
        for _ in range(50):
            r = base - t.astype(np.float32) * sq
            inside = r > 0
            d1 = wd + t * dd - (2.0 * self.C) * _dot(self.sw[:, None] * sq, np.where(inside, r, 0))
            d2 = dd + (2.0 * self.C) * _dot(self.sw[:, None] * sq, np.where(inside, sq, 0))
            lo = np.where(d1 < 0, t, lo)
            hi = np.where(d1 > 0, t, hi)
            nxt = t - d1 / np.maximum(d2, 1e-30)
            bisect = np.isfinite(hi) & ((nxt <= lo) | (nxt >= hi))  # safeguard: stay in the bracket
            nxt = np.where(bisect, (lo + hi) / 2, nxt)
            done = np.abs(nxt - t) <= 1e-6 * np.maximum(np.abs(t), 1.0)
            t = nxt
            if done.all():
                break
        return t.astype(np.float32)

    def objective(self, w: np.ndarray, b: np.ndarray) -> float:
        hinge = np.maximum(0.0, 1.0 - self.s * (np.asarray(self.x @ w) + b + self.offset))
        loss = self.C * float(_dot(self.sw[:, None] * hinge, hinge).sum())
        return loss + 0.5 * float(_sq(w).sum() + float(np.square(b, dtype=np.float64).sum()))


def refit_wide(
    weight: torch.Tensor,
    bias: torch.Tensor,
    x: sp.csr_matrix,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    C: float = 1.0,
    max_iter: int = 30,
    tol: float = REFIT_TOL,
    frozen_from: int | None = None,
) -> float:
    """Warm refit: minimise the objective above from the current (weight, bias), in place.

    weight: (n_features, T) — the wide EmbeddingBag's table; bias: (T,); x: (n, n_features) csr;
    y: (n, T) in [0, 1]; sample_weight: (n,). At most `max_iter` Newton steps; a tag stops once
    its gradient norm is <= tol. Returns the final objective (summed over tags). Columns from
    `frozen_from` on keep their weights (their margins count, as a fixed offset).
    """
    if x.shape[0] != y.shape[0] or weight.shape != (x.shape[1], y.shape[1]):
        raise ValueError(f"x {x.shape}, y {y.shape}, weight {tuple(weight.shape)} do not fit")
    x = sp.csr_matrix(x)
    cols = np.unique(x.indices)  # only columns that occur can move; the others keep their value
    offset: np.ndarray | float = 0.0
    if frozen_from is not None:
        fixed = weight.detach()[frozen_from:].numpy().astype(np.float32)
        offset = np.asarray(x[:, frozen_from:] @ fixed, np.float32)
        cols = cols[cols < frozen_from]
    sw = np.ones(len(y), np.float32) if sample_weight is None else sample_weight
    xc = sp.csr_matrix(x[:, cols], dtype=np.float32)
    prob = _Problem(xc, y, sw.astype(np.float32), C, offset)
    w = weight.detach()[torch.from_numpy(cols)].numpy().astype(np.float32, copy=True)
    b = bias.detach().numpy().astype(np.float32, copy=True)
    margins = np.asarray(prob.x @ w) + b + offset  # (n, T), kept up to date step by step
    tags = np.arange(y.shape[1])
    steps = 0
    for steps in range(max_iter + 1):  # noqa: B007 - read after the loop
        gw, gb, hinge = prob.gradient(w[:, tags], b[tags], margins[:, tags], tags)
        gnorm = np.sqrt(_sq(gw) + gb.astype(np.float64) ** 2)
        moving = gnorm > tol
        if not moving.any() or steps == max_iter:
            break
        tags, gw, gb, gnorm, hinge = (
            tags[moving],
            gw[:, moving],
            gb[moving],
            gnorm[moving],
            hinge[:, moving],
        )
        dw, db = prob.newton_direction(gw, gb, gnorm, hinge, tags)
        q = np.asarray(prob.x @ dw) + db
        t = prob.line_search(w[:, tags], b[tags], margins[:, tags], dw, db, q, tags)
        w[:, tags] += t * dw
        b[tags] += t * db
        margins[:, tags] += t * q
    left = int((gnorm > tol).sum())
    if left:
        log.info("wide refit: %d tag(s) still above the tolerance after %d steps", left, steps)
    final = prob.objective(w, b)
    with torch.no_grad():
        weight[torch.from_numpy(cols)] = torch.from_numpy(w).to(weight.dtype)
        bias.copy_(torch.from_numpy(b).to(bias.dtype))
    log.debug(
        "wide path refit on %d jobs, %d columns, %d Newton steps: objective %.2f",
        len(y),
        len(cols),
        steps,
        final,
    )
    return final
