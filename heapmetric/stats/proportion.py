"""Confidence intervals of a proportion.

>>> low, high = wilson_interval(45, 50)
>>> round(low, 3), round(high, 3)
(0.786, 0.957)
"""

from __future__ import annotations

import math
from statistics import NormalDist

from heapmetric.errors import InputError


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n``; ``successes`` may be fractional (a tie counted as half).

    ``(nan, nan)`` when ``n`` is 0. Raises :class:`InputError` for a confidence outside (0, 1) or successes
    outside ``[0, n]``.
    """
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}", field="confidence")
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= successes <= n:
        raise InputError(f"successes must be in [0, {n}], got {successes}", field="successes")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
