"""Arena-Hard with any judge: every model answer is compared with the baseline's answer to the same question
in two games with positions swapped (game 1: baseline as A; game 2: model as A), as arena-hard-auto does.

A game judged with an Arena-Hard verdict label (``A>>B`` ... ``B>>A``) becomes battles as published (a strong
verdict counts three times); a judge that only gives P(a better) contributes one soft battle per game. Scores
are Bradley–Terry win rates (%) against the baseline with 95% bootstrap intervals
(:mod:`heapmetric.stats.bradley_terry`), optionally with style control (answer length and markdown counts).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heapmetric.bench.cache import AnnotationCache
from heapmetric.bench.formats import Answers, Question, check_answers
from heapmetric.bench.judging import Verdict, judge_both_orders
from heapmetric.errors import InputError
from heapmetric.judges.base import Judge, PairItem

log = logging.getLogger(__name__)

LEADERBOARD_COLUMNS = (
    "model",
    "score",
    "rating_q025",
    "rating_q975",
    "CI",
    "avg_tokens",
    "n_battles",
    "n_unparsed_games",
    "elo",
    "elo_q025",
    "elo_q975",
)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CODE_BLOCK = re.compile(r"```[^`]*```")


def default_paths(version: str = "v0.1") -> dict[str, Any]:
    """Questions, baseline answers and the shipped systems' answers of Arena-Hard ``version``."""
    from heapmetric.env import data_dir

    root = data_dir() / "arena_hard" / version
    baseline = root / "model_answer" / "gpt-4-0314.jsonl"
    return {
        "questions": root / "question.jsonl",
        "baseline": baseline,
        "answers": sorted(p for p in (root / "model_answer").glob("*.jsonl") if p != baseline),
    }


def count_tokens(text: str) -> int:
    """Words and punctuation marks (a tokenizer-free stand-in for arena-hard's tiktoken count)."""
    return len(_TOKEN.findall(text))


def style_counts(text: str) -> list[int]:
    """``[tokens, headers, list items, bold spans]`` of an answer, markdown counted outside code blocks
    (the element definitions of arena-hard-auto's ``add_markdown_info``)."""
    body = _CODE_BLOCK.sub("", text)
    headers = len(re.findall(r"^#{1,6}\s", body, re.MULTILINE))
    lists = len(re.findall(r"^\s*\d+\.\s", body, re.MULTILINE)) + len(
        re.findall(r"^\s*[-*+]\s", body, re.MULTILINE)
    )
    bold = len(re.findall(r"\*\*[^*\n]+\*\*", body)) + len(re.findall(r"__[^_\n]+__", body))
    return [count_tokens(text), headers, lists, bold]


@dataclass
class ArenaHardResult:
    """Leaderboard rows (dicts with :data:`LEADERBOARD_COLUMNS`), judgments per model, and the BT fit."""

    rows: list[dict[str, Any]]
    judgments: dict[str, list[dict[str, Any]]] = field(repr=False)
    baseline: str = ""
    style_coefs: dict[str, float] = field(default_factory=dict)


def _game_battles(v: Verdict, model_position: str) -> list[float]:
    from heapmetric.stats.bradley_terry import VERDICTS, verdict_battles

    if v.verdict is not None and v.verdict in VERDICTS:
        return verdict_battles(v.verdict, model_position)
    if not v.parsed:
        return []
    return [v.p if model_position == "A" else 1.0 - v.p]


def evaluate(
    judge: Judge,
    questions: Sequence[Question],
    baseline: Answers,
    models: Sequence[Answers],
    *,
    cache: AnnotationCache | None = None,
    rng: np.random.Generator | None = None,
    rounds: int = 100,
    style_control: bool = False,
    task: str | None = None,
    criterion: str | None = None,
    batch_size: int = 64,
    show_progress: bool = False,
) -> ArenaHardResult:
    """Judge every model against ``baseline`` on ``questions`` and fit the Bradley–Terry leaderboard."""
    from heapmetric.stats.bradley_terry import bootstrap_bradley_terry, style_features

    check_answers(questions, baseline)
    names = [m.model for m in models]
    if len(set(names)) != len(names) or baseline.model in names:
        dup = next(n for n in names if names.count(n) > 1 or n == baseline.model)
        raise InputError(f"model name {dup!r} appears twice (or is the baseline); rename it")
    for m in models:
        check_answers(questions, m)
    rng = rng if rng is not None else np.random.default_rng(42)
    battle_a: list[str] = []
    battle_y: list[float] = []
    style_m: list[list[int]] = []
    style_b: list[list[int]] = []
    judgments: dict[str, list[dict[str, Any]]] = {}
    unparsed: dict[str, int] = {}
    for m in models:
        pairs = [
            PairItem(
                output_a=baseline.answers[q.uid],
                output_b=m.answers[q.uid],
                source=q.prompt,
                task=task,
                criterion=criterion,
                id=q.uid,
            )
            for q in questions
        ]
        game1, game2 = judge_both_orders(
            judge, pairs, cache=cache, batch_size=batch_size, show_progress=show_progress
        )
        rows = []
        unparsed[m.model] = 0
        for q, g1, g2 in zip(questions, game1, game2, strict=True):
            games = []
            for v, model_pos in ((g1, "B"), (g2, "A")):
                outcomes = _game_battles(v, model_pos)
                if not outcomes:
                    unparsed[m.model] += 1
                battle_a.extend([m.model] * len(outcomes))
                battle_y.extend(outcomes)
                if style_control:
                    sm, sb = style_counts(m.answers[q.uid]), style_counts(baseline.answers[q.uid])
                    style_m.extend([sm] * len(outcomes))
                    style_b.extend([sb] * len(outcomes))
                games.append(
                    {
                        "score": v.verdict,
                        "p_a_better": v.p if v.parsed else None,
                        "judgment": v.raw,
                        "model_position": model_pos,
                    }
                )
            rows.append(
                {
                    "uid": q.uid,
                    "question_id": q.uid,
                    "category": q.category,
                    "model": m.model,
                    "baseline": baseline.model,
                    "judge": judge.info.name,
                    "games": games,
                }
            )
        judgments[m.model] = rows
        if unparsed[m.model]:
            log.warning(
                "%s: %d of %d games got no usable verdict from %s; they are left out",
                m.model,
                unparsed[m.model],
                2 * len(questions),
                judge.info.name,
            )
    if not battle_y:
        raise InputError("no usable verdicts: every game was unparsed")
    features = style_features(np.array(style_m), np.array(style_b)) if style_control else None
    board = bootstrap_bradley_terry(
        battle_a,
        [baseline.model] * len(battle_a),
        battle_y,
        anchor=baseline.model,
        rng=rng,
        rounds=rounds,
        features=features,
    )
    all_answers = {baseline.model: baseline, **{m.model: m for m in models}}
    rows_out = []
    for r in board.rows:
        answers = all_answers[r.model].answers
        avg_tokens = int(np.mean([count_tokens(answers[q.uid]) for q in questions]))
        d = r.to_dict()
        d.update({"avg_tokens": avg_tokens, "n_unparsed_games": unparsed.get(r.model, 0)})
        rows_out.append({k: d.get(k) for k in LEADERBOARD_COLUMNS})
    coefs = {}
    if style_control:
        coefs = dict(zip(("length", "headers", "lists", "bold"), board.fit.feature_coefs, strict=True))
    return ArenaHardResult(rows_out, judgments, baseline.model, coefs)


def read_published_leaderboard(path: str | os.PathLike | None = None) -> dict[str, float]:
    """The shipped Arena-Hard v0.1 leaderboard as ``{model: score}``."""
    if path is None:
        from heapmetric.env import data_dir

        path = data_dir() / "arena_hard" / "arena_hard_leaderboard_20240731.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["model"]: float(row["score"]) for row in csv.DictReader(handle) if row.get("score")}


def default_published_path() -> Path:
    from heapmetric.env import data_dir

    return data_dir() / "arena_hard" / "arena_hard_leaderboard_20240731.csv"
