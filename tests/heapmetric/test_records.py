"""Records: validation with file/line/field, JSONL round trip, datasets conversion."""

import json

import pytest

from heapmetric.errors import InputError
from heapmetric.records import (
    Judgement,
    Preference,
    read_records,
    record_from_dict,
    to_dataset,
    write_records,
)

JUDGEMENT = {
    "id": "d1-s1-coh",
    "dataset": "toy",
    "task": "summarization",
    "criterion": "coherence",
    "item_id": "d1",
    "source": "An article.",
    "output": "A summary.",
    "score": 3.5,
    "scale": [1, 5],
    "system": "s1",
    "annotator_scores": [3, 4],
}
PREFERENCE = {
    "id": "p1",
    "dataset": "toy",
    "task": "summarization",
    "criterion": "coherence",
    "item_id": "d1",
    "output_a": "Good.",
    "output_b": "Bad.",
    "label": "a",
    "margin": 1.0,
}


def test_round_trip(tmp_path):
    path = tmp_path / "r.jsonl"
    records = [Judgement.from_dict(JUDGEMENT), Preference.from_dict(PREFERENCE)]
    assert write_records(path, records) == 2
    back = read_records(path)
    assert [type(r) for r in back] == [Judgement, Preference]
    assert back[0].to_dict() == JUDGEMENT
    assert back[1].label == "a" and back[1].margin == 1.0


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("score", "high", "finite number"),
        ("score", float("nan"), "finite number"),
        ("scale", [5, 1], "low < high"),
        ("output", "  ", "empty"),
        ("item_id", None, "missing"),
        ("annotator_scores", ["x"], "list of numbers"),
    ],
)
def test_bad_judgement_names_file_line_field(tmp_path, field, value, message):
    bad = dict(JUDGEMENT)
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(JUDGEMENT) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError) as err:
        read_records(path)
    assert err.value.line == 2 and err.value.field == field
    assert f"{path}:2" in str(err.value) and message in str(err.value)


def test_bad_label_and_unknown_field():
    with pytest.raises(InputError, match="label"):
        record_from_dict(dict(PREFERENCE, label="c"))
    with pytest.raises(InputError, match="unknown field"):
        record_from_dict(dict(JUDGEMENT, colour="red"))


def test_invalid_json_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(JUDGEMENT) + "\n{not json\n")
    with pytest.raises(InputError, match=r"broken.jsonl:2: not valid JSON"):
        read_records(path)


def test_to_dataset():
    ds = to_dataset([Judgement.from_dict(JUDGEMENT)])
    assert ds.num_rows == 1 and ds[0]["score"] == 3.5 and ds[0]["criterion"] == "coherence"
