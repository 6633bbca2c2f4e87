"""The CLI on a small synthetic board: import, stats, train, predict, evaluate, feedback, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from jobtag.cli import main
from jobtag.config import TrainSettings
from jobtag.errors import DatabaseUnavailable, InputError, NotFound

from .helpers import board_file


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    cfg = folder / "jobtag.toml"
    cfg.write_text(
        "[features]\nn_features = 4096\nmax_tokens = 64\n"
        "[train]\nae_epochs = 2\ntagger_epochs = 8\nbatch_size = 32\ntagger_batch_size = 32\n"
        "[update]\nevery_n_jobs = 1000\n"
    )
    return {"folder": folder, "args": ["--home", str(folder / "home"), "--config", str(cfg)]}


def run(env, *args, ok=True):
    result = CliRunner().invoke(main, [*env["args"], *args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def test_import_stats_train_predict_evaluate(env):
    board = board_file(env["folder"], jobs=300)
    run(env, "import", str(board))
    first = json.loads(run(env, "stats", "--json").stdout)
    run(env, "import", str(board))  # idempotent
    again = json.loads(run(env, "stats", "--json").stdout)
    assert first == again
    assert {"jobs", "labeled_jobs", "tags", "tag_counts"} <= set(first)
    assert first["jobs"] == 300

    out = json.loads(run(env, "train", "--json").stdout)
    assert out["version"] == 1
    assert out["deep_weight"] in TrainSettings().deep_weights and out["wide_C"] > 0
    tried = out["deep_weights_out_of_fold"]  # every deep weight's out-of-fold score
    assert set(tried) == {f"{w:g}" for w in TrainSettings().deep_weights}
    if out["deep_weight"] > 0:  # (scores rounded to 4 decimals)
        assert tried[f"{out['deep_weight']:g}"] >= tried["0"]
    else:
        assert max(tried.values()) <= tried["0"]
    assert len(out["name_weights"]) == 4 and out["name_weights"][0] in TrainSettings().name_weights
    assert out["labeled_jobs"] > 0 and {"micro_f1", "macro_f1"} <= set(out["validation"])
    # both paths weighed and calibrated on every labeled job, out of fold
    assert 0 < out["out_of_fold"]["micro_f1"] <= 1

    pred = json.loads(
        run(env, "predict", "--title", "Python Developer", "--description", "django api",
            "--job-id", "cli-1", "--json", "--top-k", "3").stdout
    )  # fmt: skip
    assert pred["job_id"] == "cli-1" and len(pred["scores"]) == 3

    test_file = board_file(env["folder"], jobs=120, seed=3, start_id=9000)
    res = run(env, "evaluate", str(test_file), "--json")
    metrics = json.loads(res.stdout)  # stdout is exactly one JSON object
    assert metrics["micro_f1"] > 0.4 and "binary_accuracy" in metrics

    out_file = env["folder"] / "preds.jsonl"
    run(env, "predict", "--input", str(test_file), "--output", str(out_file), "--no-update")
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert len(lines) == 120 and all("tags" in x for x in lines)

    run(env, "feedback", "cli-1", "--tags", "python,Brand New Tag")
    assert "Brand New Tag" in json.loads(run(env, "stats", "--json").stdout)["tag_counts"]

    listing = run(env, "models").stdout
    assert "active" in listing


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["feedback", "nope", "--tags", "a"], NotFound.exit_code, "nope"),
        (["import"], InputError.exit_code, "give FILES"),
        (["import", "/no/such/file.csv"], None, "file.csv"),
        (["predict"], InputError.exit_code, "--title"),
    ],
)
def test_errors_have_messages_and_exit_codes(env, args, code, message):
    result = CliRunner().invoke(main, [*env["args"], *args])
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code
    assert message in result.stderr


def test_dead_database(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "--db", url, "stats"])
    assert result.exit_code == DatabaseUnavailable.exit_code
    assert "127.0.0.1:1" in result.stderr


def test_evaluate_report(env, tmp_path):
    board = board_file(env["folder"], jobs=300)
    run(env, "import", str(board))
    if "active" not in run(env, "models").stdout:
        run(env, "train")
    test_file = board_file(env["folder"], jobs=80, seed=4, start_id=7000)
    res = run(env, "evaluate", str(test_file), "--report", str(tmp_path / "rep"), "--json")
    assert "report written" in res.stderr
    assert "micro_f1" in json.loads(res.stdout)
    page = (tmp_path / "rep" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 4  # F1 vs support, PR, training, codes
    assert "Thresholds and per-tag figures" in page
