"""``GET /v1/models``: the judge actually loaded (device, dtype, quantization) and the request limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from heapmetric.io import json_safe
from heapmetric.judges.base import Judge
from service.deps import get_state, require_api_key
from service.errors import NotReady
from service.lifespan import ServiceState
from service.public import PathRedactor
from service.routers import ERROR_RESPONSES
from service.schemas import Limits, ModelCard, ModelsResponse

router = APIRouter(
    prefix="/v1", tags=["models"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES
)


def _plain(value: Any) -> Any:
    """JSON as /v1/score writes it: dicts and lists stay structured (``versions`` is an object in both), other
    objects (a torch dtype) become their text, non-finite numbers null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return json_safe(value) if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def describe(judge: Judge, redact: PathRedactor | None = None) -> ModelCard:
    """What is loaded, read from the judge's ``info.metadata`` and, failing that, its attributes; local
    paths replaced by the model's public name when ``redact`` is given."""
    redact = redact or PathRedactor(None)
    info = judge.info
    meta = redact(dict(info.metadata))

    def pick(key: str) -> Any:
        value = meta.get(key)
        if value is None:
            value = getattr(judge, key, None)
        return None if callable(value) else _plain(value)

    max_length = pick("max_length")
    return ModelCard(
        id=redact(info.name),
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
        data=[describe(state.judge, state.redact)],
        limits=Limits(
            max_items_per_request=s.max_items_per_request,
            max_chars_per_field=s.max_chars_per_field,
            max_body_bytes=s.max_body_bytes,
        ),
    )
