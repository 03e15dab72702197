"""Bradley–Terry fit: hand-built tournaments with known answers, Arena-Hard verdict weighting, bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heapmetric.stats.bradley_terry import (
    bootstrap_bradley_terry,
    fit_bradley_terry,
    style_features,
    verdict_battles,
)


def test_two_players_closed_form() -> None:
    # x beats y 3 times out of 4: the MLE is theta_x - theta_y = ln 3
    fit = fit_bradley_terry(["x"] * 4, ["y"] * 4, [1, 1, 1, 0], anchor="y")
    assert fit.rating("x") == pytest.approx(math.log(3), abs=1e-6)
    assert fit.win_rate_vs("y")["x"] == pytest.approx(0.75, abs=1e-6)
    assert fit.elo()["x"] == pytest.approx(1000 + 400 * math.log10(3), abs=1e-4)


def test_recovers_known_strengths_of_a_round_robin() -> None:
    # Every pair meets with outcome exactly sigmoid(theta_i - theta_j): the MLE is the generating theta.
    truth = {"a": 0.0, "b": 0.7, "c": -1.2, "d": 2.0}
    ma, mb, y = [], [], []
    for i in truth:
        for j in truth:
            if i < j:
                ma.append(i)
                mb.append(j)
                y.append(1 / (1 + math.exp(-(truth[i] - truth[j]))))
    fit = fit_bradley_terry(ma, mb, y, anchor="a")
    for m, t in truth.items():
        assert fit.rating(m) == pytest.approx(t, abs=1e-5)


def test_ties_count_half_and_weights_multiply() -> None:
    # 1 win, 1 tie, 0 losses -> P = (1 + 0.5) / 2 = 0.75; weights 3 on one win equal three rows
    fit = fit_bradley_terry(["x", "x"], ["y", "y"], [1, 0.5], anchor="y")
    assert fit.win_rate_vs()["x"] == pytest.approx(0.75, abs=1e-6)
    rows = fit_bradley_terry(["x"] * 4, ["y"] * 4, [1, 1, 1, 0], anchor="y")
    weighted = fit_bradley_terry(["x", "x"], ["y", "y"], [1, 0], weights=[3, 1], anchor="y")
    assert weighted.rating("x") == pytest.approx(rows.rating("x"), abs=1e-6)


def test_undefeated_model_gets_a_finite_rating() -> None:
    fit = fit_bradley_terry(["x", "x"], ["y", "y"], [1, 1], anchor="y")
    assert math.isfinite(fit.rating("x")) and fit.win_rate_vs()["x"] > 0.999


def test_arena_hard_verdict_weighting() -> None:
    assert verdict_battles("A>>B", "B") == [0.0, 0.0, 0.0]  # baseline in A much better
    assert verdict_battles("A>B", "A") == [1.0]
    assert verdict_battles("A=B", "A") == [0.5]
    assert verdict_battles("B>>A", "B") == [1.0, 1.0, 1.0]
    assert verdict_battles(None, "A") == [] and verdict_battles("garbage", "A") == []


def test_bootstrap_is_deterministic_and_brackets_the_point() -> None:
    rng_data = np.random.default_rng(0)
    ma, mb, y = [], [], []
    for m, p in (("m1", 0.7), ("m2", 0.3)):
        for _ in range(300):
            ma.append(m)
            mb.append("base")
            y.append(float(rng_data.random() < p))
    one = bootstrap_bradley_terry(ma, mb, y, anchor="base", rng=np.random.default_rng(42), rounds=100)
    two = bootstrap_bradley_terry(ma, mb, y, anchor="base", rng=np.random.default_rng(42), rounds=100)
    other = bootstrap_bradley_terry(ma, mb, y, anchor="base", rng=np.random.default_rng(7), rounds=100)
    assert np.array_equal(one.samples, two.samples)
    assert not np.array_equal(one.samples, other.samples)
    assert [r.model for r in one.rows] == ["m1", "base", "m2"]
    for r in one.rows:
        assert r.lower <= r.score <= r.upper
    base = one.row("base")
    assert (base.score, base.lower, base.upper) == (50.0, 50.0, 50.0)
    m1 = one.row("m1")
    assert m1.score == pytest.approx(100 * np.mean(y[:300]), abs=1e-4)
    assert 2 < m1.upper - m1.lower < 20  # about +-1.96 * 100 * sqrt(.21 / 300) = +-5.2 points


def test_style_control_removes_a_pure_length_effect() -> None:
    # Two models of equal quality against one baseline: "long" writes longer answers, and the judge only
    # rewards length. Without style control "long" ranks far above "short"; with it they are close.
    rng = np.random.default_rng(1)
    n = 400
    models = ["long"] * n + ["short"] * n
    m_len = np.concatenate([rng.integers(300, 700, n), rng.integers(50, 450, n)])
    b_len = rng.integers(150, 550, 2 * n)
    feats = style_features(m_len[:, None], b_len[:, None])
    y = 1 / (1 + np.exp(-2.0 * feats[:, 0]))
    plain = fit_bradley_terry(models, ["base"] * (2 * n), y, anchor="base")
    controlled = fit_bradley_terry(models, ["base"] * (2 * n), y, anchor="base", features=feats)
    assert plain.rating("long") - plain.rating("short") > 1.0
    assert abs(controlled.rating("long") - controlled.rating("short")) < 1e-4
    assert controlled.feature_coefs[0] == pytest.approx(2.0, abs=1e-4)


def test_bad_outcomes_are_rejected() -> None:
    with pytest.raises(ValueError):
        fit_bradley_terry(["x"], ["y"], [1.5])
    with pytest.raises(ValueError):
        fit_bradley_terry(["x"], ["y", "y"], [1, 0])
