"""How closely a lower-precision run of a judge (bf16, int8) reproduces its fp32 scores.

``judged_test_items`` reads the human-judged test-split outputs of SummEval and Topical-Chat from the raw data
(through the converters, so no ``data build`` is needed); ``agreement`` compares two score lists over them:
Spearman over all items, and the share of same-input pairs that both runs order the same way (the decision
a pairwise comparison would make). ``benchmarks/scoring_speed.py`` reports both per precision and
``tests/heapmetric/scoring/test_precision.py`` holds the bounds on a fixed sample.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

AGREEMENT_DATASETS = ("summeval", "topicalchat_usr")


def judged_test_items(
    data: str | Path | None = None,
    *,
    datasets: Sequence[str] = AGREEMENT_DATASETS,
    per_dataset: int | None = None,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Judged test-split outputs of ``datasets`` as score items, and each item's group (``dataset/item/criterion``).

    With ``per_dataset``, a seeded sample of whole inputs is kept, at most that many items a dataset, so the
    pairs within a group survive. ``data`` defaults to ``$HEAPMETRIC_DATA``.
    """
    from heapmetric.data import get_converter
    from heapmetric.data.splits import record_split
    from heapmetric.env import data_dir
    from heapmetric.records import Judgement

    root = Path(data) if data is not None else data_dir()
    items: list[dict[str, Any]] = []
    groups: list[str] = []
    for name in datasets:
        module = get_converter(name)
        by_group: dict[str, list[Judgement]] = {}
        for r in module.convert(root / module.FOLDER):
            if isinstance(r, Judgement) and record_split(r) == "test":
                by_group.setdefault(f"{r.dataset}/{r.item_id}/{r.criterion}", []).append(r)
        keys = sorted(by_group)
        random.Random(seed).shuffle(keys)
        taken = 0
        for key in keys:
            if per_dataset is not None and taken + len(by_group[key]) > per_dataset:
                continue
            for r in by_group[key]:
                items.append(
                    {
                        "output": r.output,
                        "source": r.source,
                        "context": r.context,
                        "reference": r.reference,
                        "task": r.task,
                        "criterion": r.criterion,
                    }
                )
                groups.append(key)
            taken += len(by_group[key])
    return items, groups


def agreement(reference: Sequence[float], scores: Sequence[float], groups: Sequence[str]) -> dict[str, Any]:
    """Spearman between ``scores`` and ``reference``, the share of same-group pairs they order alike, and the
    largest absolute difference. Pairs the reference scores equally are left out of the decision share."""
    import numpy as np

    from heapmetric.stats.correlation import group_indices, spearman

    ref = np.asarray(reference, dtype=float)
    other = np.asarray(scores, dtype=float)
    same = total = 0
    for idx in group_indices(list(groups)):
        if idx.size < 2:
            continue
        i, j = np.triu_indices(idx.size, k=1)
        d_ref = np.sign(ref[idx][i] - ref[idx][j])
        d_other = np.sign(other[idx][i] - other[idx][j])
        decided = d_ref != 0
        same += int((d_ref[decided] == d_other[decided]).sum())
        total += int(decided.sum())
    return {
        "items": int(ref.size),
        "spearman": float(spearman(ref, other)),
        "pairs": total,
        "decision_agreement": same / total if total else float("nan"),
        "max_abs_diff": float(np.max(np.abs(ref - other))) if ref.size else 0.0,
    }
