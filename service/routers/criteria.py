"""``GET /v1/criteria``: the registered tasks and criteria."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.deps import require_api_key
from service.routers import ERROR_RESPONSES
from service.schemas import CriteriaResponse, CriterionOut

router = APIRouter(
    prefix="/v1", tags=["criteria"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES
)


@router.get("/criteria", response_model=CriteriaResponse, summary="Registered criteria")
async def criteria() -> CriteriaResponse:
    from heapmetric import registry

    return CriteriaResponse(
        criteria=[
            CriterionOut(
                id=c.id,
                task=c.task,
                criterion=c.name,
                definition=c.definition,
                fields=list(c.fields),
                scale=list(c.scale) if c.scale else None,
                instruction=c.instruction,
                version=c.version,
            )
            for c in registry.list_criteria()
        ],
        registry_version=registry.registry_version(),
    )
