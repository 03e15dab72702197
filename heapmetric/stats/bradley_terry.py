"""Bradley–Terry ratings for Arena-Hard style leaderboards, as pure functions.

A *battle* is one row ``(model_a, model_b, outcome)`` with ``outcome`` = 1 when ``model_a`` won, 0 when it lost,
0.5 for a tie, or any probability in between (soft outcomes from a probabilistic judge). The model is
``P(a beats b) = sigmoid(theta_a - theta_b [+ features @ beta])``, fitted by maximum likelihood (no penalty) with
the ``anchor`` model's ``theta`` fixed at 0. On integer outcomes this is the published Arena-Hard fit: its
logistic regression counts a decisive battle twice and a tie as one win plus one loss, which is the same
likelihood as a tie scored 0.5.

Arena-Hard v0.1 conventions (arena-hard-auto ``show_result.py``), reproduced by :func:`verdict_battles`: each
question is judged twice with the answers' positions swapped; a strong verdict (``A>>B``) counts as three
battles, a weak one (``A>B``) and a tie as one; ratings are shown on an Elo scale (400 points per factor of 10
in odds, anchor at 1000) and as the win rate against the anchor; 95% intervals come from 100 bootstrap rounds
that resample battle rows with replacement. Style control adds per-battle features (length and markdown counts
of the two answers, ``(a - b) / (a + b + 1)``, standardised) whose coefficients absorb the style effect.

>>> fit = fit_bradley_terry(["x", "x", "x", "x"], ["y", "y", "y", "y"], [1, 1, 1, 0], anchor="y")
>>> round(fit.win_rate_vs("y")["x"], 6)
0.75
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Verdict labels of the Arena-Hard judge prompt -> (P(A wins), how many battles the verdict counts as).
VERDICTS: dict[str, tuple[float, int]] = {
    "A>>B": (1.0, 3),
    "A>B": (1.0, 1),
    "A=B": (0.5, 1),
    "B>A": (0.0, 1),
    "B>>A": (0.0, 3),
    # spellings the v2.0 pipeline also accepts
    "B<<A": (1.0, 3),
    "B<A": (1.0, 1),
    "B=A": (0.5, 1),
    "A<B": (0.0, 1),
    "A<<B": (0.0, 3),
}
RATING_BOUND = 50.0  # |theta| cap (natural-log odds) so that an undefeated model gets a finite rating


@dataclass(frozen=True)
class BTFit:
    """Fitted strengths ``theta`` (natural-log odds, anchor = 0) and style-feature coefficients."""

    models: tuple[str, ...]
    theta: tuple[float, ...]
    anchor: str
    feature_coefs: tuple[float, ...] = ()

    def rating(self, model: str) -> float:
        return self.theta[self.models.index(model)]

    def elo(self, scale: float = 400.0, base: float = 10.0, anchor_value: float = 1000.0) -> dict[str, float]:
        """Elo-scale ratings: ``anchor_value + scale * theta / ln(base)``."""
        return {
            m: anchor_value + scale * t / math.log(base) for m, t in zip(self.models, self.theta, strict=True)
        }

    def win_rate_vs(self, opponent: str | None = None) -> dict[str, float]:
        """P(each model beats ``opponent``) (default: the anchor); the opponent itself gets 0.5."""
        ref = self.rating(opponent or self.anchor)
        return {
            m: float(1.0 / (1.0 + math.exp(-(t - ref)))) for m, t in zip(self.models, self.theta, strict=True)
        }


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def _fit_indexed(
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    n_models: int,
    anchor: int,
    features: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton on the weighted logistic likelihood (the problems are small: one parameter per model
    plus the style covariates), ratings clipped to +-RATING_BOUND."""
    free = np.array([i for i in range(n_models) if i != anchor], dtype=int)
    pos = np.full(n_models, -1)
    pos[free] = np.arange(len(free))
    n = len(y)
    k = 0 if features is None else features.shape[1]
    X = np.zeros((n, len(free) + k))
    rows = np.arange(n)
    ia, ib = pos[a], pos[b]
    X[rows[ia >= 0], ia[ia >= 0]] += 1.0
    X[rows[ib >= 0], ib[ib >= 0]] -= 1.0
    if k:
        X[:, len(free) :] = features

    def nll(x: np.ndarray) -> float:
        z = X @ x
        return float(np.sum(w * (y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z))))

    x = np.zeros(X.shape[1])
    value = nll(x)
    for _ in range(200):
        z = X @ x
        s = _sigmoid(z)
        grad = X.T @ (w * (s - y))
        if np.max(np.abs(grad), initial=0.0) < 1e-10:
            break
        hess = (X * (w * s * (1.0 - s))[:, None]).T @ X + 1e-10 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, -grad)
        t = 1.0
        while True:
            cand = x + t * step
            cand[: len(free)] = np.clip(cand[: len(free)], -RATING_BOUND, RATING_BOUND)
            new = nll(cand)
            if new <= value + 1e-12 or t < 1e-8:
                break
            t /= 2
        if abs(value - new) < 1e-14 * max(1.0, abs(value)) and np.max(np.abs(cand - x), initial=0.0) < 1e-12:
            x, value = cand, new
            break
        x, value = cand, new
    theta = np.zeros(n_models)
    theta[free] = x[: len(free)]
    return theta, x[len(free) :]


def _encode(
    model_a: Sequence[str], model_b: Sequence[str], anchor: str | None, models: Sequence[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    names = sorted(set(model_a) | set(model_b) | ({anchor} if anchor else set()) | set(models or ()))
    index = {m: i for i, m in enumerate(names)}
    a = np.array([index[m] for m in model_a], dtype=int)
    b = np.array([index[m] for m in model_b], dtype=int)
    return names, a, b, index[anchor if anchor is not None else names[0]]


def fit_bradley_terry(
    model_a: Sequence[str],
    model_b: Sequence[str],
    outcomes: Sequence[float],
    *,
    weights: Sequence[float] | None = None,
    features: np.ndarray | None = None,
    anchor: str | None = None,
    models: Sequence[str] | None = None,
) -> BTFit:
    """Maximum-likelihood Bradley–Terry fit of battles ``(model_a[i], model_b[i], outcomes[i])``.

    ``outcomes`` are P(model_a won) in ``[0, 1]``; ``weights`` (default 1) multiply each battle's likelihood
    term; ``features`` (n_battles x k) are style covariates. ``anchor`` (default: the first model by name) has
    rating 0. Ratings are capped at +-50 so that a model that never loses still gets a finite rating.
    """
    y = np.asarray(outcomes, dtype=float)
    if not (len(model_a) == len(model_b) == len(y)):
        raise ValueError(f"battles need equal lengths: {len(model_a)}, {len(model_b)}, {len(y)}")
    if len(y) == 0:
        raise ValueError("no battles to fit")
    if np.any(~np.isfinite(y)) or np.any((y < 0) | (y > 1)):
        raise ValueError("outcomes must be finite probabilities in [0, 1]")
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    names, a, b, anchor_i = _encode(model_a, model_b, anchor, models)
    F = None if features is None else np.asarray(features, dtype=float).reshape(len(y), -1)
    theta, beta = _fit_indexed(a, b, y, w, len(names), anchor_i, F)
    return BTFit(tuple(names), tuple(float(t) for t in theta), names[anchor_i], tuple(float(c) for c in beta))


@dataclass(frozen=True)
class BTLeaderboardRow:
    """One model's Arena-Hard style row: win rate (%) against the anchor with its bootstrap interval, Elo-scale
    rating and interval, and the number of battles it took part in."""

    model: str
    score: float
    lower: float
    upper: float
    rating: float
    rating_lower: float
    rating_upper: float
    n_battles: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "score": self.score,
            "rating_q025": self.lower,
            "rating_q975": self.upper,
            "CI": f"(-{self.score - self.lower:.2f}, +{self.upper - self.score:.2f})",
            "elo": self.rating,
            "elo_q025": self.rating_lower,
            "elo_q975": self.rating_upper,
            "n_battles": self.n_battles,
        }


@dataclass(frozen=True)
class BTLeaderboard:
    """Point fit plus bootstrap: rows sorted by score, the raw bootstrap thetas (rounds x models)."""

    rows: tuple[BTLeaderboardRow, ...]
    anchor: str
    rounds: int
    fit: BTFit
    samples: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros((0, 0)))

    def row(self, model: str) -> BTLeaderboardRow:
        for r in self.rows:
            if r.model == model:
                return r
        raise KeyError(model)


def bootstrap_bradley_terry(
    model_a: Sequence[str],
    model_b: Sequence[str],
    outcomes: Sequence[float],
    *,
    anchor: str,
    rng: np.random.Generator,
    rounds: int = 100,
    ci: float = 0.95,
    features: np.ndarray | None = None,
) -> BTLeaderboard:
    """Point ratings from all battles plus a percentile bootstrap interval from ``rounds`` refits on battle rows
    resampled with replacement (``rng`` makes it reproducible). Scores are win rates (%) against ``anchor``."""
    y = np.asarray(outcomes, dtype=float)
    names, a, b, anchor_i = _encode(model_a, model_b, anchor, None)
    F = None if features is None else np.asarray(features, dtype=float).reshape(len(y), -1)
    ones = np.ones(len(y))
    theta, beta = _fit_indexed(a, b, y, ones, len(names), anchor_i, F)
    fit = BTFit(tuple(names), tuple(float(t) for t in theta), anchor, tuple(float(c) for c in beta))
    samples = np.zeros((rounds, len(names)))
    for r in range(rounds):
        idx = rng.integers(0, len(y), size=len(y))
        samples[r], _ = _fit_indexed(
            a[idx], b[idx], y[idx], ones, len(names), anchor_i, None if F is None else F[idx]
        )
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 - (1 - ci) / 2)
    counts = np.bincount(a, minlength=len(names)) + np.bincount(b, minlength=len(names))
    rows = []
    for i, m in enumerate(names):
        lo, hi = np.percentile(samples[:, i], [lo_q, hi_q]) if rounds else (theta[i], theta[i])
        rows.append(
            BTLeaderboardRow(
                model=m,
                score=100 * float(_sigmoid(np.array(theta[i]))),
                lower=100 * float(_sigmoid(np.array(lo))),
                upper=100 * float(_sigmoid(np.array(hi))),
                rating=_elo(theta[i]),
                rating_lower=_elo(lo),
                rating_upper=_elo(hi),
                n_battles=int(counts[i]),
            )
        )
    rows.sort(key=lambda r: -r.score)
    return BTLeaderboard(tuple(rows), anchor, rounds, fit, samples)


def _elo(theta: float) -> float:
    return 1000.0 + 400.0 * float(theta) / math.log(10.0)


def verdict_battles(verdict: str | None, model_position: str) -> list[float]:
    """Battle outcomes (P(model won), one entry per counted battle) for one game judged by an Arena-Hard verdict.

    ``model_position`` is ``"A"`` or ``"B"``: where the evaluated model's answer was shown. An unknown or missing
    verdict gives no battle (the caller counts it as unparsed).
    """
    if verdict is None or verdict not in VERDICTS:
        return []
    p_a, count = VERDICTS[verdict]
    p_model = p_a if model_position == "A" else 1.0 - p_a
    return [p_model] * count


def style_features(model_values: np.ndarray, baseline_values: np.ndarray) -> np.ndarray:
    """Standardised style covariates per battle: ``(m - b) / (m + b + 1)`` per column, then z-scored (columns
    with no variation become 0). Inputs are (n_battles x k) counts, e.g. tokens, headers, lists, bold spans."""
    m = np.asarray(model_values, dtype=float)
    b = np.asarray(baseline_values, dtype=float)
    diff = (m - b) / (m + b + 1.0)
    mean, sd = diff.mean(axis=0), diff.std(axis=0)
    out = np.zeros_like(diff)
    ok = sd > 0
    out[:, ok] = (diff[:, ok] - mean[ok]) / sd[ok]
    return out
