"""Reading and writing the benchmark formats: alpaca_eval (``model_outputs.json``, annotations) and
arena-hard-auto (``question.jsonl``, model answers, judgments). Every problem names file, record and field.

- alpaca_eval model outputs: a JSON list (or JSON Lines) of ``{instruction, output, generator?, dataset?}``.
- arena-hard questions: JSON Lines of ``{uid | question_id, prompt | turns[0].content, category?, cluster?}``.
- arena-hard answers: JSON Lines of ``{uid | question_id, model, messages: [..., {role: assistant, content:
  {answer: str} | str}]}`` or the older ``{question_id, model_id, choices: [{turns: [{content}]}]}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError

log = logging.getLogger(__name__)


def _shorten(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def read_json_records(path: str | os.PathLike) -> list[tuple[int, dict[str, Any]]]:
    """``(record number, object)`` from a JSON list or a JSON Lines file (record numbers start at 1; for JSONL
    they are line numbers)."""
    from heapmetric.io import iter_jsonl

    name = str(path)
    p = Path(name)
    if not p.is_file():
        raise InputError("file not found", file=name)
    text = p.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", file=name, line=exc.lineno) from exc
        rows = []
        for i, row in enumerate(data, start=1):
            if not isinstance(row, dict):
                raise InputError(
                    f"record {i} is a {type(row).__name__}, expected an object", file=name, line=i
                )
            rows.append((i, row))
    else:
        rows = list(iter_jsonl(name))
    if not rows:
        raise InputError("no records", file=name)
    return rows


@dataclass(frozen=True)
class ModelOutputs:
    """One system's alpaca_eval outputs: ``generator`` name and records in file order."""

    generator: str
    records: tuple[dict[str, Any], ...]
    path: str


def read_model_outputs(path: str | os.PathLike, name: str | None = None) -> ModelOutputs:
    """An alpaca_eval ``model_outputs.json``; ``name`` overrides the generator (default: the records'
    ``generator`` field, else the file stem). Missing/non-string ``instruction`` or ``output`` and duplicate
    instructions are errors."""
    rows = read_json_records(path)
    seen: dict[str, int] = {}
    records = []
    generators = set()
    for number, row in rows:
        for key in ("instruction", "output"):
            if not isinstance(row.get(key), str):
                got = "missing" if key not in row else f"a {type(row[key]).__name__}"
                raise InputError(f"expected a string, got {got}", file=str(path), line=number, field=key)
        if row["instruction"] in seen:
            raise InputError(
                f"duplicate instruction (also record {seen[row['instruction']]}): "
                f"{_shorten(row['instruction'])!r}",
                file=str(path),
                line=number,
                field="instruction",
            )
        seen[row["instruction"]] = number
        if row.get("generator"):
            generators.add(str(row["generator"]))
        records.append(row)
    generator = name or (generators.pop() if len(generators) == 1 else Path(str(path)).stem)
    return ModelOutputs(generator, tuple(records), str(path))


def align_to_reference(
    model: ModelOutputs, reference: ModelOutputs
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pair each model record with the reference record of the same instruction, in the reference's order.

    A model instruction absent from the reference is an error naming the first one (file, record, text), so a
    file answering other instructions never yields an empty (nothing judged) result; an empty side is an error
    too (``--limit`` can leave a file with none). Reference instructions without a model output are left out (alpaca_eval does the same:
    text_davinci_001 has 803 of 805) and logged.
    """
    index = {r["instruction"]: r for r in reference.records}
    if not reference.records:
        raise InputError("no reference records: nothing to judge", file=reference.path)
    if not model.records:  # e.g. `bench alpacaeval --limit N` kept none of this file's instructions
        raise InputError(
            f"no output answers any of the {len(reference.records)} reference instructions of {reference.path} "
            f"(first: {_shorten(reference.records[0]['instruction'])!r}); nothing to judge",
            file=model.path,
            field="instruction",
        )
    by_instruction = {}
    for number, rec in enumerate(model.records, start=1):
        if rec["instruction"] not in index:
            raise InputError(
                f"instruction not in the reference outputs {reference.path}: "
                f"{_shorten(rec['instruction'])!r} (outputs must answer the reference instructions)",
                file=model.path,
                line=number,
                field="instruction",
            )
        by_instruction[rec["instruction"]] = rec
    missing = [r["instruction"] for r in reference.records if r["instruction"] not in by_instruction]
    if missing:
        log.warning(
            "%s: %d of %d reference instructions have no output (first: %r); they are left out",
            model.path,
            len(missing),
            len(reference.records),
            _shorten(missing[0]),
        )
    return [
        (by_instruction[r["instruction"]], r) for r in reference.records if r["instruction"] in by_instruction
    ]


@dataclass(frozen=True)
class Question:
    uid: str
    prompt: str
    category: str | None = None


def read_questions(path: str | os.PathLike) -> list[Question]:
    """arena-hard ``question.jsonl`` in file order; ``uid`` (or ``question_id``) must be unique."""
    out, seen = [], set()
    for number, row in read_json_records(path):
        uid = row.get("uid", row.get("question_id"))
        if uid in (None, ""):
            raise InputError("missing question id", file=str(path), line=number, field="uid")
        uid = str(uid)
        if uid in seen:
            raise InputError(f"duplicate question id {uid!r}", file=str(path), line=number, field="uid")
        seen.add(uid)
        prompt = row.get("prompt")
        if prompt is None and isinstance(row.get("turns"), list) and row["turns"]:
            first = row["turns"][0]
            prompt = first.get("content") if isinstance(first, dict) else first
        if not isinstance(prompt, str):
            raise InputError(
                "no prompt text (expected 'prompt' or 'turns[0].content')",
                file=str(path),
                line=number,
                field="prompt",
            )
        out.append(Question(uid, prompt, row.get("category")))
    return out


@dataclass(frozen=True)
class Answers:
    """One model's arena-hard answers: ``model`` name and ``uid -> answer text``."""

    model: str
    answers: dict[str, str]
    path: str


def _answer_text(row: dict[str, Any]) -> str | None:
    messages = row.get("messages")
    if isinstance(messages, list) and messages:
        content = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        if isinstance(content, dict):
            content = content.get("answer")
        return content if isinstance(content, str) else None
    choices = row.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        turns = choices[0].get("turns")
        if isinstance(turns, list) and turns:
            content = turns[0].get("content") if isinstance(turns[0], dict) else turns[0]
            return content if isinstance(content, str) else None
    return None


def read_answers(path: str | os.PathLike, name: str | None = None) -> Answers:
    """One model's answers file (JSONL); ``name`` overrides the ``model`` field (default: file stem)."""
    answers: dict[str, str] = {}
    models = set()
    for number, row in read_json_records(path):
        uid = row.get("uid", row.get("question_id"))
        if uid in (None, ""):
            raise InputError("missing question id", file=str(path), line=number, field="uid")
        text = _answer_text(row)
        if text is None:
            raise InputError(
                "no answer text (expected messages[-1].content.answer or choices[0].turns[0].content)",
                file=str(path),
                line=number,
                field="messages",
            )
        if str(uid) in answers:
            raise InputError(
                f"duplicate answer for question {uid!r}", file=str(path), line=number, field="uid"
            )
        answers[str(uid)] = text
        model = row.get("model", row.get("model_id"))
        if model:
            models.add(str(model))
    model_name = name or (models.pop() if len(models) == 1 else Path(str(path)).stem)
    return Answers(model_name, answers, str(path))


def check_answers(questions: Sequence[Question], answers: Answers) -> None:
    """Every question needs an answer and every answer a question; the first offender is named."""
    uids = {q.uid for q in questions}
    for q in questions:
        if q.uid not in answers.answers:
            missing = sum(1 for x in questions if x.uid not in answers.answers)
            raise InputError(
                f"no answer for question {q.uid!r} ({missing} of {len(questions)} questions unanswered)",
                file=answers.path,
                field="uid",
            )
    for uid in answers.answers:
        if uid not in uids:
            raise InputError(
                f"answer to unknown question {uid!r} (not in the questions file)",
                file=answers.path,
                field="uid",
            )


@dataclass(frozen=True)
class MultiTurnAnswers:
    """One model's MT-Bench answers (FastChat ``model_answer`` JSONL): ``model`` and ``question_id -> turns``."""

    model: str
    answers: dict[str, list[str]]
    path: str


def read_mt_bench_answers(path: str | os.PathLike, name: str | None = None) -> MultiTurnAnswers:
    """FastChat answers ``{question_id, model_id, choices: [{turns: [str, ...]}]}``; a missing id, a
    non-string turn or a duplicate question is an error naming file, line and field."""
    answers: dict[str, list[str]] = {}
    models = set()
    for number, row in read_json_records(path):
        qid = row.get("question_id")
        if qid in (None, ""):
            raise InputError("missing question id", file=str(path), line=number, field="question_id")
        choices = row.get("choices")
        turns = (
            choices[0].get("turns")
            if isinstance(choices, list) and choices and isinstance(choices[0], dict)
            else None
        )
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise InputError(
                "expected choices[0].turns, a non-empty list of strings",
                file=str(path),
                line=number,
                field="choices",
            )
        if str(qid) in answers:
            raise InputError(
                f"duplicate answer for question {qid!r}", file=str(path), line=number, field="question_id"
            )
        answers[str(qid)] = turns
        if row.get("model_id"):
            models.add(str(row["model_id"]))
    model_name = name or (models.pop() if len(models) == 1 else Path(str(path)).stem)
    return MultiTurnAnswers(model_name, answers, str(path))
