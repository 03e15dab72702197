"""A deterministic fake judge for the service tests (fast; can be held at a gate to fill the queue)."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from heapmetric.errors import InputError
from heapmetric.judges.base import CompareResult, JudgeInfo, PairItem, ScoreItem, ScoreResult


class FakeJudge:
    """score = len(output) / 10, +0.5 with a source; records every batch it is given.

    ``gate``: a threading.Event each call waits on (to hold the model busy). Outputs ``RAISE-INPUT`` and
    ``RAISE-BUG`` make the call fail with an InputError / a RuntimeError mentioning a local path.
    """

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.batches: list[list[str]] = []
        self.entered = threading.Event()

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name="fake-judge",
            kind="baseline",
            metadata={"device": "cpu", "dtype": "float32", "quantization": None, "max_length": 64},
        )

    def _one(self, item: ScoreItem) -> float:
        return len(item.output) / 10 + (0.5 if item.source else 0.0)

    def _enter(self, outputs: list[str]) -> None:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "test gate never opened"
        self.batches.append(outputs)
        if "RAISE-INPUT" in outputs:
            raise InputError("this output is not allowed", field="output")
        if "RAISE-BUG" in outputs:
            raise RuntimeError("failure in /home/secret/model.py line 3")

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        self._enter([i.output for i in items])
        return ScoreResult(scores=[self._one(i) for i in items], metadata={"judge": "fake-judge"})

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        self._enter([p.output_a for p in pairs] + [p.output_b for p in pairs])
        a = [self._one(p.side("a")) for p in pairs]
        b = [self._one(p.side("b")) for p in pairs]
        return CompareResult(
            probabilities=[1 / (1 + math.exp(y - x)) for x, y in zip(a, b, strict=True)],
            scores_a=a,
            scores_b=b,
            metadata={"judge": "fake-judge"},
        )
