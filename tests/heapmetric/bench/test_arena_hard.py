"""Arena-Hard harness: games with swapped positions, verdict weighting, unparsed games, CLI outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from heapmetric.bench import arena_hard as ah
from heapmetric.bench.formats import read_answers, read_questions
from heapmetric.cli import main


def _load(arena_files):
    return (
        read_questions(arena_files["questions"]),
        read_answers(arena_files["base-model"]),
        [read_answers(arena_files["long-model"]), read_answers(arena_files["short-model"])],
    )


def test_order_free_judge_gives_soft_battles(arena_files, length_judge) -> None:
    questions, base, models = _load(arena_files)
    res = ah.evaluate(length_judge, questions, base, models, rng=np.random.default_rng(0), rounds=20)
    rows = {r["model"]: r for r in res.rows}
    assert [r["model"] for r in res.rows] == ["long-model", "base-model", "short-model"]
    assert rows["base-model"]["score"] == 50.0
    assert rows["long-model"]["n_battles"] == 16 and rows["short-model"]["n_battles"] == 16
    assert (
        rows["long-model"]["rating_q025"] <= rows["long-model"]["score"] <= rows["long-model"]["rating_q975"]
    )
    games = res.judgments["long-model"][0]["games"]
    assert [g["model_position"] for g in games] == ["B", "A"]
    assert games[0]["p_a_better"] == pytest.approx(1 - games[1]["p_a_better"])


def test_strong_verdicts_count_three_times_and_position_bias_cancels(
    arena_files, first_position_judge
) -> None:
    questions, base, models = _load(arena_files)
    # "A>>B" always: the model wins game 2 (3 battles) and loses game 1 (3 battles) -> exactly 50%
    res = ah.evaluate(
        first_position_judge("A>>B"), questions, base, models[:1], rng=np.random.default_rng(0), rounds=10
    )
    row = next(r for r in res.rows if r["model"] == "long-model")
    assert row["n_battles"] == 8 * 6 and row["score"] == pytest.approx(50.0, abs=1e-6)
    assert res.judgments["long-model"][0]["games"][0]["score"] == "A>>B"


def test_unparsed_games_are_counted_not_tied(arena_files, first_position_judge) -> None:
    lines = arena_files["questions"].read_text().splitlines()
    first = json.loads(lines[0])
    first["prompt"] = "UNPARSEABLE " + first["prompt"]
    arena_files["questions"].write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    questions, base, models = _load(arena_files)
    res = ah.evaluate(
        first_position_judge("A>B"), questions, base, models[:1], rng=np.random.default_rng(0), rounds=5
    )
    row = next(r for r in res.rows if r["model"] == "long-model")
    assert row["n_unparsed_games"] == 2 and row["n_battles"] == 14


def test_style_control_runs_and_reports_coefficients(arena_files, length_judge) -> None:
    questions, base, models = _load(arena_files)
    res = ah.evaluate(
        length_judge, questions, base, models, rng=np.random.default_rng(0), rounds=5, style_control=True
    )
    assert set(res.style_coefs) == {"length", "headers", "lists", "bold"}
    assert all(np.isfinite(v) for v in res.style_coefs.values())  # the effect itself: test_bradley_terry


def test_style_counts() -> None:
    text = "# Title\n\n1. one\n2. two\n- three\n**bold** and __also__\n```\n# not a header\n- not a list\n```"
    assert ah.style_counts(text)[1:] == [1, 3, 2]


def test_cli_outputs_and_missing_answer(arena_files, tmp_path, capsys, registered_length_judge) -> None:
    out = tmp_path / "out"
    args = [
        "bench",
        "arena-hard",
        "--answers",
        str(arena_files["long-model"]),
        str(arena_files["short-model"]),
        "--baseline",
        str(arena_files["base-model"]),
        "--questions",
        str(arena_files["questions"]),
        "--judge",
        registered_length_judge,
        "--rounds",
        "10",
        "--out",
        str(out),
        "--no-cache",
    ]
    assert main(args) == 0
    with open(out / "leaderboard.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["long-model", "base-model", "short-model"] and set(
        ah.LEADERBOARD_COLUMNS
    ) <= set(rows[0])
    judgments = [json.loads(x) for x in (out / "judgments" / "long-model.jsonl").read_text().splitlines()]
    assert len(judgments) == 8 and len(judgments[0]["games"]) == 2
    assert (out / "leaderboard.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == 10 and summary["baseline"] == "base-model"
    # drop one answer: a one-line error naming the question
    lines = arena_files["short-model"].read_text().splitlines()
    arena_files["short-model"].write_text("\n".join(lines[1:]) + "\n")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "no answer for question 'q000'" in err and len(err.splitlines()) == 1
