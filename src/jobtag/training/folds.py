"""The folds of every out-of-fold fit (the SVM's, the deep path's, the stacked ridge's): one seeded
assignment, so each path's held-out scores come from models that never saw the same rows."""

from __future__ import annotations

import numpy as np


def fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """(n,) the fold of each row, in 0..folds-1, seeded."""
    return np.random.default_rng([seed, 2]).permutation(n) % folds
