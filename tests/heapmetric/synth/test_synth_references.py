"""Reading references: instruction/response rows, LIMA conversations, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.errors import InputError
from heapmetric.synth.references import read_references, reference_id


def write(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "refs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_both_forms_and_multi_turn_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"instruction": "I1", "response": "R1", "id": "x"},
            {"conversations": ["I2", "R2"], "source": "stackexchange"},
            {"conversations": ["a", "b", "c", "d"], "source": "multi_turn"},
            {"conversations": ["a", "b", "c"], "source": "multi_turn"},
        ],
    )
    refs = read_references(path)
    assert [(r.id, r.index, r.instruction) for r in refs.references] == [
        ("x", 0, "I1"),
        (reference_id("I2", "R2"), 1, "I2"),
    ]
    assert refs.skipped == {"multi_turn": 2}
    assert len(read_references(path, limit=1).references) == 1


@pytest.mark.parametrize(
    "row, where",
    [
        ({"response": "r"}, "refs.jsonl:1 field 'instruction'"),
        ({"instruction": "i", "response": 3}, "refs.jsonl:1 field 'response'"),
        ({"instruction": " ", "response": "r"}, "field 'instruction': empty"),
        ({"conversations": "text"}, "field 'conversations'"),
    ],
)
def test_bad_rows_name_file_line_field(tmp_path: Path, row: dict, where: str) -> None:
    with pytest.raises(InputError, match=where):
        read_references(write(tmp_path, [row]))


def test_duplicate_ids_and_nothing_usable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="refs.jsonl:2 field 'id': duplicate"):
        read_references(write(tmp_path, [{"instruction": "a", "response": "b"}] * 2))
    with pytest.raises(InputError, match="no usable references"):
        read_references(write(tmp_path, [{"conversations": ["a", "b", "c"]}]))
    with pytest.raises(InputError, match="file not found"):
        read_references(tmp_path / "missing.jsonl")


@pytest.mark.data
def test_lima_train_has_1000_single_turn_references(data_dir: Path) -> None:
    path = data_dir / "lima" / "train.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    refs = read_references(path)
    assert len(refs.references) == 1000 and refs.skipped == {"multi_turn": 30}
    assert len({r.id for r in refs.references}) == 1000
