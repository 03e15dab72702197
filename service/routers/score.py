"""``POST /v1/score``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from heapmetric.judges.base import system_means
from service.batching import finite
from service.deps import get_state, require_api_key
from service.lifespan import ServiceState
from service.routers import BODY_ERROR_RESPONSES
from service.schemas import ScoreRequest, ScoreResponse
from service.serving import request_metadata, run_job, score_items

router = APIRouter(
    prefix="/v1", tags=["scoring"], dependencies=[Depends(require_api_key)], responses=BODY_ERROR_RESPONSES
)


@router.post(
    "/score",
    response_model=ScoreResponse,
    summary="Score outputs",
    description="Scores each item (in input order). Items from concurrent requests are batched "
    "together on the model; that never changes a score.",
)
async def score(
    body: ScoreRequest, request: Request, state: ServiceState = Depends(get_state)
) -> ScoreResponse:
    items = score_items(body, state)
    job = await run_job(state, "score", items, request)
    scores = [finite(r[0]) for r in job.results]
    calibrated = [finite(r[1]) for r in job.results]
    systems = [it.system for it in items]
    valid = [(s, n) for s, n in zip(scores, systems, strict=True) if s is not None]
    return ScoreResponse(
        scores=scores,
        calibrated=calibrated if any(c is not None for c in calibrated) else None,
        system_scores=system_means([s for s, _ in valid], [n for _, n in valid]) if any(systems) else {},
        truncated=job.truncated,
        metadata=request_metadata(job.metadata, items, state),
    )
