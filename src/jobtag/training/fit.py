"""train_model: autoencoder on all jobs; wide and deep paths, their mix and thresholds; refit on all."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from jobtag.config import FeatureSettings, TrainSettings
from jobtag.errors import TrainingError
from jobtag.evaluation.metrics import multilabel_metrics
from jobtag.features.batch import FeatureBatch
from jobtag.features.scaling import NumericScaler
from jobtag.models.autoencoder import AutoencoderConfig, ConvAutoencoder, reconstruction_recall
from jobtag.models.forward import NetInputs, net_scores
from jobtag.models.inputs import BagWeighting, padded
from jobtag.models.names import SEMANTIC, shrink
from jobtag.models.tagmodel import TagModel
from jobtag.models.tagnet import TagNet, TagNetConfig
from jobtag.models.threads import torch_threads
from jobtag.models.thresholds import best_threshold, calibrate_thresholds
from jobtag.records import label_matrix
from jobtag.training.epochs import ae_epoch, deep_optimizer, net_epoch
from jobtag.training.wide import fit_wide

log = logging.getLogger(__name__)

MIN_LABELED_JOBS = 10


def _val_score(scores: np.ndarray, y: np.ndarray) -> float:
    """Model-selection criterion: mean of micro-F1 and macro-F1 at the best global threshold."""
    thr, micro = best_threshold(scores.ravel(), y.ravel())
    pred = scores >= thr
    present = y.any(0)
    tp = (pred & y).sum(0)[present]
    den = pred.sum(0)[present] + y.sum(0)[present]
    macro = float(np.mean(2 * tp / np.maximum(den, 1))) if present.any() else 0.0
    return (micro + macro) / 2


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


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
    opt = torch.optim.Adam(ae.parameters(), lr=settings.ae_lr)
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


@dataclass
class _Deep:
    """The deep path's training outcome on the fitting rows."""

    epoch: int  # the early-stopped epoch (all epochs when there was no validation)
    losses: list[float]
    curve: list[float]  # validation score per epoch
    val_logits: np.ndarray | None  # (n_val, T) logits of the deep path alone at `epoch`


def _fit_deep(
    model: TagModel,
    data: NetInputs,
    y: np.ndarray,
    val: tuple[NetInputs, np.ndarray] | None,
    epochs: int,
    rng: np.random.Generator,
    progress: bool,
    label: str,
) -> _Deep:
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
                    batch_size=s.batch_size,
                    max_tokens=fs.max_tokens,
                    rng=rng,
                    desc=f"{label} {ep + 1}/{epochs}",
                    progress=progress,
                )
            )
            if val is None:
                continue
            vs = net_scores(model.net, enc, val[0], fs.max_tokens)
            curve.append(_val_score(vs, val[1]))
            log.info(
                "%s epoch %d: loss %.4f, validation %.4f", label, ep + 1, losses[-1], curve[-1]
            )
            if curve[-1] > best[0] + 1e-4:
                state = copy.deepcopy((model.net.state_dict(), enc.state_dict() if enc else None))
                best = (curve[-1], ep + 1, state, _logit(vs))
            elif ep + 1 - best[1] >= s.patience:
                break
    if best[2] is not None:
        model.net.load_state_dict(best[2][0])
        if enc is not None:
            enc.load_state_dict(best[2][1])
    return _Deep(best[1], losses, curve, best[3])


@dataclass
class _Names:
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


def _name_grid(settings: TrainSettings, semantic: bool = False) -> list[_Names]:
    """The weights tried; the semantic channel's only when the jobs have embeddings."""
    grid = [_Names()]
    for a in settings.name_weights:
        for t in settings.title_name_weights:
            for m in settings.semantic_name_weights if semantic else (0.0,):
                if a or t or m:
                    grid += [_Names(a, t, m, c) for c in settings.name_pseudo_counts]
    return grid


@dataclass
class _Mix:
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
    names: _Names = dataclasses.field(default_factory=_Names)
    unit: float = 0.0  # std(wide margins) on validation: the names' weights' unit


def _choose_mix(
    x_fit: Any,
    y_fit: np.ndarray,
    x_val: Any,
    y_val: np.ndarray,
    deep_val: np.ndarray | None,
    settings: TrainSettings,
    names_val: np.ndarray | None = None,
) -> _Mix:
    """Grid over (C, tag names' weights) on the validation slice, then the deep path's weight
    beside the winner; Platt-calibrate the result. `names_val`: (n_val, 3, T) tag-name matches
    (None: unused).

    The deep path gets a weight only when that beats the wide path alone on validation by at
    least settings.deep_min_gain (a validation slice of a few hundred jobs is noisy: measured on
    80/20 splits of train, a weight chosen on noise cost more than it gained)."""
    name_grid = [_Names()]
    if names_val is not None:
        name_grid = _name_grid(settings, semantic=bool(names_val[:, SEMANTIC].any()))
    tag_jobs = y_fit.sum(0)
    best: dict[bool, tuple[Any, ...]] = {}  # with deep? -> (score, C, w, scale, z, coef, b, names)
    tried: dict[str, float] = {}
    for C in settings.wide_C_grid:
        coef, intercept = fit_wide(x_fit, y_fit, C)
        margins = np.asarray(x_val @ coef) + intercept  # (n_val, T)
        unit = float(margins.std())
        scale = float(unit / max(deep_val.std(), 1e-6)) if deep_val is not None else 0.0
        for names in name_grid:
            z = margins
            if any(names.weights):
                z = margins + names.prior(names_val, tag_jobs, unit)
            score = _val_score(z, y_val)
            tried[f"C={C:g},{names},deep=0"] = round(score, 4)
            if False not in best or score > best[False][0] + 1e-9:
                best[False] = (score, C, 0.0, scale, z, coef, intercept, names, unit)
    _, C, _, scale, base, coef, intercept, names, unit = best[False]
    for w in sorted(set(settings.deep_weights) - {0.0}) if deep_val is not None else ():
        z = base + w * scale * deep_val
        score = _val_score(z, y_val)
        tried[f"C={C:g},{names},deep={w:g}"] = round(score, 4)
        if True not in best or score > best[True][0] + 1e-9:
            best[True] = (score, C, w, scale, z, coef, intercept, names, unit)
    use_deep = True in best and best[True][0] >= best[False][0] + settings.deep_min_gain
    _, C, w, scale, z, coef, intercept, names, unit = best[use_deep]
    platt = LogisticRegression(C=1.0).fit(z.reshape(-1, 1), y_val.reshape(-1))
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    val_scores = 1 / (1 + np.exp(-(a * z + b)))
    return _Mix(
        C, w, scale, a, b, (coef, intercept), tried, val_scores.astype(np.float32), names, unit
    )


def _apply_mix(model: TagModel, mix: _Mix, tag_jobs: np.ndarray) -> None:
    """Set the net's mix from validation's choice; `tag_jobs`: (T,) labeled jobs per tag that
    the served model learned from (the names' evidence fades with them)."""
    net = model.net
    with torch.no_grad():
        net.mix.copy_(torch.tensor([mix.a * mix.deep_weight * mix.scale, mix.a]))
        net.offset.fill_(mix.b)
        net.names_weight.copy_(torch.tensor(mix.names.weights) * mix.unit)
        net.names_shrink.copy_(torch.from_numpy(shrink(tag_jobs, mix.names.pseudo_count)))
    model.settings.wide_C = mix.C  # what an update's warm refit minimises


def _set_wide(model: TagModel, coef: np.ndarray, intercept: np.ndarray) -> None:
    with torch.no_grad():
        model.net.wide.weight.copy_(torch.from_numpy(coef))
        model.net.wide_bias.copy_(torch.from_numpy(intercept))


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
    3. Refit (settings.refit): both paths are fitted again on every labeled job (the deep path for
       the early-stopped number of epochs, skipped when its weight is 0), keeping step 2's choices.
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
    ) -> None:
        self.ae, self.ae_state = ae, copy.deepcopy(ae.state_dict())
        self.tags, self.scaler, self.weighting = tags, scaler, weighting
        self.fs, self.settings, self.pos_weight, self.n_numeric = (
            fs,
            settings,
            pos_weight,
            n_numeric,
        )
        self.n_embed = n_embed

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
            n_features=self.fs.n_features,
            wide=s.wide,
            n_embed=self.n_embed if s.wide else 0,
        )
        n = len(self.tags)
        return TagModel(
            ae=self.ae,
            net=TagNet(cfg),
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
    deep = _fit_deep(model, data, y, None, s.tagger_epochs, rng, progress, "deep")
    if model.net.wide is not None:
        _set_wide(model, *fit_wide(data.wide, y, s.wide_C))
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
    fit_data = model.prepare(train[labeled[fit_rows]])
    val_data = model.prepare(train[labeled[val_rows]])
    y_fit, y_val = y_all[fit_rows], y_all[val_rows]
    deep = _fit_deep(
        model, fit_data, y_fit, (val_data, y_val), s.tagger_epochs, rng, progress, "deep path"
    )
    if model.net.wide is None:  # the seed architecture alone: the deep path's own scores
        scores = (1 / (1 + np.exp(-deep.val_logits))).astype(np.float32)
        mix = _Mix(0.0, 1.0, 1.0, 1.0, 0.0, None, {}, scores)
    else:
        names_val = model.name_matches(train[labeled[val_rows]])
        mix = _choose_mix(fit_data.wide, y_fit, val_data.wide, y_val, deep.val_logits, s, names_val)
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
        thresholds, glob = model.thresholds, model.global_threshold
        if mix.deep_weight > 0:  # a deep path without weight is not worth retraining
            model = new_model()
            all_data = model.prepare(train[labeled])
            refit = _fit_deep(model, all_data, y_all, None, deep.epoch, rng, progress, "refit")
            summary["refit_loss"] = refit.losses
        else:
            all_data = model.prepare(train[labeled], fixed_codes=False)
        model.thresholds, model.global_threshold = thresholds, glob
        if model.net.wide is not None:
            _set_wide(model, *fit_wide(all_data.wide, y_all, mix.C))
    elif mix.wide_fit is not None:  # no refit: the SVM validation chose, fitted on the fit rows
        _set_wide(model, *mix.wide_fit)
    if model.net.wide is not None:
        _apply_mix(model, mix, (y_all if s.refit else y_fit).sum(0))
    summary["mix"] = model.net.mix.tolist() + [float(model.net.offset)]
    return model, val_metrics
