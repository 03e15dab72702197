"""The head-only fit (training/head_fit.py): features match the model, the convex fit finds the labelled
direction or stays at the starting head, and a run saves a model whose scores are its fitted head over the
unchanged encoder, resumably."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapmetric.errors import InputError
from tests.training.conftest import tiny_config


def test_fit_head_learns_a_small_range_feature_and_a_strong_penalty_keeps_the_prior() -> None:
    import torch

    from training.head_fit import fit_head

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=gen)
    x[:, 3] *= 0.01  # the informative feature has a tiny range, like a cosine difference
    probs = (x[:, 3] > 0).float()
    prior = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    free, info = fit_head(x, probs, prior, 1e-4)
    assert ((x @ free > 0).float() == probs).float().mean() > 0.97
    assert free[3].abs() > 10 * free[[1, 2, 4, 5]].abs().max()
    assert info["train_nll"] < 0.2
    held, _ = fit_head(x, probs, prior, 1e4)
    torch.testing.assert_close(held, prior, atol=1e-2, rtol=0)


def test_extract_features_match_one_padded_batch(tiny_backbone: Path) -> None:
    import torch

    from heapmetric.scoring.render import collate, pad_token_id
    from heapmetric.scoring.reward_model import RewardModel
    from training.head_fit import extract_features

    model = RewardModel.from_backbone(str(tiny_backbone), pooling="segments", max_length=64).eval()
    tok = model.tokenizer
    sep = tok.sep_token_id
    ids = [tok.encode(t) for t in ("a short one", "a rather longer output text than that", "mid size text")]
    ids = [x + [sep] + tok.encode("the source", add_special_tokens=False) + [sep] for x in ids]
    ids.append(list(ids[0]))  # a duplicate is run once and copied
    batch = collate(ids, pad_token_id(tok))
    with torch.no_grad():
        expected = model.features(batch["input_ids"], batch["attention_mask"])
        scores = model(batch["input_ids"], batch["attention_mask"])
    got = extract_features(model, ids, pad_token_id(tok), token_budget=20)  # forces several chunks
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.head(got).squeeze(-1), scores, atol=1e-5, rtol=1e-5)


def test_config_checks_the_head_fit_keys() -> None:
    from training.config import config_from_dict

    assert config_from_dict({"head_fit_l2": 0.5}).head_fit_l2 == [0.5]
    for bad in ({"head_fit_l2": []}, {"head_fit_l2": [-1]}, {"head_fit_pairs": 0}):
        with pytest.raises(InputError, match=next(iter(bad))):
            config_from_dict(bad)
    with pytest.raises(InputError, match="head_fit"):
        config_from_dict({"head_fit": True, "lora": {}})


def test_a_head_fit_run_saves_its_head_over_the_unchanged_encoder_and_resumes(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from training import head_fit, modeling
    from training.trainer import train

    monkeypatch.setattr(head_fit, "CHUNK", 20)
    first = train(
        tiny_config(tmp_path, tiny_backbone, fixture_data, max_steps=2, eval_every=100, calibrate=False),
        progress=False,
    ).model_dir
    cfg = tiny_config(
        tmp_path / "head",
        tiny_backbone,
        fixture_data,
        pooling="segments",
        init_from=str(first),
        head_fit=True,
        head_fit_pairs=50,
        head_fit_l2=[1e-3, 1e3],
        calibrate=False,
    )
    report = head_fit.run(cfg, progress=False)
    parts = sorted((Path(cfg.output_dir) / "features").glob("part-*.pt"))
    assert [p.name for p in parts] == ["part-00000.pt", "part-00001.pt", "part-00002.pt"]
    assert report["pairs"] == 50 and report["chosen_l2"] in (1e-3, 1e3)
    assert [r["l2"] for r in report["fits"]] == [None, 1e-3, 1e3]
    assert sum(report["pairs_per_dataset"].values()) == 50

    fitted = modeling.load_model(Path(cfg.output_dir) / "model")
    start = modeling.load_model(first)
    for name, param in start.backbone.named_parameters():  # the encoder is the starting model's
        torch.testing.assert_close(
            dict(fitted.backbone.named_parameters())[name].float(), param.float(), atol=1e-3, rtol=0
        )
    assert fitted.pooling == "segments"
    assert fitted.head.weight[0, start.head.in_features :].abs().sum() > 0  # the new features got weight

    with pytest.raises(InputError, match="--resume"):
        head_fit.run(cfg, progress=False)
    # a run stopped after two chunks redraws the third identically
    third = torch.load(parts[2])
    parts[2].unlink()
    again = head_fit.run(cfg, resume=True, progress=False)
    redone = torch.load(parts[2])
    torch.testing.assert_close(redone["better"], third["better"])
    assert redone["group"] == third["group"]
    assert again["chosen_l2"] == report["chosen_l2"]


def test_the_held_out_protocol_fits_heads_without_the_left_out_task(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from training import head_fit
    from training.protocols import run_protocol

    monkeypatch.setattr(head_fit, "CHUNK", 20)
    cfg = tiny_config(
        tmp_path,
        tiny_backbone,
        fixture_data,
        pooling="segments",
        head_fit=True,
        head_fit_pairs=30,
        calibrate=False,
    )
    result = run_protocol("held-out", cfg, tmp_path / "p")
    assert set(result["per_task"]) == {"summarization", "data_to_text"}
    assert result["runs"]["data_to_text"]["head_fit_pairs"] == 30
    run = tmp_path / "p" / "held-out" / "data_to_text"
    fitted = json.loads((run / "head_fit.json").read_text())
    assert all(not name.startswith("fixd2t") for name in fitted["pairs_per_dataset"])
    assert json.loads((run / "model" / "heapmetric.json").read_text())["training"]["config"]["tasks"] == [
        "summarization"
    ]
