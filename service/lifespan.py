"""App lifetime: load the judge (off the event loop, so /healthz answers meanwhile), warm it up, run the
micro-batcher, and on shutdown drain the queue before the process exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from heapmetric.judges.base import Judge, ScoreItem
from service.batching import MicroBatcher
from service.metrics import ServiceMetrics
from service.public import PathRedactor
from service.settings import Settings

log = logging.getLogger(__name__)

WARMUP_ITEM = ScoreItem(
    output="A short warm-up text.", source="Warm-up input.", instruction="Rate how fluent the text is."
)


@dataclass
class ServiceState:
    """Everything the routers need, kept on ``app.state.service``."""

    settings: Settings
    metrics: ServiceMetrics
    key_digests: list[bytes]
    judge: Judge | None = None
    batcher: MicroBatcher | None = None
    status: str = "loading"  # loading | ready | failed | draining
    detail: str | None = None
    on_fatal: Callable[[str], Any] | None = None
    # shows the model by name, never by local path, in responses
    redact: PathRedactor = field(default_factory=lambda: PathRedactor(None))
    _tasks: list[asyncio.Task] = field(default_factory=list)


def load_judge(settings: Settings) -> Judge:
    """The judge the settings name, loaded through :func:`heapmetric.load` (may take a while)."""
    import heapmetric

    return heapmetric.load(
        settings.model,
        device=settings.device,
        dtype=settings.dtype,
        quantization=settings.quantization,
        max_length=settings.max_length,
    )


async def _prepare(state: ServiceState, judge: Judge | None) -> None:
    try:
        if judge is None:
            judge = await asyncio.to_thread(load_judge, state.settings)
        if state.settings.warmup:
            await asyncio.to_thread(judge.score, [WARMUP_ITEM])
    except Exception as exc:  # noqa: BLE001 - any failure leaves the server alive but not ready
        # the reason may name local paths: it goes to the log, not to clients
        state.status, state.detail = "failed", "the model could not be loaded (see the server log)"
        log.error("heapmetric serve: the model could not be loaded: %s", exc)
        if state.on_fatal is not None:
            state.on_fatal(str(exc))
        return
    s = state.settings
    batcher = MicroBatcher(
        judge,
        max_batch_tokens=s.max_batch_tokens,
        max_batch_items=s.max_batch_items,
        max_wait_ms=s.max_wait_ms,
        max_queue=s.max_queue,
        request_timeout_s=s.request_timeout_s,
        metrics=state.metrics,
    )
    batcher.start()
    state.judge, state.batcher, state.status = judge, batcher, "ready"
    log.info("heapmetric serve: ready (%s)", judge.info.name)


def make_lifespan(judge: Judge | None) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The lifespan for :func:`service.app.create_app`; ``judge`` skips loading (tests, embedding)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state: ServiceState = app.state.service
        task = asyncio.get_running_loop().create_task(_prepare(state, judge), name="heapmetric-load")
        state._tasks.append(task)
        try:
            yield
        finally:
            # uvicorn has stopped accepting and waited for open requests; finish whatever is still queued
            previous, state.status = state.status, "draining"
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if state.batcher is not None:
                left = state.batcher.queued_items
                await state.batcher.stop()
                log.info("heapmetric serve: drained %d queued items (was %s)", left, previous)

    return lifespan
