"""The ray engine tests' local Ray cluster: one per test module (2 CPUs, no dashboard, shut down at the end)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster for the module's tests; shut down (no raylet left) when the module is done."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
