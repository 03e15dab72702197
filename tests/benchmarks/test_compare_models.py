"""benchmarks/compare_models.py: paired group means, the pair-weighted view, and the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def compare():
    return load_benchmark("compare_models.py")


def _results(accs: dict[str, float], pairs: dict[str, int]) -> dict:
    return {
        "groups": {g: {"pairwise_accuracy": v, "n_pairs": pairs[g], "kendall": 0.1} for g, v in accs.items()}
    }


def test_group_mean_and_pair_weighted_mean_tell_different_stories(compare, tmp_path: Path) -> None:
    pairs = {"big": 1800, "tiny1": 15, "tiny2": 15}
    a = _results({"big": 0.60, "tiny1": 0.70, "tiny2": 0.70}, pairs)
    b = _results({"big": 0.61, "tiny1": 0.50, "tiny2": 0.50}, pairs)
    groups = sorted(pairs)
    plain = compare.paired_difference(a, b, groups, "pairwise_accuracy", n_resamples=200)
    weighted = compare.paired_difference(a, b, groups, "pairwise_accuracy", weight="n_pairs", n_resamples=200)
    assert plain["difference"] == pytest.approx((0.01 - 0.2 - 0.2) / 3)
    assert weighted["difference"] == pytest.approx((1800 * 0.01 - 30 * 0.2) / 1830)
    assert weighted["difference"] > 0 > plain["difference"]
    assert weighted["ci95"][0] <= weighted["difference"] <= weighted["ci95"][1]

    fa, fb = tmp_path / "a.json", tmp_path / "b.json"
    fa.write_text(json.dumps(a))
    fb.write_text(json.dumps(b))
    assert (
        compare.main(["--a", str(fa), "--b", str(fb), "--names", "v1", "v2", "--out", str(tmp_path / "cmp")])
        == 0
    )
    written = json.loads((tmp_path / "cmp.json").read_text())
    assert written["pairwise_accuracy_pair_weighted"]["weight"] == "n_pairs"
    assert "pair-weighted" in (tmp_path / "cmp.md").read_text()


def test_identical_models_differ_by_zero(compare) -> None:
    a = _results({"x": 0.6, "y": 0.4}, {"x": 10, "y": 30})
    r = compare.paired_difference(a, a, ["x", "y"], "pairwise_accuracy", weight="n_pairs", n_resamples=100)
    assert r["difference"] == 0 and r["ci95"] == [0.0, 0.0]
    assert r["mean_a"] == pytest.approx((0.6 * 10 + 0.4 * 30) / 40)
