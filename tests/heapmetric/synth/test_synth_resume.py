"""A run killed with SIGKILL mid-way, then restarted, yields exactly the records of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from heapmetric.llm.openai import OpenAIChatBackend
from heapmetric.synth.generate import GenerationConfig
from heapmetric.synth.journal import Journal, step_key
from heapmetric.synth.pipeline import SynthOptions, synthesize
from tests.fakes.openai_server import FakeOpenAIServer
from tests.heapmetric.synth.conftest import refed_reply


def comparable(path: Path) -> list[dict]:
    """Records without stage timings (wall-clock seconds differ between any two runs)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r["provenance"].pop("timings")
    return rows


def test_journal_cuts_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.append({"k": "a", "ok": True, "v": 1})
        assert j.append({"k": "a", "ok": True, "v": 2})["v"] == 1  # first write of a key wins
    with open(path, "ab") as handle:
        handle.write(b'{"k": "b", "ok": tr')  # a write cut short by SIGKILL
    with Journal(path) as j:
        assert j.recovered_bytes == 19 and len(j) == 1 and "b" not in j
        j.append({"k": "b", "ok": True, "v": 3})
    with Journal(path) as j:
        assert j.get("b")["v"] == 3 and j.get("a")["v"] == 1 and j.recovered_bytes == 0
    assert step_key("x", 1) == step_key("x", 1) != step_key("x", 2)


def test_sigkill_mid_run_then_restart(references_file: Path, tmp_path: Path) -> None:
    gen = GenerationConfig(instructions_per_feature=2, max_features=4)
    with FakeOpenAIServer(refed_reply, latency=0.03) as srv:
        # the uninterrupted run, in-process
        synthesize(
            SynthOptions(
                references=str(references_file),
                out_dir=str(tmp_path / "whole"),
                generation=gen,
                decontaminate=False,
                save_datasets=False,
            ),
            OpenAIChatBackend(srv.base_url, "fake-model", concurrency=2),
        )
        total_steps = sum(1 for _ in open(tmp_path / "whole" / "journal.jsonl"))
        # the same run as a CLI subprocess, killed once a third of its steps are journaled
        out = tmp_path / "killed"
        cmd = [
            sys.executable,
            "-c",
            "import sys; from heapmetric.cli import main; sys.exit(main())",
            "synth",
            "--references",
            str(references_file),
            "--out",
            str(out),
            "--backend",
            "openai",
            "--base-url",
            srv.base_url,
            "--model",
            "fake-model",
            "--concurrency",
            "2",
            "--instructions-per-feature",
            "2",
            "--max-features",
            "4",
            "--no-decontaminate",
            "--no-dataset",
            "--quiet",
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        journal = out / "journal.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_bytes().count(b"\n") >= total_steps // 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done_at_kill = journal.read_bytes().count(b"\n")
        assert total_steps // 3 <= done_at_kill < total_steps and not (out / "reference").exists()
        calls_before = srv.count()
        restarted = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert restarted.returncode == 0, restarted.stderr
        new_calls = srv.count() - calls_before
    assert comparable(out / "reference" / "data.jsonl") == comparable(
        tmp_path / "whole" / "reference" / "data.jsonl"
    )
    report = json.loads((out / "reference" / "report.json").read_text())
    assert report["records"] == 22
    # the restart redid only what the journal lacked (a step killed in flight may be redone, never twice)
    assert report["cost"]["total"]["cached"] >= done_at_kill - 1
    assert (
        new_calls
        == report["cost"]["total"]["this_run"]["calls"]
        == report["cost"]["total"]["calls"]
        - sum(json.loads(line)["usage"]["calls"] for line in open(journal).readlines()[:done_at_kill])
    )
