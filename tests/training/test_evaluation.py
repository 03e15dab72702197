"""Evaluation metrics per group, and the baseline/model comparison of the model card."""

from __future__ import annotations

import pytest

from heapmetric.records import Judgement, Preference
from training.data import Group
from training.evaluation import evaluate, subsample, summarize
from training.model_card import comparison, covers, results_markdown


def _j(item: str, out: str, score: float, **kw) -> Judgement:
    return Judgement(
        id=f"{item}{out}",
        dataset="d",
        task="summarization",
        criterion="coherence",
        item_id=item,
        output=out,
        score=score,
        scale=[1, 5],
        **kw,
    )


def _groups() -> dict[str, Group]:
    graded = Group(
        "d/summarization/coherence",
        "d",
        "summarization",
        "coherence",
        judgements=[
            _j("i1", "a", 1),
            _j("i1", "bb", 2),
            _j("i1", "ccc", 3),
            _j("i2", "ddddd", 5),
            _j("i2", "eeee", 4),
        ],
    )
    prefs = Group(
        "p/summarization/consistency",
        "p",
        "summarization",
        "consistency",
        preferences=[
            Preference(
                id="x",
                dataset="p",
                task="summarization",
                criterion="consistency",
                item_id="k",
                output_a="long answer here",
                output_b="short",
                label="a",
            ),
            Preference(
                id="y",
                dataset="p",
                task="summarization",
                criterion="consistency",
                item_id="m",
                output_a="tiny",
                output_b="a much longer one",
                label="a",
            ),
            Preference(
                id="z",
                dataset="p",
                task="summarization",
                criterion="consistency",
                item_id="n",
                output_a="same",
                output_b="other",
                label="tie",
            ),
        ],
    )
    return {g.name: g for g in (graded, prefs)}


def test_metrics_from_a_known_scorer() -> None:
    calls = []

    def by_length(items):
        calls.append(len(items))
        return [float(len(it.output)) for it in items]

    res = evaluate(_groups(), by_length)
    assert len(calls) == 1  # one call for every group, each distinct output once
    g = res["groups"]["d/summarization/coherence"]
    # pairs within inputs: i1 has 3 pairs, i2 one; length orders all of them right
    assert g["n_pairs"] == 4 and g["pairwise_accuracy"] == 1.0
    assert g["kendall"] == pytest.approx(1.0) and g["spearman"] == pytest.approx(1.0)
    p = res["groups"]["p/summarization/consistency"]
    assert p["n_pairs"] == 2 and p["pairwise_accuracy"] == 0.5 and "kendall" not in p  # the tie is left out
    assert res["mean_pairwise_accuracy"] == pytest.approx(0.75) and res["mean_kendall"] == pytest.approx(1.0)


def test_ties_in_score_count_half_and_constant_scores_have_no_correlation() -> None:
    res = evaluate(_groups(), lambda items: [0.0] * len(items))
    assert res["groups"]["d/summarization/coherence"]["pairwise_accuracy"] == 0.5
    assert res["groups"]["d/summarization/coherence"]["kendall"] is None
    assert summarize({"a": {"pairwise_accuracy": 0.5}, "b": {}})["mean_kendall"] is None


def test_subsample_keeps_whole_inputs() -> None:
    g = _groups()["d/summarization/coherence"]
    small = subsample(g, 2, seed=1)
    items = {j.item_id for j in small.judgements}
    assert len(items) == 1
    assert len(small.judgements) == sum(1 for j in g.judgements if j.item_id in items)


def test_baseline_coverage_and_comparison() -> None:
    groups = _groups()
    assert covers("length", groups["d/summarization/coherence"])
    assert not covers("rougeL", groups["d/summarization/coherence"])
    with_ref = Group(
        "r/summarization/coverage",
        "r",
        "summarization",
        "coverage",
        judgements=[_j("i", "a", 1, reference="ref")],
    )
    assert covers("rougeL", with_ref) and covers("minilm-cosine", with_ref)
    model = {"groups": {"g1": {"pairwise_accuracy": 0.8, "kendall": 0.4}, "g2": {"pairwise_accuracy": 0.6}}}
    base = {"length": {"groups": {"g2": {"pairwise_accuracy": 0.55}}}}
    rows = comparison(model, base)
    assert rows[0]["pairwise_accuracy"] == pytest.approx(0.7) and rows[0]["kendall"] == pytest.approx(0.4)
    assert rows[1]["model_pairwise_accuracy"] == pytest.approx(0.6) and rows[1]["kendall"] is None
    table = results_markdown(model, base)
    assert "| g2 | 0 | 0 | 0.600 | – | – | 0.550 | – |" in table
