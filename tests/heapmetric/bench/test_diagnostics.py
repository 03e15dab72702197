"""Judge diagnostics: hand-computed table values, a positional judge, HEAP preference files, LLMBar."""

from __future__ import annotations

import json

import pytest

from heapmetric.bench.diagnostics import LabelledPair, diagnose, read_llmbar, read_preference_file, summarize
from heapmetric.cli import main
from heapmetric.env import data_dir

LLMBAR = data_dir() / "llmbar"


def _pairs() -> list[LabelledPair]:
    return [
        LabelledPair("q1", "long answer", "s", "a", "d"),
        LabelledPair("q2", "x", "longer one", "a", "d"),
        LabelledPair("q3", "same", "same", "b", "d"),
        LabelledPair("q4", "u", "v", "tie", "d"),
    ]


def test_summary_by_hand() -> None:
    # pair 1: consistent, correct; pair 2: position A wins in both orders (position bias), combined tie;
    # pair 3: unparsed in both orders; pair 4: human tie (not in agreement)
    p_ab = [0.9, 1.0, float("nan"), 0.2]
    p_ba = [0.1, 1.0, float("nan"), 0.8]
    row = summarize("d", _pairs(), p_ab, p_ba)
    assert row.n == 4 and row.unparsed == 1
    assert row.agreement == pytest.approx(100 * (1 + 0.5) / 2)
    assert row.agreement_first == pytest.approx(100.0)  # the first order alone gets pair 2 right
    assert row.position_bias == pytest.approx(100 * ((0.0) + (0.5) + (0.0)) / 3)
    assert row.swap_consistency == pytest.approx(100 * 2 / 3)
    # decisive combined verdicts: pair 1 (a, longer) and pair 4 (b, 'v' same length -> excluded)
    assert row.judge_prefers_longer == pytest.approx(100.0)
    assert row.human_prefers_longer == pytest.approx(50.0)  # pair 1 a longer & a; pair 2 b longer but a


def test_positional_judge_and_order_free_judge(first_position_judge, length_judge) -> None:
    sets = {"d": _pairs()[:2]}
    row = diagnose(first_position_judge("A>B"), sets)[0]
    assert row.position_bias == pytest.approx(50.0) and row.swap_consistency == 0.0
    row = diagnose(length_judge, sets)[0]
    assert row.position_bias == pytest.approx(0.0) and row.swap_consistency == 100.0
    assert row.judge_prefers_longer == 100.0


def test_heap_preference_file(tmp_path, length_judge) -> None:
    path = tmp_path / "prefs.jsonl"
    rows = [
        {
            "id": f"p{i}",
            "dataset": "toy",
            "task": "instruction_following",
            "criterion": "overall",
            "item_id": f"i{i}",
            "source": "q",
            "output_a": "a" * (10 + i),
            "output_b": "b" * 5,
            "label": "a" if i % 2 else "b",
        }
        for i in range(6)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sets = read_preference_file(path)
    row = diagnose(length_judge, sets)[0]
    assert row.dataset == "toy" and row.n == 6 and row.agreement == pytest.approx(50.0)


@pytest.mark.data
@pytest.mark.skipif(not LLMBAR.is_dir(), reason=f"LLMBar data not found at {LLMBAR} (set $HEAPMETRIC_DATA)")
def test_cli_on_llmbar(tmp_path, registered_length_judge, capsys) -> None:
    sets = read_llmbar(LLMBAR)
    assert sum(len(v) for v in sets.values()) == 885
    assert (
        main(
            [
                "bench",
                "diagnose",
                "--judge",
                registered_length_judge,
                "--limit",
                "10",
                "--out",
                str(tmp_path),
                "--no-cache",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| LLMBar_Natural | 10 |" in out and "| all | 80 |" in out
    assert (tmp_path / "diagnostics.csv").is_file()
