"""The convolutional autoencoder: a job's word sequence -> 100-d code -> its hashed bag of words.

Why convolve over the word sequence and not over the 32k-wide hashed vector: neighbouring hash
buckets hold unrelated words, so a convolution across bucket indices finds no local structure to
share weights over. The job's words in reading order do have locality ("senior java developer",
"machine learning"), so the encoder embeds the hashed token ids, runs 1-D convolutions along the
sequence (a residual n-gram block: e + ReLU(conv(e))), mean-pools over the words, and projects
through a hidden layer to the code (32k -> E -> E -> H -> 100). The decoder mirrors it
(100 -> H -> E -> 32k) and reconstructs the job's bag of words as a multinomial distribution over
the buckets (softmax cross-entropy against the normalized counts): exact, no sampling, one
(B, E) x (E, n_features) product per batch; only the mini-batch's bag rows are ever made dense.
Measured on Wuzzuf: max-pooling and a non-residual convolution let the code collapse to a
constant (reconstruction no better than word frequencies for 100s of steps); the residual block,
mean pooling, a layer-normalized code and a decoder that starts at the log word prior learn at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class AutoencoderConfig:
    """Shape of the autoencoder (saved with the model)."""

    n_features: int = 2**15  # hash buckets; id 0 is padding
    embed_dim: int = 64  # E: embedding and convolution width
    channels: int = 128  # H: the hidden layer on each side of the code
    kernel_size: int = 3  # words seen by one convolution filter
    code_dim: int = 100  # the code
    dropout: float = 0.1


class ConvEncoder(nn.Module):
    """Token ids (B, L) -> code (B, code_dim): 32k -> E (embed) -> E (conv) -> H -> code."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.n_features, cfg.embed_dim, padding_idx=0)
        pad = cfg.kernel_size // 2
        self.conv = nn.Conv1d(cfg.embed_dim, cfg.embed_dim, cfg.kernel_size, padding=pad)
        self.hidden = nn.Linear(cfg.embed_dim, cfg.channels)
        self.to_code = nn.Linear(cfg.channels, cfg.code_dim)
        self.drop = nn.Dropout(cfg.dropout)
        with torch.no_grad():
            self.embed.weight[0].zero_()
            self.conv.weight.mul_(0.1)  # start close to the residual (bag-of-embeddings) path

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens > 0).unsqueeze(1).float()  # (B, 1, L)
        e = self.drop(self.embed(tokens)).transpose(1, 2)  # (B, E, L)
        h = (e + F.relu(self.conv(e))) * mask  # (B, E, L): residual n-gram convolution
        pooled = h.sum(2) / mask.sum(2).clamp(min=1.0)  # (B, E): masked mean over the words
        code = self.to_code(self.drop(F.relu(self.hidden(pooled))))  # (B, code_dim)
        return F.layer_norm(code, code.shape[1:])  # unit scale per job: the code cannot collapse


class BagDecoder(nn.Module):
    """Code (B, code_dim) -> logits over every hash bucket (B, n_features): code -> H -> E -> 32k."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.from_code = nn.Linear(cfg.code_dim, cfg.channels)  # mirror of to_code
        self.to_embed = nn.Linear(cfg.channels, cfg.embed_dim)  # mirror of hidden
        self.out = nn.Linear(cfg.embed_dim, cfg.n_features)  # mirror of the embedding
        nn.init.zeros_(self.out.weight)  # logits start at the bias (the word prior)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.from_code(code))  # (B, H)
        logits = self.out(self.to_embed(h))  # (B, n_features)
        logits[:, 0] = -1e4  # the padding bucket is never a word
        return logits


class ConvAutoencoder(nn.Module):
    """Encoder + decoder; `loss` is the multinomial reconstruction loss of the hashed bag."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ConvEncoder(cfg)
        self.decoder = BagDecoder(cfg)

    @torch.no_grad()
    def init_prior(self, bag: sp.csr_matrix) -> None:
        """Start the decoder bias at the log word frequencies, so the code learns only the rest."""
        counts = np.asarray(bag.sum(0)).ravel().astype(np.float64) + 0.1
        self.decoder.out.bias.copy_(
            torch.from_numpy(np.log(counts / counts.sum()).astype(np.float32))
        )

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(tokens)  # (B, code_dim)
        return code, self.decoder(code)  # (B, n_features)

    def loss(self, tokens: torch.Tensor, bag: torch.Tensor) -> torch.Tensor:
        """Mean over jobs of -sum_w p(w|job) log q(w|code); `bag` is (B, n_features) counts."""
        _, logits = self(tokens)
        target = bag / bag.sum(1, keepdim=True).clamp(min=1.0)
        return -(target * torch.log_softmax(logits, dim=1)).sum(1).mean()


def dense_rows(bag: sp.csr_matrix) -> torch.Tensor:
    """A few csr rows as a dense float32 tensor (only ever called per mini-batch)."""
    return torch.from_numpy(np.asarray(bag.toarray(), dtype=np.float32))


@torch.no_grad()
def reconstruction_recall(
    model: ConvAutoencoder,
    tokens: np.ndarray,
    bag: sp.csr_matrix,
    batch_size: int = 256,
    prior: np.ndarray | None = None,
) -> dict[str, float]:
    """Recall@k of each job's distinct words among the decoder's top-k buckets (k = #distinct).

    With `prior` (bucket document frequencies), the same recall for the trivial baseline that
    always predicts the k most frequent buckets is returned beside it.
    """
    model.eval()
    hits = total = base_hits = 0
    order = np.argsort(-prior) if prior is not None else None
    for start in range(0, bag.shape[0], batch_size):
        tok = torch.from_numpy(tokens[start : start + batch_size])
        _, logits = model(tok)
        rows = bag[start : start + batch_size]
        for i in range(rows.shape[0]):
            words = rows.indices[rows.indptr[i] : rows.indptr[i + 1]]
            k = len(words)
            if k == 0:
                continue
            top = torch.topk(logits[i], k).indices.numpy()
            hits += len(np.intersect1d(top, words, assume_unique=True))
            if order is not None:
                base_hits += len(np.intersect1d(order[:k], words, assume_unique=True))
            total += k
    out = {"recall_at_k": hits / total if total else 0.0}
    if order is not None:
        out["baseline_recall_at_k"] = base_hits / total if total else 0.0
    return out
