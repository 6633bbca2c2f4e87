"""Stateless, process- and version-stable feature hashing of tokens into [1, n_features)."""

from __future__ import annotations

from sklearn.utils import murmurhash3_32

from jobtag.errors import ConfigError

# MurmurHash3 (32 bit, x86) seed: part of the feature definition, never change it silently.
HASH_SEED = 1_331_021
# Prefix of title tokens: a title word gets a column of its own, distinct from the same word in
# the description (titles are the most informative text of a job).
TITLE_PREFIX = "t:"


def token_id(token: str, n_features: int, seed: int = HASH_SEED) -> int:
    """Column of `token`: MurmurHash3_32 of its UTF-8 bytes, mapped into [1, n_features)."""
    return murmurhash3_32(token, seed=seed, positive=True) % (n_features - 1) + 1


class TokenHasher:
    """Maps tokens to ids in [1, n_features); 0 is the padding id. A bounded memo caches ids.

    Stateless in the scikit-learn sense (nothing is learned): `fit`/`partial_fit` do nothing.
    """

    def __init__(
        self, n_features: int = 2**15, seed: int = HASH_SEED, memo_size: int = 1_000_000
    ) -> None:
        if n_features < 2:
            raise ConfigError(f"n_features must be at least 2 (id 0 is padding), got {n_features}")
        self.n_features = n_features
        self.seed = seed
        self.memo_size = memo_size
        self._memo: dict[str, int] = {}

    def id(self, token: str) -> int:
        """The id of one token."""
        i = self._memo.get(token)
        if i is None:
            if len(self._memo) >= self.memo_size:
                self._memo.clear()
            i = self._memo[token] = token_id(token, self.n_features, self.seed)
        return i
