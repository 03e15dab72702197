"""Deterministic train/validation/test splits by input (``item_id``).

The split is a pure function of ``(dataset, item_id)``: the first 8 bytes of
``sha256(f"{dataset}\\0{item_id}")`` read as a big-endian integer, mapped to [0, 1), give train below 0.8,
validation below 0.9 and test above. It does not depend on the machine, the Python hash seed or the order of
the records, and all outputs of one input share a split, so no input leaks between train and test.

Where several inputs share a larger unit (TellMeWhy: several questions about one story), the converter puts
that unit in ``meta["split_group"]`` and :func:`record_split` splits by it, so the story's questions share a
split while preferences are still formed per question (``item_id``).
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "validation", "test")
FRACTIONS = (0.8, 0.1, 0.1)


def split_of(dataset: str, item_id: str) -> str:
    """``"train"``, ``"validation"`` or ``"test"`` for this input of this dataset (80/10/10)."""
    digest = hashlib.sha256(f"{dataset}\0{item_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < FRACTIONS[0]:
        return "train"
    if u < FRACTIONS[0] + FRACTIONS[1]:
        return "validation"
    return "test"


def split_key(record) -> str:
    """What decides a record's split: ``meta["split_group"]`` where the converter set one, else ``item_id``."""
    group = (record.meta or {}).get("split_group")
    return str(group) if group else record.item_id


def record_split(record) -> str:
    """The split of one record (see :func:`split_key`)."""
    return split_of(record.dataset, split_key(record))
