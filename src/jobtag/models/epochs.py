"""Training epochs shared by first training and later updates: autoencoder and tagger passes."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from tqdm import tqdm

from jobtag.models.autoencoder import ConvAutoencoder, ConvEncoder, dense_rows
from jobtag.models.inputs import bag_inputs, padded
from jobtag.models.tagnet import TaggerNet


def length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled mini-batches of similar-length jobs (less padding for the convolution)."""
    idx = rng.permutation(len(lengths))
    pool = batch_size * 32
    out: list[np.ndarray] = []
    for start in range(0, len(idx), pool):
        chunk = idx[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def _bar(items: list, desc: str, progress: bool) -> tqdm:
    return tqdm(items, desc=desc, disable=not progress, file=sys.stderr, leave=False, unit="batch")


def ae_epoch(
    ae: ConvAutoencoder,
    tokens: list[np.ndarray],
    bag: sp.csr_matrix,
    opt: torch.optim.Optimizer,
    *,
    batch_size: int,
    max_tokens: int,
    rng: np.random.Generator,
    desc: str = "autoencoder",
    progress: bool = False,
) -> float:
    """One pass of reconstruction training over all given jobs; returns the mean loss."""
    ae.train()
    lengths = np.array([len(t) for t in tokens])
    total, count = 0.0, 0
    bar = _bar(length_batches(lengths, batch_size, rng), desc, progress)
    for b in bar:
        tok = torch.from_numpy(padded([tokens[i] for i in b], max_tokens))  # (B, L)
        loss = ae.loss(tok, dense_rows(bag[b]))  # bag rows (B, n_features) dense per batch only
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(b)
        count += len(b)
        bar.set_postfix(loss=f"{total / count:.4f}")
    bar.close()
    return total / max(count, 1)


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
class TaggerData:
    """Tagger inputs of n jobs: tokens (for a trainable encoder) or fixed codes, numeric, wide bag."""

    tokens: list[np.ndarray]
    numeric: np.ndarray  # (n, n_numeric) scaled
    codes: np.ndarray | None  # (n, code_dim) when the encoder is frozen
    wide: sp.csr_matrix | None  # (n, n_features) TF-IDF weighted, when the tagger has a wide path

    def __len__(self) -> int:
        return len(self.tokens)


def tagger_logits(
    tagger: TaggerNet,
    encoder: ConvEncoder | None,
    data: TaggerData,
    b: np.ndarray,
    max_tokens: int,
) -> torch.Tensor:
    """Logits (B, T) of jobs `b`; the encoder runs (with gradients) only when codes are not fixed.

    A path without weight in the tagger is not computed (no code is needed when the deep path
    has weight 0)."""
    x = None
    if tagger.uses_deep:
        if data.codes is not None:
            code = torch.from_numpy(data.codes[b])  # (B, code_dim)
        else:
            if encoder is None:
                raise ValueError("the deep path counts: pass fixed codes or the encoder")
            code = encoder(torch.from_numpy(padded([data.tokens[i] for i in b], max_tokens)))
        x = torch.cat([code, torch.from_numpy(data.numeric[b])], 1)  # (B, code_dim + n_numeric)
    wide = bag_inputs(data.wide[b]) if data.wide is not None and tagger.uses_wide else None
    return tagger(x, wide)


def tagger_epoch(
    tagger: TaggerNet,
    encoder: ConvEncoder | None,
    data: TaggerData,
    targets: np.ndarray,
    weights: np.ndarray,
    pos_weight: np.ndarray,
    opt: torch.optim.Optimizer,
    *,
    batch_size: int,
    max_tokens: int,
    rng: np.random.Generator,
    desc: str = "tagger",
    progress: bool = False,
) -> float:
    """One pass of sample-weighted BCE (pos_weight per tag) over the labeled jobs; mean loss."""
    tagger.train()
    if encoder is not None:
        encoder.train()
    lengths = np.array([len(t) for t in data.tokens])
    pw = torch.from_numpy(np.asarray(pos_weight, dtype=np.float32))
    total, wsum = 0.0, 0.0
    bar = _bar(length_batches(lengths, batch_size, rng), desc, progress)
    for b in bar:
        logits = tagger_logits(tagger, encoder, data, b, max_tokens)
        y = torch.from_numpy(np.asarray(targets[b], dtype=np.float32))
        w = torch.from_numpy(np.asarray(weights[b], dtype=np.float32))
        per_job = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw, reduction="none")
        per_job = per_job.sum(1)  # (B,) summed over tags: rare tags are not diluted by T
        loss = (per_job * w).sum() / w.sum().clamp(min=1e-8)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * float(w.sum())
        wsum += float(w.sum())
        bar.set_postfix(loss=f"{total / max(wsum, 1e-8):.4f}")
    bar.close()
    return total / max(wsum, 1e-8)


@torch.no_grad()
def tagger_scores(
    tagger: TaggerNet,
    encoder: ConvEncoder | None,
    data: TaggerData,
    max_tokens: int,
    batch_size: int = 512,
) -> np.ndarray:
    """Sigmoid scores (n, T) float32 in eval mode."""
    tagger.eval()
    if encoder is not None:
        encoder.eval()
    n = len(data)
    out = np.zeros((n, tagger.cfg.n_tags), dtype=np.float32)
    order = np.argsort([len(t) for t in data.tokens], kind="stable")
    for start in range(0, n, batch_size):
        b = order[start : start + batch_size]
        out[b] = torch.sigmoid(tagger_logits(tagger, encoder, data, b, max_tokens)).numpy()
    return out
