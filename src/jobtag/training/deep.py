"""The deep path's fits: code + scaled text features -> 5 hidden layers, early-stopped on a
validation slice, or cross-fitted to score every labeled job out of fold."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobtag.models.forward import NetInputs, net_scores
from jobtag.models.tagmodel import TagModel
from jobtag.training.epochs import deep_optimizer, net_epoch
from jobtag.training.folds import fold_ids
from jobtag.training.mix import val_score

log = logging.getLogger(__name__)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


@dataclass
class DeepFit:
    """The deep path's training outcome on the fitting rows."""

    epoch: int  # the early-stopped epoch (all epochs when there was no validation)
    losses: list[float]
    curve: list[float]  # validation score per epoch
    val_logits: np.ndarray | None  # (n_val, T) logits of the deep path alone at `epoch`


def fit_deep(
    model: TagModel,
    data: NetInputs,
    y: np.ndarray,
    val: tuple[NetInputs, np.ndarray] | None,
    epochs: int,
    rng: np.random.Generator,
    progress: bool,
    label: str,
) -> DeepFit:
    """Train the deep path alone (code + numeric -> 5 hidden layers), early-stopped on `val`."""
    s, fs = model.settings, model.feature_settings
    enc = model.ae.encoder if model.trainable_encoder else None
    opt = deep_optimizer(model)
    weights = np.ones(len(data), np.float32)
    best: tuple[float, int, Any, np.ndarray | None] = (-1.0, epochs, None, None)
    losses: list[float] = []
    curve: list[float] = []
    with model.net.deep_alone():
        for ep in range(epochs):
            losses.append(
                net_epoch(
                    model.net,
                    enc,
                    data,
                    y,
                    weights,
                    model.pos_weight,
                    opt,
                    batch_size=s.tagger_batch_size,
                    max_tokens=fs.max_tokens,
                    rng=rng,
                    desc=f"{label} {ep + 1}/{epochs}",
                    progress=progress,
                )
            )
            if val is None:
                continue
            vs = net_scores(model.net, enc, val[0], fs.max_tokens)
            curve.append(val_score(vs, val[1]))
            log.info(
                "%s epoch %d: loss %.4f, validation %.4f", label, ep + 1, losses[-1], curve[-1]
            )
            if curve[-1] > best[0] + 1e-4:
                state = copy.deepcopy((model.net.state_dict(), enc.state_dict() if enc else None))
                best = (curve[-1], ep + 1, state, logit(vs))
            elif ep + 1 - best[1] >= s.patience:
                break
    if best[2] is not None:
        model.net.load_state_dict(best[2][0])
        if enc is not None:
            enc.load_state_dict(best[2][1])
    return DeepFit(best[1], losses, curve, best[3])


def rows(data: NetInputs, idx: np.ndarray) -> NetInputs:
    """The net's inputs of rows `idx`."""
    return NetInputs(
        [data.tokens[i] for i in idx],
        data.numeric[idx],
        None if data.codes is None else data.codes[idx],
        None if data.wide is None else data.wide[idx],
        None if data.names is None else data.names[idx],
        None if data.embedding is None else data.embedding[idx],
    )


def cross_fit_deep(
    new_model: Any,
    data: NetInputs,
    y: np.ndarray,
    epochs: int,
    folds: int,
    seed: int,
    rng: np.random.Generator,
    progress: bool,
) -> np.ndarray:
    """(n, T) deep-path logits of every labeled job from a deep path trained (for `epochs`) on
    the other folds: the folds of `mix.out_of_fold` (training.folds), so both paths' scores are out of fold."""
    fold = fold_ids(len(data), folds, seed)
    out = np.zeros(y.shape, np.float32)
    for k in range(folds):
        held, kept = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        model = new_model()
        fit_deep(model, rows(data, kept), y[kept], None, epochs, rng, progress, f"fold {k + 1}")
        enc = model.ae.encoder if model.trainable_encoder else None  # fine-tuned with it
        with model.net.deep_alone():
            scores = net_scores(model.net, enc, rows(data, held), model.feature_settings.max_tokens)
        out[held] = logit(scores)
    return out
