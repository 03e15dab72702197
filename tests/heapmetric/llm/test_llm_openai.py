"""OpenAIChatBackend against the real loopback fake server: replies, usage, logprobs, retries, errors."""

from __future__ import annotations

import asyncio
import time

import pytest

from heapmetric.llm import ChatRequestError, EndpointUnavailableError
from heapmetric.llm.openai import OpenAIChatBackend, _endpoint, _retry_after, parse_completion
from tests.fakes.openai_server import Failure, FakeOpenAIServer, FakeReply, fail_first_attempt_of_each_prompt

MSG = [{"role": "user", "content": "one two three"}]


def backend(srv: FakeOpenAIServer, **kw) -> OpenAIChatBackend:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("timeout", 5)
    return OpenAIChatBackend(srv.base_url, "fake-model", seed=0, **kw)


def test_endpoint_forms() -> None:
    assert _endpoint("http://h:1") == "http://h:1/v1/chat/completions"
    assert _endpoint("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert _endpoint("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_retry_after_parsing() -> None:
    assert _retry_after("2.5") == 2.5
    assert _retry_after(None) is None
    assert _retry_after("garbage") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def test_parse_completion_rejects_malformed() -> None:
    with pytest.raises(ValueError):
        parse_completion({"choices": []}, "m")
    with pytest.raises(ValueError):
        parse_completion({"choices": [{"message": {"content": 3}}]}, "m")


def test_reply_usage_and_request_body() -> None:
    with FakeOpenAIServer(lambda m, b: "alpha beta", api_key="k") as srv:
        b = backend(srv, api_key="k")
        r = b.chat_sync(MSG, max_tokens=7, temperature=0.3, response_format={"type": "json_object"}, seed=3)
        assert (r.text, r.input_tokens, r.output_tokens, r.model, r.attempts) == (
            "alpha beta",
            3,
            2,
            "fake-model",
            1,
        )
        sent = srv.requests[0].body
        assert sent["max_tokens"] == 7 and sent["temperature"] == 0.3 and sent["seed"] == 3
        assert sent["response_format"] == {"type": "json_object"}
        assert b.stats["calls"] == 1 and b.stats["input_tokens"] == 3


def test_wrong_api_key_fails_without_retry() -> None:
    with FakeOpenAIServer(api_key="right") as srv:
        b = backend(srv, api_key="wrong")
        with pytest.raises(ChatRequestError, match="HTTP 401"):
            b.chat_sync(MSG, max_tokens=4)
        assert srv.count() == 1


def test_logprobs_round_trip() -> None:
    reply = FakeReply("5", logprobs=[("5", -0.1, [("5", -0.1), ("4", -2.5), ("3", -4.0)])])
    with FakeOpenAIServer(lambda m, b: reply) as srv:
        r = backend(srv).chat_sync(MSG, max_tokens=1, logprobs=True, top_logprobs=2)
        assert r.logprobs is not None and r.logprobs[0].token == "5"
        assert r.logprobs[0].top_logprobs == (("5", -0.1), ("4", -2.5))
        assert srv.requests[0].body["top_logprobs"] == 2


def test_every_failure_kind_is_retried_and_counted() -> None:
    failures = {
        0: Failure("429", retry_after=0.05),
        1: Failure("500"),
        2: Failure("malformed"),
        3: Failure("delay", delay=1.5),
        4: Failure("503"),
    }
    with FakeOpenAIServer(failures=failures) as srv:
        b = backend(srv, timeout=0.5)
        start = time.monotonic()
        r = b.chat_sync(MSG, max_tokens=4)
        assert r.text == "echo: one two three" and r.attempts == 6
        assert time.monotonic() - start >= 0.05 + 0.5  # Retry-After and the timeout were both waited out
        assert b.stats["errors"] == {
            "429": 1,
            "5xx": 2,
            "4xx_retryable": 0,
            "timeout": 1,
            "connection": 0,
            "malformed": 1,
        }
        assert b.stats["retries"] == 5 and b.stats["failures"] == 0
        assert [r.failure for r in srv.requests] == ["429", "500", "malformed", "delay", "503", None]


def test_gives_up_after_max_retries_with_clear_error() -> None:
    with FakeOpenAIServer(failures=lambda i, b: Failure("500")) as srv:
        b = backend(srv, max_retries=2)
        with pytest.raises(EndpointUnavailableError, match=r"no answer after 3 attempts.*HTTP 500"):
            b.chat_sync(MSG, max_tokens=4)
        assert srv.count() == 3 and b.stats["failures"] == 1


def test_unreachable_endpoint() -> None:
    with FakeOpenAIServer() as srv:
        url = srv.base_url
    b = OpenAIChatBackend(url, "m", max_retries=1, backoff_base=0.01, timeout=2)
    with pytest.raises(EndpointUnavailableError, match="connection error"):
        b.chat_sync(MSG, max_tokens=4)
    assert b.stats["errors"]["connection"] == 2


def test_concurrency_limit_and_many_parallel_requests() -> None:
    with FakeOpenAIServer(
        lambda m, b: m[-1]["content"],
        latency=0.1,
        failures=fail_first_attempt_of_each_prompt(Failure("429", retry_after=0)),
    ) as srv:
        b = backend(srv, concurrency=4)

        async def go() -> list[str]:
            async with b:
                rs = await asyncio.gather(
                    *(b.chat([{"role": "user", "content": f"q{i}"}], max_tokens=4) for i in range(12))
                )
            return [r.text for r in rs]

        start = time.monotonic()
        assert asyncio.run(go()) == [f"q{i}" for i in range(12)]
        elapsed = time.monotonic() - start
        # 24 requests of 0.1 s, 4 at a time: at least 6 rounds
        assert elapsed >= 0.6
        assert srv.count("429") == 12 and b.stats["errors"]["429"] == 12


def test_rate_limit_spaces_requests() -> None:
    with FakeOpenAIServer() as srv:
        b = backend(srv, rate_limit=20)

        async def go() -> None:
            async with b:
                await asyncio.gather(*(b.chat(MSG, max_tokens=2) for _ in range(5)))

        start = time.monotonic()
        asyncio.run(go())
        assert time.monotonic() - start >= 4 / 20 - 0.01
