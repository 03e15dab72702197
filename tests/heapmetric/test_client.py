"""The HTTP clients against real uvicorn servers on loopback: same results as the judge in-process,
chunking, retries on 429/503 (honouring Retry-After), no retries on client errors."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from heapmetric.client import AsyncHeapmetricClient, HeapmetricClient, ServerError
from heapmetric.errors import HeapmetricError
from heapmetric.judges.base import Judge, PairItem, ScoreItem
from service.app import create_app
from service.settings import Settings
from service.testing import serve_in_thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from service_fakes import FakeJudge  # noqa: E402

ITEMS = [
    ScoreItem(output="o" * (i % 7 + 1), source="src" if i % 2 else None, system=f"s{i % 3}")
    for i in range(23)
]
PAIRS = [PairItem(output_a="a" * (i + 1), output_b="b" * (5 - i)) for i in range(5)]


@pytest.fixture(scope="module")
def server():
    app = create_app(Settings(api_keys=["k"], max_items_per_request=10), judge=FakeJudge())
    with serve_in_thread(app, ready=True) as srv:
        yield srv


def test_sync_client_is_a_judge_and_matches_in_process_results(server):
    judge = FakeJudge()
    with HeapmetricClient(server.url, api_key="k") as client:
        assert isinstance(client, Judge)
        assert client.info.kind == "http" and client.info.metadata["device"] == "cpu"
        result = client.score(ITEMS)  # 23 items -> 3 requests of <= 10
        expected = judge.score(ITEMS)
        assert result.scores == expected.scores
        assert result.system_scores == pytest.approx(
            {
                f"s{k}": sum(s for s, it in zip(expected.scores, ITEMS, strict=True) if it.system == f"s{k}")
                / sum(it.system == f"s{k}" for it in ITEMS)
                for k in range(3)
            }
        )
        assert client.score(ITEMS, batch_size=4).scores == expected.scores
        cmp = client.compare(PAIRS)
        assert cmp.probabilities == pytest.approx(judge.compare(PAIRS).probabilities)


def test_async_client_matches_and_works_synchronously_too(server):
    judge = FakeJudge()

    async def main():
        async with AsyncHeapmetricClient(server.url, api_key="k", concurrency=3) as client:
            return await client.ascore(ITEMS, batch_size=5), await client.acompare(PAIRS)

    result, cmp = asyncio.run(main())
    assert result.scores == judge.score(ITEMS).scores
    assert cmp.scores_a == judge.compare(PAIRS).scores_a
    client = AsyncHeapmetricClient(server.url, api_key="k")
    assert isinstance(client, Judge) and client.score(ITEMS[:3]).scores == judge.score(ITEMS[:3]).scores


def test_client_errors_are_not_retried_and_name_the_field(server):
    with HeapmetricClient(server.url, api_key="k", max_retries=3) as client:
        with pytest.raises(ServerError) as info:
            client.score([ScoreItem(output="x", task="nope", criterion="c")])
        assert info.value.status == 422 and info.value.field == "items[0].task"
        with pytest.raises(ServerError) as info:
            HeapmetricClient(server.url, api_key="wrong").score(ITEMS[:1])
        assert info.value.status == 401


def flaky_app(statuses: list[int]) -> tuple[Starlette, list[float]]:
    """Answers the given statuses in turn (Retry-After: 0), then 200 with one score per item."""
    import time

    calls: list[float] = []

    async def score(request: Request) -> JSONResponse:
        calls.append(time.monotonic())
        body = await request.json()
        if len(calls) <= len(statuses):
            return JSONResponse(
                {
                    "error": {
                        "code": statuses[len(calls) - 1],
                        "type": "queue_full",
                        "message": "busy",
                        "field": None,
                    }
                },
                status_code=statuses[len(calls) - 1],
                headers={"Retry-After": "0"},
            )
        return JSONResponse({"scores": [1.0] * len(body["items"]), "metadata": {}})

    async def models(_: Request) -> JSONResponse:
        return JSONResponse(
            {"data": [{"id": "flaky", "kind": "reward"}], "limits": {"max_items_per_request": 100}}
        )

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/v1/score", score, methods=["POST"]),
        Route("/v1/models", models),
        Route("/healthz", health),
    ]
    return Starlette(routes=routes), calls


def test_retries_on_429_and_503_then_succeeds():
    app, calls = flaky_app([429, 503, 429])
    with serve_in_thread(app) as srv, HeapmetricClient(srv.url, max_retries=5, backoff=0.01) as client:
        assert client.score(ITEMS[:2]).scores == [1.0, 1.0]
    assert len(calls) == 4


def test_gives_up_after_max_retries():
    app, calls = flaky_app([429] * 10)
    with serve_in_thread(app) as srv, HeapmetricClient(srv.url, max_retries=2, backoff=0.01) as client:
        with pytest.raises(ServerError) as info:
            client.score(ITEMS[:1])
    assert info.value.status == 429 and len(calls) == 3


def test_unreachable_server_is_one_clear_error():
    with HeapmetricClient("http://127.0.0.1:9", max_retries=1, backoff=0.01, timeout=2) as client:
        with pytest.raises(HeapmetricError, match="cannot reach http://127.0.0.1:9"):
            client.score(ITEMS[:1])
    with pytest.raises(HeapmetricError, match="http"):
        HeapmetricClient("127.0.0.1:8000")


def test_nan_scores_travel_as_null_and_come_back_as_nan():
    class NanJudge(FakeJudge):
        def _one(self, item):
            return math.nan if item.output == "nan" else 1.0

    with serve_in_thread(create_app(Settings(), judge=NanJudge()), ready=True) as srv:
        with HeapmetricClient(srv.url) as client:
            scores = client.score([ScoreItem(output="nan"), ScoreItem(output="ok")]).scores
    assert math.isnan(scores[0]) and scores[1] == 1.0


def test_default_timeout_outlasts_the_servers_request_deadline():
    """The server answers 503 at request_timeout_s; a shorter client timeout re-sent work the server still did."""
    from heapmetric.client import DEFAULT_TIMEOUT

    assert DEFAULT_TIMEOUT > Settings().request_timeout_s
    client = HeapmetricClient("http://127.0.0.1:9")
    assert client._timeout == DEFAULT_TIMEOUT and client._http.timeout.read == DEFAULT_TIMEOUT
    client.close()
    assert AsyncHeapmetricClient("http://127.0.0.1:9")._timeout == DEFAULT_TIMEOUT


def slow_app(delay: float) -> tuple[Starlette, list[float]]:
    """/v1/score answers only after ``delay`` seconds."""
    import time

    calls: list[float] = []

    async def score(request: Request) -> JSONResponse:
        calls.append(time.monotonic())
        body = await request.json()
        await asyncio.sleep(delay)
        return JSONResponse({"scores": [1.0] * len(body["items"]), "metadata": {}})

    async def models(_: Request) -> JSONResponse:
        return JSONResponse({"data": [{"id": "slow"}], "limits": {"max_items_per_request": 100}})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/v1/score", score, methods=["POST"]),
        Route("/v1/models", models),
        Route("/healthz", health),
    ]
    return Starlette(routes=routes), calls


def test_read_timeout_is_resent_once_then_one_clear_error():
    app, calls = slow_app(1.5)
    with serve_in_thread(app) as srv:
        with HeapmetricClient(srv.url, max_retries=5, backoff=0.01, timeout=0.3) as client:
            with pytest.raises(
                HeapmetricError, match=r"did not answer POST /v1/score within .*0.3 s"
            ) as info:
                client.score(ITEMS[:1])
        assert len(calls) == 2 and "timeout" in str(info.value)

        async def main():
            async with AsyncHeapmetricClient(srv.url, max_retries=5, backoff=0.01, timeout=0.3) as client:
                await client.ascore(ITEMS[:1])

        with pytest.raises(HeapmetricError, match="did not answer POST /v1/score"):
            asyncio.run(main())
        assert len(calls) == 4


def test_bad_server_url_names_no_python_parameter():
    """`heapmetric score --server localhost:9` used to report field 'base_url', a name the CLI user never saw."""
    with pytest.raises(HeapmetricError) as info:
        HeapmetricClient("localhost:9")
    msg = str(info.value)
    assert "base_url" not in msg and "'localhost:9'" in msg and "http://localhost:9" in msg


def test_async_info_of_unreachable_server_is_one_clear_error():
    with pytest.raises(HeapmetricError, match="cannot reach http://127.0.0.1:9"):
        AsyncHeapmetricClient("http://127.0.0.1:9", timeout=2).info  # noqa: B018
