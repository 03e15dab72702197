"""The metric filter with real judges: the in-process metric (heapmetric.load) and the HTTP service client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from heapmetric.judges.base import ScoreItem
from heapmetric.llm.openai import OpenAIChatBackend
from heapmetric.synth.filters import ScoringCriterion
from heapmetric.synth.generate import GenerationConfig
from heapmetric.synth.pipeline import SynthOptions, load_metric, synthesize
from tests.fakes.openai_server import FakeOpenAIServer
from tests.heapmetric.synth.conftest import FakeJudge, refed_reply

GEN = GenerationConfig(
    instructions_per_feature=1, max_features=2
)  # 2 + 2 + 1 candidates (one feature broken)


def run(refs: Path, out: Path, judge, **kw) -> tuple[dict, list[dict]]:
    with FakeOpenAIServer(refed_reply) as srv:
        report = synthesize(
            SynthOptions(
                references=str(refs),
                out_dir=str(out),
                generation=GEN,
                decontaminate=False,
                save_datasets=False,
                **kw,
            ),
            OpenAIChatBackend(srv.base_url, "fake-model"),
            judge,
        )
    return report, [json.loads(line) for line in (out / "reference" / "data.jsonl").read_text().splitlines()]


def test_in_process_metric_threshold(
    references_file: Path,
    tmp_path: Path,
    tiny_encoder_metric_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # fp32 even where the CPU computes bf16 natively: the direct score below is a batch of one, the filter's a
    # batch of five, and in bf16 padding moves a score by ~1e-4. The detection is cached: clear it both ways.
    from heapmetric.scoring.device import cpu_native_bf16

    monkeypatch.setenv("HEAPMETRIC_CPU_BF16", "0")
    cpu_native_bf16.cache_clear()
    request.addfinalizer(cpu_native_bf16.cache_clear)
    metric = load_metric(str(tiny_encoder_metric_dir))
    assert metric.dtype == torch.float32
    report, _ = run(references_file, tmp_path / "all", metric)
    scores = sorted(
        json.loads(line)["provenance"]["scores"]["score"]
        for line in (tmp_path / "all" / "reference" / "data.jsonl").read_text().splitlines()
    )
    assert len(scores) == report["candidates"] == 5
    threshold = scores[2]
    report, rows = run(references_file, tmp_path / "cut", metric, min_score=threshold)
    step = report["filters"][-1]
    assert (step["filter"], step["in"], step["kept"], step["removed"]) == ("min_score", 5, 3, 2)
    # the score the filter used is the metric's own score of (instruction -> response)
    r = rows[0]
    crit = ScoringCriterion.parse()
    direct = metric.score(
        [
            ScoreItem(
                output=r["response"],
                source=r["instruction"],
                task=crit.task,
                criterion=crit.criterion,
                instruction=crit.instruction,
            )
        ]
    ).scores[0]
    assert abs(direct - r["provenance"]["scores"]["score"]) < 1e-4
    assert r["provenance"]["scores"]["criterion"] == crit.key


def test_metric_server_top_k(references_file: Path, tmp_path: Path) -> None:
    from service.app import create_app
    from service.testing import serve_in_thread

    judge = FakeJudge()
    with serve_in_thread(create_app(judge=judge)) as server:
        client = load_metric(metric_server=server.url)
        warmup = judge.scored  # the service may score a warm-up item at start
        report, rows = run(references_file, tmp_path / "out", client, top_k=1)
    assert judge.scored - warmup == report["candidates"] == 5
    assert report["filters"][-1]["filter"] == "top_k" and len(rows) == 3  # one per reference
    crit = ScoringCriterion.parse()
    expected = (
        FakeJudge()
        .score(
            [
                ScoreItem(
                    output=r["response"],
                    source=r["instruction"],
                    task=crit.task,
                    criterion=crit.criterion,
                    instruction=crit.instruction,
                )
                for r in rows
            ]
        )
        .scores
    )
    assert [r["provenance"]["scores"]["score"] for r in rows] == expected
    assert rows[0]["provenance"]["scores"]["judge"].startswith("http:")
