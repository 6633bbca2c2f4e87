"""The HTTP service: tokens and scopes, health, predict/feedback, bad input as 4xx, hardening."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from jobtag.service import create_app
from jobtag.store import JobStore

from .helpers import tiny_settings, trained_tagger

HOSTS = ["testserver"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained model (on SQLite) and its settings; reused by every test of this module."""
    tagger = trained_tagger(tmp_path_factory.mktemp("svc"), jobs=300)
    settings = tagger.settings
    settings.update.every_n_jobs = 10_000  # no background update in these tests
    model = tagger.store.active_model()
    tagger.close()
    return settings, model


@pytest.fixture(scope="module")
def tokens(trained):
    settings, _ = trained
    with JobStore(settings.database_url) as store:
        return {s: store.create_token(f"t-{s}", s) for s in ("read", "write", "admin")}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client(trained, tokens):
    with TestClient(
        create_app(trained[0], allowed_hosts=HOSTS), raise_server_exceptions=False
    ) as c:
        yield c


@pytest.fixture
def any_db_client(db_url, trained, tmp_path):
    """The service on a fresh SQLite / PostgreSQL / MariaDB store holding the trained model."""
    settings, model = trained
    own = tiny_settings(tmp_path / "home", db_url)
    own.update.every_n_jobs = 10_000
    with JobStore(db_url) as store:
        store.register_model(model.path, model.metrics, status="active")
        token = store.create_token("w", "write")
    with TestClient(create_app(own, allowed_hosts=HOSTS), raise_server_exceptions=False) as c:
        c.headers.update(auth(token))
        yield c


def test_health_names_the_active_model_without_a_token(client, trained):
    r = client.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] and body["model_version"] == 1 and body["auth"] is True
    assert body["model"] == trained[1].path.rsplit("/", 1)[-1]


def test_the_model_is_loaded_before_the_first_request(trained, tokens):
    settings, model = trained
    app = create_app(settings, allowed_hosts=HOSTS)
    with JobStore(settings.database_url) as store:
        jobs_before = store.count_jobs()
    with TestClient(app):
        assert app.state.batcher.warmed_version == model.version
        assert app.state.tagger._model is not None and app.state.batcher.batches == 0
    with JobStore(settings.database_url) as store:
        assert store.count_jobs() == jobs_before  # the warm-up job is not stored


def test_scopes(client, tokens):
    fb = {"job_id": "1", "tags": ["python"]}
    r = client.post("/feedback", json=fb)
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    assert "'write'" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    assert client.post("/feedback", json=fb, headers=auth("jt_made-up")).status_code == 401
    assert (
        client.post("/feedback", json=fb, headers={"Authorization": "Basic x"}).status_code == 401
    )
    r = client.post("/feedback", json=fb, headers=auth(tokens["read"]))
    assert r.status_code == 403 and "needs scope 'write'" in r.json()["detail"]
    assert client.post("/feedback", json=fb, headers=auth(tokens["write"])).status_code == 200
    r = client.post("/update", headers=auth(tokens["write"]))
    assert r.status_code == 403 and "needs scope 'admin'" in r.json()["detail"]
    for path in ("/recent", "/stats", "/models", "/jobs/1"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=auth(tokens["read"])).status_code == 200, path
    assert client.get("/tokens", headers=auth(tokens["write"])).status_code == 403
    names = [
        t["name"] for t in client.get("/tokens", headers=auth(tokens["admin"])).json()["tokens"]
    ]
    assert names == ["t-admin", "t-read", "t-write"]


def test_a_read_token_predicts_without_recording(client, tokens):
    job = {"title": "Data engineer", "description": "spark", "job_id": "read-only-1"}
    r = client.post("/predict", json={"jobs": [job]}, headers=auth(tokens["read"]))
    assert r.status_code == 200 and r.json()["recorded"] is False
    assert client.get("/jobs/read-only-1", headers=auth(tokens["read"])).status_code == 404
    r = client.post("/predict", json={"jobs": [job]}, headers=auth(tokens["write"]))
    assert r.json()["recorded"] is True
    assert client.get("/jobs/read-only-1", headers=auth(tokens["read"])).status_code == 200


def test_revoked_and_new_tokens_over_http(client, tokens):
    admin = auth(tokens["admin"])
    r = client.post("/tokens", json={"name": "tmp", "scope": "read"}, headers=admin)
    assert r.status_code == 200
    secret = r.json()["token"]
    assert client.get("/stats", headers=auth(secret)).status_code == 200
    assert client.delete("/tokens/tmp", headers=admin).status_code == 200
    assert client.delete("/tokens/tmp", headers=admin).status_code == 404


def test_predict_feedback_and_review(client, tokens):
    w = auth(tokens["write"])
    r = client.post("/predict", headers=w, json={"jobs": [
        {"title": "Senior Python Developer", "description": "<p>django api</p>", "job_id": "h-1"},
        {"title": "Recruiter", "description": "sourcing candidates, interviews"},
    ], "top_k": 3})  # fmt: skip
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert preds[0]["job_id"] == "h-1" and len(preds[0]["scores"]) == 3
    assert preds[0]["model_version"] == 1

    r = client.post(
        "/feedback", headers=w, json={"job_id": "h-1", "tags": ["python", "Backend", "New"]}
    )
    assert r.status_code == 200
    job = client.get("/jobs/h-1", headers=w).json()
    assert job["tags"] == ["Backend", "New", "python"]
    assert job["corrections"][0]["tags"] == ["Backend", "New", "python"]
    assert job["corrections"][0]["who"] == "t-write"

    recent = client.get("/recent", headers=w).json()["jobs"]
    first = next(j for j in recent if j["job_id"] == "h-1")
    assert first["human_tags"] == ["Backend", "New", "python"]
    assert client.get("/stats", headers=w).json()["jobs"] >= 302
    models = client.get("/models", headers=w).json()["models"]
    assert models[0]["status"] == "active" and "/" not in models[0]["path"]


def test_concurrent_predictions_are_batched_and_all_answered(client, tokens):
    app = client.app
    before = app.state.batcher.batches
    results: list[int] = []

    def one(i: int) -> None:
        r = client.post("/predict", headers=auth(tokens["write"]),
                        json={"jobs": [{"title": f"Python developer {i}", "job_id": f"c-{i}"}]})  # fmt: skip
        results.append(r.status_code)

    commits = [0]
    sa.event.listen(app.state.tagger.store.engine, "commit",
                    lambda _conn: commits.__setitem__(0, commits[0] + 1))  # fmt: skip
    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 24
    batches = app.state.batcher.batches - before
    assert batches <= 24
    assert commits[0] == batches  # one write transaction per recorded batch, features included
    assert client.get("/jobs/c-23", headers=auth(tokens["read"])).status_code == 200


LONG = "x" * 300
BAD_REQUESTS = [
    ("post", "/feedback", {"job_id": "nope", "tags": ["a"]}, 404, "nope"),
    ("get", "/jobs/nope", None, 404, "nope"),
    ("post", "/predict", {"jobs": []}, 422, "jobs"),
    ("post", "/predict", {"jobs": [{"title": " ", "description": ""}]}, 422, "empty"),
    ("post", "/predict", {"jobs": [{"description": "no title"}]}, 422, "title"),
    ("post", "/predict", {"jobs": [{"title": "a\x00b"}]}, 422, "title contains a NUL"),
    ("post", "/predict", {"jobs": [{"title": "t", "description": "\x00"}]}, 422, "description"),
    ("post", "/predict", {"jobs": [{"title": "t", "job_id": "a\x00"}]}, 422, "job_id"),
    ("post", "/predict", {"jobs": [{"title": "t", "job_id": LONG}]}, 422, "job_id longer"),
    ("post", "/predict", {"jobs": [{"title": "t", "company_id": LONG}]}, 422, "company_id"),
    ("post", "/predict", {"jobs": [{"title": "t", "company_name": "\x00"}]}, 422, "company_name"),
    ("post", "/predict", {"jobs": [{"title": "t" * 1001}]}, 422, "title has 1,001"),
    ("post", "/predict", {"jobs": [{"title": "t"}], "top_k": 0}, 422, "top_k"),
    ("post", "/feedback", {"job_id": "1", "tags": ["a\x00"]}, 422, "tags"),
    ("post", "/feedback", {"job_id": "1", "tags": [LONG]}, 422, "tags"),
    ("post", "/feedback", {"job_id": LONG, "tags": ["a"]}, 422, "job_id"),
    ("post", "/feedback", {"job_id": "1", "tags": "python"}, 422, "tags"),
    ("get", "/jobs/a%00b", None, 422, "job_id"),
    ("get", f"/jobs/{LONG}", None, 422, "job_id"),
    ("get", "/recent?limit=0", None, 422, "limit"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "text"), BAD_REQUESTS)
def test_bad_requests_are_4xx_naming_the_field_on_every_database(
    any_db_client, method, path, body, status, text
):
    r = getattr(any_db_client, method)(path, **({"json": body} if body is not None else {}))
    assert r.status_code == status, r.text
    assert text in r.json()["detail"]
    assert "://" not in r.text and "/tmp" not in r.text


@pytest.mark.parametrize(
    ("content", "ctype", "text"),
    [
        (b"\xff\xfe\x00\x81binary", "application/json", "body"),
        (b"not json", "application/json", "body"),
        (b"title=x", "text/plain", "body"),
        (b'{"jobs": [{"title": "\\ud800"}]}', "application/json", "lone surrogate"),
        (b'{"jobs": [{"title": "t", "job_id": "\\udfff"}]}', "application/json", "job_id"),
        (
            json.dumps({"jobs": [{"title": "t", "job_id": "é" * 256}]}).encode(),
            "application/json",
            "job_id",
        ),
    ],
)
def test_malformed_bodies_are_422_on_every_database(any_db_client, content, ctype, text):
    r = any_db_client.post("/predict", content=content, headers={"Content-Type": ctype})
    assert r.status_code == 422, r.text
    assert text in r.json()["detail"]


def test_body_limit_and_trusted_hosts(trained, tokens):
    app = create_app(trained[0], allowed_hosts=HOSTS, max_body_bytes=2_000)
    with TestClient(app, raise_server_exceptions=False) as c:
        w = auth(tokens["write"])
        big = {"jobs": [{"title": "t", "description": "d" * 5_000}]}
        r = c.post("/predict", json=big, headers=w)
        assert r.status_code == 413 and "2,000 bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: the limit applies while reading
            for _ in range(10):
                yield b" " * 1_000

        r = c.post("/predict", content=chunks(), headers={**w, "Content-Type": "application/json"})
        assert r.status_code == 413
        ok = c.post("/predict", json={"jobs": [{"title": "Python dev"}]}, headers=w)
        assert ok.status_code == 200
        assert c.get("/health", headers={"Host": "evil.example:8000"}).status_code == 400
        assert c.get("/health", headers={"Host": "testserver:8000"}).status_code == 200


def test_errors_hide_database_urls_and_paths(client, trained, tokens):
    r = client.post(
        "/feedback", json={"job_id": "nope", "tags": ["a"]}, headers=auth(tokens["write"])
    )
    settings = trained[0]
    assert r.status_code == 404
    assert str(settings.home) not in r.text and "sqlite" not in r.text and "/tmp" not in r.text


def test_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    js = client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs-assets/..%2F..%2Fsecrets").status_code == 404
    assert client.get("/openapi.json").json()["components"]["securitySchemes"]


def test_review_page_has_no_inline_script(client):
    page = client.get("/")
    assert page.status_code == 200 and "review queue" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/static/review.js")
    assert script.status_code == 200
    for text in (page.text, script.text):
        assert "onclick" not in text and "innerHTML" not in text
    assert "<script>" not in page.text


def test_no_auth_mode_says_so(trained, caplog):
    with TestClient(create_app(trained[0], auth=False, allowed_hosts=HOSTS)) as c:
        assert c.get("/stats").status_code == 200
        assert c.get("/health").json()["auth"] is False
    assert "AUTHENTICATION IS OFF" in caplog.text
