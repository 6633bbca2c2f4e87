"""The learning loop from the CLI, in the reviewer's order: predict, correct later, update."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from click.testing import CliRunner

from jobtag.cli import main
from jobtag.records import Job
from jobtag.synthetic import BoardSpec, generate_jobs, write_rows

from .helpers import board_file

WORDS = [
    "solidity",
    "smart",
    "contracts",
    "ethereum",
    "blockchain",
    "web3",
    "defi",
    "token",
    "wallet",
    "evm",
    "audit",
]


def _chain_job(rng: random.Random, n: int) -> Job:
    desc = " ".join(rng.choice(WORDS) for _ in range(30))
    return Job(f"chain-{n}", f"{rng.choice(['Solidity', 'Blockchain'])} Engineer", f"<p>{desc}</p>")


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "jobtag.toml"
    cfg.write_text(
        "[features]\nn_features = 4096\nmax_tokens = 64\n"
        "[train]\nae_epochs = 2\ntagger_epochs = 8\nbatch_size = 32\ntagger_batch_size = 32\n"
    )
    args = ["--home", str(tmp_path / "home"), "--config", str(cfg)]

    def run(*a: str, ok: bool = True):
        result = CliRunner().invoke(main, [*args, *a], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    run("import", str(board_file(tmp_path, jobs=300)))
    run("train")
    return tmp_path, run


def test_predict_then_correct_then_update_serves_the_new_tag(env):
    folder, run = env
    rng = random.Random(3)
    board = [replace(j, tags=None) for j in generate_jobs(BoardSpec(jobs=108, seed=5), 50_000)]
    chain = [_chain_job(rng, n) for n in range(12)]
    new = folder / "new.csv"
    write_rows(board[:60] + chain + board[60:], new)
    # 1. predict 120 new jobs: the due update is announced on stderr before it runs
    out = run("predict", "--input", str(new), "--output", str(folder / "pred.jsonl"))
    assert "model update: running now because 120 new jobs" in out.stderr
    assert "kept as candidate" in out.stderr  # self-training alone is not promoted unjudged
    # 2. a reviewer corrects 12 of them with a tag the model has never seen
    for job in chain:
        run("feedback", job.job_id, "--tags", "NewTag")
    # 3. the corrections alone make an update due; it learns them and serves the new tag
    out = run("update")
    assert "promoted" in out.output and "NewTag" in out.output, out.output
    history = run("models", "--history").output.strip().splitlines()
    assert "promoted=True" in history[-1] and "new tags: NewTag" in history[-1]
    assert "12 corrected" in history[-1]
    assert "failed" not in "\n".join(history)
    listed = json.loads(run("models", "--json").stdout)  # one object, one yardstick for all
    assert listed["yardstick"]["jobs"] > 0 and listed["yardstick"]["relative_to"] == 1
    assert [m["version"] for m in listed["models"]] == [1, 2, 3]
    assert all(isinstance(m["micro_f1"], float) for m in listed["models"])
    assert listed["models"][2]["micro_f1"] > listed["models"][0]["micro_f1"]  # it knows NewTag
    like = _chain_job(random.Random(99), 99)
    pred = json.loads(
        run("predict", "--title", like.title, "--description", like.description, "--json",
            "--no-record").output
    )  # fmt: skip
    assert "NewTag" in pred["tags"], pred
    out = run("update", "--force", ok=False)  # nothing new since: a clear error, no failed run
    assert out.exit_code == 9 and "nothing to learn" in out.output + out.stderr
    assert "failed" not in run("models", "--history").output


def test_predict_no_update_skips_the_due_update(env):
    folder, run = env
    jobs = list(generate_jobs(BoardSpec(jobs=120, seed=6), 60_000))
    new = folder / "new.csv"
    write_rows([replace(j, tags=None) for j in jobs], new)
    out = run("predict", "--input", str(new), "--output", str(folder / "p.csv"), "--no-update")
    assert "model update" not in out.stderr
    listed = json.loads(run("models", "--json").stdout)
    assert isinstance(listed, dict) and len(listed["models"]) == 1
    due = json.loads(run("update", "--json").stdout)
    assert due["updated"] is True and due["new_version"] == 2
