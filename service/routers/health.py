"""``GET /healthz`` (alive), ``GET /readyz`` (model loaded and warmed), ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from service.deps import get_state, require_api_key
from service.lifespan import ServiceState
from service.schemas import Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="Alive")
async def healthz() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    summary="Model loaded and warmed",
    responses={503: {"model": Status, "description": "loading, failed or draining"}},
)
async def readyz(state: ServiceState = Depends(get_state)) -> JSONResponse:
    body = Status(status=state.status, detail=None if state.status == "ready" else state.detail)
    return JSONResponse(body.model_dump(), status_code=200 if state.status == "ready" else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    dependencies=[Depends(require_api_key)],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(state: ServiceState = Depends(get_state)) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
