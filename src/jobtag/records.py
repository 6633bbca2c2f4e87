"""Plain records passed between layers: a job with its tag set, and tag sets as a 0/1 matrix (no I/O)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from jobtag.errors import InputError

# How long work reports progress everywhere: called with the number of items just done.
Progress = Callable[[int], None] | None


def content_hash(title: str, description: str) -> str:
    """Stable hash of what the model sees of a job (used for feature caching and change detection)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(title.encode("utf-8"))
    h.update(b"\x00")
    h.update(description.encode("utf-8"))
    return h.hexdigest()


@dataclass(frozen=True)
class Job:
    """One job posting. `tags` is None for an unlabeled job, a (possibly empty) frozenset otherwise."""

    job_id: str
    title: str
    description: str
    company_id: str | None = None
    company_name: str | None = None
    tags: frozenset[str] | None = None
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.title, self.description))

    @property
    def labeled(self) -> bool:
        return self.tags is not None and len(self.tags) > 0


# One validation of a job for file import, CLI and HTTP (the database columns set these limits).
MAX_ID_CHARS = 255  # job_id, company_id, tag names (VARCHAR(255) on the servers)
MAX_TITLE_CHARS = 1_000
MAX_FIELD_CHARS = 1_000_000  # description (a 10 MB "description" is not a job posting)


def shown(value: object, limit: int = 60) -> str:
    """`value` as it may appear in an error message (short, printable, encodable)."""
    text = str(value)
    if len(text) <= limit and text.isprintable() and text_problem(text, "", None) is None:
        return text
    return ascii(text[:limit]) + ("..." if len(text) > limit else "")


def text_problem(value: str | None, field: str, limit: int | None) -> str | None:
    """Why `value` cannot be stored as text (too long, NUL byte, lone surrogate), or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{field} must be text"
    if limit is not None and len(value) > limit:
        if limit == MAX_ID_CHARS:
            return f"{field} longer than {limit} characters"
        return f"{field} has {len(value):,} characters (limit {limit:,})"
    if "\x00" in value:
        return f"{field} contains a NUL byte"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{field} contains a lone surrogate (not valid Unicode)"
    return None


def job_problem(
    job_id: str | None,
    title: str,
    description: str,
    company_id: str | None = None,
    company_name: str | None = None,
    tags: tuple[str, ...] | frozenset[str] = (),
    max_field_chars: int = MAX_FIELD_CHARS,
    names: tuple[str, str] = ("title", "description"),
) -> str | None:
    """The first problem of a job's fields as 'FIELD ...' (None when it can be stored).

    Limits: job_id, company_id and tag names at most 255 characters, the title at most 1,000
    (or `max_field_chars` when smaller), the description at most `max_field_chars`; no NUL
    bytes and no lone surrogates anywhere. `names` are the field names used in the message."""
    checks = (
        (job_id, "job_id", MAX_ID_CHARS),
        (title, names[0], min(MAX_TITLE_CHARS, max_field_chars)),
        (description, names[1], max_field_chars),
        (company_id, "company_id", MAX_ID_CHARS),
        (company_name, "company_name", MAX_TITLE_CHARS),
        *((t, "tag name", MAX_ID_CHARS) for t in tags),
    )
    for value, name, limit in checks:
        problem = text_problem(value, name, limit)
        if problem:
            return problem
    return None


def label_matrix(labels: Sequence[frozenset[str] | None], tags: Sequence[str]) -> np.ndarray:
    """Bool (n, T) matrix of the tag sets over `tags` (unknown tags ignored; None = no tags)."""
    index = {t: i for i, t in enumerate(tags)}
    y = np.zeros((len(labels), len(tags)), dtype=bool)
    for r, tagset in enumerate(labels):
        for t in tagset or ():
            if t in index:
                y[r, index[t]] = True
    return y


def make_job(
    title: str,
    description: str,
    job_id: str | None = None,
    company_id: str | None = None,
    company_name: str | None = None,
) -> Job:
    """Validate a job sent for prediction; a job without id gets a generated one."""
    if not isinstance(title, str) or not isinstance(description, str):
        raise InputError("title and description must be text")
    job_id = None if job_id in (None, "") else str(job_id)
    company_id = None if company_id is None else str(company_id)
    where = f"job {shown(job_id)}" if job_id else "job (new)"
    if not title.strip() and not description.strip():
        raise InputError(f"{where}: title and description are both empty")
    problem = job_problem(job_id, title, description, company_id, company_name)
    if problem:
        raise InputError(f"{where}: {problem}")
    return Job(
        job_id=job_id or f"p-{uuid.uuid4().hex[:12]}",
        title=title,
        description=description,
        company_id=company_id,
        company_name=company_name,
    )
