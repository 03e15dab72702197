"""Williams test against a hand-computed example and scipy; permutation test sanity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from heapmetric.errors import InputError
from heapmetric.stats.significance import permutation_test, williams_test


def test_williams_hand_computed():
    # r12 = 0.6, r13 = 0.4, r23 = 0.5, n = 100
    # K = 1 - .36 - .16 - .25 + 2(.6)(.4)(.5) = 0.47
    # t = 0.2 sqrt(99 * 1.5) / sqrt(2 * .47 * 99 / 97 + (1.0^2 / 4)(0.5^3)) = 2.43721 / 0.995304 = 2.44871
    r = williams_test(0.6, 0.4, 0.5, 100)
    assert r.statistic == pytest.approx(2.44871, abs=1e-4)
    assert r.df == 97
    assert r.p_value == pytest.approx(stats.t.sf(2.44871, 97), rel=1e-3)
    assert r.p_value < 0.01
    two = williams_test(0.6, 0.4, 0.5, 100, alternative="two-sided")
    assert two.p_value == pytest.approx(2 * r.p_value)
    # symmetric: swapping the metrics flips the sign of t
    assert williams_test(0.4, 0.6, 0.5, 100).statistic == pytest.approx(-r.statistic)


def test_williams_equal_correlations_and_errors():
    r = williams_test(0.5, 0.5, 0.3, 50)
    assert r.statistic == 0 and r.p_value == pytest.approx(0.5)
    with pytest.raises(InputError, match="more than 3"):
        williams_test(0.5, 0.4, 0.3, 3)
    with pytest.raises(InputError, match="r23"):
        williams_test(0.5, 0.4, 1.3, 30)


def _metrics(seed=0, n_inputs=25, n_out=4):
    rng = np.random.default_rng(seed)
    human = rng.normal(size=n_inputs * n_out)
    good = human + rng.normal(scale=0.5, size=human.size)
    bad = human + rng.normal(scale=3.0, size=human.size)
    groups = np.repeat(np.arange(n_inputs), n_out)
    return human, good, bad, groups


def test_permutation_detects_a_real_difference():
    human, good, bad, groups = _metrics()
    r = permutation_test(
        good, bad, human, "pearson", groups=groups, n_resamples=300, rng=np.random.default_rng(0)
    )
    assert r.delta > 0.3 and r.p_value < 0.01


def test_permutation_identical_metrics_gives_p_one_and_is_deterministic():
    human, good, _, groups = _metrics()
    r = permutation_test(
        good, good * 3 + 1, human, "spearman", groups=groups, n_resamples=100, rng=np.random.default_rng(0)
    )
    assert r.delta == pytest.approx(0.0) and r.p_value == 1.0
    human, a, b, groups = _metrics(seed=3)
    kw = {"groups": groups, "level": "item", "n_resamples": 100}
    first = permutation_test(a, b, human, "kendall", rng=np.random.default_rng(5), **kw)
    assert first == permutation_test(a, b, human, "kendall", rng=np.random.default_rng(5), **kw)


def test_permutation_null_p_values_are_not_tiny():
    # two equally noisy metrics: the p-value should usually be large
    rng = np.random.default_rng(11)
    human = rng.normal(size=120)
    a = human + rng.normal(size=120)
    b = human + rng.normal(size=120)
    r = permutation_test(a, b, human, "pearson", n_resamples=200, rng=np.random.default_rng(0))
    assert r.p_value > 0.05
    assert not math.isnan(r.delta)
