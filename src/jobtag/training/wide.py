"""Warm-started refit of the wide path (L2 logistic regression on the weighted bag) by L-BFGS.

Training fits the wide path with liblinear, one tag at a time. An update cannot afford that, and
mini-batch Adam from the liblinear solution measurably drifts away from it (Reuters: no gain from
1,500 corrected jobs). Instead the same objective — per tag C * sum(w_i * logloss) + ||coef||^2 / 2
— is minimised for all tags at once, full batch, starting from the current weights, with torch's
L-BFGS over a sparse design matrix: on Reuters (7.7k jobs x 32k columns x 90 tags) it takes ~1 s.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


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
    C: float = 10.0,
    max_iter: int = 60,
) -> float:
    """Minimise the L2 logistic loss of all tags from the current (weight, bias), in place.

    weight: (n_features, T) — the wide EmbeddingBag's table; bias: (T,); x: (n, n_features) csr;
    y: (n, T) in [0, 1]; sample_weight: (n,). Returns the final objective.
    """
    if x.shape[0] != y.shape[0] or weight.shape != (x.shape[1], y.shape[1]):
        raise ValueError(f"x {x.shape}, y {y.shape}, weight {tuple(weight.shape)} do not fit")
    cols = np.unique(x.indices)  # only columns that occur can move; the others keep their value
    xs = _sparse(x[:, cols].tocsr())
    w0 = weight.detach()[torch.from_numpy(cols)].clone().requires_grad_(True)
    b0 = bias.detach().clone().requires_grad_(True)
    t = torch.from_numpy(np.asarray(y, dtype=np.float32))
    sw = torch.from_numpy(
        np.ones(len(y), np.float32) if sample_weight is None else sample_weight.astype(np.float32)
    )[:, None]
    opt = torch.optim.LBFGS([w0, b0], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        logits = torch.sparse.mm(xs, w0) + b0
        loss = C * (F.binary_cross_entropy_with_logits(logits, t, reduction="none") * sw).sum()
        return loss + 0.5 * (w0 * w0).sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = float(objective())
    with torch.no_grad():
        weight[torch.from_numpy(cols)] = w0.detach()
        bias.copy_(b0.detach())
    log.debug("wide path refit on %d jobs, %d columns: objective %.2f", len(y), len(cols), final)
    return final
