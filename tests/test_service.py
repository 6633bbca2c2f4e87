"""The HTTP service: predict, feedback, review data, errors as statuses, the review page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from jobtag.service import create_app

from .helpers import trained_tagger


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tagger = trained_tagger(tmp_path_factory.mktemp("svc"), jobs=300)
    settings = tagger.settings
    settings.update.every_n_jobs = 10_000  # no background update in these tests
    tagger.close()
    with TestClient(create_app(settings)) as c:
        yield c


def test_predict_feedback_and_review(client):
    r = client.post("/predict", json={"jobs": [
        {"title": "Senior Python Developer", "description": "<p>django api</p>", "job_id": "h-1"},
        {"title": "Recruiter", "description": "sourcing candidates, interviews"},
    ], "top_k": 3})  # fmt: skip
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert preds[0]["job_id"] == "h-1" and len(preds[0]["scores"]) == 3
    assert preds[0]["model_version"] == 1

    r = client.post("/feedback", json={"job_id": "h-1", "tags": ["python", "Backend", "New"]})
    assert r.status_code == 200
    job = client.get("/jobs/h-1").json()
    assert job["tags"] == ["Backend", "New", "python"]
    assert job["corrections"][0]["tags"] == ["Backend", "New", "python"]

    recent = client.get("/recent").json()["jobs"]
    assert {j["job_id"] for j in recent} >= {"h-1"}
    first = next(j for j in recent if j["job_id"] == "h-1")
    assert first["human_tags"] == ["Backend", "New", "python"]

    assert client.get("/stats").json()["jobs"] >= 302
    assert client.get("/models").json()["models"][0]["status"] == "active"
    page = client.get("/")
    assert page.status_code == 200 and "review predictions" in page.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("post", "/feedback", {"job_id": "nope", "tags": ["a"]}, 404, "nope"),
        ("get", "/jobs/nope", None, 404, "nope"),
        ("post", "/predict", {"jobs": []}, 422, "jobs"),
        ("post", "/predict", {"jobs": [{"title": " ", "description": ""}]}, 422, "empty"),
        ("post", "/predict", {"jobs": [{"description": "no title"}]}, 422, "title"),
    ],
)
def test_errors_become_statuses(client, method, path, body, status, text):
    r = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert r.status_code == status, r.text
    assert text in r.text
