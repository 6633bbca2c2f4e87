"""train_model: AE pretraining on all jobs, tagger with early stopping + thresholds, refit on all."""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from jobtag.config import FeatureSettings, TrainSettings
from jobtag.errors import TrainingError
from jobtag.evaluation.metrics import multilabel_metrics
from jobtag.features.batch import FeatureBatch
from jobtag.features.scaling import NumericScaler
from jobtag.models.autoencoder import AutoencoderConfig, ConvAutoencoder, reconstruction_recall
from jobtag.models.inputs import BagWeighting, padded
from jobtag.models.loops import ae_epoch, tagger_epoch, tagger_scores
from jobtag.models.tagger import TaggerConfig, TaggerNet
from jobtag.models.tagmodel import TagModel
from jobtag.models.thresholds import best_threshold, calibrate_thresholds

log = logging.getLogger(__name__)

MIN_LABELED_JOBS = 10


def _val_score(scores: np.ndarray, y: np.ndarray) -> float:
    """Early-stopping criterion: mean of micro-F1 and macro-F1 at the best global threshold."""
    thr, micro = best_threshold(scores.ravel(), y.ravel())
    pred = scores >= thr
    present = y.any(0)
    tp = (pred & y).sum(0)[present]
    den = pred.sum(0)[present] + y.sum(0)[present]
    macro = float(np.mean(2 * tp / np.maximum(den, 1))) if present.any() else 0.0
    return (micro + macro) / 2


def _pretrain_autoencoder(
    jobs: FeatureBatch,
    settings: TrainSettings,
    fs: FeatureSettings,
    rng: np.random.Generator,
    progress: bool,
) -> tuple[ConvAutoencoder, dict[str, Any]]:
    cfg = AutoencoderConfig(
        n_features=fs.n_features,
        embed_dim=settings.ae_embed_dim,
        channels=settings.ae_channels,
        kernel_size=settings.ae_kernel,
        code_dim=settings.code_dim,
    )
    ae = ConvAutoencoder(cfg)
    ae.init_prior(jobs.bag)
    opt = torch.optim.Adam(ae.parameters(), lr=settings.ae_lr)
    losses = []
    t0 = time.perf_counter()
    for ep in range(settings.ae_epochs):
        losses.append(
            ae_epoch(
                ae,
                jobs.tokens,
                jobs.bag,
                opt,
                batch_size=settings.batch_size,
                max_tokens=fs.max_tokens,
                rng=rng,
                desc=f"autoencoder {ep + 1}/{settings.ae_epochs}",
                progress=progress,
            )
        )
        log.info("autoencoder epoch %d/%d: loss %.4f", ep + 1, settings.ae_epochs, losses[-1])
    sample = rng.choice(len(jobs), size=min(len(jobs), 1000), replace=False)
    prior = np.bincount(jobs.bag.indices, minlength=fs.n_features).astype(np.float64)
    prior[0] = -1
    sub = jobs[np.sort(sample)]
    quality = reconstruction_recall(ae, padded(sub.tokens, fs.max_tokens), sub.bag, prior=prior)
    info = {"loss": losses, "seconds": time.perf_counter() - t0, **quality}
    log.info(
        "autoencoder reconstruction recall@k %.3f (frequency baseline %.3f)",
        quality["recall_at_k"],
        quality["baseline_recall_at_k"],
    )
    return ae, info


MIX_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)  # weights of the deep path beside the linear one


def _fit_wide(model: TagModel, x: sp.csr_matrix, y: np.ndarray) -> None:
    """Fit the wide path as one-vs-rest L2 logistic regression (liblinear, settings.wide_C)."""
    s = model.settings
    coef = np.zeros((y.shape[1], x.shape[1]), dtype=np.float32)
    intercept = np.full(y.shape[1], -6.0, dtype=np.float32)
    for j in range(y.shape[1]):
        if 0 < y[:, j].sum() < len(y):
            if s.wide_solver == "svm":  # squared hinge: margins, not log-odds
                clf: Any = LinearSVC(C=s.wide_C)
            else:
                clf = LogisticRegression(C=s.wide_C, solver="liblinear", max_iter=200)
            clf.fit(x, y[:, j])
            coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
        elif y[:, j].all():
            intercept[j] = 6.0
    with torch.no_grad():
        model.tagger.wide.weight.copy_(torch.from_numpy(coef.T.copy()))
        model.tagger.wide_bias.copy_(torch.from_numpy(intercept))


def _set_mix(model: TagModel, deep: float, wide: float) -> None:
    model.tagger.mix.copy_(torch.tensor([deep, wide]))


def _fit_tagger(
    model: TagModel,
    data_idx: np.ndarray,
    y: np.ndarray,
    train: FeatureBatch,
    epochs: int,
    val: tuple[np.ndarray, np.ndarray] | None,
    rng: np.random.Generator,
    progress: bool,
    label: str,
) -> tuple[dict[str, Any], list[float], list[float]]:
    """Train the tagger on rows data_idx, early-stopped on `val` (rows, truth) when given.

    With wide_solver "liblinear" the wide path is fitted first by logistic regression, the deep
    (seed) path is then trained alone, and their mix is chosen on `val` (kept when val is None).
    Otherwise both paths train jointly. Returns best (epoch, score, scores, mix), losses, curve.
    """
    s, fs = model.settings, model.feature_settings
    enc = model.ae.encoder if model.trainable_encoder else None
    # the tagger's mini-batch ops are small: intra-op threads only add barriers (measured 10x
    # slower with 2 threads on a busy 2-core machine); the encoder passes keep settings.threads
    data = model.prepare(train[data_idx])
    torch.set_num_threads(1)
    val_data = model.prepare(train[val[0]]) if val is not None else None
    apart = model.tagger.wide is not None and s.wide_solver in ("liblinear", "svm")
    final_mix = model.tagger.mix.clone()
    if apart:
        _fit_wide(model, data.wide, y)
        _set_mix(model, 1.0, 0.0)
    opt = model.optimizer()
    weights = np.ones(len(data_idx), np.float32)
    best: dict[str, Any] = {"score": -1.0, "epoch": epochs, "state": None}
    losses: list[float] = []
    curve: list[float] = []
    stale = 0
    for ep in range(epochs):
        losses.append(
            tagger_epoch(
                model.tagger,
                enc,
                data,
                y,
                weights,
                model.pos_weight,
                opt,
                batch_size=s.batch_size,
                max_tokens=fs.max_tokens,
                rng=rng,
                desc=f"{label} {ep + 1}/{epochs}",
                progress=progress,
            )
        )
        if val_data is None:
            continue
        score = _val_score(tagger_scores(model.tagger, enc, val_data, fs.max_tokens), val[1])
        curve.append(score)
        log.info("%s epoch %d: loss %.4f, validation F1 %.4f", label, ep + 1, losses[-1], score)
        if score > best["score"] + 1e-4:
            state = (model.tagger.state_dict(), model.ae.encoder.state_dict() if enc else None)
            best.update(score=score, epoch=ep + 1, state=copy.deepcopy(state))
            stale = 0
        else:
            stale += 1
            if stale >= s.patience:
                break
    if best["state"] is not None:
        model.tagger.load_state_dict(best["state"][0])
        if best["state"][1] is not None:
            model.ae.encoder.load_state_dict(best["state"][1])
    best.pop("state")
    if apart:
        if val_data is None:
            _set_mix(model, *final_mix.tolist())
        else:
            tried = {}
            for a in MIX_GRID:
                _set_mix(model, a, 1.0)
                vs = tagger_scores(model.tagger, enc, val_data, fs.max_tokens)
                tried[a] = (_val_score(vs, val[1]), vs)
            a = max(tried, key=lambda k: (tried[k][0], k))
            _set_mix(model, a, 1.0)
            log.info(
                "%s: deep-path weight %.2f beside the linear path (validation F1 %s)",
                label,
                a,
                ", ".join(f"{k}: {v[0]:.4f}" for k, v in tried.items()),
            )
            best["deep_only_score"] = best["score"]
            best["score"] = tried[a][0]
    best["mix"] = model.tagger.mix.tolist()
    torch.set_num_threads(max(1, s.threads))
    if val_data is not None:
        best["scores"] = tagger_scores(model.tagger, enc, val_data, fs.max_tokens)
    return best, losses, curve


def train_model(
    train: FeatureBatch,
    labels: Sequence[frozenset[str] | None],
    settings: TrainSettings,
    feature_settings: FeatureSettings,
    *,
    unlabeled: FeatureBatch | None = None,
    progress: bool = True,
) -> TagModel:
    """Train a TagModel; `labels[i]` None marks an unlabeled job (autoencoder only, never a negative).

    1. The convolutional autoencoder learns from all jobs (train + `unlabeled`), settings.ae_epochs.
    2. The labeled jobs are split (settings.val_fraction, seeded) into a fitting part and a
       validation slice. With the wide path (default) a one-vs-rest logistic regression on the
       TF-IDF bag is fitted first; the seed's deep tagger (code + numeric -> 5 hidden layers) is
       trained on the frozen codes (or end to end with finetune_encoder), early-stopped on the
       validation slice; the deep path's weight beside the linear one is chosen there
       (MIX_GRID); per-tag thresholds are chosen there (shrunk toward the global one).
    3. Refit (settings.refit): everything is fitted again on all labeled jobs -- the logistic
       regression to convergence, the deep path for the early-stopped number of epochs (skipped
       when its weight is 0) -- keeping the mix and the thresholds from step 2.
    """
    t_start = time.perf_counter()
    if len(labels) != len(train):
        raise TrainingError(f"{len(train)} featurized jobs but {len(labels)} label sets")
    torch.set_num_threads(max(1, settings.threads))
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    labeled = np.array([i for i, t in enumerate(labels) if t is not None], dtype=np.int64)
    counts = Counter(t for i in labeled for t in labels[i])
    tags = sorted(t for t, c in counts.items() if c >= settings.min_tag_jobs)
    if len(labeled) < MIN_LABELED_JOBS:
        raise TrainingError(
            f"only {len(labeled)} labeled jobs; at least {MIN_LABELED_JOBS} are needed to train"
        )
    if not tags:
        raise TrainingError(
            f"no tag has {settings.min_tag_jobs}+ labeled jobs among {len(labeled)} labeled jobs"
        )
    all_jobs = FeatureBatch.concat([train, unlabeled]) if unlabeled is not None else train
    ae, ae_info = _pretrain_autoencoder(all_jobs, settings, feature_settings, rng, progress)
    ae_state = copy.deepcopy(ae.state_dict())
    scaler = NumericScaler().fit(all_jobs.numeric)
    weighting = BagWeighting().fit(all_jobs.bag) if settings.wide else None

    n_lab = len(labeled)
    pos = {t: j for j, t in enumerate(tags)}
    y_all = np.zeros((n_lab, len(tags)), dtype=bool)
    for r, i in enumerate(labeled):
        for t in labels[i]:
            if t in pos:
                y_all[r, pos[t]] = True
    p = y_all.sum(0).astype(np.float64)
    pos_weight = np.clip((n_lab - p) / np.maximum(p, 1), 1.0, max(1.0, settings.pos_weight_cap))

    def new_model() -> TagModel:
        torch.manual_seed(settings.seed)
        ae.load_state_dict(ae_state)
        tagger = TaggerNet(
            TaggerConfig(
                n_tags=len(tags),
                code_dim=settings.code_dim,
                n_numeric=train.numeric.shape[1],
                hidden=tuple(settings.hidden),
                dropout=settings.dropout,
                n_features=feature_settings.n_features,
                wide=settings.wide,
            )
        )
        return TagModel(
            ae,
            tagger,
            tags,
            np.full(len(tags), 0.5, np.float32),
            0.5,
            scaler,
            weighting,
            feature_settings,
            copy.deepcopy(settings),
            pos_weight,
        )

    n_val = int(round(settings.val_fraction * n_lab))
    order = np.random.default_rng([settings.seed, 1]).permutation(n_lab)  # independent of AE
    val_rows, fit_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    model = new_model()
    summary: dict[str, Any] = {
        "jobs": len(train),
        "labeled_jobs": n_lab,
        "unlabeled_jobs": len(all_jobs) - n_lab,
        "tags": len(tags),
        "validation_jobs": n_val,
        "autoencoder": ae_info,
    }
    val_metrics: dict[str, Any] = {}
    if n_val >= 2 and len(fit_rows) >= 2:
        best, losses, vcurve = _fit_tagger(
            model,
            labeled[fit_rows],
            y_all[fit_rows],
            train,
            settings.tagger_epochs,
            (labeled[val_rows], y_all[val_rows]),
            rng,
            progress,
            "tagger",
        )
        y_val, vscores = y_all[val_rows], best["scores"]
        model.thresholds, model.global_threshold = calibrate_thresholds(
            vscores, y_val, settings.min_calibration_positives, settings.threshold_shrink
        )
        val_metrics = multilabel_metrics(y_val, model.decide(vscores), vscores)
        summary.update(
            best_epoch=best["epoch"],
            tagger_loss=losses,
            validation_curve=vcurve,
            mix=best["mix"],
            deep_only_val_score=best.get("deep_only_score"),
        )
        # a deep path the validation mix dropped (weight 0) is not worth retraining
        epochs = best["epoch"] if best["mix"][0] > 0 else 0
        if settings.refit:
            thresholds, glob, mix = model.thresholds, model.global_threshold, best["mix"]
            model = new_model()
            model.thresholds, model.global_threshold = thresholds, glob
            _set_mix(model, *mix)
            _, losses, _ = _fit_tagger(
                model, labeled, y_all, train, epochs, None, rng, progress, "refit tagger"
            )
            summary["refit_loss"] = losses
    else:
        log.warning("validation slice too small (%d jobs): no early stopping, threshold 0.5", n_val)
        _, losses, _ = _fit_tagger(
            model, labeled, y_all, train, settings.tagger_epochs, None, rng, progress, "tagger"
        )
        summary.update(best_epoch=settings.tagger_epochs, tagger_loss=losses)
    summary["train_seconds"] = time.perf_counter() - t_start
    model.summary, model.val_metrics = summary, val_metrics
    log.info(
        "trained on %d labeled jobs, %d tags in %.1fs; validation micro-F1 %.4f macro-F1 %.4f",
        n_lab,
        len(tags),
        summary["train_seconds"],
        val_metrics.get("micro_f1", float("nan")),
        val_metrics.get("macro_f1", float("nan")),
    )
    return model
