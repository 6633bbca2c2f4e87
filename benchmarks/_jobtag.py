"""The accuracy benchmark's jobtag rows: configurations (ablations) and one fit + predict."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _data import BenchSet
from peers import ensure_one

# jobtag rows: name -> TrainSettings overrides (UNLABELED=False: train_model gets no unlabeled jobs)
UNLABELED = "use_unlabeled"
JOBTAG_CONFIGS: dict[str, dict[str, Any]] = {
    "jobtag": {},  # plain defaults, what `jobtag train` does
    "jobtag-wide": {"deep_weights": (0.0,)},  # ablation: the deep path removed
    "jobtag-seed": {"wide": False},  # the seed architecture alone
    "jobtag-labeled-ae": {UNLABELED: False},  # autoencoder code learned on labeled jobs only
    # the deep path as five residual layers of 256, no positive weighting, larger batches
    "jobtag-residual": {
        "residual": True,
        "hidden": (256, 256, 256, 256, 256),
        "pos_weight_cap": 1.0,
        "lr": 4e-3,
        "tagger_batch_size": 256,
    },
    # the opt-in accurate mode (`--minilm`): MiniLM sentence embeddings beside the bag
    "jobtag-accurate": {"features.embedder": "minilm"},
    # the default's static vectors stacked beside the bag (a ridge per tag) instead of one SVM
    "jobtag-stacked": {"embedding_fit": "stacked"},
    # the opt-in fastest mode: the bag alone, no sentence embedding (the default before)
    "jobtag-bag": {"features.embedder": "none"},
}
# jobtag rows that run MiniLM itself (slow: with --minilm, like the MiniLM peers)
MINILM_JOBTAG: tuple[str, ...] = ("jobtag-accurate",)
FEATURES = "features."  # an override key with this prefix is a FeatureSettings field


class SqliteFeatureCache:
    """A `jobtag.features.cache.FeatureCache` in one SQLite file, shared by a run's children
    (the accurate mode's embeddings are computed once per job, not once per seed)."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.db = sqlite3.connect(str(path), timeout=60)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS f (version TEXT, hash TEXT, payload BLOB, "
            "PRIMARY KEY (version, hash))"
        )

    def get_features(self, hashes: list[str], version: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT hash, payload FROM f WHERE version = ? AND hash IN ({marks})",
                [version, *part],
            )
            out.update({h: bytes(p) for h, p in rows})
        return out

    def put_features(self, items: dict[str, bytes], version: str) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO f VALUES (?, ?, ?)",
                [(version, h, p) for h, p in items.items()],
            )


def _parse_value(text: str) -> Any:
    """A JSON value; "a;b;c" is a tuple of them (a variant's commas separate its fields)."""
    if ";" in text:
        return tuple(_parse_value(part) for part in text.split(";"))
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return tuple(value) if isinstance(value, list) else value


def jobtag_configs(extra: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """jobtag configurations to benchmark: name -> TrainSettings overrides (plus UNLABELED).

    JOBTAG_CONFIGS whose fields this TrainSettings has; `extra` adds "name:field=value,...".
    """
    from jobtag.config import FeatureSettings, TrainSettings

    fields = {f.name for f in dataclasses.fields(TrainSettings)} | {UNLABELED}
    fields |= {FEATURES + f.name for f in dataclasses.fields(FeatureSettings)}
    configs = {name: dict(over) for name, over in JOBTAG_CONFIGS.items() if set(over) <= fields}
    for spec in extra or []:
        name, _, body = spec.partition(":")
        if not name or not body:
            raise SystemExit(f"--jobtag-variant {spec!r}: expected NAME:FIELD=VALUE[,FIELD=VALUE]")
        overrides: dict[str, Any] = {}
        for item in filter(None, body.split(",")):
            key, _, value = item.partition("=")
            if key not in fields:
                raise SystemExit(f"--jobtag-variant {spec!r}: TrainSettings has no field {key!r}")
            overrides[key] = _parse_value(value)
        configs[name] = overrides
    return configs


def median_time(
    fn: Callable[[Any], Any],
    repeats: int,
    setup: Callable[[], Any] | None = None,
    min_total_s: float = 2.0,
) -> tuple[float, Any]:
    """Median seconds of `fn(setup())` over at least `repeats` passes, more (up to 25) until the
    timed passes add up to `min_total_s` (the machine is shared); `setup` runs untimed."""
    times: list[float] = []
    out = None
    while len(times) < max(1, repeats) or (sum(times) < min_total_s and len(times) < 25):
        state = setup() if setup is not None else None
        t0 = time.perf_counter()
        out = fn(state)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run_jobtag(bench: BenchSet, tags: list[str], method: str, args: argparse.Namespace) -> dict:
    import torch

    from jobtag.config import FeatureSettings, TrainSettings
    from jobtag.features.pipeline import Featurizer
    from jobtag.models.checkpoint import save_model
    from jobtag.training.fit import train_model

    configs = jobtag_configs(args.jobtag_variant)
    if method not in configs:
        return {"skipped": f"{method}: no such jobtag configuration here ({', '.join(configs)})"}
    overrides = dict(configs[method])
    use_unlabeled = bool(overrides.pop(UNLABELED, True))
    feature_overrides = {
        k[len(FEATURES) :]: overrides.pop(k) for k in list(overrides) if k.startswith(FEATURES)
    }
    if args.quick:
        overrides.setdefault("ae_epochs", 1)
        overrides.setdefault("tagger_epochs", 3)
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    shown = {**overrides, **{FEATURES + k: v for k, v in feature_overrides.items()}}
    if "min_one_tag" in fields:  # the benchmark's at-least-one policy holds for every method
        overrides["min_one_tag"] = args.at_least_one
    overrides = {k: v for k, v in overrides.items() if k in fields}
    train_settings = TrainSettings(**overrides)
    train_settings.seed = args.seed
    features = FeatureSettings(**feature_overrides)
    slow = features.embedder == "minilm"  # the network itself embeds ~25-55 jobs/s
    from peers_minilm import CACHE_ENV

    cache = None
    if slow and os.environ.get(CACHE_ENV):  # embeddings once per run (see SqliteFeatureCache)
        cache = SqliteFeatureCache(Path(os.environ[CACHE_ENV]) / "features.sqlite")
    t0 = time.perf_counter()
    featurizer = Featurizer(features, cache=cache)
    batch = featurizer.transform(bench.train)
    unlabeled = None
    if bench.unlabeled and use_unlabeled:  # as `jobtag train`: no embeddings for the autoencoder's
        unlabeled = featurizer.without_embedder().transform(bench.unlabeled)
    labels = [j.tags for j in bench.train]
    model = train_model(
        batch, labels, train_settings, features, unlabeled=unlabeled, progress=False
    )
    train_s = time.perf_counter() - t0
    del batch, unlabeled
    with tempfile.TemporaryDirectory(prefix="jobtag-bench-model-", dir="/tmp") as tmp:
        saved = Path(save_model(model, Path(tmp) / "model"))
        model_mb = sum(f.stat().st_size for f in saved.rglob("*") if f.is_file()) / 2**20
    index = {t: i for i, t in enumerate(tags)}
    cols = [index.get(t, -1) for t in model.tags]
    known = np.array([c >= 0 for c in cols], dtype=bool)
    cols_arr = np.array([c for c in cols if c >= 0], dtype=int)

    def predict(featurizer: Any) -> np.ndarray:
        scores = np.asarray(model.scores(featurizer.transform(bench.test)))
        decided = np.asarray(model.decide(scores), dtype=bool)
        if args.at_least_one:
            ensure_one(decided, np.where(known[None, :], scores, -np.inf))
        out = np.zeros((len(bench.test), len(tags)), dtype=bool)
        out[:, cols_arr] = decided[:, known]
        return out

    torch.set_num_threads(1)
    # a fresh featurizer per pass (built untimed, like loading a model); the word memos (word
    # pieces, POS codes, word ids) are process-wide, warm after the first pass as in a server
    # embedding the test jobs is timed too: one pass in the accurate mode (MiniLM is slow)
    seconds, pred = median_time(
        predict,
        1 if slow else args.repeats,
        setup=lambda: Featurizer(features),
        min_total_s=0.0 if slow else 2.0,
    )
    return {
        "train_s": train_s,
        "tune_s": None,  # jobtag chooses its thresholds inside train_model (in train_s)
        "tune_rss_mb": None,
        "predict_s": seconds,
        "pred": pred,
        "params": shown if use_unlabeled else {**shown, UNLABELED: False},
        "val_micro_f1": (getattr(model, "val_metrics", None) or {}).get("micro_f1"),
        "deep_weight": model.summary.get("deep_weight"),
        "wide_C": model.summary.get("wide_C") if train_settings.wide else None,
        "model_mb": model_mb,
    }
