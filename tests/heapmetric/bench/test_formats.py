"""Benchmark file formats and their bad-input errors."""

from __future__ import annotations

import json

import pytest

from heapmetric.bench.formats import (
    align_to_reference,
    check_answers,
    read_answers,
    read_model_outputs,
    read_questions,
)
from heapmetric.errors import InputError


def test_alignment_names_the_first_mismatch(alpaca_files) -> None:
    files = alpaca_files
    rows = json.loads(files["long"].read_text())
    rows[3]["instruction"] = "An instruction the reference never asked"
    rows[5]["instruction"] = "Another stray one"
    files["long"].write_text(json.dumps(rows))
    with pytest.raises(InputError) as err:
        align_to_reference(read_model_outputs(files["long"]), read_model_outputs(files["reference"]))
    msg = str(err.value)
    assert f"{files['long']}:4" in msg and "'instruction'" in msg and "An instruction the reference" in msg


def test_missing_outputs_are_left_out_in_reference_order(alpaca_files, caplog) -> None:
    files = alpaca_files
    rows = json.loads(files["short"].read_text())
    files["short"].write_text(json.dumps(list(reversed(rows[2:]))))
    aligned = align_to_reference(read_model_outputs(files["short"]), read_model_outputs(files["reference"]))
    assert len(aligned) == 10
    assert [m["instruction"] for m, _ in aligned] == [r["instruction"] for _, r in aligned]
    assert "2 of 12 reference instructions have no output" in caplog.text


def test_bad_model_outputs(tmp_path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"instruction": "x", "output": "y"}, {"instruction": "z"}]))
    with pytest.raises(InputError, match=r"m.json:2 field 'output'"):
        read_model_outputs(path)
    path.write_text(json.dumps([{"instruction": "x", "output": "y"}, {"instruction": "x", "output": "w"}]))
    with pytest.raises(InputError, match="duplicate instruction"):
        read_model_outputs(path)


def test_generator_name_from_records_or_file(alpaca_files) -> None:
    files = alpaca_files
    assert read_model_outputs(files["long"]).generator == "long"
    assert read_model_outputs(files["long"], name="renamed").generator == "renamed"


def test_arena_answers_and_missing_answer(arena_files) -> None:
    files = arena_files
    questions = read_questions(files["questions"])
    answers = read_answers(files["long-model"])
    assert answers.model == "long-model" and answers.answers["q000"].startswith("## long-model")
    check_answers(questions, answers)
    lines = files["short-model"].read_text().splitlines()
    files["short-model"].write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    with pytest.raises(InputError, match=r"no answer for question 'q003' \(1 of 8 questions unanswered\)"):
        check_answers(questions, read_answers(files["short-model"]))


def test_arena_bad_answer_line(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(
        json.dumps(
            {
                "uid": "q1",
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 3}],
            }
        )
        + "\n"
    )
    with pytest.raises(InputError, match=r"a.jsonl:1 field 'messages'"):
        read_answers(path)


def test_no_matching_instruction_is_an_error_not_an_empty_run(alpaca_files) -> None:
    from heapmetric.bench.formats import ModelOutputs

    files = alpaca_files
    rows = json.loads(files["long"].read_text())
    for i, row in enumerate(rows):
        row["instruction"] = f"unrelated question {i}"
    files["long"].write_text(json.dumps(rows))
    reference = read_model_outputs(files["reference"])
    with pytest.raises(InputError, match=r"long.json:1 field 'instruction'.*unrelated question 0"):
        align_to_reference(read_model_outputs(files["long"]), reference)
    first = reference.records[0]["instruction"][:20]
    with pytest.raises(InputError, match=r"empty.json field 'instruction': no output answers any") as err:
        align_to_reference(ModelOutputs("m", (), "empty.json"), reference)
    assert first in str(err.value)
