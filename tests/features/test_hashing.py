"""Tests of jobtag.features.hashing: range, determinism, stability in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from jobtag.errors import ConfigError
from jobtag.features.hashing import TITLE_PREFIX, TokenHasher, token_id

PINNED = [30609, 7844, 25732]  # MurmurHash3_32, seed HASH_SEED, n_features 2**15
WORDS = ["python", "engin", "t:engin", "données", "", "x" * 1000, "sql"]


def test_ids_in_range_and_never_padding():
    for n in (2, 3, 2**15):
        hasher = TokenHasher(n)
        ids = np.array([hasher.id(w) for w in WORDS + [f"w{i}" for i in range(5000)]])
        assert ids.min() >= 1 and ids.max() < n


def test_memo_gives_the_same_ids():
    hasher = TokenHasher(2**15, memo_size=3)
    first = [hasher.id(w) for w in WORDS]
    assert [hasher.id(w) for w in WORDS] == first == [token_id(w, 2**15) for w in WORDS]
    assert len(hasher._memo) <= 3


def test_title_prefix_gives_other_columns():
    hasher = TokenHasher(2**15)
    assert hasher.id(TITLE_PREFIX + "engin") == hasher.id("t:engin")
    assert hasher.id("t:engin") != hasher.id("engin")


def test_known_values_are_stable():
    # Pinned: changing these breaks every saved model and cached feature.
    assert [token_id(w, 2**15) for w in ("python", "engin", "t:engin")] == PINNED


def test_same_column_in_a_fresh_process():
    code = (
        "from jobtag.features.hashing import TokenHasher;"
        f"h = TokenHasher(2**15); print([h.id(w) for w in {WORDS!r}])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "", "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )  # fmt: skip
    hasher = TokenHasher(2**15)
    assert out.stdout.strip() == str([hasher.id(w) for w in WORDS])


def test_too_small_width_is_rejected():
    with pytest.raises(ConfigError, match="n_features must be at least 2"):
        TokenHasher(1)
