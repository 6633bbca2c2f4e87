"""Streaming readers of the row format (CSV, CSV.gz, JSONL[.gz], a SQL query) and per-job aggregation.

The row format has one row per (job, tag):
``job_id, job_title, job_description, company_id, company_name, job_tag_id, job_tag_name``.
Rows of one job are merged into one `Job` with a tag set; a job whose rows carry no tag name is
unlabeled (``tags=None``). Required columns: job_id, job_title, job_description and (unless
``require_tags=False``) job_tag_name; company_id, company_name and job_tag_id are optional
(job_tag_id is ignored: tags are identified by name). JSONL rows may carry ``tags`` (a list of
names) instead of ``job_tag_name``.

Limits (each violation is an `InputError` naming the file, line and job): a non-empty job_id of at
most 255 characters; with ``require_title=True`` a non-empty title (by default an empty title is
accepted and counted in a warning: Reuters-21578 has 47 train and 14 test documents with neither
title nor body but with topics, and dropping them would change the published split); title and description of at most ``max_field_chars``
characters each (default 1,000,000 — a 10 MB description is rejected, it is not a job posting),
company_id and tag names of at most 255 characters, valid UTF-8, and rows of one job agreeing on
title, description and company.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from jobtag.errors import DatabaseUnavailable, InputError
from jobtag.records import MAX_FIELD_CHARS, Job, job_problem

log = logging.getLogger(__name__)

COLUMNS = ("job_id", "job_title", "job_description", "company_id", "company_name")
TAG_COLUMN = "job_tag_name"
OPTIONAL = ("company_id", "company_name", "job_tag_id")
_CSV_FIELD_LIMIT = 2**31 - 1  # let csv parse any field; our own limit gives the clear error

# (line, job_id, title, description, company_id, company_name, tag names)
RawRow = tuple[int, str, str, str, str | None, str | None, tuple[str, ...]]


def _required(require_tags: bool) -> tuple[str, ...]:
    return ("job_id", "job_title", "job_description") + ((TAG_COLUMN,) if require_tags else ())


def _open_binary(path: Path) -> io.BufferedIOBase:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if fh.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def _bad_utf8_line(path: Path) -> tuple[int, str]:
    """Find the first line that is not valid UTF-8 (only called after decoding failed)."""
    with _open_binary(path) as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
    return 0, "undecodable bytes"


def _strip(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_csv(path: str | Path, require_tags: bool = True) -> Iterator[RawRow]:
    """Stream the rows of a CSV or gzipped CSV file (gzip detected by its magic bytes)."""
    path = Path(path)
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    with _open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
        reader = csv.reader(text)
        try:
            try:
                header = [h.strip().lstrip("\ufeff") for h in next(reader)]
            except StopIteration:
                raise InputError(f"{path}: empty file (no header row)") from None
            missing = [c for c in _required(require_tags) if c not in header]
            if missing:
                raise InputError(
                    f"{path} line 1: missing column(s) {', '.join(missing)} "
                    f"(found: {', '.join(header) or 'none'})"
                )
            idx = {name: header.index(name) for name in header}
            i_id, i_title, i_desc = idx["job_id"], idx["job_title"], idx["job_description"]
            i_cid, i_cname, i_tag = (
                idx.get("company_id"),
                idx.get("company_name"),
                idx.get(TAG_COLUMN),
            )
            width = len(header)
            line = reader.line_num + 1
            for rec in reader:
                if len(rec) != width:
                    if not rec:  # blank line
                        line = reader.line_num + 1
                        continue
                    raise InputError(
                        f"{path} line {line}: {len(rec)} fields, the header has {width}"
                    )
                tag = rec[i_tag].strip() if i_tag is not None else ""
                yield (
                    line,
                    rec[i_id].strip(),
                    rec[i_title].strip(),
                    rec[i_desc],
                    rec[i_cid].strip() or None if i_cid is not None else None,
                    rec[i_cname].strip() or None if i_cname is not None else None,
                    (tag,) if tag else (),
                )
                line = reader.line_num + 1
        except UnicodeDecodeError:
            number, what = _bad_utf8_line(path)
            raise InputError(f"{path} line {number}: not valid UTF-8 ({what})") from None
        except csv.Error as exc:
            raise InputError(f"{path} line {reader.line_num}: malformed CSV ({exc})") from exc
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{path}: cannot read ({exc})") from exc


def read_jsonl(path: str | Path, require_tags: bool = True) -> Iterator[RawRow]:
    """Stream the rows of a JSON-lines file (optionally gzipped), one object per line."""
    path = Path(path)
    required = _required(False)
    with _open_binary(path) as fh:
        number = 0
        try:
            for number, raw in enumerate(fh, start=1):  # noqa: B007 - used in the error message
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"{path} line {number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} "
                        f"at column {exc.start + 1})"
                    ) from None
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path} line {number}: invalid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path} line {number}: expected a JSON object")
                missing = [c for c in required if c not in obj]
                if require_tags and TAG_COLUMN not in obj and "tags" not in obj:
                    missing.append(TAG_COLUMN)
                if missing:
                    raise InputError(f"{path} line {number}: missing field(s) {', '.join(missing)}")
                tags = obj.get("tags")
                if tags is None:
                    tag = _strip(obj.get(TAG_COLUMN))
                    names: tuple[str, ...] = (tag,) if tag else ()
                elif isinstance(tags, list) and all(isinstance(t, str) for t in tags):
                    names = tuple(t.strip() for t in tags if t.strip())
                else:
                    raise InputError(f"{path} line {number}: 'tags' must be a list of strings")
                yield (
                    number,
                    _strip(obj["job_id"]) or "",
                    _strip(obj["job_title"]) or "",
                    "" if obj["job_description"] is None else str(obj["job_description"]),
                    _strip(obj.get("company_id")),
                    _strip(obj.get("company_name")),
                    names,
                )
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{path} line {number}: cannot read ({exc})") from exc


def read_file(path: str | Path, require_tags: bool = True) -> Iterator[RawRow]:
    """Rows of a file: JSONL when named *.jsonl[.gz] / *.ndjson[.gz], CSV otherwise."""
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return read_jsonl(path, require_tags)
    return read_csv(path, require_tags)


_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


def read_db(
    url: str, query: str, require_tags: bool = True, chunk_rows: int = 5000
) -> Iterator[RawRow]:
    """Stream rows of the row format out of a user's database: a SELECT, or a table name.

    Results are streamed with a server-side cursor (`stream_results` + `yield_per`), so memory does
    not grow with the result size. "Line" numbers in errors are 1-based result row numbers.
    """
    from jobtag.store.db import check_connection, create_engine, mask_url

    shown = mask_url(url)
    engine = create_engine(url)
    try:
        check_connection(engine)
        if _TABLE_NAME.match(query.strip()):
            schema, _, name = query.strip().rpartition(".")
            stmt: sa.Executable = sa.select(sa.text("*")).select_from(
                sa.table(name, schema=schema or None)
            )
        else:
            stmt = sa.text(query)
        with engine.connect() as conn:
            try:
                result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                    stmt
                )
            except sa.exc.SQLAlchemyError as exc:
                orig = getattr(exc, "orig", None) or exc
                raise InputError(f"{shown}: query failed: {orig}") from exc
            keys = [str(k).lower() for k in result.keys()]  # noqa: SIM118 - Result, not a dict
            missing = [c for c in _required(require_tags) if c not in keys]
            if missing:
                result.close()
                raise InputError(
                    f"{shown}: query result lacks column(s) {', '.join(missing)} "
                    f"(found: {', '.join(keys)})"
                )
            pos = {k: i for i, k in enumerate(keys)}
            get = {c: pos.get(c) for c in (*COLUMNS, TAG_COLUMN)}
            for number, rec in enumerate(result, start=1):
                vals = {c: (rec[i] if i is not None else None) for c, i in get.items()}
                tag = _strip(vals[TAG_COLUMN])
                desc = vals["job_description"]
                if isinstance(desc, bytes):
                    try:
                        desc = desc.decode("utf-8")
                    except UnicodeDecodeError:
                        raise InputError(
                            f"{shown} row {number}, job {vals['job_id']}: description is not UTF-8"
                        ) from None
                yield (
                    number,
                    _strip(vals["job_id"]) or "",
                    _strip(vals["job_title"]) or "",
                    "" if desc is None else str(desc),
                    _strip(vals["company_id"]),
                    _strip(vals["company_name"]),
                    (tag,) if tag else (),
                )
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot read from {shown}: {exc.orig}") from exc
    finally:
        engine.dispose()


@dataclass(slots=True)
class PendingJob:
    """A job being assembled from its rows; `line` is where it first appeared."""

    line: int
    job_id: str
    title: str
    description: str
    company_id: str | None
    company_name: str | None
    tags: set[str] = field(default_factory=set)

    def to_job(self) -> Job:
        return Job(
            job_id=self.job_id,
            title=self.title,
            description=self.description,
            company_id=self.company_id,
            company_name=self.company_name,
            tags=frozenset(self.tags) if self.tags else None,
        )


def _check(row: RawRow, where: str, max_field_chars: int, require_title: bool) -> None:
    line, job_id, title, description, company_id, company_name, names = row
    if not job_id:
        raise InputError(f"{where} line {line}: empty job_id")
    problem = job_problem(job_id, "", "", max_field_chars=max_field_chars)
    if problem:
        raise InputError(f"{where} line {line}: {problem}")
    at = f"{where} line {line}, job {job_id}"
    if not title and require_title:
        raise InputError(f"{at}: empty job_title")
    problem = job_problem(
        None, title, description, company_id, company_name, names, max_field_chars,
        names=("job_title", "job_description"),
    )  # fmt: skip
    if problem:
        raise InputError(f"{at}: {problem}")


def conflict(a: PendingJob | Job, title: str, description: str, company_id: str | None) -> str:
    """Which field of a repeated job differs ('' when none)."""
    if a.title != title:
        return "job_title"
    if a.description != description:
        return "job_description"
    if a.company_id != company_id:
        return "company_id"
    return ""


def aggregate(
    rows: Iterable[RawRow],
    where: str,
    batch_size: int = 1000,
    max_field_chars: int = MAX_FIELD_CHARS,
    require_title: bool = False,
) -> Iterator[list[PendingJob]]:
    """Group rows into jobs, yielding batches of about `batch_size` distinct jobs.

    Adjacent rows of a job cost one dict lookup; non-adjacent rows of one job inside a batch are
    merged here (the importer merges those that land in different batches). Rows of one job that
    disagree on title, description or company raise InputError naming both lines.
    """
    pending: dict[str, PendingJob] = {}
    last: PendingJob | None = None
    untitled, first_untitled = 0, ""
    for row in rows:
        _check(row, where, max_field_chars, require_title)
        line, job_id, title, description, company_id, company_name, names = row
        if last is not None and last.job_id == job_id:
            cur: PendingJob | None = last
        else:
            cur = pending.get(job_id)
            if cur is None and len(pending) >= batch_size:
                yield list(pending.values())
                pending = {}
        if cur is None:
            cur = PendingJob(line, job_id, title, description, company_id, company_name)
            pending[job_id] = cur
            if not title:
                untitled += 1
                first_untitled = first_untitled or f"line {line}, job {job_id}"
        else:
            bad = conflict(cur, title, description, company_id)
            if bad:
                raise InputError(
                    f"{where} line {line}, job {job_id}: conflicting {bad} "
                    f"(line {cur.line} of the same job differs)"
                )
        cur.tags.update(names)
        last = cur
    if pending:
        yield list(pending.values())
    if untitled:
        log.warning("%s: %d job(s) without a title (first: %s)", where, untitled, first_untitled)
