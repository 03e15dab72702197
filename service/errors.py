"""Errors the service answers with, and the handlers that turn every failure into one
:class:`~service.schemas.ErrorResponse` shape (no tracebacks, no internal paths)."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """An answer other than 2xx, with its status, error type, message and optional field path."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.field = status, type_, message, field
        self.headers = headers or {}


class QueueFull(ServiceError):
    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            429,
            "queue_full",
            f"the scoring queue is full; retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


class DeadlineExceeded(ServiceError):
    def __init__(self, timeout: float) -> None:
        super().__init__(
            503,
            "timeout",
            f"not answered within the server's {timeout:g} s request timeout",
            headers={"Retry-After": "1"},
        )


class NotReady(ServiceError):
    def __init__(self, message: str = "the model is still loading") -> None:
        super().__init__(503, "not_ready", message, headers={"Retry-After": "5"})


class Draining(ServiceError):
    def __init__(self) -> None:
        super().__init__(503, "shutting_down", "the server is shutting down", headers={"Retry-After": "1"})


def error_response(
    status: int, type_: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error shape: ``{"error": {"code", "type", "message", "field"}}``."""
    return JSONResponse(
        {"error": {"code": status, "type": type_, "message": message, "field": field}},
        status_code=status,
        headers=headers,
    )


def field_path(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """``("body", "items", 2, "source")`` -> ``items[2].source``; None for the body itself."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or None


_STATUS_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "queue_full",
    503: "unavailable",
}


def install_handlers(app: FastAPI) -> None:
    """Register handlers so every error, expected or not, answers with :class:`ErrorResponse`."""

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        if first.get("type") == "json_invalid":
            # loc is ("body", char position); the message must not echo the body
            pos = first["loc"][1] if len(first["loc"]) > 1 else None
            ctx = (first.get("ctx") or {}).get("error", "")
            where = f" at character {pos}" if pos is not None else ""
            return error_response(422, "invalid_json", f"malformed JSON{where}: {ctx}".rstrip(": "), "body")
        path = field_path(first.get("loc", ()))
        message = str(first.get("msg", "invalid value"))
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
        return error_response(422, "invalid_request", message, path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = _STATUS_TYPES.get(exc.status_code, "error")
        return error_response(exc.status_code, type_, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error (see the server log)")
