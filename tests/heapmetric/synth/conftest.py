"""Fixtures for synthesis tests: a deterministic REFED "model" for the fake OpenAI server, references, a
fake judge."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from heapmetric.judges.base import JudgeInfo, ScoreResult

VOCAB = (
    "river garden planet engine violin harbor lantern quartz meadow falcon canyon orchard glacier "
    "compass ember tundra saffron atlas beacon cobalt delta fjord granite hollow ivory jasmine kettle "
    "lagoon marble nectar oasis pepper quill raven summit timber umber velvet willow yonder zephyr"
).split()

REFERENCES = [
    {
        "instruction": "How do I bake sourdough bread at home?",
        "response": "Feed a starter, mix flour and water, fold, proof overnight and bake hot in a Dutch oven.",
    },
    {
        "instruction": "Explain FIXABLE recursion to a beginner programmer.",
        "response": "A function that calls itself on a smaller problem until it reaches a base case.",
    },
    {
        "instruction": "BROKEN: which planets have rings?",
        "response": "Jupiter, Saturn, Uranus and Neptune all have ring systems; Saturn's are the brightest.",
    },
]


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def words_for(seed: str, n: int = 10) -> str:
    """``n`` pseudo-random vocabulary words chosen by ``seed`` (distinct seeds give dissimilar texts)."""
    digest = _h(seed) + _h(seed + "#")
    return " ".join(VOCAB[int(digest[2 * i : 2 * i + 2], 16) % len(VOCAB)] for i in range(n))


def _tag(text: str, name: str) -> str:
    m = re.search(rf"<{name}>\n(.*?)\n</{name}>", text, re.DOTALL)
    return m.group(1) if m else ""


def refed_reply(messages: list[dict[str, Any]], body: dict[str, Any], repairing: bool = False) -> str:
    """Deterministic replies to the REFED prompts (a function of the messages only). Markers in reference
    instructions trigger structured-output problems: ``FIXABLE`` -> the first instruction-feedback reply is
    not JSON but the repair reply is; ``BROKEN`` -> the instruction stage of feature "broken area" never
    returns JSON, repair included."""
    last = messages[-1]["content"]
    if "could not be used" in last:  # the repair request: answer the original prompt
        original = messages[-3]["content"]
        if "broken area" in original:
            return "still not json, sorry"
        return refed_reply(messages[:-2], body, repairing=True)
    if '"subject_areas"' in last:
        instruction = _tag(last, "instruction")
        if "FIXABLE" in instruction and not repairing:
            return "Sure! Subject areas: programming. Skills: teaching."
        h = _h(instruction)[:6]
        areas = ["broken area", f"area {h}"] if "BROKEN" in instruction else [f"area {h}", f"field {h}"]
        return (
            "```json\n"
            + json.dumps({"subject_areas": areas, "skills": [f"skill {h}", f"craft {h}"]})
            + "\n```"
        )
    if "Strengths:" in last and "<response>" in last:  # response feedback: headed bullet lists
        h = _h(_tag(last, "response"))[:6]
        return f"Strengths:\n- clear {h}\n- concise\nImprovements:\n- add detail {h}"
    if '"instructions"' in last:
        n = int(re.search(r"Write (\d+) new instructions", last).group(1))
        feature = re.search(r"that focus on this [a-z ]+:\n(.*?)\.\n", last).group(1)
        if feature == "broken area":
            return "I cannot produce JSON today."
        return json.dumps({"instructions": [f"Task {words_for(feature + str(i))}?" for i in range(n)]})
    if "Applied feedback:" in last and "<draft>" in last:  # refinement: headed sections
        draft = _tag(last, "draft")
        kept = re.search(r"Strengths to keep:\n- (.*?)\n", last).group(1)
        return f"Here you go.\nImproved response:\nRefined. {draft}\nApplied feedback:\n- {kept}"
    return "Answer: " + words_for(last, 12)


class FakeJudge:
    """A judge whose score is a deterministic function of the response (and the instruction)."""

    def __init__(self) -> None:
        self.calls = 0
        self.scored = 0

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(name="fake-judge", kind="baseline")

    def score(self, items, *, batch_size=None, show_progress=False) -> ScoreResult:
        self.calls += 1
        self.scored += len(items)
        assert all(i.source and (i.instruction or i.criterion) for i in items)
        return ScoreResult(scores=[int(_h(i.source + i.output)[:4], 16) / 65535 for i in items])

    def compare(self, pairs, *, batch_size=None, show_progress=False):
        raise NotImplementedError


@pytest.fixture
def references_file(tmp_path: Path) -> Path:
    path = tmp_path / "refs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in REFERENCES), encoding="utf-8")
    return path
