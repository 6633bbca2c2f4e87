"""records: a job's one validation (make_job / job_problem), the label matrix, the content hash."""

from __future__ import annotations

import numpy as np
import pytest

from jobtag.errors import InputError
from jobtag.records import MAX_ID_CHARS, Job, job_problem, label_matrix, make_job


def test_label_matrix_ignores_unknown_tags_and_none():
    y = label_matrix([frozenset({"a", "zz"}), None, frozenset({"b", "a"})], ["a", "b"])
    assert y.dtype == bool
    np.testing.assert_array_equal(y, [[True, False], [False, False], [True, True]])
    assert label_matrix([], ["a"]).shape == (0, 1)


def test_make_job_generates_an_id_and_hashes_the_content():
    job = make_job("Data Engineer", "<p>Spark</p>")
    assert job.job_id.startswith("p-") and not job.labeled
    assert job.content_hash == Job("x", "Data Engineer", "<p>Spark</p>").content_hash
    assert make_job("T", "d", job_id=7).job_id == "7"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": " ", "description": ""}, "both empty"),
        ({"title": "x" * 1001}, "title has 1,001 characters"),
        ({"job_id": "i" * (MAX_ID_CHARS + 1)}, "job_id longer than 255"),
        ({"description": "a\x00b"}, "NUL byte"),
        ({"title": "\ud800"}, "lone surrogate"),
    ],
)
def test_make_job_rejects_what_cannot_be_stored(kwargs, message):
    fields = {"title": "T", "description": "d", **kwargs}
    with pytest.raises(InputError, match=message):
        make_job(**fields)


def test_job_problem_checks_tag_names_and_the_field_limit():
    assert job_problem("1", "T", "d") is None
    assert "tag name" in job_problem("1", "T", "d", tags=("t" * 256,))
    assert "description has 11 characters (limit 10)" in job_problem(
        "1", "T", "d" * 11, max_field_chars=10
    )
