"""The embedding's place in the wide layer: the ridge's closed form, its out-of-fold margins,
the stacked fit's table, the joint fit on the embedding's top directions."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jobtag.config import TrainSettings
from jobtag.training.embedfit import (
    ProjectedFit,
    StackedFit,
    fit_ridge,
    out_of_fold_ridge,
    split_columns,
    top_directions,
    wide_fitter,
)
from jobtag.training.wide import fit_wide


def _data(n: int = 200, d: int = 6, t: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random((n, t)) < 0.3
    e = rng.normal(0, 0.5, (n, d)).astype(np.float32)
    e[:, :t] += y  # the first t dimensions carry the tags
    bag = sp.random(n, 10, density=0.3, format="csr", random_state=seed, dtype=np.float32)
    return bag, e, y


def test_fit_ridge_is_the_weighted_least_squares_optimum():
    _, e, y = _data()
    sw = np.random.default_rng(1).uniform(0.2, 2.0, len(e))
    r = fit_ridge(e, y, 0.7, sw)
    s = 2.0 * y - 1.0
    grad = 2 * (e * sw[:, None]).T @ (e @ r - s) + 2 * 0.7 * r  # zero at the optimum
    assert np.abs(grad).max() < 1e-3
    assert r.shape == (6, 3) and r.dtype == np.float32
    assert np.abs(fit_ridge(e, np.full(y.shape, 0.5), 1.0)).max() < 1e-6  # soft targets


def test_out_of_fold_margins_do_not_see_their_own_row():
    _, e, y = _data()
    before = out_of_fold_ridge(e, y, 1.0, folds=5, seed=3)
    y2 = y.copy()
    y2[7] = ~y2[7]
    after = out_of_fold_ridge(e, y2, 1.0, folds=5, seed=3)
    np.testing.assert_array_equal(before[7], after[7])  # row 7's own label never reaches it
    assert np.abs(before - after).max() > 0  # ... but it does reach the other folds' rows


def test_an_extra_column_per_tag_is_what_each_tags_svm_reads():
    bag, _, y = _data()
    extra = np.random.default_rng(4).normal(size=y.shape).astype(np.float32)
    coef, intercept = fit_wide(bag, y, 1.0, extra=extra)
    assert coef.shape == (11, 3)
    for j in range(3):  # the same as one SVM per tag on [bag, extra[:, j]]
        x = sp.hstack([bag, sp.csr_matrix(extra[:, [j]])], format="csr")
        alone, b = fit_wide(x, y[:, [j]], 1.0)
        np.testing.assert_allclose(coef[:, j], alone[:, 0], atol=1e-5)
        np.testing.assert_allclose(intercept[j], b[0], atol=1e-5)


def test_the_stacked_table_is_the_bags_rows_then_each_tags_weight_times_its_ridge():
    bag, e, y = _data()
    x = sp.hstack([bag, sp.csr_matrix(e)], format="csr")
    bag2, e2 = split_columns(x, 10)
    np.testing.assert_array_equal(bag2.toarray(), bag.toarray())
    np.testing.assert_array_equal(e2, e)
    fit = StackedFit(10, penalty=1.0, scale=3.0, folds=5, seed=0)
    table, intercept = fit(x, y, 1.0)
    column = 3.0 * out_of_fold_ridge(e, y, 1.0, 5, 0)
    coef, b = fit_wide(bag, y, 1.0, extra=column)
    np.testing.assert_allclose(table[:10], coef[:-1], atol=1e-6)
    np.testing.assert_allclose(table[10:], fit_ridge(e, y, 1.0) * 3.0 * coef[-1], atol=1e-5)
    np.testing.assert_array_equal(intercept, b)
    assert (coef[-1] > 0).all()  # the ridge knows the tags: every SVM leans on its column
    # the served margins beat the bag's SVM alone on these rows
    bag_only, b0 = fit_wide(bag, y, 1.0)
    err = lambda m: ((m > 0) != y).mean()  # noqa: E731
    assert err(x @ table + intercept) < err(bag @ bag_only + b0) - 0.05


def test_the_fitter_follows_the_settings_and_the_input():
    assert wide_fitter(TrainSettings(embedding_fit="stacked"), 10, 10) is fit_wide  # no embedding
    assert wide_fitter(TrainSettings(), 10, 16) is fit_wide  # joint, 6 columns <= its rank
    assert wide_fitter(TrainSettings(embedding_rank=4), 10, 16) == ProjectedFit(10, 4)
    assert wide_fitter(TrainSettings(embedding_rank=0), 10, 16) is fit_wide  # 0: every column
    fit = wide_fitter(TrainSettings(seed=4, calibration_folds=3, embedding_fit="stacked"), 10, 16)
    assert fit == StackedFit(10, 1.0, 3.0, 3, 4)


def test_top_directions_are_orthonormal_and_hold_the_most_energy():
    rng = np.random.default_rng(2)
    e = rng.normal(size=(300, 8)) * np.array([5, 4, 3, 2, 1, 0.5, 0.2, 0.1])
    basis = top_directions(e, 3)
    assert basis.shape == (8, 3) and basis.dtype == np.float32
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-5)
    energy = lambda b: float(np.square(e @ b).sum())  # noqa: E731
    # the first three axes carry the most energy here; no other 3 directions carry more
    axes = np.eye(8, 3)
    assert energy(basis) >= energy(axes) - 1e-3 * energy(axes)
    assert energy(basis) > energy(np.eye(8)[:, 3:6]) * 5
    assert top_directions(e, 0) is None and top_directions(e, 8) is None


def test_the_projected_fit_is_the_full_fit_when_the_embedding_has_that_rank():
    """An L2-penalised optimum lies in the span of the rows: on an embedding of rank 3, the
    fit on its top 3 directions is the fit on all of its columns."""
    bag, e, y = _data(d=3)
    rng = np.random.default_rng(5)
    wide_e = (e @ rng.normal(size=(3, 9))).astype(np.float32)  # (n, 9) of rank 3
    x = sp.hstack([bag, sp.csr_matrix(wide_e)], format="csr")
    full, b_full = fit_wide(x, y, 1.0)
    table, b = ProjectedFit(10, 3)(x, y, 1.0)
    assert table.shape == full.shape == (19, 3)
    np.testing.assert_allclose(x @ table + b, x @ full + b_full, atol=2e-3)
    np.testing.assert_allclose(table, full, atol=2e-3)
    # with fewer directions than the rank, the margins differ: the fit does drop directions
    fewer, b2 = ProjectedFit(10, 1)(x, y, 1.0)
    assert np.abs((x @ fewer + b2) - (x @ full + b_full)).max() > 0.05
