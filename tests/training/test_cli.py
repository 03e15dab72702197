"""``heapmetric train`` / ``evaluate-model`` / ``protocol`` end to end on the tiny fixtures, ``accelerate launch``
with one CPU process, and resuming after a real kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from heapmetric.cli import main

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, backbone: Path, data: Path, **overrides) -> Path:
    values = {
        "backbone": str(backbone),
        "data_dir": str(data),
        "output_dir": str(tmp_path / "run"),
        "max_length": 64,
        "batch_size": 8,
        "max_steps": 4,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "eval_every": 100,
        "save_every": 2,
        "eval_batch_size": 16,
        "seed": 5,
    }
    values.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _env() -> dict[str, str]:
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        HEAPMETRIC_TRAIN_DEVICE="cpu",
    )
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_bad_config_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning_rate: -1\n")
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "learning_rate" in err and str(cfg) in err
    assert main(["train", "--config", str(cfg), "--set", "nonsense"]) == 2


def test_train_evaluate_and_check(
    tmp_path: Path, tiny_backbone: Path, fixture_data: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = _config(tmp_path, tiny_backbone, fixture_data)
    assert main(["train", "--config", str(cfg), "--check"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["groups"]["fixpairs/summarization/consistency"]["pairs"] == 24
    assert main(["train", "-q", "--config", str(cfg), "--set", "max_steps=3"]) == 0
    run = tmp_path / "run"
    assert (run / "model" / "heapmetric.json").exists() and (run / "metrics.png").exists()
    out = tmp_path / "test.json"
    assert (
        main(
            ["evaluate-model", "--model", str(run / "model"), "--data", str(fixture_data), "--out", str(out)]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert set(result["groups"]) == {
        "fixgraded/summarization/coherence",
        "fixpairs/summarization/consistency",
        "fixd2t/data_to_text/informativeness",
    }
    assert result["groups"]["fixpairs/summarization/consistency"]["n_pairs"] == 8  # the tie is left out
    assert "| fixd2t/data_to_text/informativeness |" in out.with_suffix(".md").read_text()
    assert (
        main(
            [
                "evaluate-model",
                "--judge",
                "length",
                "--data",
                str(fixture_data),
                "--split",
                "validation",
                "--datasets",
                "fixgraded",
            ]
        )
        == 0
    )
    assert "fixgraded/summarization/coherence" in capsys.readouterr().out


def test_held_out_protocol(tmp_path: Path, tiny_backbone: Path, fixture_data: Path) -> None:
    cfg = _config(tmp_path, tiny_backbone, fixture_data, max_steps=2, save_every=10, calibrate=False)
    args = ["protocol", "held-out", "-q", "--config", str(cfg), "--out", str(tmp_path / "p")]
    assert main([*args, "--baselines", "length"]) == 0
    result = json.loads((tmp_path / "p" / "held-out.json").read_text())
    assert set(result["per_task"]) == {"summarization", "data_to_text"}
    # the length baseline is scored on the same tested groups and compared per task on the groups with pairs
    for task, row in result["per_task"].items():
        names = [
            n
            for n, g in result["groups"].items()
            if n.split("/")[1] == task and g["pairwise_accuracy"] is not None
        ]
        versus = row["baselines"]["length"]
        assert versus["groups"] == len(names) > 0
        model_mean = sum(result["groups"][n]["pairwise_accuracy"] for n in names) / len(names)
        base_mean = sum(result["baseline_groups"]["length"][n]["pairwise_accuracy"] for n in names) / len(
            names
        )
        assert versus["model_pairwise_accuracy"] == pytest.approx(model_mean)
        assert versus["pairwise_accuracy"] == pytest.approx(base_mean)
        assert row["beats_baselines"] == (model_mean > base_mean)
    assert result["tasks_beating_baselines"] == sum(r["beats_baselines"] for r in result["per_task"].values())
    assert "beats every baseline" in (tmp_path / "p" / "held-out.md").read_text()
    assert main([*args, "--baselines", "bleurt"]) == 2
    assert result["groups"]["fixd2t/data_to_text/informativeness"]["trained_on"] == "data_to_text"
    held = json.loads(
        (tmp_path / "p" / "held-out" / "data_to_text" / "model" / "heapmetric.json").read_text()
    )
    assert held["training"]["config"]["tasks"] == ["summarization"]
    assert "all tasks but data_to_text" in (tmp_path / "p" / "held-out.md").read_text()


def test_accelerate_launch_killed_then_resumed(
    tmp_path: Path, tiny_backbone: Path, fixture_data: Path
) -> None:
    """A run under ``accelerate launch`` (one CPU process) is killed with SIGKILL after its first checkpoint;
    ``--resume`` continues from the last complete checkpoint and logs every step exactly once."""
    cfg = _config(tmp_path, tiny_backbone, fixture_data, max_steps=400, save_every=2, calibrate=False)
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "heapmetric.cli",
        "train",
        "-q",
        "--config",
        str(cfg),
    ]
    proc = subprocess.Popen(
        cmd,
        env=_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    ckpts = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpts.is_dir() and any(p.name.startswith("step-") for p in ckpts.iterdir()):
                time.sleep(0.3)  # kill somewhere after the first checkpoint, maybe mid-write of the next
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the training process it started
        proc.wait()
    from training.trainer import latest_checkpoint

    last = latest_checkpoint(tmp_path / "run")
    assert last is not None
    state = json.loads((last / "trainer_state.json").read_text())
    done = state["step"]
    target = done + 2
    assert main(["train", "-q", "--config", str(cfg), "--resume", "--set", f"max_steps={target}"]) == 0
    steps = [
        json.loads(x)["step"]
        for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        if '"eval"' not in x
    ]
    assert steps == list(range(1, target + 1))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == target
