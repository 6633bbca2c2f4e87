"""The review queue: predicted jobs least certain first (closest to a threshold), filters, pages, counts."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from jobtag.errors import InputError
from jobtag.store import schema as S
from jobtag.store.sqlutil import loads

log = logging.getLogger(__name__)

STATES = ("unreviewed", "reviewed", "all")


def _latest_versions() -> sa.Subquery:
    """(job_id, version): each predicted job's latest model version."""
    p = S.predictions
    return (
        sa.select(p.c.job_id, sa.func.max(p.c.model_version).label("version"))
        .group_by(p.c.job_id)
        .subquery("latest")
    )


class ReviewMixin:
    """Review-queue methods of JobStore (needs `engine`)."""

    engine: sa.Engine

    def review_queue(
        self,
        thresholds: Mapping[str, float],
        state: str = "unreviewed",
        tag: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> dict[str, Any]:
        """One page of predicted jobs: {"total", "offset", "limit", "items"}.

        `state` "unreviewed" (no human correction yet, least certain first: the smallest
        |score - threshold| over the tags of `thresholds`), "reviewed" (latest correction first)
        or "all" (least certain first). `tag` keeps jobs the model or a person gave that tag.
        Each item: job_id, title, description, company_name, model_version, predicted_at,
        doubt, scores (tag -> score, best first), predicted, human_tags (None if never
        corrected), corrections (who, when, tags: newest first, at most 5); predicted tags are
        ordered by score, best first."""
        if state not in STATES:
            raise InputError(f"state must be one of {', '.join(STATES)}: {state!r}")
        j, p, jt, t = S.jobs, S.predictions, S.job_tags, S.tags
        latest = _latest_versions()
        with self.engine.connect() as conn:
            ids = dict(conn.execute(sa.select(t.c.name, t.c.id)).all())
            whens = [(p.c.tag_id == ids[n], sa.func.abs(p.c.score - float(v)))
                     for n, v in thresholds.items() if n in ids]  # fmt: skip
            margin = sa.case(*whens, else_=None) if whens else sa.cast(sa.null(), sa.Float)
            doubt = (
                sa.select(p.c.job_id, sa.func.min(margin).label("doubt"))
                .join(
                    latest,
                    sa.and_(latest.c.job_id == p.c.job_id, latest.c.version == p.c.model_version),
                )  # fmt: skip
                .group_by(p.c.job_id)
                .subquery("doubt")
            )
            q = sa.select(j.c.id, doubt.c.doubt).join(doubt, doubt.c.job_id == j.c.id)
            if state == "unreviewed":
                q = q.where(j.c.corrected_at.is_(None))
            elif state == "reviewed":
                q = q.where(j.c.corrected_at.is_not(None))
            if tag:
                tagged = (
                    sa.select(jt.c.job_id)
                    .join(t, t.c.id == jt.c.tag_id)
                    .where(t.c.name == tag, jt.c.origin.in_((S.MODEL, S.HUMAN)))
                )
                q = q.where(j.c.id.in_(tagged))
            total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
            if state == "reviewed":
                q = q.order_by(j.c.corrected_at.desc(), j.c.id.desc())
            else:  # no score on a tag the model knows (NULL doubt) goes last
                q = q.order_by(doubt.c.doubt.is_(None), doubt.c.doubt, j.c.id)
            page = conn.execute(q.offset(int(offset)).limit(int(limit))).all()
            items = self._review_items(conn, [(r.id, r.doubt) for r in page])
        return {"total": int(total), "offset": int(offset), "limit": int(limit), "items": items}

    def _review_items(
        self, conn: sa.Connection, page: list[tuple[int, float | None]]
    ) -> list[dict[str, Any]]:
        j, p, jt, t, fb = S.jobs, S.predictions, S.job_tags, S.tags, S.feedback
        ids = [jid for jid, _ in page]
        if not ids:
            return []
        latest = _latest_versions()
        meta = {r.id: r for r in conn.execute(sa.select(
            j.c.id, j.c.source_job_id, j.c.title, j.c.description, j.c.company_name,
            j.c.corrected_at).where(j.c.id.in_(ids)))}  # fmt: skip
        scores: dict[int, dict[str, float]] = {}
        version: dict[int, tuple[int, dt.datetime]] = {}
        for r in conn.execute(
            sa.select(p.c.job_id, p.c.model_version, p.c.created_at, p.c.score, t.c.name)
            .join(t, t.c.id == p.c.tag_id)
            .join(
                latest,
                sa.and_(latest.c.job_id == p.c.job_id, latest.c.version == p.c.model_version),
            )  # fmt: skip
            .where(p.c.job_id.in_(ids))
            .order_by(p.c.job_id, p.c.score.desc(), t.c.name)
        ):
            scores.setdefault(r.job_id, {})[r.name] = float(r.score)
            version[r.job_id] = (r.model_version, r.created_at)
        links: dict[tuple[int, str], list[str]] = {}
        for r in conn.execute(
            sa.select(jt.c.job_id, jt.c.origin, t.c.name)
            .join(t, t.c.id == jt.c.tag_id)
            .where(jt.c.job_id.in_(ids), jt.c.origin.in_((S.MODEL, S.HUMAN)))
            .order_by(t.c.name)
        ):
            links.setdefault((r.job_id, r.origin), []).append(r.name)
        log_rows: dict[int, list[dict[str, Any]]] = {}
        for r in conn.execute(
            sa.select(fb.c.job_id, fb.c.tags, fb.c.who, fb.c.source, fb.c.created_at)
            .where(fb.c.job_id.in_(ids))
            .order_by(fb.c.id.desc())
        ):
            entries = log_rows.setdefault(r.job_id, [])
            if len(entries) < 5:
                entries.append({"tags": loads(r.tags), "who": r.who, "source": r.source,
                                "at": r.created_at})  # fmt: skip
        out = []
        for jid, doubt in page:
            m = meta[jid]
            ver, at = version.get(jid, (None, None))
            out.append({
                "job_id": m.source_job_id, "title": m.title, "description": m.description,
                "company_name": m.company_name, "model_version": ver, "predicted_at": at,
                "doubt": None if doubt is None else round(float(doubt), 4),
                "scores": {k: round(v, 4) for k, v in scores.get(jid, {}).items()},
                "predicted": sorted(links.get((jid, S.MODEL), []),
                                    key=lambda n, sc=scores.get(jid, {}): -sc.get(n, 0.0)),
                "human_tags": links.get((jid, S.HUMAN), []) if m.corrected_at else None,
                "corrections": log_rows.get(jid, []),
            })  # fmt: skip
        return out

    def review_counts(self, since: dt.datetime | None = None) -> dict[str, Any]:
        """{"waiting": predicted jobs without a correction, "reviewed_today": jobs corrected
        since `since` (default: today 00:00 UTC), "corrections_since_update": corrections after
        the start of the last completed update run (all when there was none)}."""
        j, fb, ur = S.jobs, S.feedback, S.update_runs
        if since is None:
            since = S.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        predicted = sa.select(S.predictions.c.job_id).distinct()
        with self.engine.connect() as conn:
            waiting = conn.execute(
                sa.select(sa.func.count()).select_from(j)
                .where(j.c.corrected_at.is_(None), j.c.id.in_(predicted))
            ).scalar_one()  # fmt: skip
            today = conn.execute(
                sa.select(sa.func.count(sa.distinct(fb.c.job_id))).where(fb.c.created_at >= since)
            ).scalar_one()
            last = conn.execute(
                sa.select(sa.func.max(ur.c.started_at)).where(ur.c.status == "done")
            ).scalar_one()
            q = sa.select(sa.func.count()).select_from(fb)
            since_update = conn.execute(
                q.where(fb.c.created_at >= last) if last else q
            ).scalar_one()
        return {
            "waiting": int(waiting),
            "reviewed_today": int(today),
            "corrections_since_update": int(since_update),
            "last_update_at": last,
        }

    def known_tags(self) -> list[str]:
        """Every tag name that was ever imported, predicted or given (for completion)."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(S.tags.c.name).order_by(S.tags.c.name)).scalars())
