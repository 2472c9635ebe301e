"""``create_app(settings)``: builds the FastAPI application; nothing is created at import time.

``app.state`` holds ``settings`` (:class:`CentralSettings`), ``engine``, ``session_factory``,
``clock`` (:class:`anju.clock.Clock`), ``metrics`` (a prometheus ``CollectorRegistry`` other
components may register on) and ``services`` (:class:`CentralServices`, stateful helpers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import Engine, text

from anju import __version__
from anju.clock import Clock, SystemClock
from central.db import make_engine, make_session_factory
from central.errors import install_error_handlers
from central.settings import CentralSettings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


@dataclass
class CentralServices:
    """Stateful helpers shared by requests; others add fields (one line) as they need them.

    ``extras`` is a typed-by-convention escape hatch for components started by lifespan hooks.
    """

    face_pipeline: Any = None  # recognition.pipeline.FacePipeline, created on first enrolment
    signer: Any = None  # gateway.signing.Signer, see central.keys.app_signer
    extras: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[FastAPI], Awaitable[None]]
# Components append async callables run at start-up / shut-down (e.g. the MQTT ingest, WebSocket hub).
STARTUP_HOOKS: list[Hook] = []
SHUTDOWN_HOOKS: list[Hook] = []


def create_app(
    settings: CentralSettings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """The central application. Pass ``engine``/``clock`` in tests to share a database or drive time."""
    from central.routers import ROUTERS

    eng = engine if engine is not None else make_engine(settings.effective_database_url)
    if engine is None and settings.effective_database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in STARTUP_HOOKS:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(SHUTDOWN_HOOKS):
                await hook(app)
            if engine is None:
                eng.dispose()

    app = FastAPI(
        title="Anju 安居 central",
        version=__version__,
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = eng
    app.state.session_factory = make_session_factory(eng)
    app.state.clock = clock if clock is not None else SystemClock()
    app.state.services = CentralServices()
    registry = CollectorRegistry()
    app.state.metrics = registry
    requests_total = Counter(
        "anju_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram("anju_http_request_seconds", "HTTP request latency", ["route"], registry=registry)

    install_error_handlers(app)

    @app.middleware("http")
    async def limit_and_measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > settings.max_request_bytes
            except ValueError:
                too_big = False
            if too_big:
                return JSONResponse(
                    {
                        "code": "payload_too_large",
                        "message": "上传内容过大",
                        "message_en": f"request body over {settings.max_request_bytes} bytes",
                        "fields": [],
                    },
                    status_code=413,
                )
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        requests_total.labels(request.method, path, str(response.status_code)).inc()
        latency.labels(path).observe(time.perf_counter() - start)
        return response

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    from central.routers.console import mount_console

    mount_console(app)  # the web console at / and /console/… (static, same origin)
    return app
