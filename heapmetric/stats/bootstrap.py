"""Bootstrap confidence intervals for correlations, resampling the unit the level is about.

Following Deutsch et al. (2021, "A Statistical Analysis of Summarization Evaluation Metrics using Resampling
Methods"): segment- and item-level correlations resample *inputs* (all outputs of a drawn input come along),
system-level correlations resample *systems*. Percentile intervals. Every procedure takes an explicit
``numpy.random.Generator``, so a seed fixes the result; resamples on which the statistic is undefined (e.g. a
draw of constant values) are counted in ``n_failed`` and left out of the interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from heapmetric.errors import InputError
from heapmetric.stats.correlation import (
    as_arrays,
    correlation,
    group_indices,
    per_group_correlations,
    system_means,
)


@dataclass(frozen=True)
class BootstrapCI:
    """A percentile interval: ``low``/``high`` at ``confidence``, from ``n_resamples`` draws of which
    ``n_failed`` gave an undefined statistic; ``std`` is the standard deviation of the valid draws."""

    low: float
    high: float
    std: float
    n_resamples: int
    n_failed: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile_ci(draws: Sequence[float] | np.ndarray, confidence: float = 0.95) -> BootstrapCI:
    """The percentile interval of bootstrap ``draws`` (NaN draws counted as failed)."""
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}", field="confidence")
    a = np.asarray(draws, dtype=float)
    valid = a[np.isfinite(a)]
    failed = int(a.size - valid.size)
    if valid.size == 0:
        return BootstrapCI(math.nan, math.nan, math.nan, int(a.size), failed, confidence)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(valid, [alpha, 1 - alpha])
    return BootstrapCI(
        float(low),
        float(high),
        float(valid.std(ddof=1)) if valid.size > 1 else 0.0,
        int(a.size),
        failed,
        confidence,
    )


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n_units: int,
    *,
    n_resamples: int = 1000,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> BootstrapCI:
    """Resample ``n_units`` unit indices with replacement ``n_resamples`` times, call ``statistic(indices)``
    on each draw and return the percentile interval."""
    if n_resamples < 1:
        raise InputError(f"n_resamples must be >= 1, got {n_resamples}", field="bootstrap")
    if n_units < 1:
        return BootstrapCI(math.nan, math.nan, math.nan, 0, 0, confidence)
    draws = np.empty(n_resamples)
    for b in range(n_resamples):
        draws[b] = statistic(rng.integers(0, n_units, n_units))
    return percentile_ci(draws, confidence)


def bootstrap_correlation(
    level: str,
    metric: Sequence[float] | np.ndarray,
    human: Sequence[float] | np.ndarray,
    statistic: str,
    *,
    groups: Sequence[Hashable] | None = None,
    systems: Sequence[Hashable] | None = None,
    variant: str = "b",
    n_resamples: int = 1000,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> BootstrapCI:
    """Bootstrap interval of :func:`~heapmetric.stats.correlation.level_correlation` at ``level``.

    ``segment``: inputs (``groups``) are drawn and all their outputs pooled (each output is its own input
    when ``groups`` is None). ``item``: inputs are drawn and their per-input correlations averaged (inputs
    where it is undefined are skipped, as in the point estimate). ``system``: systems are drawn and the
    correlation of their mean scores computed (a system drawn twice counts twice).
    """
    a, b = as_arrays(metric, human)
    if level == "segment":
        parts = group_indices(groups) if groups is not None else [np.array([i]) for i in range(a.size)]

        def stat(idx: np.ndarray) -> float:
            sel = np.concatenate([parts[i] for i in idx])
            return correlation(a[sel], b[sel], statistic, variant=variant)

        return bootstrap(stat, len(parts), n_resamples=n_resamples, rng=rng, confidence=confidence)
    if level == "item":
        if groups is None:
            raise InputError("item-level bootstrap needs the input id of each output", field="groups")
        correlation(a[:0], b[:0], statistic, variant=variant)  # validates the names
        per_input = per_group_correlations(a, b, group_indices(groups), statistic, variant)

        def stat_item(idx: np.ndarray) -> float:
            v = per_input[idx]
            v = v[np.isfinite(v)]
            return float(v.mean()) if v.size else math.nan

        return bootstrap(stat_item, per_input.size, n_resamples=n_resamples, rng=rng, confidence=confidence)
    if level == "system":
        if systems is None:
            raise InputError("system-level bootstrap needs the system of each output", field="systems")
        ma, mb = system_means(a, systems), system_means(b, systems)
        x = np.array(list(ma.values()))
        y = np.array([mb[s] for s in ma])
        return bootstrap(
            lambda idx: correlation(x[idx], y[idx], statistic, variant=variant),
            x.size,
            n_resamples=n_resamples,
            rng=rng,
            confidence=confidence,
        )
    raise InputError(f"unknown level {level!r} (expected segment, item or system)", field="level")


def bootstrap_pairwise_accuracy(
    correct: Sequence[float] | np.ndarray,
    groups: Sequence[Hashable] | None = None,
    *,
    n_resamples: int = 1000,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> BootstrapCI:
    """Interval of a mean of per-pair credits (1, 0.5 or 0), resampling inputs (``groups``) when given."""
    c = np.asarray(correct, dtype=float)
    parts = group_indices(groups) if groups is not None else [np.array([i]) for i in range(c.size)]
    sums = np.array([c[p].sum() for p in parts])
    sizes = np.array([p.size for p in parts])
    return bootstrap(
        lambda idx: float(sums[idx].sum() / sizes[idx].sum()) if sizes[idx].sum() else math.nan,
        len(parts),
        n_resamples=n_resamples,
        rng=rng,
        confidence=confidence,
    )
