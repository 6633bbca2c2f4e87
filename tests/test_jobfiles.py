"""Row files: feedback files; batch files: bad rows become error rows naming their line, --strict, aliases, --json, --explain."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from jobtag.cli import main
from jobtag.errors import InputError
from jobtag.jobfiles import read_batch, read_feedback_file

from .helpers import trained_tagger


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tagger = trained_tagger(tmp_path_factory.mktemp("batch"), jobs=200)
    tagger.settings.update.every_n_jobs = 10**9
    tagger.close()
    return tagger.settings


def run(settings, *args, code=0):
    result = CliRunner().invoke(main, ["--home", str(settings.home), "--db", settings.database_url,
                                       "--config", str(settings.home / "none.toml"), *args])  # fmt: skip
    assert result.exit_code == code, result.output + result.stderr
    return result


def twenty(path, header=("job_id", "title", "description"), empty_at=8, prefix="b"):
    """A 20-job CSV whose job on file line `empty_at` is empty (line 1 is the header)."""
    rows = [(f"{prefix}{i}", f"Python developer {i}", "django rest apis") for i in range(1, 21)]
    rows[empty_at - 2] = (f"{prefix}{empty_at - 1}", "", "  ")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([r[3 - len(header) :] for r in rows])
    return path


@pytest.fixture(autouse=True)
def no_config(home):
    (home.home / "none.toml").write_text("[features]\nn_features = 4096\nmax_tokens = 64\n")


def test_bad_row_is_an_error_row_naming_its_line_and_exit_0(home, tmp_path):
    out = tmp_path / "out.csv"
    res = run(home, "predict", "--input", str(twenty(tmp_path / "in.csv")), "--output", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 20
    errors = [r for r in rows if r["error"]]
    assert len(errors) == 1 and errors[0]["error"].startswith("line 8:")
    assert errors[0]["job_id"] == "b7" and not errors[0]["tags"]
    assert sum(1 for r in rows if r["scores"]) == 19
    assert "line 8" in res.stderr


def test_strict_stops_with_no_output_and_nothing_recorded(home, tmp_path):
    out = tmp_path / "strict.csv"
    src = twenty(tmp_path / "in.csv", prefix="strict-")
    res = run(home, "predict", "--input", str(src), "--output", str(out), "--strict",
              code=InputError.exit_code)  # fmt: skip
    assert "line 8" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".strict.csv*"))
    from jobtag.store import JobStore

    with JobStore(home.database_url) as store:
        ids = [i["job_id"] for i in store.review_queue({}, "all", None, 0, 100)["items"]]
    assert ids and not [i for i in ids if i.startswith("strict-")]


def test_title_description_aliases_optional_id_and_json_summary(home, tmp_path):
    src = twenty(tmp_path / "noid.csv", header=("title", "description"))
    res = run(home, "predict", "--input", str(src), "--json", "--no-record", "--explain")
    summary = json.loads(res.stdout)  # exactly one JSON object on stdout
    assert summary["predicted"] == 19 and summary["errors"] == 1
    assert summary["error_rows"][0]["line"] == 8
    preds = summary["predictions"]
    good = [p for p in preds if "error" not in p]
    assert len(preds) == 20 and preds[6] == {"job_id": None, "line": 8, "error": preds[6]["error"]}
    assert len({p["job_id"] for p in good}) == 19 and all(p["job_id"] for p in good)  # generated
    assert all(set(p["explanations"]) == set(p["tags"]) for p in good)
    assert any(
        w["word"] in ("python", "django")
        for w in good[0]["explanations"][good[0]["tags"][0]]["for"]
    )
    out = tmp_path / "o.jsonl"
    res = run(home, "predict", "--input", str(src), "--output", str(out), "--json", "--no-record")
    assert json.loads(res.stdout)["output"] == str(out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[6]["line"] == 8 and "error" in lines[6] and len(lines) == 20


def test_read_batch_jsonl_bad_lines_and_missing_columns(tmp_path):
    src = tmp_path / "jobs.jsonl"
    src.write_text('{"title": "A", "description": "x"}\nnot json\n[1]\n'
                   '{"job_id": "k", "job_title": "B"}\n{"job_id": "k", "job_title": "B"}\n')  # fmt: skip
    rows = list(read_batch(src))
    assert [r.line for r in rows] == [1, 2, 3, 4]  # line 5: the same job again (another tag row)
    assert rows[1].error.startswith("line 2: invalid JSON") and rows[2].error.startswith("line 3")
    assert rows[3].job.job_id == "k" and rows[0].job.job_id.startswith("p-")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n")
    with pytest.raises(InputError, match="no title or description column"):
        list(read_batch(bad))


def test_predict_help_lists_the_input_columns(home):
    text = run(home, "predict", "--help").output
    assert "job_title" in text and "title" in text and "job_description" in text
    assert "--strict" in text and "--explain" in text


def test_feedback_files_csv_and_jsonl(tmp_path):
    csv_file = tmp_path / "fb.csv"
    csv_file.write_text('job_id,tags\na,Python|Remote\nb,"x, y"\nc,\n', encoding="utf-8")
    assert list(read_feedback_file(csv_file)) == [
        ("a", ["Python", "Remote"]),
        ("b", ["x", "y"]),
        ("c", []),
    ]
    jsonl = tmp_path / "fb.jsonl"
    jsonl.write_text('{"job_id": 7, "tags": ["A"]}\n\n{"job_id": "8", "tags": "B|C"}\n')
    assert list(read_feedback_file(jsonl)) == [("7", ["A"]), ("8", ["B", "C"])]


def test_feedback_file_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(InputError, match="no such feedback file"):
        list(read_feedback_file(tmp_path / "none.csv"))
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("id,labels\n1,a\n")
    with pytest.raises(InputError, match="missing columns job_id, tags"):
        list(read_feedback_file(bad_csv))
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"job_id": "1", "tags": []}\n{"job_id": "2"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: need an object with job_id and tags"):
        list(read_feedback_file(bad_jsonl))
