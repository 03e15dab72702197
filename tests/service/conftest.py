"""Fixtures for the service tests."""

from __future__ import annotations

import pytest
from service_fakes import FakeJudge


@pytest.fixture
def fake_judge() -> FakeJudge:
    return FakeJudge()


@pytest.fixture(scope="module")
def schema_judge():
    return FakeJudge()
