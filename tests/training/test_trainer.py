"""The trainer on a tiny random BERT and synthetic fixtures: it learns, checkpoints, and resumes exactly."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from heapmetric.errors import InputError
from tests.training.conftest import tiny_config


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    out = load_file(str(model_dir / "model.safetensors"))
    out.update({f"head.{k}": v for k, v in load_file(str(model_dir / "head.safetensors")).items()})
    return out


def _train_lines(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if not r.get("eval")]


@pytest.fixture(scope="module")
def trained(tiny_backbone: Path, fixture_data: Path, tmp_path_factory: pytest.TempPathFactory):
    from training.trainer import train

    cfg = tiny_config(
        tmp_path_factory.mktemp("trained"),
        tiny_backbone,
        fixture_data,
        max_steps=24,
        eval_every=12,
        save_every=8,
        keep_checkpoints=2,
    )
    return cfg, train(cfg, progress=False)


def test_training_learns_the_pairs(trained, fixture_data: Path, tiny_backbone: Path, tmp_path: Path) -> None:
    from training.data import load_groups
    from training.evaluation import evaluate
    from training.protocols import model_score_fn

    cfg, result = trained
    rows = _train_lines(Path(cfg.output_dir))
    assert [r["step"] for r in rows] == list(range(1, 25))
    first, last = (
        statistics.fmean(r["loss"] for r in rows[:4]),
        statistics.fmean(r["loss"] for r in rows[-4:]),
    )
    assert last < first - 0.05, (first, last)
    train_groups = load_groups(fixture_data, "train")
    after = evaluate(train_groups, model_score_fn(result.model_dir, device="cpu"))
    assert after["mean_pairwise_accuracy"] > 0.7, after
    # the untrained model (same seed, zero steps of learning) is at chance on the same pairs
    from training import modeling

    fresh, tok = modeling.build_model(tiny_config(tmp_path, tiny_backbone, fixture_data))
    before = evaluate(
        train_groups, lambda items: modeling.score_items(fresh, tok, items, _criteria(), max_length=64)
    )
    assert before["mean_pairwise_accuracy"] < after["mean_pairwise_accuracy"] - 0.15, (before, after)


def _criteria() -> dict:
    from training.protocols import _Criteria

    return _Criteria()


def test_run_folder_and_model(trained) -> None:
    from heapmetric.scoring.reward_model import RewardModel

    cfg, result = trained
    run = Path(cfg.output_dir)
    for name in ("config.yaml", "data_summary.json", "metrics.jsonl", "metrics.png", "summary.json"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-16", "step-24"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 24 and summary["pairs_seen"] == 24 * 8
    meta = json.loads((result.model_dir / "heapmetric.json").read_text())
    assert meta["max_length"] == 64 and meta["training"]["config"]["max_steps"] == 24
    assert set(meta["calibration"]) >= {"summarization/coherence", "data_to_text/informativeness"}
    model = RewardModel.from_pretrained(result.model_dir)
    assert model.pooling == "mean"
    evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
    assert [e["step"] for e in evals] == [12, 24]


def test_existing_run_needs_resume(trained) -> None:
    from training.trainer import train

    cfg, _ = trained
    with pytest.raises(InputError, match="--resume"):
        train(cfg, progress=False)


def test_resume_is_exact(tiny_backbone: Path, fixture_data: Path, tmp_path: Path) -> None:
    from training.trainer import train

    kw = dict(
        max_steps=6,
        eval_every=100,
        save_every=100,
        calibrate=False,
        pointwise_weight=0.5,
        pointwise_batch_size=4,
    )
    straight = tiny_config(tmp_path / "a", tiny_backbone, fixture_data, **kw)
    train(straight, progress=False)
    broken = tiny_config(tmp_path / "b", tiny_backbone, fixture_data, **kw)
    first = train(broken, progress=False, stop_after=4)
    assert first.stopped == "interrupted" and first.steps == 4
    # lines logged after the checkpoint are dropped on resume, so none is repeated or lost
    with open(Path(broken.output_dir) / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps({"step": 5, "loss": 99.0, "train_pair_accuracy": 0.0}) + "\n")
    train(broken, resume=True, progress=False)
    a, b = _train_lines(Path(straight.output_dir)), _train_lines(Path(broken.output_dir))
    assert [r["step"] for r in b] == list(range(1, 7))
    for ra, rb in zip(a, b, strict=False):
        assert ra["loss"] == pytest.approx(rb["loss"], abs=1e-6)
        assert ra["pointwise_loss"] == pytest.approx(rb["pointwise_loss"], abs=1e-6)
    wa, wb = _weights(Path(straight.output_dir) / "model"), _weights(Path(broken.output_dir) / "model")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert (wa[name] - wb[name]).abs().max() < 1e-6, name


def test_bad_data_fails_before_model_loading(tmp_path: Path, fixture_data: Path) -> None:
    from training.trainer import train

    cfg = tiny_config(tmp_path, tmp_path / "no-such-backbone", fixture_data, datasets=["nope"])
    with pytest.raises(InputError, match="no train split"):
        train(cfg, progress=False)


def test_time_budget_stops_the_run(tiny_backbone: Path, fixture_data: Path, tmp_path: Path) -> None:
    from training.trainer import PLAN_AT, lr_factor, train

    cfg = tiny_config(
        tmp_path,
        tiny_backbone,
        fixture_data,
        max_steps=100_000,
        max_minutes=0.04,
        eval_every=100_000,
        save_every=100_000,
        calibrate=False,
        warmup_ratio=0.1,
    )
    result = train(cfg, progress=False)
    assert result.stopped == "time_budget" and 0 < result.steps < 100_000
    summary = json.loads((Path(cfg.output_dir) / "summary.json").read_text())
    assert (
        summary["stopped"] == "time_budget" and (Path(cfg.output_dir) / "model" / "heapmetric.json").exists()
    )
    # warm-up over the pace-measuring steps, then a decay that reaches zero at the planned step
    assert lr_factor(cfg, PLAN_AT - 1, 500) < 1 and lr_factor(cfg, 500, 500) == 0.0
    assert lr_factor(cfg, PLAN_AT, 500) == pytest.approx(1.0)
