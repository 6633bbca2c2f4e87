"""Forward passes of a model's networks: codes in eval mode, the net's inputs, logits and scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from jobtag.models.autoencoder import ConvEncoder
from jobtag.models.inputs import bag_inputs, padded
from jobtag.models.tagnet import TagNet


@torch.no_grad()
def encode(
    encoder: ConvEncoder, tokens: list[np.ndarray], max_tokens: int, batch_size: int = 256
) -> np.ndarray:
    """Codes (n, code_dim) float32, computed length-sorted in eval mode."""
    encoder.eval()
    n = len(tokens)
    out = np.zeros((n, encoder.to_code.out_features), dtype=np.float32)
    order = np.argsort([len(t) for t in tokens], kind="stable")
    for start in range(0, n, batch_size):
        b = order[start : start + batch_size]
        tok = torch.from_numpy(padded([tokens[i] for i in b], max_tokens))
        out[b] = encoder(tok).numpy()
    return out


@dataclass
class NetInputs:
    """The net's inputs for n jobs: tokens (for a trainable encoder) or fixed codes, numeric, wide bag."""

    tokens: list[np.ndarray]
    numeric: np.ndarray  # (n, n_numeric) scaled
    codes: np.ndarray | None  # (n, code_dim) when the encoder is frozen
    wide: sp.csr_matrix | None  # (n, n_features) TF-IDF weighted, when the net has a wide path
    names: np.ndarray | None = None  # (n, 3, T) tag-name matches, when the net weighs them
    embedding: np.ndarray | None = None  # (n, deep_embed) scaled, when the deep path reads it

    def __len__(self) -> int:
        return len(self.tokens)


def net_logits(
    net: TagNet,
    encoder: ConvEncoder | None,
    data: NetInputs,
    b: np.ndarray,
    max_tokens: int,
) -> torch.Tensor:
    """Logits (B, T) of jobs `b`; the encoder runs (with gradients) only when codes are not fixed.

    A path without weight in the net is not computed (no code is needed when the deep path
    has weight 0)."""
    x = None
    if net.uses_deep:
        if data.codes is not None:
            code = torch.from_numpy(data.codes[b])  # (B, code_dim)
        else:
            if encoder is None:
                raise ValueError("the deep path counts: pass fixed codes or the encoder")
            code = encoder(torch.from_numpy(padded([data.tokens[i] for i in b], max_tokens)))
        parts = [code, torch.from_numpy(data.numeric[b])]  # (B, code_dim), (B, n_numeric)
        if net.cfg.deep_embed:
            if data.embedding is None:
                raise ValueError("the deep path reads sentence vectors: prepare them")
            parts.append(torch.from_numpy(data.embedding[b]))  # (B, deep_embed)
        x = torch.cat(parts, 1)
    wide = bag_inputs(data.wide[b]) if data.wide is not None and net.uses_wide else None
    names = None
    if net.uses_names:
        if data.names is None:
            raise ValueError("the tag names count: prepare their matches")
        names = torch.from_numpy(data.names[b])  # (B, 3, T)
    return net(x, wide, names)


@torch.no_grad()
def net_scores(
    net: TagNet,
    encoder: ConvEncoder | None,
    data: NetInputs,
    max_tokens: int,
    batch_size: int = 512,
) -> np.ndarray:
    """Sigmoid scores (n, T) float32 in eval mode."""
    net.eval()
    if encoder is not None:
        encoder.eval()
    n = len(data)
    out = np.zeros((n, net.cfg.n_tags), dtype=np.float32)
    order = np.argsort([len(t) for t in data.tokens], kind="stable")
    for start in range(0, n, batch_size):
        b = order[start : start + batch_size]
        out[b] = torch.sigmoid(net_logits(net, encoder, data, b, max_tokens)).numpy()
    return out
