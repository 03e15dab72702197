"""Is metric A's correlation with humans really higher than metric B's?

- :func:`permutation_test`: a paired permutation test (Deutsch et al. 2021, "perm-inputs"): for each input,
  A's and B's scores of all its outputs are swapped with probability 1/2 (after z-normalising each metric so
  their scales match) and the difference of correlations recomputed.
- :func:`williams_test`: the Williams (1959) t-test for two dependent correlations that share one variable
  (the human scores), as used by WMT and Graham & Baldwin (2014).

Pure functions; the permutation test takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from heapmetric.errors import InputError
from heapmetric.stats.correlation import as_arrays, group_indices, level_correlation

ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class SignificanceResult:
    """``delta`` = corr(A) - corr(B) (observed); ``p_value`` under ``alternative`` (``greater``: A > B).
    ``statistic`` is the test statistic (Williams' t; the observed delta for the permutation test)."""

    delta: float
    p_value: float
    statistic: float
    alternative: str
    n: int
    n_resamples: int = 0
    df: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise InputError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}", field="alternative"
        )


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x - x.mean()


def permutation_test(
    metric_a: Sequence[float] | np.ndarray,
    metric_b: Sequence[float] | np.ndarray,
    human: Sequence[float] | np.ndarray,
    statistic: str,
    *,
    level: str = "segment",
    groups: Sequence[Hashable] | None = None,
    systems: Sequence[Hashable] | None = None,
    variant: str = "b",
    n_resamples: int = 1000,
    rng: np.random.Generator,
    alternative: str = "two-sided",
) -> SignificanceResult:
    """Paired permutation test of corr(A, human) - corr(B, human) at ``level``.

    Swaps are done per input (``groups``; per output when None). The p-value is
    ``(1 + #{permuted deltas at least as extreme}) / (1 + n_resamples)``; undefined permuted deltas are
    dropped from the count and from the denominator.
    """
    _check_alternative(alternative)
    a, h = as_arrays(metric_a, human)
    b, _ = as_arrays(metric_b, human)
    a, b = _zscore(a), _zscore(b)
    kw = {"groups": groups, "systems": systems, "variant": variant}

    def delta(x: np.ndarray, y: np.ndarray) -> float:
        return (
            level_correlation(level, x, h, statistic, **kw).value
            - level_correlation(level, y, h, statistic, **kw).value
        )

    observed = delta(a, b)
    if math.isnan(observed):
        return SignificanceResult(math.nan, math.nan, math.nan, alternative, int(a.size), 0)
    parts = group_indices(groups) if groups is not None else [np.array([i]) for i in range(a.size)]
    owner = np.empty(a.size, dtype=int)
    for g, idx in enumerate(parts):
        owner[idx] = g
    hits, valid = 0, 0
    for _ in range(n_resamples):
        swap = rng.random(len(parts)) < 0.5
        mask = swap[owner]
        d = delta(np.where(mask, b, a), np.where(mask, a, b))
        if math.isnan(d):
            continue
        valid += 1
        if alternative == "two-sided":
            hits += abs(d) >= abs(observed) - 1e-12
        elif alternative == "greater":
            hits += d >= observed - 1e-12
        else:
            hits += d <= observed + 1e-12
    return SignificanceResult(
        delta=observed,
        p_value=(1 + hits) / (1 + valid),
        statistic=observed,
        alternative=alternative,
        n=int(a.size),
        n_resamples=valid,
    )


def williams_test(
    r12: float, r13: float, r23: float, n: int, *, alternative: str = "greater"
) -> SignificanceResult:
    """Williams' test that corr(1, 2) differs from corr(1, 3) given corr(2, 3), on ``n`` paired observations.

    Variable 1 is the human score, 2 and 3 are the metrics. ``t`` has ``n - 3`` degrees of freedom::

        K = 1 - r12² - r13² - r23² + 2 r12 r13 r23
        t = (r12 - r13) sqrt((n - 1)(1 + r23)) / sqrt(2 K (n - 1)/(n - 3) + (r12 + r13)²/4 (1 - r23)³)

    ``alternative="greater"`` (the WMT convention) tests r12 > r13.
    """
    _check_alternative(alternative)
    if n <= 3:
        raise InputError(f"the Williams test needs more than 3 observations, got {n}", field="n")
    for name, r in (("r12", r12), ("r13", r13), ("r23", r23)):
        if not -1 <= r <= 1:
            raise InputError(f"{name} must be a correlation in [-1, 1], got {r}", field=name)
    from scipy import stats

    k = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    denom = math.sqrt(max(2 * k * (n - 1) / (n - 3) + ((r12 + r13) ** 2 / 4) * (1 - r23) ** 3, 0.0))
    if denom == 0:
        return SignificanceResult(r12 - r13, math.nan, math.nan, alternative, n, df=n - 3)
    t = (r12 - r13) * math.sqrt((n - 1) * (1 + r23)) / denom
    df = n - 3
    if alternative == "greater":
        p = float(stats.t.sf(t, df))
    elif alternative == "less":
        p = float(stats.t.cdf(t, df))
    else:
        p = float(2 * stats.t.sf(abs(t), df))
    return SignificanceResult(
        delta=r12 - r13, p_value=p, statistic=float(t), alternative=alternative, n=n, df=df
    )
