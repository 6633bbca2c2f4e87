"""Bulk, idempotent import of jobs and their imported tags: one transaction per batch of jobs.

Policy (documented for users):
- Jobs are keyed by the source's own job id. Re-importing the same data changes nothing; a job
  whose title, description or company changed is updated (with its content hash).
- A job's *imported* tags are replaced by the input's tag set; human corrections and model
  predictions are never touched. A job without tag rows keeps no imported tags (unlabeled).
- Rows of one job may be spread over the input: inside a batch they are merged in memory, across
  batches the later batch adds its tags to the ones this import already wrote (an exact set of the
  ids seen in this import is kept: ~60 bytes per job).
- Each batch is validated completely before it is written, then written in one transaction. The
  first bad row aborts the import with an InputError naming file, line and job: the batches
  committed before it stay (consistent, and re-importing after fixing the input is idempotent);
  the failing batch writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from jobtag.errors import InputError
from jobtag.records import Job, Progress
from jobtag.store import readers
from jobtag.store import schema as S
from jobtag.store.sqlutil import TagCache, chunks, transaction, upsert

log = logging.getLogger(__name__)

BATCH_SIZE = 1000


@dataclass
class ImportResult:
    """What an import did."""

    jobs: int = 0  # distinct jobs read (a job split over batches counts once per batch)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    labeled: int = 0
    links_added: int = 0
    links_removed: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0


def _notify(progress: Progress, n: int) -> None:
    if progress is not None:
        progress(n)


class ImporterMixin:
    """Import methods of JobStore (needs `engine` and `_tags`)."""

    engine: sa.Engine
    _tags: TagCache

    def import_file(
        self,
        path: str | Path,
        progress: Progress = None,
        batch_size: int = BATCH_SIZE,
        source: str | None = None,
        max_field_chars: int = readers.MAX_FIELD_CHARS,
        require_title: bool = False,
    ) -> ImportResult:
        """Import a CSV / CSV.gz / JSONL[.gz] file in the row format (see `jobtag.store.readers`).

        `progress` is a callable or a tqdm-like object; it gets the number of jobs of each
        committed batch. Raises InputError (file, line, job) on bad input — see the module doc for
        what stays committed — and DatabaseUnavailable when the database goes away.
        """
        path = Path(path)
        rows = readers.read_file(path, require_tags=True)
        batches = readers.aggregate(rows, str(path), batch_size, max_field_chars, require_title)
        return self._import_batches(batches, source or f"import:{path.name}", progress, str(path))

    def import_from_db(
        self,
        url: str,
        query: str,
        progress: Progress = None,
        batch_size: int = BATCH_SIZE,
        source: str | None = None,
        max_field_chars: int = readers.MAX_FIELD_CHARS,
        require_title: bool = False,
    ) -> ImportResult:
        """Import the row format from another database: `query` is a SELECT or a table name."""
        from jobtag.store.db import mask_url

        where = f"{mask_url(url)} ({query.strip()[:60]})"
        rows = readers.read_db(url, query, require_tags=True)
        batches = readers.aggregate(rows, where, batch_size, max_field_chars, require_title)
        return self._import_batches(batches, source or "import:db", progress, where)

    def import_jobs(
        self,
        jobs: Iterable[Job],
        source: str = "import",
        progress: Progress = None,
        batch_size: int = BATCH_SIZE,
    ) -> ImportResult:
        """Import `Job` records (their `tags` become the imported tags; None = unlabeled)."""

        def rows() -> Iterator[readers.RawRow]:
            for n, job in enumerate(jobs, start=1):
                names = tuple(job.tags or ())
                yield (n, job.job_id, job.title, job.description, job.company_id,
                       job.company_name, names)  # fmt: skip

        batches = readers.aggregate(rows(), "jobs", batch_size, readers.MAX_FIELD_CHARS)
        return self._import_batches(batches, source, progress, "jobs")

    def _import_batches(
        self,
        batches: Iterable[list[readers.PendingJob]],
        source: str,
        progress: Progress,
        where: str,
    ) -> ImportResult:
        result = ImportResult()
        seen: set[int] = set()  # hash() of the source ids written by this import
        start = time.perf_counter()
        source = source[: S.SOURCE_LEN]
        for number, batch in enumerate(batches, start=1):
            self._write_batch(batch, source, seen, result, where, number)
            for p in batch:
                seen.add(hash(p.job_id))
            result.batches += 1
            result.jobs += len(batch)
            _notify(progress, len(batch))
        result.seconds = time.perf_counter() - start
        log.info(
            "imported %d jobs from %s (%d new, %d updated, %d unchanged) in %.2fs",
            result.jobs, where, result.inserted, result.updated, result.unchanged, result.seconds,
        )  # fmt: skip
        return result

    def _write_batch(
        self,
        batch: list[readers.PendingJob],
        source: str,
        seen: set[int],
        result: ImportResult,
        where: str,
        number: int,
    ) -> None:
        """One batch in one transaction: upsert its jobs, then replace their imported tags."""
        jobs = {p.job_id: p.to_job() for p in batch}
        with transaction(self.engine, f"import of {where} (batch {number})", self._tags) as (
            conn,
            created,
        ):
            existing = _existing_jobs(conn, list(jobs))
            # jobs an earlier batch of this import wrote: their rows must agree, their tags add up
            repeated = {sid for sid in jobs if sid in existing and hash(sid) in seen}
            now = S.utcnow()
            writes = _job_writes(batch, jobs, existing, repeated, source, now, result, where)
            upsert(conn, S.jobs, writes, ["source_job_id"], _UPDATED_COLUMNS)
            ids = _row_ids(conn, existing, writes)
            tag_ids = self._tags.resolve(
                conn, {t for job in jobs.values() for t in job.tags or ()}, created
            )
            have = _imported_links(conn, [ids[sid] for sid in jobs if sid in existing])
            want = {(ids[sid], tag_ids[t]) for sid, job in jobs.items() for t in job.tags or ()}
            keep_old = {ids[sid] for sid in repeated}  # earlier batches' tags of this import stay
            added, removed = _replace_links(conn, have, want, keep_old, source, now)
            result.links_added += added
            result.links_removed += removed
            result.labeled += sum(1 for job in jobs.values() if job.tags)


_UPDATED_COLUMNS = ("title", "description", "company_id", "company_name", "content_hash",
                    "updated_at")  # fmt: skip


def _existing_jobs(conn: sa.Connection, source_ids: list[str]) -> dict[str, Any]:
    """The stored rows (id, content hash, company) of the jobs among `source_ids`, by source id."""
    j = S.jobs
    cols = (j.c.source_job_id, j.c.id, j.c.content_hash, j.c.company_id, j.c.company_name)
    existing: dict[str, Any] = {}
    for part in chunks(source_ids):
        for row in conn.execute(sa.select(*cols).where(j.c.source_job_id.in_(part))):
            existing[row.source_job_id] = row
    return existing


def _job_writes(
    batch: list[readers.PendingJob],
    jobs: dict[str, Job],
    existing: dict[str, Any],
    repeated: set[str],
    source: str,
    now: dt.datetime,
    result: ImportResult,
    where: str,
) -> list[dict[str, Any]]:
    """The job rows to insert or update (new or changed), counted into `result`.

    A job an earlier batch of this import wrote must agree with it (InputError otherwise).
    """
    writes: list[dict[str, Any]] = []
    for p in batch:
        job, old = jobs[p.job_id], existing.get(p.job_id)
        if old is not None and p.job_id in repeated:
            if old.content_hash != job.content_hash or old.company_id != job.company_id:
                raise InputError(
                    f"{where} line {p.line}, job {p.job_id}: conflicting job_title/"
                    f"job_description/company_id (an earlier row of this job differs)"
                )
            continue
        if old is None:
            result.inserted += 1
        elif (old.content_hash, old.company_id, old.company_name) != (
            job.content_hash, job.company_id, job.company_name,
        ):  # fmt: skip
            result.updated += 1
        else:
            result.unchanged += 1
            continue
        writes.append(
            {
                "source_job_id": job.job_id,
                "title": job.title,
                "description": job.description,
                "company_id": job.company_id,
                "company_name": job.company_name,
                "content_hash": job.content_hash,
                "source": source,
                "added_at": now,
                "updated_at": now,
            }
        )
    return writes


def _row_ids(
    conn: sa.Connection, existing: dict[str, Any], writes: list[dict[str, Any]]
) -> dict[str, int]:
    """Source id -> row id of the batch's jobs: the existing ones, then the just inserted."""
    j = S.jobs
    ids = {sid: row.id for sid, row in existing.items()}
    new = [w["source_job_id"] for w in writes if w["source_job_id"] not in ids]
    for part in chunks(new):
        ids.update(
            conn.execute(
                sa.select(j.c.source_job_id, j.c.id).where(j.c.source_job_id.in_(part))
            ).all()
        )
    return ids


def _imported_links(conn: sa.Connection, job_ids: list[int]) -> set[tuple[int, int]]:
    """The (job id, tag id) pairs of these jobs' imported tags."""
    jt = S.job_tags
    have: set[tuple[int, int]] = set()
    for part in chunks(job_ids):
        have.update(
            conn.execute(
                sa.select(jt.c.job_id, jt.c.tag_id).where(
                    jt.c.origin == S.IMPORTED, jt.c.job_id.in_(part)
                )
            ).all()
        )
    return have


def _replace_links(
    conn: sa.Connection,
    have: set[tuple[int, int]],
    want: set[tuple[int, int]],
    keep_old: set[int],
    source: str,
    now: dt.datetime,
) -> tuple[int, int]:
    """Make the imported tags `want` (keeping those of `keep_old` jobs); returns (added, removed)."""
    jt = S.job_tags
    remove = [{"j": jid, "t": tid} for jid, tid in have - want if jid not in keep_old]
    add = [
        {"job_id": jid, "tag_id": tid, "origin": S.IMPORTED, "who": None,
         "source": source, "created_at": now}
        for jid, tid in want - have
    ]  # fmt: skip
    if remove:
        conn.execute(
            jt.delete().where(
                jt.c.job_id == sa.bindparam("j"),
                jt.c.tag_id == sa.bindparam("t"),
                jt.c.origin == S.IMPORTED,
            ),
            remove,
        )
    if add:
        conn.execute(jt.insert(), add)
    return len(add), len(remove)
