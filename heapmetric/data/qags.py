"""QAGS (Wang et al. 2020): factual consistency of one summary per article, CNN/DM and XSum.

Sources: ``$HEAPMETRIC_DATA/qags/qags_{cnndm,xsum}_unieval.json`` (see its SOURCE.md). Each summary becomes one
judgement of ``summarization/consistency`` (235 + 239): ``item_id`` = ``cnndm-<doc_id>`` / ``xsum-<doc_id>``,
``meta.subset`` names the half, ``source`` = the article, ``score`` = the share of summary sentences the
annotators' majority judged consistent, ``scale`` [0, 1] (XSum: 0 or 1). There is no human reference (the
upstream ``reference`` field repeats the article and is not copied) and one output per article, so this set
supports only cross-document correlation; ``aggregation`` does not apply.
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, json_records, number_in, require_file, text
from heapmetric.data.aggregation import check_aggregation
from heapmetric.records import Judgement, Record

NAME = "qags"
FOLDER = "qags"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "summarization"
CRITERION = "consistency"
SCALE = (0.0, 1.0)
FILES = {"cnndm": "qags_cnndm_unieval.json", "xsum": "qags_xsum_unieval.json"}


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All QAGS judgements (CNN/DM 235, XSum 239)."""
    check_aggregation(aggregation)
    records: list[Record] = []
    for subset, name in FILES.items():
        path = require_file(Path(folder), name)
        for i, row in json_records(path):
            w = str(i)
            doc_id = get(row, "doc_id", int, file=path, where=w)
            scores = get(row, "scores", dict, file=path, where=w)
            score = number_in(scores, CRITERION, SCALE, file=path, where=f"{w}/scores")
            item_id = f"{subset}-{doc_id}"
            records.append(
                Judgement(
                    id=f"{NAME}/{item_id}/{CRITERION}",
                    dataset=NAME,
                    task=TASK,
                    criterion=CRITERION,
                    item_id=item_id,
                    source=text(row, "source", file=path, where=w),
                    output=text(row, "system_output", file=path, where=w),
                    score=score,
                    scale=list(SCALE),
                    meta={"subset": subset, "doc_id": doc_id},
                )
            )
    return records
