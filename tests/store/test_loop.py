"""Learning-loop records: predictions, feedback, new jobs since the last update, update history."""

from __future__ import annotations

import pytest

from jobtag.errors import NotFound
from jobtag.records import Job


def test_predictions_store_new_jobs_with_their_own_ids(store, rows_file):
    store.import_file(rows_file())
    assert store.jobs_since_last_update() == 4
    run = store.record_update_run(jobs_used=4, labels=3, pseudo_labels=0, promoted=True,
                                  metrics_after={"micro_f1": 0.5}, reason="first", seconds=1.5)  # fmt: skip
    assert store.jobs_since_last_update() == 0
    new = Job("web-77", "Web designer", "Figma and CSS")
    items = [
        (new, {"design": 0.91, "backend": 0.2}, ["design"]),
        (store.get_job("1"), {"backend": 0.7, "python": 0.6}, ["backend", "python"]),
    ]
    assert store.record_predictions_many(items, model_version=1, source="predict") == 2
    store.record_predictions(new, 2, {"design": 0.8, "frontend": 0.75}, ["design", "frontend"])
    assert store.jobs_since_last_update() == 1  # job 1 is not new
    store.add_feedback("web-77", ["design", "ux"], who="ann", source="web")
    (seen,) = list(store.iter_new_jobs())
    assert seen.job.job_id == "web-77" and seen.job.tags == frozenset({"design", "ux"})
    assert seen.human_tags == frozenset({"design", "ux"})
    assert seen.model_version == 2 and seen.scores == pytest.approx(
        {"design": 0.8, "frontend": 0.75}
    )
    assert seen.predicted == frozenset({"design", "frontend"})
    changed = Job("web-77", "Web designer (senior)", "Figma and CSS")
    store.record_predictions(changed, 2, {"design": 0.7}, [])
    assert store.get_job("web-77").title == "Web designer (senior)"
    (hist,) = store.update_history()
    assert hist.id == run and hist.status == "done" and hist.promoted
    assert (hist.jobs_used, hist.labels, hist.reason) == (4, 3, "first")
    assert hist.metrics_after == {"micro_f1": 0.5} and hist.seconds == 1.5


def test_update_runs_track_the_watermark_and_aborted_runs(store, rows_file):
    store.import_file(rows_file())
    first = store.start_update_run()  # killed: never finished
    second = store.start_update_run()
    store.import_jobs([Job("late", "Late job", "arrived during the update")])
    store.finish_update_run(second, jobs_used=4, promoted=False, reason="worse on validation")
    assert store.jobs_since_last_update() == 1  # the job imported after the run started
    runs = {r.id: r for r in store.update_history()}
    assert runs[first].status == "aborted" and runs[second].status == "done"
    assert not runs[second].promoted and runs[second].reason == "worse on validation"
    failed = store.start_update_run()
    store.finish_update_run(failed, status="failed", reason="boom")
    assert store.jobs_since_last_update() == 1  # a failed run does not move the watermark
    with pytest.raises(NotFound):
        store.finish_update_run(999)


def test_feedback_is_logged_creates_tags_and_rejects_unknown_jobs(store, rows_file):
    store.import_file(rows_file())
    with pytest.raises(NotFound, match=r"unknown job id\(s\) 'zz'"):
        store.add_feedback("zz", ["a"], who="ann", source="cli")
    with pytest.raises(NotFound):
        store.add_feedback_many([("1", ["a"]), ("zz", ["b"])], who="ann", source="file")
    assert store.get_job("1").tags == frozenset({"python", "backend"})  # all or nothing
    store.add_feedback("2", ["brand-new-tag", " finance "], who="ann", source="cli")
    store.add_feedback("2", ["finance"], who=None, source="api")
    assert store.get_job("2").tags == frozenset({"finance"})
    log = store.feedback_log("2")
    assert [(e["tags"], e["who"], e["source"]) for e in log] == [
        (["brand-new-tag", "finance"], "ann", "cli"),
        (["finance"], None, "api"),
    ]
    assert "brand-new-tag" in store.tag_names()
    store.import_file(rows_file())  # re-import keeps the correction as truth
    assert store.get_job("2").tags == frozenset({"finance"})
    assert len(store.feedback_log("2")) == 2


def test_corrections_since_the_last_update_are_new_information(store, rows_file):
    store.import_file(rows_file())
    run = store.record_update_run(jobs_used=4, model_version=1, promoted=True, reason="train")
    assert (store.jobs_since_last_update(), store.corrections_since_last_update()) == (0, 0)
    assert list(store.iter_new_jobs()) == []
    store.add_feedback("2", ["brand-new-tag"], who="ann")
    store.import_jobs([Job("late", "Late job", "arrived after the update")])
    assert (store.jobs_since_last_update(), store.corrections_since_last_update()) == (1, 1)
    seen = {s.job.job_id: s for s in store.iter_new_jobs()}
    assert set(seen) == {"2", "late"}
    assert seen["2"].corrected_since_update and seen["2"].job.tags == {"brand-new-tag"}
    assert not seen["late"].corrected_since_update
    made = store.model_run(1)
    assert made is not None and made.id == run and store.model_run(7) is None
    assert store.fresh_job_ids(made.last_job_id, made.started_at) == {"2", "late"}
    store.record_update_run(jobs_used=2, model_version=2, promoted=False, reason="update")
    assert store.corrections_since_last_update() == 0 and list(store.iter_new_jobs()) == []
    # what model 1 has not seen does not shrink because a later update ran
    assert store.fresh_job_ids(made.last_job_id, made.started_at) == {"2", "late"}


def _commits(store) -> list[int]:
    """A counter of the transactions `store` commits from now on (its one element)."""
    import sqlalchemy as sa

    seen = [0]

    def count(_conn) -> None:  # noqa: ANN001
        seen[0] += 1

    sa.event.listen(store.engine, "commit", count)
    return seen


def test_predictions_and_their_features_are_one_transaction(store):
    jobs = [Job(f"f-{i}", f"Data engineer {i}", "Spark and SQL") for i in range(3)]
    features = {j.content_hash: f"payload {i}".encode() for i, j in enumerate(jobs)}
    commits = _commits(store)
    items = [(j, {"data": 0.9, "sql": 0.4}, ["data"]) for j in jobs]
    n = store.record_predictions_many(items, 1, "http", features=features, features_version="v1")
    assert n == 3 and commits[0] == 1  # jobs, predictions, tag links and features at once
    assert store.get_features(list(features), "v1") == features
    assert store.get_job("f-2").title == "Data engineer 2"
    assert store.get_features(list(features), "v2") == {}  # stored under its own version


def test_a_failed_recording_stores_neither_jobs_nor_features(store, monkeypatch):
    import jobtag.store.loop as loop

    def broken(conn, items, version) -> None:  # noqa: ANN001 - fails after writing
        real(conn, items, version)
        raise RuntimeError("disk full")

    real = loop.upsert_features
    monkeypatch.setattr(loop, "upsert_features", broken)
    job = Job("lost", "Backend developer", "Go and Kafka")
    with pytest.raises(RuntimeError, match="disk full"):
        store.record_predictions_many([(job, {"go": 0.8}, ["go"])], 1, "http",
                                      features={job.content_hash: b"x"}, features_version="v1")  # fmt: skip
    with pytest.raises(NotFound):
        store.get_job("lost")
    assert store.get_features([job.content_hash], "v1") == {}
