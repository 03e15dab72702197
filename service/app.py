"""The app factory: ``create_app(settings=None, judge=None)``.

Run it with ``heapmetric serve`` or ``uvicorn --factory service.app:create_app``. Tests and embedders pass a
``judge`` (anything implementing :class:`heapmetric.judges.base.Judge`) to skip model loading.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heapmetric import __version__
from heapmetric.judges.base import Judge
from service.deps import key_digests
from service.errors import error_response, install_handlers
from service.lifespan import ServiceState, make_lifespan
from service.metrics import ServiceMetrics
from service.public import PathRedactor
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


class ErrorShapedCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, except that a refused preflight answers in the ErrorResponse shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace")  # "Disallowed CORS origin, method"
        keep = {
            k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
        }
        return error_response(
            response.status_code,
            "cors_rejected",
            f"CORS preflight refused: {reason.removeprefix('Disallowed CORS ')} not allowed",
            headers=keep,
        )


def _install_docs(app: FastAPI) -> bool:
    """Serve Swagger UI at ``/docs`` from the assets of the ``swagger-ui-bundle-v2`` package (no CDN);
    returns False, leaving ``/docs`` unrouted, when the package is not installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return False
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from starlette.staticfiles import StaticFiles

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/assets/favicon-32x32.png",
        )

    return True


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
        # FastAPI's own /docs and /redoc pages load their scripts from a CDN: blank offline
        docs_url=None,
        redoc_url=None,
        description="Learned NLG evaluation over HTTP: score outputs and compare pairs with a "
        "heapmetric judge. Errors always have the ErrorResponse shape.",
    )
    state.setdefault("redact", PathRedactor(settings.model))
    app.state.service = ServiceState(
        settings=settings, metrics=metrics, key_digests=key_digests(settings.all_api_keys()), **state
    )
    install_handlers(app)
    for module in (score, compare, models, criteria, health):
        app.include_router(module.router)
    has_docs = _install_docs(app)
    # the last middleware added is the outermost: CORS wraps the body limit, so a 413 carries CORS headers
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            ErrorShapedCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    routes = {
        getattr(r, "path", "") for m in (score, compare, models, criteria, health) for r in m.router.routes
    }
    routes |= {"/openapi.json", "/docs"} if has_docs else {"/openapi.json"}
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, routes=routes)
    return app
