"""JobStore: the only way to the database — open/migrate, read jobs with their true tags, stats, cache."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from jobtag.errors import NotFound
from jobtag.records import Job
from jobtag.store import schema as S
from jobtag.store.db import mask_url, open_database
from jobtag.store.importer import ImporterMixin
from jobtag.store.lock import LockMixin
from jobtag.store.loop import LoopMixin
from jobtag.store.registry import RegistryMixin
from jobtag.store.review import ReviewMixin
from jobtag.store.schema import JOB_COLUMNS
from jobtag.store.sqlutil import TagCache, chunks, transaction, upsert_features
from jobtag.store.tokens import TokenMixin

log = logging.getLogger(__name__)


def truth_links() -> sa.Select:
    """(job_id, tag_id) of every job's true tags: its human correction if it has one, else the
    imported tags. Model predictions are never truth."""
    j, jt = S.jobs, S.job_tags
    return (
        sa.select(jt.c.job_id, jt.c.tag_id)
        .join(j, j.c.id == jt.c.job_id)
        .where(
            sa.or_(
                jt.c.origin == S.HUMAN,
                sa.and_(jt.c.origin == S.IMPORTED, j.c.corrected_at.is_(None)),
            )
        )
    )


class JobStore(ImporterMixin, LoopMixin, RegistryMixin, LockMixin, TokenMixin, ReviewMixin):
    """A job database at `url` (SQLite file, PostgreSQL, MariaDB), migrated to the newest schema.

    Raises DatabaseUnavailable (URL shown with its password masked) when it cannot be opened.
    Use a file for SQLite (`sqlite:///path.db`), not `sqlite://` (memory is per connection).

    - import: `import_file`, `import_from_db`, `import_jobs` (see `jobtag.store.importer`)
    - read: `iter_jobs`, `get_job`, `count_jobs`, `stats`, `tag_names`
    - feature cache: `get_features`, `put_features`
    - learning loop: `record_predictions[_many]`, `add_feedback[_many]`, `feedback_log`,
      `jobs_since_last_update`, `iter_new_jobs`, `start_update_run`, `finish_update_run`,
      `record_update_run`, `update_history` (see `jobtag.store.loop`)
    - models: `register_model`, `get_model`, `list_models`, `active_model`, `promote`,
      `rollback`, `set_model_note` (see `jobtag.store.registry`)
    - `update_lock(owner)` (see `jobtag.store.lock`)
    - API tokens: `create_token`, `check_token`, `list_tokens`, `revoke_token` (`store.tokens`)
    - review: `review_queue`, `review_counts`, `known_tags` (see `jobtag.store.review`)
    """

    def __init__(self, url: str) -> None:
        self.url = mask_url(url)
        self.engine: sa.Engine = open_database(url)
        self._tags = TagCache()
        log.debug("opened job store %s", self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JobStore({self.url!r})"

    # ----------------------------------------------------------------- reading
    def _labeled_filter(self, labeled: bool | None) -> list[sa.ColumnElement[bool]]:
        if labeled is None:
            return []
        truth = truth_links().subquery()
        has = sa.exists(sa.select(truth.c.job_id).where(truth.c.job_id == S.jobs.c.id))
        return [has if labeled else ~has]

    def _truth_tags(self, conn: sa.Connection, rows: Sequence[Any]) -> list[Job]:
        """Jobs for `rows` of JOB_COLUMNS with their true tags attached."""
        jt, t = S.job_tags, S.tags
        human: dict[int, set[str]] = {}
        imported: dict[int, set[str]] = {}
        ids = [r.id for r in rows]
        for part in chunks(ids):
            q = (
                sa.select(jt.c.job_id, jt.c.origin, t.c.name)
                .join(t, t.c.id == jt.c.tag_id)
                .where(jt.c.job_id.in_(part), jt.c.origin.in_((S.HUMAN, S.IMPORTED)))
            )
            for job_id, origin, name in conn.execute(q):
                (human if origin == S.HUMAN else imported).setdefault(job_id, set()).add(name)
        out = []
        for r in rows:
            if r.corrected_at is not None:
                tags: frozenset[str] | None = frozenset(human.get(r.id, ()))
            else:
                found = imported.get(r.id)
                tags = frozenset(found) if found else None
            out.append(
                Job(
                    job_id=r.source_job_id,
                    title=r.title,
                    description=r.description,
                    company_id=r.company_id,
                    company_name=r.company_name,
                    tags=tags,
                    content_hash=r.content_hash,
                )
            )
        return out

    def iter_jobs(
        self, labeled: bool | None = None, batch_size: int = 1000, after_id: int = 0
    ) -> Iterator[Job]:
        """Stream jobs in insertion order with their true tags (latest human correction, else the
        imported tags; None = unlabeled). `labeled=True` keeps jobs with at least one true tag,
        False the others. Reads `batch_size` jobs per query (keyset paging: memory stays flat)."""
        last = after_id
        where = self._labeled_filter(labeled)
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(*JOB_COLUMNS)
                    .where(S.jobs.c.id > last, *where)
                    .order_by(S.jobs.c.id)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return
                jobs = self._truth_tags(conn, rows)
            last = rows[-1].id
            yield from jobs

    def get_job(self, source_job_id: str) -> Job:
        """The job with the source's id `source_job_id` (true tags); NotFound when unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(*JOB_COLUMNS).where(S.jobs.c.source_job_id == str(source_job_id))
            ).first()
            if row is None:
                raise NotFound(f"no job with id {source_job_id!r} in {self.url}")
            return self._truth_tags(conn, [row])[0]

    def count_jobs(self, labeled: bool | None = None) -> int:
        with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(S.jobs).where(*self._labeled_filter(labeled))
            return int(conn.execute(q).scalar_one())

    def stats(self) -> dict[str, Any]:
        """{"jobs", "labeled_jobs", "tags", "tag_counts": {tag: jobs}, "corrected_jobs",
        "known_tags"}. Counts use true tags; `tags` counts tags carried by at least one job,
        `known_tags` every tag name ever seen (including only-predicted ones)."""
        truth = truth_links().subquery()
        with self.engine.connect() as conn:
            jobs = conn.execute(sa.select(sa.func.count()).select_from(S.jobs)).scalar_one()
            labeled = conn.execute(
                sa.select(sa.func.count(sa.distinct(truth.c.job_id)))
            ).scalar_one()
            counts = conn.execute(
                sa.select(S.tags.c.name, sa.func.count(sa.distinct(truth.c.job_id)))
                .join(truth, truth.c.tag_id == S.tags.c.id)
                .group_by(S.tags.c.name)
            ).all()
            corrected = conn.execute(
                sa.select(sa.func.count())
                .select_from(S.jobs)
                .where(S.jobs.c.corrected_at.is_not(None))
            ).scalar_one()
            known = conn.execute(sa.select(sa.func.count()).select_from(S.tags)).scalar_one()
        tag_counts = dict(sorted(((n, int(c)) for n, c in counts), key=lambda kv: (-kv[1], kv[0])))
        return {
            "jobs": int(jobs),
            "labeled_jobs": int(labeled),
            "tags": len(tag_counts),
            "tag_counts": tag_counts,
            "corrected_jobs": int(corrected),
            "known_tags": int(known),
        }

    def tag_names(self) -> list[str]:
        """Every tag name known to the store, sorted."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(S.tags.c.name).order_by(S.tags.c.name)).scalars())

    # ----------------------------------------------------------- feature cache
    def get_features(self, hashes: list[str], version: str) -> dict[str, bytes]:
        """Cached feature blobs of the given content hashes for a featurizer `version` (hits only)."""
        fc = S.feature_cache
        out: dict[str, bytes] = {}
        wanted = list(dict.fromkeys(hashes))
        with self.engine.connect() as conn:
            for part in chunks(wanted):
                q = sa.select(fc.c.content_hash, fc.c.data).where(
                    fc.c.version == version, fc.c.content_hash.in_(part)
                )
                out.update((h, bytes(d)) for h, d in conn.execute(q))
        return out

    def put_features(self, items: dict[str, bytes], version: str) -> None:
        """Store feature blobs by content hash for a featurizer `version` (bulk; a blob already
        stored under the same key is replaced, so duplicates are harmless)."""
        if not items:
            return
        with transaction(self.engine, "storing cached features") as (conn, _):
            upsert_features(conn, items, version)
