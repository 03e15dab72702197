"""How several annotators' ratings of one output become one score.

``mean`` (default) is the plain mean. ``floor_mean`` is ``floor(mean)``, what the original HEAP code does to
Likert ratings before forming pairs. ``median`` is the median (the data-to-text sources ship medians).

The aggregations apply to *Likert-type* ratings only. Scores that are already a proportion or an error sum
(LitePyramid recall, QAGS sentence share, MQM) are stored as the source gives them whatever the choice.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

AGGREGATIONS = ("mean", "floor_mean", "median")

# Means of 3 integer ratings are stored as floats such as 2.9999999999999996; floor must see 3.
_EPS = 1e-9


def check_aggregation(method: str) -> str:
    """``method`` if it is a known aggregation, else :class:`~heapmetric.errors.UnknownNameError`."""
    if method not in AGGREGATIONS:
        from heapmetric.errors import UnknownNameError

        raise UnknownNameError("aggregation", method, AGGREGATIONS)
    return method


def aggregate(values: Sequence[float], method: str = "mean") -> float:
    """Aggregate one output's annotator ratings with ``method`` (see module docstring).

    ``values`` must be non-empty; the result is a float.
    """
    check_aggregation(method)
    if not values:
        raise ValueError("no ratings to aggregate")
    if method == "median":
        return float(statistics.median(values))
    mean = math.fsum(values) / len(values)
    return float(math.floor(mean + _EPS)) if method == "floor_mean" else mean


def aggregate_mean(mean: float, method: str = "mean") -> tuple[float, str]:
    """Apply ``method`` when the source only gives the annotators' mean.

    Returns ``(score, method_used)``: ``floor_mean`` is exact from the mean; ``median`` cannot be recovered
    from a mean, so the mean is kept and ``"mean"`` is reported as the method used.
    """
    check_aggregation(method)
    if method == "floor_mean":
        return float(math.floor(mean + _EPS)), "floor_mean"
    return float(mean), "mean"
