"""The robustness suite on a tiny build with the length baseline, whose rates follow from the perturbations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from heapmetric import registry
from heapmetric.cli import main
from heapmetric.data.perturbations import perturbations_for, targets_markdown, untargeted_reason
from heapmetric.judges.spec import load_judge
from heapmetric.metaeval.robustness import markdown_table, run_suite, suite_pairs
from tests.fakes.perturbation_build import toy_build

DOC = Path(__file__).resolve().parents[3] / "docs" / "robustness.md"


def test_doc_tables_equal_the_targets_yaml() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- targets:begin -->\n(.*?)\n<!-- targets:end -->", text, re.S)
    assert match, "docs/robustness.md lost its generated block"
    assert match.group(1).strip() == targets_markdown().strip(), (
        "docs/robustness.md is out of date: paste the output of `heapmetric data targets` between the markers"
    )


def test_every_untargeted_criterion_says_why() -> None:
    for c in registry.list_criteria():
        if not perturbations_for(c.id, c.fields):
            assert untargeted_reason(c.id), f"{c.id} gets no robustness pair and the table does not say why"


def test_suite_pairs_are_capped_per_cell(tmp_path: Path) -> None:
    root = toy_build(tmp_path)
    pairs = suite_pairs(root, "test", per_cell=2, seed=0)
    cells: dict[tuple[str, str], int] = {}
    for p in pairs:
        key = (p.meta["perturbation"], p.criterion)
        cells[key] = cells.get(key, 0) + 1
        assert p.meta["origin_split"] == "test"
    assert cells and max(cells.values()) <= 2
    assert suite_pairs(root, "test", per_cell=2, seed=0) == pairs


def test_length_baseline_rates(tmp_path: Path) -> None:
    root = toy_build(tmp_path)
    pairs = suite_pairs(root, "test", per_cell=4, only=["truncate", "word_shuffle_global", "repeat_sentence"])
    result = run_suite(load_judge("length"), pairs)
    rates = {(c.perturbation, c.criterion): c for c in result.cells}
    # shorter perturbation: the original always wins; same words: always a tie; longer: always loses
    cut = rates[("truncate", "summarization/coherence")]
    assert (cut.rate, cut.wins, cut.ties) == (1.0, cut.n, 0) and cut.n == 4
    shuffled = rates[("word_shuffle_global", "summarization/coherence")]
    assert shuffled.rate == 0.5 and shuffled.ties == shuffled.n
    repeated = rates[("repeat_sentence", "summarization/coherence")]
    assert repeated.rate == 0.0 and repeated.wins == 0
    assert 0 < repeated.high < 1 and repeated.low == 0.0 and 0 < cut.low < 1
    assert result.summary()["min_rate"] == 0.0
    assert "| truncate | summarization/coherence | 1.00" in markdown_table([result])
    pooled = result.pooled()["truncate"]
    assert pooled.n == sum(c.n for c in result.cells if c.perturbation == "truncate") and pooled.rate == 1.0


def test_cli_writes_report_and_gates_on_min_rate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = toy_build(tmp_path / "build")
    out = tmp_path / "out"
    args = [
        "robustness",
        "--judge",
        "length",
        "--data-dir",
        str(root),
        "--per-cell",
        "3",
        "-o",
        str(out),
        "-q",
    ]
    assert main([*args, "--only", "truncate", "refusal", "--min-rate", "0.9"]) == 0
    report = json.loads((out / "robustness.json").read_text())
    assert report["split"] == "test" and report["results"][0]["judge"] == "length"
    assert {c["perturbation"] for c in report["results"][0]["cells"]} == {"truncate", "refusal"}
    assert (out / "heatmap_length.png").stat().st_size > 0
    assert "| perturbation | criterion | length |" in (out / "robustness.md").read_text()
    assert "truncate" in capsys.readouterr().out
    assert main([*args, "--only", "repeat_sentence", "--min-rate", "0.9"]) == 1
    assert "below 0.9" in capsys.readouterr().err


def test_cli_reads_premade_pairs(tmp_path: Path) -> None:
    from heapmetric.data.perturbation_pairs import build_pairs

    root = toy_build(tmp_path / "build")
    build_pairs(root, ["test"], tmp_path / "pairs", per_group=5, only=["truncate", "repeat_sentence"])
    out = tmp_path / "out"
    args = [
        "robustness",
        "--judge",
        "length",
        "--pairs",
        str(tmp_path / "pairs" / "test.jsonl"),
        "-o",
        str(out),
    ]
    assert main([*args, "--per-cell", "2", "-q"]) == 0
    cells = json.loads((out / "robustness.json").read_text())["results"][0]["cells"]
    assert {c["perturbation"] for c in cells} == {"truncate", "repeat_sentence"}
    assert all(c["n"] <= 2 for c in cells)
    rates = {c["perturbation"]: c["rate"] for c in cells}
    assert rates == {"truncate": 1.0, "repeat_sentence": 0.0}
