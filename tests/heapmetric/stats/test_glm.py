"""Length-controlled win rate: our GLM against alpaca_eval's own ``get_length_controlled_winrate``.

alpaca_eval's function downloads the instruction difficulties and gamed-baseline annotations (``df_gamed.csv``)
from the Hub; offline, the tests hand it a synthetic ``df_gamed.csv`` through a patched downloader and give our
function the same inputs.
"""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest

from heapmetric.stats.glm import (
    DIFF_COL,
    MODEL_COL,
    GamedAnnotations,
    fit_l1_logistic,
    grouped_folds,
    lc_from_weights,
    length_controlled_winrate,
)


def _synthetic(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    diff = rng.normal(0, 1, n)
    len_base = rng.integers(200, 3000, n)
    len_model = rng.integers(50, 1500, n)
    sdl = (len_base - len_model) / np.std(len_base - len_model, ddof=1)
    p = 1 / (1 + np.exp(-(-1.5 * np.tanh(sdl) + 0.8 * diff - 1.0)))
    prefs = list(1 + np.clip(p + rng.normal(0, 0.05, n), 0, 1))
    prefs[0] = 1.5
    prefs[1] = None
    gamed_rows = []
    for model in ("gamed_verbose", "gamed_concise"):
        g_sdl = rng.normal(0, 1, n)
        g_p = 1 / (1 + np.exp(-(-1.0 * np.tanh(g_sdl) + 0.5 * diff)))
        for i in range(n):
            gamed_rows.append(
                {
                    "model": model,
                    "index": i,
                    "instruction_difficulty": diff[i],
                    "preference": g_p[i],
                    "std_delta_len": g_sdl[i],
                    "not_gamed_baseline": False,
                }
            )
    return prefs, len_model, len_base, diff, gamed_rows


def _alpaca_eval_lc(tmp_path, prefs, len_model, len_base, gamed_rows, glm_name):
    pd = pytest.importorskip("pandas")
    glm_winrate = pytest.importorskip("alpaca_eval.metrics.glm_winrate")
    path = tmp_path / "df_gamed.csv"
    pd.DataFrame(gamed_rows).to_csv(path, index=False)
    df = pd.DataFrame(
        {
            "instruction": [f"i{i}" for i in range(len(prefs))],
            "output_1": ["x" * int(n) for n in len_base],
            "output_2": ["y" * int(n) for n in len_model],
            "generator_1": "base",
            "generator_2": "model",
            "annotator": "judge",
            "preference": [np.nan if p is None else p for p in prefs],
            "index": range(len(prefs)),
        }
    )
    with mock.patch.object(glm_winrate, "hf_hub_download", return_value=str(path)):
        out = glm_winrate.get_length_controlled_winrate(
            df, glm_name=glm_name, save_weights_dir=None, is_warn_extreme_changes=False
        )
    return out["length_controlled_winrate"], out["lc_standard_error"]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # scikit-learn deprecations inside alpaca_eval
@pytest.mark.parametrize("glm_name", ["length_controlled_v1", "length_controlled_minimal"])
def test_matches_alpaca_eval(tmp_path, glm_name: str) -> None:
    prefs, len_model, len_base, diff, gamed_rows = _synthetic(300)
    ref_lc, ref_se = _alpaca_eval_lc(tmp_path, prefs, len_model, len_base, gamed_rows, glm_name)
    gamed = GamedAnnotations(
        [r["preference"] for r in gamed_rows],
        [r["std_delta_len"] for r in gamed_rows],
        [r["instruction_difficulty"] for r in gamed_rows],
    )
    kwargs = {"instruction_difficulty": diff, "gamed": gamed} if glm_name == "length_controlled_v1" else {}
    mine = length_controlled_winrate(prefs, len_model, len_base, **kwargs)
    assert mine.glm == glm_name
    # liblinear stops at tol=1e-4; we solve the same objective to optimality (our objective value is lower)
    assert mine.length_controlled_winrate == pytest.approx(ref_lc, abs=0.1)
    assert mine.lc_standard_error == pytest.approx(ref_se, rel=0.05)


def test_solver_reaches_the_l1_optimum() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    p = 1 / (1 + np.exp(-(X @ np.array([1.5, -0.5]))))
    w = fit_l1_logistic(X, p, None, C=10.0)
    assert w == pytest.approx([1.5, -0.5], abs=0.1)
    # a huge penalty (tiny C) zeroes every weight
    assert fit_l1_logistic(X, p, None, C=1e-4) == pytest.approx([0, 0], abs=1e-6)


def test_equal_lengths_leave_the_win_rate_unchanged() -> None:
    # no length difference anywhere: the GLM has only the model weight, so LC = sigmoid(w) ~ the win rate
    prefs = list(1 + np.random.default_rng(2).beta(7, 3, 200))
    res = length_controlled_winrate(prefs, [100] * 200, [100] * 200)
    assert res.length_controlled_winrate == pytest.approx(100 * np.mean(np.array(prefs) - 1), abs=0.5)


def test_folds_follow_groupkfold() -> None:
    assert list(grouped_folds(7, 5)) == [1, 0, 4, 3, 2, 1, 0]


def test_lc_from_weights() -> None:
    w = {MODEL_COL: -1.0, DIFF_COL: 0.5}
    assert lc_from_weights(w, {}, [0.0, 0.0]) == pytest.approx(100 / (1 + math.e))
    assert lc_from_weights(w, w, [3.0]) == pytest.approx(50.0)
