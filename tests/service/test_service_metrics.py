"""Prometheus metrics: rates over recent batches, including batches longer than the window."""

from __future__ import annotations

from service.metrics import ServiceMetrics


def test_rates_cover_recent_batches_even_a_long_one():
    m = ServiceMetrics()
    m.observe_batch(32, 4096, 30.0)  # longer than the 10 s window
    assert 0 < m.recent_items_per_second() <= 32 / 30.0 + 1e-6
    m.observe_batch(8, 1024, 0.5)
    text = m.render().decode()
    assert "heapmetric_items_total 40.0" in text and "heapmetric_tokens_total 5120.0" in text
    assert 'heapmetric_batch_items_bucket{le="32.0"} 2.0' in text


def test_separate_apps_have_separate_registries():
    a, b = ServiceMetrics(), ServiceMetrics()
    a.observe_batch(1, 10, 0.1)
    assert "heapmetric_items_total 0.0" in b.render().decode()
