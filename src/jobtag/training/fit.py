"""train_model: autoencoder on all jobs; wide and deep paths, their mix and thresholds; refit on all."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from jobtag.config import FeatureSettings, TrainSettings
from jobtag.errors import TrainingError
from jobtag.evaluation.metrics import multilabel_metrics
from jobtag.features.batch import FeatureBatch
from jobtag.features.scaling import NumericScaler
from jobtag.models.autoencoder import AutoencoderConfig, ConvAutoencoder, reconstruction_recall
from jobtag.models.inputs import BagWeighting, padded
from jobtag.models.tagmodel import TagModel
from jobtag.models.tagnet import TagNet, TagNetConfig
from jobtag.models.threads import torch_threads
from jobtag.models.thresholds import calibrate_thresholds
from jobtag.records import label_matrix
from jobtag.training.deep import cross_fit_deep, fit_deep
from jobtag.training.embedfit import STACKED, StackedFit, WideFit, top_directions, wide_fitter
from jobtag.training.epochs import adam, ae_epoch
from jobtag.training.mix import (
    Mix,
    apply_mix,
    best_weight,
    choose_mix,
    choose_wide,
    out_of_fold,
    platt,
    val_score,
    weigh_deep,
)

log = logging.getLogger(__name__)

MIN_LABELED_JOBS = 10


@contextlib.contextmanager
def _beside_deep(settings: TrainSettings) -> Iterator[Callable[..., Future]]:
    """start(fn, *args) -> Future: with settings.wide_beside_deep, fn runs in a thread of its own
    (the wide path's SVM fits, which never touch torch or the training's random generator, while
    the deep path trains on this thread: liblinear and torch's ops release the GIL), else now.
    One fit at a time in that thread: liblinear's random generator is process-wide."""
    if not settings.wide_beside_deep:

        def now(fn: Callable[..., Any], *args: Any) -> Future:
            done: Future = Future()
            done.set_result(fn(*args))
            return done

        yield now
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobtag-wide") as pool:
        yield pool.submit


def _pretrain_autoencoder(
    jobs: FeatureBatch,
    settings: TrainSettings,
    fs: FeatureSettings,
    rng: np.random.Generator,
    progress: bool,
) -> tuple[ConvAutoencoder, dict[str, Any]]:
    """The convolutional autoencoder trained on every job given (labeled or not)."""
    cfg = AutoencoderConfig(
        n_features=fs.n_features,
        embed_dim=settings.ae_embed_dim,
        channels=settings.ae_channels,
        kernel_size=settings.ae_kernel,
        code_dim=settings.code_dim,
    )
    ae = ConvAutoencoder(cfg)
    ae.init_prior(jobs.bag)
    opt = adam(ae.parameters(), lr=settings.ae_lr)
    losses = []
    t0 = time.perf_counter()
    for ep in range(settings.ae_epochs):
        desc = f"autoencoder {ep + 1}/{settings.ae_epochs}"
        losses.append(
            ae_epoch(
                ae,
                jobs.tokens,
                jobs.bag,
                opt,
                batch_size=settings.batch_size,
                max_tokens=fs.max_tokens,
                rng=rng,
                desc=desc,
                progress=progress,
            )
        )
        log.info("autoencoder epoch %d/%d: loss %.4f", ep + 1, settings.ae_epochs, losses[-1])
    sample = np.sort(rng.choice(len(jobs), size=min(len(jobs), 1000), replace=False))
    prior = np.bincount(jobs.bag.indices, minlength=fs.n_features).astype(np.float64)
    prior[0] = -1
    sub = jobs[sample]
    quality = reconstruction_recall(ae, padded(sub.tokens, fs.max_tokens), sub.bag, prior=prior)
    log.info(
        "autoencoder reconstruction recall@k %.3f (frequency baseline %.3f)",
        quality["recall_at_k"],
        quality["baseline_recall_at_k"],
    )
    return ae, {"loss": losses, "seconds": time.perf_counter() - t0, **quality}


def _set_wide(model: TagModel, coef: np.ndarray, intercept: np.ndarray) -> None:
    with torch.no_grad():
        model.net.wide.weight.copy_(torch.from_numpy(coef))
        model.net.wide_bias.copy_(torch.from_numpy(intercept))


def _wide_fit(model: TagModel, summary: dict[str, Any]) -> WideFit:
    """The wide layer's fit (training.embedfit); a stacked one is recorded in the summary
    (an update holds the embedding's rows fixed)."""
    n_features = model.feature_settings.n_features
    fit = wide_fitter(model.settings, n_features, n_features + model.net.cfg.n_embed)
    if isinstance(fit, StackedFit):
        summary["embedding_fit"] = STACKED
    return fit


def _deep_embed_basis(embedding: np.ndarray, rank: int) -> np.ndarray | None:
    """(d, k) the labeled jobs' embedding's top k = min(rank, d) directions, scaled so that a
    job's projected component is ~1 in size (mean square 1); None without an embedding or rank."""
    if rank <= 0 or embedding.shape[1] == 0:
        return None
    basis = top_directions(embedding, rank)
    if basis is None:  # rank >= d: every direction, as they are
        basis = np.eye(embedding.shape[1], dtype=np.float32)
    energy = float(np.square(embedding @ basis, dtype=np.float64).sum(1).mean())
    scale = np.sqrt(basis.shape[1] / max(energy, 1e-12))
    return (basis * scale).astype(np.float32)


def _tag_vocabulary(labels: Sequence[frozenset[str] | None], settings: TrainSettings) -> list[str]:
    labeled = [t for t in labels if t is not None]
    counts = Counter(t for tags in labeled for t in tags)
    tags = sorted(t for t, c in counts.items() if c >= settings.min_tag_jobs)
    if len(labeled) < MIN_LABELED_JOBS:
        raise TrainingError(
            f"only {len(labeled)} labeled jobs; at least {MIN_LABELED_JOBS} are needed to train"
        )
    if not tags:
        raise TrainingError(
            f"no tag has {settings.min_tag_jobs}+ labeled jobs among {len(labeled)} labeled jobs"
        )
    return tags


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

    1. The convolutional autoencoder learns from all jobs (train + `unlabeled`).
    2. The labeled jobs are split (settings.val_fraction, seeded) into a fitting part and a
       validation slice. The seed's deep path (code + scaled text features -> 5 hidden layers) is
       trained alone on the fitting part, early-stopped on the validation slice. The wide path (a
       linear SVM on the TF-IDF bag) is fitted for each C of settings.wide_C_grid; the C and the
       deep path's weight beside it (settings.deep_weights) are chosen on validation, the sum is
       calibrated to probabilities there (Platt), and per-tag thresholds are chosen there.
    3. Refit (settings.refit): with settings.calibration_folds, every labeled job is first scored
       out of fold by both paths (an SVM and a deep path, for the early-stopped number of epochs,
       fitted on the other folds); the deep path's weight, the Platt calibration and the
       thresholds are chosen again on those scores (ten times the slice's jobs). Then both paths
       are fitted again on every labeled job (the deep path skipped when its weight is 0),
       keeping C and the names' weights from step 2.
    """
    t_start = time.perf_counter()
    if len(labels) != len(train):
        raise TrainingError(f"{len(train)} featurized jobs but {len(labels)} label sets")
    with torch_threads(settings.threads):
        return _train(train, labels, settings, feature_settings, unlabeled, progress, t_start)


def _train(
    train: FeatureBatch,
    labels: Sequence[frozenset[str] | None],
    settings: TrainSettings,
    fs: FeatureSettings,
    unlabeled: FeatureBatch | None,
    progress: bool,
    t_start: float,
) -> TagModel:
    settings = copy.deepcopy(settings)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    tags = _tag_vocabulary(labels, settings)
    labeled = np.array([i for i, t in enumerate(labels) if t is not None], dtype=np.int64)
    if unlabeled is not None and unlabeled.embedding.shape[1] != train.embedding.shape[1]:
        # unlabeled jobs only train the autoencoder, which never reads sentence embeddings
        width = train.embedding.shape[1]
        unlabeled = FeatureBatch(
            unlabeled.bag,
            unlabeled.numeric,
            unlabeled.tokens,
            np.zeros((len(unlabeled), width), np.float32),
        )
    all_jobs = FeatureBatch.concat([train, unlabeled]) if unlabeled is not None else train
    ae, ae_info = _pretrain_autoencoder(all_jobs, settings, fs, rng, progress)
    scaler = NumericScaler().fit(all_jobs.numeric)
    weighting = BagWeighting().fit(all_jobs.bag) if settings.wide else None
    y_all = label_matrix([labels[i] for i in labeled], tags)
    n_lab = len(labeled)
    p = y_all.sum(0).astype(np.float64)
    pos_weight = np.clip((n_lab - p) / np.maximum(p, 1), 1.0, max(1.0, settings.pos_weight_cap))

    new_model = _ModelFactory(
        ae,
        tags,
        scaler,
        weighting,
        fs,
        settings,
        pos_weight,
        n_numeric=train.numeric.shape[1],
        n_embed=train.embedding.shape[1],
        embed_basis=_deep_embed_basis(train.embedding[labeled], settings.deep_embedding),
    )

    n_val = int(round(settings.val_fraction * n_lab))
    order = np.random.default_rng([settings.seed, 1]).permutation(n_lab)  # independent of AE
    val_rows, fit_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    summary: dict[str, Any] = {
        "jobs": len(train),
        "labeled_jobs": n_lab,
        "unlabeled_jobs": len(all_jobs) - n_lab,
        "tags": len(tags),
        "validation_jobs": n_val,
        "autoencoder": ae_info,
    }
    model = new_model()
    if n_val >= 2 and len(fit_rows) >= 2:
        model, val_metrics = _select_and_refit(
            model, new_model, train, labeled, y_all, fit_rows, val_rows, rng, progress, summary
        )
    else:
        log.warning("validation slice too small (%d jobs): defaults, threshold 0.5", n_val)
        val_metrics = {}
        _fit_without_validation(model, train[labeled], y_all, rng, progress, summary)
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


class _ModelFactory:
    """A fresh TagModel around the pretrained autoencoder (reset to its pretrained weights)."""

    def __init__(
        self,
        ae: ConvAutoencoder,
        tags: list[str],
        scaler: NumericScaler,
        weighting: BagWeighting | None,
        fs: FeatureSettings,
        settings: TrainSettings,
        pos_weight: np.ndarray,
        n_numeric: int,
        n_embed: int = 0,
        embed_basis: np.ndarray | None = None,
    ) -> None:
        self.ae, self.ae_state = ae, copy.deepcopy(ae.state_dict())
        self.tags, self.scaler, self.weighting = tags, scaler, weighting
        self.fs, self.settings, self.pos_weight, self.n_numeric = (
            dataclasses.replace(fs),  # the model's own: later changes to the caller's stay there
            settings,
            pos_weight,
            n_numeric,
        )
        self.n_embed = n_embed
        self.embed_basis = embed_basis  # (n_embed, k): the deep path's view of the embedding

    def __call__(self) -> TagModel:
        s = self.settings
        torch.manual_seed(s.seed)
        self.ae.load_state_dict(self.ae_state)
        cfg = TagNetConfig(
            n_tags=len(self.tags),
            code_dim=s.code_dim,
            n_numeric=self.n_numeric,
            hidden=tuple(s.hidden),
            dropout=s.dropout,
            residual=s.residual,
            n_features=self.fs.n_features,
            wide=s.wide,
            n_embed=self.n_embed if s.wide else 0,
            deep_embed=0 if self.embed_basis is None else self.embed_basis.shape[1],
            deep_embed_from=0 if self.embed_basis is None else self.embed_basis.shape[0],
        )
        n = len(self.tags)
        net = TagNet(cfg)
        if self.embed_basis is not None:
            with torch.no_grad():
                net.embed_basis.copy_(torch.from_numpy(self.embed_basis))
        return TagModel(
            ae=self.ae,
            net=net,
            tags=self.tags,
            thresholds=np.full(n, 0.5, np.float32),
            global_threshold=0.5,
            scaler=self.scaler,
            weighting=self.weighting,
            feature_settings=self.fs,
            settings=s,
            pos_weight=self.pos_weight,
        )


def _fit_without_validation(
    model: TagModel,
    jobs: FeatureBatch,
    y: np.ndarray,
    rng: np.random.Generator,
    progress: bool,
    summary: dict[str, Any],
) -> None:
    """Too few labeled jobs to validate on: the deep path trains, the SVM alone decides."""
    s = model.settings
    data = model.prepare(jobs)
    deep = fit_deep(model, data, y, None, s.tagger_epochs, rng, progress, "deep")
    if model.net.wide is not None:
        _set_wide(model, *_wide_fit(model, summary)(data.wide, y, s.wide_C))
        model.net.mix.copy_(torch.tensor([0.0, 1.0]))  # an SVM alone: margin 0 = score 0.5
    summary.update(best_epoch=deep.epoch, tagger_loss=deep.losses, deep_weight=0.0)


def _select_and_refit(
    model: TagModel,
    new_model: Any,
    train: FeatureBatch,
    labeled: np.ndarray,
    y_all: np.ndarray,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    rng: np.random.Generator,
    progress: bool,
    summary: dict[str, Any],
) -> tuple[TagModel, dict[str, Any]]:
    """Steps 2 and 3 of train_model; returns the model to serve and its validation metrics."""
    s = model.settings
    fit_jobs, val_jobs = train[labeled[fit_rows]], train[labeled[val_rows]]
    fit_data, val_data = model.prepare(fit_jobs), model.prepare(val_jobs)
    y_fit, y_val = y_all[fit_rows], y_all[val_rows]
    with _beside_deep(s) as start:
        choosing = None
        if model.net.wide is not None:  # the SVM's C and the tag names' weights, deep path aside
            names_val = model.name_matches(val_jobs)
            fit = _wide_fit(model, summary)
            choosing = start(
                choose_wide, fit_data.wide, y_fit, val_data.wide, y_val, s, names_val, fit
            )
        deep = fit_deep(
            model, fit_data, y_fit, (val_data, y_val), s.tagger_epochs, rng, progress, "deep path"
        )
        wide = None if choosing is None else choosing.result()
    if wide is None:  # the seed architecture alone: the deep path's own scores
        scores = (1 / (1 + np.exp(-deep.val_logits))).astype(np.float32)
        mix = Mix(0.0, 1.0, 1.0, 1.0, 0.0, None, {}, scores)
    else:
        mix = choose_mix(wide, deep.val_logits, y_val, s)
        top = sorted(mix.tried.items(), key=lambda kv: -kv[1])[:5]
        log.info(
            "chose C=%g, %s, deep-path weight %g (validation, best 5 of %d: %s)",
            mix.C,
            mix.names,
            mix.deep_weight,
            len(mix.tried),
            ", ".join(f"{k}: {v:.4f}" for k, v in top),
        )
    model.thresholds, model.global_threshold = calibrate_thresholds(
        mix.val_scores, y_val, s.min_calibration_positives, s.threshold_shrink
    )
    val_metrics = multilabel_metrics(y_val, model.decide(mix.val_scores), mix.val_scores)
    summary.update(
        best_epoch=deep.epoch,
        tagger_loss=deep.losses,
        validation_curve=deep.curve,
        deep_weight=mix.deep_weight,
        wide_C=mix.C,
        name_weights=[*mix.names.weights, mix.names.pseudo_count],
        mix_scores=mix.tried,
        deep_only_val_score=max(deep.curve, default=None),
    )
    if s.refit:
        all_jobs = train[labeled]
        if model.net.wide is not None and s.calibration_folds >= 2:
            return _refit_out_of_fold(
                model, new_model, mix, deep.epoch, all_jobs, y_all, rng, progress, summary
            ), val_metrics
        thresholds, glob = model.thresholds, model.global_threshold
        if mix.deep_weight > 0:  # a deep path without weight is not worth retraining
            model = new_model()
            all_data = model.prepare(all_jobs)
            refit = fit_deep(model, all_data, y_all, None, deep.epoch, rng, progress, "refit")
            summary["refit_loss"] = refit.losses
        else:
            all_data = model.prepare(all_jobs, fixed_codes=False)
        model.thresholds, model.global_threshold = thresholds, glob
        if model.net.wide is not None:
            _set_wide(model, *_wide_fit(model, summary)(all_data.wide, y_all, mix.C))
    elif mix.wide_fit is not None:  # no refit: the SVM validation chose, fitted on the fit rows
        _set_wide(model, *mix.wide_fit)
    if model.net.wide is not None:
        apply_mix(model, mix, (y_all if s.refit else y_fit).sum(0))
    summary["mix"] = model.net.mix.tolist() + [float(model.net.offset)]
    return model, val_metrics


def _refit_out_of_fold(
    model: TagModel,
    new_model: Any,
    mix: Mix,
    deep_epochs: int,
    jobs: FeatureBatch,
    y: np.ndarray,
    rng: np.random.Generator,
    progress: bool,
    summary: dict[str, Any],
) -> TagModel:
    """Step 3 with settings.calibration_folds: every labeled job scored out of fold, then the
    deep path's weight, the Platt calibration and the thresholds chosen on those scores, then
    both paths refitted on every labeled job.

    The validation slice is a tenth of the labeled jobs: a few hundred jobs, a handful of
    positives per tag. Here each job's scores come from an SVM and a deep path (C, the names'
    weights and the deep path's epochs as validation chose them) that never saw it: ten times
    as many jobs to choose on."""
    s = model.settings
    cross = s.deep_cross_fit and any(w > 0 for w in s.deep_weights)
    hopeless = s.deep_cross_fit_min_gain is not None and (
        mix.deep_gain is None or mix.deep_gain < s.deep_cross_fit_min_gain
    )
    if cross and hopeless:  # validation saw no gain: not worth five fits and a refit
        log.info("deep path not cross-fitted: its validation gain was %s", mix.deep_gain)
        summary["deep_cross_fit_skipped"] = {"validation_gain": mix.deep_gain}
        cross = False
    data = new_model().prepare(jobs) if cross else model.prepare(jobs, fixed_codes=False)
    fit = _wide_fit(model, summary)

    def wide_path() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """The wide margins out of fold, then the SVM on every labeled job."""
        held_out = out_of_fold(data.wide, y, mix.C, s.calibration_folds, s.seed, fit)
        return held_out, fit(data.wide, y, mix.C)

    with _beside_deep(s) as start:
        fitting = start(wide_path)
        if cross:
            deep = cross_fit_deep(
                new_model, data, y, deep_epochs, s.calibration_folds, s.seed, rng, progress
            )
        margins, wide_fit = fitting.result()
    if any(mix.names.weights):
        margins = margins + mix.names.prior(model.name_matches(jobs), y.sum(0), mix.unit)
    z, weight, scale = margins, 0.0, 0.0
    if cross:
        scale = float(margins.std() / max(deep.std(), 1e-6))
        base = val_score(margins, y)
        scores = weigh_deep(margins, deep, scale, s.deep_weights, y)
        tried = {0.0: base, **scores}
        best = best_weight(scores)
        if best is not None and scores[best] > base + s.deep_min_gain_out_of_fold:
            weight, z = best, margins + best * scale * deep
        summary["out_of_fold_deep"] = {f"{w:g}": round(v, 4) for w, v in tried.items()}
        log.info("deep-path weight %g out of fold (%s)", weight, summary["out_of_fold_deep"])
    mix.deep_weight, mix.scale = weight, scale
    mix.a, mix.b = platt(z, y)
    scores = 1 / (1 + np.exp(-(mix.a * z + mix.b)))
    if weight > 0:
        model = new_model()
        refit = fit_deep(model, data, y, None, deep_epochs, rng, progress, "refit")
        summary["refit_loss"] = refit.losses
    model.thresholds, model.global_threshold = calibrate_thresholds(
        scores, y, s.min_calibration_positives, s.threshold_shrink
    )
    _set_wide(model, *wide_fit)
    metrics = multilabel_metrics(y, model.decide(scores), scores)
    summary["out_of_fold"] = {k: metrics[k] for k in ("micro_f1", "macro_f1") if k in metrics}
    summary["deep_weight"] = weight
    apply_mix(model, mix, y.sum(0))
    summary["mix"] = model.net.mix.tolist() + [float(model.net.offset)]
    return model
