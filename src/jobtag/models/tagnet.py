"""The tag net: code (+ text features, sentence vectors) -> 5 hidden layers -> a sigmoid per tag (+ wide path, names)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TagNetConfig:
    """Shape of the tag net (saved with the model)."""

    n_tags: int
    code_dim: int = 100
    n_numeric: int = 11
    hidden: tuple[int, ...] = (200, 150, 100, 50, 25)  # the seed's 5 hidden layers
    dropout: float = 0.2
    # a hidden layer as wide as the one before it adds its output to its input (h + layer(h)):
    # five such layers train like one (measured: see TrainSettings.residual)
    residual: bool = False
    n_features: int = 2**15
    wide: bool = True  # add a linear path on the TF-IDF-weighted hashed bag to the logits
    n_embed: int = 0  # width of the sentence embedding joined to the wide path's input
    # the deep path reads the sentence embedding too (after the code and the numeric features),
    # as its top deep_embed directions: embedding (B, deep_embed_from) @ embed_basis
    deep_embed: int = 0
    deep_embed_from: int = 0
    new_tag_bias: float = -4.0  # initial logit bias of a tag added later (sigmoid ~ 0.018)


class HiddenLayers(nn.Module):
    """The deep path's hidden layers, Linear -> ReLU -> Dropout each, where a layer as wide as
    its input adds its output to it: (B, width) -> (B, hidden[-1]). torch's default
    initialisation: He's would double the signal's variance at every sum."""

    def __init__(self, width: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for h in hidden:
            self.layers.append(nn.Sequential(nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)))
            width = h

    @property
    def skips(self) -> list[bool]:
        """Per layer: whether it is as wide as its input (so adds its output to it)."""
        return [layer[0].in_features == layer[0].out_features for layer in self.layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, skip in zip(self.layers, self.skips, strict=True):
            x = x + layer(x) if skip else layer(x)
        return x


class TagNet(nn.Module):
    """Deep path: [code ; numeric ; embedding] (B, code_dim + n_numeric + deep_embed) ->
    hidden... -> logits (B, T).

    Wide path (optional): sum of per-bucket weight rows of the TF-IDF bag + bias (B, T) — a
    linear SVM's margins on the bag — plus the tag names' evidence (`name_prior`, from
    models/names.py). logits = mix[0] * deep + mix[1] * (wide + prior) + offset, where mix,
    offset and the prior's weights are buffers set by training: the paths are fitted apart,
    their relative weights are chosen on jobs they did not train on (out-of-fold scores of
    every labeled job, or a validation slice) and the sum is calibrated to log-odds there (Platt
    scaling).
    """

    def __init__(self, cfg: TagNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        width = cfg.code_dim + cfg.n_numeric + cfg.deep_embed
        self.deep: nn.Module
        if cfg.residual:  # (B, code+numeric+embed) -> (B, hidden[-1])
            self.deep = HiddenLayers(width, tuple(cfg.hidden), cfg.dropout)
        else:  # the seed's plain stack (and its checkpoints' parameter names)
            self.deep = _plain_stack(width, tuple(cfg.hidden), cfg.dropout)
        width = cfg.hidden[-1] if cfg.hidden else width
        self.out = nn.Linear(width, cfg.n_tags)  # (B, hidden[-1]) -> (B, T)
        n_in = cfg.n_features + cfg.n_embed  # bag buckets, then the embedding's columns
        self.wide = nn.EmbeddingBag(n_in, cfg.n_tags, mode="sum") if cfg.wide else None
        self.wide_bias = nn.Parameter(torch.zeros(cfg.n_tags)) if cfg.wide else None
        if self.wide is not None:
            nn.init.zeros_(self.wide.weight)
        # logits = mix[0] * deep + mix[1] * (wide + prior) + offset (set by training), where
        # prior = names_shrink * (names_weight . [any, title, semantic]) is the tag
        # names' evidence (models/names.py) in the wide margins' units; 0 until training sets it
        self.register_buffer("mix", torch.tensor([1.0, 1.0 if cfg.wide else 0.0]))
        self.register_buffer("offset", torch.zeros(()))
        self.register_buffer("names_weight", torch.zeros(3))  # any, title, semantic
        self.register_buffer("names_shrink", torch.ones(cfg.n_tags))
        if cfg.deep_embed:  # set by training (models/tagmodel.py, deep_embedding)
            self.register_buffer("embed_basis", torch.zeros(cfg.deep_embed_from, cfg.deep_embed))

    @property
    def uses_deep(self) -> bool:
        """Whether the deep path (and so the encoder's code) counts in the logits."""
        return float(self.mix[0]) != 0.0

    @property
    def uses_wide(self) -> bool:
        return self.wide is not None and float(self.mix[1]) != 0.0

    @property
    def uses_names(self) -> bool:
        """Whether the tag names' evidence counts (it rides on the wide path's weight)."""
        return self.uses_wide and bool(self.names_weight.abs().sum() > 0)

    def name_prior(self, names: torch.Tensor) -> torch.Tensor:
        """(B, 3, T) name matches (any field, title, title's meaning) -> (B, T) prior in the wide
        margins' units."""
        return self.names_shrink * torch.einsum("c,bct->bt", self.names_weight, names)

    def wide_margins(
        self, wide: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        """The wide path alone: (B, T) margins of the TF-IDF bag (EmbeddingBag inputs)."""
        if self.wide is None or wide is None:
            raise ValueError("this net has a wide path: pass its bag inputs")
        idx, offsets, weights = wide
        return self.wide(idx, offsets, per_sample_weights=weights) + self.wide_bias

    def deep_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The deep path alone: [code ; numeric ; embedding] (B, deep input) -> (B, T)."""
        return self.out(self.deep(x))

    def forward(
        self,
        x: torch.Tensor | None,
        wide: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        names: torch.Tensor | None = None,
    ) -> torch.Tensor:
        parts = []
        if self.uses_deep:
            if x is None:
                raise ValueError("the deep path counts: pass [code ; numeric]")
            parts.append(self.mix[0] * self.deep_logits(x))
        if self.uses_wide:
            margins = self.wide_margins(wide)
            if self.uses_names:
                if names is None:
                    raise ValueError("the tag names count: pass their matches (B, 3, T)")
                margins = margins + self.name_prior(names)
            parts.append(self.mix[1] * margins)
        if not parts:
            raise ValueError("neither path has a weight in this net")
        return sum(parts[1:], parts[0]) + self.offset  # (B, T)

    @contextmanager
    def deep_alone(self) -> Iterator[None]:
        """Temporarily score by the deep path alone (mix [1, 0], no offset): to train it."""
        saved = self.mix.clone(), self.offset.clone()
        self.mix.copy_(torch.tensor([1.0, 0.0]))
        self.offset.zero_()
        try:
            yield
        finally:
            self.mix.copy_(saved[0])
            self.offset.copy_(saved[1])

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
        start = self.cfg.new_tag_bias - float(self.offset)
        # the new tags' starting logit is new_tag_bias, carried by the wide bias when it counts
        new.bias.fill_(0.0 if wide_w else start / max(deep_w, 1e-6))
        new.bias[: old.out_features] = old.bias
        self.out = new
        # a new tag has no labeled jobs yet: its name's evidence counts in full
        self.names_shrink = torch.cat([self.names_shrink, torch.ones(k)])
        if self.wide is not None:
            w = self.wide.weight
            grown = nn.EmbeddingBag(w.shape[0], w.shape[1] + k, mode="sum")
            grown.weight.zero_()
            grown.weight[:, : w.shape[1]] = w
            self.wide = grown
            fill = start / wide_w if wide_w else 0.0
            bias = torch.cat([self.wide_bias.data, torch.full((k,), fill)])
            self.wide_bias = nn.Parameter(bias)
        self.cfg.n_tags += k


def _plain_stack(width: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    """The seed's hidden layers as one Sequential (Linear, ReLU, Dropout, ...), He-initialised:
    the signal survives 5 ReLU layers."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    for layer in layers:  # after building them all: the seeded draws of earlier versions
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)
