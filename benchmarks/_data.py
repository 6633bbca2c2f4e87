"""Benchmark data loader: stream the row-format CSV sets of ../shared/data into `jobtag.records.Job`s."""

from __future__ import annotations

import csv
import gzip
import logging
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jobtag.errors import InputError
from jobtag.records import Job

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
SETS: tuple[str, ...] = ("wuzzuf-categories", "wuzzuf-skills", "reuters-modapte")
COLUMNS: tuple[str, ...] = (
    "job_id",
    "job_title",
    "job_description",
    "company_id",
    "company_name",
    "job_tag_id",
    "job_tag_name",
)


DATA_ENV = "JOBTAG_DATA"
DATA_HELP = (
    "benchmark data folder (default: $JOBTAG_DATA when set, else ../shared/data beside the "
    "repository)"
)


def default_data_dir() -> Path:
    """$JOBTAG_DATA when set, else <repo>/../shared/data (the folder beside the repository)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"


def resolve_data_dir(arg: str | None) -> Path:
    """The data folder from a `--data` flag (or the default); raises InputError when missing."""
    path = Path(arg).expanduser() if arg else default_data_dir()
    if not path.is_dir():
        raise InputError(
            f"benchmark data folder not found: {path} (pass --data DIR or set ${DATA_ENV})"
        )
    return path


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115 - closed by the caller's with


def iter_jobs(path: Path) -> Iterator[Job]:
    """Yield one Job per job_id from a row-format CSV (rows of one job must be consecutive).

    A job whose only row has an empty tag is unlabeled (`tags=None`).
    """
    csv.field_size_limit(sys.maxsize)
    with _open(path) as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
        seen: set[str] = set()
        current: dict | None = None
        tags: set[str] = set()
        for row in reader:
            job_id = row["job_id"]
            if current is None or job_id != current["job_id"]:
                if current is not None:
                    yield _make_job(current, tags)
                if job_id in seen:
                    raise InputError(
                        f"{path}:{reader.line_num}: rows of job {job_id!r} are not consecutive"
                    )
                seen.add(job_id)
                current, tags = row, set()
            tag = (row["job_tag_name"] or "").strip()
            if tag:
                tags.add(tag)
        if current is not None:
            yield _make_job(current, tags)


def _make_job(row: dict, tags: set[str]) -> Job:
    return Job(
        job_id=row["job_id"],
        title=row["job_title"] or "",
        description=row["job_description"] or "",
        company_id=row["company_id"] or None,
        company_name=row["company_name"] or None,
        tags=frozenset(tags) if tags else None,
    )


@dataclass
class BenchSet:
    """One benchmark set: labeled train jobs, unlabeled train-side jobs, labeled test jobs."""

    name: str
    train: list[Job]
    unlabeled: list[Job]
    test: list[Job]

    @property
    def tags(self) -> list[str]:
        """Sorted union of the tags of train and test (the columns every method is scored on)."""
        out: set[str] = set()
        for job in self.train + self.test:
            out.update(job.tags or ())
        return sorted(out)

    def test_tags(self) -> list[str]:
        return sorted({t for job in self.test for t in (job.tags or ())})


def load_set(data_dir: Path, name: str, quick: bool = False, seed: int = 13) -> BenchSet:
    """Read `name`/train (+ unlabeled) and test; `quick` subsamples for a smoke run."""
    folder = data_dir / name
    if not (folder / "train.csv.gz").is_file() or not (folder / "test.csv.gz").is_file():
        raise InputError(f"benchmark set {name!r}: train.csv.gz/test.csv.gz not found in {folder}")
    train, unlabeled = [], []
    for job in iter_jobs(folder / "train.csv.gz"):
        (train if job.labeled else unlabeled).append(job)
    if (folder / "unlabeled.csv.gz").is_file():
        unlabeled.extend(iter_jobs(folder / "unlabeled.csv.gz"))
    test = [job for job in iter_jobs(folder / "test.csv.gz") if job.labeled]
    if quick:
        rng = random.Random(seed)
        train = rng.sample(train, min(len(train), 500))
        unlabeled = rng.sample(unlabeled, min(len(unlabeled), 300))
        test = rng.sample(test, min(len(test), 200))
    log.info(
        "%s: %d labeled train, %d unlabeled, %d test jobs",
        name,
        len(train),
        len(unlabeled),
        len(test),
    )
    return BenchSet(name, train, unlabeled, test)


def job_text(job: Job) -> str:
    """What the peers see of a job: title, newline, description."""
    return f"{job.title}\n{job.description}"


def label_matrix(jobs: list[Job], tags: list[str]) -> np.ndarray:
    """Boolean (n, T) indicator matrix of the jobs' tags over the `tags` columns."""
    index = {t: i for i, t in enumerate(tags)}
    y = np.zeros((len(jobs), len(tags)), dtype=bool)
    for row, job in enumerate(jobs):
        for tag in job.tags or ():
            if tag in index:
                y[row, index[tag]] = True
    return y


def validation_split(
    n: int, fraction: float = 0.1, seed: int = 13
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (fit_idx, val_idx) split of range(n); the validation slice holds ~`fraction`."""
    if n < 2:
        raise InputError(f"need at least 2 labeled jobs to split off validation, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
