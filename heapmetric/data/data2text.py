"""Data-to-text ratings (Novikova et al. 2017): SFHOT, SFRES and BAGEL, one dataset ``data2text``.

Sources (``$HEAPMETRIC_DATA/data2text``, see its SOURCE.md): ``sfhot_unieval.json`` (875 outputs),
``sfres_unieval.json`` (1,181) and ``bagel_bartscore.json`` (404). Every output × criterion becomes one
judgement of task ``data_to_text`` with criteria ``informativeness``, ``naturalness`` and ``overall`` (BAGEL's
``quality``; ``meta.native_criterion`` keeps the upstream name), ``scale`` [1, 6].

- The sub-set is in ``meta.subset`` and prefixes ``item_id``; outputs are grouped into inputs by their
  meaning representation (``source``): ``item_id`` = ``<subset>-<first doc_id of that MR>``.
- ``system`` comes from the file order documented upstream: SFHOT doc 0–397 and SFRES 0–580 are LOLS, the
  rest WEN; BAGEL keys 0–201 are Dusek (TGen), 202–403 LOLS.
- Scores are the **medians** of the crowd ratings as released (the per-rater ratings are not in these
  files), so ``aggregation`` cannot be applied; ``meta.aggregation`` is ``median``.
- ``reference``: SFHOT/SFRES give one; BAGEL's repeated references are de-duplicated (order kept).
"""

from __future__ import annotations

from pathlib import Path

from heapmetric.data._common import (
    get,
    json_object,
    json_records,
    number_in,
    numeric_order,
    require_file,
    text,
)
from heapmetric.data.aggregation import check_aggregation
from heapmetric.errors import InputError
from heapmetric.records import Judgement, Record

NAME = "data2text"
FOLDER = "data2text"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "data_to_text"
SCALE = (1.0, 6.0)
CRITERIA = {"informativeness": "informativeness", "naturalness": "naturalness", "overall": "overall"}
BAGEL_CRITERIA = {"informativeness": "informativeness", "naturalness": "naturalness", "quality": "overall"}
# last doc index of the first system, and the two systems, per sub-set (SOURCE.md)
SYSTEMS = {"sfhot": (397, "LOLS", "WEN"), "sfres": (580, "LOLS", "WEN"), "bagel": (201, "Dusek", "LOLS")}
FILES = {"sfhot": "sfhot_unieval.json", "sfres": "sfres_unieval.json", "bagel": "bagel_bartscore.json"}


def _system(subset: str, index: int) -> str:
    last_first, first, second = SYSTEMS[subset]
    return first if index <= last_first else second


def _rows(subset: str, path: Path) -> list[tuple[int, str, list[str], str, dict, str]]:
    """(doc index, MR, references, output, scores, JSON path) per output, in file order."""
    rows = []
    if subset == "bagel":
        data = json_object(path, "{index: output}")
        for key in numeric_order(data):
            if not key.isdigit():
                raise InputError("expected an integer key", file=str(path), field=key)
            row = get(data, key, dict, file=path, where="")
            refs_raw = get(row, "ref_summs", list, file=path, where=key)
            refs = list(
                dict.fromkeys(
                    text(refs_raw, i, file=path, where=f"{key}/ref_summs") for i in range(len(refs_raw))
                )
            )
            rows.append(
                (
                    int(key),
                    text(row, "src", file=path, where=key),
                    refs,
                    text(row, "sys_summ", file=path, where=key),
                    get(row, "scores", dict, file=path, where=key),
                    key,
                )
            )
    else:
        for i, row in json_records(path):
            w = str(i)
            doc_id = get(row, "doc_id", int, file=path, where=w)
            rows.append(
                (
                    doc_id,
                    text(row, "source", file=path, where=w),
                    [text(row, "reference", file=path, where=w)],
                    text(row, "system_output", file=path, where=w),
                    get(row, "scores", dict, file=path, where=w),
                    w,
                )
            )
    return rows


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All data-to-text judgements: (875 + 1,181 + 404) outputs × 3 criteria."""
    check_aggregation(aggregation)
    records: list[Record] = []
    for subset, name in FILES.items():
        path = require_file(Path(folder), name)
        criteria = BAGEL_CRITERIA if subset == "bagel" else CRITERIA
        rows = _rows(subset, path)
        first_of: dict[str, int] = {}
        for index, mr, _, _, _, _ in sorted(rows, key=lambda r: r[0]):
            first_of.setdefault(mr, index)
        for index, mr, refs, output, scores, w in rows:
            item_id = f"{subset}-{first_of[mr]}"
            for native, criterion in criteria.items():
                score = number_in(scores, native, SCALE, file=path, where=f"{w}/scores")
                meta = {"subset": subset, "doc_id": index, "aggregation": "median"}
                if native != criterion:
                    meta["native_criterion"] = native
                records.append(
                    Judgement(
                        id=f"{NAME}/{subset}/{index}/{criterion}",
                        dataset=NAME,
                        task=TASK,
                        criterion=criterion,
                        item_id=item_id,
                        source=mr,
                        reference=refs[0] if len(refs) == 1 else None,
                        references=refs if len(refs) > 1 else None,
                        output=output,
                        system=_system(subset, index),
                        score=score,
                        scale=list(SCALE),
                        meta=meta,
                    )
                )
    return records
