"""Threshold calibration picks the F1-optimal cut (hand example) and falls back for rare tags."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.models.thresholds import best_threshold, calibrate_thresholds


def test_best_threshold_hand_example():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2])
    truth = np.array([1, 0, 1, 1, 0, 1], dtype=bool)
    # cut after k: k=1 F1=2/5, k=2 2/6, k=3 4/7, k=4 6/8=.75, k=5 6/9, k=6 8/10=.8 -> all
    thr, f1 = best_threshold(scores, truth)
    assert f1 == pytest.approx(0.8)
    assert thr <= 0.2
    truth2 = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    # k=2 F1=4/5, k=4 F1=6/7 -> cut between 0.6 and 0.3
    thr2, f12 = best_threshold(scores, truth2)
    assert f12 == pytest.approx(6 / 7)
    assert thr2 == pytest.approx(0.45)
    assert ((scores >= thr2) == np.array([1, 1, 1, 1, 0, 0], bool)).all()


def test_no_positive_predicts_nothing():
    thr, f1 = best_threshold(np.array([0.2, 0.4]), np.array([False, False]))
    assert thr > 0.4 and f1 == 0.0


def test_ties_are_cut_together():
    thr, _ = best_threshold(np.array([0.5, 0.5, 0.1]), np.array([True, False, False]))
    assert thr < 0.5  # cannot separate the two 0.5 scores; taking both beats taking none


def test_rare_tags_get_the_global_threshold():
    rng = np.random.default_rng(0)
    scores = rng.random((50, 2))
    truth = np.zeros((50, 2), dtype=bool)
    truth[:, 0] = scores[:, 0] > 0.7
    truth[3, 1] = True  # one positive only
    thr, glob = calibrate_thresholds(scores, truth, min_positives=3)
    assert thr[1] == pytest.approx(glob)
    assert 0.6 < thr[0] <= 0.71
    shrunk, _ = calibrate_thresholds(scores, truth, min_positives=3, shrink=1e6)
    assert shrunk[0] == pytest.approx(glob, abs=1e-3)
