"""``heapmetric compare`` end to end: P(a better) per pair from the trained metric and a generative judge."""

from __future__ import annotations

import json
import math

import pytest

import heapmetric
from heapmetric.cli import main

TASK = ["--task", "summarization", "--criterion", "coherence"]
PAIRS = [
    {
        "id": "p1",
        "source": "The council met.",
        "output_a": "The council approved the library.",
        "output_b": "Library council library.",
        "system_a": "A",
        "system_b": "B",
    },
    {
        "id": "p2",
        "source": "Plans for spring.",
        "output_a": "Work starts in spring.",
        "output_b": "Spring spring work.",
        "system_a": "A",
        "system_b": "B",
    },
]


def write_pairs(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_compare_with_the_trained_metric(tiny_decoder_metric_dir, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    pairs = write_pairs(tmp_path / "pairs.jsonl", PAIRS)
    assert (
        main(["compare", "-i", str(pairs), "-o", str(out), "--model", str(tiny_decoder_metric_dir), *TASK])
        == 0
    )
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["p1", "p2"]
    metric = heapmetric.load(str(tiny_decoder_metric_dir))
    for r in rows:
        sa = metric.score(
            outputs=[r["output_a"]], sources=[r["source"]], task="summarization", criterion="coherence"
        ).scores[0]
        assert r["score_a"] == pytest.approx(sa, abs=1e-6)
        assert r["p_a_better"] == pytest.approx(1 / (1 + math.exp(r["score_b"] - r["score_a"])), abs=1e-6)
    assert "A vs B" in capsys.readouterr().err


def test_compare_with_a_generative_judge_and_map(tiny_generative_dir, tmp_path):
    rows = [{"x": p["output_a"], "y": p["output_b"], "src": p["source"]} for p in PAIRS]
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "compare",
                "-i",
                str(write_pairs(tmp_path / "p.jsonl", rows)),
                "-o",
                str(out),
                "--model",
                f"generative:{tiny_generative_dir}",
                "--map",
                "output_a=x,output_b=y,source=src",
                *TASK,
                "-q",
            ]
        )
        == 0
    )
    probs = [json.loads(x)["p_a_better"] for x in out.read_text().splitlines()]
    assert len(probs) == 2 and all(0.0 <= p <= 1.0 for p in probs)


def test_missing_output_b_is_one_line_error(tiny_encoder_metric_dir, tmp_path, capsys):
    bad = write_pairs(tmp_path / "bad.jsonl", [{"output_a": "x", "source": "s"}])
    assert main(["compare", "-i", str(bad), "--model", str(tiny_encoder_metric_dir), *TASK]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{bad}:1 field 'output_b'" in err and len(err.splitlines()) == 1
