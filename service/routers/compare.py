"""``POST /v1/compare``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from service.batching import finite
from service.deps import get_state, require_api_key
from service.lifespan import ServiceState
from service.routers import BODY_ERROR_RESPONSES
from service.schemas import CompareRequest, CompareResponse
from service.serving import pair_items, request_metadata, run_job

router = APIRouter(
    prefix="/v1", tags=["scoring"], dependencies=[Depends(require_api_key)], responses=BODY_ERROR_RESPONSES
)


@router.post(
    "/compare",
    response_model=CompareResponse,
    summary="Compare pairs of outputs",
    description="P(output_a is better than output_b) for each pair, in input order.",
)
async def compare(
    body: CompareRequest, request: Request, state: ServiceState = Depends(get_state)
) -> CompareResponse:
    pairs = pair_items(body, state)
    job = await run_job(state, "compare", pairs, request)
    probabilities = [finite(r[0]) for r in job.results]
    scores_a = [finite(r[1]) for r in job.results]
    scores_b = [finite(r[2]) for r in job.results]
    both = all(r[1] is not None and r[2] is not None for r in job.results)
    return CompareResponse(
        probabilities=probabilities,
        scores_a=scores_a if both else None,
        scores_b=scores_b if both else None,
        metadata=request_metadata(job.metadata, pairs, state),
    )
