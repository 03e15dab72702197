"""Prompt sets per model class: the capable-model set (JSON in every structured stage, response_format sent)
parses a capable model's replies from the fake OpenAI-compatible server, and is versioned in the journal keys."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from heapmetric.cli import main
from heapmetric.llm.openai import OpenAIChatBackend
from heapmetric.synth.generate import GenerationConfig
from heapmetric.synth.pipeline import SynthOptions, synthesize
from heapmetric.synth.templates import load_prompts
from tests.fakes.openai_server import FakeOpenAIServer
from tests.heapmetric.synth.conftest import _tag, refed_reply, words_for

REFS = [
    {"instruction": "How do I bake sourdough bread at home?", "response": "Feed a starter, mix, fold, bake."},
    {"instruction": "Explain recursion to a beginner.", "response": "A function that calls itself."},
]
N, FEATURES = 2, 2


class CapableModel:
    """Replies as a capable chat model to the ``capable`` prompts: JSON objects (one fenced, one wrapped in
    prose, the rest bare), multi-line markdown responses inside JSON strings. Records each request body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        self.bodies.append(body)
        last = messages[-1]["content"]
        if '"subject_areas"' in last:
            h = words_for(_tag(last, "instruction"), 2)
            return (
                "```json\n"
                + json.dumps({"subject_areas": [f"{h} area", f"{h} field"], "skills": [f"{h} skill"]})
                + "\n```"
            )
        if '"strengths"' in last and "<response>" in last:
            h = words_for(_tag(last, "response"), 2)
            return "Here is my review:\n" + json.dumps(
                {
                    "strengths": [f"names each step ({h})", "uses plain words"],
                    "improvements": [f"add timings {h}"],
                }
            )
        if '"instructions"' in last:
            n = int(re.search(r"list of exactly (\d+) strings", last).group(1))
            feature = re.search(r"that focus on this [a-z ]+: (.*?)\.\n", last).group(1)
            return json.dumps({"instructions": [f"Task {words_for(feature + str(i))}?" for i in range(n)]})
        if '"applicable_feedback"' in last and "<draft>" in last:
            draft = _tag(last, "draft")
            kept = re.search(r"Strengths to keep:\n- (.*?)\n", last).group(1)
            return json.dumps(
                {
                    "response": f'## Answer\n\n{draft}\n\n- refined "quoted" line',
                    "applicable_feedback": [kept],
                }
            )
        return "Answer: " + words_for(last, 12)


def _options(refs: Path, out: Path, prompt_set: str) -> SynthOptions:
    gen = GenerationConfig(instructions_per_feature=N, max_features=FEATURES, prompt_set=prompt_set)
    return SynthOptions(
        references=str(refs), out_dir=str(out), generation=gen, decontaminate=False, save_datasets=False
    )


@pytest.fixture()
def refs_file(tmp_path: Path) -> Path:
    path = tmp_path / "refs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in REFS))
    return path


def test_capable_set_parses_json_replies_and_sends_response_format(refs_file: Path, tmp_path: Path) -> None:
    model = CapableModel()
    with FakeOpenAIServer(model) as srv:
        report = synthesize(
            _options(refs_file, tmp_path / "out", "capable"),
            OpenAIChatBackend(srv.base_url, "capable-model", backoff_base=0.01, seed=0),
        )
    rows = [json.loads(x) for x in (tmp_path / "out" / "reference" / "data.jsonl").read_text().splitlines()]
    assert report["candidates"] == len(rows) == len(REFS) * FEATURES * N
    assert report["failures"] == {} or all(not v for v in report["failures"].values())
    assert report["cost"]["total"]["repairs"] == 0
    assert report["config"]["prompt_version"] == load_prompts("capable").id
    assert report["config"]["prompt_version"].startswith("refed_capable@1#")
    for row in rows:
        prov = row["provenance"]
        assert row["response"].startswith("## Answer\n\n") and row["response"].endswith(
            '- refined "quoted" line'
        )
        assert prov["feedback"]["strengths"][1] == "uses plain words" and prov["feedback"]["improvements"]
        assert prov["applied_feedback"] == [prov["feedback"]["strengths"][0]]
        assert prov["instruction_feedback"]["subject_areas"] and prov["instruction_feedback"]["skills"]
    # structured stages asked for JSON output; the free-text response stage did not
    structured = [b for b in model.bodies if "Respond with a JSON object" in b["messages"][-1]["content"]]
    assert structured and all(b.get("response_format") == {"type": "json_object"} for b in structured)
    free = [b for b in model.bodies if "Respond with a JSON object" not in b["messages"][-1]["content"]]
    assert free and all("response_format" not in b for b in free)


def test_prompt_sets_do_not_share_journal_steps(refs_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with FakeOpenAIServer(refed_reply) as srv:
        small = synthesize(_options(refs_file, out, "small"), OpenAIChatBackend(srv.base_url, "m", seed=0))
        small_calls = srv.count()
    with FakeOpenAIServer(CapableModel()) as srv:
        capable = synthesize(
            _options(refs_file, out, "capable"), OpenAIChatBackend(srv.base_url, "m", seed=0)
        )
        capable_calls = srv.count()
    assert small["config"]["prompt_version"].startswith("refed@")
    assert capable["config"]["prompt_version"].startswith("refed_capable@")
    # nothing of the small set's journal was replayed for the capable set: every step was asked again
    assert capable_calls >= small_calls > 0
    assert capable["journal"]["appended_this_run"] >= small["journal"]["appended_this_run"] > 0
    with FakeOpenAIServer(CapableModel()) as srv:
        again = synthesize(_options(refs_file, out, "capable"), OpenAIChatBackend(srv.base_url, "m", seed=0))
        assert srv.count() == 0 and again["records"] == capable["records"]


def test_cli_prompt_set_flag(refs_file: Path, tmp_path: Path, capsys) -> None:
    with FakeOpenAIServer(CapableModel()) as srv:
        rc = main(["synth", "--references", str(refs_file), "--out", str(tmp_path / "cli"), "--backend", "openai",
                   "--base-url", srv.base_url, "--model", "m", "--prompt-set", "capable", "--max-features", "1",
                   "--instructions-per-feature", "1", "--no-decontaminate", "--no-dataset", "-q"])  # fmt: skip
    assert rc == 0
    report = json.loads((tmp_path / "cli" / "reference" / "report.json").read_text())
    assert report["config"]["prompt_version"].startswith("refed_capable@1#") and report["records"] == len(
        REFS
    )
    rc = main(["synth", "--references", str(refs_file), "--out", str(tmp_path / "x"), "--backend", "openai",
               "--base-url", "http://127.0.0.1:9", "--model", "m", "--prompt-set", "nope", "-q"])  # fmt: skip
    assert rc == 2
    assert "prompt set" in capsys.readouterr().err
