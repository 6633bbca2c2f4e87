"""The contract between featurization and the model: what a batch of featurized jobs looks like."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

# Order of the columns of FeatureBatch.numeric (raw, unscaled).
NUMERIC_NAMES: tuple[str, ...] = (
    "char_count",
    "word_count",
    "word_density",
    "punctuation_count",
    "upper_case_word_count",
    "stop_word_count",
    "noun_count",
    "pronoun_count",
    "verb_count",
    "adjective_count",
    "adverb_count",
)


@dataclass
class FeatureBatch:
    """Features of n jobs.

    bag:     csr_matrix float32 (n, n_features): hashed term counts of title + description.
             Column 0 is never used (it is the padding id of `tokens`).
    numeric: float32 (n, len(NUMERIC_NAMES)): raw text statistics and POS counts, unscaled.
    tokens:  n int32 arrays: the job's hashed token ids in reading order (title first),
             each in [1, n_features), truncated to FeatureSettings.max_tokens.
    embedding: float32 (n, d): sentence embeddings (features.embedder); d = 0 without one.
    """

    bag: sp.csr_matrix
    numeric: np.ndarray
    tokens: list[np.ndarray]
    embedding: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def __post_init__(self) -> None:
        if self.embedding.shape[0] != self.bag.shape[0]:
            if self.embedding.size:
                raise ValueError(
                    f"{self.embedding.shape[0]} embeddings for {self.bag.shape[0]} jobs"
                )
            self.embedding = np.zeros((self.bag.shape[0], 0), np.float32)

    def __len__(self) -> int:
        return self.bag.shape[0]

    def __getitem__(self, idx: slice | np.ndarray | list[int]) -> FeatureBatch:
        if isinstance(idx, slice):
            return FeatureBatch(
                self.bag[idx], self.numeric[idx], self.tokens[idx], self.embedding[idx]
            )
        idx = np.asarray(idx)
        tokens = [self.tokens[i] for i in idx]
        return FeatureBatch(self.bag[idx], self.numeric[idx], tokens, self.embedding[idx])

    @staticmethod
    def concat(batches: list[FeatureBatch]) -> FeatureBatch:
        return FeatureBatch(
            sp.vstack([b.bag for b in batches], format="csr", dtype=np.float32),
            np.concatenate([b.numeric for b in batches]).astype(np.float32, copy=False),
            [t for b in batches for t in b.tokens],
            np.concatenate([b.embedding for b in batches]).astype(np.float32, copy=False),
        )
