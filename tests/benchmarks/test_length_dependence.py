"""benchmarks/length_dependence.py: correlations with length and with the grades, from a build folder."""

from __future__ import annotations

import json
import sys

import pytest

from heapmetric.errors import InputError
from heapmetric.stats.correlation import spearman
from tests.fakes.benchmark_scripts import judgement_row, load_benchmark


@pytest.fixture(scope="module")
def script():
    return load_benchmark("length_dependence.py")


def test_rows_for_humans_and_each_model(script, tiny_encoder_metric_dir, tmp_path, monkeypatch, capsys):
    outputs = [
        "A library.",
        "The council voted for a library.",
        "The council voted on Tuesday to build it now.",
    ]
    rows = [judgement_row(i, outputs[i % 3] + " x" * i, float(1 + i % 5)) for i in range(12)]
    rows.append(judgement_row(99, "Not a coherence record.", 3.0, criterion="fluency"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "res.json"
    argv = ["x", "--data", str(tmp_path), "--dataset", "d", "--criterion", "coherence"]
    monkeypatch.setattr(sys, "argv", [*argv, "--models", str(tiny_encoder_metric_dir), "--out", str(out)])
    script.main()
    result = json.loads(out.read_text())
    assert result["n"] == 12
    coherence = rows[:12]
    human, model = result["rows"]
    lengths = [len(r["output"].split()) for r in coherence]
    assert human["vs_length"] == pytest.approx(spearman([r["score"] for r in coherence], lengths))
    assert model["judge"] == str(tiny_encoder_metric_dir) and -1.0 <= model["vs_human"] <= 1.0
    assert "| human grades | " in capsys.readouterr().out


def test_no_graded_records_names_the_file(script, tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "test.jsonl").write_text(
        json.dumps(judgement_row(1, "Some text.", 2.0, "fluency")) + "\n"
    )
    argv = ["x", "--data", str(tmp_path), "--dataset", "d", "--criterion", "coherence", "--models", "unused"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(InputError, match="no graded records for criterion 'coherence'") as err:
        script.main()
    assert "test.jsonl" in str(err.value)
