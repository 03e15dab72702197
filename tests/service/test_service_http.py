"""The HTTP edge against a real uvicorn server on loopback (fake judge, so these run in seconds):
auth, every limit, error shape, 429, disconnects, readiness, metrics, CORS, graceful shutdown."""

from __future__ import annotations

import concurrent.futures
import socket
import threading
import time

import httpx
import pytest
from service_fakes import FakeJudge

from service.app import create_app
from service.settings import Settings
from service.testing import serve_in_thread

KEY = "test-key-123"
SRC = "The council met on Monday and approved the budget."


@pytest.fixture(scope="module")
def judge() -> FakeJudge:
    return FakeJudge()


@pytest.fixture(scope="module")
def server(judge):
    settings = Settings(
        api_keys=[KEY], max_items_per_request=8, max_chars_per_field=100, max_body_bytes=4096, max_queue=64
    )
    with serve_in_thread(create_app(settings, judge=judge), ready=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as c:
        yield c


def assert_error(response: httpx.Response, status: int, field: str | None = "*") -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "type", "message", "field"}
    assert body["error"]["code"] == status
    if field != "*":
        assert body["error"]["field"] == field, body
    assert "Traceback" not in response.text and "/home/" not in response.text and ".py" not in response.text
    return body["error"]


def test_score_returns_the_judges_scores_in_input_order(client, judge):
    outputs = ["a", "bbbb", "cc", "dddddddd"]
    r = client.post(
        "/v1/score",
        json={
            "items": [{"output": o, "source": SRC} for o in outputs],
            "task": "summarization",
            "criterion": "coherence",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["scores"] == [len(o) / 10 + 0.5 for o in outputs]
    assert r.json()["metadata"]["judge"] == "fake-judge"


def test_per_item_criterion_overrides_and_system_means(client):
    r = client.post(
        "/v1/score",
        json={
            "criterion": "summarization/coherence",
            "items": [
                {"output": "aa", "system": "s1"},
                {"output": "aaaa", "system": "s1"},
                {"output": "a", "system": "s2", "instruction": "Rate how polite the reply is."},
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["system_scores"] == pytest.approx({"s1": 0.3, "s2": 0.1})


def test_compare(client):
    r = client.post("/v1/compare", json={"pairs": [{"output_a": "long long answer", "output_b": "no"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["probabilities"][0] > 0.5 and body["scores_a"][0] == pytest.approx(1.6)


def test_auth_required_on_api_but_not_on_health(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        r = httpx.post(server.url + "/v1/score", json={"items": [{"output": "x"}]}, headers=headers)
        assert_error(r, 401, None)
        assert r.headers["WWW-Authenticate"] == "Bearer"
    for path in ("/v1/models", "/v1/criteria", "/metrics"):
        assert_error(httpx.get(server.url + path), 401)
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok", "detail": None}
    assert httpx.get(server.url + "/readyz").status_code == 200


def test_models_reports_what_is_loaded_and_the_limits(client):
    body = client.get("/v1/models").json()
    card = body["data"][0]
    assert (card["id"], card["device"], card["dtype"], card["quantization"]) == (
        "fake-judge",
        "cpu",
        "float32",
        None,
    )
    assert body["limits"] == {"max_items_per_request": 8, "max_chars_per_field": 100, "max_body_bytes": 4096}


def test_criteria_lists_the_registry(client):
    body = client.get("/v1/criteria").json()
    assert "summarization/coherence" in {c["id"] for c in body["criteria"]} and body["registry_version"]


def test_body_size_limit_413_by_length_and_when_chunked(client):
    big = {"items": [{"output": "x" * 90}] * 60}
    assert_error(client.post("/v1/score", json=big), 413, None)

    def chunks():
        for _ in range(10):
            yield b" " * 1000
        yield b'{"items": [{"output": "x"}]}'

    assert_error(
        client.post("/v1/score", content=chunks(), headers={"Content-Type": "application/json"}), 413
    )


def test_items_per_request_and_chars_per_field_limits_name_the_field(client):
    e = assert_error(client.post("/v1/score", json={"items": [{"output": "x"}] * 9}), 422, "items")
    assert "at most 8" in e["message"]
    e = assert_error(
        client.post("/v1/score", json={"items": [{"output": "x"}, {"output": "y", "source": "s" * 101}]}),
        422,
        "items[1].source",
    )
    assert "100 characters" in e["message"]
    assert_error(
        client.post("/v1/score", json={"items": [{"output": "x", "references": ["ok", "r" * 101]}]}),
        422,
        "items[0].references[1]",
    )
    assert_error(
        client.post("/v1/compare", json={"pairs": [{"output_a": "x", "output_b": "y" * 101}]}),
        422,
        "pairs[0].output_b",
    )
    assert_error(
        client.post("/v1/score", json={"instruction": "i" * 101, "items": [{"output": "x"}]}),
        422,
        "instruction",
    )


def test_malformed_json_and_schema_errors_name_the_field(client):
    e = assert_error(
        client.post(
            "/v1/score", content=b'{"items": [{"output": "x"', headers={"Content-Type": "application/json"}
        ),
        422,
        "body",
    )
    assert e["type"] == "invalid_json"
    assert_error(client.post("/v1/score", json={"items": [{"source": "x"}]}), 422, "items[0].output")
    assert_error(client.post("/v1/score", json={"items": [{"output": 3}]}), 422, "items[0].output")
    assert_error(
        client.post("/v1/score", json={"items": [{"output": "x", "refrence": "y"}]}), 422, "items[0].refrence"
    )
    assert_error(client.post("/v1/score", json={"items": []}), 422, "items")
    assert_error(client.post("/v1/score", json=[1, 2]), 422)


def test_unknown_criterion_is_422_naming_where_it_came_from(client):
    e = assert_error(
        client.post(
            "/v1/score", json={"task": "summarization", "criterion": "coherense", "items": [{"output": "x"}]}
        ),
        422,
        "criterion",
    )
    assert "coherence" in e["message"]  # the suggestion
    assert_error(
        client.post(
            "/v1/score", json={"items": [{"output": "x"}, {"output": "y", "task": "nope", "criterion": "c"}]}
        ),
        422,
        "items[1].task",
    )
    assert_error(
        client.post(
            "/v1/score", json={"items": [{"output": "y", "task": "summarization", "criterion": "nope"}]}
        ),
        422,
        "items[0].criterion",
    )


def test_judge_failures_are_isolated_and_leak_nothing(client):
    assert_error(client.post("/v1/score", json={"items": [{"output": "RAISE-INPUT"}]}), 422)
    e = assert_error(client.post("/v1/score", json={"items": [{"output": "RAISE-BUG"}]}), 500, None)
    assert e["type"] == "internal_error"
    assert client.post("/v1/score", json={"items": [{"output": "fine"}]}).status_code == 200


def test_unknown_route_and_method_use_the_error_shape(client):
    assert_error(client.get("/v1/nothing"), 404, None)
    assert_error(client.get("/v1/score"), 405, None)


def test_metrics_expose_requests_batches_queue_and_throughput(client):
    client.post("/v1/score", json={"items": [{"output": "m"}] * 3})
    text = client.get("/metrics").text
    for name in (
        "heapmetric_requests_total",
        "heapmetric_request_latency_seconds_bucket",
        "heapmetric_batch_items_bucket",
        "heapmetric_batch_tokens_bucket",
        "heapmetric_queue_depth",
        "heapmetric_items_total",
        "heapmetric_tokens_total",
        "heapmetric_items_per_second",
        "heapmetric_tokens_per_second",
    ):
        assert name in text
    assert 'route="/v1/score",status="200"' in text


def test_cors_is_off_unless_configured(server, judge):
    headers = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    r = httpx.options(server.url + "/v1/score", headers=headers)
    assert "access-control-allow-origin" not in r.headers
    app = create_app(Settings(cors_origins=["https://example.org"]), judge=judge)
    with serve_in_thread(app) as other:
        r = httpx.options(other.url + "/v1/score", headers=headers)
        assert r.headers["access-control-allow-origin"] == "https://example.org"


def test_full_queue_answers_429_with_retry_after():
    gate = threading.Event()
    judge = FakeJudge(gate)
    app = create_app(Settings(max_queue=4, max_items_per_request=4, max_wait_ms=0, warmup=False), judge=judge)
    with serve_in_thread(app, ready=True) as srv, concurrent.futures.ThreadPoolExecutor(4) as pool:
        body = {"items": [{"output": "x"}] * 4}
        busy = pool.submit(httpx.post, srv.url + "/v1/score", json=body, timeout=30)
        assert judge.entered.wait(10)  # the model holds the first request
        queued = pool.submit(httpx.post, srv.url + "/v1/score", json=body, timeout=30)
        deadline = time.monotonic() + 10
        while srv.server.config.app.state.service.batcher.queued_items < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = httpx.post(srv.url + "/v1/score", json={"items": [{"output": "y"}]})
        e = assert_error(r, 429, None)
        assert e["type"] == "queue_full" and int(r.headers["Retry-After"]) >= 1
        gate.set()
        assert busy.result().status_code == 200 and queued.result().status_code == 200


def test_disconnected_clients_items_are_dropped():
    gate = threading.Event()
    judge = FakeJudge(gate)
    app = create_app(Settings(max_wait_ms=0, warmup=False), judge=judge)
    with serve_in_thread(app, ready=True) as srv, concurrent.futures.ThreadPoolExecutor(2) as pool:
        busy = pool.submit(
            httpx.post, srv.url + "/v1/score", json={"items": [{"output": "first"}]}, timeout=30
        )
        assert judge.entered.wait(10)
        batcher = app.state.service.batcher
        payload = b'{"items": [{"output": "gone-1"}, {"output": "gone-2"}]}'
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(
                b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            deadline = time.monotonic() + 10
            while batcher.queued_items < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert batcher.queued_items == 2
        deadline = time.monotonic() + 10
        while batcher.queued_items and time.monotonic() < deadline:
            time.sleep(0.01)
        assert batcher.queued_items == 0
        gate.set()
        assert busy.result().status_code == 200
        time.sleep(0.1)
    assert all("gone" not in o for batch in judge.batches for o in batch)


def test_graceful_shutdown_answers_every_accepted_request_then_refuses_connections():
    gate = threading.Event()
    judge = FakeJudge(gate)
    app = create_app(Settings(max_wait_ms=0, max_batch_items=2, warmup=False), judge=judge)
    with serve_in_thread(app, ready=True) as srv, concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [
            pool.submit(
                httpx.post, srv.url + "/v1/score", json={"items": [{"output": "o" * (i + 1)}]}, timeout=30
            )
            for i in range(6)
        ]
        assert judge.entered.wait(10)
        deadline = time.monotonic() + 10
        while app.state.service.batcher.queued_items < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        stopper = threading.Thread(target=srv.stop)
        stopper.start()  # what SIGTERM does
        late: list[concurrent.futures.Future] = []
        try:
            refused, deadline = False, time.monotonic() + 10
            while not refused and time.monotonic() < deadline:
                f = pool.submit(
                    httpx.post, srv.url + "/v1/score", json={"items": [{"output": "late"}]}, timeout=30
                )
                try:
                    f.result(timeout=0.2)
                except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                    refused = True  # the listening socket is closed (or closed under this connection)
                except concurrent.futures.TimeoutError:
                    late.append(f)  # accepted in the instant before the socket closed: must be answered
                else:
                    late.append(f)
            assert refused
        finally:
            gate.set()
        assert all(f.result().status_code in (200, 503) for f in late)
        results = [f.result() for f in futures]
        stopper.join(30)
    assert [r.status_code for r in results] == [200] * 6
    assert [r.json()["scores"][0] for r in results] == [(i + 1) / 10 for i in range(6)]
    assert not srv.thread.is_alive()


def test_readyz_is_503_while_loading_and_when_the_model_fails(tmp_path):
    app = create_app(Settings(model=str(tmp_path / "no-such-model"), warmup=False))
    with serve_in_thread(app) as srv:
        deadline = time.monotonic() + 60
        while app.state.service.status == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        r = httpx.get(srv.url + "/readyz")
        assert r.status_code == 503 and r.json()["status"] == "failed"
        assert str(tmp_path) not in r.text
        e = assert_error(httpx.post(srv.url + "/v1/score", json={"items": [{"output": "x"}]}), 503, None)
        assert e["type"] == "not_ready"
