"""examples/refed_loop.sh end to end at toy size: a fake OpenAI-compatible teacher, a tiny random student,
the length judge. Checks that every stage runs, the table has every number with its command, and a re-run
asks the teacher nothing again. About 20 minutes on a loaded 2-core machine (each step is a process that
imports torch and loads a model), hence slow."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_data
from tests.fakes.openai_server import FakeOpenAIServer
from tests.heapmetric.synth.conftest import refed_reply

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_loop_runs_every_stage_and_resumes(tiny_generative_dir: Path, tmp_path: Path) -> None:
    require_data("alpacaeval")
    require_data("arena_hard")
    refs = tmp_path / "refs.jsonl"
    refs.write_text(
        '{"instruction": "How do I bake sourdough bread at home?", "response": "Feed a starter and bake."}\n'
        '{"instruction": "Explain recursion to a beginner programmer.", "response": "A function calls itself."}\n'
    )
    out = tmp_path / "loop"
    heapmetric = Path(sys.executable).with_name("heapmetric")
    env = {**os.environ, "HEAPMETRIC": str(heapmetric), "PYTHON": sys.executable}
    with FakeOpenAIServer(refed_reply) as srv:
        cmd = ["bash", str(ROOT / "examples" / "refed_loop.sh"), "--out", str(out), "--references", str(refs),
               "--teacher-url", srv.base_url, "--teacher", "fake", "--student", str(tiny_generative_dir),
               "--refs", "2", "--budget", "2", "--metric", "length", "--epochs", "1", "--questions", "3",
               "--gen-tokens", "4", "--judges", "length"]  # fmt: skip
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=2400)
        assert first.returncode == 0, first.stderr[-3000:]
        calls = srv.count()
        # a second pass over finished work: synth replays its journal (no request), finetune is skipped,
        # bench generate replays its journal and the bench verdicts come from the cache
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=2400)
        assert second.returncode == 0, second.stderr[-3000:]
        assert srv.count() == calls
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    models = {r["model"] for r in rows}
    assert models == {"base", "sft-reference", "sft-none", "sft-sample"}
    assert all(r["command"] for r in rows)
    quantities = {(r["model"], r["quantity"]) for r in rows}
    for model in models:
        assert (model, "alpacaeval_win_rate[length]") in quantities
        assert (model, "arenahard_score[length]") in quantities
    for mode in ("reference", "none", "sample"):
        assert (f"sft-{mode}", "synth_records") in quantities and (
            f"sft-{mode}",
            "sft_loss_last",
        ) in quantities
    win = next(r for r in rows if r["quantity"] == "alpacaeval_win_rate[length]")
    assert "bench alpacaeval" in win["command"] and "--judge length" in win["command"]
    assert (out / "comparison.png").stat().st_size > 1000 and (out / "comparison.md").is_file()
