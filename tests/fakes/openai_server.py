"""A real OpenAI-compatible HTTP server on loopback for tests, with deterministic failure injection.

The server is FastAPI + uvicorn in a background thread on a free port. The reply text comes from a function
of the request (so replies are deterministic whatever the call order), and failures are injected by call
index or by a rule::

    def reply(messages, body):
        return "echo: " + messages[-1]["content"]

    with FakeOpenAIServer(reply, failures={0: Failure("429", retry_after=0.01), 2: Failure("500")}) as srv:
        backend = OpenAIChatBackend(srv.base_url, "fake-model")
        ...
        assert srv.count(kind="429") == 1

A request without the right bearer token (when ``api_key`` is set) is logged with failure
``"unauthorized"`` and answered 401.

Endpoints: ``POST /v1/chat/completions`` (``logprobs``/``top_logprobs`` honoured), ``GET /v1/models``,
``GET /health``. Each request is logged in ``server.requests`` (index, body, failure, status).
Token usage is whitespace word counts (deterministic, not a real tokenizer).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

FAILURE_KINDS = ("429", "500", "503", "malformed", "delay", "status")


@dataclass(frozen=True)
class Failure:
    """One injected failure.

    - ``"429"``: Too Many Requests, with ``Retry-After: retry_after`` when given;
    - ``"500"`` / ``"503"``: a server error;
    - ``"malformed"``: HTTP 200 whose body is not valid JSON (``body`` overrides the text sent);
    - ``"delay"``: sleep ``delay`` seconds, then answer normally (use a delay beyond the client timeout);
    - ``"status"``: any other ``status`` code with a JSON error body.
    """

    kind: str
    retry_after: float | None = None
    delay: float = 0.0
    status: int | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {self.kind!r}; expected one of {FAILURE_KINDS}")


@dataclass(frozen=True)
class FakeReply:
    """A reply with more than text: explicit logprobs ``[(token, logprob, [(alt, alt_logprob), ...]), ...]``,
    token counts and finish reason."""

    text: str
    logprobs: list[tuple[str, float, list[tuple[str, float]]]] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"


@dataclass
class RequestLog:
    """What the server saw for one chat request and how it answered."""

    index: int
    body: dict[str, Any]
    failure: str | None
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])


ReplyFn = Callable[[list[dict[str, Any]], dict[str, Any]], "str | FakeReply"]
FailureRule = Callable[[int, dict[str, Any]], "Failure | None"]


def echo_reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """The default reply: the last message's content, prefixed with ``echo: ``."""
    return "echo: " + str(messages[-1].get("content", "")) if messages else "echo:"


def fail_every(n: int, failure: Failure, *, offset: int = 0) -> FailureRule:
    """A rule injecting ``failure`` on calls ``offset, offset + n, offset + 2n, ...``."""

    def rule(index: int, body: dict[str, Any]) -> Failure | None:
        return failure if index >= offset and (index - offset) % n == 0 else None

    return rule


def fail_first_attempt_of_each_prompt(failure: Failure) -> FailureRule:
    """A rule failing the first request of every distinct message list (each prompt then succeeds on its
    retry): a deterministic way to exercise retries whatever the request order."""
    seen: set[str] = set()
    lock = threading.Lock()

    def rule(index: int, body: dict[str, Any]) -> Failure | None:
        key = json.dumps(body.get("messages"), sort_keys=True)
        with lock:
            if key in seen:
                return None
            seen.add(key)
        return failure

    return rule


def _words(text: str) -> int:
    return len(text.split())


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions server on ``127.0.0.1:<free port>`` (see the module docstring).

    ``failures`` is a ``{call_index: Failure}`` dict or a ``rule(index, body) -> Failure | None``;
    ``api_key`` makes the server demand ``Authorization: Bearer <api_key>`` (401 otherwise).
    """

    def __init__(
        self,
        reply: ReplyFn | None = None,
        *,
        failures: dict[int, Failure] | FailureRule | None = None,
        model: str = "fake-model",
        api_key: str | None = None,
        latency: float = 0.0,
    ) -> None:
        self.reply = reply or echo_reply
        self.failures = failures
        self.model, self.api_key, self.latency = model, api_key, latency
        self.requests: list[RequestLog] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no ``/v1``)."""
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, what OpenAI clients take as ``base_url``."""
        return self.url + "/v1"

    def start(self) -> FakeOpenAIServer:
        import uvicorn

        sock = _free_socket()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"fake-openai-{self.port}"
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- inspection --------------------------------------------------------------------------------
    def count(self, kind: str | None = None) -> int:
        """Chat requests seen; with ``kind``, those answered with that failure (``"ok"`` for successes)."""
        with self._lock:
            if kind is None:
                return len(self.requests)
            return sum(1 for r in self.requests if (r.failure or "ok") == kind)

    def reset(self) -> None:
        """Forget the request log (call indices restart at 0)."""
        with self._lock:
            self.requests.clear()

    # -- the app -----------------------------------------------------------------------------------
    def _failure_for(self, index: int, body: dict[str, Any]) -> Failure | None:
        if self.failures is None:
            return None
        if callable(self.failures):
            return self.failures(index, body)
        return self.failures.get(index)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        result = self.reply(messages, body)
        reply = result if isinstance(result, FakeReply) else FakeReply(text=str(result))
        prompt_tokens = (
            reply.prompt_tokens
            if reply.prompt_tokens is not None
            else sum(_words(str(m.get("content", ""))) for m in messages)
        )
        completion_tokens = (
            reply.completion_tokens if reply.completion_tokens is not None else _words(reply.text)
        )
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": reply.text},
            "finish_reason": reply.finish_reason,
        }
        if body.get("logprobs"):
            top_n = int(body.get("top_logprobs") or 0)
            if reply.logprobs is not None:
                content = [
                    {
                        "token": t,
                        "logprob": lp,
                        "top_logprobs": [{"token": a, "logprob": alp} for a, alp in alts[:top_n]],
                    }
                    for t, lp, alts in reply.logprobs
                ]
            else:
                content = [
                    {"token": t, "logprob": 0.0, "top_logprobs": [{"token": t, "logprob": 0.0}][:top_n]}
                    for t in reply.text.split()
                ]
            choice["logprobs"] = {"content": content}
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _app(self) -> Any:
        app = FastAPI()

        @app.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": self.model, "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            try:
                body = json.loads(await request.body())
            except json.JSONDecodeError:
                return JSONResponse({"error": {"message": "invalid JSON body"}}, status_code=400)
            if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
                with self._lock:
                    self.requests.append(
                        RequestLog(index=len(self.requests), body=body, failure="unauthorized", status=401)
                    )
                return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
            with self._lock:
                index = len(self.requests)
                failure = self._failure_for(index, body)
                entry = RequestLog(
                    index=index, body=body, failure=failure.kind if failure else None, status=200
                )
                self.requests.append(entry)
            if self.latency:
                await asyncio.sleep(self.latency)
            if failure is not None:
                if failure.kind == "429":
                    entry.status = 429
                    headers = (
                        {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
                    )
                    return JSONResponse(
                        {"error": {"message": "rate limited"}}, status_code=429, headers=headers
                    )
                if failure.kind in ("500", "503"):
                    entry.status = int(failure.kind)
                    return JSONResponse(
                        {"error": {"message": "injected server error"}}, status_code=entry.status
                    )
                if failure.kind == "status":
                    entry.status = failure.status or 400
                    return JSONResponse({"error": {"message": "injected error"}}, status_code=entry.status)
                if failure.kind == "malformed":
                    text = failure.body if failure.body is not None else '{"choices": [ {"message": '
                    return Response(text, media_type="application/json")
                if failure.kind == "delay":
                    await asyncio.sleep(failure.delay)
            return JSONResponse(self._completion(body))

        return app


@pytest.fixture
def fake_openai_server() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """A factory fixture: ``srv = fake_openai_server(reply, failures=...)`` starts a server that is stopped
    at the end of the test. Import it into a conftest.py to use it."""
    servers: list[FakeOpenAIServer] = []

    def make(reply: ReplyFn | None = None, **kwargs: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(reply, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
