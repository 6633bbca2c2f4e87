"""The learning loop: when new jobs or corrections arrived, learn them; promote if not worse."""

from __future__ import annotations

import copy
import logging
import os
import socket
import time
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from jobtag.app import Tagger
from jobtag.errors import TrainingError
from jobtag.judging import Judgement, in_judge, judge
from jobtag.records import Job, label_matrix
from jobtag.training.update import fine_tune, refit_wide_path

log = logging.getLogger(__name__)


@dataclass
class UpdateResult:
    """What one update did."""

    base_version: int
    new_version: int | None
    promoted: bool
    reason: str
    new_jobs: int  # jobs the update looked at: new since the last update, or corrected since
    labeled: int  # of those, jobs with true tags (human corrections or imported tags)
    pseudo_labeled: int  # new jobs with confident predictions used as labels
    unlabeled: int  # new jobs used only by the autoencoder
    replay: int
    corrections: int = 0  # jobs corrected since the last update
    learned_labeled: int = 0  # labeled jobs new to the served model that the candidate learned
    judge_jobs: int = 0  # labeled jobs new to both models that judged the update
    folded: bool = False  # the judge jobs were learned after the decision
    new_tags: list[str] = field(default_factory=list)
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def learned(self) -> str:
        """What the update learned, in words."""
        tags = f"; new tags: {', '.join(self.new_tags)}" if self.new_tags else ""
        return (
            f"learned {self.learned_labeled} labeled jobs new to v{self.base_version} "
            f"({self.corrections} corrected since the last update), "
            f"{self.pseudo_labeled} pseudo-labels{tags}"
        )

    def summary(self) -> str:
        verdict = "promoted" if self.promoted else "kept as candidate"
        return (
            f"v{self.base_version} -> v{self.new_version} {verdict}: {self.reason}; "
            f"{self.learned()}; {self.new_jobs} jobs looked at; {self.seconds:.1f}s"
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


def update_due(tagger: Tagger) -> str | None:
    """Why an update is due now (N new jobs or M new corrections since the last one), else None."""
    cfg = tagger.settings.update
    jobs = tagger.store.jobs_since_last_update()
    if jobs >= cfg.every_n_jobs:
        return f"{jobs} new jobs since the last update (every {cfg.every_n_jobs})"
    corrections = tagger.store.corrections_since_last_update()
    if corrections >= cfg.every_n_corrections:
        return (
            f"{corrections} new corrections since the last update (every {cfg.every_n_corrections})"
        )
    log.debug("no update due: %d new jobs, %d new corrections", jobs, corrections)
    return None


def not_due_message(tagger: Tagger) -> str:
    """Why no update is due, with the counts and the thresholds."""
    cfg = tagger.settings.update
    return (
        f"no update due: {tagger.store.jobs_since_last_update()} new jobs "
        f"({cfg.every_n_jobs} needed), {tagger.store.corrections_since_last_update()} new "
        f"corrections ({cfg.every_n_corrections} needed)"
    )


def maybe_update(tagger: Tagger, progress: bool = False) -> UpdateResult | None:
    """Run an update when one is due (see `update_due`); None when none is."""
    reason = update_due(tagger)
    if reason is None:
        return None
    log.info("update due: %s", reason)
    return run_update(tagger, progress=progress)


def run_update(tagger: Tagger, progress: bool = False) -> UpdateResult:
    """Learn the jobs and corrections since the last update; promote if old tags are not worse.

    TrainingError when nothing new arrived (no run is recorded then)."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with tagger.store.update_lock(owner):
        store = tagger.store
        if store.jobs_since_last_update() == 0 and store.corrections_since_last_update() == 0:
            raise TrainingError(
                "nothing to learn: no new jobs and no new corrections since the last update"
            )
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
    info = {
        "judge_jobs": result.judge_jobs,
        "corrections": result.corrections,
        "learned_labeled": result.learned_labeled,
        "new_tags": result.new_tags,
        "folded": result.folded,
        "base_version": result.base_version,
    }
    store.finish_update_run(
        run_id,
        "done",
        jobs_used=result.new_jobs,
        labels=result.labeled,
        pseudo_labels=result.pseudo_labeled,
        metrics_before=result.before,
        metrics_after={**result.after, **info},
        model_version=result.new_version,
        promoted=result.promoted,
        reason=f"{result.reason}; {result.learned()}"[:500],
        seconds=result.seconds,
    )
    return result


# Wide-path rows (hashed bag) by featurizer version and content hash, per Tagger: they do not
# change between updates (a model trained with other features has rows of its own).
_BAGS: weakref.WeakKeyDictionary[Tagger, dict[str, dict[str, tuple[np.ndarray, ...]]]] = (
    weakref.WeakKeyDictionary()
)


def _bags(tagger: Tagger, jobs: Sequence[Job]) -> tuple[sp.csr_matrix, np.ndarray]:
    """The raw hashed bags of `jobs` (csr) and their sentence embeddings ((n, 0) without an
    embedder), from an in-process cache filled on first use."""
    cache = _BAGS.setdefault(tagger, {}).setdefault(tagger.featurizer.version, {})
    missing = list({j.content_hash: j for j in jobs if j.content_hash not in cache}.values())
    if missing:
        batch = tagger.featurize_jobs(missing)
        bag = batch.bag.tocsr()
        for i, job in enumerate(missing):
            lo, hi = bag.indptr[i], bag.indptr[i + 1]
            cache[job.content_hash] = (
                bag.indices[lo:hi].copy(),
                bag.data[lo:hi].copy(),
                batch.embedding[i].copy(),
            )
    rows = [cache[j.content_hash] for j in jobs]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r[0]) for r in rows], out=indptr[1:])
    indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
    data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
    n_features = tagger.featurizer.settings.n_features  # the served model's features
    width = rows[0][2].size if rows else 0
    embedding = np.stack([r[2] for r in rows]) if width else np.zeros((len(rows), 0), np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_features)), embedding


def _refit(tagger: Tagger, model: Any, data: _WideSet, max_iter: int) -> None:
    """Refit the wide path of `model` in place (warm-started) on a set of jobs."""
    y = label_matrix(data.labels, model.tags)
    bag, embedding = _bags(tagger, data.jobs)
    refit_wide_path(model, bag, y, np.asarray(data.weights), max_iter, embedding)


@dataclass
class _Evidence:
    """What an update has to learn from, and what judges it."""

    new_items: list[Any]  # jobs added or corrected since the last update (store.SeenJob)
    judge_jobs: list[Job]  # labeled jobs new to the served model, held back to judge
    learn: list[Job]  # every other labeled job
    learned_fresh: list[Job]  # ... of which new to the served model
    human: list[Job]  # new labeled jobs looked at now (corrections first), not judge jobs
    pseudo: list[tuple[Job, frozenset[str]]]  # confident predictions as labels
    unlabeled: list[Job]  # the rest: autoencoder only
    all_labeled: list[Job]


def _gather(tagger: Tagger, current: Any, base_version: int) -> _Evidence:
    cfg, store = tagger.settings.update, tagger.store
    # What the served model has not seen: jobs added or corrected after the run that made it.
    made = store.model_run(base_version)
    new_items = list(store.iter_new_jobs())
    if made is not None:
        fresh = store.fresh_job_ids(made.last_job_id, made.started_at)
    else:  # a model without a recorded run: count only what arrived since the last update
        fresh = {i.job.job_id for i in new_items}
    labeled = list(store.iter_jobs(labeled=True))
    judge = [j for j in labeled if j.job_id in fresh and in_judge(j.job_id, cfg.judge_fraction)]
    judge_ids = {j.job_id for j in judge}
    learn = [j for j in labeled if j.job_id not in judge_ids]  # everything else that has labels
    ev = _Evidence(
        new_items, judge, learn, [j for j in learn if j.job_id in fresh], [], [], [], labeled
    )
    thresholds = dict(zip(current.tags, map(float, current.thresholds), strict=True))
    for item in sorted(new_items, key=lambda i: not i.corrected_since_update):
        job: Job = item.job
        if job.labeled:
            if job.job_id not in judge_ids:
                ev.human.append(job)
        elif not item.corrected_since_update:  # corrected to "no tags": nothing to teach
            labels = pseudo_labels(item.scores, thresholds, cfg.pseudo_label_confidence)
            if labels:
                ev.pseudo.append((job, labels))
            else:
                ev.unlabeled.append(job)
    return ev


def _fine_tune_deep(
    tagger: Tagger, candidate: Any, ev: _Evidence, rng: np.random.Generator, progress: bool
) -> list[Job]:
    """Continue the deep path's SGD on the new jobs + a replay of older ones; returns the replay."""
    cfg = tagger.settings.update
    new_ids = {j.job_id for j in ev.human}
    pool = [j for j in ev.learn if j.job_id not in new_ids]
    replay = [pool[i] for i in rng.permutation(len(pool))[: cfg.replay_jobs]]
    n_human = len(ev.human)
    # corrections are rare and precious: show them more than once beside the replay
    boost = 1
    if n_human:
        boost = max(
            1, min(cfg.correction_boost_max, len(replay) // (cfg.replay_per_correction * n_human))
        )
    jobs = ev.human * boost + [j for j, _ in ev.pseudo] + replay
    labels = (
        [j.tags or frozenset() for j in ev.human] * boost
        + [lab for _, lab in ev.pseudo]
        + [j.tags or frozenset() for j in replay]
    )
    weights = [1.0] * (n_human * boost) + [cfg.pseudo_label_weight] * len(ev.pseudo)
    weights += [1.0] * len(replay)
    if jobs:
        fine_tune(
            candidate,
            tagger.featurize_jobs(jobs),
            label_matrix(labels, candidate.tags).astype(np.float32),
            np.asarray(weights, dtype=np.float32),
            unlabeled=(
                tagger.featurize_jobs(ev.unlabeled)
                if ev.unlabeled and cfg.fine_tune_autoencoder
                else None
            ),
            epochs=cfg.epochs,
            progress=progress,
            autoencoder=cfg.fine_tune_autoencoder,
        )
    return replay


@dataclass
class _WideSet:
    """What the wide path's warm refit learns: jobs, their labels and weights."""

    jobs: list[Job]
    labels: list[frozenset[str]]
    weights: list[float]

    def plus(self, jobs: Sequence[Job]) -> _WideSet:
        """This set and labeled `jobs` (weight 1)."""
        labels = [j.tags or frozenset() for j in jobs]
        return _WideSet(
            self.jobs + list(jobs), self.labels + labels, self.weights + [1.0] * len(jobs)
        )


def _wide_set(tagger: Tagger, ev: _Evidence) -> _WideSet:
    """Every labeled job but the judge jobs, + the pseudo-labels (at their weight)."""
    w = tagger.settings.update.pseudo_label_weight
    return _WideSet(
        ev.learn + [j for j, _ in ev.pseudo],
        [j.tags or frozenset() for j in ev.learn] + [lab for _, lab in ev.pseudo],
        [1.0] * len(ev.learn) + [w] * len(ev.pseudo),
    )


def _candidate(current: Any, ev: _Evidence) -> tuple[Any, list[str]]:
    """A copy of the served model, grown by the tags of labeled jobs it does not know."""
    candidate = copy.deepcopy(current)
    new_tags = sorted({t for j in ev.all_labeled for t in j.tags or ()} - set(candidate.tags))
    if new_tags:
        candidate.add_tags(new_tags)
        log.info("new tags: %s", ", ".join(new_tags))
    return candidate, new_tags


def _update(tagger: Tagger, current: Any, base_version: int, progress: bool) -> UpdateResult:
    t0 = time.perf_counter()
    cfg = tagger.settings.update
    rng = np.random.default_rng(tagger.settings.train.seed)
    ev = _gather(tagger, current, base_version)
    candidate, new_tags = _candidate(current, ev)
    replay: list[Job] = []
    if current.net.uses_deep and cfg.fine_tune_deep:  # the deep path counts: it learns too
        replay = _fine_tune_deep(tagger, candidate, ev, rng, progress)
    elif current.net.uses_deep:
        log.info("update.fine_tune_deep is off: only the wide path learns")
    else:
        log.info("the deep path has no weight in the served model: only the wide path learns")
    wide = candidate.net.uses_wide
    # The wide path is a convex model: refit it, warm-started, on every labeled job but the
    # judge jobs (+ pseudo-labels), instead of only nudging it by SGD.
    wide_set = _wide_set(tagger, ev)
    if wide and wide_set.jobs:
        _refit(tagger, candidate, wide_set, cfg.refit_iterations)
    promoted, reason, verdict = _decide(tagger, current, candidate, ev.judge_jobs, ev.learned_fresh)
    folded = bool(promoted and wide and ev.judge_jobs)
    if folded:  # decided: now the judge jobs teach the promoted model too (a few iterations)
        _refit(tagger, candidate, wide_set.plus(ev.judge_jobs), cfg.fold_iterations)
    before = {"micro_f1": verdict.before} if verdict else {}
    after = {"micro_f1": verdict.after, "se": verdict.se} if verdict else {}
    new_version = _save(tagger, candidate, promoted, after, base_version)
    result = UpdateResult(
        base_version=base_version,
        new_version=new_version,
        promoted=promoted,
        reason=reason,
        new_jobs=len(ev.new_items),
        labeled=sum(1 for i in ev.new_items if i.job.labeled),
        pseudo_labeled=len(ev.pseudo),
        unlabeled=len(ev.unlabeled),
        replay=len(replay),
        corrections=sum(1 for i in ev.new_items if i.corrected_since_update),
        learned_labeled=len(ev.learned_fresh),
        judge_jobs=len(ev.judge_jobs),
        folded=folded,
        new_tags=new_tags,
        before=before,
        after=after,
        seconds=time.perf_counter() - t0,
    )
    (log.info if promoted else log.warning)("update: %s", result.summary())
    return result


def _save(
    tagger: Tagger, candidate: Any, promoted: bool, after: dict[str, float], base_version: int
) -> int:
    """Register the candidate (active when promoted, its weights linked to the base model's where
    unchanged), prune old versions' files; returns its version."""
    candidate.val_metrics = {**candidate.val_metrics, "update_validation": after}
    new_version, _ = tagger.save_model(
        candidate,
        status="active" if promoted else "candidate",
        note=f"update of v{base_version}",
        reuse_from=Path(tagger.store.get_model(base_version).path),
    )
    tagger.prune_models()
    return new_version


def _decide(
    tagger: Tagger,
    current: Any,
    candidate: Any,
    judge_jobs: Sequence[Job],
    learned_fresh: Sequence[Job],
) -> tuple[bool, str, Judgement | None]:
    """Promote or not: old tags on labeled jobs neither model trained on, with their noise in mind.

    With labeled evidence (labeled jobs new to the served model that the candidate learned) the
    candidate is promoted unless old tags' micro-F1 drops by more than the tolerance plus
    `promote_z` standard errors. Without it (self-training alone) it must be better by that much.
    Tags the served model does not have are not judged (there is nothing to compare them with).
    """
    cfg = tagger.settings.update
    evidence = len(learned_fresh)
    if not judge_jobs:
        if evidence:
            return True, f"promoted on {evidence} labeled jobs learned (no judge jobs yet)", None
        return False, "no labeled evidence: self-training alone is never promoted unjudged", None
    batch = tagger.featurize_jobs(judge_jobs)
    old = len(current.tags)
    y = label_matrix([j.tags for j in judge_jobs], current.tags)
    p_before = current.decide(current.scores(batch))
    p_after = candidate.decide(candidate.scores(batch))[:, :old]
    v = judge(y, p_before, p_after, seed=tagger.settings.train.seed, n_boot=cfg.judge_bootstrap)
    margin = cfg.promote_tolerance + cfg.promote_z * v.se
    figures = (
        f"old tags' micro-F1 on {v.jobs} judge jobs {v.before:.4f} -> {v.after:.4f} "
        f"(diff {v.diff:+.4f}, standard error {v.se:.4f})"
    )
    if evidence:
        ok = v.diff >= -margin
        why = "not worse beyond" if ok else "worse beyond"
        return ok, f"{'promoted' if ok else 'kept'}: {figures}, {why} the margin {margin:.4f}", v
    ok = v.diff > margin
    why = "better beyond" if ok else "self-training only and not better beyond"
    return ok, f"{'promoted' if ok else 'kept'}: {figures}, {why} the margin {margin:.4f}", v
