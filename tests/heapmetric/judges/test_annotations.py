"""``annotations:FILE``: replaying alpaca_eval annotations as a judge."""

from __future__ import annotations

import json
import math

import pytest

from heapmetric.errors import InputError, UnsupportedError
from heapmetric.judges.base import PairItem, ScoreItem
from heapmetric.judges.spec import load_judge


@pytest.fixture
def annotations_file(tmp_path):
    rows = [
        {
            "instruction": "i1",
            "output_1": "base1",
            "output_2": "model1",
            "preference": 1.8,
            "annotator": "gpt",
        },
        {"instruction": "i2", "output_1": "base2", "output_2": "model2", "preference": 0},
        {"instruction": "i3", "output_1": "base3", "output_2": "model3", "preference": None},
    ]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(rows))
    return path


def test_both_orientations_draws_and_missing_verdicts(annotations_file) -> None:
    judge = load_judge(f"annotations:{annotations_file}")
    assert judge.info.kind == "annotations" and judge.info.order_free
    res = judge.compare(
        [
            PairItem("model1", "base1", source="i1"),
            PairItem("base1", "model1", source="i1"),
            PairItem("model2", "base2", source="i2"),
            PairItem("model3", "base3", source="i3"),
        ]
    )
    p = res.probabilities
    assert p[0] == pytest.approx(0.8) and p[1] == pytest.approx(0.2) and p[2] == 0.5 and math.isnan(p[3])
    assert res.metadata["unparsed"] == 1
    with pytest.raises(UnsupportedError):
        judge.score([ScoreItem("x")])


def test_unknown_pair(annotations_file) -> None:
    judge = load_judge(f"annotations:{annotations_file}")
    with pytest.raises(
        InputError, match=r"pair 0 \(id 'x/1', instruction 'i9'\) is not in the annotations file"
    ):
        judge.compare([PairItem("a", "b", source="i9", id="x/1")])
    lenient = load_judge(f"annotations:{annotations_file}?missing=nan")
    assert math.isnan(lenient.compare([PairItem("a", "b", source="i9")]).probabilities[0])


def test_bad_preference_names_the_record(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"instruction": "i", "output_1": "a", "output_2": "b", "preference": 3}]))
    with pytest.raises(InputError, match=r"bad.json:1 field 'preference'"):
        load_judge(f"annotations:{path}")
