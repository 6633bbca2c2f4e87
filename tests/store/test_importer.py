"""Import: idempotent upsert, tag replacement, merging, bad input and batch atomicity."""

from __future__ import annotations

import gzip
import json

import pytest
import sqlalchemy as sa
from store_rows import ROWS, write_rows

from jobtag.errors import DatabaseUnavailable, InputError
from jobtag.records import Job
from jobtag.store import JobStore, importer
from jobtag.store import schema as S


def _tags(store: JobStore) -> dict[str, frozenset[str] | None]:
    return {j.job_id: j.tags for j in store.iter_jobs()}


def test_import_aggregates_rows_into_jobs(store, rows_file):
    result = store.import_file(rows_file())
    assert (result.jobs, result.inserted, result.labeled) == (4, 4, 3)
    assert _tags(store) == {
        "1": frozenset({"python", "backend"}),
        "2": frozenset({"finance"}),
        "3": None,
        "4": frozenset({"backend"}),
    }
    job = store.get_job("4")
    assert job.description == "Pipelines, SQL, Spark — naïve café ☕."
    assert (job.company_id, job.company_name) == ("c1", "Acme")
    assert store.get_job("3").company_id is None
    stats = store.stats()
    assert (stats["jobs"], stats["labeled_jobs"], stats["tags"]) == (4, 3, 3)
    assert stats["tag_counts"] == {"backend": 2, "finance": 1, "python": 1}


def test_reimport_changes_nothing(store, rows_file):
    path = rows_file()
    store.import_file(path)
    with store.engine.connect() as conn:
        before = conn.execute(sa.select(S.jobs).order_by(S.jobs.c.id)).all()
        links = conn.execute(sa.select(S.job_tags).order_by(S.job_tags.c.job_id)).all()
    again = store.import_file(path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert (again.links_added, again.links_removed) == (0, 0)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(S.jobs).order_by(S.jobs.c.id)).all() == before
        assert conn.execute(sa.select(S.job_tags).order_by(S.job_tags.c.job_id)).all() == links


def test_changed_job_is_updated_and_imported_tags_replaced(store, rows_file):
    store.import_file(rows_file())
    old_hash = store.get_job("1").content_hash
    store.add_feedback("2", ["finance", "tax"], who="ann", source="test")
    changed = [
        ("1", "Senior Python developer", "Build APIs.", "c1", "Acme", "python"),
        ("2", "Accountant", "Books, ledgers and taxes.", "c2", "Numbers Ltd", ""),
        *ROWS[3:],
    ]
    result = store.import_file(rows_file(changed, name="v2.csv"))
    assert (result.updated, result.unchanged) == (1, 3)
    job = store.get_job("1")
    assert job.title == "Senior Python developer"
    assert (
        job.content_hash != old_hash
        and job.content_hash == Job("1", job.title, job.description).content_hash
    )
    assert job.tags == frozenset({"python"})  # "backend" link of the old file removed
    assert store.get_job("2").tags == frozenset({"finance", "tax"})  # the human truth survives


def test_non_adjacent_rows_merge_within_and_across_batches(store, rows_file):
    rows = [ROWS[0], ROWS[2], ROWS[3], ROWS[1], ROWS[4],
            ("2", "Accountant", "Books, ledgers and taxes.", "c2", "Numbers Ltd", "audit")]  # fmt: skip
    path = rows_file(rows)
    store.import_file(path, batch_size=1)  # job 1 and 2 are split over batches
    expected = {"1": frozenset({"python", "backend"}), "2": frozenset({"finance", "audit"}),
                "3": None, "4": frozenset({"backend"})}  # fmt: skip
    assert _tags(store) == expected
    store.import_file(path, batch_size=2)
    assert _tags(store) == expected
    store.import_file(path)  # one batch
    assert _tags(store) == expected


def test_conflicting_duplicate_across_batches_is_an_error(store, rows_file):
    rows = [ROWS[0], ROWS[2], ROWS[3], ("1", "Something else", "Other.", "c1", "Acme", "x")]
    with pytest.raises(InputError, match=r"jobs.csv line 5, job 1: conflicting job_title"):
        store.import_file(rows_file(rows), batch_size=1)
    assert store.count_jobs() == 3  # batches 1-3 committed, the failing one wrote nothing
    assert "x" not in store.stats()["tag_counts"]


def test_failure_at_batch_k_keeps_earlier_batches_and_writes_nothing_of_batch_k(store, rows_file):
    big = "x" * 2000
    rows = [(str(i), f"Job {i}", "text", "", "", "t") for i in range(1, 7)]
    rows.insert(4, ("5", "Job 5", big, "", "", "t"))  # conflicts with the next row of job 5
    rows[5] = ("5", "Job 5", "text", "", "", "u")
    with pytest.raises(InputError, match=r"line 7, job 5"):
        store.import_file(rows_file(rows), batch_size=2)
    assert sorted(j.job_id for j in store.iter_jobs()) == ["1", "2", "3", "4"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.job_tags)).scalar() == 4


def test_bad_input_is_named_and_writes_nothing(store, rows_file, tmp_path):
    rows = [ROWS[0], ("1", "Other title", ROWS[0][2], "c1", "Acme", "x")]
    with pytest.raises(InputError) as err:
        store.import_file(rows_file(rows))
    assert "line 3, job 1: conflicting job_title (line 2 of the same job differs)" in str(err.value)

    path = rows_file([("1", "t", "c")], header=["job_id", "job_title", "company_id"])
    with pytest.raises(
        InputError, match=r"line 1: missing column\(s\) job_description, job_tag_name"
    ):
        store.import_file(path)

    path = write_rows(tmp_path / "bad.csv", ROWS)
    path.write_bytes(path.read_bytes().replace(b"Watch the building", b"Watch the b\xe9timent"))
    with pytest.raises(InputError, match=r"bad.csv line 5: not valid UTF-8 \(byte 0xe9"):
        store.import_file(path)

    untitled = [*ROWS, ("9", "", "A body without a title.", "", "", "misc")]
    with pytest.raises(InputError, match=r"line 7, job 9: empty job_title"):
        store.import_file(rows_file(untitled), require_title=True)
    with pytest.raises(InputError, match=r"line 7: empty job_id"):
        store.import_file(rows_file([*ROWS, ("", "t", "d", "", "", "")], name="noid.csv"))
    assert store.count_jobs() == 0 and store.stats()["known_tags"] == 0

    store.import_file(rows_file(untitled))  # default: accepted (the Reuters set has untitled jobs)
    assert store.get_job("9").title == ""
    jobs = [Job("a", "T", "D", tags=frozenset({"x"})), Job("b", "T2", "D2")]
    assert store.import_jobs(jobs).inserted == 2
    assert store.get_job("a").tags == frozenset({"x"}) and store.get_job("b").tags is None


def test_oversized_description_is_rejected_with_job(store, rows_file):
    rows = [*ROWS, ("9", "Huge", "word " * 2_100_000, "", "", "")]  # ~10 MB
    with pytest.raises(
        InputError, match=r"line 7, job 9: job_description has 10,500,000 characters"
    ):
        store.import_file(rows_file(rows))
    assert store.count_jobs() == 0
    store.import_file(rows_file(rows, name="ok.csv"), max_field_chars=11_000_000)
    assert len(store.get_job("9").description) == 10_500_000


def test_gzip_jsonl_and_progress(store, tmp_path):
    gz = write_rows(tmp_path / "jobs.csv.gz", ROWS)
    calls: list[int] = []
    store.import_file(gz, progress=calls.append, batch_size=2)
    assert calls == [2, 2] and store.count_jobs() == 4

    class Bar:
        n = 0

        def update(self, k: int) -> None:
            self.n += k

    path = tmp_path / "more.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"job_id": "7", "job_title": "Cook", "job_description": "Soup",
                             "tags": ["kitchen", "food"]}) + "\n\n")  # fmt: skip
        fh.write(json.dumps({"job_id": "8", "job_title": "Baker", "job_description": "Bread",
                             "job_tag_name": None}) + "\n")  # fmt: skip
    bar = Bar()
    store.import_file(path, progress=bar.update)
    assert bar.n == 2
    assert store.get_job("7").tags == frozenset({"kitchen", "food"})
    assert store.get_job("8").tags is None


def test_import_from_db_table_and_query(store, db_url):
    src = sa.create_engine(db_url)
    table = sa.Table(
        "legacy_rows", sa.MetaData(),
        *(sa.Column(c, sa.Integer if c == "job_id" else sa.String(200)) for c in
          ["job_id", "job_title", "job_description", "company_id", "company_name", "job_tag_name"]),
    )  # fmt: skip
    table.create(src)
    with src.begin() as conn:
        conn.execute(table.insert(), [
            {"job_id": int(r[0]), "job_title": r[1], "job_description": r[2],
             "company_id": r[3] or None, "company_name": r[4] or None, "job_tag_name": r[5] or None}
            for r in ROWS
        ])  # fmt: skip
    src.dispose()
    result = store.import_from_db(db_url, "legacy_rows")
    assert result.jobs == 4 and _tags(store)["1"] == frozenset({"python", "backend"})
    again = store.import_from_db(
        db_url, "SELECT * FROM legacy_rows WHERE job_tag_name IS NOT NULL ORDER BY job_id"
    )
    assert again.unchanged == 3 and store.count_jobs() == 4
    with pytest.raises(InputError, match=r"lacks column\(s\) job_description, job_tag_name"):
        store.import_from_db(db_url, "SELECT job_id, job_title FROM legacy_rows")


@pytest.mark.shared_data
def test_wuzzuf_acceptance_counts_and_idempotence(store, shared_data):
    path = shared_data / "wuzzuf-categories" / "train.csv.gz"
    store.import_file(path)
    first = store.stats()
    assert (first["jobs"], first["labeled_jobs"], first["tags"]) == (1558, 1217, 32)
    again = store.import_file(path)
    assert again.unchanged == 1558
    assert store.stats() == first


def test_database_failure_mid_batch_rolls_the_batch_back(store, rows_file, monkeypatch):
    real, calls = importer.upsert, []

    def failing_upsert(conn, table, rows, *args, **kw):
        real(
            conn, table, rows, *args, **kw
        )  # the batch's jobs are written, then the link step fails
        calls.append(table.name)
        if table.name == "jobs" and calls.count("jobs") == 2:
            raise sa.exc.OperationalError("INSERT", {}, Exception("server has gone away"))

    monkeypatch.setattr(importer, "upsert", failing_upsert)
    with pytest.raises(
        DatabaseUnavailable, match=r"failed during import of .*jobs.csv \(batch 2\)"
    ):
        store.import_file(rows_file(), batch_size=2)
    monkeypatch.undo()
    assert sorted(j.job_id for j in store.iter_jobs()) == ["1", "2"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.job_tags)).scalar() == 3
    store.import_file(rows_file(), batch_size=2)  # resuming after the failure completes the import
    assert store.count_jobs() == 4 and store.count_jobs(labeled=True) == 3
