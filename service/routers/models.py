"""``GET /v1/models``: the judge actually loaded (device, dtype, quantization) and the request limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from heapmetric.judges.base import Judge
from service.deps import get_state, require_api_key
from service.errors import NotReady
from service.lifespan import ServiceState
from service.routers import ERROR_RESPONSES
from service.schemas import Limits, ModelCard, ModelsResponse

router = APIRouter(
    prefix="/v1", tags=["models"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES
)


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def describe(judge: Judge) -> ModelCard:
    """What is loaded, read from the judge's ``info.metadata`` and, failing that, its attributes."""
    info = judge.info
    meta = dict(info.metadata)

    def pick(key: str) -> Any:
        value = meta.get(key)
        if value is None:
            value = getattr(judge, key, None)
        return None if callable(value) else _plain(value)

    max_length = pick("max_length")
    return ModelCard(
        id=info.name,
        kind=info.kind,
        device=pick("device"),
        dtype=pick("dtype"),
        quantization=pick("quantization"),
        max_length=int(max_length) if isinstance(max_length, (int, float)) else None,
        order_free=info.order_free,
        metadata={k: _plain(v) for k, v in meta.items()},
    )


@router.get("/models", response_model=ModelsResponse, summary="The loaded model")
async def models(state: ServiceState = Depends(get_state)) -> ModelsResponse:
    if state.judge is None:
        raise NotReady(
            "the model failed to load" if state.status == "failed" else "the model is still loading"
        )
    s = state.settings
    return ModelsResponse(
        data=[describe(state.judge)],
        limits=Limits(
            max_items_per_request=s.max_items_per_request,
            max_chars_per_field=s.max_chars_per_field,
            max_body_bytes=s.max_body_bytes,
        ),
    )
