from __future__ import annotations

import pytest

from heapmetric.data.aggregation import AGGREGATIONS, aggregate, aggregate_mean
from heapmetric.errors import UnknownNameError


def test_mean_floor_mean_median():
    assert aggregate([1, 2, 2]) == pytest.approx(5 / 3)
    assert aggregate([1, 2, 2], "floor_mean") == 1.0
    assert aggregate([1, 2, 2], "median") == 2.0
    assert aggregate([1, 2, 3, 4], "median") == 2.5
    assert set(AGGREGATIONS) == {"mean", "floor_mean", "median"}


def test_floor_mean_is_robust_to_float_error():
    # 3 ratings whose mean is exactly 3 must floor to 3 even when summed in another order
    assert aggregate([2.9999999999999996], "floor_mean") == 3.0
    assert aggregate([0.1, 0.2, 5.7], "floor_mean") == 2.0


def test_from_mean_only():
    assert aggregate_mean(2.6666666667, "floor_mean") == (2.0, "floor_mean")
    assert aggregate_mean(2.6666666667, "mean") == (2.6666666667, "mean")
    assert aggregate_mean(2.5, "median") == (2.5, "mean")  # a median cannot come from a mean


def test_errors():
    with pytest.raises(UnknownNameError, match="aggregation 'avg'"):
        aggregate([1], "avg")
    with pytest.raises(ValueError):
        aggregate([], "mean")
