"""The featurizer: jobs -> FeatureBatch (hashed bag, raw numeric block, ordered token ids), cached."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import islice

import numpy as np
import scipy.sparse as sp

from jobtag.config import FeatureSettings
from jobtag.errors import ConfigError
from jobtag.features.batch import NUMERIC_NAMES, FeatureBatch
from jobtag.features.cache import FeatureCache, decode_features, encode_features
from jobtag.features.clean import MAX_CHARS, HtmlCleaner, TextNormalizer, expand_contractions
from jobtag.features.embedding import EMBEDDED_PARTS, get_embedder
from jobtag.features.hashing import HASH_SEED, TITLE_PREFIX, TokenHasher
from jobtag.features.pos import get_tagger
from jobtag.features.textstats import text_stats
from jobtag.records import Job

log = logging.getLogger(__name__)

# One job's features: raw numeric row, all token ids in order, sentence embedding (maybe empty).
Row = tuple[np.ndarray, np.ndarray, np.ndarray]

# Bump when any processing step changes what a job's features are (it invalidates caches).
FEATURES_CODE_VERSION = "1"


# (n_features, title?) -> word -> id (0: stop word): a pure function of the word, so one memo
# per process, shared by every featurizer with that width (a model loaded again starts warm).
# Only single dict lookups and stores touch one (safe across threads).
_WORD_IDS: dict[tuple[int, bool], dict[str, int]] = {}


def _word_ids_memo(n_features: int, title: bool) -> dict[str, int]:
    return _WORD_IDS.setdefault((n_features, title), {})


def _fresh_word_ids_memo(n_features: int, title: bool) -> dict[str, int]:
    """A new, empty memo in place of a full one (featurizers holding the old one keep it until
    they fill it too)."""
    memo = _WORD_IDS[(n_features, title)] = {}
    return memo


class Featurizer:
    """Stateless featurizer (but for memo dicts and an optional content-hash cache).

    Per job: title and description are cleaned of HTML; statistics are computed on
    "title\\ndescription"; POS counts on the same text after contraction expansion; tokens are the
    stemmed non-stop words, title tokens hashed as "t:"+stem (own columns), description tokens
    plain, all in one id space [1, n_features). `bag` counts all of a job's ids; `tokens` keeps
    the first `max_tokens` of them in reading order (title first).
    """

    def __init__(
        self, settings: FeatureSettings | None = None, cache: FeatureCache | None = None
    ) -> None:
        self.settings = settings if settings is not None else FeatureSettings()
        if self.settings.max_tokens < 1:
            raise ConfigError(
                f"features.max_tokens must be at least 1, got {self.settings.max_tokens}"
            )
        if self.settings.batch_size < 1:
            raise ConfigError(
                f"features.batch_size must be at least 1, got {self.settings.batch_size}"
            )
        self.cache = cache
        self.cleaner = HtmlCleaner()
        self.normalizer = TextNormalizer()
        self.hasher = TokenHasher(self.settings.n_features)
        self.pos_tagger = get_tagger(self.settings.pos_tagger)
        self.embedder = get_embedder(self.settings.embedder)
        # [embedding of title + description ; embedding of the title] (EMBEDDED_PARTS)
        self.embedding_width = len(EMBEDDED_PARTS) * self.embedder.dim if self.embedder else 0
        self._title_memo = _word_ids_memo(self.settings.n_features, title=True)
        self._desc_memo = _word_ids_memo(self.settings.n_features, title=False)

    @property
    def version(self) -> str:
        """Short id (<= 64 chars, the store's column) of what the cached payload depends on:
        code version, n_features, tagger, hash seed, max text length, embedder; not
        max_tokens/batch_size."""
        s = self.settings
        full = f"{FEATURES_CODE_VERSION};{s.n_features};{s.pos_tagger};{HASH_SEED};{MAX_CHARS}"
        embed = f":{s.embedder[:12]}+{EMBEDDED_PARTS[-1]}" if s.embedder != "none" else ""
        full += embed.replace(":", ";")
        if getattr(self.embedder, "RECIPE", None) is not None:  # derived vectors' own version
            full += f";r{self.embedder.RECIPE}"
        digest = hashlib.blake2b(full.encode("utf-8"), digest_size=4).hexdigest()
        return f"f{FEATURES_CODE_VERSION}:{s.n_features}:{s.pos_tagger[:24]}{embed}:{digest}"

    def without_embedder(self) -> Featurizer:
        """This featurizer without sentence embeddings (same cache): for jobs that only the
        autoencoder learns from, which never reads them. Itself when it has no embedder."""
        if self.embedder is None:
            return self
        return Featurizer(replace(self.settings, embedder="none"), cache=self.cache)

    def clean(self, job: Job) -> tuple[str, str]:
        """(title, description) as plain text."""
        return self.cleaner.clean(job.title), self.cleaner.clean(job.description)

    def _ids(self, words: list[str], title: bool) -> list[int]:
        """Ids of lowercased words (stop words dropped) via a word -> id memo (0 = stop word)."""
        memo = self._title_memo if title else self._desc_memo
        get = memo.get
        ids = [get(w, -1) for w in words]
        if -1 in ids:
            if len(memo) >= self.normalizer.memo_size:
                memo = _fresh_word_ids_memo(self.settings.n_features, title)
                if title:
                    self._title_memo = memo
                else:
                    self._desc_memo = memo
            stem, hid, prefix = self.normalizer.stem, self.hasher.id, TITLE_PREFIX if title else ""
            for i, w in enumerate(words):
                if ids[i] == -1:
                    s = stem(w)
                    ids[i] = memo[w] = hid(prefix + s) if s else 0
        return [i for i in ids if i]

    def word_ids(self, title_words: list[str], desc_words: list[str]) -> np.ndarray:
        """int32 ids of a job's lowercased words (from `TextNormalizer.words`), title first."""
        return np.array(self._ids(title_words, True) + self._ids(desc_words, False), np.int32)

    def tokenize(self, job: Job) -> list[str]:
        """The job's tokens as the model sees them (before hashing), for display and debugging."""
        title, desc = self.clean(job)
        stem = self.normalizer.stem
        out = [TITLE_PREFIX + s for s in map(stem, self.normalizer.words(title)) if s]
        return out + [s for s in map(stem, self.normalizer.words(desc)) if s]

    def compute(self, jobs: Sequence[Job]) -> list[Row]:
        """(raw numeric row, all token ids, embedding) of each job, without the cache."""
        split = self.normalizer.split_words
        pos_texts, ids, plain, titles = [], [], [], []
        numeric = np.zeros((len(jobs), len(NUMERIC_NAMES)), dtype=np.float32)
        for i, job in enumerate(jobs):
            title, desc = self.clean(job)
            text = f"{title}\n{desc}" if title and desc else title or desc
            plain.append(text)
            titles.append(title)
            title, desc = expand_contractions(title), expand_contractions(desc)
            t_words, d_words = split(title), split(desc)
            # Stop words are counted on the (lowercased, contraction-expanded) words of the job.
            numeric[i, :6] = text_stats(text, lower_words=t_words + d_words)
            pos_texts.append(f"{title}\n{desc}" if title and desc else title or desc)
            ids.append(self.word_ids(t_words, d_words))
        if jobs:
            numeric[:, 6:] = self.pos_tagger.count(pos_texts)
        if self.embedder is not None:
            emb = np.hstack([self.embedder.embed(plain), self._embed_titles(titles)])
        else:
            emb = np.zeros((len(jobs), 0), np.float32)
        return list(zip(numeric, ids, emb, strict=True))

    def _embed_titles(self, titles: list[str]) -> np.ndarray:
        """(n, dim) embeddings of the titles; zeros for a job without one."""
        assert self.embedder is not None
        out = np.zeros((len(titles), self.embedder.dim), np.float32)
        some = [i for i, t in enumerate(titles) if t.strip()]
        if some:
            out[some] = self.embedder.embed([titles[i] for i in some])
        return out

    # --- batches -------------------------------------------------------------------------------

    def _rows(self, jobs: Sequence[Job], pending: dict[str, bytes] | None = None) -> list[Row]:
        if self.cache is None:
            return self.compute(jobs)
        version = self.version
        hashes = [job.content_hash for job in jobs]
        found: dict[str, Row] = {}
        width = self.embedding_width
        for h, payload in self.cache.get_features(list(dict.fromkeys(hashes)), version).items():
            try:
                row = decode_features(payload)
                if row[2].size != width:
                    raise ValueError(f"embedding of width {row[2].size}, expected {width}")
                found[h] = row
            except ValueError as exc:
                log.warning("ignoring corrupt cached features of content hash %s: %s", h, exc)
        missing = [job for job in jobs if job.content_hash not in found]
        if missing:
            fresh = {}
            for job, row in zip(missing, self.compute(missing), strict=True):
                found[job.content_hash] = row
                fresh[job.content_hash] = encode_features(*row)
            if pending is None:
                self.cache.put_features(fresh, version)
            else:
                pending.update(fresh)
        return [found[h] for h in hashes]

    def _batch(self, rows: list[Row]) -> FeatureBatch:
        n, width = len(rows), self.settings.n_features
        lengths = np.fromiter((len(ids) for _, ids, _ in rows), dtype=np.int64, count=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate([ids for _, ids, _ in rows]) if n else np.zeros(0, np.int32)
        if indices.size and (indices.min() < 1 or indices.max() >= width):
            raise ConfigError(
                f"token ids outside [1, {width}): cached features of another n_features?"
            )
        bag = sp.csr_matrix(
            (np.ones(indices.size, dtype=np.float32), indices.astype(np.int32), indptr),
            shape=(n, width),
        )
        bag.sum_duplicates()
        numeric = (
            np.stack([num for num, _, _ in rows])
            if n
            else np.zeros((0, len(NUMERIC_NAMES)), np.float32)
        )
        m = self.settings.max_tokens
        tokens = [np.ascontiguousarray(ids[:m], dtype=np.int32) for _, ids, _ in rows]
        width = self.embedding_width
        embedding = np.zeros((n, width), np.float32)
        for i, (_, _, emb) in enumerate(rows):
            if emb.size != width:  # a cached row of the same version always has it
                raise ConfigError(f"job {i}: embedding of width {emb.size}, expected {width}")
            embedding[i] = emb
        return FeatureBatch(bag, numeric.astype(np.float32, copy=False), tokens, embedding)

    def transform(
        self, jobs: Sequence[Job], pending: dict[str, bytes] | None = None
    ) -> FeatureBatch:
        """Features of `jobs` in one batch (in chunks of settings.batch_size internally).

        `pending`: the payloads computed afresh are put there (content hash -> bytes, for
        `version`) instead of into the cache, for the caller to store in its own transaction."""
        batches = list(self.iter_transform(jobs, pending=pending))
        if not batches:
            return self._batch([])
        return batches[0] if len(batches) == 1 else FeatureBatch.concat(batches)

    def iter_transform(
        self,
        jobs: Iterable[Job],
        batch_size: int | None = None,
        pending: dict[str, bytes] | None = None,
    ) -> Iterator[FeatureBatch]:
        """Stream FeatureBatches of up to `batch_size` (default settings.batch_size) jobs
        (`pending`: see `transform`)."""
        size = batch_size or self.settings.batch_size
        it = iter(jobs)
        while chunk := list(islice(it, size)):
            yield self._batch(self._rows(chunk, pending))
