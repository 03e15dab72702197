"""Correlation of judges with human judgements, the way the field reports it.

:func:`meta_evaluate` scores every judgement of a dataset with each judge (any :class:`~heapmetric.judges.base.
Judge`), then computes Pearson / Spearman / Kendall at the segment, item ("summary-level") and system levels
with bootstrap intervals, pairwise accuracy (pairs of outputs of one input that humans did not tie, scored by
P(a better) = sigmoid(s_a - s_b); native preference data goes through ``Judge.compare``), and optionally paired
permutation and Williams tests of every metric against the first one.

Nothing is dropped silently: scores that are NaN or infinite, outputs used as references, inputs where a
correlation is undefined (constant scores) are counted in :attr:`MetaEvalResult.exclusions` and in each row.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from heapmetric.errors import InputError
from heapmetric.judges.base import Judge, PairItem, ScoreItem
from heapmetric.records import Judgement, Preference, Record
from heapmetric.stats.bootstrap import bootstrap_correlation, bootstrap_pairwise_accuracy
from heapmetric.stats.correlation import (
    KENDALL_VARIANTS,
    LEVELS,
    STATISTICS,
    level_correlation,
    pairwise_accuracy,
)

logger = logging.getLogger(__name__)

PAIR_LEVEL = "pair"


@dataclass(frozen=True)
class MetaEvalConfig:
    """What to compute. ``bootstrap`` = resamples for the intervals (0: none); ``significance`` = permutation
    resamples for the tests against the first metric (0: no tests); ``reference_system`` = use the output of
    this system as the reference of the other outputs of the same input (and leave it out of the evaluation),
    the USR protocol for Topical-Chat."""

    levels: tuple[str, ...] = LEVELS
    statistics: tuple[str, ...] = STATISTICS
    kendall_variant: str = "b"
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    pairwise: bool = True
    reference_system: str | None = None
    significance: int = 0
    batch_size: int | None = None
    show_progress: bool = False

    def __post_init__(self) -> None:
        for level in self.levels:
            if level not in LEVELS:
                raise InputError(f"unknown level {level!r} (expected {', '.join(LEVELS)})", field="level")
        for stat in self.statistics:
            if stat not in STATISTICS:
                raise InputError(
                    f"unknown statistic {stat!r} (expected {', '.join(STATISTICS)})", field="statistic"
                )
        if self.kendall_variant not in KENDALL_VARIANTS:
            raise InputError(f"unknown Kendall variant {self.kendall_variant!r}", field="kendall_variant")
        if self.bootstrap < 0 or self.significance < 0:
            raise InputError("bootstrap and significance resamples must be >= 0", field="bootstrap")


@dataclass(frozen=True)
class Exclusion:
    """``count`` outputs (or pairs) left out for ``reason``; ``metric`` None means for every metric."""

    criterion: str
    reason: str
    count: int
    metric: str | None = None
    first: tuple[str, ...] = ()


@dataclass
class MetricScores:
    """The aligned vectors behind the rows of one metric × criterion (kept for plots and tests)."""

    metric: str
    criterion: str
    ids: list[str]
    scores: np.ndarray
    human: np.ndarray
    groups: list[str]
    systems: list[str] | None


@dataclass
class MetaEvalResult:
    """Rows ``{dataset, criterion, metric, level, statistic, value, ci_low, ci_high, n, n_constant,
    n_excluded}``; ``significance`` rows; what was excluded and why; the scores behind the rows."""

    dataset: str
    split: str
    config: MetaEvalConfig
    rows: list[dict[str, Any]] = field(default_factory=list)
    significance: list[dict[str, Any]] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    scores: list[MetricScores] = field(default_factory=list)
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Everything but the score vectors, JSON-ready."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "config": asdict(self.config),
            "judges": self.judges,
            "exclusions": [asdict(e) for e in self.exclusions],
            "significance": self.significance,
        }


def _rng(seed: int, *key: str) -> np.random.Generator:
    """A generator fixed by the seed and the cell, so a cell's interval does not depend on the others."""
    return np.random.default_rng([seed, zlib.crc32("|".join(key).encode())])


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _apply_reference_system(
    judgements: list[Judgement], system: str, exclusions: list[Exclusion]
) -> list[Judgement]:
    refs: dict[tuple[str, str], str] = {}
    for j in judgements:
        if j.system == system:
            refs[(j.criterion, j.item_id)] = j.output
    kept, used, orphan = [], [], []
    for j in judgements:
        if j.system == system:
            used.append(j.id)
            continue
        ref = refs.get((j.criterion, j.item_id))
        if ref is None:
            orphan.append(j.id)
            continue
        kept.append(dataclasses.replace(j, reference=ref, references=None))
    if not used:
        raise InputError(f"no output of system {system!r} to use as the reference", field="reference_system")
    crit_of = {j.id: j.criterion for j in judgements}
    for ids, reason in (
        (used, f"output of system {system!r} used as the reference"),
        (orphan, f"input has no output of system {system!r} to use as the reference"),
    ):
        per: dict[str, list[str]] = {}
        for i in ids:
            per.setdefault(crit_of[i], []).append(i)
        for crit, lst in sorted(per.items()):
            exclusions.append(Exclusion(criterion=crit, reason=reason, count=len(lst), first=tuple(lst[:3])))
    return kept


def _item(j: Judgement | Preference) -> dict[str, Any]:
    return {
        "source": j.source,
        "context": j.context,
        "instruction": j.instruction,
        "task": j.task,
        "criterion": j.criterion,
        "id": j.id,
    }


def _score_item(j: Judgement) -> ScoreItem:
    refs = tuple(j.references) if j.references else None
    return ScoreItem(output=j.output, reference=j.reference, references=refs, system=j.system, **_item(j))


class _ScoreCache:
    """Scores one judge, once per distinct input when the judge says which fields it reads
    (``info.metadata["reads"]``), else once per item."""

    def __init__(self, judge: Judge, config: MetaEvalConfig) -> None:
        self.judge, self.config = judge, config
        reads = judge.info.metadata.get("reads")
        self.reads = tuple(reads) if reads else None
        self.cache: dict[Any, float] = {}

    def _key(self, item: ScoreItem) -> Any:
        return tuple(getattr(item, f) for f in self.reads) if self.reads else item

    def score(self, items: list[ScoreItem]) -> np.ndarray:
        todo: dict[Any, ScoreItem] = {}
        for it in items:
            k = self._key(it)
            if k not in self.cache and k not in todo:
                todo[k] = it
        if todo:
            result = self.judge.score(
                list(todo.values()),
                batch_size=self.config.batch_size,
                show_progress=self.config.show_progress,
            )
            if len(result.scores) != len(todo):
                raise InputError(
                    f"judge {self.judge.info.name!r} returned {len(result.scores)} scores "
                    f"for {len(todo)} items"
                )
            for k, s in zip(todo, result.scores, strict=True):
                self.cache[k] = float(s) if s is not None else math.nan
        return np.array([self.cache[self._key(it)] for it in items], dtype=float)


def _correlation_rows(
    base: dict[str, Any], ms: MetricScores, config: MetaEvalConfig, n_excluded: int
) -> list[dict[str, Any]]:
    rows = []
    for level in config.levels:
        if level == "system" and ms.systems is None:
            continue
        for stat in config.statistics:
            r = level_correlation(
                level,
                ms.scores,
                ms.human,
                stat,
                groups=ms.groups,
                systems=ms.systems,
                variant=config.kendall_variant,
            )
            low = high = None
            if config.bootstrap and r.n >= 2 and math.isfinite(r.value):
                ci = bootstrap_correlation(
                    level,
                    ms.scores,
                    ms.human,
                    stat,
                    groups=ms.groups,
                    systems=ms.systems,
                    variant=config.kendall_variant,
                    n_resamples=config.bootstrap,
                    rng=_rng(config.seed, ms.criterion, ms.metric, level, stat),
                    confidence=config.confidence,
                )
                low, high = _finite(ci.low), _finite(ci.high)
            rows.append(
                {
                    **base,
                    "level": level,
                    "statistic": stat,
                    "value": _finite(r.value),
                    "ci_low": low,
                    "ci_high": high,
                    "n": r.n,
                    "n_constant": r.n_constant,
                    "n_excluded": n_excluded,
                }
            )
    return rows


def _graded_pairs(ms: MetricScores) -> tuple[np.ndarray, list[str], list[str]]:
    """P(a better) and human labels for every pair of outputs of one input (human ties labelled ``tie``)."""
    probs, labels, groups = [], [], []
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(ms.groups):
        by_group.setdefault(g, []).append(i)
    for g, idx in by_group.items():
        for x in range(len(idx)):
            for y in range(x + 1, len(idx)):
                i, j = idx[x], idx[y]
                dh = ms.human[i] - ms.human[j]
                labels.append("tie" if abs(dh) <= 1e-9 else ("a" if dh > 0 else "b"))
                d = ms.scores[i] - ms.scores[j]
                probs.append(0.5 if d == 0 else 1.0 / (1.0 + math.exp(-max(min(d, 700.0), -700.0))))
                groups.append(g)
    return np.array(probs), labels, groups


def _pair_row(
    base: dict[str, Any],
    probs: np.ndarray,
    labels: list[str],
    groups: list[str],
    config: MetaEvalConfig,
    n_excluded: int,
) -> dict[str, Any]:
    acc = pairwise_accuracy(probs, labels)
    low = high = None
    decided = np.array([lab != "tie" for lab in labels], dtype=bool)
    if config.bootstrap and acc.n:
        lab = np.array(labels, dtype=object)[decided]
        p = probs[decided]
        credit = np.where(p == 0.5, 0.5, ((p > 0.5) & (lab == "a")) | ((p < 0.5) & (lab == "b"))).astype(
            float
        )
        ci = bootstrap_pairwise_accuracy(
            credit,
            [g for g, d in zip(groups, decided, strict=True) if d],
            n_resamples=config.bootstrap,
            rng=_rng(config.seed, base["criterion"], base["metric"], PAIR_LEVEL),
            confidence=config.confidence,
        )
        low, high = _finite(ci.low), _finite(ci.high)
    return {
        **base,
        "level": PAIR_LEVEL,
        "statistic": "pairwise_accuracy",
        "value": _finite(acc.accuracy),
        "ci_low": low,
        "ci_high": high,
        "n": acc.n,
        "n_ties": acc.n_ties,
        "n_pred_ties": acc.n_pred_ties,
        "n_excluded": n_excluded,
    }


def _significance_rows(dataset: str, crit_scores: list[MetricScores], config: MetaEvalConfig) -> list[dict]:
    from heapmetric.stats.correlation import correlation, system_means
    from heapmetric.stats.significance import permutation_test, williams_test

    if len(crit_scores) < 2 or not config.significance:
        return []
    first = crit_scores[0]
    rows = []
    for other in crit_scores[1:]:
        common = sorted(set(first.ids) & set(other.ids))
        ia = {k: i for i, k in enumerate(first.ids)}
        ib = {k: i for i, k in enumerate(other.ids)}
        sel_a = np.array([ia[k] for k in common], dtype=int)
        sel_b = np.array([ib[k] for k in common], dtype=int)
        a, b, h = first.scores[sel_a], other.scores[sel_b], first.human[sel_a]
        groups = [first.groups[i] for i in sel_a]
        systems = [first.systems[i] for i in sel_a] if first.systems is not None else None
        for level in config.levels:
            if level == "system" and systems is None:
                continue
            for stat in config.statistics:
                perm = permutation_test(
                    a,
                    b,
                    h,
                    stat,
                    level=level,
                    groups=groups,
                    systems=systems,
                    variant=config.kendall_variant,
                    n_resamples=config.significance,
                    rng=_rng(config.seed, first.criterion, first.metric, other.metric, level, stat, "perm"),
                    alternative="two-sided",
                )
                row = {
                    "dataset": dataset,
                    "criterion": first.criterion,
                    "metric_a": first.metric,
                    "metric_b": other.metric,
                    "level": level,
                    "statistic": stat,
                    "delta": _finite(perm.delta),
                    "permutation_p": _finite(perm.p_value),
                    "n": len(common),
                    "williams_t": None,
                    "williams_p": None,
                }
                if stat == "pearson" and level in ("segment", "system"):
                    if level == "system":
                        ma, mb, mh = (system_means(v, systems) for v in (a, b, h))
                        xa, xb = np.array(list(ma.values())), np.array([mb[s] for s in ma])
                        xh = np.array([mh[s] for s in ma])
                    else:
                        xa, xb, xh = a, b, h
                    r12, r13, r23 = (
                        correlation(xh, xa, stat),
                        correlation(xh, xb, stat),
                        correlation(xa, xb, stat),
                    )
                    if xa.size > 3 and all(math.isfinite(r) for r in (r12, r13, r23)):
                        w = williams_test(r12, r13, r23, int(xa.size), alternative="two-sided")
                        row["williams_t"], row["williams_p"] = _finite(w.statistic), _finite(w.p_value)
                rows.append(row)
    return rows


def meta_evaluate(
    records: Sequence[Record],
    judges: dict[str, Judge],
    config: MetaEvalConfig | None = None,
    *,
    dataset: str | None = None,
    split: str = "test",
) -> MetaEvalResult:
    """Score ``records`` with every judge and correlate with the human scores (see the module docstring).

    ``judges`` maps the name used in the report (usually the spec) to the judge, in report order; the first
    one is the reference of the significance tests.
    """
    config = config or MetaEvalConfig()
    if not judges:
        raise InputError("name at least one metric (--metric SPEC)", field="metric")
    judgements = [r for r in records if isinstance(r, Judgement)]
    native = [r for r in records if isinstance(r, Preference)]
    dataset = dataset or (records[0].dataset if records else "")
    result = MetaEvalResult(dataset=dataset, split=split, config=config)
    if config.reference_system:
        judgements = _apply_reference_system(judgements, config.reference_system, result.exclusions)
    by_crit: dict[str, list[Judgement]] = {}
    for j in judgements:
        by_crit.setdefault(j.criterion, []).append(j)
    pref_by_crit: dict[str, list[Preference]] = {}
    for p in native:
        pref_by_crit.setdefault(p.criterion, []).append(p)
    for crit, js in by_crit.items():
        if "system" in config.levels and any(j.system is None for j in js):
            result.exclusions.append(
                Exclusion(
                    criterion=crit,
                    reason="outputs without a system name: system level not computed",
                    count=sum(j.system is None for j in js),
                )
            )

    caches = {name: _ScoreCache(judge, config) for name, judge in judges.items()}
    for name, judge in judges.items():
        result.judges[name] = {
            "name": judge.info.name,
            "kind": judge.info.kind,
            "metadata": {k: v for k, v in judge.info.metadata.items() if k != "reads"},
        }

    for crit in sorted(by_crit):
        js = by_crit[crit]
        items = [_score_item(j) for j in js]
        human = np.array([j.score for j in js], dtype=float)
        has_systems = all(j.system is not None for j in js)
        crit_scores = []
        for name in judges:
            logger.info("scoring %s: %d outputs, criterion %s", name, len(items), crit)
            scores = caches[name].score(items)
            bad = ~np.isfinite(scores)
            if bad.any():
                result.exclusions.append(
                    Exclusion(
                        criterion=crit,
                        metric=name,
                        reason="metric returned NaN or infinite scores",
                        count=int(bad.sum()),
                        first=tuple(js[i].id for i in np.flatnonzero(bad)[:3]),
                    )
                )
            keep = np.flatnonzero(~bad)
            ms = MetricScores(
                metric=name,
                criterion=crit,
                ids=[js[i].id for i in keep],
                scores=scores[keep],
                human=human[keep],
                groups=[js[i].item_id for i in keep],
                systems=[js[i].system for i in keep] if has_systems else None,
            )
            result.scores.append(ms)
            crit_scores.append(ms)
            base = {"dataset": dataset, "criterion": crit, "metric": name}
            if keep.size == 0:
                continue
            result.rows.extend(_correlation_rows(base, ms, config, int(bad.sum())))
            if config.pairwise:
                probs, labels, groups = _graded_pairs(ms)
                if probs.size:
                    result.rows.append(_pair_row(base, probs, labels, groups, config, int(bad.sum())))
        result.significance.extend(_significance_rows(dataset, crit_scores, config))

    if config.pairwise:
        for crit in sorted(pref_by_crit):
            prefs = pref_by_crit[crit]
            pairs = [
                PairItem(
                    output_a=p.output_a,
                    output_b=p.output_b,
                    reference=p.reference or (p.references[0] if p.references else None),
                    **_item(p),
                )
                for p in prefs
            ]
            for name, judge in judges.items():
                probs = np.array(
                    judge.compare(
                        pairs, batch_size=config.batch_size, show_progress=config.show_progress
                    ).probabilities,
                    dtype=float,
                )
                bad = ~np.isfinite(probs)
                if bad.any():
                    result.exclusions.append(
                        Exclusion(
                            criterion=crit,
                            metric=name,
                            reason="metric returned NaN or infinite probabilities",
                            count=int(bad.sum()),
                            first=tuple(prefs[i].id for i in np.flatnonzero(bad)[:3]),
                        )
                    )
                keep = np.flatnonzero(~bad)
                if keep.size:
                    base = {"dataset": dataset, "criterion": crit, "metric": name}
                    result.rows.append(
                        _pair_row(
                            base,
                            probs[keep],
                            [prefs[i].label for i in keep],
                            [prefs[i].item_id for i in keep],
                            config,
                            int(bad.sum()),
                        )
                    )
    return result
