"""Topical-Chat USR ratings (Mehri & Eskenazi 2020): 60 knowledge-grounded contexts × 6 responses.

Source: ``$HEAPMETRIC_DATA/topicalchat_usr/topical_chat_unieval.json`` (see its SOURCE.md). Each response ×
quality becomes one judgement of task ``dialogue`` (2,160): ``context`` = the dialogue history (one turn a
line), ``source`` = the knowledge snippet the response should use, ``output`` = the response, ``system`` = the
upstream ``system_id``. ``item_id`` = ``tc-<n>``, ``n`` numbering the 60 distinct histories in file order.
The six qualities are renamed to the USR names shared with PersonaChat (``understandability`` ->
``understandable``, ``naturalness`` -> ``natural``, ``coherence`` -> ``maintains_context``, ``engagingness`` ->
``engaging``, ``groundedness`` -> ``uses_knowledge``, ``overall``). Scores are means of 3 annotators (the
per-annotator ratings are not in this copy); ``floor_mean`` is exact from them, ``median`` is not (the mean is
kept, ``meta.aggregation`` says which was used).
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, json_records, number_in, require_file, text
from heapmetric.data._usr import SCALES, history, judgement
from heapmetric.data.aggregation import aggregate_mean, check_aggregation
from heapmetric.records import Record

NAME = "topicalchat_usr"
FOLDER = "topicalchat_usr"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
FILE = "topical_chat_unieval.json"
NATIVE = {
    "understandability": "understandable",
    "naturalness": "natural",
    "coherence": "maintains_context",
    "engagingness": "engaging",
    "groundedness": "uses_knowledge",
    "overall": "overall",
}


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All 2,160 Topical-Chat USR judgements (60 contexts × 6 responses × 6 qualities)."""
    check_aggregation(aggregation)
    path = require_file(Path(folder), FILE)
    item_of: dict[str, str] = {}
    records: list[Record] = []
    for i, row in json_records(path):
        w = str(i)
        raw_history = text(row, "source", file=path, where=w)
        item_id = item_of.setdefault(raw_history, f"tc-{len(item_of)}")
        system = text(row, "system_id", file=path, where=w)
        output = text(row, "system_output", file=path, where=w).strip()
        scores = get(row, "scores", dict, file=path, where=w)
        for native, criterion in NATIVE.items():
            mean = number_in(scores, native, SCALES[criterion], file=path, where=f"{w}/scores")
            score, used = aggregate_mean(mean, aggregation)
            records.append(
                judgement(
                    NAME,
                    item_id,
                    system,
                    native,
                    criterion,
                    context=history(raw_history.split("\n")),
                    source=text(row, "context", file=path, where=w).strip(),
                    output=output,
                    score=score,
                    aggregation=used,
                )
            )
    return records
