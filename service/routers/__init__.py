"""Thin routes: each validates, hands work to the micro-batcher or registry, and maps the result to JSON."""

from service.schemas import ErrorResponse

ERROR_RESPONSES: dict[int | str, dict] = {
    401: {"model": ErrorResponse, "description": "missing or wrong API key"},
    413: {"model": ErrorResponse, "description": "request body too large"},
    422: {"model": ErrorResponse, "description": "invalid request; `field` names the offending field"},
    429: {"model": ErrorResponse, "description": "queue full; retry after the Retry-After header"},
    503: {"model": ErrorResponse, "description": "not ready, shutting down, or past the request timeout"},
}
BODY_ERROR_RESPONSES: dict[int | str, dict] = {
    **ERROR_RESPONSES,
    415: {"model": ErrorResponse, "description": "the body was not sent as application/json"},
}
