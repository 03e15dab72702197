"""FED (Mehri & Eskenazi 2020): turn- and dialogue-level ratings of human–chatbot conversations.

Source: ``$HEAPMETRIC_DATA/fed/fed_data.json`` (see its SOURCE.md): 375 turn-level records (with a
``response``) and 125 dialogue-level records, 5 annotators per quality.

- Turn level, task ``dialogue_turn``: ``context`` = the conversation so far (``User:``/``System:`` lines),
  ``output`` = the rated system response without its ``System:`` prefix; 9 qualities.
- Dialogue level, task ``dialogue_level``: ``output`` = the whole conversation; 11 qualities.
- Quality names are snake_case (``Semantically appropriate`` -> ``semantically_appropriate``,
  ``Error recovery`` -> ``error_recovery``); ``meta.native_criterion`` keeps the upstream name.
- ``annotator_scores`` = the numeric ratings; free-text values (``"N/A (No errors)"``) are dropped before
  aggregating and counted in ``meta.dropped_na``; a quality with no numeric rating left gives no judgement.
- The records come in blocks: the turn-level records of a conversation, then its dialogue-level record (whose
  text contains theirs). All records of one conversation share ``item_id`` = ``conv-<n>`` so they fall in
  one split. Each context has one output, so FED yields no derived preferences.
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, json_records, number_in, require_file, text
from heapmetric.data.aggregation import aggregate, check_aggregation
from heapmetric.errors import InputError
from heapmetric.records import Judgement, Record

NAME = "fed"
FOLDER = "fed"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
FILE = "fed_data.json"
TURN_TASK = "dialogue_turn"
DIALOGUE_TASK = "dialogue_level"
TURN_SCALES: dict[str, tuple[float, float]] = {
    "Interesting": (0, 2),
    "Engaging": (0, 2),
    "Specific": (0, 2),
    "Relevant": (0, 2),
    "Correct": (0, 2),
    "Semantically appropriate": (0, 2),
    "Understandable": (0, 1),
    "Fluent": (0, 2),
    "Overall": (0, 4),
}
DIALOGUE_SCALES: dict[str, tuple[float, float]] = {
    "Coherent": (0, 2),
    "Error recovery": (0, 2),
    "Consistent": (0, 1),
    "Diverse": (0, 2),
    "Depth": (0, 2),
    "Likeable": (0, 2),
    "Understanding": (0, 2),
    "Flexible": (0, 2),
    "Informative": (0, 2),
    "Inquisitive": (0, 2),
    "Overall": (0, 4),
}


def criterion_name(native: str) -> str:
    """``Semantically appropriate`` -> ``semantically_appropriate``."""
    return native.strip().lower().replace(" ", "_")


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All FED judgements (375 turns × 9 qualities + 125 dialogues × 11, less all-N/A ones)."""
    check_aggregation(aggregation)
    path = require_file(Path(folder), FILE)
    records: list[Record] = []
    conv = 0
    turn = 0
    for i, row in json_records(path):
        w = str(i)
        context = text(row, "context", file=path, where=w)
        system = text(row, "system", file=path, where=w)
        annotations = get(row, "annotations", dict, file=path, where=w)
        response = text(row, "response", file=path, where=w, optional=True)
        item_id = f"conv-{conv}"
        if response is not None:
            turn += 1
            task, scales, unit = TURN_TASK, TURN_SCALES, f"turn{turn}"
            output = response.strip()
            output = output[len("System:") :].strip() if output.startswith("System:") else output
            ctx: str | None = context
        else:
            task, scales, unit = DIALOGUE_TASK, DIALOGUE_SCALES, "dialogue"
            output, ctx = context, None
        for native in annotations:
            if native not in scales:
                raise InputError(
                    f"unknown {task} quality (expected one of {', '.join(scales)})",
                    file=str(path),
                    field=f"{w}/annotations/{native}",
                )
        for native, scale in scales.items():
            raw = get(annotations, native, list, file=path, where=f"{w}/annotations", optional=True)
            if raw is None:
                continue
            ratings, dropped = [], 0
            for k, value in enumerate(raw):
                if isinstance(value, str):
                    dropped += 1
                    continue
                ratings.append(number_in(raw, k, scale, file=path, where=f"{w}/annotations/{native}"))
            if not ratings:
                continue
            criterion = criterion_name(native)
            meta = {"aggregation": aggregation, "native_criterion": native, "conversation": conv}
            if dropped:
                meta["dropped_na"] = dropped
            records.append(
                Judgement(
                    id=f"{NAME}/{item_id}/{unit}/{criterion}",
                    dataset=NAME,
                    task=task,
                    criterion=criterion,
                    item_id=item_id,
                    context=ctx,
                    output=output,
                    system=system,
                    score=aggregate(ratings, aggregation),
                    scale=[float(scale[0]), float(scale[1])],
                    annotator_scores=ratings,
                    meta=meta,
                )
            )
        if response is None:
            conv += 1
            turn = 0
    return records
