"""The HTTP service (FastAPI): predict, feedback, review data, models, updates, tokens, review page."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from jobtag.app import Tagger
from jobtag.auth import Authenticator
from jobtag.config import Settings, load_settings
from jobtag.errors import InputError
from jobtag.httpguard import BodyLimit, install_error_handlers, install_offline_docs
from jobtag.records import MAX_ID_CHARS, make_job, text_problem
from jobtag.review import review_counts_data, review_page_data
from jobtag.serving import BackgroundUpdates, PredictionBatcher
from jobtag.store import JobStore
from jobtag.store.tokens import SCOPES, TokenInfo, scope_allows

log = logging.getLogger(__name__)

WEB = Path(__file__).with_name("web")
DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class JobIn(BaseModel):
    title: str
    description: str = ""
    job_id: str | None = None
    company_id: str | None = None
    company_name: str | None = None


class PredictIn(BaseModel):
    jobs: list[JobIn] = Field(..., min_length=1, max_length=1_000)
    top_k: int | None = Field(None, ge=1, le=10_000)
    record: bool = True
    explain: bool = False  # add, per decided tag, the job's words that pushed it most / against


class FeedbackIn(BaseModel):
    job_id: str
    tags: list[str] = Field(..., max_length=1_000)
    who: str | None = None


class TokenIn(BaseModel):
    name: str
    scope: str = "read"


def _checked(value: str | None, name: str, limit: int = MAX_ID_CHARS) -> None:
    problem = text_problem(value, name, limit)
    if problem:
        raise InputError(problem)


@dataclass(frozen=True)
class _Parts:
    """What the routes share: the Tagger, its batching worker and updates, the scope checks."""

    tagger: Tagger
    batcher: PredictionBatcher
    updates: BackgroundUpdates
    auth: bool
    read: Any  # Depends(...) that requires a token of this scope (or better)
    write: Any
    admin: Any

    @property
    def store(self) -> JobStore:
        return self.tagger.store


def create_app(
    settings: Settings | None = None,
    *,
    auth: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    allowed_hosts: list[str] | tuple[str, ...] = DEFAULT_HOSTS,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the app around one Tagger whose model and writes are owned by a batching worker.

    At start-up the model is loaded and warmed; `freeze_heap` (the server process, not tests)
    also freezes the start-up heap out of the garbage collector's full passes."""
    settings = settings or load_settings()
    tagger = Tagger(settings)
    updates = BackgroundUpdates(settings)
    batcher = PredictionBatcher(tagger, updates)
    authn = Authenticator(tagger.store, enabled=auth)
    if not auth:
        log.warning("AUTHENTICATION IS OFF (--no-auth): anyone reaching the port can write data")
    app = _app(settings, tagger, batcher, updates, max_body_bytes, allowed_hosts, freeze_heap)
    read, write, admin = (_requires(authn, scope) for scope in ("read", "write", "admin"))
    parts = _Parts(tagger, batcher, updates, auth, read, write, admin)
    _add_job_routes(app, parts)
    _add_review_routes(app, parts)
    _add_model_routes(app, parts)
    _add_token_routes(app, parts)
    _add_review_page(app)
    return app


def _app(
    settings: Settings,
    tagger: Tagger,
    batcher: PredictionBatcher,
    updates: BackgroundUpdates,
    max_body_bytes: int,
    allowed_hosts: list[str] | tuple[str, ...],
    freeze_heap: bool,
) -> FastAPI:
    """The app without routes: the worker's lifespan, error pages, offline docs, guards, assets."""

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202 - an async context manager
        batcher.start(warm_up=True, freeze_heap=freeze_heap)
        try:
            yield
        finally:
            batcher.stop()
            updates.join(5)
            tagger.close()

    app = FastAPI(
        title="jobtag",
        version=__import__("jobtag").__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.batcher, app.state.updates, app.state.tagger = batcher, updates, tagger
    install_error_handlers(app, secrets=[str(settings.home), str(settings.database_url)])
    install_offline_docs(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app


_BEARER = HTTPBearer(auto_error=False, description="a token from `jobtag token create`")


def _requires(authn: Authenticator, scope: str) -> Any:
    """A route dependency: the caller's bearer token must grant `scope`; returns its TokenInfo."""

    def check(creds: HTTPAuthorizationCredentials | None = Depends(_BEARER)) -> TokenInfo:
        header = f"Bearer {creds.credentials}" if creds is not None else None
        return authn.require(header, scope)

    return Depends(check)


def _add_job_routes(app: FastAPI, parts: _Parts) -> None:
    """/health, /predict, /feedback, /jobs/{id}, /recent."""
    tagger, batcher, updates, store = parts.tagger, parts.batcher, parts.updates, parts.store

    @app.get("/health")
    def health() -> dict[str, Any]:
        active = store.active_model()
        return {
            "ok": True,
            "model_version": active.version if active else None,
            "model": Path(active.path).name if active else None,
            "auth": parts.auth,
            "update_running": updates.running,
        }

    @app.post("/predict")
    async def predict(body: PredictIn, who: TokenInfo = parts.read) -> dict[str, Any]:
        jobs = [make_job(j.title, j.description, j.job_id, j.company_id, j.company_name)
                for j in body.jobs]  # fmt: skip
        record = body.record and scope_allows(who.scope, "write")
        preds, started = await batcher.predict(jobs, record, body.explain)
        return {
            "predictions": [p.to_dict(body.top_k) for p in preds],
            "recorded": record,
            "update_started": started,
        }

    @app.post("/feedback")
    def feedback(body: FeedbackIn, who: TokenInfo = parts.write) -> dict[str, Any]:
        _checked(body.job_id, "job_id")
        _checked(body.who, "who")
        for tag in body.tags:
            _checked(tag, "tags")
        tagger.feedback(body.job_id, body.tags, who=body.who or who.name, source="http")
        updates.poke(tagger)
        return {
            "ok": True,
            "job_id": body.job_id,
            "tags": sorted({t.strip() for t in body.tags if t.strip()}),
        }

    @app.get("/jobs/{job_id}", dependencies=[parts.read])
    def job(job_id: Annotated[str, PathParam()]) -> dict[str, Any]:
        _checked(job_id, "job_id")
        return tagger.job_details(job_id)

    @app.get("/recent", dependencies=[parts.read])
    def recent(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        return {"jobs": tagger.recent_predictions(limit)}


def _add_review_routes(app: FastAPI, parts: _Parts) -> None:
    """/review/queue, /review/counts, /tags, /stats: what the review page reads."""
    tagger = parts.tagger

    @app.get("/review/queue", dependencies=[parts.read])
    def review_queue(
        state: Annotated[str, Query(pattern="^(unreviewed|reviewed|all)$")] = "unreviewed",
        tag: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        explain: bool = True,
    ) -> dict[str, Any]:
        _checked(tag, "tag")
        return review_page_data(tagger, state, tag or None, offset, limit, explain)

    @app.get("/review/counts", dependencies=[parts.read])
    def review_counts() -> dict[str, Any]:
        return review_counts_data(tagger, parts.updates.running)

    @app.get("/tags", dependencies=[parts.read])
    def tags() -> dict[str, Any]:
        return {"tags": parts.store.known_tags()}

    @app.get("/stats", dependencies=[parts.read])
    def stats() -> dict[str, Any]:
        return tagger.stats()


def _add_model_routes(app: FastAPI, parts: _Parts) -> None:
    """/models (list, promote, rollback) and /update."""
    store = parts.store

    @app.get("/models", dependencies=[parts.read])
    def models() -> dict[str, Any]:
        listed = [{**m.__dict__, "path": Path(m.path).name} for m in store.list_models()]
        return {"models": listed, "history": store.update_history()}

    @app.post("/update", dependencies=[parts.admin])
    def update() -> dict[str, Any]:
        return parts.updates.run_now().to_dict()

    @app.post("/models/{version}/promote", dependencies=[parts.admin])
    def promote(version: int) -> dict[str, Any]:
        m = store.promote(version)
        return {"ok": True, "model_version": m.version}

    @app.post("/models/rollback", dependencies=[parts.admin])
    def rollback() -> dict[str, Any]:
        m = store.rollback()
        return {"ok": True, "model_version": m.version}


def _add_token_routes(app: FastAPI, parts: _Parts) -> None:
    """/tokens: list, create, revoke (admin only)."""
    store = parts.store

    @app.get("/tokens", dependencies=[parts.admin])
    def tokens() -> dict[str, Any]:
        return {"tokens": [{"name": t.name, "scope": t.scope, "created_at": t.created_at}
                           for t in store.list_tokens()]}  # fmt: skip

    @app.post("/tokens", dependencies=[parts.admin])
    def create_token(body: TokenIn) -> dict[str, Any]:
        if body.scope not in SCOPES:
            raise InputError(f"scope must be one of {', '.join(SCOPES)}")
        return {"name": body.name, "scope": body.scope,
                "token": store.create_token(body.name, body.scope)}  # fmt: skip

    @app.delete("/tokens/{name}", dependencies=[parts.admin])
    def revoke_token(name: str) -> dict[str, Any]:
        _checked(name, "name")
        store.revoke_token(name)
        return {"ok": True, "name": name}


def _add_review_page(app: FastAPI) -> None:
    """/: the review page (its script and styles come from /static)."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def review_page() -> HTMLResponse:
        return HTMLResponse(
            (WEB / "review.html").read_text(encoding="utf-8"),
            headers={"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"},
        )


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    auth: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    allowed_hosts: list[str] | tuple[str, ...] = (),
) -> None:
    """Run the service with uvicorn (blocking)."""
    import uvicorn

    hosts = list(
        dict.fromkeys(
            [*DEFAULT_HOSTS, *allowed_hosts, *([host] if host not in ("0.0.0.0", "::") else [])]
        )
    )
    app = create_app(
        settings, auth=auth, max_body_bytes=max_body_bytes, allowed_hosts=hosts, freeze_heap=True
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
