"""training/mix: the wide path's grid, the deep path's weight beside it, out-of-fold margins."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jobtag.config import TrainSettings
from jobtag.training.mix import choose_mix, choose_wide, out_of_fold, platt
from jobtag.training.wide import fit_wide


def settings(**kw) -> TrainSettings:
    return TrainSettings(**{"seed": 5, "threads": 1, **kw})


def test_the_tag_names_weight_is_chosen_when_names_tell_the_tags():
    import scipy.sparse as sp

    from jobtag.models.names import ANY, TITLE
    from jobtag.training.mix import choose_mix, choose_wide

    rng = np.random.default_rng(0)
    x = sp.random(300, 64, density=0.1, format="csr", random_state=1, dtype=np.float32)
    y = rng.random((300, 4)) < 0.3  # the bag says nothing about these tags
    names = np.zeros((100, 3, 4), np.float32)
    names[:, ANY] = y[200:] * (rng.random((100, 4)) < 0.8)  # the name is in 80% of its jobs
    names[:, TITLE] = names[:, ANY] * (rng.random((100, 4)) < 0.5)
    st = settings()
    mix = choose_mix(choose_wide(x[:200], y[:200], x[200:], y[200:], st, names), None, y[200:], st)
    assert mix.names.any + mix.names.title > 0 and mix.unit > 0
    assert mix.names.any in st.name_weights and mix.names.pseudo_count in st.name_pseudo_counts
    without = choose_mix(choose_wide(x[:200], y[:200], x[200:], y[200:], st), None, y[200:], st)
    assert (without.names.any, without.names.title) == (0.0, 0.0)
    assert len(without.tried) == len(st.wide_C_grid)  # no names: only C is tried


def test_out_of_fold_margins_come_from_svms_that_never_saw_the_job():
    rng = np.random.default_rng(3)
    n = 200
    # each job has its own feature and a random tag: memorised in-sample, unknowable out of fold
    x = sp.identity(n, format="csr", dtype=np.float32)
    y = rng.random((n, 2)) < 0.5
    coef, intercept = fit_wide(x, y, 10.0)
    inside = np.asarray(x @ coef) + intercept
    oof = out_of_fold(x, y, 10.0, folds=4, seed=0)
    assert oof.shape == y.shape and oof.dtype == np.float32
    s = 2 * y - 1
    assert (inside * s).mean() > 0.5  # the labels are fitted
    assert abs((oof * s).mean()) < 0.1  # out of fold they are not: only the bias is learned
    np.testing.assert_array_equal(oof, out_of_fold(x, y, 10.0, folds=4, seed=0))


def test_platt_maps_margins_to_log_odds():
    rng = np.random.default_rng(4)
    y = rng.random((500, 3)) < 0.3
    z = np.where(y, 1.0, -1.0) + rng.normal(0, 0.8, y.shape)
    a, b = platt(z, y)
    assert a > 1.0 and b < 0  # informative margins, positives rarer than negatives
    a0, _ = platt(rng.normal(0, 1, y.shape), y)
    assert abs(a0) < 0.2  # uninformative margins: a flat slope


def test_the_deep_path_needs_the_minimum_gain_to_count():
    rng = np.random.default_rng(5)
    x = sp.random(300, 64, density=0.1, format="csr", random_state=2, dtype=np.float32)
    y = rng.random((300, 3)) < 0.3
    st = settings(name_weights=(0.0,), title_name_weights=(0.0,))
    wide = choose_wide(x[:200], y[:200], x[200:], y[200:], st)
    truth = np.where(y[200:], 3.0, -3.0)  # a deep path that knows the answers
    assert choose_mix(wide, truth, y[200:], st).deep_weight > 0
    noise = rng.normal(0, 1, (100, 3))
    assert choose_mix(wide, noise, y[200:], settings(deep_min_gain=0.5)).deep_weight == 0.0
