"""Reading jobs with their true tags, stats, and the feature cache, on every backend."""

from __future__ import annotations

import pytest

from jobtag.errors import NotFound
from jobtag.records import Job


def test_iter_jobs_filters_and_streams_in_order(store, rows_file):
    store.import_file(rows_file())
    assert [j.job_id for j in store.iter_jobs(batch_size=1)] == ["1", "2", "3", "4"]
    assert [j.job_id for j in store.iter_jobs(labeled=True, batch_size=2)] == ["1", "2", "4"]
    assert [j.job_id for j in store.iter_jobs(labeled=False)] == ["3"]
    assert (
        store.count_jobs(),
        store.count_jobs(labeled=True),
        store.count_jobs(labeled=False),
    ) == (4, 3, 1)
    job = next(store.iter_jobs())
    assert job.content_hash == Job(job.job_id, job.title, job.description).content_hash
    with pytest.raises(NotFound, match=r"no job with id 'nope'"):
        store.get_job("nope")


def test_truth_is_the_latest_correction_never_a_prediction(store, rows_file):
    store.import_file(rows_file())
    store.record_predictions(store.get_job("3"), 1, {"security": 0.9}, ["security"], "predict")
    assert store.get_job("3").tags is None  # a prediction is not a label
    assert store.count_jobs(labeled=True) == 3
    store.add_feedback("1", ["python"], who="ann", source="test")
    store.add_feedback("1", [], who="bob", source="test")  # "none of these tags"
    job = store.get_job("1")
    assert job.tags == frozenset() and not job.labeled
    assert [j.job_id for j in store.iter_jobs(labeled=True)] == ["2", "4"]
    stats = store.stats()
    assert (stats["labeled_jobs"], stats["corrected_jobs"]) == (2, 1)
    assert stats["tag_counts"] == {"backend": 1, "finance": 1}
    assert stats["known_tags"] == 4  # python, backend, finance, security


def test_feature_cache_roundtrip_replaces_duplicates(store):
    assert store.stats() == {"jobs": 0, "labeled_jobs": 0, "tags": 0, "tag_counts": {},
                             "corrected_jobs": 0, "known_tags": 0}  # fmt: skip
    big = bytes(range(256)) * 1024  # 256 KB: more than a MariaDB BLOB holds
    store.put_features({"h1": b"\x00\x01", "h2": big}, "v1")
    store.put_features({"h1": b"fixed", "h3": b"3"}, "v1")  # h1 exists: replaced, no error
    got = store.get_features(["h1", "h2", "h3", "h4", "h1"], "v1")
    assert got == {"h1": b"fixed", "h2": big, "h3": b"3"}
    assert store.get_features(["h1"], "v2") == {}
    many = {f"k{i}": str(i).encode() for i in range(2000)}
    store.put_features(many, "v2")
    assert store.get_features(list(many), "v2") == many
