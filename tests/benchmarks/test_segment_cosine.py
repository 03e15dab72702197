"""benchmarks/segment_cosine.py: per perturbation and layer, how often the original's output/rest cosine is
higher, on the robustness suite's pairs."""

from __future__ import annotations

import json
import sys

import pytest

from tests.fakes.benchmark_scripts import judgement_row, load_benchmark

WORDS = "the council voted on tuesday to build a new library near the old market square for the town"


@pytest.fixture(scope="module")
def script():
    return load_benchmark("segment_cosine.py")


def _build(tmp_path, criterion: str):
    words = WORDS.split()
    rows = [judgement_row(i, " ".join(words[i:] + words[:i]), float(1 + i % 5), criterion) for i in range(9)]
    (tmp_path / "d").mkdir()
    for split in ("train", "test"):  # a build folder's datasets have a train split
        (tmp_path / "d" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run(script, tmp_path, monkeypatch, model) -> dict:
    out = tmp_path / "res.json"
    argv = ["x", "--model", str(model), "--data", str(tmp_path), "--per-cell", "2", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    script.main()
    return json.loads(out.read_text())


def test_shares_per_perturbation_and_layer(script, tiny_encoder_metric_dir, tmp_path, monkeypatch, capsys):
    from transformers import AutoConfig

    _build(tmp_path, "coherence")  # coherence reads the source: every pair has a rest to compare with
    result = _run(script, tmp_path, monkeypatch, tiny_encoder_metric_dir)
    layers = AutoConfig.from_pretrained(tiny_encoder_metric_dir).num_hidden_layers + 1
    assert {"truncate", "word_shuffle_global"} <= set(result["rows"])
    for row in result["rows"].values():
        assert row["n"] >= 1 and len(row["original_higher"]) == layers
        assert all(0.0 <= v <= 1.0 for v in row["original_higher"])
    assert "| perturbation | pairs | layer 0 |" in capsys.readouterr().out


def test_an_output_only_criterion_gives_no_comparisons(
    script, tiny_encoder_metric_dir, tmp_path, monkeypatch
):
    _build(tmp_path, "fluency")  # fluency reads only the output: both cosines are zero, so no pair counts
    result = _run(script, tmp_path, monkeypatch, tiny_encoder_metric_dir)
    assert result["rows"] and all(row["n"] == 0 for row in result["rows"].values())


def test_no_pairs_is_an_error_naming_the_folder(script, tmp_path, monkeypatch):
    from heapmetric.errors import InputError

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.jsonl").write_text("")
    argv = ["x", "--model", "unused", "--data", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(InputError, match="no robustness pairs") as err:
        script.main()
    assert str(tmp_path) in str(err.value)
