"""Feature cache by content hash: the protocol the store implements, an in-memory one, the payload."""

from __future__ import annotations

import logging
import struct
from typing import Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

_MAGIC = b"JTF1"
_HEADER = struct.Struct("<4sHI")  # magic, numeric columns, token ids
_MAGIC2 = b"JTF2"  # ... and a sentence embedding (features.embedder)
_HEADER2 = struct.Struct("<4sHIH")  # magic, numeric columns, token ids, embedding width


@runtime_checkable
class FeatureCache(Protocol):
    """Where featurized jobs are kept, keyed by (content hash, featurizer version)."""

    def get_features(self, hashes: list[str], version: str) -> dict[str, bytes]:
        """Payloads of the hashes found (missing ones are simply absent)."""
        ...

    def put_features(self, items: dict[str, bytes], version: str) -> None:
        """Store payloads (content hash -> bytes), replacing older ones of the same version."""
        ...


class MemoryFeatureCache:
    """A `FeatureCache` in a dict (tests, one-off runs). Counts hits and misses."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], bytes] = {}
        self.hits = 0
        self.misses = 0

    def get_features(self, hashes: list[str], version: str) -> dict[str, bytes]:
        out = {h: self._data[(version, h)] for h in hashes if (version, h) in self._data}
        self.hits += len(out)
        self.misses += len(set(hashes)) - len(out)
        return out

    def put_features(self, items: dict[str, bytes], version: str) -> None:
        for h, payload in items.items():
            self._data[(version, h)] = bytes(payload)

    def __len__(self) -> int:
        return len(self._data)


def encode_features(
    numeric: np.ndarray, ids: np.ndarray, embedding: np.ndarray | None = None
) -> bytes:
    """Payload of one job: its raw numeric row (float32), ALL its token ids (int32, in order) and,
    with an embedder, its sentence embedding (float32)."""
    numeric = np.ascontiguousarray(numeric, dtype="<f4").ravel()
    ids = np.ascontiguousarray(ids, dtype="<i4").ravel()
    if embedding is None or np.size(embedding) == 0:
        return _HEADER.pack(_MAGIC, numeric.size, ids.size) + numeric.tobytes() + ids.tobytes()
    emb = np.ascontiguousarray(embedding, dtype="<f4").ravel()
    head = _HEADER2.pack(_MAGIC2, numeric.size, ids.size, emb.size)
    return head + numeric.tobytes() + ids.tobytes() + emb.tobytes()


def decode_features(payload: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numeric float32, ids int32, embedding float32 — empty without an embedder) of a payload
    made by `encode_features`; ValueError if corrupt."""
    if len(payload) < _HEADER.size:
        raise ValueError(f"feature payload too short ({len(payload)} bytes)")
    magic = bytes(payload[:4])
    if magic == _MAGIC:
        _, n_numeric, n_ids = _HEADER.unpack_from(payload)
        n_embed, start = 0, _HEADER.size
    elif magic == _MAGIC2 and len(payload) >= _HEADER2.size:
        _, n_numeric, n_ids, n_embed = _HEADER2.unpack_from(payload)
        start = _HEADER2.size
    else:
        raise ValueError(f"feature payload has unknown format {magic!r}")
    expected = start + 4 * (n_numeric + n_ids + n_embed)
    if len(payload) != expected:
        raise ValueError(f"feature payload is {len(payload)} bytes, expected {expected}")
    numeric = np.frombuffer(payload, dtype="<f4", count=n_numeric, offset=start)
    ids = np.frombuffer(payload, dtype="<i4", count=n_ids, offset=start + 4 * n_numeric)
    emb = np.frombuffer(payload, dtype="<f4", count=n_embed, offset=start + 4 * (n_numeric + n_ids))
    return numeric.astype(np.float32), ids.astype(np.int32), emb.astype(np.float32)
