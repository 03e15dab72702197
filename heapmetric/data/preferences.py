"""Preferences derived from graded judgements (HEAP: "which of two outputs for one input is better").

For every group of judgements that share ``dataset``, ``task``, ``criterion``, ``item_id`` and the same input
text (``instruction``, ``source``, ``context``), every pair of outputs whose aggregated scores differ becomes
one :class:`~heapmetric.records.Preference`; equal scores (ties) give no pair, as in HEAP.

- ``label`` names the better output; which output goes in position ``a`` is decided by a hash of the pair id,
  so labels are balanced between ``a`` and ``b`` and the same on every run.
- ``margin`` is the absolute score difference, on the judgements' own scale.
- ``id`` is ``<dataset>/<item_id>/<task>/<criterion>/<key_1>~<key_2>`` with the keys (system names, or
  judgement ids when a group has no distinct systems) in sorted order, so it is stable and unique.
- ``references`` are those shared by both outputs (a human translation that is itself one of the outputs
  is not a reference for it).
- ``max_pairs_per_item`` optionally caps the pairs kept per group: the pairs whose ids hash lowest are kept,
  a stable pseudo-random subset that does not depend on the order of the input.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable

from heapmetric.records import Judgement, Preference

# Scores are floats derived from means; differences below this are ties.
TIE_TOLERANCE = 1e-9


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _group_key(j: Judgement) -> tuple:
    return (j.dataset, j.task, j.criterion, j.item_id, j.instruction, j.source, j.context)


def _pair_key(j: Judgement, distinct_systems: bool) -> str:
    return j.system if distinct_systems and j.system else j.id


def _shared_references(a: Judgement, b: Judgement) -> list[str] | None:
    refs_b = set(b.all_references)
    shared = [r for r in a.all_references if r in refs_b]
    return shared or None


def preferences_from_group(group: list[Judgement], *, max_pairs: int | None = None) -> list[Preference]:
    """All non-tied pairs of one group of judgements of the same input and criterion (see module docstring)."""
    systems = [j.system for j in group]
    distinct = all(systems) and len(set(systems)) == len(systems)
    keyed = sorted(group, key=lambda j: _pair_key(j, distinct))
    out: list[Preference] = []
    for x, y in itertools.combinations(keyed, 2):
        diff = x.score - y.score
        if abs(diff) <= TIE_TOLERANCE:
            continue
        pid = f"{x.dataset}/{x.item_id}/{x.task}/{x.criterion}/{_pair_key(x, distinct)}~{_pair_key(y, distinct)}"
        a, b = (x, y) if _h(pid) % 2 == 0 else (y, x)
        refs = _shared_references(a, b)
        meta = {"derived_from": [a.id, b.id], "score_a": a.score, "score_b": b.score, "scale": list(a.scale)}
        if a.meta.get("split_group"):  # keep the pair in its judgements' split
            meta["split_group"] = a.meta["split_group"]
        out.append(
            Preference(
                id=pid,
                dataset=a.dataset,
                task=a.task,
                criterion=a.criterion,
                item_id=a.item_id,
                instruction=a.instruction,
                source=a.source,
                context=a.context,
                reference=refs[0] if refs and len(refs) == 1 else None,
                references=refs if refs and len(refs) > 1 else None,
                output_a=a.output,
                output_b=b.output,
                label="a" if a.score > b.score else "b",
                margin=abs(diff),
                system_a=a.system,
                system_b=b.system,
                meta=meta,
            )
        )
    if max_pairs is not None and len(out) > max_pairs:
        out = sorted(out, key=lambda p: _h(p.id))[:max_pairs]
        out.sort(key=lambda p: p.id)
    return out


def derive_preferences(
    judgements: Iterable[Judgement], *, max_pairs_per_item: int | None = None
) -> list[Preference]:
    """Preferences from graded judgements: every non-tied pair of outputs of the same input and criterion.

    The result is ordered by group (in first-seen order), then by pair id; ``max_pairs_per_item`` caps the
    pairs per (input, criterion) group (``None``: all pairs).
    """
    if max_pairs_per_item is not None and max_pairs_per_item < 0:
        raise ValueError("max_pairs_per_item must be >= 0")
    groups: dict[tuple, list[Judgement]] = {}
    for j in judgements:
        if isinstance(j, Judgement):
            groups.setdefault(_group_key(j), []).append(j)
    out: list[Preference] = []
    for group in groups.values():
        if len(group) > 1:
            out.extend(preferences_from_group(group, max_pairs=max_pairs_per_item))
    return out
