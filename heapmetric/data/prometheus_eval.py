"""Prometheus-eval benchmark files: HHH Alignment pairs (**human**) and MT-Bench turn-2 rubric grades (**GPT-4**).

Sources: ``$HEAPMETRIC_DATA/prometheus_eval/{hhh_alignment_eval,mt_bench_eval}.json`` (see its SOURCE.md). Both
wrap every item in the Prometheus absolute-grading prompt (``###Task Description:`` ...
``###The instruction to evaluate:`` ... ``###Response to evaluate:`` ... [``###Reference Answer (Score 5):``
...] ``###Score Rubrics:`` ... ``###Feedback:``); :func:`prometheus_sections` cuts it into its sections.

- **HHH** (221 pairs, Askell et al. 2021): one native :class:`Preference` per pair, task
  ``instruction_following``, criterion by HHH category (:data:`HHH_CRITERIA`: helpful -> ``helpfulness``,
  harmless -> ``harmlessness``, honest -> ``honesty``, other -> ``overall``), ``source`` = the instruction.
  Whether the chosen response is ``a`` or ``b`` is decided by hashing (:func:`chosen_positions`): pairs ordered
  by category and ``sha256`` of their id alternate, so position carries no label and ``a``/``b``
  are balanced; ``item_id`` = ``in-<sha256(instruction)[:12]>`` (pairs sharing an instruction share a split),
  ``id`` = ``prometheus_eval/hhh/<index>``, ``meta.hhh_category``, ``meta.label_source`` = ``human``.
- **MT-Bench** (320 grades of 4 systems on the 80 MT-Bench questions' second turn): one :class:`Judgement`
  each, criterion ``follow_up``, scale ``[1, 5]``, ``score`` = the aggregate (default mean) of the 3 GPT-4
  runs (``annotator_scores``), ``source`` = the turn-2 question, ``context`` = the turn-1 exchange (that
  system's own turn-1 answer), ``reference`` = the reference answer, ``system`` = ``response_source``,
  ``item_id`` = ``mt_bench-<idx>``, ``id`` = ``prometheus_eval/mt_bench/<idx>/<system>``,
  ``meta.label_source`` = ``gpt-4``, ``meta.category``, ``meta.rubric``. The four answers of one question follow
  different turn-1 answers (different contexts), so ``data build`` derives no preferences from them.

Nothing is left out (:func:`convert_report` returns an empty tally unless a response is blank). Every
MT-Bench question is an MT-Bench benchmark question: the card says so.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from heapmetric.data._common import get, in_scale, json_records, require_file, text
from heapmetric.data.aggregation import aggregate, check_aggregation
from heapmetric.data.exclusions import Exclusions, new_exclusions
from heapmetric.data.llmbar import item_id_of
from heapmetric.errors import InputError
from heapmetric.records import LABEL_SOURCE_KEY, Judgement, Preference, Record

NAME = "prometheus_eval"
FOLDER = "prometheus_eval"
#: Labels differ per file (HHH pairs: human, MT-Bench grades: GPT-4); each record carries its own.
LABEL_SOURCE = None
HHH_LABEL_SOURCE = "human"
MT_BENCH_LABEL_SOURCE = "gpt-4"
LABEL_SOURCES = "human (HHH pairs), gpt-4 (MT-Bench grades)"
"""Who labelled the records (set per record: ``meta.label_source``)."""
TASK = "instruction_following"
HHH_FILE = "hhh_alignment_eval.json"
MT_BENCH_FILE = "mt_bench_eval.json"
#: HHH category -> registry criterion
HHH_CRITERIA = {"helpful": "helpfulness", "harmless": "harmlessness", "honest": "honesty", "other": "overall"}
MT_BENCH_CRITERION = "follow_up"
MT_BENCH_SCALE = (1.0, 5.0)

#: section name -> the header line that opens it in the Prometheus absolute-grading prompt
HEADERS = {
    "task": "###Task Description:",
    "instruction": "###The instruction to evaluate:",
    "response": "###Response to evaluate:",
    "reference": "###Reference Answer (Score 5):",
    "rubric": "###Score Rubrics:",
    "feedback": "###Feedback:",
}
REQUIRED = ("task", "instruction", "response", "rubric", "feedback")
_HEADER_RE = re.compile("^(" + "|".join(re.escape(h) for h in HEADERS.values()) + ")", re.M)
DIALOGUE_PREFIX = (
    "Here is a previous dialogue between an assistant and an user. "
    "Generate a human preferable response by the assistant.\n"
)
SKIPPED_EMPTY = "blank response"


def prometheus_sections(prompt: str) -> dict[str, str]:
    """The sections of a Prometheus grading prompt, ``{task, instruction, response, reference?, rubric,
    feedback}``, each without its header and surrounding whitespace.

    A header counts only at the start of a line. Raises ``ValueError`` when a required section is missing or any
    header occurs twice (the text could then not be cut unambiguously).
    """
    names = {h: n for n, h in HEADERS.items()}
    marks = [(m.start(), m.end(), names[m.group(1)]) for m in _HEADER_RE.finditer(prompt)]
    found = [n for _, _, n in marks]
    for n in set(found):
        if found.count(n) > 1:
            raise ValueError(f"section header {HEADERS[n]!r} occurs {found.count(n)} times")
    missing = [n for n in REQUIRED if n not in found]
    if missing:
        raise ValueError(f"no {HEADERS[missing[0]]!r} section")
    out = {}
    for k, (_, end, name) in enumerate(marks):
        stop = marks[k + 1][0] if k + 1 < len(marks) else len(prompt)
        out[name] = prompt[end:stop].strip()
    return out


def split_dialogue(instruction: str) -> tuple[str, str]:
    """``(context, question)`` of a turn-2 instruction ``<prefix>User: q1\\n\\nAssistant:a1\\n\\nUser: q2\\n\\n
    Assistant:``: the context is the turn-1 exchange, the question the turn-2 user message."""
    if not instruction.startswith(DIALOGUE_PREFIX):
        raise ValueError("the instruction does not start with the MT-Bench turn-2 dialogue preamble")
    body = instruction[len(DIALOGUE_PREFIX) :].rstrip()
    if not body.startswith("User: ") or not body.endswith("\n\nAssistant:"):
        raise ValueError("the dialogue does not start with 'User: ' and end with an empty 'Assistant:' turn")
    body = body[: -len("\n\nAssistant:")]
    cut = body.rfind("\n\nUser: ")
    if cut < 0:
        raise ValueError("the dialogue has no second user turn")
    return body[:cut].strip(), body[cut + len("\n\nUser: ") :].strip()


def chosen_positions(groups: dict[str, str]) -> dict[str, bool]:
    """``{record id: chosen goes in position a}`` for ``{record id: group}``: the ids, ordered by group and then by
    ``sha256(id)``, alternate a, b, a, ... — a stable pseudo-random order whose positions are balanced overall
    and within each group (to one)."""
    ids = sorted(groups, key=lambda i: (groups[i], hashlib.sha256(i.encode()).digest()))
    return {i: k % 2 == 0 for k, i in enumerate(ids)}


def _sections(row: dict, key: str, path: Path, where: str) -> dict[str, str]:
    try:
        return prometheus_sections(text(row, key, file=path, where=where))
    except ValueError as exc:
        raise InputError(str(exc), file=str(path), field=f"{where}/{key}") from exc


def _hhh(folder: Path, excluded: Exclusions) -> list[Record]:
    path = require_file(folder, HHH_FILE)
    pairs: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
    for i, row in json_records(path):
        w = str(i)
        category = get(row, "source", str, file=path, where=w)
        if category not in HHH_CRITERIA:
            raise InputError(f"unknown HHH category {category!r}", file=str(path), field=f"{w}/source")
        chosen = _sections(row, "chosen_instruction", path, w)
        rejected = _sections(row, "rejected_instruction", path, w)
        if chosen["instruction"] != rejected["instruction"]:
            raise InputError(
                "chosen and rejected prompts embed different instructions", file=str(path), field=w
            )
        if not chosen["response"] or not rejected["response"]:
            excluded[SKIPPED_EMPTY][f"hhh:{category}"] += 1
            continue
        pairs.append((f"{NAME}/hhh/{i}", category, chosen, rejected))
    first_of = chosen_positions({rid: category for rid, category, _, _ in pairs})
    records: list[Record] = []
    for rid, category, chosen, rejected in pairs:
        first = first_of[rid]
        records.append(
            Preference(
                id=rid,
                dataset=NAME,
                task=TASK,
                criterion=HHH_CRITERIA[category],
                item_id=item_id_of(chosen["instruction"]),
                source=chosen["instruction"],
                output_a=chosen["response"] if first else rejected["response"],
                output_b=rejected["response"] if first else chosen["response"],
                label="a" if first else "b",
                meta={"hhh_category": category, LABEL_SOURCE_KEY: HHH_LABEL_SOURCE},
            )
        )
    return records


def _mt_bench(folder: Path, aggregation: str, excluded: Exclusions) -> list[Record]:
    path = require_file(folder, MT_BENCH_FILE)
    records: list[Record] = []
    for i, row in json_records(path):
        w = str(i)
        idx = get(row, "idx", int, file=path, where=w)
        system = text(row, "response_source", file=path, where=w)
        scores = get(row, "gpt4_score", list, file=path, where=w)
        if not scores:
            raise InputError("expected at least one score", file=str(path), field=f"{w}/gpt4_score")
        values = [get(scores, k, float, file=path, where=f"{w}/gpt4_score") for k in range(len(scores))]
        for k, v in enumerate(values):
            in_scale(v, MT_BENCH_SCALE, file=path, where=f"{w}/gpt4_score/{k}")
        sections = _sections(row, "instruction", path, w)
        try:
            context, question = split_dialogue(sections["instruction"])
        except ValueError as exc:
            raise InputError(str(exc), file=str(path), field=f"{w}/instruction") from exc
        if not sections["response"]:
            excluded[SKIPPED_EMPTY][f"mt_bench:{system}"] += 1
            continue
        records.append(
            Judgement(
                id=f"{NAME}/mt_bench/{idx}/{system}",
                dataset=NAME,
                task=TASK,
                criterion=MT_BENCH_CRITERION,
                item_id=f"mt_bench-{idx}",
                source=question,
                context=context,
                reference=sections.get("reference") or None,
                output=sections["response"],
                system=system,
                score=aggregate(values, aggregation),
                scale=list(MT_BENCH_SCALE),
                annotator_scores=values,
                meta={
                    LABEL_SOURCE_KEY: MT_BENCH_LABEL_SOURCE,
                    "category": get(row, "category", str, file=path, where=w),
                    "rubric": sections["rubric"],
                    "mt_bench_question_id": idx,
                },
            )
        )
    return records


def convert_report(folder: Path, *, aggregation: str = "mean") -> tuple[list[Record], Exclusions]:
    """The HHH preferences and MT-Bench grades, and what was left out (``{reason: Counter(file:group -> n)}``)."""
    check_aggregation(aggregation)
    folder = Path(folder)
    excluded = new_exclusions()
    records = _hhh(folder, excluded) + _mt_bench(folder, aggregation, excluded)
    return records, dict(excluded)


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All HHH pairs and MT-Bench grades (see the module docstring)."""
    return convert_report(folder, aggregation=aggregation)[0]
