"""TagModel: the trained networks + tags + thresholds + fitted input transforms; scores, decides."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from jobtag.config import FeatureSettings, TrainSettings
from jobtag.errors import ConfigError
from jobtag.features.batch import FeatureBatch
from jobtag.features.scaling import NumericScaler
from jobtag.models.autoencoder import ConvAutoencoder
from jobtag.models.forward import NetInputs, encode, net_scores
from jobtag.models.inputs import BagWeighting, join_embedding
from jobtag.models.names import TagNames
from jobtag.models.tagnet import TagNet
from jobtag.models.threads import torch_threads
from jobtag.models.thresholds import calibrate_thresholds
from jobtag.records import label_matrix

log = logging.getLogger(__name__)


class TagModel:
    """Everything needed to score and tag featurized jobs (fitted by jobtag.training)."""

    def __init__(
        self,
        *,
        ae: ConvAutoencoder,
        net: TagNet,
        tags: Sequence[str],
        thresholds: np.ndarray,
        global_threshold: float,
        scaler: NumericScaler,
        weighting: BagWeighting | None,
        feature_settings: FeatureSettings,
        settings: TrainSettings,
        pos_weight: np.ndarray,
        summary: dict[str, Any] | None = None,
        val_metrics: dict[str, Any] | None = None,
    ) -> None:
        if len(tags) != net.cfg.n_tags or len(thresholds) != len(tags):
            raise ValueError(
                f"{len(tags)} tags, {net.cfg.n_tags} outputs, {len(thresholds)} thresholds"
            )
        self.ae = ae
        self.net = net
        self.tags: list[str] = list(tags)
        self.thresholds = np.asarray(thresholds, dtype=np.float32)
        self.global_threshold = float(global_threshold)
        self.scaler = scaler
        self.weighting = weighting
        self.feature_settings = feature_settings
        self.settings = settings
        self.pos_weight = np.asarray(pos_weight, dtype=np.float32)
        self.summary: dict[str, Any] = dict(summary or {})
        self.val_metrics: dict[str, Any] = dict(val_metrics or {})
        self.tag_names = TagNames(
            self.tags, feature_settings.n_features, embedder=feature_settings.embedder
        )

    # ---- inputs -------------------------------------------------------------------------
    @property
    def trainable_encoder(self) -> bool:
        return bool(self.settings.finetune_encoder)

    def prepare(self, batch: FeatureBatch, *, fixed_codes: bool | None = None) -> NetInputs:
        """The net's inputs of a batch: scaled numeric, weighted bag, codes unless fine-tuning."""
        fixed = (not self.trainable_encoder) if fixed_codes is None else fixed_codes
        if batch.bag.shape[1] != self.feature_settings.n_features:
            raise ValueError(
                f"batch has {batch.bag.shape[1]} features, model expects "
                f"{self.feature_settings.n_features}"
            )
        codes = None
        if fixed and self.net.uses_deep:  # no deep weight: the code is not needed
            codes = encode(self.ae.encoder, batch.tokens, self.feature_settings.max_tokens)
        wide = self.wide_input(batch.bag, batch.embedding) if self.net.wide is not None else None
        names = self.name_matches(batch) if self.net.uses_names else None
        numeric = self.scaler.transform(batch.numeric)
        return NetInputs(batch.tokens, numeric, codes, wide, names, self.deep_embedding(batch))

    def deep_embedding(self, batch: FeatureBatch) -> np.ndarray | None:
        """The deep path's sentence vectors (n, deep_embed): the embedding on its top directions
        (the net's embed_basis, scaled so that a component is ~1 in size, like the layer-normed
        code's and the scaled numeric features'); None when the deep path reads none."""
        cfg = self.net.cfg
        if not cfg.deep_embed or not self.net.uses_deep:
            return None
        if batch.embedding.shape[1] != cfg.deep_embed_from:
            raise ConfigError(
                f"the model's deep path expects sentence embeddings of width "
                f"{cfg.deep_embed_from}, the features have {batch.embedding.shape[1]}: featurize "
                f"with the model's feature settings (features.embedder="
                f"{self.feature_settings.embedder!r})"
            )
        basis = self.net.embed_basis.numpy()  # (deep_embed_from, deep_embed)
        return np.asarray(np.asarray(batch.embedding, np.float32) @ basis, np.float32)

    def wide_input(self, bag: Any, embedding: np.ndarray) -> Any:
        """The wide path's input (csr): the TF-IDF bag and, in the accurate mode, the embedding."""
        want = self.net.cfg.n_embed
        if embedding.shape[1] != want:
            raise ConfigError(
                f"the model expects sentence embeddings of width {want} (features.embedder="
                f"{self.feature_settings.embedder!r} when it was trained), the features have "
                f"{embedding.shape[1]}: featurize with the model's feature settings (an "
                f"accurate-mode model that embedded the text but not the title alone: retrain "
                f"it with `jobtag train`)"
            )
        return join_embedding(
            self.weighting.transform(bag), embedding, self.settings.embedding_weight
        )

    def name_matches(self, batch: FeatureBatch) -> np.ndarray:
        """(n, 3, T) how each job matches each tag's name (models/names.py)."""
        return self.tag_names.matches(batch.bag, batch.embedding)

    def targets_for(self, labels: Sequence[frozenset[str] | None]) -> np.ndarray:
        """bool (n, T) indicator matrix of the model's tags (unknown tags and None rows: all False)."""
        return label_matrix(labels, self.tags)

    # ---- inference ----------------------------------------------------------------------
    def scores(self, batch: FeatureBatch) -> np.ndarray:
        """(n, T) float32 scores in [0, 1], one column per entry of `tags`."""
        if len(batch) == 0:
            return np.zeros((0, len(self.tags)), dtype=np.float32)
        with torch.no_grad(), torch_threads(self.settings.threads):
            data = self.prepare(batch, fixed_codes=True)
            return net_scores(self.net, None, data, self.feature_settings.max_tokens)

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """bool (n, T): score >= the tag's threshold; with settings.min_one_tag the top tag at least."""
        scores = np.asarray(scores)
        out = scores >= self.thresholds[None, :]
        if self.settings.min_one_tag and scores.shape[0] and scores.shape[1]:
            empty = ~out.any(1)
            out[np.flatnonzero(empty), scores[empty].argmax(1)] = True
        return out

    # ---- growing and deciding -----------------------------------------------------------
    def add_tags(self, new_tags: Sequence[str]) -> list[str]:
        """Append tags not yet known (old outputs and thresholds untouched); returns those added."""
        added = [t for t in dict.fromkeys(new_tags) if t not in set(self.tags)]
        if not added:
            return []
        self.net.add_tags(len(added))
        self.tags += added
        self.tag_names.add(added)
        self.thresholds = np.r_[self.thresholds, np.full(len(added), self.global_threshold)].astype(
            np.float32
        )
        cap = float(self.settings.pos_weight_cap)
        self.pos_weight = np.r_[self.pos_weight, np.full(len(added), cap)].astype(np.float32)
        log.info("added %d tag(s): %s", len(added), ", ".join(added))
        return added

    def calibrate(self, batch: FeatureBatch, y: np.ndarray) -> np.ndarray:
        """Recompute the thresholds from bool (n, T) truth on `batch`; returns them."""
        self.thresholds, self.global_threshold = calibrate_thresholds(
            self.scores(batch),
            y,
            self.settings.min_calibration_positives,
            self.settings.threshold_shrink,
        )
        return self.thresholds
