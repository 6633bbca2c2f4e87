"""Test helpers: tiny settings and a small trained Tagger on a synthetic board."""

from __future__ import annotations

from pathlib import Path

from jobtag.app import Tagger
from jobtag.config import Settings, load_settings
from jobtag.synthetic import BoardSpec, generate_jobs, write_rows


def tiny_settings(home: Path, db_url: str | None = None) -> Settings:
    """Fast settings for tests: small hash space, short sequences, few epochs."""
    return load_settings(
        overrides={
            "home": home,
            "db_url": db_url,
            "features.n_features": 4096,
            "features.max_tokens": 64,
            "features.embedder": "none",  # the bag alone (fast); the default's own tests set it
            "train.ae_epochs": 2,
            "train.tagger_epochs": 8,
            "train.batch_size": 32,
            "train.tagger_batch_size": 32,
            "update.every_n_jobs": 20,
            "update.replay_jobs": 200,
            "update.epochs": 2,
        },
        environ={},
    )


def board_file(folder: Path, jobs: int = 400, seed: int = 7, start_id: int = 1) -> Path:
    path = folder / f"board-{seed}-{start_id}.csv"
    write_rows(list(generate_jobs(BoardSpec(jobs=jobs, seed=seed), start_id=start_id)), path)
    return path


def trained_tagger(folder: Path, jobs: int = 400) -> Tagger:
    """A Tagger whose store holds a synthetic board and an active model trained on it."""
    tagger = Tagger(tiny_settings(folder / "home"))
    tagger.store.import_file(board_file(folder, jobs))
    tagger.train(progress=False)
    return tagger


class FakeEmbedder:
    """A stand-in for MiniLM in tests: unit vectors of hashed word counts (similar words,
    similar vectors); records the texts of each call."""

    name = "fake"
    dim = 16

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts):
        import numpy as np

        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        out[:, 0] += 1e-3  # never all zero
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def use_fake_embedder(monkeypatch) -> None:
    """Make features.embedder = "fake" a FakeEmbedder for this test (a fresh one)."""
    from jobtag.features import embedding

    monkeypatch.setitem(embedding.EMBEDDERS, "fake", FakeEmbedder)
    monkeypatch.delitem(embedding._LOADED, "fake", raising=False)
    monkeypatch.setattr(embedding, "_LOADED", dict(embedding._LOADED))
