from __future__ import annotations

import random
from collections import Counter

import pytest

from heapmetric.data.preferences import derive_preferences
from heapmetric.records import Judgement


def j(item, system, score, criterion="coherence", source="src", refs=None, dataset="ds", **kw):
    return Judgement(
        id=f"{dataset}/{item}/{system}/{criterion}",
        dataset=dataset,
        task="summarization",
        criterion=criterion,
        item_id=item,
        source=source,
        references=refs,
        output=f"out {system}",
        system=system,
        score=score,
        scale=[1.0, 5.0],
        **kw,
    )


def test_all_non_tied_pairs_with_label_and_margin():
    prefs = derive_preferences([j("i1", "A", 3.0), j("i1", "B", 5.0), j("i1", "C", 3.0), j("i1", "D", 1.0)])
    # 6 pairs, minus the A/C tie
    assert len(prefs) == 5
    for p in prefs:
        sa, sb = p.meta["score_a"], p.meta["score_b"]
        assert p.label == ("a" if sa > sb else "b")
        assert p.margin == pytest.approx(abs(sa - sb)) and p.margin > 0
        assert p.output_a == f"out {p.system_a}" and p.output_b == f"out {p.system_b}"
        assert p.item_id == "i1" and p.source == "src" and p.criterion == "coherence"
    assert {p.id for p in prefs} == {
        f"ds/i1/summarization/coherence/{x}~{y}" for x, y in ("AB", "AD", "BC", "BD", "CD")
    }


def test_groups_do_not_mix():
    js = [
        j("i1", "A", 1.0),
        j("i2", "B", 5.0),  # different items
        j("i3", "A", 1.0, criterion="fluency"),
        j("i3", "B", 2.0),  # different criteria
        j("i4", "A", 1.0, source="x"),
        j("i4", "B", 2.0, source="y"),
    ]  # different inputs
    assert derive_preferences(js) == []


def test_stable_ids_and_order_independent():
    js = [j(f"i{k}", s, float(v)) for k in range(5) for s, v in zip("ABCDE", (1, 2, 3, 4, 5), strict=True)]
    first = derive_preferences(js)
    shuffled = js[:]
    random.Random(0).shuffle(shuffled)
    second = derive_preferences(shuffled)
    assert sorted(p.to_dict()["id"] for p in first) == sorted(p.id for p in second)
    assert {p.id: p.to_dict() for p in first} == {p.id: p.to_dict() for p in second}


def test_positions_are_balanced():
    js = [j(f"i{k}", s, float(v)) for k in range(40) for s, v in zip("ABCD", (1, 2, 3, 4), strict=True)]
    labels = Counter(p.label for p in derive_preferences(js))
    assert labels["a"] + labels["b"] == 240
    assert 0.4 < labels["a"] / 240 < 0.6


def test_cap_per_item_keeps_a_stable_subset():
    js = [j("i1", s, float(v)) for s, v in zip("ABCDEF", range(6), strict=True)] + [
        j("i2", "A", 1.0),
        j("i2", "B", 2.0),
    ]
    full = derive_preferences(js)
    capped = derive_preferences(js, max_pairs_per_item=4)
    assert len(full) == 15 + 1 and len(capped) == 4 + 1
    assert {p.id for p in capped} <= {p.id for p in full}
    assert [p.id for p in derive_preferences(list(reversed(js)), max_pairs_per_item=4)] == [
        p.id for p in capped if p.item_id == "i2"
    ] + [p.id for p in capped if p.item_id == "i1"]
    with pytest.raises(ValueError):
        derive_preferences(js, max_pairs_per_item=-1)


def test_shared_references_only():
    js = [
        j("s", "ref", 1.0, refs=["human B"]),
        j("s", "refB", 2.0, refs=["human A"]),
        j("s", "mt", 3.0, refs=["human A", "human B"]),
    ]
    prefs = {frozenset((p.system_a, p.system_b)): p for p in derive_preferences(js)}
    assert prefs[frozenset(("ref", "mt"))].reference == "human B"
    assert prefs[frozenset(("refB", "mt"))].reference == "human A"
    both = prefs[frozenset(("ref", "refB"))]
    assert both.reference is None and both.references is None


def test_duplicate_systems_fall_back_to_record_ids():
    js = [
        j("i", "LOLS", 1.0),
        j("i", "WEN", 2.0),
        Judgement(
            id="ds/i/LOLS2/coherence",
            dataset="ds",
            task="summarization",
            criterion="coherence",
            item_id="i",
            source="src",
            output="other",
            system="LOLS",
            score=3.0,
            scale=[1.0, 5.0],
        ),
    ]
    prefs = derive_preferences(js)
    assert len(prefs) == 3 and len({p.id for p in prefs}) == 3
