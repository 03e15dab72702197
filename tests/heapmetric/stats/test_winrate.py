"""AlpacaEval win-rate statistics: hand-checked values and the exact reproduction of alpaca-7b's published row."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from heapmetric.env import data_dir
from heapmetric.stats.winrate import as_preferences, avg_length, preference_from_probability, win_rate

AE = data_dir() / "alpacaeval"
needs_alpacaeval = pytest.mark.skipif(
    not AE.is_dir(), reason=f"AlpacaEval data not found at {AE} (set $HEAPMETRIC_DATA)"
)


def test_win_rate_by_hand() -> None:
    r = win_rate([2.0, 1.0, 1.5, 1.75, None])
    assert r.win_rate == pytest.approx(100 * (1 + 0 + 0.5 + 0.75) / 4)
    assert r.standard_error == pytest.approx(100 * np.std([1, 0, 0.5, 0.75], ddof=1) / 2)
    assert (r.n_wins, r.n_wins_base, r.n_draws, r.n_total, r.n_missing) == (2, 1, 1, 4, 1)
    assert r.discrete_win_rate == pytest.approx(100 * (2 + 0.5) / 4)


def test_legacy_zero_is_a_draw_and_out_of_range_is_an_error() -> None:
    assert win_rate([0, 2]).n_draws == 1
    with pytest.raises(ValueError, match="index 1"):
        as_preferences([1.0, 2.5])


def test_avg_length_and_probability_mapping() -> None:
    assert avg_length(["ab", "abcd", "abc"]) == 3
    assert avg_length([]) == 0
    assert preference_from_probability(0.25) == 1.25
    assert math.isnan(preference_from_probability(None))
    with pytest.raises(ValueError):
        preference_from_probability(1.5)


def test_matches_alpaca_eval_get_winrate() -> None:
    alpaca_metrics = pytest.importorskip("alpaca_eval.metrics")
    rng = np.random.default_rng(3)
    prefs = list(1 + rng.random(200))
    prefs[:5] = [1.5, 0, 1.0, 2.0, 1.5]
    ref = alpaca_metrics.get_winrate([{"preference": p} for p in prefs])
    mine = win_rate(prefs)
    for key in ("win_rate", "standard_error", "discrete_win_rate"):
        assert getattr(mine, key) == pytest.approx(float(ref[key]), abs=1e-9)
    for key in ("n_wins", "n_wins_base", "n_draws", "n_total"):
        assert getattr(mine, key) == int(ref[key])


@pytest.mark.data
@needs_alpacaeval
def test_reproduces_alpaca_7b_published_row() -> None:
    """The judge's answers in the shipped annotations give alpaca-7b's AlpacaEval 2.0 leaderboard row exactly."""
    ann = json.loads(
        (AE / "llm_judge_annotations" / "alpaca-7b__weighted_alpaca_eval_gpt4_turbo.json").read_text(
            encoding="utf-8"
        )
    )
    outputs = json.loads((AE / "model_outputs" / "alpaca-7b.json").read_text(encoding="utf-8"))
    with open(
        AE / "leaderboards" / "alpacaeval2_weighted_alpaca_eval_gpt4_turbo_leaderboard.csv", encoding="utf-8"
    ) as handle:
        published = {row[""]: row for row in csv.DictReader(handle)}["alpaca-7b"]
    r = win_rate([a["preference"] for a in ann])
    assert r.win_rate == pytest.approx(float(published["win_rate"]), abs=1e-6)
    assert r.standard_error == pytest.approx(float(published["standard_error"]), abs=1e-6)
    assert r.discrete_win_rate == pytest.approx(float(published["discrete_win_rate"]), abs=1e-6)
    assert (r.n_wins, r.n_wins_base, r.n_draws, r.n_total) == (
        int(published["n_wins"]),
        int(published["n_wins_base"]),
        int(published["n_draws"]),
        int(published["n_total"]),
    )
    assert avg_length([o["output"] for o in outputs]) == int(published["avg_length"])
