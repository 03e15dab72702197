"""REALSumm (Bhandari et al. 2020): LitePyramid recall of 24 systems' summaries of 100 CNN/DM articles.

Source: ``$HEAPMETRIC_DATA/realsumm/realsumm_bartscore.json`` (see its SOURCE.md). Each summary becomes one
judgement of ``summarization/coverage`` (2,400): ``item_id`` = the document key ("0"…"99"), ``source`` = the
article, ``reference`` = the reference summary, ``system`` = the upstream system file name (e.g.
``bart_out.txt``), ``score`` = LitePyramid recall, ``scale`` [0, 1]. The score is already a proportion of
reference content units found by crowd workers, so ``aggregation`` does not apply.
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, json_object, number_in, numeric_order, require_file, text
from heapmetric.data.aggregation import check_aggregation
from heapmetric.records import Judgement, Record

NAME = "realsumm"
FOLDER = "realsumm"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "summarization"
CRITERION = "coverage"
SCALE = (0.0, 1.0)
FILE = "realsumm_bartscore.json"


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All 2,400 REALSumm judgements (100 documents × 24 systems)."""
    check_aggregation(aggregation)
    path = require_file(Path(folder), FILE)
    data = json_object(path, "{doc_id: document}")
    records: list[Record] = []
    for doc_id in numeric_order(data):
        doc = get(data, doc_id, dict, file=path, where="")
        src = text(doc, "src", file=path, where=doc_id)
        ref = text(doc, "ref_summ", file=path, where=doc_id)
        systems = get(doc, "sys_summs", dict, file=path, where=doc_id)
        for system in systems:
            w = f"{doc_id}/sys_summs/{system}"
            entry = get(systems, system, dict, file=path, where=f"{doc_id}/sys_summs")
            scores = get(entry, "scores", dict, file=path, where=w)
            score = number_in(scores, "litepyramid_recall", SCALE, file=path, where=f"{w}/scores")
            records.append(
                Judgement(
                    id=f"{NAME}/{doc_id}/{system}/{CRITERION}",
                    dataset=NAME,
                    task=TASK,
                    criterion=CRITERION,
                    item_id=doc_id,
                    source=src,
                    reference=ref,
                    output=text(entry, "sys_summ", file=path, where=w),
                    system=system,
                    score=score,
                    scale=list(SCALE),
                    meta={"measure": "litepyramid_recall"},
                )
            )
    return records
