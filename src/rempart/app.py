"""The FastAPI application: routers, error mapping, body limit."""

# ruff: noqa: E402 - the garbage collector is paused before the imports, see below.
from __future__ import annotations

import gc

# Importing the app builds over a hundred thousand objects (tables, schemas, routes) that
# live as long as the process, and hardly any garbage: the collector's repeated passes over
# them cost about a fifth of start-up CPU. It is paused while the imports below run; then
# those objects are frozen out of its sight, so later collections in a web process skip them.
_collecting = gc.isenabled()
gc.disable()

import ctypes
import logging
import signal
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Subscribes the domains to each other's hooks (subscriptions.py).
import rempart.subscriptions  # noqa: F401
from rempart.auth.api import router as auth_router
from rempart.core.clock import Clock, SystemClock
from rempart.core.crypto import load_keyring
from rempart.core.db import get_engine, is_busy_error, log_slow_writes
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError, error_body, safe_location_part
from rempart.core.settings import Settings, get_settings
from rempart.escalations.api import router as escalations_router
from rempart.hotline.api import router as hotline_router
from rempart.legal.api import router as legal_router
from rempart.legal.authority_api import router as authority_router
from rempart.moderation.api import router as moderation_router
from rempart.platform.api import EXTRA_SCHEMAS
from rempart.platform.api import router as ingest_router
from rempart.reports.api import router as reports_router
from rempart.search.api import router as search_router
from rempart.transparency.api import router as transparency_router
from rempart.transparency.log_api import router as audit_router
from rempart.web import (
    act_pages,
    admin_pages,
    legal_pages,
    moderation_pages,
    pages,
    review_pages,
    safety_pages,
    transparency_pages,
)
from rempart.web.access_log import AccessLog
from rempart.web.headers import SecurityHeaders
from rempart.web.pages import PageStop, problem_page, wants_page
from rempart.web.public_limit import PublicReadLimit

if _collecting:
    gc.enable()
gc.freeze()

log = logging.getLogger("rempart")
BUSY_RETRY_AFTER_SECONDS = 2

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class BodyLimit:
    """Answer 413 before reading more than the limit, whatever Content-Length claims."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        exceeded = False
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, refused
            if exceeded and not started:
                # The app may catch the error and answer something else (FastAPI turns a
                # failed read of a JSON body into a 400): whatever it says, the answer is 413.
                started = refused = True
                await self._refuse(send)
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                started = refused = True
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            error_body(
                "payload_too_large", f"The request body may hold at most {self.limit} bytes."
            ),
            status_code=413,
        )
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RempartError)
    async def _domain(_: Request, exc: RempartError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("server-side error: %s", exc.code)
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.details),
            status_code=exc.status_code,
            headers=exc.headers(),
        )

    @app.exception_handler(PageStop)
    async def _page_stop(_: Request, exc: PageStop) -> Response:
        return exc.response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # Only where and what rule: never the submitted value.
        if wants_page(request):
            fields = sorted({str(e.get("loc", ("",))[-1]) for e in exc.errors()})
            return problem_page(request, "invalid_form", details=", ".join(fields), status=422)
        problems = [
            {
                "field": ".".join(safe_location_part(p) for p in e.get("loc", ())),
                "code": e.get("type", "invalid"),
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_request", "The request is not valid.", items=problems),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_page(request) and exc.status_code in (404, 405):
            return problem_page(request, "page_not_found", details="", status=exc.status_code)
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        if not is_busy_error(exc):
            return await _unexpected(request, exc)
        log.warning("database busy: %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body(
                "database_busy",
                "The database is busy with other work; try again shortly.",
            ),
            status_code=503,
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body("internal_error", "An internal error occurred."), status_code=500
        )


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model in EXTRA_SCHEMAS.items():
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[name] = model_schema
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    keys = load_keyring(settings.key_file, demo=settings.demo)
    engine = get_engine(settings.database_url, lock_timeout=settings.database_lock_timeout_seconds)
    app = FastAPI(
        title="Rempart",
        version="0.1.0",
        description="Trust-&-safety and lawful-disclosure back office.",
    )
    app.state.runtime = Runtime(
        settings=settings, engine=engine, keys=keys, clock=clock or SystemClock()
    )
    _install_error_handlers(app)
    # Routes are matched in order, one regular expression each: the routers the platforms
    # call per event and per notice come first (no other router's path starts like theirs).
    app.include_router(ingest_router)
    app.include_router(reports_router)
    app.include_router(audit_router)
    app.include_router(auth_router)
    app.include_router(legal_router)
    app.include_router(authority_router)
    app.include_router(search_router)
    app.include_router(moderation_router)
    app.include_router(escalations_router)
    app.include_router(hotline_router)
    app.include_router(transparency_router)
    for web in (
        pages,
        moderation_pages,
        review_pages,
        safety_pages,
        legal_pages,
        act_pages,
        admin_pages,
        transparency_pages,
    ):
        app.include_router(web.router)
    app.mount("/static", StaticFiles(packages=[("rempart.web", "static")]), name="static")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PublicReadLimit, keys=keys, per_minute=settings.public_reads_per_minute)
    if settings.access_log:
        app.add_middleware(AccessLog, keys=keys)
    return app


def create_worker_app() -> FastAPI:
    """The app of one `rempart serve` worker process, which must not outlive its parent.

    uvicorn's supervisor forwards SIGTERM, but a SIGKILLed supervisor would leave its
    workers serving on the port; the kernel's parent-death signal ends them too.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    log_slow_writes()
    return create_app()
