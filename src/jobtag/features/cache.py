"""Feature cache by content hash: the protocol the store implements, an in-memory one, the payload."""

from __future__ import annotations

import logging
import struct
from typing import Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

_MAGIC = b"JTF1"
_HEADER = struct.Struct("<4sHI")  # magic, numeric columns, token ids


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


def encode_features(numeric: np.ndarray, ids: np.ndarray) -> bytes:
    """Payload of one job: its raw numeric row (float32) and ALL its token ids (int32, in order)."""
    numeric = np.ascontiguousarray(numeric, dtype="<f4").ravel()
    ids = np.ascontiguousarray(ids, dtype="<i4").ravel()
    return _HEADER.pack(_MAGIC, numeric.size, ids.size) + numeric.tobytes() + ids.tobytes()


def decode_features(payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(numeric float32, ids int32) of a payload made by `encode_features`; ValueError if corrupt."""
    if len(payload) < _HEADER.size:
        raise ValueError(f"feature payload too short ({len(payload)} bytes)")
    magic, n_numeric, n_ids = _HEADER.unpack_from(payload)
    if magic != _MAGIC:
        raise ValueError(f"feature payload has unknown format {magic!r}")
    expected = _HEADER.size + 4 * (n_numeric + n_ids)
    if len(payload) != expected:
        raise ValueError(f"feature payload is {len(payload)} bytes, expected {expected}")
    numeric = np.frombuffer(payload, dtype="<f4", count=n_numeric, offset=_HEADER.size)
    ids = np.frombuffer(payload, dtype="<i4", count=n_ids, offset=_HEADER.size + 4 * n_numeric)
    return numeric.astype(np.float32), ids.astype(np.int32)
