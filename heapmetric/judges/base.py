"""The one interface every judge implements: the trained metric, the generative LLM judge, an
OpenAI-compatible endpoint, the heapmetric HTTP client, fixed annotations, simple baselines.

Field names are the same on every layer (records, CLI ``--map``, Python API, HTTP schema):

- ``output``: the text being judged.
- ``source``: the input it answers (article, meaning representation, user prompt, question).
- ``context``: extra context (dialogue history, knowledge snippet, persona).
- ``reference``: a reference output (``references`` for several; judges read the first unless they say so).
- ``instruction``: a free-text *evaluation* instruction that overrides ``task``/``criterion``.
- ``task`` / ``criterion``: a registered criterion (``heapmetric criteria``).

Meta-evaluation, benchmarks and synthesis accept any :class:`Judge` and never branch on its class.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

ITEM_FIELDS = (
    "output",
    "source",
    "context",
    "reference",
    "references",
    "instruction",
    "task",
    "criterion",
    "system",
    "id",
)


@dataclass(frozen=True)
class ScoreItem:
    """One output to score, with the input fields it is judged against."""

    output: str
    source: str | None = None
    context: str | None = None
    reference: str | None = None
    references: tuple[str, ...] | None = None
    instruction: str | None = None
    task: str | None = None
    criterion: str | None = None
    system: str | None = None
    id: str | None = None

    @property
    def first_reference(self) -> str | None:
        if self.reference:
            return self.reference
        return self.references[0] if self.references else None


@dataclass(frozen=True)
class PairItem:
    """Two outputs for the same input; a judge returns P(output_a is better)."""

    output_a: str
    output_b: str
    source: str | None = None
    context: str | None = None
    reference: str | None = None
    instruction: str | None = None
    task: str | None = None
    criterion: str | None = None
    id: str | None = None

    def side(self, which: str) -> ScoreItem:
        """The ``a`` or ``b`` output as a :class:`ScoreItem` with the shared input fields."""
        return ScoreItem(
            output=self.output_a if which == "a" else self.output_b,
            source=self.source,
            context=self.context,
            reference=self.reference,
            instruction=self.instruction,
            task=self.task,
            criterion=self.criterion,
            id=self.id,
        )


@dataclass(frozen=True)
class JudgeInfo:
    """What a judge is: ``name`` (stable id used in cache keys and reports), ``kind``
    (reward | generative | openai | http | annotations | baseline), and whether its ``compare`` is
    ``order_free`` (the same answer with a and b swapped, so position swapping is unnecessary)."""

    name: str
    kind: str
    order_free: bool = True
    can_score: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreResult:
    """Scores in input order. ``calibrated`` maps each score to its criterion's human scale where the
    judge is calibrated (else None). ``system_scores`` are per-system means when systems were given."""

    scores: list[float]
    calibrated: list[float | None] | None = None
    system_scores: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    truncated: int = 0

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per item: ``{"index", "score"}`` plus ``"calibrated_score"`` where present."""
        out = []
        for i, s in enumerate(self.scores):
            row: dict[str, Any] = {"index": i, "score": s}
            if self.calibrated is not None and self.calibrated[i] is not None:
                row["calibrated_score"] = self.calibrated[i]
            out.append(row)
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass(frozen=True)
class CompareResult:
    """P(a better than b) per pair in input order; ``scores_a``/``scores_b`` when the judge scores each side."""

    probabilities: list[float]
    scores_a: list[float] | None = None
    scores_b: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_records(self) -> list[dict[str, Any]]:
        out = []
        for i, p in enumerate(self.probabilities):
            row: dict[str, Any] = {"index": i, "p_a_better": p}
            if self.scores_a is not None and self.scores_b is not None:
                row["score_a"], row["score_b"] = self.scores_a[i], self.scores_b[i]
            out.append(row)
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@runtime_checkable
class Judge(Protocol):
    """Anything that can score outputs and/or compare pairs."""

    @property
    def info(self) -> JudgeInfo: ...

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        """Score each item; raise :class:`~heapmetric.errors.UnsupportedError` if the judge only compares."""
        ...

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """P(output_a better) for each pair, in input order."""
        ...


def system_means(scores: Sequence[float], systems: Sequence[str | None] | None) -> dict[str, float]:
    """Mean score per system name (items without a system are left out)."""
    if not systems:
        return {}
    groups: dict[str, list[float]] = {}
    for s, name in zip(scores, systems, strict=True):
        if name is not None:
            groups.setdefault(str(name), []).append(float(s))
    return {name: statistics.fmean(v) for name, v in sorted(groups.items())}


def items_from_rows(rows: Sequence[dict[str, Any]], **defaults: Any) -> list[ScoreItem]:
    """Build :class:`ScoreItem`s from dicts (records or table rows); ``defaults`` fill missing fields."""
    items = []
    for row in rows:
        values = {k: row.get(k) for k in ITEM_FIELDS if row.get(k) not in (None, "")}
        if isinstance(values.get("references"), list):
            values["references"] = tuple(values["references"])
        for k, v in defaults.items():
            if v is not None and k not in values:
                values[k] = v
        items.append(ScoreItem(**values))
    return items
