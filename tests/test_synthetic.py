"""The synthetic board: deterministic, tags correlated with words, written in the row format."""

from __future__ import annotations

import csv
import gzip

from jobtag.synthetic import TAG_VOCAB, BoardSpec, generate_jobs, write_rows


def test_deterministic_and_mixed():
    a = list(generate_jobs(BoardSpec(jobs=200, seed=3)))
    b = list(generate_jobs(BoardSpec(jobs=200, seed=3)))
    assert a == b
    labeled = [j for j in a if j.labeled]
    assert 100 < len(labeled) < 200  # some unlabeled jobs
    assert all(t in TAG_VOCAB for j in labeled for t in j.tags)
    assert any(len(j.tags) > 1 for j in labeled)


def test_vocabulary_signals_the_tag():
    jobs = [j for j in generate_jobs(BoardSpec(jobs=300, seed=1, noise=0.0)) if j.labeled]
    for job in jobs[:50]:
        words = set(job.description.lower().replace(".", " ").replace("<", " ").split())
        vocab = {w for t in job.tags for w in TAG_VOCAB[t][1]}
        assert words & vocab, job


def test_write_rows_round_trip(tmp_path):
    jobs = list(generate_jobs(BoardSpec(jobs=30, seed=2)))
    path = tmp_path / "b.csv.gz"
    n = write_rows(jobs, path)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n == sum(max(1, len(j.tags or ())) for j in jobs)
    unlabeled = {j.job_id for j in jobs if not j.labeled}
    assert {r["job_id"] for r in rows if not r["job_tag_name"]} == unlabeled
