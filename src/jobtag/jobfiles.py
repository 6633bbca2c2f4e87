"""Row files the library reads: jobs to predict or evaluate, and feedback (job_id, tags).

A bad row of a job file is reported by its line, not fatal. Input columns of a batch file (CSV
with a header row, or JSON lines; gzip allowed): ``title`` or ``job_title`` and ``description`` or ``job_description`` (at least one of the two
non-empty), optional ``job_id`` (generated when missing or empty, and returned), ``company_id``,
``company_name``; other columns (e.g. ``job_tag_name``) are ignored. Consecutive rows of the
same job_id (the row format's one row per tag) are one job. A feedback file is a CSV with columns
``job_id, tags`` (tags joined by ``|`` or ``,``) or JSON lines ``{"job_id": ..., "tags": [...]}``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobtag.errors import InputError, NotFound
from jobtag.records import Job, make_job
from jobtag.store import readers

log = logging.getLogger(__name__)

ALIASES = {"title": "job_title", "description": "job_description"}
INPUT_COLUMNS = (
    "job_id (optional), title|job_title, description|job_description, company_id, company_name"
)
CHUNK = 256


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


@dataclass
class BatchRow:
    """One job of a batch file: its first input line, and the job or what is wrong with it."""

    line: int
    job: Job | None
    error: str | None = None
    job_id: str | None = None


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, fields, problem) of each data row of a CSV or JSON-lines file."""
    name = path.name.lower().removesuffix(".gz")
    raw = open(path, "rb")  # noqa: SIM115 - closed below
    try:
        fh = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == b"\x1f\x8b" else raw
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        if name.endswith((".jsonl", ".ndjson", ".json")):
            for number, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, None, f"invalid JSON ({exc.msg})"
                    continue
                if isinstance(obj, dict):
                    yield number, obj, None
                else:
                    yield number, None, "expected a JSON object"
            return
        csv.field_size_limit(2**31 - 1)
        reader = csv.reader(text)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        names = [ALIASES.get(h, h) for h in header]
        if "job_title" not in names and "job_description" not in names:
            raise InputError(
                f"{path} line 1: no title or description column (found: "
                f"{', '.join(header) or 'none'}); columns: {INPUT_COLUMNS}"
            )
        line = reader.line_num + 1
        for rec in reader:
            if not rec:
                line = reader.line_num + 1
                continue
            if len(rec) != len(names):
                yield line, None, f"{len(rec)} fields, the header has {len(names)}"
            else:
                yield line, dict(zip(names, rec, strict=True)), None
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    finally:
        raw.close()


def _text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def read_batch(path: str | Path) -> Iterator[BatchRow]:
    """The jobs of a batch file in order; a bad row is a BatchRow with `error` (never raised).

    InputError only for the file itself (missing, unreadable, no title/description column)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no such file: {path}")
    last_id: str | None = None
    for line, rec, problem in _records(path):
        fields = {ALIASES.get(k, k): v for k, v in (rec or {}).items()}
        job_id = _text(fields.get("job_id")).strip() or None
        if problem is None and job_id is not None and job_id == last_id:
            continue  # another row (tag) of the same job
        last_id = job_id
        if problem is not None:
            yield BatchRow(line, None, f"line {line}: {problem}", job_id)
            continue
        cid, cname = fields.get("company_id"), fields.get("company_name")
        try:
            job = make_job(
                _text(fields.get("job_title")),
                _text(fields.get("job_description")),
                job_id,
                _text(cid).strip() or None if cid is not None else None,
                _text(cname).strip() or None if cname is not None else None,
            )
        except InputError as exc:
            yield BatchRow(line, None, f"line {line}: {exc}", job_id)
            continue
        yield BatchRow(line, job)


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
