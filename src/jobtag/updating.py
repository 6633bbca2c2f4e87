"""The learning loop: after N new jobs, continue training the active model and promote if not worse."""

from __future__ import annotations

import copy
import csv
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jobtag.errors import InputError, TrainingError
from jobtag.records import Job
from jobtag.tagger import Tagger, headline_metrics, in_holdout, label_matrix
from jobtag.training.wide import refit_wide

log = logging.getLogger(__name__)


@dataclass
class UpdateResult:
    """What one update did."""

    base_version: int
    new_version: int | None
    promoted: bool
    reason: str
    new_jobs: int
    labeled: int  # new jobs with human corrections
    pseudo_labeled: int  # new jobs with confident predictions used as labels
    unlabeled: int  # new jobs used only by the autoencoder
    replay: int
    new_tags: list[str] = field(default_factory=list)
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        verdict = "promoted" if self.promoted else "kept as candidate"
        b, a = self.before.get("micro_f1"), self.after.get("micro_f1")
        mf = f", validation micro-F1 {b:.3f} -> {a:.3f}" if b is not None and a is not None else ""
        return (
            f"v{self.base_version} -> v{self.new_version} {verdict} ({self.reason}); "
            f"{self.new_jobs} new jobs: {self.labeled} corrected, {self.pseudo_labeled} pseudo-labeled, "
            f"{self.unlabeled} unlabeled; {self.replay} replayed{mf}; {self.seconds:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pseudo_labels(
    scores: dict[str, float], thresholds: dict[str, float], gate: float
) -> frozenset[str] | None:
    """Confident tags of a prediction, or None when the prediction is not confident enough.

    A job qualifies when its best score reaches `gate` and no tag sits in the uncertain band
    [1 - gate, gate) while also being above that tag's threshold.
    """
    if not scores or max(scores.values()) < gate:
        return None
    tags = set()
    for tag, s in scores.items():
        if s >= gate:
            tags.add(tag)
        elif s >= thresholds.get(tag, 0.5) and s >= 1 - gate:
            return None  # decided, but not confidently: don't teach it
    return frozenset(tags)


def maybe_update(tagger: Tagger, progress: bool = False) -> UpdateResult | None:
    """Run an update when at least `update.every_n_jobs` new jobs were seen since the last one."""
    due = tagger.store.jobs_since_last_update()
    if due < tagger.settings.update.every_n_jobs:
        log.debug(
            "%d new jobs since the last update; %d needed", due, tagger.settings.update.every_n_jobs
        )
        return None
    return run_update(tagger, progress=progress)


def run_update(tagger: Tagger, progress: bool = False) -> UpdateResult:
    """Load the current weights, train on the new jobs (+ replay), recalibrate, promote if not worse."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with tagger.store.update_lock(owner):
        return _update_locked(tagger, progress)


def _update_locked(tagger: Tagger, progress: bool) -> UpdateResult:
    store = tagger.store
    current, base_version = tagger.load_model(reload=True)
    run_id = store.start_update_run()
    try:
        result = _update(tagger, current, base_version, progress)
    except BaseException as exc:
        store.finish_update_run(run_id, "failed", reason=f"{type(exc).__name__}: {exc}"[:500])
        raise
    store.finish_update_run(
        run_id,
        "done",
        jobs_used=result.new_jobs,
        labels=result.labeled,
        pseudo_labels=result.pseudo_labeled,
        metrics_before=result.before,
        metrics_after=result.after,
        model_version=result.new_version,
        promoted=result.promoted,
        reason=result.reason[:500],
        seconds=result.seconds,
    )
    return result


def _update(tagger: Tagger, current: Any, base_version: int, progress: bool) -> UpdateResult:
    t0 = time.perf_counter()
    cfg = tagger.settings.update
    rng = np.random.default_rng(tagger.settings.train.seed)
    new_items = list(tagger.store.iter_new_jobs())
    if not new_items:
        raise TrainingError("no new jobs since the last update")
    thresholds = dict(zip(current.tags, map(float, current.thresholds), strict=True))

    human: list[Job] = []  # new jobs with true tags (corrections or imported tags)
    pseudo: list[tuple[Job, frozenset[str]]] = []  # confident predictions as labels
    unlabeled: list[Job] = []  # the rest: autoencoder only
    for item in new_items:
        job: Job = item.job
        if job.labeled:
            if not in_holdout(job.job_id):
                human.append(job)
            continue
        labels = pseudo_labels(item.scores, thresholds, cfg.pseudo_label_confidence)
        if labels:
            pseudo.append((job, labels))
        else:
            unlabeled.append(job)
    n_human, n_pseudo = len(human), len(pseudo)
    new_ids = {item.job.job_id for item in new_items}

    # Replay: earlier labeled jobs so old tags are not forgotten; the hold-out slice is never trained on.
    old = [j for j in tagger.store.iter_jobs(labeled=True) if j.job_id not in new_ids]
    val_jobs = [j for j in old if in_holdout(j.job_id)]
    val_jobs += [i.job for i in new_items if i.job.labeled and in_holdout(i.job.job_id)]
    pool = [j for j in old if not in_holdout(j.job_id)]
    replay = [pool[i] for i in rng.permutation(len(pool))[: cfg.replay_jobs]]
    # corrections are rare and precious: show them more than once beside the replay
    boost = max(1, min(5, len(replay) // (20 * n_human))) if n_human else 1
    train_jobs = human * boost + [j for j, _ in pseudo] + replay
    train_labels = (
        [j.tags or frozenset() for j in human] * boost
        + [lab for _, lab in pseudo]
        + [j.tags or frozenset() for j in replay]
    )
    weights = [1.0] * (n_human * boost) + [cfg.pseudo_label_weight] * n_pseudo + [1.0] * len(replay)

    candidate = copy.deepcopy(current)
    new_tags = sorted({t for lab in train_labels for t in lab} - set(candidate.tags))
    if new_tags:
        candidate.add_tags(new_tags)
        log.info("new tags: %s", ", ".join(new_tags))

    if train_jobs:
        batch = tagger.featurize_jobs(train_jobs)
        targets = label_matrix(train_labels, candidate.tags).astype(np.float32)
        unl_batch = tagger.featurize_jobs(unlabeled) if unlabeled else None
        candidate.fine_tune(
            batch,
            targets,
            np.asarray(weights, dtype=np.float32),
            unlabeled=unl_batch,
            epochs=cfg.epochs,
            progress=progress,
        )

    if candidate.tagger.wide is not None and float(candidate.tagger.mix[1]) != 0.0:
        # The wide path is a convex model: refit it, warm-started, on every labeled job we may
        # train on (old, corrected, pseudo-labeled), instead of only nudging it by SGD.
        wide_jobs = pool + human + [j for j, _ in pseudo]
        wide_labels = [j.tags or frozenset() for j in pool + human] + [lab for _, lab in pseudo]
        wide_w = [1.0] * (len(pool) + n_human) + [cfg.pseudo_label_weight] * n_pseudo
        wb = tagger.featurize_jobs(wide_jobs)
        refit_wide(
            candidate.tagger.wide.weight.data,
            candidate.tagger.wide_bias.data,
            candidate.weighting.transform(wb.bag),
            label_matrix(wide_labels, candidate.tags).astype(np.float32),
            np.asarray(wide_w, dtype=np.float32),
            C=candidate.settings.wide_C,
        )

    # Judge on the hold-out slice: labeled jobs that no model has trained on.
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    promoted, reason = True, "no held-out jobs to compare on: promoted"
    if len(val_jobs) >= 10:
        cmp_ = val_jobs
        if len(val_jobs) >= 40:  # enough to recalibrate thresholds on one half, judge on the other
            order = rng.permutation(len(val_jobs))
            cal = [val_jobs[i] for i in order[: len(val_jobs) // 2]]
            cmp_ = [val_jobs[i] for i in order[len(val_jobs) // 2 :]]
            cal_batch = tagger.featurize_jobs(cal)
            candidate.calibrate(cal_batch, label_matrix([j.tags for j in cal], candidate.tags))
            # judge the current model with thresholds from the same half: a fair comparison
            current = copy.deepcopy(current)
            current.calibrate(cal_batch, label_matrix([j.tags for j in cal], current.tags))
        cmp_batch = tagger.featurize_jobs(cmp_)
        y_old = label_matrix([j.tags for j in cmp_], current.tags)
        y_new = label_matrix([j.tags for j in cmp_], candidate.tags)
        before = headline_metrics(current.evaluate(cmp_batch, y_old))
        after = headline_metrics(candidate.evaluate(cmp_batch, y_new))
        worse = after["micro_f1"] < before["micro_f1"] - cfg.promote_tolerance
        promoted = not worse
        reason = (
            f"validation micro-F1 {after['micro_f1']:.4f} vs {before['micro_f1']:.4f} "
            f"on {len(cmp_)} held-out jobs"
        )
        if new_tags and not promoted:
            reason += "; new tags would not be served"
    candidate.val_metrics = {**candidate.val_metrics, "update_validation": after}
    status = "active" if promoted else "candidate"
    new_version, _ = tagger.save_model(candidate, status=status, note=f"update of v{base_version}")
    result = UpdateResult(
        base_version=base_version,
        new_version=new_version,
        promoted=promoted,
        reason=reason,
        new_jobs=len(new_items),
        labeled=n_human,
        pseudo_labeled=n_pseudo,
        unlabeled=len(unlabeled),
        replay=len(replay),
        new_tags=new_tags,
        before=before,
        after=after,
        seconds=time.perf_counter() - t0,
    )
    if not promoted:
        log.warning("update kept v%d as candidate: %s", new_version, reason)
    return result


def read_feedback_file(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(job_id, tags) pairs from a CSV (columns job_id, tags with '|' or ',') or JSONL file."""
    if not path.is_file():
        raise InputError(f"no such feedback file: {path}")
    with open(path, encoding="utf-8") as fh:
        if path.suffix == ".jsonl":
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    tags = obj["tags"]
                    yield str(obj["job_id"]), tags if isinstance(tags, list) else _split(tags)
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise InputError(
                        f"{path}:{n}: need an object with job_id and tags ({exc})"
                    ) from exc
            return
        reader = csv.DictReader(fh)
        missing = {"job_id", "tags"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{path}: missing columns {', '.join(sorted(missing))}")
        for row in reader:
            yield row["job_id"], _split(row["tags"] or "")


def _split(text: str) -> list[str]:
    sep = "|" if "|" in text else ","
    return [t.strip() for t in text.split(sep) if t.strip()]
