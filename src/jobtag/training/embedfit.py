"""The embedding's place in the wide layer: joint (one SVM on the bag and the sentence vectors)
or stacked (a per-tag ridge on the vectors, one column beside the bag for each tag's SVM).

With an embedder, the wide layer reads the bag's columns, then the embedding's d dense columns.
One SVM on both ("joint", settings.embedding_fit's default) is what liblinear is slowest at:
d = 768 dense columns in every row are 95% of Reuters' nonzeros, and one fit took 15.5 s
against the bag's 1.3 s. So the joint fit (ProjectedFit) first turns the embedding's columns
onto their top `embedding_rank` principal directions V_k (eigenvectors of E^T E on the rows
fitted, no labels): the SVM's penalty ||w||^2 is the same in any orthonormal basis, so on E V
(every direction) the fit is the same problem, and leaving out the directions of least energy
(4% of it at k = 256 on Reuters) drops what the penalty shrinks most. The served rows are
V_k w_k (||V_k w_k|| = ||w_k||, the same margins), so the table keeps its d rows. Measured
(80/20 split of each set's labeled train, one SVM at C = 1, best global cut on the 20%, micro
F1, all 768 -> k = 256): wuzzuf-categories .7691 -> .7696, wuzzuf-skills .5757 -> .5754,
reuters-modapte .8968 -> .8956, at 0.55x / 0.44x / 0.28x the fit's seconds. "stacked" fits a ridge regression per tag on the
vectors (targets 2y - 1, closed form over d x d), and each tag's SVM reads the bag plus one
column: scale x that tag's ridge margin, out of fold (from ridges that never saw the row), so
the SVM weighs the ridge as it would a column it cannot overfit. Served, the tag's margin is
bag . w_j + c_j * scale * (e . r_j) + b_j: the embedding's rows of the same wide table are
c_j * scale * r_j (the ridge fitted on every row), so serving, checkpoints and explanations
read one linear layer as before, and an update refits the bag's rows with these held fixed.

Measured against "joint" (fast accurate mode, whole training, 80/20 splits of train, micro /
macro F1 on the 20%): wuzzuf-categories -.003/+.016 and -.013/+.008, wuzzuf-skills -.005/+.000
and +.005/+.006, reuters-modapte -.004/-.032, at 0.4-0.75x the training time; in the
benchmark (3 seeds, README) +.005/-.009 and -.004/-.002 on the Wuzzuf sets at 0.6-0.8x: an
option for large sets, not the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from jobtag.config import TrainSettings
from jobtag.training.folds import fold_ids
from jobtag.training.wide import fit_wide

STACKED = "stacked"
JOINT = "joint"

WideFit = Callable[[Any, np.ndarray, float], tuple[np.ndarray, np.ndarray]]


def split_columns(x: Any, n_features: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """(bag (n, n_features) csr, embedding columns (n, d) float32) of the wide layer's input."""
    x = sp.csr_matrix(x)
    return x[:, :n_features].tocsr(), np.asarray(x[:, n_features:].toarray(), np.float32)


def fit_ridge(
    e: np.ndarray, y: np.ndarray, penalty: float, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """(d, T) float32 R minimising sum_i sw_i ||e_i R - (2 y_i - 1)||^2 + penalty ||R||^2.

    e: (n, d); y: (n, T) in [0, 1] (soft targets allowed); sample_weight: (n,)."""
    e64 = np.asarray(e, np.float64)
    s = 2.0 * np.asarray(y, np.float64) - 1.0
    ew = e64 if sample_weight is None else e64 * np.asarray(sample_weight, np.float64)[:, None]
    gram = ew.T @ e64 + penalty * np.eye(e64.shape[1])
    return np.linalg.solve(gram, ew.T @ s).astype(np.float32)


def out_of_fold_ridge(
    e: np.ndarray, y: np.ndarray, penalty: float, folds: int, seed: int
) -> np.ndarray:
    """(n, T) each row's ridge margins from a fit on the other folds."""
    fold = fold_ids(len(e), folds, seed)
    out = np.zeros(y.shape, np.float32)
    for k in range(folds):
        held = fold == k
        out[held] = e[held] @ fit_ridge(e[~held], y[~held], penalty)
    return out


@dataclass
class StackedFit:
    """fit(x, y, C) -> (table (n_features + d, T), bias (T,)) of the stacked wide layer."""

    n_features: int
    penalty: float  # the ridge's
    scale: float  # the ridge column's scale beside the bag (larger: the SVM leans on it more)
    folds: int
    seed: int

    def __call__(self, x: Any, y: np.ndarray, C: float) -> tuple[np.ndarray, np.ndarray]:
        bag, e = split_columns(x, self.n_features)
        folds = max(2, min(self.folds, len(e)))
        column = self.scale * out_of_fold_ridge(e, y, self.penalty, folds, self.seed)
        coef, intercept = fit_wide(bag, y, C, extra=column)  # (n_features + 1, T)
        rows = fit_ridge(e, y, self.penalty) * (self.scale * coef[-1])[None, :]
        return np.vstack([coef[:-1], rows]), intercept


def top_directions(e: np.ndarray, rank: int) -> np.ndarray | None:
    """(d, k) orthonormal columns: the k = min(rank, d) directions of most energy of e's rows
    (eigenvectors of e^T e, largest first); None when they would be all d (rank <= 0 or >= d)."""
    d = e.shape[1]
    if rank <= 0 or rank >= d:
        return None
    e64 = np.asarray(e, np.float64)
    _, vectors = np.linalg.eigh(e64.T @ e64)  # ascending eigenvalues
    return np.ascontiguousarray(vectors[:, ::-1][:, :rank], dtype=np.float32)


@dataclass
class ProjectedFit:
    """fit(x, y, C) -> (table (n_features + d, T), bias (T,)): one SVM on the bag and the
    embedding's columns on their top `rank` directions (module docstring), rows mapped back."""

    n_features: int
    rank: int

    def __call__(self, x: Any, y: np.ndarray, C: float) -> tuple[np.ndarray, np.ndarray]:
        bag, e = split_columns(x, self.n_features)
        basis = top_directions(e, self.rank)
        if basis is None:
            return fit_wide(x, y, C)
        projected = sp.csr_matrix(e @ basis)  # (n, k)
        coef, intercept = fit_wide(sp.hstack([bag, projected], format="csr"), y, C)
        return np.vstack([coef[: self.n_features], basis @ coef[self.n_features :]]), intercept


def wide_fitter(settings: TrainSettings, n_features: int, width: int) -> WideFit:
    """The wide layer's fit for an input of `width` columns: one SVM (no embedding), the
    joint fit on the embedding's top directions (embedding_fit = "joint"), else the stacked fit."""
    if width <= n_features:
        return fit_wide
    if settings.embedding_fit == JOINT:
        if settings.embedding_rank <= 0 or settings.embedding_rank >= width - n_features:
            return fit_wide
        return ProjectedFit(n_features, settings.embedding_rank)
    return StackedFit(
        n_features,
        settings.embedding_ridge_penalty,
        settings.embedding_stack_scale,
        settings.calibration_folds,
        settings.seed,
    )
