"""Fixtures of the meta-evaluation tests: small synthetic judgement sets and judges with known scores."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from heapmetric.judges.base import CompareResult, JudgeInfo, PairItem, ScoreItem, ScoreResult
from heapmetric.records import Judgement


class TableJudge:
    """Scores looked up by item id from a dict (NaN for ids it lacks); compare = sigmoid of differences."""

    def __init__(self, name: str, table: dict[str, float], probs: dict[str, float] | None = None) -> None:
        self._name, self.table, self.probs = name, table, probs or {}
        self.calls = 0

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(name=self._name, kind="annotations")

    def score(self, items: Sequence[ScoreItem], *, batch_size=None, show_progress=False) -> ScoreResult:
        self.calls += 1
        return ScoreResult(scores=[self.table.get(it.id, math.nan) for it in items])

    def compare(self, pairs: Sequence[PairItem], *, batch_size=None, show_progress=False) -> CompareResult:
        return CompareResult(probabilities=[self.probs.get(p.id, 0.5) for p in pairs])


def make_judgements(
    n_inputs: int = 12,
    systems: Sequence[str] = ("s1", "s2", "s3", "s4"),
    criteria: Sequence[str] = ("coherence", "fluency"),
    seed: int = 0,
) -> list[Judgement]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_inputs):
        for k, sysname in enumerate(systems):
            for c in criteria:
                score = float(np.clip(round(1 + k + rng.normal(scale=1.0)), 1, 5))
                out.append(
                    Judgement(
                        id=f"toy/d{i}/{sysname}/{c}",
                        dataset="toy",
                        task="summarization",
                        criterion=c,
                        item_id=f"d{i}",
                        source=f"article {i}",
                        references=[f"reference {i}"],
                        output=f"summary {i} by {sysname}",
                        system=sysname,
                        score=score,
                        scale=[1.0, 5.0],
                    )
                )
    return out


@pytest.fixture
def toy_judgements() -> list[Judgement]:
    return make_judgements()


@pytest.fixture
def table_judge():
    return TableJudge


@pytest.fixture
def make_toy():
    return make_judgements
