"""The HTTP service (FastAPI): predict, feedback, stats, models, update, and a small review page."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from jobtag.config import Settings, load_settings
from jobtag.errors import JobtagError
from jobtag.tagger import Tagger, make_job

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("web") / "review.html"


class JobIn(BaseModel):
    title: str = Field(..., max_length=1_000)
    description: str = ""
    job_id: str | None = None
    company_id: str | None = None
    company_name: str | None = None


class PredictIn(BaseModel):
    jobs: list[JobIn] = Field(..., min_length=1, max_length=1_000)
    top_k: int | None = Field(None, ge=1)
    record: bool = True


class FeedbackIn(BaseModel):
    job_id: str
    tags: list[str]
    who: str | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app around one Tagger (one store, the active model reloaded when it changes)."""
    settings = settings or load_settings()
    tagger = Tagger(settings)
    lock = threading.Lock()  # the model and the store connection pool are shared by workers
    app = FastAPI(title="jobtag", version=__import__("jobtag").__version__)

    @app.exception_handler(JobtagError)
    async def _domain_error(_: Request, exc: JobtagError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.http_status, content={"error": type(exc).__name__, "detail": str(exc)}
        )

    @app.get("/health")
    def health() -> dict[str, Any]:
        active = tagger.store.active_model()
        return {"ok": True, "model_version": active["version"] if active else None}

    @app.post("/predict")
    def predict(body: PredictIn) -> dict[str, Any]:
        jobs = [
            make_job(j.title, j.description, j.job_id, j.company_id, j.company_name)
            for j in body.jobs
        ]
        with lock:
            preds = tagger.predict(jobs, record=body.record, source="http")
        update = None
        if body.record and settings.update.auto:
            update = _update_in_background()
        return {"predictions": [p.to_dict(body.top_k) for p in preds], "update_started": update}

    update_thread: dict[str, threading.Thread | None] = {"t": None}

    def _update_in_background() -> bool:
        """Run a due update beside the server; predictions keep using the current model."""
        from jobtag.updating import maybe_update

        t = update_thread["t"]
        if t is not None and t.is_alive():
            return False
        if tagger.store.jobs_since_last_update() < settings.update.every_n_jobs:
            return False

        def run() -> None:
            try:
                with Tagger(settings) as own:
                    maybe_update(own, progress=False)
            except JobtagError as exc:
                log.warning("background update did not run: %s", exc)

        update_thread["t"] = threading.Thread(target=run, name="jobtag-update", daemon=True)
        update_thread["t"].start()
        return True

    @app.post("/feedback")
    def feedback(body: FeedbackIn) -> dict[str, Any]:
        with lock:
            tagger.feedback(body.job_id, body.tags, who=body.who, source="http")
        return {"ok": True, "job_id": body.job_id, "tags": sorted(set(body.tags))}

    @app.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        return tagger.job_details(job_id)

    @app.get("/recent")
    def recent(limit: int = 50) -> dict[str, Any]:
        return {"jobs": tagger.recent_predictions(min(max(limit, 1), 500))}

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        return tagger.stats()

    @app.get("/models")
    def models() -> dict[str, Any]:
        return {"models": tagger.store.list_models(), "history": tagger.store.update_history()}

    @app.post("/update")
    def update() -> dict[str, Any]:
        from jobtag.updating import run_update

        with Tagger(settings) as own:
            result = run_update(own, progress=False)
        return result.to_dict()

    @app.get("/", response_class=HTMLResponse)
    def review_page() -> str:
        return PAGE.read_text(encoding="utf-8")

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service with uvicorn (blocking)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
