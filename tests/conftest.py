"""Shared fixtures: database URLs for the three backends, the shared benchmark data, a temp home."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Real servers on this project's machines; override or disable ("") with these env vars.
PG_URL = os.environ.get("JOBTAG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIA_URL = os.environ.get("JOBTAG_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A private JOBTAG_HOME so no test touches the user's data folder."""
    monkeypatch.setenv("JOBTAG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JOBTAG_DB", raising=False)
    monkeypatch.delenv("JOBTAG_CONFIG", raising=False)
    return tmp_path / "home"


def _server_url(base: str, name: str) -> str:
    """Reach a server or skip with a message; return a URL to a fresh, private schema/database."""
    if not base:
        pytest.skip(f"{name} tests disabled (empty URL)")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            db = f"jobtag_t_{uuid.uuid4().hex[:10]}"
            conn.exec_driver_sql(f"CREATE DATABASE {db}")
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{name} not reachable at {base}: {exc}")
    finally:
        engine.dispose()
    return base.rsplit("/", 1)[0] + "/" + db


def _drop(base: str, url: str) -> None:
    import sqlalchemy

    db = url.rsplit("/", 1)[1]
    engine = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if base.startswith("postgresql"):
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db}")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request, tmp_path):
    """A fresh, empty database on each backend (a new database per test on the servers)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    base = PG_URL if request.param == "postgresql" else MARIA_URL
    url = _server_url(base, request.param)
    yield url
    _drop(base, url)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"
