"""Plain records passed between layers: a job with its tag set (no I/O, no dependencies)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


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
