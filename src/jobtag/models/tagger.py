"""The tagger: code (+ scaled numeric features) -> 5 hidden layers -> one sigmoid per tag (+ wide path)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TaggerConfig:
    """Shape of the tagger network (saved with the model)."""

    n_tags: int
    code_dim: int = 100
    n_numeric: int = 11
    hidden: tuple[int, ...] = (200, 150, 100, 50, 25)  # the seed's 5 hidden layers
    dropout: float = 0.2
    n_features: int = 2**15
    wide: bool = True  # add a linear path on the TF-IDF-weighted hashed bag to the logits
    new_tag_bias: float = -4.0  # initial logit bias of a tag added later (sigmoid ~ 0.018)


class TaggerNet(nn.Module):
    """Deep path: [code ; numeric] (B, code_dim + n_numeric) -> hidden... -> logits (B, T).

    Wide path (optional): sum of per-bucket weight rows of the TF-IDF bag + bias (B, T) — a
    logistic regression on the bag; logits = mix[0] * deep + mix[1] * wide (mix is a buffer set
    by training: both paths may be fitted apart and their mix chosen on validation jobs).
    """

    def __init__(self, cfg: TaggerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.code_dim + cfg.n_numeric
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = h
        self.deep = nn.Sequential(*layers)  # (B, code+numeric) -> (B, hidden[-1])
        self.out = nn.Linear(width, cfg.n_tags)  # (B, hidden[-1]) -> (B, T)
        self.wide = nn.EmbeddingBag(cfg.n_features, cfg.n_tags, mode="sum") if cfg.wide else None
        self.wide_bias = nn.Parameter(torch.zeros(cfg.n_tags)) if cfg.wide else None
        if self.wide is not None:
            nn.init.zeros_(self.wide.weight)
        # logits = mix[0] * deep + mix[1] * wide; training may fit the paths apart, then mix them
        self.register_buffer("mix", torch.tensor([1.0, 1.0 if cfg.wide else 0.0]))

    def forward(
        self,
        x: torch.Tensor,
        wide: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        logits = self.out(self.deep(x))  # (B, T)
        if self.wide is not None and float(self.mix[1]) != 0.0:
            if wide is None:
                raise ValueError("this tagger has a wide path: pass its bag inputs")
            idx, offsets, weights = wide
            lin = self.wide(idx, offsets, per_sample_weights=weights) + self.wide_bias  # (B, T)
            logits = self.mix[0] * logits + self.mix[1] * lin
        return logits

    @torch.no_grad()
    def add_tags(self, k: int) -> None:
        """Grow the output by k tags; old weights are kept, so old tags' logits do not change."""
        if k <= 0:
            return
        old = self.out
        new = nn.Linear(old.in_features, old.out_features + k)
        new.weight.zero_()
        new.weight[: old.out_features] = old.weight
        deep_w, wide_w = float(self.mix[0]), float(self.mix[1]) if self.wide is not None else 0.0
        # the new tags' starting logit is new_tag_bias, carried by the wide bias when it counts
        new.bias.fill_(0.0 if wide_w else self.cfg.new_tag_bias / max(deep_w, 1e-6))
        new.bias[: old.out_features] = old.bias
        self.out = new
        if self.wide is not None:
            w = self.wide.weight
            grown = nn.EmbeddingBag(w.shape[0], w.shape[1] + k, mode="sum")
            grown.weight.zero_()
            grown.weight[:, : w.shape[1]] = w
            self.wide = grown
            fill = self.cfg.new_tag_bias / wide_w if wide_w else 0.0
            bias = torch.cat([self.wide_bias.data, torch.full((k,), fill)])
            self.wide_bias = nn.Parameter(bias)
        self.cfg.n_tags += k
