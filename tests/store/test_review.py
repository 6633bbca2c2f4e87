"""The review queue: least certain first, filters, paging, corrections shown, counts."""

from __future__ import annotations

from jobtag.records import Job
from jobtag.store import JobStore

THRESHOLDS = {"a": 0.5, "b": 0.3}


def _store(url: str) -> JobStore:
    store = JobStore(url)
    items = [
        (Job(job_id="sure", title="t", description="d"), {"a": 0.99, "b": 0.01}, ["a"]),
        (Job(job_id="doubt", title="t", description="d"), {"a": 0.52, "b": 0.05}, ["a"]),
        (Job(job_id="mid", title="t", description="<b>d</b>"), {"a": 0.1, "b": 0.45}, ["b"]),
        (Job(job_id="new-tag", title="t", description="d"), {"zz": 0.9}, ["zz"]),
    ]
    store.record_predictions_many(items, 1, "test")
    return store


def test_unreviewed_least_certain_first_and_paged(db_url):
    with _store(db_url) as store:
        page = store.review_queue(THRESHOLDS)
        assert [i["job_id"] for i in page["items"]] == ["doubt", "mid", "sure", "new-tag"]
        assert page["total"] == 4 and page["items"][0]["doubt"] == 0.02
        assert page["items"][2]["scores"] == {"a": 0.99, "b": 0.01}
        assert page["items"][2]["predicted"] == ["a"] and page["items"][2]["human_tags"] is None
        second = store.review_queue(THRESHOLDS, offset=1, limit=2)
        assert [i["job_id"] for i in second["items"]] == ["mid", "sure"]
        assert second["total"] == 4
        only_b = store.review_queue(THRESHOLDS, tag="b")
        assert [i["job_id"] for i in only_b["items"]] == ["mid"]


def test_corrections_move_jobs_to_reviewed_with_who_and_when(db_url):
    with _store(db_url) as store:
        before = store.review_counts()
        store.add_feedback("doubt", ["b", "c"], who="ann", source="http")
        queue = store.review_queue(THRESHOLDS)
        assert "doubt" not in [i["job_id"] for i in queue["items"]]
        done = store.review_queue(THRESHOLDS, state="reviewed")["items"]
        assert [i["job_id"] for i in done] == ["doubt"]
        assert done[0]["human_tags"] == ["b", "c"]
        assert done[0]["corrections"][0]["who"] == "ann" and done[0]["corrections"][0]["at"]
        tagged_c = store.review_queue(THRESHOLDS, state="all", tag="c")["items"]
        assert [i["job_id"] for i in tagged_c] == ["doubt"]
        after = store.review_counts()
        assert before["waiting"] == 4 and after["waiting"] == 3
        assert after["reviewed_today"] == before["reviewed_today"] + 1
        assert after["corrections_since_update"] == 1
        assert "c" in store.known_tags()
