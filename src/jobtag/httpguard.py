"""HTTP hardening of the service: body limit (413), error bodies without URLs or paths, offline docs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobtag.errors import JobtagError, ModelError

log = logging.getLogger(__name__)

_URL = re.compile(r"\b[a-zA-Z][\w+.-]*://\S+")
_PATH = re.compile(r"(?<![\w:/.])(?:[A-Za-z]:)?(?:[/\\][\w .@~+-]+){2,}[/\\]?")
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def scrub(message: str, secrets: Iterable[str] = ()) -> str:
    """`message` without database URLs, filesystem paths or the given strings."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(s, "<hidden>")
    message = _URL.sub("<database>", message)
    return _PATH.sub(
        lambda m: "<path>/" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], message
    )


def error_body(kind: str, detail: Any, **extra: Any) -> dict[str, Any]:
    return {"error": kind, "detail": detail, **extra}


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before the app reads it all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(send)
            return
        seen = 0
        started = rejected = False

        async def limited() -> Message:
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:  # answer now; the app sees a client that went away
                    rejected = True
                    if not started:
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 was sent instead
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, limited, guarded_send)
        except ClientDisconnect:
            if not rejected:
                raise

    async def _reject(self, send: Send) -> None:
        resp = JSONResponse(
            error_body("RequestTooLarge", f"request body over {self.max_bytes:,} bytes"), 413
        )
        await resp({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _field(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI, secrets: Iterable[str] = ()) -> None:
    """Domain errors → their status; bad requests → 422 naming the field; nothing else leaks."""
    hidden = list(secrets)

    @app.exception_handler(JobtagError)
    async def _domain(_: Request, exc: JobtagError) -> JSONResponse:
        status = 503 if isinstance(exc, ModelError) and exc.http_status == 500 else exc.http_status
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return JSONResponse(
            error_body(type(exc).__name__, scrub(str(exc), hidden)),
            status,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": "body" if e.get("type") == "json_invalid" else _field(e.get("loc", ())),
                "message": str(e.get("msg", "invalid")),
            }
            for e in exc.errors()
        ]
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        return JSONResponse(error_body("InvalidRequest", text, fields=problems[:20]), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            detail = "body: not a JSON document (binary or not UTF-8)"
            return JSONResponse(error_body("InvalidRequest", detail, fields=[
                {"field": "body", "message": "not valid JSON"}]), 422)  # fmt: skip
        return JSONResponse(
            error_body("HTTPError", str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(error_body("InternalError", "internal error (see the server log)"), 500)


def install_offline_docs(app: FastAPI) -> None:
    """/docs served from the installed swagger-ui-py package (no CDN, works offline)."""
    import swagger_ui

    static = Path(swagger_ui.__file__).resolve().parent / "static"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in SWAGGER_FILES:
            raise StarletteHTTPException(404, "not found")
        return FileResponse(static / name)
