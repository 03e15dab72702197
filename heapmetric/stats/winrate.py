"""AlpacaEval win-rate statistics as pure functions.

Preferences use alpaca_eval's encoding: a float in ``[1, 2]`` equal to ``1 + P(the model's output is preferred
over the baseline's)``; ``1.5`` is a draw (the legacy ``0`` is read as a draw too); ``None``/NaN means the judge
gave no usable verdict, and such items are left out of every statistic and counted in ``n_missing``.

The definitions are those of alpaca_eval's leaderboard (``metrics/winrate.py``):

- ``win_rate`` = 100 * mean(preference - 1); ``standard_error`` = 100 * its standard error (ddof=1);
- ``n_wins`` / ``n_wins_base``: preference above / below 1.5; ``n_draws``: exactly 1.5; ``n_total``: usable items;
- ``discrete_win_rate`` = 100 * (n_wins + n_draws / 2) / n_total (each preference rounded to a hard verdict);
- ``avg_length`` = the integer part of the mean number of characters of the model's outputs.

>>> r = win_rate([2.0, 1.0, 1.5, 1.75])
>>> r.win_rate, r.n_wins, r.n_draws, r.discrete_win_rate
(56.25, 2, 1, 62.5)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DRAW = 1.5


@dataclass(frozen=True)
class WinRate:
    """AlpacaEval's head-to-head summary of one model against the baseline."""

    win_rate: float
    standard_error: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n_total: int
    discrete_win_rate: float
    n_missing: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_preferences(values: Iterable[float | None]) -> np.ndarray:
    """Preferences as a float array: None becomes NaN and the legacy draw code 0 becomes 1.5.

    Raises ``ValueError`` naming the first value that is finite but outside ``[1, 2]``.
    """
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    arr[arr == 0.0] = DRAW
    bad = np.isfinite(arr) & ((arr < 1.0) | (arr > 2.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"preference {arr[i]!r} at index {i} is outside [1, 2] (alpaca_eval encoding)")
    return arr


def win_rate(preferences: Iterable[float | None]) -> WinRate:
    """Win rate, standard error, counts and discrete win rate from alpaca_eval-encoded preferences."""
    arr = as_preferences(preferences)
    usable = np.isfinite(arr)
    n_missing = int((~usable).sum())
    x = arr[usable] - 1.0
    n_total = int(x.size)
    n_draws = int((arr[usable] == DRAW).sum())
    n_wins = int((x > 0.5).sum())
    n_wins_base = int((x < 0.5).sum())
    if n_total == 0:
        nan = float("nan")
        return WinRate(nan, nan, 0, 0, 0, 0, nan, n_missing)
    rate = float(x.mean()) * 100.0
    se = float(x.std(ddof=1) / math.sqrt(n_total)) * 100.0 if n_total > 1 else float("nan")
    discrete = (n_wins + n_draws / 2.0) / n_total * 100.0
    return WinRate(rate, se, n_wins, n_wins_base, n_draws, n_total, discrete, n_missing)


def avg_length(outputs: Sequence[str]) -> int:
    """alpaca_eval's ``avg_length``: int(mean number of characters) of the model's outputs (0 if none)."""
    if not outputs:
        return 0
    return int(float(np.mean([len(o) for o in outputs])))


def preference_from_probability(p_model_better: float | None) -> float:
    """alpaca_eval preference ``1 + p`` from P(model better than baseline); None/NaN stays NaN."""
    if p_model_better is None or not math.isfinite(p_model_better):
        return float("nan")
    if not 0.0 <= p_model_better <= 1.0:
        raise ValueError(f"probability {p_model_better!r} is outside [0, 1]")
    return 1.0 + float(p_model_better)
