"""A small real run with the local SmolLM2-135M-Instruct model (offline). Slow: minutes on 2 CPU cores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.synth.generate import GenerationConfig
from heapmetric.synth.pipeline import SynthOptions, load_metric, synthesize
from tests.heapmetric.synth.conftest import REFERENCES


@pytest.mark.slow
def test_smollm2_run_completes_and_reports_the_metric(tmp_path: Path, tiny_encoder_metric_dir: Path) -> None:
    from heapmetric.llm.local import LocalChatBackend

    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps(REFERENCES[0]) + "\n")
    gen = GenerationConfig(
        instructions_per_feature=1,
        max_features=2,
        max_tokens={
            s: 96
            for s in (
                "instruction_feedback",
                "response_feedback",
                "sample_feedback",
                "instructions",
                "response",
                "refine",
            )
        },
    )
    report = synthesize(
        SynthOptions(
            references=str(refs), out_dir=str(tmp_path / "out"), generation=gen, top_k=1, decontaminate=False
        ),
        LocalChatBackend("smollm2"),
        load_metric(str(tiny_encoder_metric_dir)),
    )
    stages = report["cost"]["stages"]
    assert (
        stages["instruction_feedback"]["steps"] == 1 and stages["instruction_feedback"]["output_tokens"] > 0
    )
    names = [s["filter"] for s in report["filters"]]
    assert names == ["dedup", "metric", "top_k"]
    assert report["records"] == report["filters"][-1]["kept"] <= 1
    rows = (tmp_path / "out" / "reference" / "data.jsonl").read_text().splitlines()
    assert len(rows) == report["records"]
