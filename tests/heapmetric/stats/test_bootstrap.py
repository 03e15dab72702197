"""Bootstrap intervals: determinism under a seed, coverage of the point estimate, the resampled unit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heapmetric.stats.bootstrap import (
    bootstrap,
    bootstrap_correlation,
    bootstrap_pairwise_accuracy,
    percentile_ci,
)
from heapmetric.stats.correlation import level_correlation


def _data(seed=0, n_inputs=30, n_systems=5):
    rng = np.random.default_rng(seed)
    human = rng.normal(size=n_inputs * n_systems)
    metric = human + rng.normal(scale=1.0, size=human.size)
    groups = np.repeat(np.arange(n_inputs), n_systems)
    systems = np.tile(np.arange(n_systems), n_inputs)
    return metric, human, groups, systems


def test_percentile_ci_hand_computed():
    ci = percentile_ci(np.arange(101, dtype=float), confidence=0.9)
    assert (ci.low, ci.high) == (pytest.approx(5.0), pytest.approx(95.0))
    ci = percentile_ci([1.0, math.nan, 3.0])
    assert ci.n_failed == 1 and ci.n_resamples == 3


@pytest.mark.parametrize("level", ["segment", "item", "system"])
def test_same_seed_same_interval_and_estimate_inside(level):
    metric, human, groups, systems = _data()
    kw = {"groups": groups, "systems": systems, "n_resamples": 200}
    one = bootstrap_correlation(level, metric, human, "spearman", rng=np.random.default_rng(7), **kw)
    two = bootstrap_correlation(level, metric, human, "spearman", rng=np.random.default_rng(7), **kw)
    other = bootstrap_correlation(level, metric, human, "spearman", rng=np.random.default_rng(8), **kw)
    assert one == two
    assert one != other
    point = level_correlation(level, metric, human, "spearman", groups=groups, systems=systems).value
    assert one.low <= point <= one.high


def test_item_level_resamples_inputs_not_outputs():
    metric, human, groups, systems = _data(n_inputs=3)
    seen = []

    def stat(idx):
        seen.append(idx)
        return float(len(idx))

    bootstrap(stat, 3, n_resamples=5, rng=np.random.default_rng(0))
    assert all(len(i) == 3 and set(i) <= {0, 1, 2} for i in seen)


def test_constant_draws_are_counted_as_failed():
    # two systems only: many system-level resamples draw the same system twice -> constant -> nan
    metric = [1.0, 2.0, 1.5, 2.5]
    human = [1.0, 2.0, 1.0, 2.0]
    systems = ["a", "b", "a", "b"]
    ci = bootstrap_correlation(
        "system", metric, human, "pearson", systems=systems, n_resamples=100, rng=np.random.default_rng(0)
    )
    assert 0 < ci.n_failed < 100


def test_pairwise_accuracy_bootstrap():
    credit = np.array([1, 1, 0, 1, 0.5, 1, 1, 0])
    ci = bootstrap_pairwise_accuracy(
        credit, groups=[0, 0, 1, 1, 2, 2, 3, 3], n_resamples=300, rng=np.random.default_rng(1)
    )
    assert ci.low <= credit.mean() <= ci.high
    assert 0 <= ci.low and ci.high <= 1
