"""Tiny synthetic featurized jobs whose tags depend on their words (shared by model tests)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jobtag.config import FeatureSettings, TrainSettings
from jobtag.features.batch import FeatureBatch

N_FEATURES = 512
TAGS = ("python", "sales", "design")
# words 1-30 are generic; each tag owns a block of 20 indicative word ids
TAG_WORDS = {t: np.arange(40 + 20 * k, 60 + 20 * k) for k, t in enumerate(TAGS)}


def make_jobs(n: int, seed: int = 0) -> tuple[FeatureBatch, list[frozenset[str]]]:
    """n jobs; each has 1-2 tags, 12 of its ~30 tokens from its tags' blocks."""
    rng = np.random.default_rng(seed)
    tokens, labels = [], []
    for _ in range(n):
        k = 1 if rng.random() < 0.7 else 2
        tags = frozenset(rng.choice(TAGS, size=k, replace=False).tolist())
        own = np.concatenate([TAG_WORDS[t] for t in sorted(tags)])
        words = np.concatenate([rng.integers(1, 31, size=18), rng.choice(own, size=12)])
        rng.shuffle(words)
        tokens.append(words.astype(np.int32))
        labels.append(tags)
    rows = np.repeat(np.arange(n), [len(t) for t in tokens])
    cols = np.concatenate(tokens)
    bag = sp.csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols)), shape=(n, N_FEATURES), dtype=np.float32
    )
    bag.sum_duplicates()
    numeric = rng.random((n, 11)).astype(np.float32) * 10
    return FeatureBatch(bag, numeric, tokens), labels


FS = FeatureSettings(n_features=N_FEATURES, max_tokens=64, embedder="none")


def tiny_settings(**kw: object) -> TrainSettings:
    """Train settings small enough for a unit test (seeded, one thread)."""
    base: dict[str, object] = dict(
        ae_epochs=2,
        tagger_epochs=12,
        batch_size=16,
        tagger_batch_size=16,
        patience=4,
        seed=3,
        threads=1,
    )
    base.update(kw)
    return TrainSettings(**base)


def train_tiny():  # -> TagModel
    """A model fitted on 160 synthetic jobs (what the `trained` fixtures of model tests hold)."""
    from jobtag.training.fit import train_model

    batch, labels = make_jobs(160, seed=1)
    return train_model(batch, labels, tiny_settings(), FS, progress=False)
