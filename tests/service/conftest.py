"""Fixtures for the service tests."""

from __future__ import annotations

import pytest
from service_fakes import FakeJudge


@pytest.fixture
def fake_judge() -> FakeJudge:
    return FakeJudge()


@pytest.fixture(scope="module")
def schema_judge(tiny_encoder_metric_dir):
    """The real scorer on a tiny random checkpoint: generated inputs reach rendering and tokenization."""
    import heapmetric

    return heapmetric.load(str(tiny_encoder_metric_dir), device="cpu")
