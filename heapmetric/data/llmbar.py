"""LLMBar and the processed human-preference sets shipped with it (Zeng et al. 2024): 885 gold-labelled pairs.

Sources: ``$HEAPMETRIC_DATA/llmbar/*.json`` (see its SOURCE.md), each a list of
``{input, output_1, output_2, label}``. Each record becomes one native preference of task
``instruction_following``: ``source`` = the user instruction, ``output_a``/``output_b`` = ``output_1``/``output_2``
in the released order, ``label`` ``a`` when ``label`` is 1, ``b`` when 2.

- Criterion ``instruction_following`` for the five LLMBar sets (Natural and the four Adversarial ones: which
  output follows the instruction, as experts judged), ``overall`` for the processed MT-Bench, FairEval and
  LLMEval² sets (which output human judges preferred overall).
- ``meta.subset`` names the file; ``id`` = ``llmbar/<subset>/<index>``.
- ``item_id`` = ``in-<sha256(input)[:12]>``, so the same instruction, which recurs within MT-Bench and in 3
  cases across files, always lands in one split.
- A pair with a blank output (one in LLMEval², index 169: ``output_2`` is only whitespace) cannot be a record
  (outputs must be non-empty) and is left out, so 884 of the 885 pairs are converted.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from heapmetric.data._common import get, json_records, require_file, text
from heapmetric.data.aggregation import check_aggregation
from heapmetric.errors import InputError
from heapmetric.records import Preference, Record

NAME = "llmbar"
FOLDER = "llmbar"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "instruction_following"
#: subset -> (file, criterion)
FILES: dict[str, tuple[str, str]] = {
    "natural": ("LLMBar_Natural.json", "instruction_following"),
    "adversarial_neighbor": ("LLMBar_Adversarial_Neighbor.json", "instruction_following"),
    "adversarial_gptinst": ("LLMBar_Adversarial_GPTInst.json", "instruction_following"),
    "adversarial_gptout": ("LLMBar_Adversarial_GPTOut.json", "instruction_following"),
    "adversarial_manual": ("LLMBar_Adversarial_Manual.json", "instruction_following"),
    "mt_bench": ("Processed_MT-Bench.json", "overall"),
    "faireval": ("Processed_FairEval.json", "overall"),
    "llmeval2": ("Processed_LLMEval2.json", "overall"),
}


def item_id_of(instruction: str) -> str:
    """The input id of an instruction."""
    return "in-" + hashlib.sha256(instruction.encode()).hexdigest()[:12]


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All 885 preferences of the eight files."""
    check_aggregation(aggregation)
    records: list[Record] = []
    for subset, (name, criterion) in FILES.items():
        path = require_file(Path(folder), name)
        for i, row in json_records(path):
            w = str(i)
            label = get(row, "label", int, file=path, where=w)
            if label not in (1, 2):
                raise InputError(f"expected 1 or 2, got {label!r}", file=str(path), field=f"{w}/label")
            instruction = text(row, "input", file=path, where=w)
            out1 = get(row, "output_1", str, file=path, where=w)
            out2 = get(row, "output_2", str, file=path, where=w)
            if not out1.strip() or not out2.strip():
                continue
            records.append(
                Preference(
                    id=f"{NAME}/{subset}/{i}",
                    dataset=NAME,
                    task=TASK,
                    criterion=criterion,
                    item_id=item_id_of(instruction),
                    source=instruction,
                    output_a=out1,
                    output_b=out2,
                    label="a" if label == 1 else "b",
                    meta={"subset": subset},
                )
            )
    return records
