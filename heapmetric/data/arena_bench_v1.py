"""Arena-Bench v1 (the Nov–Dec 2023 precursor of Arena-Hard): GPT-4 single-answer grades, 1–10, of 15 systems
(plus the superseded claude-2) on 300 chat prompts, each graded against a GPT-4 reference answer.
**LLM labels** (``gpt-4``), not human ones.

Sources: ``$HEAPMETRIC_DATA/arena_bench_v1/`` (see its SOURCE.md): ``question.jsonl`` and
``model_judgment/*.jsonl.gz`` (+ ``superseded/model_judgment/claude-2.jsonl.gz``), each line
``{question_id, model, user_prompt, judgment, score}``.

Each graded answer becomes one :class:`Judgement` of task ``instruction_following``, criterion ``overall``,
scale ``[1, 10]``: ``score`` = the GPT-4 grade, ``output`` = **the graded text embedded in** ``user_prompt``
(answers were regenerated after judging for some models, so the ``model_answer`` files are not always what was
graded), ``reference`` = the reference answer embedded in the same prompt (an older version for 4 models),
``source`` = the question, ``system`` = the judged model, ``item_id`` = ``question_id``,
``id`` = ``arena_bench_v1/<model>/<question_id>``; ``meta.label_source`` = ``gpt-4``, ``meta.superseded`` on
claude-2. Preferences between systems are derived by ``data build`` from the grades.

Left out, and counted by :func:`convert_report`:

- the prompts of the Arena-Hard v0.1 question set (:data:`ARENA_HARD_OVERLAP`; none of v2.0) and the one
  MT-Bench question (:data:`MT_BENCH_OVERLAP`), as SOURCE.md lists them (AlpacaEval overlap: none);
- the judged models that are bench systems (:data:`BENCH_MODELS`): ``gpt-4-0314`` is the model of the
  shipped AlpacaEval ``gpt4`` outputs and the Arena-Hard v0.1 baseline, ``gpt-4-1106-preview`` that of the
  shipped ``gpt4_1106_preview`` outputs;
- null scores (the judgment has no ``[[n]]``) and blank graded answers.

The superseded claude-2 judgments are kept (:data:`INCLUDE_SUPERSEDED`): a distinct model, graded by the same
judge and prompt; its embedded texts are what was graded.
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, require_file, text
from heapmetric.data.aggregation import check_aggregation
from heapmetric.data.exclusions import Exclusions, new_exclusions
from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl
from heapmetric.records import Judgement, Record

NAME = "arena_bench_v1"
FOLDER = "arena_bench_v1"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "gpt-4"
TASK = "instruction_following"
CRITERION = "overall"
SCALE = [1.0, 10.0]
#: Questions that are Arena-Hard v0.1 prompts (same id and text; SOURCE.md).
ARENA_HARD_OVERLAP = frozenset({"01f0684ccac74fdea8f21080cb61d591", "80654f6d5b8847c0a833c9e5e93f7943"})
#: The question that is MT-Bench question 105 up to punctuation (SOURCE.md).
MT_BENCH_OVERLAP = frozenset({"91956666f79a4a9688fa40972cfa994c"})
#: Judged models that are bench systems: model -> the shipped system it is.
BENCH_MODELS: dict[str, str] = {
    "gpt-4-0314": "alpacaeval gpt4 / arena-hard baseline gpt-4-0314",
    "gpt-4-1106-preview": "alpacaeval gpt4_1106_preview",
}
INCLUDE_SUPERSEDED = True
SUPERSEDED = ("superseded/model_judgment/claude-2.jsonl.gz",)

REF_START = "\n\n[The Start of Reference Answer]\n"
REF_END = "\n[The End of Reference Answer]\n\n[The Start of Assistant's Answer]\n"
ANSWER_END = "\n[The End of Assistant's Answer]"

EXCLUDED_ARENA_HARD = "prompt in Arena-Hard v0.1"
EXCLUDED_MT_BENCH = "prompt in MT-Bench"
EXCLUDED_BENCH = "judged model is a bench system"
SKIPPED_NULL = "null score"
SKIPPED_EMPTY = "blank graded answer"


def split_user_prompt(prompt: str, question: str) -> tuple[str, str]:
    """``(reference, answer)`` cut out of a judge ``user_prompt`` built from the config's template
    ``[Question]\\n{q}\\n\\n[The Start of Reference Answer]\\n{ref}\\n[The End of Reference Answer]\\n\\n``
    ``[The Start of Assistant's Answer]\\n{answer}\\n[The End of Assistant's Answer]``.

    Raises ``ValueError`` when the prompt does not have that shape or embeds another question.
    """
    head = "[Question]\n" + question + REF_START
    if not prompt.startswith(head):
        raise ValueError("user_prompt does not start with '[Question]' + the question + the reference header")
    if not prompt.endswith(ANSWER_END):
        raise ValueError('user_prompt does not end with "[The End of Assistant\'s Answer]"')
    body = prompt[len(head) : -len(ANSWER_END)]
    cut = body.find(REF_END)
    if cut < 0:
        raise ValueError("user_prompt has no end-of-reference / start-of-answer markers")
    return body[:cut], body[cut + len(REF_END) :]


def _questions(folder: Path) -> dict[str, str]:
    path = require_file(folder, "question.jsonl")
    out = {}
    for line, obj in iter_jsonl(path):
        qid = get(obj, "question_id", str, file=path, where="", line=line)
        turns = get(obj, "turns", list, file=path, where="", line=line)
        out[qid] = text(turns, 0, file=path, where="turns", line=line)
    return out


def judgment_files(folder: Path) -> list[Path]:
    """The judgment files converted: ``model_judgment/*.jsonl.gz`` and, if kept, the superseded ones."""
    files = sorted((folder / "model_judgment").glob("*.jsonl.gz"))
    if not files:
        raise InputError("no judgment files", file=str(folder / "model_judgment"))
    if INCLUDE_SUPERSEDED:
        files += [require_file(folder, name) for name in SUPERSEDED]
    return files


def convert_report(folder: Path, *, aggregation: str = "mean") -> tuple[list[Record], Exclusions]:
    """All kept judgements, and what was left out: ``{reason: Counter(model -> lines)}``."""
    check_aggregation(aggregation)
    folder = Path(folder)
    questions = _questions(folder)
    records: list[Record] = []
    excluded = new_exclusions()
    for path in judgment_files(folder):
        superseded = "superseded" in path.parts[len(folder.parts) :]
        for line, obj in iter_jsonl(path):
            qid = get(obj, "question_id", str, file=path, where="", line=line)
            model = get(obj, "model", str, file=path, where="", line=line)
            if qid not in questions:
                raise InputError(
                    f"unknown question_id {qid!r}", file=str(path), line=line, field="question_id"
                )
            if qid in ARENA_HARD_OVERLAP:
                excluded[EXCLUDED_ARENA_HARD][model] += 1
                continue
            if qid in MT_BENCH_OVERLAP:
                excluded[EXCLUDED_MT_BENCH][model] += 1
                continue
            if model in BENCH_MODELS:
                excluded[EXCLUDED_BENCH][model] += 1
                continue
            score = get(obj, "score", float, file=path, where="", line=line, optional=True)
            if score is None:
                excluded[SKIPPED_NULL][model] += 1
                continue
            if not SCALE[0] <= score <= SCALE[1]:
                raise InputError(
                    f"expected a grade in 1..10, got {score!r}", file=str(path), line=line, field="score"
                )
            prompt = get(obj, "user_prompt", str, file=path, where="", line=line)
            try:
                reference, answer = split_user_prompt(prompt, questions[qid])
            except ValueError as exc:
                raise InputError(str(exc), file=str(path), line=line, field="user_prompt") from exc
            if not answer.strip():
                excluded[SKIPPED_EMPTY][model] += 1
                continue
            meta = {"superseded": True} if superseded else {}
            records.append(
                Judgement(
                    id=f"{NAME}/{model}/{qid}",
                    dataset=NAME,
                    task=TASK,
                    criterion=CRITERION,
                    item_id=qid,
                    source=questions[qid],
                    reference=reference if reference.strip() else None,
                    output=answer,
                    system=model,
                    score=score,
                    scale=list(SCALE),
                    meta=meta,
                )
            )
    return records, dict(excluded)


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """The kept GPT-4 grades (see the module docstring for what is left out)."""
    return convert_report(folder, aggregation=aggregation)[0]
