"""Correlation statistics against hand-computed and scipy values, incl. ties and constant vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from heapmetric.errors import InputError
from heapmetric.stats.correlation import (
    correlation,
    item_level,
    kendall,
    level_correlation,
    pairwise_accuracy,
    pearson,
    segment_level,
    spearman,
    system_level,
)


def test_pearson_hand_computed():
    # x mean 2.5, y mean 5; sum dx*dy = 11, sum dx^2 = 5, sum dy^2 = 26
    assert pearson([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(11 / math.sqrt(5 * 26))


def test_spearman_uses_average_ranks_for_ties():
    x, y = [1, 2, 2, 3], [10, 20, 40, 30]
    # ranks x: 1, 2.5, 2.5, 4; ranks y: 1, 2, 4, 3
    assert spearman(x, y) == pytest.approx(pearson([1, 2.5, 2.5, 4], [1, 2, 4, 3]))


def test_kendall_b_and_c_with_ties_hand_computed():
    x, y = [1, 2, 2, 3], [1, 2, 3, 3]
    # 4 concordant, 0 discordant, 1 pair tied on x only, 1 tied on y only, 6 pairs in all
    assert kendall(x, y) == pytest.approx(4 / math.sqrt((6 - 1) * (6 - 1)))
    # tau-c = 2 (C - D) / (n^2 (m - 1) / m) with m = min(#distinct x, #distinct y) = 3
    assert kendall(x, y, variant="c") == pytest.approx(2 * 4 / (16 * 2 / 3))


def test_match_scipy_on_random_data_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, 50).astype(float)
    y = x + rng.integers(-2, 3, 50)
    assert pearson(x, y) == pytest.approx(sps.pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y)[0])
    assert kendall(x, y) == pytest.approx(sps.kendalltau(x, y)[0])
    assert kendall(x, y, "c") == pytest.approx(sps.kendalltau(x, y, variant="c")[0])


@pytest.mark.parametrize("stat", ["pearson", "spearman", "kendall"])
def test_constant_or_short_input_gives_nan(stat):
    assert math.isnan(correlation([3, 3, 3], [1, 2, 3], stat))
    assert math.isnan(correlation([1, 2, 3], [2, 2, 2], stat))
    assert math.isnan(correlation([1], [2], stat))


def test_bad_input_raises_clear_errors():
    with pytest.raises(InputError, match="non-finite"):
        pearson([1, float("nan"), 3], [1, 2, 3])
    with pytest.raises(InputError, match="differ in length"):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(InputError, match="variant"):
        kendall([1, 2], [1, 2], variant="a")
    with pytest.raises(InputError, match="statistic"):
        correlation([1, 2], [1, 2], "cosine")


def test_item_level_averages_groups_and_counts_skips():
    metric = [1, 2, 3, 5, 5, 5, 3, 2, 1, 7]
    human = [1, 2, 3, 1, 2, 3, 1, 2, 3, 4]
    groups = ["a", "a", "a", "b", "b", "b", "c", "c", "c", "d"]
    r = item_level(metric, human, groups, "pearson")
    # a: +1, b: constant metric (skipped), c: -1, d: one output (skipped)
    assert r.value == pytest.approx(0.0)
    assert (r.n, r.n_groups, r.n_constant, r.n_small) == (2, 4, 1, 1)
    k = item_level(metric[:3] + [1, 3, 2], human[:3] + [1, 2, 3], ["a"] * 3 + ["b"] * 3, "kendall")
    assert k.value == pytest.approx((1 + 1 / 3) / 2)


def test_item_level_all_constant_is_nan():
    r = item_level([1, 1, 2, 2], [1, 2, 3, 4], ["a", "a", "b", "b"], "spearman")
    assert math.isnan(r.value) and r.n == 0 and r.n_constant == 2


def test_system_level_correlates_means():
    metric = [1, 3, 2, 4, 10, 12]
    human = [1, 1, 2, 2, 3, 5]
    systems = ["s1", "s1", "s2", "s2", "s3", "s3"]
    r = system_level(metric, human, systems, "pearson")
    assert r.n == 3
    assert r.value == pytest.approx(pearson([2, 3, 11], [1, 2, 4]))
    assert level_correlation("system", metric, human, "pearson", systems=systems) == r


def test_segment_level_counts_constant():
    r = segment_level([1, 1, 1], [1, 2, 3], "pearson")
    assert math.isnan(r.value) and r.n == 3 and r.n_constant == 1
    with pytest.raises(InputError, match="groups"):
        level_correlation("item", [1, 2], [1, 2], "pearson")
    with pytest.raises(InputError, match="level"):
        level_correlation("corpus", [1, 2], [1, 2], "pearson")


def test_pairwise_accuracy_ties_and_predicted_ties():
    p = [0.9, 0.2, 0.5, 0.7, 0.1, 0.5]
    labels = ["a", "a", "b", "tie", "b", "tie"]
    r = pairwise_accuracy(p, labels)
    # decided pairs: 0.9/a right, 0.2/a wrong, 0.5/b half, 0.1/b right -> 2.5 / 4
    assert r.accuracy == pytest.approx(2.5 / 4)
    assert (r.n, r.n_ties, r.n_pred_ties) == (4, 2, 1)
    assert r.tie_agreement == pytest.approx(0.5)
    wide = pairwise_accuracy(p, labels, tie_tolerance=0.25)
    # among decided pairs only 0.5 is within 0.25 of 0.5 (0.2 is not); both human ties (0.7, 0.5) are
    assert wide.n_pred_ties == 1 and wide.tie_agreement == 1.0
    assert math.isnan(pairwise_accuracy([0.4], ["tie"]).accuracy)
    with pytest.raises(InputError, match="label"):
        pairwise_accuracy([0.4], ["left"])


@pytest.mark.parametrize("n", [40, 400])
def test_kendall_matches_scipy_on_both_code_paths(n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 7, n).astype(float)
    y = x + rng.integers(-3, 4, n)
    for variant in ("b", "c"):
        assert kendall(x, y, variant) == pytest.approx(sps.kendalltau(x, y, variant=variant)[0])


@pytest.mark.parametrize(
    "stat,variant", [("pearson", "b"), ("spearman", "b"), ("kendall", "b"), ("kendall", "c")]
)
def test_vectorised_item_level_equals_per_group_scipy(stat, variant):
    rng = np.random.default_rng(5)
    n_groups, k = 20, 6
    metric = rng.integers(0, 4, n_groups * k).astype(float)
    human = metric + rng.integers(-2, 3, n_groups * k)
    metric[:k] = 1.0  # one constant group
    groups = np.repeat(np.arange(n_groups), k)
    fn = {
        "pearson": lambda x, y: sps.pearsonr(x, y)[0],
        "spearman": lambda x, y: sps.spearmanr(x, y)[0],
        "kendall": lambda x, y: sps.kendalltau(x, y, variant=variant)[0],
    }[stat]
    expected = [
        fn(metric[groups == g], human[groups == g])
        for g in range(1, n_groups)
        if len(set(metric[groups == g])) > 1 and len(set(human[groups == g])) > 1
    ]
    r = item_level(metric, human, groups, stat, variant=variant)
    assert r.value == pytest.approx(np.mean(expected))
    assert r.n == len(expected) and r.n_constant == n_groups - len(expected)
