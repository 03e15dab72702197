"""The converters on the real files: counts must agree with each source's SOURCE.md.

Skipped with a reason when ``$HEAPMETRIC_DATA`` (default ../shared/data) is absent. Converting everything
takes a few seconds, done once per module.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pytest

from heapmetric.data import available_converters, build, get_converter
from heapmetric.data.preferences import derive_preferences
from heapmetric.data.splits import SPLITS, record_split
from heapmetric.records import Judgement, Preference, read_records
from heapmetric.registry import get_criterion

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def converted(real_data_dir: Path, source_names: tuple[str, ...]) -> dict[str, list]:
    out = {}
    for name in [*source_names, *(["heap_sources"] if "heap_sources" in available_converters() else [])]:
        module = get_converter(name)
        if (real_data_dir / module.FOLDER).is_dir():
            out[name] = module.convert(real_data_dir / module.FOLDER)
    return out


def _judgements(records, **match):
    return [
        r for r in records if isinstance(r, Judgement) and all(getattr(r, k) == v for k, v in match.items())
    ]


def test_every_task_and_criterion_is_registered_and_ids_unique(converted):
    for name, records in converted.items():
        assert len({r.id for r in records}) == len(records), name
        for task, criterion in {(r.task, r.criterion) for r in records}:
            get_criterion(task, criterion)


def test_summeval_counts_and_expert_scores(converted, real_data_dir):
    recs = converted["summeval"]
    assert len(recs) == 6400
    assert len({r.item_id for r in recs}) == 100 and len({r.system for r in recs}) == 16
    assert Counter(r.criterion for r in recs) == {
        c: 1600 for c in ("coherence", "consistency", "fluency", "relevance")
    }
    with_experts = [r for r in recs if r.annotator_scores]
    assert len(with_experts) == 1200 * 4 and all(len(r.annotator_scores) == 3 for r in with_experts)
    assert {r.system for r in recs if not r.annotator_scores} == {"M0", "M1", "M2", "M5"}
    raw = json.loads((real_data_dir / "summeval" / "summeval_bartscore.json").read_text())
    for r in recs:
        assert r.score == pytest.approx(raw[r.item_id]["sys_summs"][r.system]["scores"][r.criterion])
    assert all(len(r.references) == 11 for r in recs)


def test_realsumm_counts(converted):
    recs = converted["realsumm"]
    assert len(recs) == 2400
    per_item = Counter(r.item_id for r in recs)
    assert len(per_item) == 100 and set(per_item.values()) == {24}


def test_qags_counts(converted):
    recs = converted["qags"]
    subsets = Counter(r.meta["subset"] for r in recs)
    assert subsets == {"cnndm": 235, "xsum": 239}
    assert Counter(r.score for r in recs if r.meta["subset"] == "xsum") == {0.0: 123, 1.0: 116}
    assert len({r.item_id for r in recs}) == 474


def test_rank19_counts(converted):
    recs = converted["rank19"]
    assert len(recs) == 373 and all(isinstance(r, Preference) for r in recs)
    assert len({r.item_id for r in recs}) == 212
    assert sorted(r.meta["key"] for r in recs if r.meta.get("identical_outputs")) == ["180", "328", "44"]
    assert 0.35 < sum(r.label == "a" for r in recs) / 373 < 0.65


def test_data2text_counts(converted):
    recs = converted["data2text"]
    outputs = Counter(r.meta["subset"] for r in recs if r.criterion == "overall")
    assert outputs == {"sfhot": 875, "sfres": 1181, "bagel": 404}
    items = {s: len({r.item_id for r in recs if r.meta["subset"] == s}) for s in outputs}
    assert items == {"sfhot": 398, "sfres": 580, "bagel": 202}
    assert Counter(r.criterion for r in recs) == {
        "informativeness": 2460,
        "naturalness": 2460,
        "overall": 2460,
    }
    systems = Counter((r.meta["subset"], r.system) for r in recs if r.criterion == "overall")
    assert systems == {
        ("sfhot", "LOLS"): 398,
        ("sfhot", "WEN"): 477,
        ("sfres", "LOLS"): 581,
        ("sfres", "WEN"): 600,
        ("bagel", "Dusek"): 202,
        ("bagel", "LOLS"): 202,
    }


def test_usr_counts(converted):
    tc, pc = converted["topicalchat_usr"], converted["personachat_usr"]
    assert len(tc) == 360 * 6 and len(pc) == 300 * 6
    tc_items = Counter(r.item_id for r in tc if r.criterion == "overall")
    pc_items = Counter(r.item_id for r in pc if r.criterion == "overall")
    assert len(tc_items) == 60 and set(tc_items.values()) == {6}
    assert len(pc_items) == 60 and set(pc_items.values()) == {5}
    assert all(len(r.annotator_scores) == 3 for r in pc)
    assert {r.system for r in pc} == {
        "Original Ground Truth",
        "KV-MemNN",
        "Seq2Seq",
        "Language Model",
        "New Human Generated",
    }


def test_fed_counts(converted):
    recs = converted["fed"]
    turn = _judgements(recs, task="dialogue_turn")
    dialog = _judgements(recs, task="dialogue_level")
    assert len({r.id.rsplit("/", 1)[0] for r in turn}) == 375
    assert len({r.id.rsplit("/", 1)[0] for r in dialog}) == 125
    assert len(turn) == 375 * 9
    assert Counter(r.criterion for r in dialog)["error_recovery"] == 124  # one dialogue is N/A for all 5
    assert len(dialog) == 125 * 11 - 1
    assert sum(r.meta.get("dropped_na", 0) for r in turn) == 12
    assert sum(r.meta.get("dropped_na", 0) for r in dialog if r.criterion == "error_recovery") == 154 - 5
    assert len({r.item_id for r in recs}) == 125
    assert Counter(r.system for r in turn if r.criterion == "overall") == {
        "Mitsuku": 132,
        "Human": 123,
        "Meena": 120,
    }


def test_wmt_counts_and_scores_match_released_averages(converted, real_data_dir):
    recs = converted["wmt_mqm_ted"]
    per_lp = Counter(r.meta["lp"] for r in recs)
    assert per_lp == {"en-de": 529 * 14, "zh-en": 529 * 15}
    assert len({r.item_id for r in recs}) == 2 * 529
    scores = {(r.meta["lp"], r.system, r.item_id.rsplit("-", 1)[1]): r.score for r in recs}
    checked = 0
    for lp, name in (
        ("en-de", "mqm_ted_ende.avg_seg_scores.tsv"),
        ("zh-en", "mqm_ted_zhen.avg_seg_scores.tsv"),
    ):
        with open(real_data_dir / "wmt_mqm_ted" / name, encoding="utf-8") as handle:
            next(handle)
            for line in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                system = {"ref-A": "ref", "ref-B": "refB"}.get(line[0], line[0])
                value, seg = line[1].split(" ")
                if value == "None":
                    continue
                assert scores[(lp, system, seg)] == pytest.approx(float(value), abs=1e-6)
                checked += 1
    assert checked == len(recs)
    assert min(r.score for r in recs) >= -25 and max(r.score for r in recs) == 0


def test_llmbar_counts(converted):
    recs = converted["llmbar"]
    assert Counter(r.meta["subset"] for r in recs) == {
        "natural": 100,
        "adversarial_neighbor": 134,
        "adversarial_gptinst": 92,
        "adversarial_gptout": 47,
        "adversarial_manual": 46,
        "mt_bench": 200,
        "faireval": 66,
        "llmeval2": 199,
    }
    assert len({r.item_id for r in recs if r.meta["subset"] == "mt_bench"}) == 75


def test_derived_preference_counts_are_all_untied_pairs(converted):
    recs = converted["summeval"]
    groups = defaultdict(list)
    for r in recs:
        groups[(r.item_id, r.criterion)].append(r.score)
    expected = sum(1 for scores in groups.values() for x, y in combinations(scores, 2) if abs(x - y) > 1e-9)
    prefs = derive_preferences(recs)
    assert len(prefs) == expected
    assert len({p.id for p in prefs}) == len(prefs)
    # one-output-per-input sets give none
    assert derive_preferences(converted["qags"]) == [] and derive_preferences(converted["fed"]) == []


def test_no_item_in_two_splits(converted):
    for name, records in converted.items():
        splits = defaultdict(set)
        for r in records:
            splits[r.item_id].add(record_split(r))
        assert all(len(s) == 1 for s in splits.values()), name


def test_tellmewhy_story_in_one_split(converted):
    """Every question and answer about one TellMeWhy story lands in one split (the story is the input)."""
    splits = defaultdict(set)
    records = [r for r in converted["heap_sources"] if r.task == "why_qa"]
    derived = derive_preferences(r for r in records if isinstance(r, Judgement))
    assert records and derived
    for r in [*records, *derived]:
        story = r.meta["split_group"]
        assert story.startswith("caters_narrative_")
        splits[story].add(record_split(r))
    assert len(splits) == 190 and all(len(s) == 1 for s in splits.values())


def test_real_build_of_small_sets(real_data_dir, tmp_path):
    names = ["qags", "rank19", "llmbar", "fed", "personachat_usr", "topicalchat_usr"]
    results = build.build(real_data_dir, tmp_path, only=names)
    assert [r.status for r in results] == ["built"] * len(names)
    for name in names:
        seen: dict[str, str] = {}
        for split in SPLITS:
            for r in read_records(tmp_path / name / f"{split}.jsonl"):
                assert seen.setdefault(r.item_id, split) == split
        assert set(seen.values()) == set(SPLITS)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["datasets"]["qags"]["records"] == 474 and stats["datasets"]["rank19"]["records"] == 373


def test_card_counts_match_a_fresh_conversion(converted, source_names):
    import re

    from heapmetric.data.build import count_rows, counts_markdown
    from heapmetric.env import REPO_ROOT

    for name in source_names:
        records = converted[name]
        derived = derive_preferences(r for r in records if isinstance(r, Judgement))
        rows = count_rows((record_split(r), r) for r in [*records, *derived])
        card = (REPO_ROOT / "datasets_cards" / f"{name}.md").read_text(encoding="utf-8")
        block = re.search(r"<!-- counts:start -->\n(.*?)\n<!-- counts:end -->", card, flags=re.S)
        assert block and block.group(1) == counts_markdown(rows, name), f"{name}.md counts are stale"
