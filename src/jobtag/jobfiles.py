"""Job files for predict and evaluate: read jobs (bad rows reported by line, not fatal) and write predictions.

Input columns of a batch file (CSV with a header row, or JSON lines; gzip allowed):
``title`` or ``job_title`` and ``description`` or ``job_description`` (at least one of the two
non-empty), optional ``job_id`` (generated when missing or empty, and returned), ``company_id``,
``company_name``; other columns (e.g. ``job_tag_name``) are ignored. Consecutive rows of the
same job_id (the row format's one row per tag) are one job.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jobtag.errors import InputError, NotFound
from jobtag.records import Job
from jobtag.store import readers

if TYPE_CHECKING:
    from jobtag.tagger import Prediction, Tagger

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
    from jobtag.tagger import make_job

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


@dataclass
class BatchResult:
    """What a batch run did: jobs predicted, bad rows (line, job_id, error), where it wrote."""

    predicted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"predicted": self.predicted, "errors": len(self.errors),
                "error_rows": self.errors, "output": self.output}  # fmt: skip


class _Writer:
    """Prediction and error rows as CSV (job_id, tags, scores, error[, explanations]) or JSONL."""

    def __init__(self, fh: TextIO, fmt: str, top_k: int | None, explain: bool) -> None:
        self.fh, self.fmt, self.top_k, self.explain = fh, fmt, top_k, explain
        self.csv = csv.writer(fh) if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(["job_id", "tags", "scores", "error", *(["explanations"] * explain)])

    def prediction(self, p: Prediction) -> None:
        d = p.to_dict(self.top_k)
        if self.csv is None:
            self.fh.write(json.dumps(d) + "\n")
            return
        extra = [json.dumps(d.get("explanations", {}))] if self.explain else []
        self.csv.writerow([d["job_id"], "|".join(d["tags"]), json.dumps(d["scores"]), "", *extra])

    def error(self, row: dict[str, Any]) -> None:
        if self.csv is None:
            self.fh.write(json.dumps(row) + "\n")
        else:
            self.csv.writerow([row["job_id"] or "", "", "", row["error"], *([""] * self.explain)])


def predict_file(
    tagger: Tagger,
    path: str | Path,
    out: Path | TextIO,
    *,
    fmt: str = "csv",
    strict: bool = False,
    record: bool = True,
    explain: bool = False,
    top_k: int | None = None,
    on_error: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Predict every job of a batch file into `out` (a path, written atomically, or a stream).

    A bad row becomes an error row naming its line (and `on_error(message)`); with `strict` the
    first bad row raises InputError before any job is predicted or recorded, and a path `out`
    is not created. Jobs are predicted (and
    recorded) in chunks of 256 in file order."""
    result = BatchResult(output=str(out) if isinstance(out, Path) else None)
    tmp: Path | None = None
    if strict:  # check every row first: a bad row stops the run before anything is recorded
        for row in read_batch(path):
            if row.error is not None:
                raise InputError(f"{path} {row.error}")
    if isinstance(out, Path):
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        fh: TextIO = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    else:
        fh = out
    try:
        writer = _Writer(fh, fmt, top_k, explain)
        pending: list[BatchRow] = []

        def flush() -> None:
            jobs = [r.job for r in pending if r.job is not None]
            preds = iter(tagger.predict(jobs, record=record, explain=explain) if jobs else [])
            for r in pending:
                if r.job is None:
                    row = {"job_id": r.job_id, "line": r.line, "error": r.error}
                    writer.error(row)
                    result.errors.append(row)
                else:
                    writer.prediction(next(preds))
                    result.predicted += 1
            if progress:
                progress(len(pending))
            pending.clear()

        for row in read_batch(path):
            if row.error is not None:
                if strict:
                    raise InputError(f"{path} {row.error}")
                if on_error:
                    on_error(f"{path} {row.error}")
            pending.append(row)
            if len(pending) >= CHUNK:
                flush()
        flush()
        fh.flush()
        if tmp is not None:
            fh.close()
            tmp.replace(out)  # type: ignore[arg-type]
            tmp = None
    finally:
        if tmp is not None:
            fh.close()
            tmp.unlink(missing_ok=True)
    return result
