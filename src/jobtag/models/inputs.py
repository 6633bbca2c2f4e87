"""Fitted input transforms saved with a model: the TF-IDF bag weighting and tensor helpers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


class BagWeighting:
    """Sublinear TF-IDF with L2-normalized rows: w = (1 + log tf) * idf, idf smoothed as sklearn's."""

    def __init__(self) -> None:
        self.idf_: np.ndarray | None = None

    def fit(self, bag: sp.csr_matrix) -> BagWeighting:
        n = bag.shape[0]
        df = np.bincount(bag.indices, minlength=bag.shape[1]).astype(np.float64)
        self.idf_ = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def transform(self, bag: sp.csr_matrix) -> sp.csr_matrix:
        if self.idf_ is None:
            raise RuntimeError("BagWeighting is not fitted")
        out = sp.csr_matrix(bag, dtype=np.float32, copy=True)
        out.data = (1.0 + np.log(np.maximum(out.data, 1.0))) * self.idf_[out.indices]
        norms = np.sqrt(np.asarray(out.multiply(out).sum(1)).ravel())
        norms[norms == 0] = 1.0
        out.data /= np.repeat(norms, np.diff(out.indptr)).astype(np.float32)
        return out

    def to_list(self) -> list[float]:
        return [float(v) for v in self.idf_]


def join_embedding(bag: sp.csr_matrix, embedding: np.ndarray, weight: float) -> sp.csr_matrix:
    """The wide path's input: the weighted bag (n, n_features), then `weight` x the sentence
    embedding (n, d) as columns n_features.. (the bag unchanged when d = 0)."""
    if embedding.shape[1] == 0:
        return bag
    dense = sp.csr_matrix(np.asarray(weight * embedding, dtype=np.float32))
    return sp.hstack([bag, dense], format="csr", dtype=np.float32)


def bag_inputs(bag: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """csr rows -> (indices, offsets, weights) for nn.EmbeddingBag(mode="sum")."""
    return (
        torch.from_numpy(bag.indices.astype(np.int64)),
        torch.from_numpy(bag.indptr[:-1].astype(np.int64)),
        torch.from_numpy(bag.data.astype(np.float32)),
    )


def padded(tokens: list[np.ndarray], max_len: int) -> np.ndarray:
    """int64 (n, L) 0-padded token ids, L = the longest rounded up to 32, at most max_len.

    Few distinct shapes let the allocator reuse buffers (varying shapes fragment the heap).
    """
    longest = max((len(t) for t in tokens), default=1)
    L = max(1, min(max_len, -(-longest // 32) * 32))
    out = np.zeros((len(tokens), L), dtype=np.int64)
    for i, t in enumerate(tokens):
        t = t[:L]
        out[i, : len(t)] = t
    return out
