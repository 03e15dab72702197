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


def test_bad_bytes_folders_and_json_stdin(tmp_path, monkeypatch):
    import io
    import sys

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"output": "ok"}\n{"output": "\xff\xfe"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: not valid UTF-8"):
        read_table(bad)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_bytes(b"output\nok\n\xff\n")
    with pytest.raises(InputError, match=r"bad.csv:3: not valid UTF-8"):
        read_table(bad_csv)
    with pytest.raises(InputError, match="is a folder"):
        read_table(tmp_path)
    with pytest.raises(InputError, match="is a folder"):
        read_table(tmp_path, "csv")
    monkeypatch.setattr(sys, "stdin", io.StringIO('[{"output": "a"}, {"output": "b"}]'))
    assert [r for _, r in read_table("-", "json")] == [{"output": "a"}, {"output": "b"}]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv", ".json"])
def test_a_leading_bom_is_skipped(tmp_path, suffix):
    path = tmp_path / f"bom{suffix}"
    body = {
        ".jsonl": '{"output": "a"}\n',
        ".csv": "output,system\na,x\n",
        ".tsv": "output\tsystem\na\tx\n",
        ".json": '[{"output": "a"}]',
    }[suffix]
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    rows = [r for _, r in read_table(path)]
    assert rows[0]["output"] == "a" and all(not k.startswith("\ufeff") for k in rows[0])


def test_json_output_is_one_json_list(tmp_path):
    import json

    rows = [{"output": "a", "score": 1.5}, {"output": "b", "score": 2.0}]
    path = tmp_path / "out.json"
    write_table(path, rows)
    assert json.loads(path.read_text()) == rows
    assert [r for _, r in read_table(path)] == rows
