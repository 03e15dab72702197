"""The app factory: ``create_app(settings=None, judge=None)``.

Run it with ``heapmetric serve`` or ``uvicorn --factory service.app:create_app``. Tests and embedders pass a
``judge`` (anything implementing :class:`heapmetric.judges.base.Judge`) to skip model loading.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heapmetric import __version__
from heapmetric.judges.base import Judge
from service.deps import key_digests
from service.errors import error_response, install_handlers
from service.lifespan import ServiceState, make_lifespan
from service.metrics import ServiceMetrics
from service.settings import Settings, get_settings


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by Content-Length up front, or while a chunked body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # an HTTPException raised while the body is read reaches the app's handler
                    raise StarletteHTTPException(413, f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"request body larger than {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class RequestMetricsMiddleware:
    """Counts requests by route and status and records their latency."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: set[str]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in self.routes else "other"  # bounded label values
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def create_app(settings: Settings | None = None, judge: Judge | None = None, **state: Any) -> FastAPI:
    """A new app. ``settings`` default to the environment (``HEAPMETRIC_*``); ``judge`` skips loading.

    Extra keyword arguments are set on the :class:`~service.lifespan.ServiceState` (e.g. ``on_fatal``).
    """
    from service.routers import compare, criteria, health, models, score

    settings = settings or get_settings()
    metrics = ServiceMetrics()
    app = FastAPI(
        title="heapmetric",
        version=__version__,
        lifespan=make_lifespan(judge),
        description="Learned NLG evaluation over HTTP: score outputs and compare pairs with a "
        "heapmetric judge. Errors always have the ErrorResponse shape.",
    )
    app.state.service = ServiceState(
        settings=settings, metrics=metrics, key_digests=key_digests(settings.all_api_keys()), **state
    )
    install_handlers(app)
    for module in (score, compare, models, criteria, health):
        app.include_router(module.router)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    routes = {
        getattr(r, "path", "") for m in (score, compare, models, criteria, health) for r in m.router.routes
    }
    routes |= {"/openapi.json", "/docs", "/redoc"}
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, routes=routes)
    return app
