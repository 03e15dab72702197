"""``serve --engine ray``: the service app as 2 Ray Serve replicas on a local Ray cluster (2 CPUs) answers the
same scores as in-process scoring, both replicas take requests, each replica exposes its own metrics, and the
shutdown is graceful (the replicas go away, nothing stays bound)."""

from __future__ import annotations

import socket

import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.slow  # a Serve cluster with 2 model replicas: about a minute on a quiet machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_replicas_answer_in_process_scores_with_metrics_per_replica(cluster, tiny_encoder_metric_dir):
    import heapmetric
    from heapmetric.distributed.serve import REPLICA_HEADER, start, stop
    from service.settings import Settings

    port, metrics_port = _free_port(), _free_port()
    # fp32: in bf16 a row's score depends on the padding of the micro-batch it lands in (~1e-4)
    settings = Settings(
        model=str(tiny_encoder_metric_dir), device="cpu", dtype="fp32", port=port, max_wait_ms=2
    )
    items = [
        {"output": f"summary {i} " + "word " * (i % 9), "source": "the article " * (1 + i % 5)}
        for i in range(60)
    ]
    expected = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", dtype="fp32").score(
        items, task="summarization", criterion="coherence"
    )
    replicas: set[str] = set()
    got: list[float] = []
    url = f"http://127.0.0.1:{port}"
    try:
        assert start(settings, replicas=2, metrics_port=metrics_port) == url
        with httpx.Client(timeout=60) as client:
            assert client.get(url + "/readyz").status_code == 200
            for start_at in range(0, len(items), 4):
                body = {
                    "items": items[start_at : start_at + 4],
                    "task": "summarization",
                    "criterion": "coherence",
                }
                response = client.post(url + "/v1/score", json=body)
                assert response.status_code == 200, response.text
                replicas.add(response.headers[REPLICA_HEADER])
                got += response.json()["scores"]
            assert max(abs(a - b) for a, b in zip(got, expected.scores, strict=True)) <= 1e-5
            assert len(replicas) == 2  # the proxy spread the requests over both replicas
            # each replica's own Prometheus registry, on metrics_port + its local rank
            totals = []
            for k in range(2):
                text = client.get(f"http://127.0.0.1:{metrics_port + k}/metrics").text
                line = next(x for x in text.splitlines() if x.startswith("heapmetric_items_total "))
                totals.append(float(line.split()[1]))
            assert sum(totals) == len(items) and all(t > 0 for t in totals)
    finally:
        stop()
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/healthz", timeout=2)
