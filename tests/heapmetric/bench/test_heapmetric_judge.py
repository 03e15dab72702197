"""Both benchmarks with the heapmetric judge itself (a tiny random checkpoint from tests/conftest.py): the
pipeline the default model will run in benchmarks/run_bench_default.sh."""

from __future__ import annotations

import csv
import json

from heapmetric.cli import main


def test_alpacaeval_and_arena_hard_with_a_tiny_metric(
    tiny_encoder_metric_dir, alpaca_files, arena_files, tmp_path
) -> None:
    spec = f"heapmetric:{tiny_encoder_metric_dir}?device=cpu"
    out = tmp_path / "ae"
    assert (
        main(
            [
                "bench",
                "alpacaeval",
                "--model-outputs",
                str(alpaca_files["long"]),
                str(alpaca_files["short"]),
                "--reference",
                str(alpaca_files["reference"]),
                "--judge",
                spec,
                "--out",
                str(out),
                "--cache",
                str(tmp_path / "c.sqlite"),
                "-q",
            ]
        )
        == 0
    )
    with open(out / "leaderboard.csv", encoding="utf-8") as handle:
        rows = {r[""]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"long", "short"}
    for r in rows.values():
        assert 0.0 <= float(r["win_rate"]) <= 100.0 and int(r["n_total"]) == 12 and r["n_unparsed"] == "0"
    ann = json.loads((out / "annotations" / "long.json").read_text())
    assert ann[0]["annotator"].startswith("heapmetric:") and 1.0 <= ann[0]["preference"] <= 2.0
    # the metric is order-free: P(model first) and 1 - P(reference first) agree
    assert abs(ann[0]["p_model_first"] - ann[0]["p_reference_first"]) < 1e-6

    out = tmp_path / "ah"
    assert (
        main(
            [
                "bench",
                "arena-hard",
                "--answers",
                str(arena_files["long-model"]),
                "--baseline",
                str(arena_files["base-model"]),
                "--questions",
                str(arena_files["questions"]),
                "--judge",
                spec,
                "--rounds",
                "10",
                "--out",
                str(out),
                "--cache",
                str(tmp_path / "c.sqlite"),
                "-q",
            ]
        )
        == 0
    )
    with open(out / "leaderboard.csv", encoding="utf-8") as handle:
        board = {r["model"]: r for r in csv.DictReader(handle)}
    assert float(board["base-model"]["score"]) == 50.0
    assert 0.0 < float(board["long-model"]["score"]) < 100.0

    # diagnostics on an LLMBar-format folder (no task in the files: --task/--criterion defaults apply)
    llmbar = tmp_path / "llmbar"
    llmbar.mkdir()
    (llmbar / "Toy.json").write_text(
        json.dumps(
            [
                {"input": f"q{i}", "output_1": "a" * (5 + i), "output_2": "b b", "label": 1 + i % 2}
                for i in range(6)
            ]
        )
    )
    assert (
        main(
            [
                "bench",
                "diagnose",
                "--judge",
                spec,
                "--llmbar",
                str(llmbar),
                "--out",
                str(tmp_path / "dg"),
                "--no-cache",
                "-q",
            ]
        )
        == 0
    )
    row = json.loads((tmp_path / "dg" / "diagnostics.json").read_text())["rows"][0]
    assert row["n"] == 6 and row["unparsed"] == 0 and row["swap_consistency"] == 100.0
