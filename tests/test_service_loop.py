"""The learning loop over HTTP, in the reviewer's order: predict, correct later, the server updates."""

from __future__ import annotations

import random
import time
from dataclasses import replace

from fastapi.testclient import TestClient

from jobtag.service import create_app
from jobtag.synthetic import BoardSpec, generate_jobs

from .helpers import trained_tagger
from .test_cli_loop import _chain_job


def _job(j) -> dict:
    return {"title": j.title, "description": j.description, "job_id": j.job_id}


def _wait_idle(app, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while app.state.updates.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not app.state.updates.running, "the background update did not finish"


def test_predict_then_correct_then_the_server_serves_the_new_tag(tmp_path):
    tagger = trained_tagger(tmp_path, jobs=300)
    settings = tagger.settings
    settings.update.every_n_jobs, settings.update.every_n_corrections = 100, 10
    write = tagger.store.create_token("reviewer", "write")
    admin = tagger.store.create_token("ops", "admin")
    tagger.close()
    rng = random.Random(3)
    board = [replace(j, tags=None) for j in generate_jobs(BoardSpec(jobs=108, seed=5), 50_000)]
    chain = [_chain_job(rng, n) for n in range(12)]
    app = create_app(settings, allowed_hosts=["testserver"])
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {write}"
        # 1. 120 new jobs are predicted (and recorded): the server itself starts one update
        started = 0
        for part in range(0, 120, 20):
            jobs = [_job(j) for j in (board[:60] + chain + board[60:])[part : part + 20]]
            r = client.post("/predict", json={"jobs": jobs})
            assert r.status_code == 200, r.text
            started += bool(r.json()["update_started"])
        time.sleep(1.1)  # the server checks due-ness at most once a second
        started += bool(
            client.post("/predict", json={"jobs": [_job(board[0])]}).json()["update_started"]
        )
        assert started == 1
        _wait_idle(app)
        # 2. a reviewer corrects 12 of them with a tag the model has never seen
        for job in chain:
            r = client.post("/feedback", json={"job_id": job.job_id, "tags": ["NewTag"]})
            assert r.status_code == 200, r.text
        # 3. an update on the corrections (write tokens may not start one; admin may)
        assert client.post("/update").status_code == 403
        _wait_idle(app)  # the feedback may already have started it in the background
        r = client.post("/update", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
        assert r.json()["promoted"] and r.json()["new_tags"] == ["NewTag"], r.json()
        assert r.json()["corrections"] == 12
        last = client.get("/models").json()["history"][-1]  # what it learned, why promoted
        assert last["promoted"] and last["metrics_after"]["new_tags"] == ["NewTag"]
        assert last["status"] == "done" and "promoted" in last["reason"]
        like = _chain_job(random.Random(99), 99)
        pred = client.post("/predict", json={"jobs": [_job(replace(like, job_id="like-1"))]})
        assert "NewTag" in pred.json()["predictions"][0]["tags"], pred.json()
