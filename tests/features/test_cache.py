"""Tests of jobtag.features.cache: payload encoding and the in-memory cache."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.features.cache import FeatureCache, MemoryFeatureCache, decode_features, encode_features


def test_payload_round_trip():
    numeric = np.arange(11, dtype=np.float32) / 3
    ids = np.array([5, 1, 32767, 5], dtype=np.int32)
    num2, ids2, emb2 = decode_features(encode_features(numeric, ids))
    assert num2.dtype == np.float32 and ids2.dtype == np.int32
    assert np.array_equal(num2, numeric) and np.array_equal(ids2, ids) and emb2.size == 0
    num3, ids3, _ = decode_features(encode_features(numeric, np.zeros(0, np.int32)))
    assert ids3.size == 0 and num3.size == 11


def test_payload_with_embedding_round_trip():
    numeric, ids = np.ones(11, np.float32), np.array([3, 4], np.int32)
    emb = np.linspace(-1, 1, 384).astype(np.float32)
    payload = encode_features(numeric, ids, emb)
    assert payload[:4] == b"JTF2"
    num2, ids2, emb2 = decode_features(payload)
    assert np.array_equal(num2, numeric) and np.array_equal(ids2, ids)
    assert emb2.dtype == np.float32 and np.array_equal(emb2, emb)
    # an empty embedding is the old payload format, byte for byte
    assert encode_features(numeric, ids, np.zeros(0)) == encode_features(numeric, ids)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"JTF1",
        b"XXXX" + bytes(6),
        encode_features(np.ones(2), np.ones(3))[:-1],
        b"JTF2" + bytes(4),
        encode_features(np.ones(2), np.ones(3), np.ones(4))[:-4],
    ],
)
def test_corrupt_payload_is_rejected(payload):
    with pytest.raises(ValueError, match="payload"):
        decode_features(payload)


def test_memory_cache_by_version():
    cache = MemoryFeatureCache()
    assert isinstance(cache, FeatureCache)
    cache.put_features({"h1": b"a", "h2": b"b"}, "v1")
    assert cache.get_features(["h1", "h3"], "v1") == {"h1": b"a"}
    assert cache.get_features(["h1"], "v2") == {}
    assert (cache.hits, cache.misses) == (1, 2)
