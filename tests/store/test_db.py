"""Opening databases: URL masking, unreachable databases, SQLite folders, migrations to head."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jobtag.errors import DatabaseUnavailable
from jobtag.store import JobStore
from jobtag.store import schema as S
from jobtag.store.db import current_revision, head_revision, mask_url


def test_mask_url_hides_the_password():
    assert (
        mask_url("postgresql+psycopg://bob:s3cret@db:5432/jobs")
        == "postgresql+psycopg://bob:***@db:5432/jobs"
    )
    assert "s3cret" not in mask_url("nonsense://bob:s3cret@@")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg://bob:s3cret@127.0.0.1:1/none",
            r"cannot open database postgresql\+psycopg://bob:\*\*\*@127.0.0.1:1/none",
        ),
        (
            "mysql+pymysql://root:pw@127.0.0.1:1/none",
            r"cannot open database mysql\+pymysql://root:\*\*\*@127.0.0.1:1/none",
        ),
        ("nosuchdb://x/y", r"cannot use database URL 'nosuchdb://x/y'"),
        ("not a url", r"invalid database URL 'not a url'"),
    ],
)
def test_unreachable_or_wrong_urls(url, message):
    with pytest.raises(DatabaseUnavailable, match=message) as err:
        JobStore(url)
    assert "s3cret" not in str(err.value) and ":pw@" not in str(err.value)


def test_sqlite_folder_is_created_and_unopenable_file_is_clear(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'a' / 'b' / 'jobs.db'}")
    assert (tmp_path / "a" / "b" / "jobs.db").is_file()
    store.close()
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(DatabaseUnavailable, match="cannot open database sqlite"):
        JobStore(f"sqlite:///{tmp_path / 'dir.db'}")


def test_migrated_schema_matches_the_tables_and_reopening_is_a_noop(db_url):
    store = JobStore(db_url)
    assert current_revision(store.engine) == head_revision() == "0003_tokens"
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), S.metadata)
    assert diff == []  # the migration creates exactly the tables, columns and indexes of schema.py
    store.close()
    JobStore(db_url).close()


def test_concurrent_first_opens_migrate_once(db_url):
    errors: list[BaseException] = []

    def open_close() -> None:
        try:
            JobStore(db_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_concurrent_first_opens_in_processes(db_url):
    code = "import sys; from jobtag.store import JobStore; JobStore(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    store = JobStore(db_url)
    assert current_revision(store.engine) == head_revision()
    store.close()


def test_plain_mysql_urls_use_the_installed_driver():
    from jobtag.store.db import create_engine

    for url in ("mysql://u@127.0.0.1/x", "mariadb://u@127.0.0.1/x"):
        engine = create_engine(url)
        assert engine.dialect.driver == "pymysql"
        engine.dispose()
