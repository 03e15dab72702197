"""PersonaChat USR ratings (Mehri & Eskenazi 2020): 60 contexts × 5 responses, 3 annotators each.

Source: ``$HEAPMETRIC_DATA/personachat_usr/pc_usr_data.json`` (the original USR release; see its SOURCE.md).
Each response × quality becomes one judgement of task ``dialogue`` (1,800): ``context`` = the dialogue
history (one turn a line), ``source`` = the persona lines (``fact``), ``output`` = the response, ``system`` =
the upstream ``model``, ``annotator_scores`` = the 3 ratings, ``score`` = their aggregation (mean by
default). ``item_id`` = ``pc-<n>``, the record's position in the file. Qualities use the USR names shared
with Topical-Chat (``Maintains Context`` -> ``maintains_context`` etc.).
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, json_records, number_in, require_file, text
from heapmetric.data._usr import SCALES, history, judgement
from heapmetric.data.aggregation import aggregate, check_aggregation
from heapmetric.errors import InputError
from heapmetric.records import Record

NAME = "personachat_usr"
FOLDER = "personachat_usr"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
FILE = "pc_usr_data.json"
NATIVE = {
    "Understandable": "understandable",
    "Natural": "natural",
    "Maintains Context": "maintains_context",
    "Engaging": "engaging",
    "Uses Knowledge": "uses_knowledge",
    "Overall": "overall",
}


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All 1,800 PersonaChat USR judgements (60 contexts × 5 responses × 6 qualities)."""
    check_aggregation(aggregation)
    path = require_file(Path(folder), FILE)
    records: list[Record] = []
    for i, row in json_records(path):
        w = str(i)
        item_id = f"pc-{i}"
        context = history(text(row, "context", file=path, where=w).split("\n"))
        persona = history(text(row, "fact", file=path, where=w).split("\n"))
        responses = get(row, "responses", list, file=path, where=w)
        for j in range(len(responses)):
            rw = f"{w}/responses/{j}"
            resp = get(responses, j, dict, file=path, where=f"{w}/responses")
            system = text(resp, "model", file=path, where=rw)
            output = text(resp, "response", file=path, where=rw).strip()
            for native, criterion in NATIVE.items():
                raw = get(resp, native, list, file=path, where=rw)
                if not raw:
                    raise InputError(
                        "expected a non-empty list of ratings", file=str(path), field=f"{rw}/{native}"
                    )
                ratings = [
                    number_in(raw, k, SCALES[criterion], file=path, where=f"{rw}/{native}")
                    for k in range(len(raw))
                ]
                records.append(
                    judgement(
                        NAME,
                        item_id,
                        system,
                        native,
                        criterion,
                        context=context,
                        source=persona,
                        output=output,
                        score=aggregate(ratings, aggregation),
                        aggregation=aggregation,
                        annotator_scores=ratings,
                    )
                )
    return records
