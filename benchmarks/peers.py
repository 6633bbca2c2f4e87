"""Peer taggers for the accuracy benchmark: TF-IDF + LinearSVC, hashing + LogReg, fastText (ova)."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

log = logging.getLogger(__name__)

PEERS: tuple[str, ...] = ("tfidf-svm", "hash-logreg", "fasttext")
# opt-in (`--minilm`): all-MiniLM-L6-v2 embeddings + LR, and its fusion with the TF-IDF SVM
MINILM_PEERS: tuple[str, ...] = ("minilm-lr", "svm+minilm")
ALL_PEERS: tuple[str, ...] = PEERS + MINILM_PEERS
NEVER = -np.inf  # score of a tag a peer cannot predict (no positive training job)


# ---------------------------------------------------------------- thresholds


def best_threshold(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The threshold t maximizing F1 of (scores >= t) against boolean y; returns (t, F1).

    Non-finite scores never fire. With no positive in y, returns (+inf, 0.0).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=bool).ravel()
    finite = np.isfinite(scores)
    n_pos = int(y.sum())
    s, t = scores[finite], y[finite]
    if n_pos == 0 or not t.any():
        return float("inf"), 0.0
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    tp = np.cumsum(t)
    k = np.arange(1, len(s) + 1)
    # only cut where the next score is strictly lower (ties fire together)
    cut = np.append(s[1:] < s[:-1], True)
    f1 = np.where(cut, 2.0 * tp / (k + n_pos), -1.0)
    best = int(np.argmax(f1))
    upper = s[best]
    lower = s[best + 1] if best + 1 < len(s) else upper - max(1.0, abs(upper))
    return float((upper + lower) / 2.0), float(f1[best])


def choose_thresholds(scores: np.ndarray, y: np.ndarray, min_positives: float = 3) -> np.ndarray:
    """Per-tag F1-best thresholds on validation; tags with < `min_positives` positives get the
    global (micro-F1-best) threshold."""
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    if scores.shape != y.shape:
        raise ValueError(f"scores {scores.shape} and labels {y.shape} differ in shape")
    global_t, _ = best_threshold(scores, y)
    if not np.isfinite(global_t):
        global_t = 0.0 if np.isfinite(scores).any() else float("inf")
    out = np.full(scores.shape[1], global_t)
    positives = y.sum(axis=0)
    for j in np.flatnonzero(positives >= min_positives):
        out[j] = best_threshold(scores[:, j], y[:, j])[0]
    return out


THRESHOLD_POLICIES: tuple[str, ...] = ("per-tag", "global", "auto")
_POLICY_MIN_POSITIVES: dict[str, float] = {"per-tag≥3": 3, "per-tag≥10": 10, "global": np.inf}


def cross_fit_policy(
    scores: np.ndarray, y: np.ndarray, seed: int = 13, at_least_one: bool = False
) -> tuple[str, float]:
    """Choose a threshold policy (per-tag≥3, per-tag≥10 validation positives, or global) on the
    validation slice alone: thresholds fitted on one half are scored on the other, both ways.

    Returns (policy name, its cross-fitted micro-F1). Ties favour the earlier (more per-tag) one.
    """
    order = np.random.default_rng(seed).permutation(len(scores))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    best: tuple[str, float] | None = None
    for name, min_pos in _POLICY_MIN_POSITIVES.items():
        tp = n_pred = n_true = 0.0
        for a, b in (halves, halves[::-1]):
            th = choose_thresholds(scores[a], y[a], min_pos)
            pred = apply_thresholds(scores[b], th, at_least_one)
            tp += float(np.logical_and(pred, y[b]).sum())
            n_pred += float(pred.sum())
            n_true += float(y[b].sum())
        f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0
        if best is None or f1 > best[1]:
            best = (name, f1)
    assert best is not None
    return best


def apply_thresholds(
    scores: np.ndarray, thresholds: np.ndarray, at_least_one: bool = False
) -> np.ndarray:
    """Boolean decisions scores >= thresholds; `at_least_one` adds each empty row's top tag."""
    decisions = scores >= thresholds[None, :]
    if at_least_one and scores.shape[1]:
        ensure_one(decisions, scores)
    return decisions


def ensure_one(decisions: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """In place: give every row without a decision its top-scoring (finite) tag.

    The same rule as jobtag's `TrainSettings.min_one_tag`, so every method is treated alike.
    """
    empty = np.flatnonzero(~decisions.any(axis=1))
    if len(empty):
        m = np.where(np.isfinite(scores[empty]), scores[empty], -np.inf)
        best = np.argmax(m, axis=1)
        ok = np.isfinite(m[np.arange(len(empty)), best])
        decisions[empty[ok], best[ok]] = True
    return decisions


def micro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float(np.logical_and(y, pred).sum())
    denom = float(y.sum() + pred.sum())
    return 2.0 * tp / denom if denom else 0.0


# ---------------------------------------------------------------- the peers


class LinearPeer:
    """A text vectorizer + one independent linear binary classifier per tag (one-vs-rest).

    Tags with no positive (or no negative) training job are never predicted. Weights are kept as
    a sparse (features × tags) matrix, so prediction is one sparse product.
    """

    def __init__(self, vectorizer: Any, classifier: Any) -> None:
        self.vectorizer = vectorizer
        self.classifier = classifier

    def fit(self, texts: Sequence[str], y: np.ndarray, cache: dict | None = None) -> LinearPeer:
        key = ("X", id(texts))
        if cache is not None and key in cache:
            self.vectorizer_, X = cache[key]
        else:
            self.vectorizer_ = clone(self.vectorizer)
            X = self.vectorizer_.fit_transform(texts)
            if cache is not None:
                cache[key] = (self.vectorizer_, X)
        n, n_tags = y.shape
        cols, intercepts = [], np.full(n_tags, NEVER)
        for j in range(n_tags):
            pos = int(y[:, j].sum())
            if pos == 0 or pos == n:
                cols.append(sp.csr_matrix((1, X.shape[1]), dtype=np.float32))
                continue
            clf = clone(self.classifier).fit(X, y[:, j])
            cols.append(sp.csr_matrix(clf.coef_.astype(np.float32)))
            intercepts[j] = float(np.ravel(clf.intercept_)[0])
        self.weights_ = sp.vstack(cols, format="csr").T.tocsr()
        self.intercepts_ = intercepts
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        X = self.vectorizer_.transform(texts)
        return np.asarray((X @ self.weights_).todense(), dtype=np.float64) + self.intercepts_


_TOKEN = re.compile(r"\w+")


def fasttext_text(text: str) -> str:
    """fastText input: lowercased word tokens on one line."""
    return " ".join(_TOKEN.findall(text.lower()))


class FastTextPeer:
    """fastText supervised with one-vs-all sigmoid loss, trained on one thread (0.9.x can hit
    "Encountered NaN" with ova on several threads)."""

    def __init__(self, epoch: int, lr: float, word_ngrams: int, dim: int = 100, seed: int = 13):
        self.params = dict(epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, seed=seed)

    def fit(self, texts: Sequence[str], y: np.ndarray, cache: dict | None = None) -> FastTextPeer:
        import fasttext

        self.n_tags_ = y.shape[1]
        fd, path = tempfile.mkstemp(prefix="jobtag-bench-ft-", suffix=".txt", dir="/tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for text, row in zip(texts, y, strict=True):
                    labels = " ".join(f"__label__{j}" for j in np.flatnonzero(row))
                    if labels:
                        fh.write(f"{labels} {fasttext_text(text)}\n")
            params = dict(self.params)
            for attempt in range(3):
                try:
                    self.model_ = fasttext.train_supervised(
                        input=path, loss="ova", thread=1, minCount=1, verbose=0, **params
                    )
                    break
                except RuntimeError as exc:  # "Encountered NaN." (diverged): retry gentler
                    if "NaN" not in str(exc) or attempt == 2:
                        raise
                    log.warning("fastText %s diverged (%s); retrying with lr/2", params, exc)
                    params["lr"] /= 2
            self.lr_used_ = params["lr"]
        finally:
            os.unlink(path)
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), self.n_tags_), NEVER)
        labels, probs = self.model_.predict([fasttext_text(t) for t in texts], k=-1, threshold=0.0)
        for i, (lab, pr) in enumerate(zip(labels, probs, strict=True)):
            cols = [int(s[len("__label__") :]) for s in lab]
            out[i, cols] = pr
        return out


def make_peer(method: str, params: dict[str, Any], seed: int = 13) -> Any:
    """Build an unfitted peer (`fit(texts, y, cache)`, `scores(texts)`) from its method name and
    grid point; the MiniLM peers live in peers_minilm (imported only when asked for)."""
    if method == "tfidf-svm":
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32)
        return LinearPeer(vec, LinearSVC(C=params["C"], max_iter=5000, random_state=seed))
    if method == "hash-logreg":
        vec = HashingVectorizer(
            n_features=2**18, ngram_range=(1, 2), alternate_sign=False, dtype=np.float32
        )
        clf = LogisticRegression(C=params["C"], solver="liblinear", random_state=seed)
        return LinearPeer(vec, clf)
    if method == "fasttext":
        return FastTextPeer(params["epoch"], params["lr"], params["wordNgrams"], seed=seed)
    if method in MINILM_PEERS:
        from peers_minilm import make_minilm_peer

        return make_minilm_peer(method, params, seed)
    raise ValueError(f"unknown peer method {method!r}; known: {', '.join(ALL_PEERS)}")


def grid(method: str, quick: bool = False) -> list[dict[str, Any]]:
    """The hyper-parameter grid searched on the validation slice."""
    if method == "tfidf-svm":
        return [{"C": c} for c in ((0.3, 1.0) if quick else (0.1, 0.3, 1.0, 3.0))]
    if method == "hash-logreg":
        return [{"C": c} for c in ((10.0,) if quick else (3.0, 10.0, 30.0))]
    if method == "fasttext":
        if quick:
            return [{"epoch": 60, "lr": 0.2, "wordNgrams": 1}]
        # ova at lr 1.0 can diverge on long documents (reuters) without raising: keep lower rates
        return [
            {"epoch": e, "lr": lr, "wordNgrams": ng}
            for e in (25, 50)
            for lr in (0.25, 0.5, 1.0)
            for ng in (1, 2)
        ]
    if method == "minilm-lr":
        return [{"C": c} for c in ((1.0, 10.0) if quick else (0.3, 1.0, 3.0, 10.0, 30.0))]
    raise ValueError(f"unknown peer method {method!r}; known: {', '.join(PEERS)}, minilm-lr")


@dataclass
class Choice:
    """What the validation slice chose for a peer: grid point, per-tag thresholds, val micro-F1."""

    method: str
    params: dict[str, Any]
    thresholds: np.ndarray
    val_micro_f1: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    threshold_policy: str = "per-tag≥3"
    seed: int = 13

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "thresholds": self.thresholds.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Choice:
        """Rebuild from `to_json` output; keys that are not fields (e.g. timings) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in data.items() if k in names}
        return cls(**{**kept, "thresholds": np.asarray(data["thresholds"], dtype=np.float64)})


@dataclass
class TunedPeer:
    """A peer refitted on all train with the grid point and thresholds chosen on validation."""

    choice: Choice
    model: Any  # LinearPeer, FastTextPeer or a peers_minilm peer
    fit_seconds: float  # the final refit on all train

    @classmethod
    def fit(cls, choice: Choice, texts: Sequence[str], y: np.ndarray) -> TunedPeer:
        t0 = time.perf_counter()
        model = make_peer(choice.method, choice.params, choice.seed).fit(list(texts), y)
        return cls(choice, model, time.perf_counter() - t0)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.scores(texts)

    def predict(self, texts: Sequence[str], at_least_one: bool = False) -> np.ndarray:
        return apply_thresholds(self.scores(texts), self.choice.thresholds, at_least_one)


def validate(
    val_scores: np.ndarray,
    y_val: np.ndarray,
    policy: str = "per-tag",
    seed: int = 13,
    at_least_one: bool = False,
) -> tuple[str, float, np.ndarray]:
    """Thresholds for validation scores under `policy`: (policy chosen, val micro-F1, thresholds).

    With "auto" the micro-F1 is `cross_fit_policy`'s cross-fitted one (an honest estimate)."""
    f1: float | None
    if policy == "auto":
        name, f1 = cross_fit_policy(val_scores, y_val, seed, at_least_one)
    else:
        name, f1 = ("per-tag≥3" if policy == "per-tag" else "global"), None
    thresholds = choose_thresholds(val_scores, y_val, _POLICY_MIN_POSITIVES[name])
    if f1 is None:
        f1 = micro_f1(y_val, apply_thresholds(val_scores, thresholds, at_least_one))
    return name, f1, thresholds


def tune(
    method: str,
    texts: Sequence[str],
    y: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    quick: bool = False,
    policy: str = "per-tag",
    at_least_one: bool = False,
    seed: int = 13,
) -> Choice:
    """Fit each grid point on `fit_idx`, choose thresholds on `val_idx`; keep the best micro-F1.

    policy "per-tag": per-tag thresholds, the global one for tags with < 3 validation positives;
    "global": one threshold; "auto": the policy chosen by `cross_fit_policy`, whose cross-fitted
    micro-F1 then also ranks the grid points.
    """
    if policy not in THRESHOLD_POLICIES:
        raise ValueError(f"unknown threshold policy {policy!r}; known: {THRESHOLD_POLICIES}")
    if method == "svm+minilm":
        from peers_minilm import tune_fusion

        return tune_fusion(texts, y, fit_idx, val_idx, quick, policy, at_least_one, seed)
    texts = list(texts)
    fit_texts = [texts[i] for i in fit_idx]
    val_texts = [texts[i] for i in val_idx]
    cache: dict = {}
    best: Choice | None = None
    trials: list[dict[str, Any]] = []
    for params in grid(method, quick):
        t0 = time.perf_counter()
        try:
            peer = make_peer(method, params, seed).fit(fit_texts, y[fit_idx], cache)
        except (RuntimeError, ValueError) as exc:  # fastText "Encountered NaN", solver failures
            log.warning("%s %s: training failed (%s); grid point skipped", method, params, exc)
            trials.append({**params, "error": str(exc)})
            continue
        name, f1, thresholds = validate(
            peer.scores(val_texts), y[val_idx], policy, seed, at_least_one
        )
        trials.append({**params, "val_micro_f1": round(f1, 4), "thresholds": name})
        log.info(
            "%s %s: val micro-F1 %.4f, thresholds %s (%.1fs)",
            method,
            params,
            f1,
            name,
            time.perf_counter() - t0,
        )
        if best is None or f1 > best.val_micro_f1:
            best = Choice(method, params, thresholds, f1, threshold_policy=name, seed=seed)
    if best is None:
        raise RuntimeError(f"{method}: every grid point failed to train: {trials}")
    best.trials = trials
    return best


def tune_and_fit(
    method: str,
    texts: Sequence[str],
    y: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    quick: bool = False,
    policy: str = "per-tag",
    at_least_one: bool = False,
    seed: int = 13,
) -> TunedPeer:
    """`tune` on the validation slice, then refit the chosen grid point on all of `texts`."""
    choice = tune(method, texts, y, fit_idx, val_idx, quick, policy, at_least_one, seed)
    return TunedPeer.fit(choice, texts, y)
