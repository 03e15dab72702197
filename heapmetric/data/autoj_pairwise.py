"""Auto-J pairwise test set (Li et al., ICLR 2024): 1,392 **human**-labelled response pairs on Chatbot Arena
style prompts in 58 scenarios, with ties.

Source: ``$HEAPMETRIC_DATA/autoj_pairwise/testdata_pairwise.jsonl.gz`` (see its SOURCE.md), one line per pair
``{scenario, label, prompt, "response 1", "response 2"}``, and ``overlap_with_eval_sets.json`` (which lines
repeat a prompt of AlpacaEval, Arena-Hard or MT-Bench).

Each kept line becomes one native :class:`Preference` of task ``instruction_following``, criterion ``overall``:
``source`` = the prompt, ``output_a`` / ``output_b`` = response 1 / 2 as released, ``label`` 0 -> ``a``,
1 -> ``b``, 2 -> ``tie``, ``item_id`` = ``in-<sha256(prompt)[:12]>`` (a prompt that recurs with other
response pairs stays in one split), ``id`` = ``autoj_pairwise/<0-based line>``, ``meta.scenario``,
``meta.label_source`` = ``human``.

Left out, and counted by :func:`convert_report`: every line listed in ``overlap_with_eval_sets.json`` for
AlpacaEval, Arena-Hard (v0.1, v2.0) or MT-Bench, except AlpacaEval matches noted there as "not the same
question" (line 446, which is MT-Bench question 120 and so goes anyway); pairs whose two responses are the same
text; pairs with an empty response.
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, json_object, require_file, text
from heapmetric.data.aggregation import check_aggregation
from heapmetric.data.exclusions import Exclusions, new_exclusions
from heapmetric.data.llmbar import item_id_of
from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl
from heapmetric.records import Preference, Record

NAME = "autoj_pairwise"
FOLDER = "autoj_pairwise"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "instruction_following"
CRITERION = "overall"
DATA_FILE = "testdata_pairwise.jsonl.gz"
OVERLAP_FILE = "overlap_with_eval_sets.json"
#: overlap list -> exclusion reason
OVERLAP_SETS = {
    "alpacaeval": "prompt in AlpacaEval",
    "arena_hard_v0.1": "prompt in Arena-Hard v0.1",
    "arena_hard_v2.0": "prompt in Arena-Hard v2.0",
    "mt_bench": "prompt in MT-Bench",
}
LABELS = {0: "a", 1: "b", 2: "tie"}
SKIPPED_IDENTICAL = "identical responses"
SKIPPED_EMPTY = "empty response"


def overlapping_lines(path: Path) -> dict[int, str]:
    """0-based line -> the first eval set (in :data:`OVERLAP_SETS` order) whose prompt it repeats.

    AlpacaEval matches whose ``note`` says they are not the same question are not overlaps.
    """
    data = json_object(path, "{eval set: [{line, ...}]}")
    out: dict[int, str] = {}
    for key, reason in OVERLAP_SETS.items():
        entries = get(data, key, list, file=path, where="")
        for i, entry in enumerate(entries):
            where = f"{key}/{i}"
            line = get(entry, "line", int, file=path, where=where)
            note = get(entry, "note", str, file=path, where=where, optional=True) or ""
            if "not the same question" in note:
                continue
            out.setdefault(line, reason)
    return out


def convert_report(folder: Path, *, aggregation: str = "mean") -> tuple[list[Record], Exclusions]:
    """All kept preferences, and what was left out: ``{reason: Counter(scenario -> lines)}``."""
    check_aggregation(aggregation)
    folder = Path(folder)
    overlap = overlapping_lines(require_file(folder, OVERLAP_FILE))
    path = require_file(folder, DATA_FILE)
    records: list[Record] = []
    excluded = new_exclusions()
    for line, obj in iter_jsonl(path):
        index = line - 1  # the overlap file and the ids count lines from 0
        scenario = get(obj, "scenario", str, file=path, where="", line=line)
        label = get(obj, "label", int, file=path, where="", line=line)
        if label not in LABELS:
            raise InputError(f"expected 0, 1 or 2, got {label!r}", file=str(path), line=line, field="label")
        prompt = text(obj, "prompt", file=path, where="", line=line)
        r1 = get(obj, "response 1", str, file=path, where="", line=line)
        r2 = get(obj, "response 2", str, file=path, where="", line=line)
        if index in overlap:
            excluded[overlap[index]][scenario] += 1
            continue
        if not r1.strip() or not r2.strip():
            excluded[SKIPPED_EMPTY][scenario] += 1
            continue
        if r1.strip() == r2.strip():
            excluded[SKIPPED_IDENTICAL][scenario] += 1
            continue
        records.append(
            Preference(
                id=f"{NAME}/{index}",
                dataset=NAME,
                task=TASK,
                criterion=CRITERION,
                item_id=item_id_of(prompt),
                source=prompt,
                output_a=r1,
                output_b=r2,
                label=LABELS[label],
                meta={"scenario": scenario},
            )
        )
    return records, dict(excluded)


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """The kept human preferences (see the module docstring for what is left out)."""
    return convert_report(folder, aggregation=aggregation)[0]
