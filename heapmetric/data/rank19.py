"""Rank19 (Falke et al. 2019): a consistent and an inconsistent summary sentence for one source sentence.

Source: ``$HEAPMETRIC_DATA/rank19/rank19_bartscore.json`` (see its SOURCE.md). Each of the 373 keys becomes one
native preference of ``summarization/consistency``: the consistent sentence is the better one. Which sentence
sits in position ``a`` is decided by a hash of the record id (balanced, stable). The 373 keys use only 212
distinct source sentences, so ``item_id`` is a hash of the source sentence (``src-<sha256[:12]>``): every pair
over the same sentence falls in the same split. ``meta.key`` keeps the upstream key; in 3 items (keys 44, 180,
328) both sentences are identical (``meta.identical_outputs``), which no metric can rank.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from heapmetric.data._common import get, json_object, numeric_order, require_file, text
from heapmetric.data.aggregation import check_aggregation
from heapmetric.errors import InputError
from heapmetric.records import Preference, Record

NAME = "rank19"
FOLDER = "rank19"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "summarization"
CRITERION = "consistency"
FILE = "rank19_bartscore.json"


def item_id_of(source: str) -> str:
    """The input id of a Rank19 source sentence."""
    return "src-" + hashlib.sha256(source.encode()).hexdigest()[:12]


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All 373 Rank19 preferences."""
    check_aggregation(aggregation)
    path = require_file(Path(folder), FILE)
    data = json_object(path, "{key: item}")
    records: list[Record] = []
    for key in numeric_order(data):
        item = get(data, key, dict, file=path, where="")
        src = text(item, "src", file=path, where=key)
        systems = get(item, "sys_summs", dict, file=path, where=key)
        outs = {}
        for name, expected in (("correct", 1), ("incorrect", 0)):
            w = f"{key}/sys_summs/{name}"
            entry = get(systems, name, dict, file=path, where=f"{key}/sys_summs")
            fact = get(
                get(entry, "scores", dict, file=path, where=w), "fact", int, file=path, where=f"{w}/scores"
            )
            if fact != expected:
                raise InputError(
                    f"expected fact = {expected}, got {fact!r}", file=str(path), field=f"{w}/scores/fact"
                )
            outs[name] = text(entry, "sys_summ", file=path, where=w)
        rid = f"{NAME}/{key}"
        correct_first = hashlib.sha256(rid.encode()).digest()[0] % 2 == 0
        a, b = (outs["correct"], outs["incorrect"]) if correct_first else (outs["incorrect"], outs["correct"])
        meta = {"key": key}
        if outs["correct"] == outs["incorrect"]:
            meta["identical_outputs"] = True
        records.append(
            Preference(
                id=rid,
                dataset=NAME,
                task=TASK,
                criterion=CRITERION,
                item_id=item_id_of(src),
                source=src,
                output_a=a,
                output_b=b,
                label="a" if correct_first else "b",
                meta=meta,
            )
        )
    return records
