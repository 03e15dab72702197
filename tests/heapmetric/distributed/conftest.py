"""The ray engine tests' local Ray cluster: one per test module (2 CPUs, no dashboard, shut down at the end)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster for the module's tests; shut down (no raylet left) when the module is done."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # the raylet waits for its (Python) agents to start; on a loaded machine the default is too short
    os.environ.setdefault("RAY_agent_register_timeout_ms", "300000")
    from heapmetric.distributed.bulk import connect

    connect(num_cpus=2, quiet=True)  # $RAY_ADDRESS if set, else a local Ray: no dashboard, quiet
    try:
        yield ray
    finally:
        ray.shutdown()
