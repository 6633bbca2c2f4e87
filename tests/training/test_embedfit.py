"""The embedding's place in the wide layer: the ridge's closed form, its out-of-fold margins,
the stacked fit's table."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jobtag.config import TrainSettings
from jobtag.training.embedfit import (
    StackedFit,
    fit_ridge,
    out_of_fold_ridge,
    split_columns,
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
    assert wide_fitter(TrainSettings(), 10, 16) is fit_wide  # joint, the default
    fit = wide_fitter(TrainSettings(seed=4, calibration_folds=3, embedding_fit="stacked"), 10, 16)
    assert fit == StackedFit(10, 1.0, 3.0, 3, 4)
