"""``heapmetric data build`` on tiny sources: files, stats, splits, bad input, atomicity, CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from heapmetric.cli import main
from heapmetric.data import build as builder
from heapmetric.data.splits import SPLITS, record_split
from heapmetric.errors import UnknownNameError
from heapmetric.records import Preference, read_records
from heapmetric.registry import get_criterion


def _all_records(out: Path, name: str):
    return {s: read_records(out / name / f"{s}.jsonl") for s in SPLITS}


def test_build_writes_every_dataset(tiny_sources, source_names, tmp_path):
    out = tmp_path / "out"
    lines: list[str] = []
    results = builder.build(tiny_sources, out, report=lines.append)
    status = {r.name: r.status for r in results}
    assert all(status[n] == "built" for n in source_names)
    assert status["heap_sources"] == "skipped"  # no tiny heap_sources folder here
    assert any(line.startswith("heap_sources: skipped") and "not found" in line for line in lines)
    stats = json.loads((out / "stats.json").read_text())
    assert set(stats["datasets"]) == set(source_names) and "heap_sources" in stats["skipped"]
    for name in source_names:
        per_split = _all_records(out, name)
        splits_of_item = defaultdict(set)
        for split, records in per_split.items():
            for r in records:
                assert r.dataset == name and record_split(r) == split
                get_criterion(r.task, r.criterion)
                splits_of_item[r.item_id].add(split)
        assert all(len(s) == 1 for s in splits_of_item.values())
        assert stats["datasets"][name]["rows"] == builder.count_rows(
            (s, r) for s, rs in per_split.items() for r in rs
        )
    # derived preferences are there for graded sets with several outputs per input
    summeval = [r for rs in _all_records(out, "summeval").values() for r in rs]
    derived = [r for r in summeval if isinstance(r, Preference)]
    assert len(summeval) - len(derived) == 24
    assert derived and all(r.meta.get("derived_from") for r in derived)
    assert builder.stats_from_files(out) == sorted(
        (row for d in stats["datasets"].values() for row in d["rows"]),
        key=lambda r: (r["dataset"], r["task"], r["criterion"], r["kind"], SPLITS.index(r["split"])),
    )


def test_malformed_source_stops_only_that_dataset_and_keeps_old_files(tiny_sources, tmp_path):
    out = tmp_path / "out"
    builder.build(tiny_sources, out, only=["summeval", "qags"])
    before = {p.name: p.read_bytes() for p in (out / "summeval").iterdir()}
    ann = tiny_sources / "summeval" / "summeval_individual_annotations_12abstractive.jsonl"
    lines = ann.read_text().splitlines()
    lines[2] = lines[2].replace('"model_id": "M9"', '"model_id": 9')
    assert '"model_id": 9' in lines[2]
    ann.write_text("\n".join(lines) + "\n")
    (tiny_sources / "qags" / "qags_xsum_unieval.json").write_text(
        json.dumps([{"doc_id": 0, "source": "a", "system_output": "b", "scores": {"consistency": 0.5}}])
    )
    report: list[str] = []
    results = {
        r.name: r for r in builder.build(tiny_sources, out, only=["summeval", "qags"], report=report.append)
    }
    assert results["summeval"].status == "failed"
    assert (
        "summeval_individual_annotations_12abstractive.jsonl:3 field 'model_id'" in results["summeval"].reason
    )
    assert "expected a string" in results["summeval"].reason
    assert results["qags"].status == "built"
    assert {p.name: p.read_bytes() for p in (out / "summeval").iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == ["qags", "stats.json", "summeval"]  # no temp leftovers
    stats = json.loads((out / "stats.json").read_text())
    assert "summeval" in stats["failed"] and "summeval" in stats["datasets"]  # old build still described


def test_a_crash_while_writing_leaves_nothing_half_written(tiny_sources, tmp_path, monkeypatch):
    out = tmp_path / "out"
    builder.build(tiny_sources, out, only=["realsumm"])
    before = {p.name: p.read_bytes() for p in (out / "realsumm").iterdir()}
    (tiny_sources / "realsumm" / "realsumm_bartscore.json").write_text(
        json.dumps(
            {
                "5": {
                    "src": "s",
                    "ref_summ": "r",
                    "sys_summs": {
                        "x": {"sys_summ": "o", "scores": {"litepyramid_recall": 1.0}},
                        "y": {"sys_summ": "p", "scores": {"litepyramid_recall": 0.0}},
                    },
                }
            }
        )
    )
    calls = []

    def failing_write(path, rows):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(path, rows)

    real_write = builder.write_jsonl
    monkeypatch.setattr(builder, "write_jsonl", failing_write)
    with pytest.raises(OSError, match="disk full"):
        builder.build(tiny_sources, out, only=["realsumm"])
    assert {p.name: p.read_bytes() for p in (out / "realsumm").iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == ["realsumm", "stats.json"]


def test_unregistered_criterion_fails_the_dataset(tiny_sources, tmp_path, monkeypatch):
    from heapmetric.data import qags

    monkeypatch.setattr(qags, "TASK", "summarisation")
    (r,) = builder.build(tiny_sources, tmp_path / "out", only=["qags"])
    assert r.status == "failed" and "summarisation/consistency" in r.reason
    assert "did you mean 'summarization/consistency'" in r.reason
    assert not (tmp_path / "out" / "qags").exists()


def test_unknown_dataset_and_options(tiny_sources, tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'rank19'"):
        builder.build(tiny_sources, tmp_path, only=["rank1"])
    with pytest.raises(UnknownNameError, match="aggregation"):
        builder.build(tiny_sources, tmp_path, aggregation="mode")


def test_floor_mean_and_cap_reach_the_files(tiny_sources, tmp_path):
    out = tmp_path / "out"
    builder.build(tiny_sources, out, only=["summeval"], aggregation="floor_mean", max_pairs_per_item=1)
    records = [r for rs in _all_records(out, "summeval").values() for r in rs]
    m8 = next(r for r in records if r.id == "summeval/dm-test-aaa/M8/coherence")
    assert m8.score == 2.0 and m8.meta["aggregation"] == "floor_mean"
    per_group = defaultdict(int)
    for r in records:
        if isinstance(r, Preference):
            per_group[(r.item_id, r.criterion)] += 1
    assert per_group and max(per_group.values()) == 1
    stats = json.loads((out / "stats.json").read_text())["datasets"]["summeval"]
    assert stats["aggregation"] == "floor_mean" and stats["max_pairs_per_item"] == 1


def test_cli_build_stats_and_list(tiny_sources, tmp_path, capsys):
    out = tmp_path / "cli_out"
    rc = main(
        ["data", "build", "--data-dir", str(tiny_sources), "--out", str(out), "--only", "qags", "rank19"]
    )
    captured = capsys.readouterr()
    assert rc == 0
    table = [line.split() for line in captured.out.splitlines()]
    assert ["qags", "summarization", "consistency", "judgement", "3", "0", "0", "3"] in table or any(
        row[:4] == ["qags", "summarization", "consistency", "judgement"] and row[-1] == "3" for row in table
    )
    assert any(
        row[:4] == ["rank19", "summarization", "consistency", "preference"] and row[-1] == "3"
        for row in table
    )
    assert table[-1][0] == "TOTAL" and table[-1][-1] == "6"
    assert sorted(p.name for p in out.iterdir()) == ["qags", "rank19", "stats.json"]
    assert main(["data", "stats", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["records"] for r in rows if r["dataset"] == "qags") == 3
    assert sum(r["records"] for r in rows if r["dataset"] == "rank19") == 3
    assert main(["data", "list", "--data-dir", str(tiny_sources)]) == 0
    listing = capsys.readouterr().out
    assert "summeval" in listing and "source present" in listing and "source missing" in listing


def test_cli_reports_failure_with_exit_code(tiny_sources, tmp_path, capsys):
    (tiny_sources / "llmbar" / "LLMBar_Natural.json").write_text(
        '[{"input": "x", "output_1": "a", "output_2": "b", "label": 3}]'
    )
    rc = main(
        [
            "data",
            "build",
            "--data-dir",
            str(tiny_sources),
            "--out",
            str(tmp_path / "o"),
            "--only",
            "llmbar",
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "llmbar: failed, nothing written:" in err and "LLMBar_Natural.json field '0/label'" in err
    assert not (tmp_path / "o" / "llmbar").exists()


def test_cli_missing_data_dir_is_an_error(tmp_path, capsys):
    """Issue 12 (15): a data folder that does not exist is exit 2, not a run that builds nothing."""
    rc = main(
        [
            "data",
            "build",
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "o"),
            "-q",
            "--only",
            "fed",
        ]
    )
    assert rc == 2
    assert "field '--data-dir'" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_stats_of_an_empty_folder_is_an_error(tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path)]) == 2
    assert "no <dataset>/{train,validation,test}.jsonl files" in capsys.readouterr().err


def test_the_tiny_sources_cover_every_non_heap_converter(source_names):
    from heapmetric.data import CONVERTERS

    assert set(source_names) == set(CONVERTERS) - {"heap_sources"}


def test_a_converter_module_missing_from_the_checkout_is_skipped(tiny_sources, tmp_path, monkeypatch):
    from heapmetric import data

    monkeypatch.setitem(data.CONVERTERS, "qags", "no_such_module")
    lines: list[str] = []
    results = {
        r.name: r
        for r in builder.build(tiny_sources, tmp_path / "o", only=["qags", "rank19"], report=lines.append)
    }
    assert results["qags"].status == "skipped" and "not available in this checkout" in results["qags"].reason
    assert results["rank19"].status == "built"
    assert "qags" not in data.available_converters()
