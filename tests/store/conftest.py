"""Store test fixtures: an open JobStore on each backend and small hand-written row files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from store_rows import ROWS, write_rows

from jobtag.store import JobStore


@pytest.fixture
def rows_file(tmp_path) -> Callable[..., Path]:
    def make(rows=ROWS, name: str = "jobs.csv", **kw) -> Path:
        return write_rows(tmp_path / name, rows, **kw)

    return make


@pytest.fixture
def store(db_url):
    s = JobStore(db_url)
    yield s
    s.close()
