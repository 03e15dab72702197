"""End-to-end synthesis against the real loopback fake OpenAI server, with injected failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.llm import ChatBackendError
from heapmetric.llm.openai import OpenAIChatBackend
from heapmetric.synth.cost import Prices
from heapmetric.synth.generate import GenerationConfig
from heapmetric.synth.journal import Journal
from heapmetric.synth.pipeline import SynthOptions, synthesize
from tests.fakes.openai_server import Failure, FakeOpenAIServer
from tests.heapmetric.synth.conftest import FakeJudge, refed_reply

N = 2  # instructions per feature; 4 features per reference
EXPECTED = 3 * 4 * N - N  # the "broken area" feature of the third reference yields nothing


def backend(srv: FakeOpenAIServer, **kw) -> OpenAIChatBackend:
    return OpenAIChatBackend(srv.base_url, "fake-model", backoff_base=0.01, seed=0, **kw)


def options(refs: Path, out: Path, **kw) -> SynthOptions:
    kw.setdefault("decontaminate", False)
    kw.setdefault("save_datasets", False)
    gen = kw.pop("generation", GenerationConfig(instructions_per_feature=N, max_features=4))
    return SynthOptions(references=str(refs), out_dir=str(out), generation=gen, **kw)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_expected_records_and_every_failure_counted(references_file: Path, tmp_path: Path) -> None:
    injected = {
        1: Failure("429", retry_after=0.01),
        4: Failure("500"),
        7: Failure("malformed"),
        10: Failure("delay", delay=1.5),
        13: Failure("503"),
        20: Failure("429"),
    }
    with FakeOpenAIServer(refed_reply, failures=injected) as srv:
        b = backend(srv, timeout=0.5, concurrency=4)
        report = synthesize(
            options(references_file, tmp_path / "out", prices=Prices(1.0, 2.0), save_datasets=True), b
        )
        served = srv.count()
    rows = read(tmp_path / "out" / "reference" / "data.jsonl")
    assert report["candidates"] == len(rows) == EXPECTED
    # HTTP failures: every injected one was seen by the client and retried
    assert b.stats["errors"] == {
        "429": 2,
        "5xx": 2,
        "4xx_retryable": 0,
        "timeout": 1,
        "connection": 0,
        "malformed": 1,
    }
    assert report["backend"]["retries"] == 6 and report["backend"]["failures"] == 0
    # structured-output failures: one repaired, one lost after its repair attempt
    assert report["failures"] == {"instructions": {"parse": 1}}
    cost = report["cost"]
    assert cost["stages"]["instruction_feedback"]["repairs"] == 1
    assert cost["stages"]["instructions"]["repairs"] == 1
    # calls = steps + repairs; the server saw those plus the 6 retried attempts
    steps = 3 + 3 + 3 * 4 + EXPECTED + EXPECTED
    assert cost["total"]["steps"] == steps and cost["total"]["calls"] == steps + 2
    assert served == steps + 2 + 6
    total = cost["total"]
    assert total["cost_usd"] == pytest.approx(
        (total["input_tokens"] * 1.0 + total["output_tokens"] * 2.0) / 1e6
    )
    # columns and provenance
    row = rows[0]
    assert set(row) == {"instruction", "response", "prompt_id", "id", "provenance"}
    assert row["response"].startswith("Refined. Answer: ")
    prov = row["provenance"]
    assert prov["mode"] == "reference" and prov["applied_feedback"] == [
        "clear " + prov["feedback"]["strengths"][0][6:]
    ]
    assert prov["timings"]["refine"] is not None and prov["timings"]["sample_feedback"] is None
    assert len({r["id"] for r in rows}) == len(rows)
    # the datasets folder and the card
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "out" / "reference" / "dataset"))
    assert ds.num_rows == EXPECTED and ds[0]["prompt_id"] == row["prompt_id"]
    card = (tmp_path / "out" / "reference" / "README.md").read_text()
    assert (
        card.startswith("---\n") and "task_categories:" in card and f"{EXPECTED} instruction-response" in card
    )


def test_resume_is_free_and_identical(references_file: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(refed_reply) as srv:
        first = synthesize(options(references_file, tmp_path / "out"), backend(srv))
        n = srv.count()
        second = synthesize(options(references_file, tmp_path / "out"), backend(srv))
        assert srv.count() == n  # everything came from the journal
    assert (
        second["cost"]["total"]["new"] == 0
        and second["cost"]["total"]["cached"] == first["cost"]["total"]["steps"]
    )
    assert first["cost"]["total"]["input_tokens"] == second["cost"]["total"]["input_tokens"]
    assert first["records"] == second["records"] == EXPECTED


@pytest.mark.parametrize("mode", ["sample", "none"])
def test_baseline_modes_share_the_drafts(mode: str, references_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with FakeOpenAIServer(refed_reply) as srv:
        synthesize(options(references_file, out), backend(srv))
        before = srv.count()
        gen = GenerationConfig(instructions_per_feature=N, max_features=4, mode=mode)
        report = synthesize(options(references_file, out, generation=gen), backend(srv))
        new_calls = srv.count() - before
    rows = read(out / mode / "data.jsonl")
    assert len(rows) == EXPECTED and all(r["provenance"]["mode"] == mode for r in rows)
    stages = report["cost"]["stages"]
    assert stages["response"]["new"] == 0 and stages["instructions"]["new"] == 0  # reused
    if mode == "none":
        assert new_calls == 0 and all(r["response"] == r["provenance"]["draft_response"] for r in rows)
        assert "refine" not in stages
    else:
        assert stages["sample_feedback"]["new"] == EXPECTED and new_calls == 2 * EXPECTED
        assert all(r["response"].startswith("Refined. ") for r in rows)


def test_metric_filters_threshold_top_k_and_budget(references_file: Path, tmp_path: Path) -> None:
    judge = FakeJudge()
    with FakeOpenAIServer(refed_reply) as srv:
        report = synthesize(
            options(references_file, tmp_path / "a", min_score=0.3, top_k=3), backend(srv), judge
        )
        scored = judge.scored
        rows = read(tmp_path / "a" / "reference" / "data.jsonl")
        steps = {s["filter"]: s for s in report["filters"]}
        assert scored == EXPECTED and steps["metric"]["removed"] == 0
        assert steps["min_score"]["in"] == EXPECTED
        assert all(r["provenance"]["scores"]["score"] >= 0.3 for r in rows)
        per_ref: dict[str, int] = {}
        for r in rows:
            per_ref[r["provenance"]["reference_id"]] = per_ref.get(r["provenance"]["reference_id"], 0) + 1
        assert max(per_ref.values()) <= 3
        assert (
            len(rows)
            == steps["top_k"]["kept"]
            == EXPECTED - steps["min_score"]["removed"] - steps["top_k"]["removed"]
        )
        removed = read(tmp_path / "a" / "reference" / "removed.jsonl")
        assert len(removed) == EXPECTED - len(rows)
        assert {r["filter"] for r in removed} <= {"min_score", "top_k"}
        # a restart re-scores nothing (scores are journaled)
        synthesize(options(references_file, tmp_path / "a", min_score=0.3, top_k=3), backend(srv), judge)
        assert judge.scored == scored
        # data budget: exactly target-size records, using references only as far as needed
        report = synthesize(
            options(references_file, tmp_path / "b", target_size=5, diversity=0.5), backend(srv), FakeJudge()
        )
    assert report["records"] == 5 and len(read(tmp_path / "b" / "reference" / "data.jsonl")) == 5
    assert report["references"]["used"] == 1  # 8 candidates from the first reference were enough
    assert report["filters"][-1]["filter"] == "budget" and report["filters"][-1]["removed"] == 3


def test_decontamination_against_benchmark_prompts(references_file: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer(refed_reply) as srv:
        synthesize(options(references_file, tmp_path / "a"), backend(srv))
        leaked = read(tmp_path / "a" / "reference" / "data.jsonl")[3]["instruction"]
        bench = tmp_path / "bench" / "mt_bench"
        bench.mkdir(parents=True)
        (bench / "question.jsonl").write_text(
            json.dumps({"question_id": 81, "turns": [leaked.upper(), "x"]}) + "\n"
        )
        report = synthesize(
            options(
                references_file, tmp_path / "a", decontaminate=True, benchmarks_dir=str(tmp_path / "bench")
            ),
            backend(srv),
        )
    step = report["filters"][0]
    assert step["filter"] == "decontaminate" and step["removed"] == 1 and step["reasons"] == {"exact": 1}
    assert step["params"]["benchmark_prompts"] == {"mt-bench": 2}
    assert report["records"] == EXPECTED - 1


def test_unreachable_endpoint_counts_backend_failures(references_file: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer() as srv:
        url = srv.base_url
    b = OpenAIChatBackend(url, "m", max_retries=0, timeout=1)
    with pytest.raises(ChatBackendError, match="6 steps failed on backend errors.*connection error"):
        synthesize(options(references_file, tmp_path / "out"), b)
    # a failed run writes no outputs (and replaces none: see test_synth_outputs.py)
    assert not (tmp_path / "out" / "reference").exists()
    assert len(Journal(tmp_path / "out" / "journal.jsonl")) == 0
    assert b.stats["errors"]["connection"] == 6


def test_backend_failures_are_retried_by_a_rerun(references_file: Path, tmp_path: Path) -> None:
    def down_for_recursion(index: int, body: dict) -> Failure | None:
        return Failure("500") if "FIXABLE" in json.dumps(body["messages"]) else None

    with FakeOpenAIServer(refed_reply, failures=down_for_recursion) as srv:
        report = synthesize(options(references_file, tmp_path / "out"), backend(srv, max_retries=1))
    # the second reference (its one-shot prompts carry its text too) is lost and counted, the rest is kept
    assert report["records"] == EXPECTED - 4 * N
    assert report["failures"]["instruction_feedback"] == {"backend": 1}
    assert report["failures"]["response_feedback"] == {"backend": 1}
    with FakeOpenAIServer(refed_reply) as srv:
        report = synthesize(options(references_file, tmp_path / "out"), backend(srv))
        assert report["records"] == EXPECTED and report["failures"] == {"instructions": {"parse": 1}}
