"""An OpenAI-compatible chat backend (OpenAI, vLLM, llama.cpp server, TGI ...) over HTTP with httpx.

Requests go to ``{base_url}/v1/chat/completions`` (``base_url`` may already end in ``/v1``). Up to
``concurrency`` requests are in flight at once, optionally no more than ``rate_limit`` per second. 429 (its
``Retry-After`` honoured), 408/409, 5xx, malformed bodies, timeouts and connection errors are retried with
exponential backoff and full jitter; other 4xx fail at once. Every retry is counted by kind in ``stats``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import time
import weakref
from collections import Counter
from typing import Any

from heapmetric.llm.base import (
    ChatRequestError,
    ChatResponse,
    EndpointUnavailableError,
    TokenLogprob,
    run_sync,
)

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
ERROR_KINDS = ("429", "5xx", "4xx_retryable", "timeout", "connection", "malformed")


class _Malformed(Exception):
    """The server answered 2xx but the body is not a chat completion."""


def _endpoint(base_url: str) -> str:
    url = base_url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_completion(body: Any, fallback_model: str) -> ChatResponse:
    """A :class:`ChatResponse` from a decoded ``/chat/completions`` body; raises ``ValueError`` if malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        raise ValueError("no 'choices' in the response")
    choice = body["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise ValueError("no 'choices[0].message' in the response")
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise ValueError("'choices[0].message.content' is not a string")
    usage = body.get("usage") or {}
    logprobs = None
    lp = choice.get("logprobs")
    if isinstance(lp, dict) and isinstance(lp.get("content"), list):
        logprobs = tuple(
            TokenLogprob(
                token=str(t.get("token", "")),
                logprob=float(t.get("logprob", 0.0)),
                top_logprobs=tuple(
                    (str(a.get("token", "")), float(a.get("logprob", 0.0)))
                    for a in (t.get("top_logprobs") or [])
                ),
            )
            for t in lp["content"]
            if isinstance(t, dict)
        )
    return ChatResponse(
        text=content,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        model=str(body.get("model") or fallback_model),
        finish_reason=choice.get("finish_reason"),
        logprobs=logprobs,
        raw=body,
    )


class _LoopState:
    """httpx client and concurrency primitives bound to one event loop."""

    def __init__(self, concurrency: int, timeout: float, headers: dict[str, str]) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=max(concurrency, 1)),
        )
        self.semaphore = asyncio.Semaphore(max(concurrency, 1))
        self.rate_lock = asyncio.Lock()
        self.next_slot = 0.0


class OpenAIChatBackend:
    """Chat completions from any OpenAI-compatible endpoint.

    ``api_key`` defaults to ``$OPENAI_API_KEY`` (sent as a bearer token when set). ``timeout`` is per attempt,
    in seconds. ``rate_limit`` caps requests started per second. ``max_retries`` is the number of retries
    after the first attempt; when they are spent :class:`EndpointUnavailableError` names the endpoint and the
    last failure. Use ``async with`` (or ``await aclose()``) to release connections.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 60,
        rate_limit: float | None = None,
        *,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        extra_headers: dict[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        from heapmetric.env import OPENAI_API_KEY

        self.base_url, self.model = base_url, model
        self.url = _endpoint(base_url)
        self.api_key = api_key if api_key is not None else os.environ.get(OPENAI_API_KEY)
        self.concurrency, self.max_retries, self.timeout = concurrency, max_retries, float(timeout)
        self.rate_limit = rate_limit
        self.backoff_base, self.backoff_max, self.retry_after_max = backoff_base, backoff_max, retry_after_max
        self.headers = {"Content-Type": "application/json", **(extra_headers or {})}
        if self.api_key:
            self.headers["Authorization"] = f"Bearer {self.api_key}"
        self._rng = random.Random(seed)
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self.errors: Counter[str] = Counter()
        self.calls = self.attempts = self.failures = 0
        self.input_tokens = self.output_tokens = 0

    @property
    def name(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    @property
    def stats(self) -> dict[str, Any]:
        """Counts so far: successful ``calls``, HTTP ``attempts``, ``retries``, ``failures`` (given up),
        ``errors`` by kind (429, 5xx, 4xx_retryable, timeout, connection, malformed) and tokens."""
        return {
            "calls": self.calls,
            "attempts": self.attempts,
            "retries": self.attempts - self.calls - self.failures,
            "failures": self.failures,
            "errors": {k: self.errors.get(k, 0) for k in ERROR_KINDS},
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState(self.concurrency, self.timeout, self.headers)
        return state

    async def aclose(self) -> None:
        """Close the connections opened from the running event loop."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.aclose()

    async def __aenter__(self) -> OpenAIChatBackend:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def _wait_rate(self, state: _LoopState) -> None:
        if not self.rate_limit:
            return
        async with state.rate_lock:
            now = time.monotonic()
            wait = state.next_slot - now
            state.next_slot = max(now, state.next_slot) + 1.0 / self.rate_limit
        if wait > 0:
            await asyncio.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    def request_body(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """The JSON body sent for one chat request (``kw`` passes through: ``logprobs``, ``top_logprobs``,
        ``seed``, ``stop``, ``top_p`` ...; ``None`` values are left out)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if response_format is not None:
            body["response_format"] = response_format
        body.update({k: v for k, v in kw.items() if v is not None})
        return body

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        **kw: Any,
    ) -> ChatResponse:
        """One chat completion, retried on transient failures (see the class docstring)."""
        import httpx

        body = self.request_body(
            messages, max_tokens=max_tokens, temperature=temperature, response_format=response_format, **kw
        )
        state = self._state()
        last = "no attempt made"
        async with state.semaphore:
            for attempt in range(self.max_retries + 1):
                await self._wait_rate(state)
                self.attempts += 1
                started = time.monotonic()
                wait: float | None = None
                try:
                    resp = await state.client.post(self.url, json=body)
                    if resp.status_code in RETRY_STATUS:
                        kind = (
                            "429"
                            if resp.status_code == 429
                            else "5xx"
                            if resp.status_code >= 500
                            else "4xx_retryable"
                        )
                        self.errors[kind] += 1
                        last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                        wait = _retry_after(resp.headers.get("retry-after"))
                        if wait is not None:
                            wait = min(wait, self.retry_after_max)
                    elif resp.status_code >= 400:
                        self.failures += 1
                        raise ChatRequestError(
                            f"{self.url} rejected the request: HTTP {resp.status_code}: {resp.text[:300]}",
                            status=resp.status_code,
                        )
                    else:
                        try:
                            result = parse_completion(resp.json(), self.model)
                        except ValueError as exc:  # json.JSONDecodeError is a ValueError
                            raise _Malformed(str(exc)) from exc
                        self.calls += 1
                        self.input_tokens += result.input_tokens
                        self.output_tokens += result.output_tokens
                        return ChatResponse(
                            **{
                                **result.__dict__,
                                "attempts": attempt + 1,
                                "latency_s": time.monotonic() - started,
                            }
                        )
                except _Malformed as exc:
                    self.errors["malformed"] += 1
                    last = f"malformed response body ({exc})"
                except httpx.TimeoutException:
                    self.errors["timeout"] += 1
                    last = f"timed out after {self.timeout:g} s"
                except httpx.TransportError as exc:
                    self.errors["connection"] += 1
                    last = f"connection error ({type(exc).__name__}: {exc})"
                if attempt < self.max_retries:
                    delay = wait if wait is not None else self._backoff(attempt)
                    log.debug("retrying %s in %.2fs after %s", self.url, delay, last)
                    await asyncio.sleep(delay)
        self.failures += 1
        raise EndpointUnavailableError(
            f"{self.url}: no answer after {self.max_retries + 1} attempts; last error: {last}"
        )

    def chat_sync(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        **kw: Any,
    ) -> ChatResponse:
        """:meth:`chat` from synchronous code (opens and closes its own connections)."""

        async def _one() -> ChatResponse:
            try:
                return await self.chat(
                    messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    response_format=response_format,
                    **kw,
                )
            finally:
                await self.aclose()

        return run_sync(_one())
