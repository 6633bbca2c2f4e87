"""Read jobs (not rows) from a file in the row format, for predict and evaluate (nothing is stored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from jobtag.errors import NotFound
from jobtag.records import Job
from jobtag.store import readers


def read_jobs(
    path: str | Path, require_tags: bool = False, batch_size: int = 1000
) -> Iterator[Job]:
    """Stream the jobs of a CSV / CSV.gz / JSONL file, rows aggregated per job (tags optional)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no such file: {path}")
    rows = readers.read_file(path, require_tags=require_tags)
    for batch in readers.aggregate(rows, str(path), batch_size):
        for pending in batch:
            yield pending.to_job()
