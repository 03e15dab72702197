"""The chat-backend interface shared by synthesis, LLM judges and benchmarks.

A backend turns a list of chat messages (``{"role": ..., "content": ...}``) into one reply. Every backend is
async (``await backend.chat(...)``) so that callers can run many requests concurrently, and offers
``chat_sync`` for one-off calls from synchronous code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from heapmetric.errors import HeapmetricError

T = TypeVar("T")


class ChatBackendError(HeapmetricError):
    """A chat request failed for good (after any retries the backend makes)."""


class EndpointUnavailableError(ChatBackendError):
    """The endpoint could not be reached or kept failing (429, 5xx, timeouts) after every retry."""


class ChatRequestError(ChatBackendError):
    """The endpoint rejected the request itself (a 4xx other than 408/409/429): retrying cannot help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability and, if asked for, the most likely alternatives."""

    token: str
    logprob: float
    top_logprobs: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ChatResponse:
    """One reply: its text, token usage as the backend counted it, and the model that answered.

    ``logprobs`` is filled only when the request asked for them and the backend returned them.
    ``attempts`` counts HTTP attempts (1 when the first try succeeded).
    """

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None
    attempts: int = 1
    latency_s: float = 0.0
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that answers chat messages."""

    @property
    def name(self) -> str:
        """A stable identifier of backend + model, used in cache keys and provenance."""
        ...

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        **kw: Any,
    ) -> ChatResponse:
        """Reply to ``messages``; raise :class:`ChatBackendError` when no reply can be had."""
        ...


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code (refuses inside a running event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("chat_sync() was called inside a running event loop; use 'await backend.chat(...)'")
