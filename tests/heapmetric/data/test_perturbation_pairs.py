"""Robustness pairs: good originals only, the split of the original, seeded caps, the CLI writing files."""

from __future__ import annotations

import json
from pathlib import Path

from heapmetric.cli import main
from heapmetric.data.perturbation_pairs import DATASET, build_pairs, select_originals
from heapmetric.records import Preference, read_records
from tests.fakes.perturbation_build import judgement, toy_build


def test_select_originals_keeps_good_outputs_and_preferred_sides() -> None:
    js = [judgement(0, s, score, f"text {s}") for s, score in (("a", 1.0), ("b", 3.0), ("c", 4.0))]
    assert [o.system for o in select_originals(js, [])] == ["b", "c"]
    bottom = [judgement(0, s, 1.0, f"t {s}") for s in ("a", "b")]
    assert select_originals(bottom, []) == [], "outputs at the bottom of the scale are never originals"
    prefs = [
        Preference(
            id="p1", dataset="d", task="t", criterion="c", item_id="i", output_a="x", output_b="y", label="b"
        ),
        Preference(
            id="p2",
            dataset="d",
            task="t",
            criterion="c",
            item_id="j",
            output_a="x",
            output_b="y",
            label="tie",
        ),
    ]
    assert [o.output for o in select_originals([], prefs)] == ["y"]


def test_pairs_stay_in_their_split_and_are_labelled(tmp_path: Path) -> None:
    root = toy_build(tmp_path / "build")
    out = tmp_path / "pairs"
    stats = build_pairs(root, ["train", "validation", "test"], out, per_group=3, seed=1)
    texts = {}
    for split in ("train", "validation", "test"):
        originals = {r.output for r in read_records(root / "toy" / f"{split}.jsonl")}
        pairs = read_records(out / f"{split}.jsonl")
        assert pairs, split
        texts[split] = {p.output_a for p in pairs} | {p.output_b for p in pairs}
        for p in pairs:
            assert isinstance(p, Preference) and p.label == "a" and p.dataset == DATASET
            assert p.output_a in originals and not p.output_a.startswith("bad ")
            assert p.item_id.startswith(split)
            assert p.meta["label_source"] == "rule" and p.meta["origin_dataset"] == "toy"
            assert p.meta["perturbation"] in stats["splits"][split]["by_perturbation"]
        assert len(pairs) == stats["splits"][split]["pairs"]
    test_originals = {r.output for r in read_records(root / "toy" / "test.jsonl")}
    assert not any(t in texts["train"] for t in test_originals), "a test-split text reached the train pairs"
    # coherence pairs come from shuffles etc., never from entity swaps; consistency the other way round
    cells = stats["splits"]["train"]["by_perturbation_criterion"]
    assert "summarization/consistency" not in cells.get("word_shuffle_global", {})
    assert "summarization/coherence" not in cells.get("entity_swap", {})
    assert all(n <= 3 for c in cells.values() for n in c.values())


def test_seeded_and_capped(tmp_path: Path) -> None:
    root = toy_build(tmp_path / "build")
    a = build_pairs(root, ["train"], tmp_path / "a", per_group=2, seed=5)
    b = build_pairs(root, ["train"], tmp_path / "b", per_group=2, seed=5)
    assert a == b
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()


def test_cli_writes_files_and_stats(tmp_path: Path, capsys) -> None:
    root = toy_build(tmp_path / "build")
    assert main(["data", "perturb", "--data-dir", str(root), "--per-group", "2", "--only", "truncate"]) == 0
    out = root / DATASET
    stats = json.loads((out / "stats.json").read_text())
    assert set(stats["splits"]) == {"train", "validation", "test"}
    assert set(stats["splits"]["train"]["by_perturbation"]) == {"truncate"}
    assert "truncate" in capsys.readouterr().out
    # a second run never reads its own output folder back as a dataset
    assert (
        main(["data", "perturb", "--data-dir", str(root), "--per-group", "2", "--only", "truncate", "-q"])
        == 0
    )
    assert json.loads((out / "stats.json").read_text()) == stats
