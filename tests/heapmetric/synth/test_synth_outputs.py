"""What a synthesis run leaves in ``--out``: a failed run changes no output file; the three modes run into one
folder keep one set of outputs each; the call counts printed and written agree (issue 12, items 3 and 15)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from heapmetric.cli import main
from heapmetric.synth import output
from heapmetric.synth.generate import GenerationConfig
from heapmetric.synth.pipeline import SynthOptions, synthesize
from tests.fakes.openai_server import FakeOpenAIServer
from tests.heapmetric.synth.conftest import refed_reply
from tests.heapmetric.synth.test_synth_pipeline import backend


def snapshot(out: Path) -> dict[str, bytes]:
    """Every output file under ``out`` (not the journal, which a failed run may extend) and its bytes."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "journal.jsonl"
    }


def cli(refs: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["synth", "--references", str(refs), "--out", str(out), "--base-url", url, "--model", "fake",
            "--instructions-per-feature", "1", "--max-features", "2", "--no-decontaminate", *extra]  # fmt: skip


def test_a_failed_run_leaves_every_output_file_as_it_was(references_file: Path, tmp_path: Path) -> None:
    """Regression: a run against an unreachable endpoint truncated data.jsonl and rewrote the rest."""
    out = tmp_path / "out"
    with FakeOpenAIServer(refed_reply) as srv:
        assert main(cli(references_file, out, srv.base_url, "-q")) == 0
    before = snapshot(out)
    assert any(name.endswith("data.jsonl") for name in before) and any("dataset" in n for n in before)
    other = tmp_path / "other.jsonl"  # new references: nothing in the journal, every step needs the endpoint
    other.write_text(json.dumps({"instruction": "Name a prime.", "response": "Seven."}) + "\n")
    with FakeOpenAIServer() as dead:
        url = dead.base_url  # closed when the block ends: connections are refused
    assert main(cli(other, out, url, "--max-retries", "0", "--timeout", "1", "-q")) == 2
    assert snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_the_three_modes_into_one_out_keep_each_modes_data(references_file: Path, tmp_path: Path) -> None:
    """Regression: the documented reference/none/sample workflow into one --out kept only the last mode."""
    out = tmp_path / "out"
    reports = {}
    with FakeOpenAIServer(refed_reply) as srv:
        for mode in ("reference", "none", "sample"):
            gen = GenerationConfig(instructions_per_feature=1, max_features=2, mode=mode)
            opts = SynthOptions(str(references_file), str(out), generation=gen, decontaminate=False)
            reports[mode] = synthesize(opts, backend(srv))
    data = sorted(out.rglob("data.jsonl"))
    assert len(data) == 3
    for path in data:
        modes = {json.loads(line)["provenance"]["mode"] for line in path.read_text().splitlines()}
        report = json.loads((path.parent / "report.json").read_text())
        assert len(modes) == 1 and report["config"]["mode"] in modes
        assert (
            report["records"]
            == len(path.read_text().splitlines())
            == reports[report["config"]["mode"]]["records"]
        )
        assert (path.parent / "README.md").exists() and (path.parent / "dataset").is_dir()
    assert {p.parent.name for p in data} == {"reference", "none", "sample"}


def test_call_counts_printed_and_written_agree(references_file: Path, tmp_path: Path, capsys) -> None:
    """Regression: a fully journaled rerun printed "calls 5" while report.json's backend said 0."""
    out = tmp_path / "out"
    with FakeOpenAIServer(refed_reply) as srv:
        for run in ("first", "rerun"):
            served = srv.count()
            assert main(cli(references_file, out, srv.base_url, "--no-dataset")) == 0
            served = srv.count() - served
            err = capsys.readouterr().err
            report = json.loads((out / "reference" / "report.json").read_text())
            total = report["cost"]["total"]
            printed = int(re.search(r"this run: (\d+) model calls", err).group(1))
            assert printed == total["this_run"]["calls"] == report["backend"]["calls"] == served, (run, err)
            printed_all = int(re.search(r"the data in all .*?: (\d+) model calls", err).group(1))
            assert printed_all == total["calls"] > 0
            if run == "rerun":
                assert served == 0 and total["new"] == 0 and total["this_run"]["input_tokens"] == 0


def test_a_crash_while_writing_keeps_the_previous_outputs(tmp_path: Path, monkeypatch) -> None:
    report = {"config": {"mode": "none"}, "records": 1}
    monkeypatch.setattr(output, "dataset_card", lambda rep, n: f"card {rep['records']}")
    folder = output.write_outputs(tmp_path, [{"a": 1}], report, [], mode="none", save_datasets=False)
    assert folder == tmp_path / "none" and (folder / "README.md").read_text() == "card 1"
    before = snapshot(tmp_path)

    def broken(rep, n):
        raise OSError("disk full")

    monkeypatch.setattr(output, "dataset_card", broken)
    with pytest.raises(OSError, match="disk full"):
        output.write_outputs(
            tmp_path, [{"a": 2}] * 3, {**report, "records": 3}, [], mode="none", save_datasets=False
        )
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["none"]
