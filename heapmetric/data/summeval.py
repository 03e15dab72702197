"""SummEval (Fabbri et al. 2021): expert ratings of 16 systems' CNN/DM summaries on 4 criteria.

Sources (``$HEAPMETRIC_DATA/summeval``, see its SOURCE.md):

- ``summeval_bartscore.json``: 100 documents × 16 systems, the mean of 3 expert ratings (1–5) for coherence,
  consistency, fluency and relevance, with the article and 11 references;
- ``summeval_individual_annotations_12abstractive.jsonl``: the 3 expert (and 5 crowd) ratings per summary for
  the 12 abstractive systems, joined on (``doc_id``, ``model_id``).

Each summary × criterion becomes one judgement (6,400): ``item_id`` = SummEval doc id, ``output`` = the
BARTScore copy of the summary, ``score`` = the experts' ratings aggregated (mean by default), ``scale`` [1, 5],
``annotator_scores`` = the 3 expert ratings where the individual file has them (``meta.turker_scores`` the
crowd ratings). For the 4 extractive systems only the mean is known (``floor_mean`` is exact from it).
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import get, json_object, number_in, require_file, text
from heapmetric.data.aggregation import aggregate, aggregate_mean, check_aggregation
from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl
from heapmetric.records import Judgement, Record

NAME = "summeval"
FOLDER = "summeval"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "summarization"
CRITERIA = ("coherence", "consistency", "fluency", "relevance")
SCALE = (1.0, 5.0)
MAIN_FILE = "summeval_bartscore.json"
ANNOTATIONS_FILE = "summeval_individual_annotations_12abstractive.jsonl"


def _read_annotations(path: Path) -> dict[tuple[str, str], dict[str, tuple[list[float], list[float]]]]:
    """(doc_id, model_id) -> criterion -> (expert ratings, crowd ratings)."""
    out: dict[tuple[str, str], dict[str, tuple[list[float], list[float]]]] = {}
    for line, row in iter_jsonl(path):
        doc = text(row, "doc_id", file=path, where="", line=line)
        model = text(row, "model_id", file=path, where="", line=line)
        lists = {}
        for kind in ("expert_annotations", "turker_annotations"):
            anns = get(row, kind, list, file=path, where="", line=line)
            if not anns:
                raise InputError(
                    "expected a non-empty list of rating objects", file=str(path), line=line, field=kind
                )
            lists[kind] = [get(anns, i, dict, file=path, where=kind, line=line) for i in range(len(anns))]
        per_criterion = {}
        for c in CRITERIA:
            expert, crowd = (
                [
                    number_in(a, c, SCALE, file=path, where=f"{kind}/{i}", line=line)
                    for i, a in enumerate(lists[kind])
                ]
                for kind in ("expert_annotations", "turker_annotations")
            )
            per_criterion[c] = (expert, crowd)
        if (doc, model) in out:
            raise InputError(f"duplicate (doc_id, model_id) = ({doc}, {model})", file=str(path), line=line)
        out[(doc, model)] = per_criterion
    return out


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All 6,400 SummEval judgements (100 docs × 16 systems × 4 criteria); see the module docstring."""
    check_aggregation(aggregation)
    folder = Path(folder)
    main = require_file(folder, MAIN_FILE)
    data = json_object(main, "{doc_id: document}")
    ann_path = folder / ANNOTATIONS_FILE
    annotations = _read_annotations(ann_path) if ann_path.is_file() else {}

    records: list[Record] = []
    for doc_id, doc in data.items():
        where = doc_id
        if not isinstance(doc, dict):
            raise InputError("expected an object", file=str(main), field=where)
        src = text(doc, "src", file=main, where=where)
        refs_raw = get(doc, "ref_summs", list, file=main, where=where)
        refs = [text(refs_raw, i, file=main, where=f"{where}/ref_summs") for i in range(len(refs_raw))]
        systems = get(doc, "sys_summs", dict, file=main, where=where)
        for system, entry in systems.items():
            w = f"{where}/sys_summs/{system}"
            entry = get(systems, system, dict, file=main, where=f"{where}/sys_summs")
            output = text(entry, "sys_summ", file=main, where=w)
            scores = get(entry, "scores", dict, file=main, where=w)
            ann = annotations.get((doc_id, system))
            for c in CRITERIA:
                mean = number_in(scores, c, SCALE, file=main, where=f"{w}/scores")
                meta: dict = {}
                expert = None
                if ann is not None:
                    expert, crowd = ann[c]
                    score, used = aggregate(expert, aggregation), aggregation
                    meta["turker_scores"] = crowd
                else:
                    score, used = aggregate_mean(mean, aggregation)
                meta["aggregation"] = used
                records.append(
                    Judgement(
                        id=f"{NAME}/{doc_id}/{system}/{c}",
                        dataset=NAME,
                        task=TASK,
                        criterion=c,
                        item_id=doc_id,
                        source=src,
                        references=refs,
                        output=output,
                        system=system,
                        score=score,
                        scale=list(SCALE),
                        annotator_scores=expert,
                        meta=meta,
                    )
                )
    return records
