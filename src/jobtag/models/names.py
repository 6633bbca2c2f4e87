"""Tag names as evidence: the share of a tag's name words that a job has, anywhere and in its title.

A tag called "Customer Service" is more likely on a job that says "customer service". The
per-tag SVM learns this for tags with many labeled jobs; a tag with few (or, after an update
adds it, none) has little to learn it from. The name prior is one signal shared by every tag:
for tag j and job i,

    any[i, j]   = |stems(name_j) ∩ stems(title_i + description_i)| / |stems(name_j)|
    title[i, j] = |stems(name_j) ∩ stems(title_i)| / |stems(name_j)|

with the featurizer's own words, stop words and stems (read off the job's hashed bag, so
nothing is re-tokenized). In the accurate mode (a sentence embedder) a third channel says what
the words cannot: how close the title is in meaning to the tag's name,

    semantic[i, j] = cos(title_i, name_j) - mean over tags of cos(title_i, name_k)

(the embedder's vectors; the title's is the second part of the job's embedding). Training
chooses how much it weighs beside the paths' logits and how fast it fades as a tag's labeled jobs
grow (`TagNet.names_weight`, `TagNet.names_shrink`). It is not fitted: it is derived from the
tag names, so a checkpoint stores only its weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from jobtag.features.clean import TextNormalizer
from jobtag.features.embedding import EMBEDDED_PARTS, get_embedder
from jobtag.features.hashing import HASH_SEED, TITLE_PREFIX, token_id

ANY, TITLE, SEMANTIC = 0, 1, 2  # the match channels of `TagNames.matches`
CHANNELS = 3


class TagNames:
    """The stems of each tag's name and their hashed bag columns (description and title)."""

    def __init__(
        self,
        tags: Sequence[str],
        n_features: int,
        seed: int = HASH_SEED,
        embedder: str = "none",
    ) -> None:
        self.n_features = n_features
        self.seed = seed
        self.embedder = embedder  # a name of features.embedding.EMBEDDERS, or "none"
        self.vectors: np.ndarray | None = None  # (T, dim) the names' embeddings, if any
        self._cache: _Lookup | None = None
        self.stems: list[list[str]] = []
        self._desc: list[int] = []  # bag column of each name stem (all tags, in order)
        self._title: list[int] = []  # ... of the same stem in the title
        self._owner: list[int] = []  # the tag each of those stems belongs to
        self._share: list[float] = []  # 1 / that tag's number of name stems
        self.add(tags)

    @staticmethod
    def name_stems(name: str, normalizer: TextNormalizer | None = None) -> list[str]:
        """The distinct stems of a tag's name, in order, as the featurizer makes a job's tokens."""
        norm = normalizer if normalizer is not None else TextNormalizer()
        stems = (norm.stem(w) for w in norm.words(name))
        return list(dict.fromkeys(s for s in stems if s))

    def add(self, tags: Sequence[str]) -> None:
        """Append tags (their columns follow the ones already here)."""
        self._cache = None
        norm = TextNormalizer()  # not kept: a model is deep-copied, and a stemmer is not
        embedder = get_embedder(self.embedder)
        if embedder is not None and tags:
            vectors = np.asarray(embedder.embed(list(tags)), np.float32)
            self.vectors = vectors if self.vectors is None else np.vstack([self.vectors, vectors])
        for name in tags:
            j, stems = len(self.stems), self.name_stems(name, norm)
            self.stems.append(stems)
            for s in stems:
                self._desc.append(token_id(s, self.n_features, self.seed))
                self._title.append(token_id(TITLE_PREFIX + s, self.n_features, self.seed))
                self._owner.append(j)
                self._share.append(1.0 / len(stems))

    def matches(self, bag: sp.csr_matrix, embedding: np.ndarray | None = None) -> np.ndarray:
        """(n, CHANNELS, T) float32: [:, ANY] share of each tag's name stems the job has
        anywhere, [:, TITLE] in its title (in [0, 1]); [:, SEMANTIC] the title's centered
        similarity to the names, when there is an embedder (else 0). `bag`: (n, n_features),
        any non-negative weighting; `embedding`: the jobs' (n, parts * dim) embeddings."""
        n, T = bag.shape[0], len(self.stems)
        out = np.zeros((n, CHANNELS, T), np.float32)
        if self.vectors is not None and n and T:
            out[:, SEMANTIC] = self._semantic(embedding, n)
        if not self._owner or n == 0:
            return out
        bag = sp.csr_matrix(bag)
        if bag.shape[1] != self.n_features:
            raise ValueError(f"bag has {bag.shape[1]} columns, tag names use {self.n_features}")
        # numpy only (a predict is one job: scipy's per-call overhead would dominate)
        look = self._lookup()
        rows = np.repeat(np.arange(n), np.diff(bag.indptr))
        has = bag.data > 0
        rows, cols = rows[has], bag.indices[has]
        present = np.zeros((n, look.n_columns + 1), np.float32)  # the last: "not a name's"
        for table in (look.desc, look.title):
            present[rows, table[cols]] = 1.0
        in_title = present[:, look.title_of]  # (n, n_stems)
        anywhere = np.maximum(present[:, look.desc_of], in_title)
        out[:, ANY] = anywhere @ look.spread
        out[:, TITLE] = in_title @ look.spread
        return out

    def _lookup(self) -> _Lookup:
        if self._cache is None:  # `add` drops it
            self._cache = _Lookup.build(
                self._desc, self._title, self._owner, self._share, self.n_features, len(self.stems)
            )
        return self._cache

    def _semantic(self, embedding: np.ndarray | None, n: int) -> np.ndarray:
        assert self.vectors is not None
        dim, parts = self.vectors.shape[1], len(EMBEDDED_PARTS)
        if embedding is None or embedding.shape != (n, parts * dim):
            got = None if embedding is None else embedding.shape
            raise ValueError(
                f"tag names by meaning need the jobs' embeddings (n, {parts} x {dim}): {got}"
            )
        start = EMBEDDED_PARTS.index("title") * dim
        title = embedding[:, start : start + dim]  # (n, dim); zeros for a job without a title
        sim = title @ self.vectors.T  # (n, T)
        has_title = np.abs(title).sum(1) > 0
        return np.where(has_title[:, None], sim - sim.mean(1, keepdims=True), 0.0)

    def columns(self, tag: int) -> list[tuple[int, int, float]]:
        """(description column, title column, share) of each name stem of tag `tag`."""
        return [
            (self._desc[k], self._title[k], self._share[k])
            for k, owner in enumerate(self._owner)
            if owner == tag
        ]


@dataclass
class _Lookup:
    """Bag column -> position among the names' distinct columns, for description and title."""

    desc: np.ndarray  # (n_features,) int: position of a description column, else n_columns
    title: np.ndarray  # (n_features,) int: ... of a title column
    n_columns: int
    desc_of: np.ndarray  # (n_stems,) position of each name stem's description column
    title_of: np.ndarray  # (n_stems,) ... of its title column
    spread: np.ndarray  # (n_stems, T) float32: stem -> its tag, weight 1 / the tag's stems

    @classmethod
    def build(
        cls,
        desc: list[int],
        title: list[int],
        owner: list[int],
        share: list[float],
        n_features: int,
        n_tags: int,
    ) -> _Lookup:
        columns = np.unique(np.asarray(desc + title, np.int64))
        n = len(columns)
        desc_table = np.full(n_features, n, np.int64)
        title_table = np.full(n_features, n, np.int64)
        d_pos = np.searchsorted(columns, np.asarray(desc, np.int64))
        t_pos = np.searchsorted(columns, np.asarray(title, np.int64))
        desc_table[np.asarray(desc, np.int64)] = d_pos
        title_table[np.asarray(title, np.int64)] = t_pos
        spread = np.zeros((len(owner), n_tags), np.float32)
        spread[np.arange(len(owner)), np.asarray(owner, np.int64)] = share
        return cls(desc_table, title_table, n, d_pos, t_pos, spread)


def shrink(tag_jobs: np.ndarray, pseudo_count: float) -> np.ndarray:
    """(T,) float32 weight of the name prior per tag: c / (c + labeled jobs of the tag), so it
    fades as the tag's own evidence grows; 1 everywhere when `pseudo_count` is 0 (never fades)."""
    tag_jobs = np.asarray(tag_jobs, np.float64)
    if pseudo_count <= 0:
        return np.ones(len(tag_jobs), np.float32)
    return (pseudo_count / (pseudo_count + tag_jobs)).astype(np.float32)
