"""File helpers: atomic writes leave nothing behind on failure; tables read JSONL/CSV/TSV with line numbers."""

import pytest

from heapmetric.errors import InputError
from heapmetric.io import atomic_write, read_table, write_table


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path) as handle:
        handle.write("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv"])
def test_table_round_trip(tmp_path, suffix):
    rows = [{"output": "a, b", "system": "x"}, {"output": "c\td", "system": "y"}]
    path = tmp_path / f"t{suffix}"
    write_table(path, rows)
    back = read_table(path)
    assert [r for _, r in back] == rows


def test_empty_and_ragged_inputs(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        read_table(empty)
    ragged = tmp_path / "r.csv"
    ragged.write_text("output,system\nfine,x\ntoo,many,fields\n")
    with pytest.raises(InputError, match=r"r.csv:3"):
        read_table(ragged)
    with pytest.raises(InputError, match="not found"):
        read_table(tmp_path / "missing.csv")
