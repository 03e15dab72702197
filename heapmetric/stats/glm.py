"""AlpacaEval 2.0's length-controlled win rate: a logistic GLM fitted per model, then asked for the win rate
the model would have if its outputs were as long as the baseline's (Dubois et al. 2024, "Length-Controlled
AlpacaEval"). Re-implemented from the published description and formula; numbers are checked against
alpaca_eval's own function in the tests.

The published model ``length_controlled_v1`` (column names as in alpaca_eval's weight files)::

    logit P(model preferred) = w_len * tanh(std_delta_len) + w_diff * instruction_difficulty
                               + w_model * not_gamed_baseline                       (no intercept)

with ``std_delta_len = (len(baseline output) - len(model output)) / std(...)`` (characters, ddof=1) and
``instruction_difficulty`` a per-instruction value alpaca_eval downloads from the Hub (``df_gamed.csv``). The fit
is an L1-penalised logistic regression on soft labels ``p = preference - 1`` (each item enters as a positive row
weighted ``p`` and a negative row weighted ``1 - p``), with ``C`` chosen among ``logspace(-4, 4, 10)`` by 5-fold
grouped cross-validation on the (weighted) log loss, then refitted on all items. ``length_controlled_v1`` also
regularises towards two "gamed" baselines (the baseline prompted to be verbose / concise) by adding their
annotations with weight ``lambda / 2`` (``lambda = 0.2``) and ``not_gamed_baseline = 0``. The length-controlled
win rate is ``100 * mean_i sigmoid(w_diff * d_i + w_model)``: the prediction at ``std_delta_len = 0``.

Without instruction difficulties the fit drops that column (alpaca_eval's ``length_controlled_minimal``); without
gamed annotations it is not regularised (``length_controlled_noreg``). :func:`length_controlled_winrate` says which
variant it ran in ``glm``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Column names of alpaca_eval's weight files, in the order of the published formula.
LEN_COL = "np.tanh(std_delta_len)"
DIFF_COL = "instruction_difficulty"
MODEL_COL = "not_gamed_baseline.astype(float)"
DEFAULT_CS = tuple(float(c) for c in np.logspace(-4, 4, 10))


@dataclass(frozen=True)
class GamedAnnotations:
    """Annotations of alpaca_eval's gamed baselines (rows of its ``df_gamed.csv``): soft preference in
    ``[0, 1]``, standardised length difference and the instruction difficulty of each row."""

    preference: Sequence[float]
    std_delta_len: Sequence[float]
    instruction_difficulty: Sequence[float]


@dataclass(frozen=True)
class LengthControlled:
    """Result of the GLM: LC win rate and its standard error (in %), the fitted weights, the chosen ``C`` and
    the per-item predicted preferences at equal length."""

    length_controlled_winrate: float
    lc_standard_error: float
    weights: dict[str, float]
    C: float
    glm: str
    predicted: tuple[float, ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "length_controlled_winrate": self.length_controlled_winrate,
            "lc_standard_error": self.lc_standard_error,
            "weights": dict(self.weights),
            "C": self.C,
            "glm": self.glm,
        }


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def fit_l1_logistic(
    X: np.ndarray,
    p: np.ndarray,
    sample_weight: np.ndarray | None,
    C: float,
    tol: float = 1e-12,
    max_sweeps: int = 300,
) -> np.ndarray:
    """Weights ``w`` minimising ``||w||_1 + C * sum_i s_i * CE(p_i, sigmoid(X_i w))`` (no intercept).

    This is liblinear's L1 logistic objective with each soft label split into a positive row of weight ``p`` and
    a negative row of weight ``1 - p``. Solved to high precision by cyclic coordinate descent with a Newton step
    and soft-thresholding per coordinate, each step accepted only if it lowers the objective.
    """
    X = np.asarray(X, dtype=float)
    p = np.asarray(p, dtype=float)
    s = np.ones(len(p)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    k = X.shape[1]
    w = np.zeros(k)
    z = np.zeros(len(p))

    def objective(wv: np.ndarray, zv: np.ndarray) -> float:
        return float(np.abs(wv).sum()) + C * float(
            np.sum(s * (p * np.logaddexp(0.0, -zv) + (1.0 - p) * np.logaddexp(0.0, zv)))
        )

    value = objective(w, z)
    for _ in range(max_sweeps):
        start, w_start = value, w.copy()
        for j in range(k):
            q = _sigmoid(z)
            g = C * float(np.sum(s * (q - p) * X[:, j]))
            h = C * float(np.sum(s * q * (1.0 - q) * X[:, j] ** 2)) + 1e-12
            u = w[j] - g / h
            target = math.copysign(max(abs(u) - 1.0 / h, 0.0), u)
            delta = target - w[j]
            t = 1.0
            while abs(delta * t) > 0:
                cand_w = w.copy()
                cand_w[j] = w[j] + t * delta
                cand_z = z + t * delta * X[:, j]
                cand = objective(cand_w, cand_z)
                if cand <= value:
                    w, z, value = cand_w, cand_z, cand
                    break
                t /= 2
                if t < 1e-10:
                    break
        if start - value <= tol * max(1.0, abs(start)) or np.max(np.abs(w - w_start)) < 1e-10:
            break
    return w


def weighted_log_loss(p: np.ndarray, q: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Mean of ``s_i * CE(p_i, q_i)`` with ``q`` clipped to ``[1e-15, 1 - 1e-15]`` (the CV score, lower is better)."""
    q = np.clip(q, 1e-15, 1 - 1e-15)
    ll = p * np.log(q) + (1 - p) * np.log(1 - q)
    if sample_weight is not None:
        ll = ll * sample_weight
    return float(-np.mean(ll))


def grouped_folds(n: int, n_splits: int) -> np.ndarray:
    """Fold of each of ``n`` equally sized groups, as scikit-learn's (unshuffled) ``GroupKFold`` assigns them:
    the last group to fold 0, the one before to fold 1, and so on round-robin."""
    return (n - 1 - np.arange(n)) % n_splits


def fit_l1_logistic_cv(
    X: np.ndarray,
    p: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    Cs: Sequence[float] = DEFAULT_CS,
    n_splits: int = 5,
) -> tuple[np.ndarray, float]:
    """Choose ``C`` by grouped k-fold CV on the weighted log loss, refit on everything; return ``(w, C)``."""
    X = np.asarray(X, dtype=float)
    p = np.asarray(p, dtype=float)
    s = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if n_splits <= 1:
        C = float(Cs[-1]) if len(Cs) == 1 else 100.0
        return fit_l1_logistic(X, p, s, C), C
    folds = grouped_folds(len(p), n_splits)
    losses = np.zeros(len(Cs))
    for f in range(n_splits):
        test = folds == f
        train = ~test
        for j, C in enumerate(Cs):
            w = fit_l1_logistic(X[train], p[train], None if s is None else s[train], C)
            losses[j] += weighted_log_loss(p[test], _sigmoid(X[test] @ w), None if s is None else s[test])
    best = int(np.argmin(losses / n_splits))
    C = float(Cs[best])
    return fit_l1_logistic(X, p, s, C), C


def length_controlled_winrate(
    preferences: Sequence[float | None],
    model_lengths: Sequence[int],
    baseline_lengths: Sequence[int],
    *,
    instruction_difficulty: Sequence[float] | None = None,
    gamed: GamedAnnotations | None = None,
    regularize_to_baseline_lambda: float | None = 0.2,
    n_splits: int = 5,
    Cs: Sequence[float] = DEFAULT_CS,
) -> LengthControlled:
    """Length-controlled win rate of one model against the baseline (see the module docstring).

    ``preferences`` are alpaca_eval-encoded (``[1, 2]``, 0 or 1.5 a draw, None/NaN no verdict: left out of the
    fit but still predicted, as alpaca_eval does); lengths are in characters, one per item, in the same order.
    ``instruction_difficulty`` (one per item) and ``gamed`` enable the full ``length_controlled_v1`` model.
    """
    from heapmetric.stats.winrate import as_preferences

    pref = as_preferences(preferences)
    n = len(pref)
    if not (len(model_lengths) == len(baseline_lengths) == n):
        raise ValueError(
            f"lengths must match preferences: {len(model_lengths)} model, "
            f"{len(baseline_lengths)} baseline, {n} preferences"
        )
    delta = np.asarray(baseline_lengths, dtype=float) - np.asarray(model_lengths, dtype=float)
    sd = float(np.std(delta, ddof=1)) if n > 1 else 0.0
    std_delta = delta / sd if sd > 0 and math.isfinite(sd) else np.zeros(n)
    use_diff = instruction_difficulty is not None
    cols = [LEN_COL] + ([DIFF_COL] if use_diff else []) + [MODEL_COL]

    def design(sdl: np.ndarray, diff: np.ndarray | None, not_gamed: float) -> np.ndarray:
        parts = [np.tanh(sdl)] + ([diff] if use_diff else []) + [np.full(len(sdl), not_gamed)]
        return np.column_stack(parts)

    diff = None
    if use_diff:
        diff = np.asarray(instruction_difficulty, dtype=float)
        if len(diff) != n:
            raise ValueError(f"instruction_difficulty has {len(diff)} values for {n} preferences")
    X_model = design(std_delta, diff, 1.0)
    y_model = pref - 1.0
    X_test = design(np.zeros(n), diff, 1.0)

    regularize = bool(regularize_to_baseline_lambda) and gamed is not None and use_diff
    if regularize:
        g_pref = np.asarray(gamed.preference, dtype=float)
        X_g = design(
            np.asarray(gamed.std_delta_len, dtype=float),
            np.asarray(gamed.instruction_difficulty, dtype=float),
            0.0,
        )
        X_train = np.vstack([X_g, X_model])
        y_train = np.concatenate([g_pref, y_model])
        s_train = np.concatenate(
            [np.full(len(g_pref), float(regularize_to_baseline_lambda) / 2.0), np.ones(n)]
        )
    else:
        X_train, y_train, s_train = X_model, y_model, None
    keep = np.isfinite(y_train)
    X_train, y_train = X_train[keep], y_train[keep]
    if s_train is not None:
        s_train = s_train[keep]
    if len(y_train) < max(2, n_splits):
        # as in alpaca_eval (whose grouped CV needs at least n_splits items), too few items give no GLM
        nan = float("nan")
        return LengthControlled(nan, nan, {}, nan, "too_few_items", tuple([nan] * n))
    w, C = fit_l1_logistic_cv(X_train, y_train, s_train, Cs=Cs, n_splits=n_splits)
    predicted = _sigmoid(X_test @ w)
    lc = float(predicted.mean()) * 100.0
    se = float(predicted.std(ddof=1) / math.sqrt(n)) * 100.0 if n > 1 else float("nan")
    glm = (
        "length_controlled_v1"
        if regularize
        else ("length_controlled_noreg" if use_diff else "length_controlled_minimal")
    )
    weights = dict(zip(cols, (float(v) for v in w), strict=True))
    return LengthControlled(lc, se, weights, C, glm, tuple(float(v) for v in predicted))


def lc_from_weights(
    model_weights: dict[str, float],
    baseline_weights: dict[str, float],
    instruction_difficulty: Sequence[float],
) -> float:
    """alpaca_eval's ``predict_winrate``: LC win rate (%) of one model against another from fitted weights,
    ``100 * mean_i sigmoid(dw_model + dw_diff * d_i)`` with ``dw`` the weight differences."""
    d = np.asarray(instruction_difficulty, dtype=float)
    dw_model = model_weights.get(MODEL_COL, 0.0) - baseline_weights.get(MODEL_COL, 0.0)
    dw_diff = model_weights.get(DIFF_COL, 0.0) - baseline_weights.get(DIFF_COL, 0.0)
    return float(_sigmoid(dw_model + dw_diff * d).mean()) * 100.0
