"""The wide path's fits: the cold liblinear fit and the warm Newton refit reach the same SVM."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from jobtag.training.wide import EMPTY_MARGIN, fit_wide, refit_wide


def _data(n=300, d=50, t=3, seed=0):
    rng = np.random.default_rng(seed)
    x = sp.random(n, d, density=0.1, random_state=seed, format="csr", dtype=np.float32)
    true_w = rng.normal(size=(d, t)).astype(np.float32) * 3
    y = (x @ true_w + rng.normal(scale=0.3, size=(n, t)) > 0.2).astype(np.float32)
    return x, y


def test_cold_and_warm_fits_reach_the_same_svm():
    x, y = _data()
    coef, intercept = fit_wide(x, y.astype(bool), C=1.0)
    w = torch.zeros(x.shape[1], y.shape[1])
    b = torch.zeros(y.shape[1])
    refit_wide(w, b, x, y, C=1.0, max_iter=300)
    cold = np.asarray(x @ coef) + intercept
    warm = x @ w.numpy() + b.numpy()
    assert ((cold > 0) == (warm > 0)).mean() > 0.98
    np.testing.assert_allclose(warm, cold, atol=0.05)


def test_tags_without_positives_or_negatives():
    x, y = _data()
    y = y.astype(bool)
    y[:, 0] = False
    y[:, 1] = True
    coef, intercept = fit_wide(x, y, C=1.0)
    assert not coef[:, :2].any()
    assert intercept[0] == -EMPTY_MARGIN and intercept[1] == EMPTY_MARGIN


def test_warm_start_only_moves_seen_columns_and_lowers_the_loss():
    x, y = _data()
    x = x.tolil()
    x[:, 40:] = 0  # columns 40.. never occur
    x = x.tocsr()
    x.eliminate_zeros()
    w = torch.ones(50, y.shape[1]) * 0.01
    w[45] = 7.0
    b = torch.zeros(y.shape[1])
    before = refit_wide(w.clone(), b.clone(), x, y[:, :], C=1.0, max_iter=1)
    after = refit_wide(w, b, x, y, C=1.0, max_iter=100)
    assert after < before
    assert torch.all(w[45] == 7.0)  # an unseen column keeps its weight


def test_sample_weights_matter():
    x, y = _data(seed=1)
    y2 = y.copy()
    y2[:30] = 1 - y2[:30]  # 30 flipped labels
    sw = np.ones(len(y), np.float32)
    sw[:30] = 0.0  # ... weighted out
    w1, b1 = torch.zeros(50, 3), torch.zeros(3)
    w2, b2 = torch.zeros(50, 3), torch.zeros(3)
    refit_wide(w1, b1, x[30:], y[30:], C=10.0, max_iter=300)
    refit_wide(w2, b2, x, y2, sw, C=10.0, max_iter=300)
    assert torch.allclose(w1, w2, atol=5e-2)  # weight 0 == the rows are not there


def test_warm_refit_stops_within_its_tolerance_of_the_optimum():
    x, y = _data(n=400, t=4, seed=2)
    w, b = torch.zeros(50, 4), torch.zeros(4)
    refit_wide(w, b, x, y, C=3.0, max_iter=100, tol=1e-6)  # the optimum, nearly exactly
    # a warm start near it (a few new jobs): the refit is back within tol of the new optimum
    x2 = sp.vstack([x, sp.random(20, 50, density=0.2, random_state=3, format="csr")]).tocsr()
    y2 = np.r_[y, np.random.default_rng(3).random((20, 4)) < 0.5].astype(np.float32)
    w_opt, b_opt = w.clone(), b.clone()
    refit_wide(w_opt, b_opt, x2, y2, C=3.0, max_iter=100, tol=1e-6)
    for tol in (0.1, 0.01):
        w2, b2 = w.clone(), b.clone()
        refit_wide(w2, b2, x2, y2, C=3.0, tol=tol)
        dist = torch.sqrt(((w2 - w_opt) ** 2).sum(0) + (b2 - b_opt) ** 2)
        assert torch.all(dist <= tol * 1.01), dist


def test_soft_targets_and_an_already_optimal_start():
    x, y = _data(seed=4)
    soft = np.where(y > 0, 0.8, 0.1).astype(np.float32)
    w, b = torch.zeros(50, 3), torch.zeros(3)
    first = refit_wide(w, b, x, soft, C=1.0, max_iter=100)
    w0, b0 = w.clone(), b.clone()
    again = refit_wide(w, b, x, soft, C=1.0, max_iter=100)
    assert abs(again - first) < 1e-3 * first
    assert torch.allclose(w, w0, atol=1e-2) and torch.allclose(b, b0, atol=1e-2)


def test_frozen_columns_keep_their_weights_and_count_as_an_offset():
    x, y = _data(n=300, t=3, seed=4)
    w, b = torch.zeros(50, 3), torch.zeros(3)
    w[40:] = torch.from_numpy(np.random.default_rng(4).normal(size=(10, 3)).astype(np.float32))
    fixed = w[40:].clone()
    refit_wide(w, b, x, y, C=1.0, max_iter=100, tol=1e-6, frozen_from=40)
    assert torch.equal(w[40:], fixed)
    # the moving weights are the optimum given the frozen ones' margins: the gradient is zero
    wn, bn = w.numpy().astype(np.float64), b.numpy().astype(np.float64)
    s = 2 * y - 1
    g = -2.0 * s * np.maximum(0.0, 1 - s * (x @ wn + bn))
    assert np.abs(x[:, :40].T @ g + wn[:40]).max() < 1e-4
    assert np.abs(g.sum(0) + bn).max() < 1e-4
    # ... and they differ from a refit that ignores those margins
    w1, b1 = torch.zeros(40, 3), torch.zeros(3)
    refit_wide(w1, b1, x[:, :40].tocsr(), y, C=1.0, max_iter=100, tol=1e-6)
    assert (w1 - w[:40]).abs().max() > 0.05
