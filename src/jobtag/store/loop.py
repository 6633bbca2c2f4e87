"""Learning-loop records: predictions, human corrections (feedback), new jobs since the last update,
and the history of update runs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from jobtag.errors import InputError, NotFound
from jobtag.records import Job
from jobtag.store import schema as S
from jobtag.store.sqlutil import (
    TagCache,
    chunks,
    dumps,
    loads,
    transaction,
    upsert,
    upsert_features,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeenJob:
    """A job seen since the last update: its true tags (in `job.tags`), the human correction if
    any, and the latest prediction made for it (scores of every tag the model gave)."""

    job: Job
    human_tags: frozenset[str] | None
    model_version: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    predicted: frozenset[str] = frozenset()
    corrected_since_update: bool = False  # a human correction arrived after the last update


@dataclass(frozen=True)
class UpdateRun:
    """One update of the model (see `record_update_run`)."""

    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    last_job_id: int
    jobs_used: int
    labels: int
    pseudo_labels: int
    metrics_before: dict[str, Any]
    metrics_after: dict[str, Any]
    model_version: int | None
    promoted: bool
    reason: str
    seconds: float


RUN_FIELDS = ("jobs_used", "labels", "pseudo_labels", "metrics_before", "metrics_after",
              "model_version", "promoted", "reason", "seconds")  # fmt: skip


def _run_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(RUN_FIELDS) - {"status", "finished_at"}
    if unknown:
        raise InputError(f"unknown update-run field(s): {', '.join(sorted(unknown))}")
    out = dict(values)
    for key in ("metrics_before", "metrics_after"):
        if key in out:
            out[key] = dumps(out[key] or {})
    return out


class LoopMixin:
    """Learning-loop methods of JobStore (needs `engine`, `url`, `_tags`, `_truth_tags`)."""

    engine: sa.Engine
    url: str
    _tags: TagCache

    # ------------------------------------------------------------ predictions
    def record_predictions(
        self,
        job: Job,
        model_version: int,
        scores: dict[str, float],
        predicted: Sequence[str],
        source: str = "predict",
    ) -> None:
        """Store one job (upserted by its job_id, tags ignored) and the model's scores for it."""
        self.record_predictions_many([(job, scores, predicted)], model_version, source)

    def record_predictions_many(
        self,
        items: Iterable[tuple[Job, dict[str, float], Sequence[str]]],
        model_version: int,
        source: str = "predict",
        features: dict[str, bytes] | None = None,
        features_version: str = "",
    ) -> int:
        """Bulk `record_predictions` in one transaction; returns the number of jobs stored.

        Each job is upserted by its job_id (a changed title/description updates it; imported and
        human tags stay). Scores replace any earlier scores of the same model version for the job,
        and the predicted tags become the job's 'model' tag links. `features` (content hash ->
        payload of featurizer `features_version`) join the feature cache in the same
        transaction: one write per recorded batch, and none at all when it fails."""
        items = list(items)
        if not items:
            if features:
                self.put_features(features, features_version)  # type: ignore[attr-defined]
            return 0
        j, p, jt = S.jobs, S.predictions, S.job_tags
        now = S.utcnow()
        source = source[: S.SOURCE_LEN]
        jobs = {job.job_id: job for job, _s, _p in items}
        with transaction(self.engine, "recording predictions", self._tags) as (conn, created):
            rows = [
                {"source_job_id": jb.job_id, "title": jb.title, "description": jb.description,
                 "company_id": jb.company_id, "company_name": jb.company_name,
                 "content_hash": jb.content_hash, "source": source, "added_at": now,
                 "updated_at": now}
                for jb in jobs.values()
            ]  # fmt: skip
            existing: dict[str, tuple[int, str]] = {}
            for part in chunks(list(jobs)):
                q = sa.select(j.c.source_job_id, j.c.id, j.c.content_hash)
                existing.update(
                    (r.source_job_id, (r.id, r.content_hash))
                    for r in conn.execute(q.where(j.c.source_job_id.in_(part)))
                )
            changed = [
                r for r in rows if existing.get(r["source_job_id"], (0, ""))[1] != r["content_hash"]
            ]
            upsert(conn, j, changed, ["source_job_id"],
                   ("title", "description", "company_id", "company_name", "content_hash", "updated_at"))  # fmt: skip
            ids = {sid: v[0] for sid, v in existing.items()}
            missing = [sid for sid in jobs if sid not in ids]
            for part in chunks(missing):
                ids.update(conn.execute(
                    sa.select(j.c.source_job_id, j.c.id).where(j.c.source_job_id.in_(part))
                ).all())  # fmt: skip
            names = {t for _j, scores, pred in items for t in (*scores, *pred)}
            tag_ids = self._tags.resolve(conn, names, created)
            job_ids = sorted({ids[sid] for sid in jobs})
            for part in chunks(job_ids):
                conn.execute(
                    p.delete().where(p.c.model_version == int(model_version), p.c.job_id.in_(part))
                )
                conn.execute(jt.delete().where(jt.c.origin == S.MODEL, jt.c.job_id.in_(part)))
            pred_rows: dict[tuple[int, int], dict[str, Any]] = {}
            link_rows: dict[tuple[int, int], dict[str, Any]] = {}
            for jb, scores, pred in items:
                jid, chosen = ids[jb.job_id], set(pred)
                for name in set(scores) | chosen:
                    pred_rows[(jid, tag_ids[name])] = {
                        "job_id": jid, "model_version": int(model_version),
                        "tag_id": tag_ids[name], "score": float(scores.get(name, 1.0)),
                        "predicted": name in chosen, "source": source, "created_at": now,
                    }  # fmt: skip
                for name in chosen:
                    link_rows[(jid, tag_ids[name])] = {
                        "job_id": jid, "tag_id": tag_ids[name], "origin": S.MODEL, "who": None,
                        "source": source, "created_at": now,
                    }  # fmt: skip
            if pred_rows:
                conn.execute(p.insert(), list(pred_rows.values()))
            if link_rows:
                conn.execute(jt.insert(), list(link_rows.values()))
            if features:
                upsert_features(conn, features, features_version)
        return len(jobs)

    # --------------------------------------------------------------- feedback
    def add_feedback(
        self, source_job_id: str, tags: Sequence[str], who: str | None = None, source: str = "cli"
    ) -> None:
        """Record a human correction: `tags` become the job's true tags (new names create new tags).
        Every correction is kept in the feedback log. NotFound for an unknown job id."""
        self.add_feedback_many([(source_job_id, tags)], who, source)

    def add_feedback_many(
        self,
        items: Iterable[tuple[str, Sequence[str]]],
        who: str | None = None,
        source: str = "cli",
    ) -> int:
        """Bulk corrections in one transaction (all or nothing); returns how many were stored."""
        items = [
            (str(sid), sorted({t.strip() for t in tags if t and t.strip()})) for sid, tags in items
        ]
        if not items:
            return 0
        for sid, names in items:
            if any(len(n) > S.NAME_LEN for n in names):
                raise InputError(f"job {sid}: tag names are limited to {S.NAME_LEN} characters")
        j, jt, fb = S.jobs, S.job_tags, S.feedback
        now = S.utcnow()
        source = source[: S.SOURCE_LEN]
        who = who[: S.NAME_LEN] if who else None
        with transaction(self.engine, "recording feedback", self._tags) as (conn, created):
            ids: dict[str, int] = {}
            wanted = list(dict.fromkeys(sid for sid, _ in items))
            for part in chunks(wanted):
                ids.update(conn.execute(
                    sa.select(j.c.source_job_id, j.c.id).where(j.c.source_job_id.in_(part))
                ).all())  # fmt: skip
            unknown = [sid for sid in wanted if sid not in ids]
            if unknown:
                shown = ", ".join(repr(s) for s in unknown[:5]) + (
                    " ..." if len(unknown) > 5 else ""
                )
                raise NotFound(
                    f"feedback for unknown job id(s) {shown} in {self.url}: "
                    "import or predict the job first"
                )
            tag_ids = self._tags.resolve(conn, {n for _s, names in items for n in names}, created)
            final: dict[int, list[str]] = {}
            for sid, names in items:  # the last correction of a job in the batch wins
                final[ids[sid]] = names
            conn.execute(fb.insert(), [
                {"job_id": ids[sid], "tags": dumps(names), "who": who, "source": source,
                 "created_at": now}
                for sid, names in items
            ])  # fmt: skip
            for part in chunks(sorted(final)):
                conn.execute(jt.delete().where(jt.c.origin == S.HUMAN, jt.c.job_id.in_(part)))
                conn.execute(j.update().where(j.c.id.in_(part)).values(corrected_at=now))
            links = [
                {"job_id": jid, "tag_id": tag_ids[n], "origin": S.HUMAN, "who": who,
                 "source": source, "created_at": now}
                for jid, names in final.items() for n in names
            ]  # fmt: skip
            if links:
                conn.execute(jt.insert(), links)
        log.info("recorded %d correction(s) from %s", len(items), source)
        return len(items)

    def feedback_log(self, source_job_id: str) -> list[dict[str, Any]]:
        """Every correction of one job, oldest first: {"tags", "who", "source", "created_at"}."""
        j, fb = S.jobs, S.feedback
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(fb.c.tags, fb.c.who, fb.c.source, fb.c.created_at)
                .join(j, j.c.id == fb.c.job_id)
                .where(j.c.source_job_id == str(source_job_id))
                .order_by(fb.c.id)
            ).all()
        return [{"tags": loads(r.tags), "who": r.who, "source": r.source,
                 "created_at": r.created_at} for r in rows]  # fmt: skip

    def recent_predictions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The `limit` most recently predicted jobs, newest first: job_id, title, model_version,
        predicted tags (of the latest prediction) and human tags (None when never corrected)."""
        j, p, jt, t = S.jobs, S.predictions, S.job_tags, S.tags
        with self.engine.connect() as conn:
            latest = conn.execute(
                sa.select(p.c.job_id, sa.func.max(p.c.created_at).label("at"),
                          sa.func.max(p.c.model_version).label("version"))
                .group_by(p.c.job_id)
                .order_by(sa.desc("at"), p.c.job_id.desc())
                .limit(int(limit))
            ).all()  # fmt: skip
            ids = [r.job_id for r in latest]
            meta = {r.id: r for r in conn.execute(
                sa.select(j.c.id, j.c.source_job_id, j.c.title, j.c.corrected_at)
                .where(j.c.id.in_(ids))
            )}  # fmt: skip
            links: dict[tuple[int, str], list[str]] = {}
            for r in conn.execute(
                sa.select(jt.c.job_id, jt.c.origin, t.c.name)
                .join(t, t.c.id == jt.c.tag_id)
                .where(jt.c.job_id.in_(ids), jt.c.origin.in_(("model", "human")))
                .order_by(t.c.name)
            ):
                links.setdefault((r.job_id, r.origin), []).append(r.name)
        return [
            {
                "job_id": meta[r.job_id].source_job_id,
                "title": meta[r.job_id].title,
                "model_version": r.version,
                "predicted_at": r.at,
                "predicted": links.get((r.job_id, "model"), []),
                "human_tags": links.get((r.job_id, "human"), [])
                if meta[r.job_id].corrected_at is not None
                else None,
            }
            for r in latest
            if r.job_id in meta
        ]

    # ------------------------------------------------------- new jobs / runs
    def _marks(self, conn: sa.Connection) -> tuple[int, dt.datetime | None]:
        """(jobs.id watermark, start time) of the last completed update run; (0, None) if none."""
        ur = S.update_runs
        row = conn.execute(
            sa.select(ur.c.last_job_id, ur.c.started_at)
            .where(ur.c.status == "done")
            .order_by(ur.c.id.desc())
        ).first()
        return (int(row[0]), row[1]) if row else (0, None)

    def _watermark(self, conn: sa.Connection) -> int:
        return self._marks(conn)[0]

    @staticmethod
    def _corrected_after(since: dt.datetime | None) -> sa.ColumnElement[bool]:
        col = S.jobs.c.corrected_at
        return col.is_not(None) if since is None else col > since

    def jobs_since_last_update(self) -> int:
        """Jobs added (by import or predict) after the start of the last completed update run."""
        with self.engine.connect() as conn:
            mark = self._watermark(conn)
            q = sa.select(sa.func.count()).select_from(S.jobs).where(S.jobs.c.id > mark)
            return int(conn.execute(q).scalar_one())

    def corrections_since_last_update(self) -> int:
        """Jobs whose human correction arrived after the start of the last completed update run
        (new or old jobs alike: a correction is new information either way)."""
        with self.engine.connect() as conn:
            _mark, since = self._marks(conn)
            q = sa.select(sa.func.count()).select_from(S.jobs).where(self._corrected_after(since))
            return int(conn.execute(q).scalar_one())

    def fresh_job_ids(self, after_id: int, since: dt.datetime | None) -> set[str]:
        """Source ids of jobs added after jobs.id `after_id` or corrected after `since`: what a
        model made at that point has not seen (with its current tags)."""
        j = S.jobs
        cond = j.c.id > int(after_id)
        if since is not None:
            cond = sa.or_(cond, j.c.corrected_at > since)
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(j.c.source_job_id).where(cond)).scalars())

    def model_run(self, version: int) -> UpdateRun | None:
        """The completed run that produced model `version` (full training or update), if any."""
        ur = S.update_runs
        q = (
            sa.select(ur.c.id)
            .where(ur.c.status == "done", ur.c.model_version == int(version))
            .order_by(ur.c.id.desc())
        )
        with self.engine.connect() as conn:
            run_id = conn.execute(q).scalar()
        if run_id is None:
            return None
        return next(r for r in self.update_history() if r.id == run_id)

    def iter_new_jobs(self, batch_size: int = 1000) -> Iterator[SeenJob]:
        """What the next update learns from: the jobs counted by `jobs_since_last_update`, then the
        older jobs corrected since it (`corrections_since_last_update`), each with its human tags
        and latest prediction."""
        with self.engine.connect() as conn:
            mark, since = self._marks(conn)
            older = [
                int(r[0])
                for r in conn.execute(
                    sa.select(S.jobs.c.id)
                    .where(S.jobs.c.id <= mark, self._corrected_after(since))
                    .order_by(S.jobs.c.id)
                )
            ]
        jt, t, p = S.job_tags, S.tags, S.predictions
        batch: list[Job] = []
        for part in chunks(older, batch_size):
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(*self._job_columns())
                    .where(S.jobs.c.id.in_(part))
                    .order_by(S.jobs.c.id)
                ).all()
                batch = self._truth_tags(conn, rows)  # type: ignore[attr-defined]
            yield from self._seen(batch, jt, t, p, since)
        batch = []
        for job in self.iter_jobs(batch_size=batch_size, after_id=mark):  # type: ignore[attr-defined]
            batch.append(job)
            if len(batch) >= batch_size:
                yield from self._seen(batch, jt, t, p, since)
                batch = []
        if batch:
            yield from self._seen(batch, jt, t, p, since)

    @staticmethod
    def _job_columns() -> tuple[Any, ...]:
        return tuple(S.JOB_COLUMNS)

    def _seen(
        self, batch: list[Job], jt: sa.Table, t: sa.Table, p: sa.Table, since: dt.datetime | None
    ) -> Iterator[SeenJob]:
        j = S.jobs
        sids = [job.job_id for job in batch]
        with self.engine.connect() as conn:
            meta = {r.source_job_id: r for r in conn.execute(
                sa.select(j.c.source_job_id, j.c.id, j.c.corrected_at).where(j.c.source_job_id.in_(sids))
            )}  # fmt: skip
            ids = [r.id for r in meta.values()]
            latest = dict(conn.execute(
                sa.select(p.c.job_id, sa.func.max(p.c.created_at)).where(p.c.job_id.in_(ids))
                .group_by(p.c.job_id)
            ).all())  # fmt: skip
            scores: dict[int, dict[str, tuple[float, bool, int, Any]]] = {}
            for r in conn.execute(
                sa.select(p.c.job_id, p.c.model_version, p.c.score, p.c.predicted,
                          p.c.created_at, t.c.name)
                .join(t, t.c.id == p.c.tag_id).where(p.c.job_id.in_(ids))
            ):  # fmt: skip
                if r.created_at == latest.get(r.job_id):
                    scores.setdefault(r.job_id, {})[r.name] = (
                        r.score,
                        r.predicted,
                        r.model_version,
                        0,
                    )
        for job in batch:
            m = meta[job.job_id]
            human = job.tags if m.corrected_at is not None else None
            s = scores.get(m.id, {})
            version = max((v[2] for v in s.values()), default=None)
            yield SeenJob(
                job=job,
                human_tags=human,
                model_version=version,
                scores={k: float(v[0]) for k, v in s.items() if v[2] == version},
                predicted=frozenset(k for k, v in s.items() if v[1] and v[2] == version),
                corrected_since_update=m.corrected_at is not None
                and (since is None or m.corrected_at > since),
            )

    def start_update_run(self) -> int:
        """Open an update run (status 'running') with the current newest job as its watermark.
        Runs left 'running' by a killed process are marked 'aborted' (call under the update lock)."""
        ur = S.update_runs
        now = S.utcnow()
        with transaction(self.engine, "starting an update run") as (conn, _):
            conn.execute(
                ur.update()
                .where(ur.c.status == "running")
                .values(status="aborted", finished_at=now)
            )
            mark = conn.execute(sa.select(sa.func.max(S.jobs.c.id))).scalar() or 0
            res = conn.execute(ur.insert().values(
                started_at=now, finished_at=None, status="running", last_job_id=int(mark),
                jobs_used=0, labels=0, pseudo_labels=0, metrics_before="{}", metrics_after="{}",
                model_version=None, promoted=False, reason="", seconds=0.0,
            ))  # fmt: skip
            return int(res.inserted_primary_key[0])

    def finish_update_run(self, run_id: int, status: str = "done", **values: Any) -> None:
        """Close run `run_id` ('done' or 'failed') with its figures (see RUN_FIELDS)."""
        if status not in ("done", "failed"):
            raise InputError(f"an update run finishes as 'done' or 'failed', not {status!r}")
        ur = S.update_runs
        vals = _run_values(values) | {"status": status, "finished_at": S.utcnow()}
        with transaction(self.engine, f"finishing update run {run_id}") as (conn, _):
            if conn.execute(ur.update().where(ur.c.id == int(run_id)).values(vals)).rowcount == 0:
                raise NotFound(f"no update run {run_id} in {self.url}")

    def record_update_run(self, status: str = "done", **values: Any) -> int:
        """Start and finish a run in one call (figures as keyword arguments); returns its id."""
        run_id = self.start_update_run()
        self.finish_update_run(run_id, status, **values)
        return run_id

    def update_history(self, limit: int | None = None) -> list[UpdateRun]:
        """Update runs, oldest first (the newest `limit` when given)."""
        ur = S.update_runs
        q = sa.select(ur).order_by(ur.c.id.desc())
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            UpdateRun(
                id=r.id, started_at=r.started_at, finished_at=r.finished_at, status=r.status,
                last_job_id=r.last_job_id, jobs_used=r.jobs_used, labels=r.labels,
                pseudo_labels=r.pseudo_labels, metrics_before=loads(r.metrics_before),
                metrics_after=loads(r.metrics_after), model_version=r.model_version,
                promoted=bool(r.promoted), reason=r.reason, seconds=float(r.seconds),
            )
            for r in reversed(rows)
        ]  # fmt: skip
