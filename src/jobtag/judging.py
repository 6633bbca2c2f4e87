"""How the learning loop judges: the judge slice, paired micro-F1 of two models, and every model
version scored on the same jobs."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobtag.app import Tagger
from jobtag.features.batch import FeatureBatch
from jobtag.features.pipeline import Featurizer
from jobtag.records import Job, label_matrix


def in_judge(job_id: str, fraction: float) -> bool:
    """A stable `fraction` of job ids (by hash) whose labels judge an update before it learns them."""
    return (zlib.crc32(b"judge:" + job_id.encode("utf-8")) % 1000) < fraction * 1000


@dataclass
class Judgement:
    """Old tags' micro-F1 of both models on the judge jobs, and the paired difference's noise."""

    jobs: int
    before: float
    after: float
    se: float  # bootstrap standard error of (after - before), paired by job

    @property
    def diff(self) -> float:
        return self.after - self.before


def _micro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 1.0)  # nothing to find or claim: 1


def judge(
    y: np.ndarray, p_before: np.ndarray, p_after: np.ndarray, seed: int = 0, n_boot: int = 400
) -> Judgement:
    """Paired comparison of two models' bool (n, T) decisions against truth y on the same jobs."""
    counts = np.stack(
        [(y & p).sum(1) for p in (p_before, p_after)]
        + [(~y & p).sum(1) for p in (p_before, p_after)]
        + [(y & ~p).sum(1) for p in (p_before, p_after)],
        axis=1,
    ).astype(np.float64)  # (n, 6): tp0 tp1 fp0 fp1 fn0 fn1

    def f1s(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _micro_f1(c[..., 0], c[..., 2], c[..., 4]), _micro_f1(
            c[..., 1], c[..., 3], c[..., 5]
        )

    b, a = f1s(counts.sum(0))
    n = len(y)
    se = 0.0
    if n > 1:
        rng = np.random.default_rng(seed)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
        bb, aa = f1s(w @ counts)
        se = float(np.std(aa - bb))
    return Judgement(n, float(b), float(a), se)


def micro_f1_all_tags(model: Any, batch: Any, truth: Sequence[frozenset[str] | None]) -> float:
    """Micro-F1 of `model` on featurized jobs, counting true tags it does not know as misses."""
    tags = set(model.tags)
    y = label_matrix(truth, model.tags)
    pred = model.decide(model.scores(batch))
    tp, fp = int((y & pred).sum()), int((~y & pred).sum())
    fn = int((y & ~pred).sum()) + sum(len(set(t or ()) - tags) for t in truth)
    return 2 * tp / max(1, 2 * tp + fp + fn)


def yardstick(tagger: Tagger) -> tuple[list[Job], int | None]:
    """One set of labeled jobs to compare model versions on, and the version it is relative to.

    The judge slice of the labeled jobs added or corrected after the active model was made (what
    the next update will be judged on); if there are none yet, those of the newest update's base
    model (what that update was judged on). No version made before that model trained on them,
    nor any candidate (candidates never learn judge jobs); only a promoted update made after it
    may have (it learns its judge jobs after the decision): `compare_versions` marks those."""
    store, frac = tagger.store, tagger.settings.update.judge_fraction
    refs: list[int] = []
    active = store.active_model()
    if active is not None:
        refs.append(active.version)
    for run in reversed(store.update_history()):
        base = run.metrics_after.get("base_version") if run.status == "done" else None
        if isinstance(base, int):
            refs.append(base)
            break
    labeled: list[Job] | None = None
    for ref in refs:
        made = store.model_run(ref)
        if made is None:
            continue
        fresh = store.fresh_job_ids(made.last_job_id, made.started_at)
        if not fresh:
            continue
        if labeled is None:
            labeled = list(store.iter_jobs(labeled=True))
        jobs = [j for j in labeled if j.job_id in fresh and in_judge(j.job_id, frac)]
        if jobs:
            return jobs, ref
    return [], None


def compare_versions(tagger: Tagger, limit: int = 10) -> dict[str, Any]:
    """Every model version (the newest `limit`) scored on the same jobs (see `yardstick`).

    micro-F1 counts every true tag of those jobs, so a version that lacks a tag misses it."""
    from jobtag.models.checkpoint import load_model

    store = tagger.store
    versions = store.list_models()[-limit:]
    jobs, ref = yardstick(tagger)
    trained: dict[int, bool] = {}
    for run in store.update_history():
        if run.status == "done" and run.model_version is not None:
            trained[run.model_version] = bool(run.metrics_after.get("folded"))
    batches: dict[Featurizer, FeatureBatch] = {}  # per the versions' features (each its own)
    rows = []
    for m in versions:
        row: dict[str, Any] = {
            "version": m.version,
            "status": m.status,
            "created_at": str(m.created_at),
            "note": m.note,
            "own_metrics": {k: v for k, v in m.metrics.items() if isinstance(v, int | float)},
        }
        if m.pruned:
            row["pruned"] = True  # its files are gone: nothing to score
        elif jobs and ref is not None:
            model = load_model(Path(m.path))
            featurizer = tagger.featurizer_for(model.feature_settings)
            if featurizer not in batches:
                batches[featurizer] = tagger.featurize_jobs(jobs, featurizer=featurizer)
            row["micro_f1"] = micro_f1_all_tags(model, batches[featurizer], [j.tags for j in jobs])
            row["trained_on_yardstick"] = m.version > ref and trained.get(m.version, False)
        rows.append(row)
    what = (
        f"{len(jobs)} labeled jobs added or corrected after v{ref} was made (its judge slice)"
        if ref is not None
        else "none yet: no labeled job arrived after the models were made"
    )
    return {"yardstick": {"jobs": len(jobs), "relative_to": ref, "what": what}, "models": rows}
