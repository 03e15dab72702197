"""Correlation of metric scores with human judgements, and pairwise accuracy on preferences.

Pure functions on arrays. Each correlation returns ``nan`` when it is undefined (fewer than two points or
a constant vector) instead of warning; callers count those cases (see :class:`LevelCorrelation`).
Non-finite inputs are an error, never dropped silently.

Levels follow the meta-evaluation literature (SummEval, UniEval, G-Eval):

- *segment*: all outputs pooled, one correlation;
- *item* ("summary-level"): the correlation across the outputs of one input, averaged over inputs;
  inputs where the metric or the human scores are constant are skipped and counted;
- *system*: the correlation of per-system mean scores.

>>> round(pearson([1, 2, 3, 4], [2, 4, 5, 9]), 4)
0.9648
>>> spearman([1, 2, 3], [5, 5, 5])
nan
>>> round(kendall([1, 2, 3, 4], [1, 3, 2, 4]), 4)
0.6667
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from heapmetric.errors import InputError

STATISTICS = ("pearson", "spearman", "kendall")
LEVELS = ("segment", "item", "system")
KENDALL_VARIANTS = ("b", "c")


def as_arrays(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D float arrays of equal length with only finite values, else :class:`InputError`."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.ndim != 1 or b.ndim != 1:
        raise InputError(f"expected two 1-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise InputError(f"x and y differ in length ({a.size} vs {b.size})")
    bad = int((~np.isfinite(a)).sum() + (~np.isfinite(b)).sum())
    if bad:
        raise InputError(
            f"{bad} non-finite value(s) (NaN or inf) in the scores; exclude them before correlating"
        )
    return a, b


def is_constant(x: Sequence[float] | np.ndarray) -> bool:
    """True when ``x`` has fewer than two distinct values (a correlation with it is undefined)."""
    a = np.asarray(x, dtype=float)
    return a.size < 2 or bool(np.all(a == a[0]))


def _undefined(a: np.ndarray, b: np.ndarray) -> bool:
    return a.size < 2 or is_constant(a) or is_constant(b)


def _pearson_raw(a: np.ndarray, b: np.ndarray) -> float:
    da, db = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(da @ da) * float(db @ db))
    return float(np.clip((da @ db) / denom, -1.0, 1.0)) if denom > 0 else math.nan


def _rank(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a)


def _kendall_raw(a: np.ndarray, b: np.ndarray, variant: str) -> float:
    n = a.size
    if n > 300:  # O(n log n) in scipy beats the O(n^2) pair matrix on long vectors
        from scipy import stats

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(stats.kendalltau(a, b, variant=variant)[0])
    sx = np.sign(a[:, None] - a[None, :])
    sy = np.sign(b[:, None] - b[None, :])
    s = float((sx * sy).sum()) / 2  # concordant minus discordant pairs
    if variant == "c":
        m = min(np.unique(a).size, np.unique(b).size)
        return 2 * s / (n * n * (m - 1) / m)
    n0 = n * (n - 1) / 2
    tx = n0 - float(np.count_nonzero(sx)) / 2  # pairs tied on x
    ty = n0 - float(np.count_nonzero(sy)) / 2
    return s / math.sqrt((n0 - tx) * (n0 - ty))


def _correlation_raw(a: np.ndarray, b: np.ndarray, statistic: str, variant: str) -> float:
    """The correlation of two checked arrays; ``nan`` when undefined."""
    if _undefined(a, b):
        return math.nan
    if statistic == "pearson":
        return _pearson_raw(a, b)
    if statistic == "spearman":
        return _pearson_raw(_rank(a), _rank(b))
    return _kendall_raw(a, b, variant)


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Pearson's r of ``x`` and ``y``; ``nan`` for a constant vector or fewer than two points."""
    a, b = as_arrays(x, y)
    return _correlation_raw(a, b, "pearson", "b")


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho (Pearson on average ranks, so ties share a rank); ``nan`` when undefined."""
    a, b = as_arrays(x, y)
    return _correlation_raw(a, b, "spearman", "b")


def kendall(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, variant: str = "b") -> float:
    """Kendall's tau: ``variant="b"`` (tie-corrected, the SummEval/G-Eval default) or ``"c"`` (Stuart's
    tau-c, for rectangular tables); ``nan`` when undefined. Equal to ``scipy.stats.kendalltau``."""
    if variant not in KENDALL_VARIANTS:
        raise InputError(f"unknown Kendall variant {variant!r} (expected 'b' or 'c')", field="variant")
    a, b = as_arrays(x, y)
    return _correlation_raw(a, b, "kendall", variant)


def correlation(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, statistic: str, *, variant: str = "b"
) -> float:
    """Dispatch on ``statistic`` (``pearson``, ``spearman`` or ``kendall``)."""
    if statistic not in STATISTICS:
        raise InputError(
            f"unknown statistic {statistic!r} (expected one of {', '.join(STATISTICS)})", field="statistic"
        )
    if variant not in KENDALL_VARIANTS:
        raise InputError(f"unknown Kendall variant {variant!r} (expected 'b' or 'c')", field="variant")
    a, b = as_arrays(x, y)
    return _correlation_raw(a, b, statistic, variant)


@dataclass(frozen=True)
class LevelCorrelation:
    """A correlation at one level.

    ``n`` is the number of observations behind ``value``: outputs (segment), inputs that entered the
    average (item) or systems (system). ``n_groups`` is how many groups there were; ``n_constant`` how many
    were skipped because the metric or the human scores were constant in them, ``n_small`` how many had
    fewer than two outputs. ``value`` is ``nan`` when nothing was left.
    """

    value: float
    n: int
    n_groups: int = 0
    n_constant: int = 0
    n_small: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def segment_level(
    metric: Sequence[float] | np.ndarray,
    human: Sequence[float] | np.ndarray,
    statistic: str,
    *,
    variant: str = "b",
) -> LevelCorrelation:
    """One correlation over all outputs pooled."""
    a, b = as_arrays(metric, human)
    value = correlation(a, b, statistic, variant=variant)
    constant = int(math.isnan(value) and a.size >= 2)
    return LevelCorrelation(
        value=value, n=int(a.size), n_groups=1, n_constant=constant, n_small=int(a.size < 2)
    )


def group_indices(groups: Sequence[Hashable]) -> list[np.ndarray]:
    """The positions of each distinct group value, groups in first-seen order."""
    index: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(g, []).append(i)
    return [np.asarray(v, dtype=int) for v in index.values()]


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip((dx * dy).sum(axis=1) / denom, -1.0, 1.0)


def per_group_correlations(
    metric: np.ndarray, human: np.ndarray, parts: Sequence[np.ndarray], statistic: str, variant: str = "b"
) -> np.ndarray:
    """The correlation within each group of positions ``parts`` (``nan`` where undefined: fewer than two
    outputs or a constant vector). Vectorised when all groups have the same size, as in SummEval."""
    sizes = {p.size for p in parts}
    if len(parts) > 1 and len(sizes) == 1 and next(iter(sizes)) >= 2:
        idx = np.stack(parts)
        x, y = metric[idx], human[idx]
        k = idx.shape[1]
        undefined = np.all(x == x[:, :1], axis=1) | np.all(y == y[:, :1], axis=1)
        if statistic == "pearson":
            vals = _rowwise_pearson(x, y)
        elif statistic == "spearman":
            from scipy.stats import rankdata

            vals = _rowwise_pearson(rankdata(x, axis=1), rankdata(y, axis=1))
        else:
            sx = np.sign(x[:, :, None] - x[:, None, :])
            sy = np.sign(y[:, :, None] - y[:, None, :])
            conc = (sx * sy).sum(axis=(1, 2)) / 2
            with np.errstate(invalid="ignore", divide="ignore"):
                if variant == "c":
                    distinct = lambda z: (np.diff(np.sort(z, axis=1), axis=1) != 0).sum(axis=1) + 1  # noqa: E731
                    m = np.minimum(distinct(x), distinct(y)).astype(float)
                    vals = 2 * conc / (k * k * (m - 1) / m)
                else:
                    n0 = k * (k - 1) / 2
                    tx = n0 - np.count_nonzero(sx, axis=(1, 2)) / 2
                    ty = n0 - np.count_nonzero(sy, axis=(1, 2)) / 2
                    vals = conc / np.sqrt((n0 - tx) * (n0 - ty))
        vals = np.asarray(vals, dtype=float)
        vals[undefined] = np.nan
        return vals
    return np.array(
        [
            _correlation_raw(metric[p], human[p], statistic, variant) if p.size >= 2 else math.nan
            for p in parts
        ],
        dtype=float,
    )


def item_level(
    metric: Sequence[float] | np.ndarray,
    human: Sequence[float] | np.ndarray,
    groups: Sequence[Hashable],
    statistic: str,
    *,
    variant: str = "b",
) -> LevelCorrelation:
    """The correlation across the outputs of each input (``groups`` gives each output's input id),
    averaged over inputs; inputs with a constant vector or a single output are skipped and counted."""
    a, b = as_arrays(metric, human)
    if len(groups) != a.size:
        raise InputError(f"groups has {len(groups)} entries for {a.size} scores")
    correlation(a[:0], b[:0], statistic, variant=variant)  # validates the names
    parts = group_indices(groups)
    vals = per_group_correlations(a, b, parts, statistic, variant)
    small = int(sum(p.size < 2 for p in parts))
    valid = vals[np.isfinite(vals)]
    constant = len(parts) - small - int(valid.size)
    value = float(valid.mean()) if valid.size else math.nan
    return LevelCorrelation(
        value=value, n=int(valid.size), n_groups=len(parts), n_constant=constant, n_small=small
    )


def system_means(values: Sequence[float] | np.ndarray, systems: Sequence[Hashable]) -> dict[Hashable, float]:
    """Mean of ``values`` per system, systems in first-seen order."""
    a = np.asarray(values, dtype=float)
    if len(systems) != a.size:
        raise InputError(f"systems has {len(systems)} entries for {a.size} scores")
    return {systems[idx[0]]: float(a[idx].mean()) for idx in group_indices(systems)}


def system_level(
    metric: Sequence[float] | np.ndarray,
    human: Sequence[float] | np.ndarray,
    systems: Sequence[Hashable],
    statistic: str,
    *,
    variant: str = "b",
) -> LevelCorrelation:
    """The correlation of per-system mean metric scores with per-system mean human scores."""
    a, b = as_arrays(metric, human)
    ma, mb = system_means(a, systems), system_means(b, systems)
    x = np.array(list(ma.values()))
    y = np.array([mb[s] for s in ma])
    value = correlation(x, y, statistic, variant=variant)
    return LevelCorrelation(
        value=value,
        n=int(x.size),
        n_groups=int(x.size),
        n_constant=int(math.isnan(value) and x.size >= 2),
        n_small=0,
    )


def level_correlation(
    level: str,
    metric: Sequence[float] | np.ndarray,
    human: Sequence[float] | np.ndarray,
    statistic: str,
    *,
    groups: Sequence[Hashable] | None = None,
    systems: Sequence[Hashable] | None = None,
    variant: str = "b",
) -> LevelCorrelation:
    """Dispatch on ``level``: ``segment``, ``item`` (needs ``groups``) or ``system`` (needs ``systems``)."""
    if level == "segment":
        return segment_level(metric, human, statistic, variant=variant)
    if level == "item":
        if groups is None:
            raise InputError("item-level correlation needs the input id of each output", field="groups")
        return item_level(metric, human, groups, statistic, variant=variant)
    if level == "system":
        if systems is None:
            raise InputError("system-level correlation needs the system of each output", field="systems")
        return system_level(metric, human, systems, statistic, variant=variant)
    raise InputError(f"unknown level {level!r} (expected one of {', '.join(LEVELS)})", field="level")


@dataclass(frozen=True)
class PairwiseAccuracy:
    """Agreement of P(a better) with human preference labels.

    ``accuracy`` = ``n_correct / n`` over the pairs humans did not tie (``n``); a predicted tie
    (P within ``tie_tolerance`` of 0.5) earns half a point and is counted in ``n_pred_ties``.
    ``n_ties`` counts the human ties, excluded from ``accuracy``; ``tie_agreement`` is the share of those
    the judge also called a tie (``nan`` when there were none).
    """

    accuracy: float
    n: int
    n_correct: float
    n_ties: int
    n_pred_ties: int
    tie_agreement: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairwise_accuracy(
    p_a_better: Sequence[float] | np.ndarray, labels: Sequence[str], *, tie_tolerance: float = 0.0
) -> PairwiseAccuracy:
    """Score judge probabilities against labels ``a`` / ``b`` / ``tie`` (see :class:`PairwiseAccuracy`).

    >>> pairwise_accuracy([0.9, 0.2, 0.5, 0.7], ["a", "a", "b", "tie"]).accuracy
    0.5
    """
    p = np.asarray(p_a_better, dtype=float)
    if p.ndim != 1 or p.size != len(labels):
        raise InputError(f"{p.size} probabilities for {len(labels)} labels")
    if not np.all(np.isfinite(p)):
        raise InputError(f"{int((~np.isfinite(p)).sum())} non-finite probability(ies); exclude them first")
    lab = np.asarray(labels, dtype=object)
    unknown = sorted({str(x) for x in lab} - {"a", "b", "tie"})
    if unknown:
        raise InputError(f"unknown label(s) {', '.join(unknown)} (expected a, b or tie)", field="label")
    pred_tie = np.abs(p - 0.5) <= tie_tolerance
    human_tie = lab == "tie"
    decided = ~human_tie
    right = np.where(lab == "a", p > 0.5, p < 0.5) & ~pred_tie
    credit = right.astype(float) + 0.5 * pred_tie
    n = int(decided.sum())
    n_correct = float(credit[decided].sum())
    n_ties = int(human_tie.sum())
    return PairwiseAccuracy(
        accuracy=n_correct / n if n else math.nan,
        n=n,
        n_correct=n_correct,
        n_ties=n_ties,
        n_pred_ties=int(pred_tie[decided].sum()),
        tie_agreement=float(pred_tie[human_tie].mean()) if n_ties else math.nan,
    )
