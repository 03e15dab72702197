"""A judge whose score is a fingerprint of every field it is given, for tests of the input readers.

Two items score the same exactly when all their fields are equal (output, source, context, references,
instruction, task, criterion, system, id), so "scores identically to the equivalent clean input" checks that
a reader delivered the same values, not only the same outputs. It records what it was asked to judge.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from heapmetric.judges.base import CompareResult, JudgeInfo, PairItem, ScoreItem, ScoreResult


def fingerprint(item: ScoreItem | PairItem) -> float:
    """A float in [0, 1) determined by every field of ``item``; references compare by their first entry."""
    fields: dict[str, Any] = asdict(item)
    if isinstance(item, ScoreItem):
        fields["reference"], fields["references"] = item.first_reference, None
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16) / 16**12


class FieldJudge:
    """Scores = :func:`fingerprint` of each item; compare = sigmoid of the fingerprint difference of the sides
    (and records the pairs). ``seen`` holds every item or pair judged, in order."""

    def __init__(self) -> None:
        self.seen: list[ScoreItem | PairItem] = []

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(name="field-judge", kind="baseline", order_free=True)

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        items = list(items)
        self.seen.extend(items)
        return ScoreResult(scores=[fingerprint(it) for it in items], metadata={"judge": "field-judge"})

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        pairs = list(pairs)
        self.seen.extend(pairs)
        probs = [1 / (1 + math.exp(-(fingerprint(p) - 0.5))) for p in pairs]
        return CompareResult(probabilities=probs, metadata={"judge": "field-judge"})
