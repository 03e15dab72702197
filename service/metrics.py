"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class ServiceMetrics:
    """Requests, latencies, batch sizes, queue depth, items and tokens (totals and recent rates)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "heapmetric_requests", "HTTP requests answered", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "heapmetric_request_latency_seconds",
            "time to answer a request",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_items = Histogram(
            "heapmetric_batch_items", "items per model batch", buckets=_SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "heapmetric_batch_tokens", "tokens per model batch", buckets=_TOKEN_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "heapmetric_batch_seconds", "model time per batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("heapmetric_queue_depth", "items waiting for the model", registry=r)
        self.items = Counter("heapmetric_items", "items scored (a compared pair counts once)", registry=r)
        self.tokens = Counter("heapmetric_tokens", "tokens scored", registry=r)
        self.rejected = Counter(
            "heapmetric_rejected_requests", "requests refused by the batcher", ["reason"], registry=r
        )
        self.items_per_second = Gauge(
            "heapmetric_items_per_second", "items/s over the last batches", registry=r
        )
        self.tokens_per_second = Gauge(
            "heapmetric_tokens_per_second", "tokens/s over the last batches", registry=r
        )
        self._window: list[tuple[float, float, int, int]] = []

    def observe_batch(self, n_items: int, n_tokens: int, seconds: float) -> None:
        """Record one model batch; the rate gauges cover the batches of the last 10 seconds."""
        self.batch_items.observe(n_items)
        self.batch_tokens.observe(n_tokens)
        self.batch_seconds.observe(seconds)
        self.items.inc(n_items)
        self.tokens.inc(n_tokens)
        now = time.monotonic()
        # (start, end, items, tokens) of the batches that ended in the last 10 s, this one included
        self._window.append((now - seconds, now, n_items, n_tokens))
        self._window = [w for w in self._window if w[1] >= now - 10.0]
        span = max(now - min(w[0] for w in self._window), 1e-6)
        self.items_per_second.set(sum(w[2] for w in self._window) / span)
        self.tokens_per_second.set(sum(w[3] for w in self._window) / span)

    def recent_items_per_second(self) -> float:
        """The items/s gauge's value (0 before any batch)."""
        return float(self.items_per_second._value.get())

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
