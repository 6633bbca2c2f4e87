"""Readers and aggregation: streaming rows with exact line numbers, merging rows per job."""

from __future__ import annotations

import gzip
import json

import pytest
from store_rows import HEADER, ROWS, write_rows

from jobtag.errors import InputError
from jobtag.store import readers


def test_csv_rows_carry_their_first_physical_line(tmp_path):
    rows = [("1", "T", "line one\nline two\nline three", "", "", "a"), ("2", "U", "d", "", "", "")]
    path = write_rows(tmp_path / "m.csv", rows)
    got = list(readers.read_csv(path))
    assert [r[0] for r in got] == [2, 5]
    assert got[0][1:4] == ("1", "T", "line one\nline two\nline three")
    assert got[0][6] == ("a",) and got[1][6] == ()


def test_gzip_is_detected_by_magic_bytes(tmp_path):
    path = write_rows(tmp_path / "plain-name.csv", ROWS, gz=True)
    assert [r[1] for r in readers.read_file(path)] == ["1", "1", "2", "3", "4"]


def test_aggregate_batches_keep_adjacent_rows_of_a_job_together():
    rows = [(i, str(i // 3), "t", "d", None, None, (f"tag{i}",)) for i in range(12)]
    batches = list(readers.aggregate(rows, "x", batch_size=2))
    assert [[p.job_id for p in b] for b in batches] == [["0", "1"], ["2", "3"]]
    assert batches[0][1].tags == {"tag3", "tag4", "tag5"} and batches[0][1].line == 3


def test_aggregate_merges_non_adjacent_rows_in_a_batch():
    rows = [(1, "a", "t", "d", None, None, ("x",)), (2, "b", "t", "d", None, None, ()),
            (3, "a", "t", "d", None, None, ("y",))]  # fmt: skip
    (batch,) = readers.aggregate(rows, "x")
    jobs = {p.job_id: p.to_job() for p in batch}
    assert jobs["a"].tags == frozenset({"x", "y"}) and jobs["b"].tags is None


def test_limits_on_ids_company_and_tags(tmp_path):
    for row, message in [
        (("x" * 256, "T", "d", "", "", ""), "job_id longer than 255"),
        (("1", "T", "d", "c" * 256, "", ""), "job 1: company_id longer than 255"),
        (("1", "T", "d", "", "", "t" * 256), "job 1: tag name longer than 255"),
        (("1", "T" * 11, "d", "", "", ""), "job 1: job_title has 11 characters"),
    ]:
        path = write_rows(tmp_path / "l.csv", [row])
        with pytest.raises(InputError, match=message):
            list(readers.aggregate(readers.read_file(path), str(path), max_field_chars=10))


def test_bad_csv_shapes(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(",".join(HEADER) + "\n1,T,d\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"short.csv line 2: 3 fields, the header has 7"):
        list(readers.read_csv(path))
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty file"):
        list(readers.read_csv(empty))
    with pytest.raises(InputError, match="cannot open"):
        list(readers.read_csv(tmp_path / "absent.csv"))
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(
        gzip.compress(("\n".join([",".join(HEADER)] + ["1,T,d,,,,"] * 50)).encode())[:-30]
    )
    with pytest.raises(InputError, match="cannot read"):
        list(readers.read_csv(broken))


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "j.jsonl"
    good = {"job_id": 1, "job_title": "T", "job_description": "d", "job_tag_name": "a"}
    path.write_text(json.dumps(good) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"j.jsonl line 2: invalid JSON"):
        list(readers.read_file(path))
    path.write_text(json.dumps({"job_id": 1, "job_title": "T"}) + "\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"line 1: missing field\(s\) job_description, job_tag_name"
    ):
        list(readers.read_file(path))
    path.write_bytes(json.dumps(good).encode() + b"\n" + b'{"job_id": "\xff"}\n')
    with pytest.raises(InputError, match=r"line 2: not valid UTF-8 \(byte 0xff"):
        list(readers.read_file(path))
    path.write_text(json.dumps(good | {"tags": "a,b"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="'tags' must be a list"):
        list(readers.read_file(path))


def test_unlabeled_input_without_tag_column_when_allowed(tmp_path):
    path = write_rows(
        tmp_path / "u.csv", [("1", "T", "d")], header=["job_id", "job_title", "job_description"]
    )
    (row,) = readers.read_csv(path, require_tags=False)
    assert row[1] == "1" and row[6] == ()


def test_crlf_line_endings_and_byte_order_mark(tmp_path):
    path = tmp_path / "win.csv"
    text = "\ufeff" + ",".join(HEADER) + "\r\n" + '1,T,"two\r\nlines",,,,a\r\n2,U,d,,,,\r\n'
    path.write_bytes(text.encode("utf-8"))
    rows = list(readers.read_csv(path))
    assert [(r[0], r[1], r[3], r[6]) for r in rows] == [
        (2, "1", "two\r\nlines", ("a",)),
        (4, "2", "d", ()),
    ]


def test_nul_bytes_and_lone_surrogates_are_rejected_like_the_api(tmp_path):
    base = {"job_id": "1", "job_title": "T", "job_description": "d", "tags": ["x"]}
    for change, message in [
        ({"job_description": "a\x00b"}, "job 1: job_description contains a NUL byte"),
        ({"job_title": "\ud800"}, "job 1: job_title contains a lone surrogate"),
        ({"job_id": "a\x00"}, "line 1: job_id contains a NUL byte"),
        ({"company_name": "\x00"}, "job 1: company_name contains a NUL byte"),
        ({"tags": ["t\x00"]}, "job 1: tag name contains a NUL byte"),
    ]:
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps({**base, **change}) + "\n", encoding="utf-8")
        with pytest.raises(InputError, match=message):
            list(readers.aggregate(readers.read_file(path), str(path)))
