"""Filters on hand-made candidates: dedup, decontamination, score threshold, top-k, data budget, cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.errors import InputError
from heapmetric.synth.cost import CostTracker, Prices, parse_prices
from heapmetric.synth.filters import (
    BudgetFilter,
    DecontaminationFilter,
    DedupFilter,
    ScoreThresholdFilter,
    TopKPerReferenceFilter,
    benchmark_prompts,
    run_filters,
)
from heapmetric.synth.generate import Candidate
from heapmetric.synth.references import Reference
from heapmetric.synth.textsim import jaccard, normalize, shingles
from tests.heapmetric.synth.conftest import words_for

REF_A = Reference("ra", 0, "How do I bake sourdough bread at home with a starter?", "...")
REF_B = Reference("rb", 1, "Explain recursion to a beginner.", "...")


def cand(
    i: int, instruction: str, score: float | None = None, ref: Reference = REF_A, response: str = ""
) -> Candidate:
    return Candidate(
        id=f"c{i:02d}",
        reference=ref,
        feature="f",
        feature_kind="skill",
        feature_index=0,
        index=i,
        instruction=instruction,
        response=response or words_for(f"resp{i}", 20),
        mode="reference",
        draft_response="",
        instruction_feedback={},
        feedback={},
        applied_feedback=[],
        timings={},
        score=score,
    )


def test_text_helpers() -> None:
    assert normalize("Hello,  World!") == "hello world"
    assert shingles("a b", 3) == {"a b"} and shingles("", 3) == set()
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)


def test_dedup_exact_near_and_against_references() -> None:
    base = "Write a short poem about the quiet winter mornings in a small mountain village near the lake"
    cands = [
        cand(0, base, 0.2),
        cand(1, base.upper() + "!", 0.9),  # exact (normalised) duplicates
        cand(2, base.replace("lake", "river"), 0.5),  # near duplicate (Jaccard 0.88)
        cand(3, "how do I bake sourdough bread at home with a starter"),  # a reference's instruction
        cand(4, words_for("other", 15)),
    ]
    kept, removed = DedupFilter([REF_A, REF_B]).apply(cands)
    # the best-scored of each duplicate group survives
    assert [c.id for c in kept] == ["c01", "c04"]
    reasons = {c.id: r for c, r in removed}
    assert reasons["c00"] == "exact: same instruction as candidate c01"
    assert (
        reasons["c02"].startswith("near: Jaccard 0.8")
        and reasons["c03"] == "exact: same instruction as reference ra"
    )


def test_decontamination_exact_ngram_and_near() -> None:
    prompts = [
        ("mt-bench", "Compose an engaging travel blog post about a recent trip to Hawaii."),
        ("alpacaeval", "What are the names of some famous actors that started their careers on Broadway?"),
        ("alpacaeval", "Give me three tips for staying healthy."),
    ]
    cands = [
        cand(0, "compose an ENGAGING travel blog post about a recent trip to hawaii"),
        cand(1, "Please list the names of some famous actors that started their careers on Broadway now"),
        cand(2, "Compose an engaging travel blog post about a recent trip to Peru."),
        cand(3, "Give me three tips for staying healthy today, please."),  # too short for an 8-gram
        cand(4, words_for("clean", 12)),
    ]
    f = DecontaminationFilter(prompts)
    kept, removed = f.apply(cands)
    assert [c.id for c in kept] == ["c04"]
    assert [r.split(":")[0] for _, r in removed] == ["exact", "ngram", "ngram", "near"]
    assert f.params()["benchmark_prompts"] == {"mt-bench": 1, "alpacaeval": 2}
    assert DecontaminationFilter([]).apply(cands) == (cands, [])


@pytest.mark.data
def test_benchmark_prompts_from_the_real_data(data_dir: Path) -> None:
    counts: dict[str, int] = {}
    for bench, _ in benchmark_prompts(data_dir):
        counts[bench] = counts.get(bench, 0) + 1
    assert counts == {"alpacaeval": 805, "arena-hard-v0.1": 500, "arena-hard-v2.0": 750, "mt-bench": 160}


def test_threshold_and_top_k() -> None:
    cands = [
        cand(i, words_for(str(i)), s, ref)
        for i, (s, ref) in enumerate(
            [(0.1, REF_A), (0.9, REF_A), (0.5, REF_A), (0.7, REF_B), (0.7, REF_B), (0.2, REF_B)]
        )
    ]
    kept, steps = run_filters(cands, [ScoreThresholdFilter(0.2), TopKPerReferenceFilter(1)])
    assert [c.id for c in kept] == ["c01", "c03"]  # ties broken by the stable order
    assert [(s.name, s.n_in, s.kept, len(s.removed)) for s in steps] == [
        ("min_score", 6, 5, 1),
        ("top_k", 5, 2, 3),
    ]
    assert steps[0].to_dict()["reasons"] == {"score": 1}
    with pytest.raises(ValueError, match="needs scores"):
        ScoreThresholdFilter(0.5).apply([cand(0, "x")])


def test_budget_trades_score_for_diversity() -> None:
    text = "Describe the history of the printing press in Europe during the fifteenth century"
    clones = [
        cand(i, text, 1.0 - i * 0.01, response="The same answer about printing presses.") for i in range(4)
    ]
    others = [cand(10 + i, words_for(f"o{i}", 14), 0.5) for i in range(4)]
    pool = clones + others
    # no diversity weight: the 4 best scores, all near-identical
    kept, removed = BudgetFilter(4, diversity=0.0).apply(pool)
    assert [c.id for c in kept] == ["c00", "c01", "c02", "c03"] and len(removed) == 4
    # with diversity: one of the clones, then the different ones
    kept, _ = BudgetFilter(4, diversity=0.5).apply(pool)
    assert [c.id for c in kept][:1] == ["c00"] and sum(c.id.startswith("c0") for c in kept) == 1
    assert BudgetFilter(20).apply(pool) == (pool, [])
    with pytest.raises(ValueError):
        BudgetFilter(2, diversity=1.5)


def test_prices_and_cost_report() -> None:
    assert parse_prices("in=0.15,out=0.6") == Prices(0.15, 0.6)
    assert parse_prices(None) is None
    with pytest.raises(InputError, match="field 'prices'"):
        parse_prices("in=abc")
    with pytest.raises(InputError, match="expected in="):
        parse_prices("total=3")
    t = CostTracker(Prices(1.0, 10.0))
    t.add("response", {"ok": True, "usage": {"in": 1000, "out": 100, "calls": 1}}, new=True)
    t.add(
        "response",
        {"ok": False, "kind": "parse", "usage": {"in": 500, "out": 50, "calls": 2, "repairs": 1}},
        new=False,
    )
    r = t.report()
    assert r["stages"]["response"]["failures"] == {"parse": 1}
    assert r["total"]["cost_usd"] == pytest.approx((1500 * 1.0 + 150 * 10.0) / 1e6)
    assert (r["total"]["calls"], r["total"]["repairs"], r["total"]["new"], r["total"]["cached"]) == (
        3,
        1,
        1,
        1,
    )
    assert CostTracker().report()["total"]["cost_usd"] is None


def test_scoring_criterion_choice() -> None:
    from heapmetric import registry
    from heapmetric.errors import UnknownNameError
    from heapmetric.synth.filters import DEFAULT_CRITERION, REGISTERED_DEFAULT, ScoringCriterion

    default = ScoringCriterion.parse()
    if REGISTERED_DEFAULT in {c.id for c in registry.list_criteria()}:
        assert (default.task, default.criterion, default.instruction) == (
            "instruction_following",
            "instruction_following",
            None,
        )
    else:
        assert default.instruction == DEFAULT_CRITERION
    assert ScoringCriterion.parse(instruction="Rate politeness.").key == "Rate politeness."
    assert ScoringCriterion.parse("summarization/coherence").key == "summarization/coherence"
    with pytest.raises(UnknownNameError):
        ScoringCriterion.parse("summarization/coherense")


def test_nan_scores_rank_last_and_are_reported() -> None:
    """A NaN score used to sit in the sort key, where it compares false with everything: arbitrary top-k."""
    nan = float("nan")
    scores = [
        (nan, REF_A),
        (0.2, REF_A),
        (nan, REF_A),
        (0.9, REF_A),
        (0.5, REF_A),
        (nan, REF_B),
        (0.1, REF_B),
    ]
    cands = [cand(i, words_for(str(i)), s, ref) for i, (s, ref) in enumerate(scores)]
    kept, steps = run_filters(cands, [TopKPerReferenceFilter(2)])
    assert [c.id for c in kept] == ["c03", "c04", "c05", "c06"]  # rb has room for its NaN one, ranked last
    report = steps[0].to_dict()
    assert report["nan_scores"] == 3 and report["reasons"] == {"no score": 2, "rank": 1}
    assert all(e["score"] is None or e["score"] == e["score"] for e in report["examples"])
    kept, steps = run_filters(cands, [TopKPerReferenceFilter(1)])
    assert [c.id for c in kept] == ["c03", "c06"]
    kept, steps = run_filters(cands, [ScoreThresholdFilter(0.0)])
    assert [c.id for c in kept] == ["c01", "c03", "c04", "c06"]
    assert steps[0].to_dict()["reasons"] == {"no score": 3} and steps[0].nan_scores == 3
    kept, _ = run_filters(cands, [BudgetFilter(3, diversity=0.0)])
    assert [c.id for c in kept] == ["c01", "c03", "c04"]
    kept, _ = run_filters(cands[:4], [DedupFilter()])  # priority with NaN does not raise
    assert len(kept) == 4


def test_metric_scorer_nan_is_counted_and_cached(tmp_path: Path, caplog) -> None:
    from heapmetric.judges.base import ScoreResult
    from heapmetric.synth.filters import MetricScorer, ScoringCriterion
    from heapmetric.synth.journal import Journal
    from tests.heapmetric.synth.conftest import FakeJudge

    class NanJudge(FakeJudge):
        def score(self, items, *, batch_size=None, show_progress=False) -> ScoreResult:
            self.scored += len(items)
            return ScoreResult(scores=[float("nan") if i % 2 else 0.5 for i in range(len(items))])

    crit = ScoringCriterion(instruction="rate it")
    cands = [cand(i, words_for(str(i))) for i in range(4)]
    journal = Journal(tmp_path / "journal.jsonl")
    kept, steps = run_filters(cands, [MetricScorer(NanJudge(), journal, crit), TopKPerReferenceFilter(1)])
    assert [c.id for c in kept] == ["c00"]
    assert steps[0].nan_scores == 2 and steps[0].to_dict()["nan_scores"] == 2
    assert "no score (NaN) to 2 of 4" in caplog.text
    judge = NanJudge()
    again = [cand(i, words_for(str(i))) for i in range(4)]
    _, steps = run_filters(again, [MetricScorer(judge, journal, crit)])
    assert judge.scored == 0 and steps[0].nan_scores == 2  # NaN came back from the journal too


def test_nan_score_is_written_as_null() -> None:
    from heapmetric.synth.output import record

    row = record(cand(0, "x", float("nan")), generator="g", prompt_version="v", judge="j", criterion="c")
    assert row["provenance"]["scores"]["score"] is None
    assert "NaN" not in json.dumps(row, allow_nan=False)
