"""meta_evaluate on synthetic data: rows match the pure statistics, exclusions are counted, seeds fix CIs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heapmetric.errors import InputError
from heapmetric.judges.baselines import LengthJudge
from heapmetric.metaeval.harness import MetaEvalConfig, meta_evaluate
from heapmetric.records import Preference
from heapmetric.stats.correlation import item_level, pairwise_accuracy, segment_level, system_level


def _noisy(judgements, scale, seed=1):
    rng = np.random.default_rng(seed)
    return {j.id: j.score + rng.normal(scale=scale) for j in judgements}


def _row(result, metric, criterion, level, statistic):
    (row,) = [
        r
        for r in result.rows
        if (r["metric"], r["criterion"], r["level"], r["statistic"]) == (metric, criterion, level, statistic)
    ]
    return row


def test_rows_equal_the_pure_statistics(toy_judgements, table_judge):
    table = _noisy(toy_judgements, 0.8)
    result = meta_evaluate(
        toy_judgements, {"good": table_judge("good", table)}, MetaEvalConfig(bootstrap=50, seed=3)
    )
    coh = [j for j in toy_judgements if j.criterion == "coherence"]
    m = [table[j.id] for j in coh]
    h = [j.score for j in coh]
    groups = [j.item_id for j in coh]
    systems = [j.system for j in coh]
    assert _row(result, "good", "coherence", "segment", "pearson")["value"] == pytest.approx(
        segment_level(m, h, "pearson").value
    )
    item = item_level(m, h, groups, "kendall")
    row = _row(result, "good", "coherence", "item", "kendall")
    assert row["value"] == pytest.approx(item.value) and row["n"] == item.n
    assert row["n_constant"] == item.n_constant
    assert _row(result, "good", "coherence", "system", "spearman")["value"] == pytest.approx(
        system_level(m, h, systems, "spearman").value
    )
    r = _row(result, "good", "coherence", "segment", "spearman")
    assert r["ci_low"] <= r["value"] <= r["ci_high"]
    assert set(r) >= {
        "dataset",
        "criterion",
        "metric",
        "level",
        "statistic",
        "value",
        "ci_low",
        "ci_high",
        "n",
    }


def test_pairwise_accuracy_from_graded_pairs(toy_judgements, table_judge):
    table = _noisy(toy_judgements, 0.8)
    result = meta_evaluate(toy_judgements, {"good": table_judge("good", table)}, MetaEvalConfig(bootstrap=0))
    row = _row(result, "good", "fluency", "pair", "pairwise_accuracy")
    flu = [j for j in toy_judgements if j.criterion == "fluency"]
    probs, labels = [], []
    for i in range(12):
        grp = [j for j in flu if j.item_id == f"d{i}"]
        for x in range(len(grp)):
            for y in range(x + 1, len(grp)):
                dh = grp[x].score - grp[y].score
                labels.append("tie" if dh == 0 else ("a" if dh > 0 else "b"))
                probs.append(1 / (1 + math.exp(-(table[grp[x].id] - table[grp[y].id]))))
    expected = pairwise_accuracy(probs, labels)
    assert row["value"] == pytest.approx(expected.accuracy)
    assert (row["n"], row["n_ties"]) == (expected.n, expected.n_ties)


def test_nan_scores_are_excluded_and_reported(toy_judgements, table_judge):
    table = _noisy(toy_judgements, 0.5)
    holes = [j.id for j in toy_judgements if j.criterion == "coherence"][:5]
    for key in holes:
        table[key] = float("nan")
    result = meta_evaluate(
        toy_judgements, {"holey": table_judge("holey", table)}, MetaEvalConfig(bootstrap=0)
    )
    (exc,) = result.exclusions
    assert (exc.criterion, exc.metric, exc.count) == ("coherence", "holey", 5)
    assert exc.first == tuple(holes[:3]) and "NaN" in exc.reason
    row = _row(result, "holey", "coherence", "segment", "pearson")
    assert row["n"] == 48 - 5 and row["n_excluded"] == 5


def test_bootstrap_is_deterministic_under_seed(toy_judgements, table_judge):
    table = _noisy(toy_judgements, 1.0)

    def run(seed):
        judges = {"a": table_judge("a", table), "len": LengthJudge()}
        return meta_evaluate(toy_judgements, judges, MetaEvalConfig(bootstrap=40, seed=seed)).rows

    first, second, other = run(1), run(1), run(2)
    assert first == second
    assert [r["ci_low"] for r in first] != [r["ci_low"] for r in other]
    # a cell's interval does not depend on which other metrics are in the run
    alone = meta_evaluate(
        toy_judgements, {"a": table_judge("a", table)}, MetaEvalConfig(bootstrap=40, seed=1)
    )
    assert _row(alone, "a", "fluency", "item", "pearson") == _row(
        type(alone)(dataset="", split="", config=alone.config, rows=first), "a", "fluency", "item", "pearson"
    )


def test_reference_system_protocol(toy_judgements, table_judge):
    table = _noisy(toy_judgements, 0.5)
    seen = []

    class Spy(type(table_judge("x", {}))):
        def score(self, items, **kw):
            seen.extend(items)
            return super().score(items, **kw)

    result = meta_evaluate(
        toy_judgements,
        {"spy": Spy("spy", table)},
        MetaEvalConfig(bootstrap=0, reference_system="s1", levels=("segment",)),
    )
    assert all(
        it.system != "s1" and it.reference == f"summary {it.id.split('/')[1][1:]} by s1" for it in seen
    )
    reasons = [e for e in result.exclusions if "used as the reference" in e.reason]
    assert sorted((e.criterion, e.count) for e in reasons) == [("coherence", 12), ("fluency", 12)]
    with pytest.raises(InputError, match="no output of system"):
        meta_evaluate(toy_judgements, {"spy": Spy("spy", table)}, MetaEvalConfig(reference_system="nobody"))


def test_dedupe_scores_each_distinct_input_once(toy_judgements):
    calls = []

    class CountingLength(LengthJudge):
        def _score_items(self, items, batch_size, show_progress):
            calls.append(len(items))
            return super()._score_items(items, batch_size, show_progress)

    meta_evaluate(toy_judgements, {"length": CountingLength()}, MetaEvalConfig(bootstrap=0))
    # 48 distinct outputs, two criteria: scored once
    assert calls == [48]


def test_native_preferences_use_compare(table_judge):
    prefs = [
        Preference(
            id=f"p{i}",
            dataset="toy",
            task="summarization",
            criterion="consistency",
            item_id=f"d{i // 2}",
            output_a="x",
            output_b="y",
            label=lab,
        )
        for i, lab in enumerate(["a", "b", "a", "tie"])
    ]
    judge = table_judge("t", {}, probs={"p0": 0.9, "p1": 0.8, "p2": 0.5, "p3": 0.4})
    result = meta_evaluate(prefs, {"t": judge}, MetaEvalConfig(bootstrap=20))
    (row,) = result.rows
    assert row["level"] == "pair" and row["value"] == pytest.approx(1.5 / 3)
    assert (row["n"], row["n_ties"], row["n_pred_ties"]) == (3, 1, 1)


def test_significance_rows(toy_judgements, table_judge):
    good, bad = _noisy(toy_judgements, 0.3, seed=1), _noisy(toy_judgements, 3.0, seed=2)
    cfg = MetaEvalConfig(bootstrap=0, significance=100, statistics=("pearson",))
    result = meta_evaluate(
        toy_judgements, {"good": table_judge("good", good), "bad": table_judge("bad", bad)}, cfg
    )
    seg = [s for s in result.significance if s["level"] == "segment" and s["criterion"] == "coherence"][0]
    assert seg["metric_a"] == "good" and seg["delta"] > 0
    assert seg["permutation_p"] < 0.05 and seg["williams_p"] < 0.05
    assert all(s["williams_p"] is None for s in result.significance if s["level"] == "item")


def test_config_rejects_unknown_names():
    with pytest.raises(InputError, match="level"):
        MetaEvalConfig(levels=("corpus",))
    with pytest.raises(InputError, match="statistic"):
        MetaEvalConfig(statistics=("cosine",))
