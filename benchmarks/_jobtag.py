"""The accuracy benchmark's jobtag rows: configurations (ablations) and one fit + predict."""

from __future__ import annotations

import argparse
import dataclasses
import json
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
}


def _parse_value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return tuple(value) if isinstance(value, list) else value


def jobtag_configs(extra: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """jobtag configurations to benchmark: name -> TrainSettings overrides (plus UNLABELED).

    JOBTAG_CONFIGS whose fields this TrainSettings has; `extra` adds "name:field=value,...".
    """
    from jobtag.config import TrainSettings

    fields = {f.name for f in dataclasses.fields(TrainSettings)} | {UNLABELED}
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
    if args.quick:
        overrides.setdefault("ae_epochs", 1)
        overrides.setdefault("tagger_epochs", 3)
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    shown = dict(overrides)
    if "min_one_tag" in fields:  # the benchmark's at-least-one policy holds for every method
        overrides["min_one_tag"] = args.at_least_one
    overrides = {k: v for k, v in overrides.items() if k in fields}
    train_settings = TrainSettings(**overrides)
    train_settings.seed = args.seed
    features = FeatureSettings()
    t0 = time.perf_counter()
    featurizer = Featurizer(features)
    batch = featurizer.transform(bench.train)
    unlabeled = featurizer.transform(bench.unlabeled) if bench.unlabeled and use_unlabeled else None
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
    # a fresh featurizer per pass (built untimed, like loading a model): its memo starts cold
    seconds, pred = median_time(predict, args.repeats, setup=lambda: Featurizer(features))
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
