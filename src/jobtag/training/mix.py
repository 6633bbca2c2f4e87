"""How the paths add up, chosen on validation: the SVM's C, the tag names' weights, the deep weight."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from jobtag.config import TrainSettings
from jobtag.models.names import SEMANTIC, shrink
from jobtag.models.tagmodel import TagModel
from jobtag.models.thresholds import best_threshold
from jobtag.training.embedfit import WideFit
from jobtag.training.folds import fold_ids
from jobtag.training.wide import fit_wide


def val_score(scores: np.ndarray, y: np.ndarray) -> float:
    """Model-selection criterion: mean of micro-F1 and macro-F1 at the best global threshold."""
    thr, micro = best_threshold(scores.ravel(), y.ravel())
    pred = scores >= thr
    present = y.any(0)
    tp = (pred & y).sum(0)[present]
    den = pred.sum(0)[present] + y.sum(0)[present]
    macro = float(np.mean(2 * tp / np.maximum(den, 1))) if present.any() else 0.0
    return (micro + macro) / 2


@dataclass
class Names:
    """The tag names' weights tried: any field, title, the title's meaning (units: std of the
    wide margins), and their fade."""

    any: float = 0.0
    title: float = 0.0
    semantic: float = 0.0
    pseudo_count: float = 0.0

    @property
    def weights(self) -> list[float]:
        return [self.any, self.title, self.semantic]

    def prior(self, matches: np.ndarray, tag_jobs: np.ndarray, unit: float) -> np.ndarray:
        """(n, T) in margin units of (n, 3, T) matches."""
        w = shrink(tag_jobs, self.pseudo_count)
        return unit * w * np.einsum("c,nct->nt", np.asarray(self.weights), matches)

    def __str__(self) -> str:
        return "names=" + "/".join(f"{v:g}" for v in [*self.weights, self.pseudo_count])


def name_grid(settings: TrainSettings, semantic: bool = False) -> list[Names]:
    """The weights tried; the semantic channel's only when the jobs have embeddings."""
    grid = [Names()]
    for a in settings.name_weights:
        for t in settings.title_name_weights:
            for m in settings.semantic_name_weights if semantic else (0.0,):
                if a or t or m:
                    grid += [Names(a, t, m, c) for c in settings.name_pseudo_counts]
    return grid


@dataclass
class WideChoice:
    """The wide path's best grid point on validation (deep path left out)."""

    score: float
    C: float
    names: Names
    unit: float  # std(wide margins) on validation: the names' weights' unit
    margins: np.ndarray  # (n_val, T) wide margins + names' evidence on validation
    coef: np.ndarray  # the chosen C's SVM fitted on the fit rows
    intercept: np.ndarray
    tried: dict[str, float]


def choose_wide(
    x_fit: Any,
    y_fit: np.ndarray,
    x_val: Any,
    y_val: np.ndarray,
    settings: TrainSettings,
    names_val: np.ndarray | None = None,
    fit: WideFit = fit_wide,
) -> WideChoice:
    """Grid over (C, tag names' weights) on the validation slice. `names_val`: (n_val, 3, T)
    tag-name matches (None: unused); `fit`: the wide layer's fit (training.embedfit)."""
    grid = [Names()]
    if names_val is not None:
        grid = name_grid(settings, semantic=bool(names_val[:, SEMANTIC].any()))
    tag_jobs = y_fit.sum(0)
    best: WideChoice | None = None
    tried: dict[str, float] = {}
    for C in settings.wide_C_grid:
        coef, intercept = fit(x_fit, y_fit, C)
        margins = np.asarray(x_val @ coef) + intercept  # (n_val, T)
        unit = float(margins.std())
        for names in grid:
            z = margins
            if any(names.weights):
                z = margins + names.prior(names_val, tag_jobs, unit)
            score = val_score(z, y_val)
            tried[f"C={C:g},{names},deep=0"] = round(score, 4)
            if best is None or score > best.score + 1e-9:
                best = WideChoice(score, C, names, unit, z, coef, intercept, tried)
    return best


def out_of_fold(
    x: Any, y: np.ndarray, C: float, folds: int, seed: int, fit: WideFit = fit_wide
) -> np.ndarray:
    """(n, T) each row's wide margins from an SVM fitted (at C) on the other `folds` - 1 folds:
    scores of jobs the SVM never saw, for every labeled job instead of a validation slice."""
    fold = fold_ids(x.shape[0], folds, seed)
    out = np.zeros(y.shape, np.float32)
    for k in range(folds):
        held = fold == k
        coef, intercept = fit(x[~held], y[~held], C)
        out[held] = np.asarray(x[held] @ coef) + intercept
    return out


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of calibrated log-odds a * z + b, fitted on (n, T) margins and labels."""
    fitted = LogisticRegression(C=1.0).fit(z.reshape(-1, 1), y.reshape(-1))
    return float(fitted.coef_[0, 0]), float(fitted.intercept_[0])


@dataclass
class Mix:
    """What validation chose: the wide path's C, the deep path's weight, the tag names' weights,
    the Platt calibration."""

    C: float
    deep_weight: float  # in units of std(wide margins) / std(deep logits); 0 = deep path unused
    scale: float  # std(wide margins) / std(deep logits) on validation
    a: float  # calibrated logit = a * (margins + prior + deep_weight * scale * deep) + b
    b: float
    wide_fit: tuple[np.ndarray, np.ndarray] | None  # the chosen C's (coef, intercept) on fit rows
    tried: dict[str, float]
    val_scores: np.ndarray  # (n_val, T) calibrated scores of the chosen mix
    names: Names = dataclasses.field(default_factory=Names)
    unit: float = 0.0  # std(wide margins) on validation: the names' weights' unit
    # the best non-zero deep weight's validation score minus the wide path's alone (None: no
    # deep path was weighed)
    deep_gain: float | None = None


def weigh_deep(
    margins: np.ndarray, deep: np.ndarray, scale: float, weights: Any, y: np.ndarray
) -> dict[float, float]:
    """val_score of margins + w * scale * deep for each non-zero weight w, ascending."""
    return {w: val_score(margins + w * scale * deep, y) for w in sorted(set(weights) - {0.0})}


def best_weight(scores: dict[float, float]) -> float | None:
    """The weight of the best score (the smallest weight among equals); None when none."""
    return max(scores, key=lambda w: scores[w]) if scores else None


def choose_mix(
    wide: WideChoice, deep_val: np.ndarray | None, y_val: np.ndarray, settings: TrainSettings
) -> Mix:
    """The deep path's weight beside the wide path's choice, then Platt calibration.

    The deep path gets a weight only when that beats the wide path alone on validation by at
    least settings.deep_min_gain (a validation slice of a few hundred jobs is noisy: measured on
    80/20 splits of train, a weight chosen on noise cost more than it gained)."""
    tried = dict(wide.tried)
    best_w, z, scale, gain = 0.0, wide.margins, 0.0, None
    if deep_val is not None:
        scale = float(wide.unit / max(deep_val.std(), 1e-6))
        scores = weigh_deep(wide.margins, deep_val, scale, settings.deep_weights, y_val)
        for w, score in scores.items():
            tried[f"C={wide.C:g},{wide.names},deep={w:g}"] = round(score, 4)
        w = best_weight(scores)
        gain = None if w is None else scores[w] - wide.score
        if w is not None and scores[w] >= wide.score + settings.deep_min_gain:
            best_w, z = w, wide.margins + w * scale * deep_val
    a, b = platt(z, y_val)
    val_scores = 1 / (1 + np.exp(-(a * z + b)))
    return Mix(
        wide.C,
        best_w,
        scale,
        a,
        b,
        (wide.coef, wide.intercept),
        tried,
        val_scores.astype(np.float32),
        wide.names,
        wide.unit,
        gain,
    )


def apply_mix(model: TagModel, mix: Mix, tag_jobs: np.ndarray) -> None:
    """Set the net's mix from validation's choice; `tag_jobs`: (T,) labeled jobs per tag that
    the served model learned from (the names' evidence fades with them)."""
    net = model.net
    with torch.no_grad():
        net.mix.copy_(torch.tensor([mix.a * mix.deep_weight * mix.scale, mix.a]))
        net.offset.fill_(mix.b)
        net.names_weight.copy_(torch.tensor(mix.names.weights) * mix.unit)
        net.names_shrink.copy_(torch.from_numpy(shrink(tag_jobs, mix.names.pseudo_count)))
    model.settings.wide_C = mix.C  # what an update's warm refit minimises
