"""Judge diagnostics: the table to read before trusting a judge as a benchmark annotator.

On pairs with a human preference (LLMBar and the processed MT-Bench / FairEval / LLMEval² sets in
``$HEAPMETRIC_DATA/llmbar``, or any HEAP-format preference file), each pair is judged in both orders:

- ``agreement``: accuracy of the judge's combined verdict against the human label (a judge tie scores 1/2;
  human ties are left out); ``agreement_first`` uses the first order only (what a single-order judge gets);
- ``position_bias``: mean over pairs of ``(P(first wins | a first) + P(first wins | b first)) / 2 - 0.5``, in
  points; positive means the judge favours whichever output is shown first (0 for an order-free judge);
- ``swap_consistency``: share of pairs whose hard verdict survives swapping the positions;
- ``judge_prefers_longer`` / ``human_prefers_longer``: share of decisive verdicts that pick the longer output
  (characters), and ``length_bias`` their difference in points;
- ``unparsed``: pairs with no usable verdict in either order (left out of the other columns).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from heapmetric.bench.cache import AnnotationCache
from heapmetric.bench.judging import judge_both_orders
from heapmetric.errors import InputError
from heapmetric.judges.base import Judge, PairItem

log = logging.getLogger(__name__)

COLUMNS = (
    "dataset",
    "n",
    "agreement",
    "agreement_first",
    "position_bias",
    "swap_consistency",
    "judge_prefers_longer",
    "human_prefers_longer",
    "length_bias",
    "unparsed",
)


@dataclass(frozen=True)
class LabelledPair:
    """Two outputs for one input and the human label ``a``, ``b`` or ``tie``."""

    source: str
    output_a: str
    output_b: str
    label: str
    dataset: str
    id: str | None = None
    task: str | None = None
    criterion: str | None = None


def read_llmbar(folder: str | os.PathLike) -> dict[str, list[LabelledPair]]:
    """Every ``*.json`` set in an LLMBar folder (``{input, output_1, output_2, label: 1|2}``) by file stem."""
    from heapmetric.bench.formats import read_json_records

    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise InputError("no LLMBar *.json files", file=str(folder))
    out: dict[str, list[LabelledPair]] = {}
    for path in files:
        pairs = []
        for number, row in read_json_records(path):
            for key in ("input", "output_1", "output_2"):
                if not isinstance(row.get(key), str):
                    raise InputError("expected a string", file=str(path), line=number, field=key)
            if row.get("label") not in (1, 2):
                raise InputError(
                    f"expected 1 or 2, got {row.get('label')!r}", file=str(path), line=number, field="label"
                )
            pairs.append(
                LabelledPair(
                    row["input"],
                    row["output_1"],
                    row["output_2"],
                    "a" if row["label"] == 1 else "b",
                    path.stem,
                    f"{path.stem}/{number}",
                )
            )
        out[path.stem] = pairs
    return out


def read_preference_file(path: str | os.PathLike) -> dict[str, list[LabelledPair]]:
    """HEAP-format preference records (:mod:`heapmetric.records`) grouped by ``dataset``."""
    from heapmetric.records import Preference, read_records

    out: dict[str, list[LabelledPair]] = {}
    for rec in read_records(path):
        if not isinstance(rec, Preference):
            continue
        source = rec.source or rec.context or rec.instruction or ""
        out.setdefault(rec.dataset, []).append(
            LabelledPair(
                source, rec.output_a, rec.output_b, rec.label, rec.dataset, rec.id, rec.task, rec.criterion
            )
        )
    if not out:
        raise InputError("no preference records (output_a, output_b, label)", file=str(path))
    return out


@dataclass(frozen=True)
class DiagnosticsRow:
    dataset: str
    n: int
    agreement: float
    agreement_first: float
    position_bias: float
    swap_consistency: float
    judge_prefers_longer: float
    human_prefers_longer: float
    length_bias: float
    unparsed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hard(p: float) -> float:
    return 1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarize(
    dataset: str, pairs: Sequence[LabelledPair], p_ab: Sequence[float], p_ba: Sequence[float]
) -> DiagnosticsRow:
    """The diagnostics row from P(a better) in order (a, b) and P(b better) in order (b, a)."""
    agree, agree_first, pos, consistent, judge_long, human_long = [], [], [], [], [], []
    unparsed = 0
    for pair, ab, ba in zip(pairs, p_ab, p_ba, strict=True):
        combined = combine_orders_values(ab, ba)
        if not math.isfinite(combined):
            unparsed += 1
            continue
        if pair.label in ("a", "b"):
            target = 1.0 if pair.label == "a" else 0.0
            agree.append(1.0 - abs(_hard(combined) - target))
            first = ab if math.isfinite(ab) else 1.0 - ba
            agree_first.append(1.0 - abs(_hard(first) - target))
        if math.isfinite(ab) and math.isfinite(ba):
            pos.append((ab + ba) / 2.0 - 0.5)
            consistent.append(1.0 if _hard(ab) == 1.0 - _hard(ba) else 0.0)
        len_a, len_b = len(pair.output_a), len(pair.output_b)
        if len_a != len_b:
            a_longer = len_a > len_b
            if combined != 0.5:
                judge_long.append(1.0 if (combined > 0.5) == a_longer else 0.0)
            if pair.label in ("a", "b"):
                human_long.append(1.0 if (pair.label == "a") == a_longer else 0.0)
    jl, hl = _mean(judge_long), _mean(human_long)
    return DiagnosticsRow(
        dataset,
        len(pairs),
        100 * _mean(agree),
        100 * _mean(agree_first),
        100 * _mean(pos),
        100 * _mean(consistent),
        100 * jl,
        100 * hl,
        100 * (jl - hl),
        unparsed,
    )


def combine_orders_values(ab: float, ba: float) -> float:
    """P(a better) from both orders (the mean of the finite estimates; NaN if none)."""
    values = [v for v in (ab, 1.0 - ba) if math.isfinite(v)]
    return sum(values) / len(values) if values else float("nan")


def diagnose(
    judge: Judge,
    sets: dict[str, list[LabelledPair]],
    *,
    cache: AnnotationCache | None = None,
    limit: int | None = None,
    task: str | None = None,
    criterion: str | None = None,
    batch_size: int = 64,
    show_progress: bool = False,
) -> list[DiagnosticsRow]:
    """One row per set plus an ``all`` row pooling every pair. ``limit`` keeps the first N pairs of each set;
    ``task``/``criterion`` apply to pairs that carry none (LLMBar's)."""
    rows, pooled = [], ([], [], [])
    for name, pairs in sets.items():
        pairs = list(pairs[:limit] if limit else pairs)
        items = [
            PairItem(
                output_a=p.output_a,
                output_b=p.output_b,
                source=p.source,
                id=p.id,
                task=p.task or task,
                criterion=p.criterion or criterion,
            )
            for p in pairs
        ]
        ab, ba = judge_both_orders(
            judge, items, cache=cache, batch_size=batch_size, show_progress=show_progress
        )
        p_ab, p_ba = [v.p for v in ab], [v.p for v in ba]
        rows.append(summarize(name, pairs, p_ab, p_ba))
        pooled[0].extend(pairs)
        pooled[1].extend(p_ab)
        pooled[2].extend(p_ba)
    if len(rows) > 1:
        rows.append(summarize("all", *pooled))
    return rows
