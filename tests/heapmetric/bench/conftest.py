"""Small judges and benchmark files for the benchmark-harness tests (no model, no network)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from heapmetric.judges.base import CompareResult, JudgeInfo, PairItem


class LengthJudge:
    """Order-free: prefers the longer output, P(a better) = sigmoid((len a - len b) / 20). Counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.pairs = 0

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(name="test-length", kind="baseline", order_free=True, can_score=False)

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        self.calls += 1
        self.pairs += len(pairs)
        return CompareResult([1 / (1 + math.exp(-(len(p.output_a) - len(p.output_b)) / 20)) for p in pairs])

    def score(self, items, **kw):  # pragma: no cover - not used
        raise NotImplementedError


class FirstPositionJudge:
    """Not order-free: always says the output in position A is better, with an Arena-Hard verdict; returns
    NaN (unparsed) for sources containing 'UNPARSEABLE'."""

    def __init__(self, verdict: str = "A>B") -> None:
        self.verdict = verdict
        self.pairs = 0

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(name=f"test-first-{self.verdict}", kind="openai", order_free=False, can_score=False)

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        self.pairs += len(pairs)
        bad = ["UNPARSEABLE" in (p.source or "") for p in pairs]
        return CompareResult(
            [math.nan if b else 1.0 for b in bad],
            metadata={
                "verdicts": [None if b else self.verdict for b in bad],
                "raw": ["garbage" if b else f"[[{self.verdict}]]" for b in bad],
            },
        )

    def score(self, items, **kw):  # pragma: no cover - not used
        raise NotImplementedError


@pytest.fixture
def length_judge() -> LengthJudge:
    return LengthJudge()


def write_alpaca_files(folder: Path, n: int = 12) -> dict[str, Path]:
    """A reference and two systems in alpaca_eval format: 'long' writes longer outputs than 'short'."""
    folder.mkdir(parents=True, exist_ok=True)
    instructions = [f"Instruction number {i}: explain topic {i}." for i in range(n)]
    files = {}
    for name, width in (("reference", 40), ("long", 60), ("short", 10)):
        rows = [
            {
                "instruction": ins,
                "output": f"{name} answer {i} " + "x" * (width + (i % 5)),
                "generator": name,
                "dataset": "test",
            }
            for i, ins in enumerate(instructions)
        ]
        files[name] = folder / f"{name}.json"
        files[name].write_text(json.dumps(rows), encoding="utf-8")
    return files


def write_arena_files(folder: Path, n: int = 8) -> dict[str, Path]:
    """question.jsonl, a baseline and two systems in arena-hard-auto format."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = [f"q{i:03d}" for i in range(n)]
    (folder / "question.jsonl").write_text(
        "".join(
            json.dumps({"uid": u, "category": "arena-hard-v0.1", "prompt": f"Question {u}?"}) + "\n"
            for u in uids
        ),
        encoding="utf-8",
    )
    files = {"questions": folder / "question.jsonl"}
    for name, width in (("base-model", 40), ("long-model", 80), ("short-model", 5)):
        path = folder / f"{name}.jsonl"
        path.write_text(
            "".join(
                json.dumps(
                    {
                        "uid": u,
                        "ans_id": f"{name}-{u}",
                        "model": name,
                        "messages": [
                            {"role": "user", "content": f"Question {u}?"},
                            {
                                "role": "assistant",
                                "content": {
                                    "answer": f"## {name}\n- item\n" + " ".join(["word"] * (width // 4 + i))
                                },
                            },
                        ],
                    }
                )
                + "\n"
                for i, u in enumerate(uids)
            ),
            encoding="utf-8",
        )
        files[name] = path
    return files


@pytest.fixture
def alpaca_files(tmp_path: Path) -> dict[str, Path]:
    return write_alpaca_files(tmp_path / "alpaca")


@pytest.fixture
def arena_files(tmp_path: Path) -> dict[str, Path]:
    return write_arena_files(tmp_path / "arena")


@pytest.fixture
def first_position_judge() -> type[FirstPositionJudge]:
    return FirstPositionJudge


@pytest.fixture
def registered_length_judge() -> str:
    """Registers ``test-length`` (the :class:`LengthJudge`) as a judge spec for CLI tests."""
    from heapmetric.judges.spec import register_judge

    register_judge("test-length", lambda arg, **kw: LengthJudge(), help="test judge", replace=True)
    return "test-length"


from tests.fakes.openai_server import fake_openai_server  # noqa: E402,F401  (fixture)
