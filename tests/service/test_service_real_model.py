"""A real (tiny, random) heapmetric checkpoint loaded by the server's lifespan and served by uvicorn on
loopback: HTTP scores equal in-process scores, in input order, however concurrent requests get batched."""

from __future__ import annotations

import asyncio
import concurrent.futures

import httpx
import pytest

import heapmetric
from heapmetric.client import AsyncHeapmetricClient, HeapmetricClient
from heapmetric.judges.base import PairItem, ScoreItem
from service.app import create_app
from service.settings import Settings
from service.testing import serve_in_thread

# batch composition changes only padding; scores agree to float32 rounding
TOL = {"rel": 1e-4, "abs": 1e-5}
SOURCE = (
    "paul merson has restarted his row with andros townsend after the tottenham midfielder was brought on."
)


def make_items(n: int, offset: int = 0) -> list[ScoreItem]:
    words = "the cat sat on the mat and the dog slept by the door".split()
    return [
        ScoreItem(
            output=" ".join(words[: 2 + (i + offset) % 11]) * (1 + (i + offset) % 3),
            source=SOURCE[: 20 + 7 * ((i + offset) % 9)],
            task="summarization",
            criterion=("coherence", "fluency", "relevance")[(i + offset) % 3],
        )
        for i in range(n)
    ]


def as_json(item: ScoreItem) -> dict:
    return {
        k: v
        for k, v in {
            "output": item.output,
            "source": item.source,
            "task": item.task,
            "criterion": item.criterion,
        }.items()
        if v is not None
    }


@pytest.fixture(scope="module")
def metric(tiny_encoder_metric_dir):
    # fp32 on both sides: in bf16 (``auto`` on CPUs with native bf16) a row's score moves by ~1e-4 with the
    # padding of the micro-batch it lands in, which concurrency makes vary
    return heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def live(tiny_encoder_metric_dir):
    settings = Settings(
        model=str(tiny_encoder_metric_dir), device="cpu", dtype="fp32", max_batch_items=16, max_wait_ms=10
    )
    app = create_app(settings)  # loaded and warmed by the lifespan, like `heapmetric serve`
    with serve_in_thread(app, ready=True, timeout=120) as srv:
        yield srv


def test_http_scores_equal_in_process_scores_under_concurrency(live, metric):
    requests = [make_items(1 + k % 5, offset=k) for k in range(24)]
    expected = [metric.score(r).scores for r in requests]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        responses = list(
            pool.map(
                lambda r: httpx.post(
                    live.url + "/v1/score", timeout=60, json={"items": [as_json(i) for i in r]}
                ),
                requests,
            )
        )
    for response, want in zip(responses, expected, strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["scores"] == pytest.approx(want, **TOL)
        meta = response.json()["metadata"]
        assert (
            meta["n_items"] == len(want) and "padding_fraction" not in meta
        )  # this request's, not the batch's
    merged = [
        line
        for line in httpx.get(live.url + "/metrics").text.splitlines()
        if line.startswith("heapmetric_batch_items_count")
    ]
    assert float(merged[0].split()[-1]) < len(requests)  # requests really were merged into fewer batches


def test_request_level_criterion_and_compare_match(live, metric):
    items = [
        ScoreItem(output=o, source=SOURCE, task="summarization", criterion="coherence")
        for o in ("a short summary", "merson and townsend argue again", "tottenham")
    ]
    body = {
        "task": "summarization",
        "criterion": "coherence",
        "items": [{"output": i.output, "source": i.source} for i in items],
    }
    r = httpx.post(live.url + "/v1/score", json=body, timeout=60)
    assert r.json()["scores"] == pytest.approx(metric.score(items).scores, **TOL)
    meta = r.json()["metadata"]
    assert meta["kind"] == "reward" and meta["criterion"] == "summarization/coherence"
    mixed = httpx.post(
        live.url + "/v1/score",
        timeout=60,
        json={
            "task": "summarization",
            "items": [
                {"output": "a", "criterion": "coherence"},
                {"output": "b", "criterion": "fluency"},
                {"output": "c", "criterion": "fluency"},
            ],
        },
    ).json()["metadata"]
    assert mixed["criterion"] is None
    assert mixed["criteria"] == {"summarization/coherence": 1, "summarization/fluency": 2}
    pairs = [
        PairItem(
            output_a=items[0].output,
            output_b=items[1].output,
            source=SOURCE,
            task="summarization",
            criterion="coherence",
        )
    ]
    r = httpx.post(
        live.url + "/v1/compare",
        timeout=60,
        json={
            "task": "summarization",
            "criterion": "coherence",
            "pairs": [{"output_a": items[0].output, "output_b": items[1].output, "source": SOURCE}],
        },
    )
    assert r.json()["probabilities"] == pytest.approx(metric.compare(pairs).probabilities, **TOL)


def test_models_reports_the_loaded_model(live):
    card = httpx.get(live.url + "/v1/models").json()["data"][0]
    # the server was started with dtype fp32 (what ``auto`` picks: tests/heapmetric/scoring/test_precision.py)
    assert (card["kind"], card["device"], card["dtype"], card["quantization"]) == (
        "reward",
        "cpu",
        "float32",
        None,
    )
    assert card["max_length"] == 256


def test_missing_criterion_and_truncation(live):
    r = httpx.post(
        live.url + "/v1/score", json={"items": [{"output": "x"}, {"output": "y", "task": "summarization"}]}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "items[1].criterion"
    r = httpx.post(live.url + "/v1/score", json={"items": [{"output": "x"}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "items[0].task"
    long = {"output": "word " * 400, "source": "src", "task": "summarization", "criterion": "coherence"}
    r = httpx.post(live.url + "/v1/score", json={"items": [long, {**long, "output": "short"}]}, timeout=60)
    assert r.status_code == 200 and r.json()["truncated"] == 1


def test_clients_over_the_real_model(live, metric):
    items = make_items(30)
    want = metric.score(items).scores
    with HeapmetricClient(live.url) as client:
        assert client.score(items, batch_size=7).scores == pytest.approx(want, **TOL)

    async def main():
        async with AsyncHeapmetricClient(live.url, concurrency=4) as client:
            return await client.ascore(items, batch_size=5)

    assert asyncio.run(main()).scores == pytest.approx(want, **TOL)
