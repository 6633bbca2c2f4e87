"""The update's fits: the deep path's SGD continued from a model, the wide path's warm refit."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from jobtag.features.batch import FeatureBatch
from jobtag.models.names import shrink
from jobtag.models.tagmodel import TagModel
from jobtag.training.embedfit import STACKED
from jobtag.training.epochs import adam, ae_epoch, deep_optimizer, net_epoch
from jobtag.training.wide import refit_wide


def fine_tune(
    model: TagModel,
    batch: FeatureBatch,
    targets: np.ndarray,
    weights: np.ndarray | None = None,
    unlabeled: FeatureBatch | None = None,
    epochs: int = 3,
    lr: float | None = None,
    progress: bool = False,
    seed: int | None = None,
    autoencoder: bool = True,
) -> dict[str, list[float]]:
    """Continue training from the current weights; returns the loss per epoch.

    `targets` (n, T) in [0, 1] (soft pseudo-labels allowed), `weights` (n,) per job. Each epoch
    first refines the autoencoder on batch + unlabeled (unless `autoencoder` is False: the codes
    stay as they are), then trains the tag net's deep path on the batch.
    """
    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != (len(batch), len(model.tags)):
        raise ValueError(f"targets {targets.shape} != ({len(batch)}, {len(model.tags)})")
    weights = np.ones(len(batch), np.float32) if weights is None else np.asarray(weights)
    rng = np.random.default_rng(model.settings.seed if seed is None else seed)
    lr = model.settings.lr if lr is None else lr
    ae_lr = model.settings.ae_lr * lr / model.settings.lr
    ae_jobs = FeatureBatch.concat([batch, unlabeled]) if unlabeled is not None else batch
    ae_opt = adam(model.ae.parameters(), lr=ae_lr) if autoencoder else None
    opt = deep_optimizer(model, lr)
    enc = model.ae.encoder if model.trainable_encoder else None
    history: dict[str, list[float]] = {"ae_loss": [], "tagger_loss": []}
    max_tokens = model.feature_settings.max_tokens
    bs = model.settings.batch_size
    data = None
    for ep in range(epochs):
        if ae_opt is not None:
            history["ae_loss"].append(
                ae_epoch(
                    model.ae,
                    ae_jobs.tokens,
                    ae_jobs.bag,
                    ae_opt,
                    batch_size=bs,
                    max_tokens=max_tokens,
                    rng=rng,
                    desc=f"update AE {ep + 1}/{epochs}",
                    progress=progress,
                )
            )
        with model.net.deep_alone():  # the deep path learns alone, as in the first fit
            if data is None or autoencoder:  # the codes move with the autoencoder
                data = model.prepare(batch, fixed_codes=not model.trainable_encoder)
            loss = net_epoch(
                model.net,
                enc,
                data,
                targets,
                weights,
                model.pos_weight,
                opt,
                batch_size=bs,
                max_tokens=max_tokens,
                rng=rng,
                desc=f"update tag net {ep + 1}/{epochs}",
                progress=progress,
            )
        history["tagger_loss"].append(loss)
    return history


def refit_wide_path(
    model: TagModel,
    bag: sp.csr_matrix,
    targets: np.ndarray,
    weights: np.ndarray,
    max_iter: int,
    embedding: np.ndarray | None = None,
) -> None:
    """Refit the wide path of `model` in place, warm-started, on raw hashed bags (n, n_features)
    and, in the accurate mode, their (n, d) sentence embeddings, (n, T) targets and (n,)
    weights, with the C its first fit chose (jobtag.training.wide).

    The tag names' evidence fades again by the jobs each tag has now (as the first fit set it:
    `models.names.shrink`, each job counted at its weight), so a tag that an update added starts
    on its name and leans on its own jobs as they come."""
    if embedding is None:
        embedding = np.zeros((bag.shape[0], 0), np.float32)
    x = model.wide_input(bag, embedding)
    y = np.asarray(targets, dtype=np.float32)
    sw = np.asarray(weights, dtype=np.float32)
    weight, bias = model.net.wide.weight.data, model.net.wide_bias.data
    held = 0  # tags (the first `held`) whose embedding rows stay: a stacked fit's
    if model.summary.get("embedding_fit") == STACKED:
        n = model.feature_settings.n_features
        # tags added since (appended, their rows still zero) learn theirs with the bag's
        fitted = np.flatnonzero(weight[n:].abs().sum(0).numpy() > 0)
        held = int(fitted[-1]) + 1 if len(fitted) else 0
        refit_wide(
            weight[:, :held],
            bias[:held],
            x,
            y[:, :held],
            sw,
            C=model.settings.wide_C,
            max_iter=max_iter,
            frozen_from=n,
        )
    if held < y.shape[1]:
        refit_wide(
            weight[:, held:],
            bias[held:],
            x,
            y[:, held:],
            sw,
            C=model.settings.wide_C,
            max_iter=max_iter,
        )
    pseudo_count = name_pseudo_count(model)
    if pseudo_count is not None:
        tag_jobs = (np.asarray(targets, np.float64) * np.asarray(weights)[:, None]).sum(0)
        with torch.no_grad():
            model.net.names_shrink.copy_(torch.from_numpy(shrink(tag_jobs, pseudo_count)))


def name_pseudo_count(model: TagModel) -> float | None:
    """The names' fading pseudo-count the first fit chose, or None when the names do not count
    (or the model predates the record of it)."""
    chosen = model.summary.get("name_weights")
    if not model.net.uses_names or not isinstance(chosen, list) or not chosen:
        return None
    return float(chosen[-1])
