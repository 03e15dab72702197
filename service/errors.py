"""Errors the service answers with, and the handlers that turn every failure into one
:class:`~service.schemas.ErrorResponse` shape (no tracebacks, no internal paths)."""

from __future__ import annotations

import logging
import math
import re
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


# a command-line flag such as --task or --max-length (not a "--" inside a word or a longer run of dashes)
_CLI_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def http_message(message: str) -> str:
    """``message`` as an HTTP client should read it: command-line flags (``--task``, ``--max-length``) that
    library errors mention become the request's field names (``task``, ``max_length``)."""
    return _CLI_FLAG.sub(lambda m: m.group(1).replace("-", "_"), message)


def error_response(
    status: int, type_: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error shape: ``{"error": {"code", "type", "message", "field"}}`` (messages pass through
    :func:`http_message`)."""
    return JSONResponse(
        {"error": {"code": status, "type": type_, "message": http_message(message), "field": field}},
        status_code=status,
        headers=headers,
    )


def _is_json_media_type(value: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters (charset) ignored."""
    media = (value or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def unsupported_media_type(content_type: str | None) -> JSONResponse:
    """415 for a body sent without ``Content-Type: application/json``."""
    given = f"Content-Type was {content_type!r}" if content_type else "no Content-Type was given"
    return error_response(
        415, "unsupported_media_type", f"send the body as JSON with Content-Type: application/json ({given})"
    )


def _body_parse_error(cause: BaseException) -> str:
    """Why FastAPI could not parse a JSON body, without echoing the body."""
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not valid UTF-8 (byte {cause.start})"
    if isinstance(cause, RecursionError):
        return "the JSON is nested too deeply"
    return "the body could not be read as JSON"


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
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        content_type = request.headers.get("content-type")
        if tuple(first.get("loc", ())) == ("body",) and isinstance(first.get("input"), (bytes, bytearray)):
            # FastAPI parses a body as JSON only when it is labelled JSON; otherwise it hands over raw bytes
            if not _is_json_media_type(content_type):
                return unsupported_media_type(content_type)
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
        cause = exc.__cause__
        if exc.status_code == 400 and cause is not None and not isinstance(cause, StarletteHTTPException):
            # FastAPI answers 400 for a JSON body it cannot decode (not UTF-8, nested too deeply)
            return error_response(422, "invalid_json", f"malformed JSON: {_body_parse_error(cause)}", "body")
        type_ = _STATUS_TYPES.get(exc.status_code, "error")
        return error_response(exc.status_code, type_, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error (see the server log)")
