"""Training data: pairs from grades and preferences, groups without pairs reported, gzip input."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from heapmetric.errors import InputError
from training.data import build_training_data, judgement_pairs, load_groups


def _j(item: str, score: float, out: str, crit: str = "coherence") -> dict:
    return {
        "id": f"{item}-{out}-{crit}",
        "dataset": "d",
        "task": "summarization",
        "criterion": crit,
        "item_id": item,
        "output": out,
        "score": score,
        "scale": [1, 5],
        "source": "s",
    }


def _write(folder: Path, split: str, rows: list[dict], gz: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as handle:
            handle.write(text)
    else:
        (folder / f"{split}.jsonl").write_text(text)


def test_pairs_from_grades_within_one_input(tmp_path: Path) -> None:
    rows = [_j("i1", 1, "x"), _j("i1", 3, "y"), _j("i1", 3, "z"), _j("i2", 5, "w")]
    _write(tmp_path / "d", "train", rows)
    groups = load_groups(tmp_path, "train")
    pairs = judgement_pairs(groups["d/summarization/coherence"].judgements)
    # y>x and z>x; y=z is a tie; i2 has one output only
    assert sorted((b.output, w.output) for b, w in pairs) == [("y", "x"), ("z", "x")]


def test_group_without_pairs_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [_j("i1", 1, "x"), _j("i1", 3, "y"), _j("i1", 2, "a", "fluency"), _j("i2", 4, "b", "fluency")]
    rows.append(
        {
            "id": "p",
            "dataset": "d",
            "task": "summarization",
            "criterion": "relevance",
            "item_id": "i3",
            "output_a": "a",
            "output_b": "b",
            "label": "tie",
        }
    )
    _write(tmp_path / "d", "train", rows, gz=True)
    with caplog.at_level(logging.WARNING):
        data = build_training_data(load_groups(tmp_path, "train"))
    assert list(data.pairs) == ["d/summarization/coherence"]
    assert any("d/summarization/fluency: no training pairs" in w for w in data.warnings)
    assert any("d/summarization/relevance: no training pairs (only ties)" in w for w in data.warnings)
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "2 group(s) get no pairwise training signal" in warned[0], warned
    assert "d/summarization/fluency" in warned[0] and "d/summarization/relevance" in warned[0]


def test_preferences_train_as_given(tmp_path: Path) -> None:
    rows = [
        {
            "id": f"p{i}",
            "dataset": "d",
            "task": "summarization",
            "criterion": "consistency",
            "item_id": f"i{i}",
            "output_a": "good",
            "output_b": "bad",
            "label": "a" if i % 2 else "b",
        }
        for i in range(4)
    ]
    _write(tmp_path / "d", "train", rows)
    pairs = build_training_data(load_groups(tmp_path, "train")).pairs["d/summarization/consistency"]
    assert [(p.better, p.worse) for p in pairs] == [("bad", "good"), ("good", "bad")] * 2


def test_filters_and_bad_records(tmp_path: Path) -> None:
    _write(tmp_path / "d", "train", [_j("i1", 1, "x"), _j("i1", 2, "y", "fluency")])
    assert set(load_groups(tmp_path, "train", criteria=["fluency"])) == {"d/summarization/fluency"}
    assert load_groups(tmp_path, "train", exclude_tasks=["summarization"]) == {}
    with pytest.raises(InputError, match="no validation split"):
        load_groups(tmp_path, "validation", datasets=["d"])
    bad = _j("i1", 1, "x")
    del bad["score"]
    _write(tmp_path / "e", "train", [_j("i1", 1, "x"), bad])
    with pytest.raises(InputError) as err:
        load_groups(tmp_path, "train", datasets=["e"])
    assert err.value.line == 2 and err.value.field == "score"
