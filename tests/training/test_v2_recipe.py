"""The trainer features the CPU recipe of the v2 default relies on: soft labels, frozen layers, per-dataset
mixing multipliers and token-budget chunks (which must not change the scores or the loss)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapmetric.errors import InputError
from heapmetric.records import Preference
from tests.training.conftest import tiny_config


def test_soft_bradley_terry_matches_the_cross_entropy() -> None:
    import torch

    from training.losses import bradley_terry_loss

    sb, sw = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.0])
    p = torch.tensor([0.8, 0.3])
    d = sb - sw
    expected = -(p * torch.sigmoid(d).log() + (1 - p) * torch.sigmoid(-d).log()).mean()
    assert float(bradley_terry_loss(sb, sw, targets=p)) == pytest.approx(float(expected), rel=1e-6)
    # p = 1 is the hard-label loss; p = 0.5 is minimised at equal scores
    assert float(bradley_terry_loss(sb, sw, targets=torch.ones(2))) == pytest.approx(
        float(bradley_terry_loss(sb, sw)), rel=1e-6
    )
    x = torch.zeros(1, requires_grad=True)
    bradley_terry_loss(x, torch.zeros(1), targets=torch.tensor([0.5])).backward()
    assert float(x.grad) == pytest.approx(0.0, abs=1e-7)


def test_soft_label_turns_p_a_towards_the_labelled_winner() -> None:
    from training.data import soft_label

    base = dict(id="x", dataset="d", task="t", criterion="c", item_id="i", output_a="A", output_b="B")
    assert soft_label(Preference(**base, label="a", meta={"p_a": 0.9})) == pytest.approx(0.9)
    assert soft_label(Preference(**base, label="b", meta={"p_a": 0.2})) == pytest.approx(0.8)
    assert soft_label(Preference(**base, label="a")) == 1.0
    assert soft_label(Preference(**base, label="a", meta={"p_a": "high"})) == 1.0


def test_dataset_weights_multiply_and_renormalise() -> None:
    from training.mixing import group_weights

    sizes = {"a/t/c": 100, "b/t/c": 100, "b/t/d": 100}
    plain = group_weights(sizes, "uniform")
    boosted = group_weights(sizes, "uniform", dataset_weights={"a": 4.0})
    assert sum(boosted.values()) == pytest.approx(1.0)
    assert boosted["a/t/c"] == pytest.approx(4 * plain["a/t/c"] / (4 * plain["a/t/c"] + 2 * plain["b/t/c"]))
    assert group_weights(sizes, "uniform", dataset_weights={"a": 0.0})["a/t/c"] == 0.0
    with pytest.raises(InputError, match="dataset_weights"):
        group_weights(sizes, "uniform", dataset_weights={"a": 0.0, "b": 0.0})


def test_config_checks_the_new_keys() -> None:
    from training.config import config_from_dict

    cfg = config_from_dict({"dataset_weights": {"x": 2}, "freeze_layers": 2, "token_budget": 512})
    assert cfg.dataset_weights == {"x": 2.0} and cfg.freeze_layers == 2
    for bad in ({"dataset_weights": {"x": -1}}, {"dataset_weights": ["x"]}, {"freeze_layers": -1}):
        with pytest.raises(InputError, match=next(iter(bad))):
            config_from_dict(bad)
    with pytest.raises(InputError, match="freeze_layers"):
        config_from_dict({"freeze_layers": 1, "lora": {}})


def test_frozen_layers_do_not_change_and_the_rest_learns(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path
) -> None:
    import torch

    from training import modeling
    from training.trainer import train

    cfg = tiny_config(
        tmp_path, tiny_backbone, fixture_data, max_steps=6, eval_every=100, save_every=100, calibrate=False
    )
    cfg.freeze_layers, cfg.freeze_embeddings = 1, True
    model, _ = modeling.build_model(cfg)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(".layer.0." in n for n in frozen) and not any(".layer.1." in n for n in frozen)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train(cfg, progress=False)
    after = dict(modeling.load_model(result.model_dir).named_parameters())
    for n in before:
        same = torch.allclose(before[n].float(), after[n].float(), atol=1e-3)
        if n in frozen:
            assert same, n
    assert not all(
        torch.allclose(before[n].float(), after[n].float(), atol=1e-3) for n in before if ".layer.1." in n
    )


def test_token_budget_chunks_give_the_same_loss(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path
) -> None:
    """One padded pass and length-sorted chunks of 64 padded tokens train the same model (same seed; dropout
    off, so that the two runs draw no different random masks)."""
    import json

    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from training.trainer import train

    backbone = tmp_path / "no-dropout"
    config = AutoConfig.from_pretrained(
        tiny_backbone, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    AutoModel.from_pretrained(tiny_backbone, config=config).save_pretrained(backbone)
    AutoTokenizer.from_pretrained(tiny_backbone).save_pretrained(backbone)
    losses = {}
    for budget in (None, 64):
        cfg = tiny_config(
            tmp_path / str(budget),
            backbone,
            fixture_data,
            max_steps=3,
            eval_every=100,
            save_every=100,
            calibrate=False,
        )
        cfg.token_budget = budget
        train(cfg, progress=False)
        rows = [json.loads(x) for x in (Path(cfg.output_dir) / "metrics.jsonl").read_text().splitlines()]
        losses[budget] = [r["loss"] for r in rows if "loss" in r]
    assert losses[None] == pytest.approx(losses[64], abs=1e-5)


def test_resume_with_a_larger_time_budget_trains_on(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path
) -> None:
    """A run stopped by its time budget continues when resumed with a larger one (how CPU runs grow across
    sessions), with a learning rate above zero again."""
    import json

    from training.trainer import train

    kw = dict(max_steps=100_000, eval_every=100_000, save_every=100_000, calibrate=False, warmup_ratio=0.1)
    cfg = tiny_config(tmp_path, tiny_backbone, fixture_data, max_minutes=0.04, **kw)
    first = train(cfg, progress=False)
    assert first.stopped == "time_budget"
    state = json.loads(
        (Path(cfg.output_dir) / "checkpoints" / f"step-{first.steps}" / "trainer_state.json").read_text()
    )
    if (
        "planned_steps" in state
    ):  # planned once the pace is measured (PLAN_AT steps; fewer on a loaded machine)
        assert state["budget_minutes"] == pytest.approx(0.04)
    bigger = tiny_config(tmp_path, tiny_backbone, fixture_data, max_minutes=0.12, **kw)
    second = train(bigger, resume=True, progress=False)
    assert second.steps > first.steps
    rows = [json.loads(x) for x in (Path(cfg.output_dir) / "metrics.jsonl").read_text().splitlines()]
    resumed = [r for r in rows if "lr" in r and r["step"] == first.steps + 1]
    assert resumed and resumed[0]["lr"] > 0


def test_length_balanced_keeps_as_many_shorter_as_longer_winners() -> None:
    from training.data import TrainPair, length_balanced

    longer = [TrainPair("g", {}, "a b c " * (k + 2), "a", 1.0) for k in range(7)]
    shorter = [TrainPair("g", {}, "a", "a b c " * (k + 2), 1.0) for k in range(3)]
    equal = [TrainPair("g", {}, "x y", "y z", 1.0)]
    pairs = longer[:4] + shorter + equal + longer[4:]
    kept = length_balanced(pairs, seed=1)
    n_long = sum(len(p.better.split()) > len(p.worse.split()) for p in kept)
    n_short = sum(len(p.better.split()) < len(p.worse.split()) for p in kept)
    assert (n_long, n_short) == (3, 3) and equal[0] in kept
    assert [pairs.index(p) for p in kept] == sorted(pairs.index(p) for p in kept)  # order kept
    assert kept == length_balanced(pairs, seed=1)  # seeded


def test_length_balance_applies_only_to_the_named_datasets(fixture_data: Path) -> None:
    from training.data import build_training_data, load_groups

    groups = load_groups(fixture_data, "train")
    plain = build_training_data(groups, seed=0)
    name = next(iter(plain.pairs)).split("/")[0]
    balanced = build_training_data(groups, seed=0, length_balance=[name])
    for group, summary in balanced.summary.items():
        if group.startswith(name + "/") and summary["pairs"]:
            pairs = balanced.pairs[group]
            n_long = sum(len(p.better.split()) > len(p.worse.split()) for p in pairs)
            n_short = sum(len(p.better.split()) < len(p.worse.split()) for p in pairs)
            assert n_long == n_short
            assert summary["length_balance_dropped"] == len(plain.pairs[group]) - len(pairs)
        else:
            assert "length_balance_dropped" not in summary
            assert balanced.pairs.get(group) == plain.pairs.get(group)


def test_init_from_starts_from_a_saved_model_and_refuses_a_misfit(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path
) -> None:
    import torch

    from training import modeling
    from training.trainer import train

    cfg = tiny_config(
        tmp_path, tiny_backbone, fixture_data, max_steps=4, eval_every=100, save_every=100, calibrate=False
    )
    first = train(cfg, progress=False).model_dir
    saved = dict(modeling.load_model(first).named_parameters())
    cfg2 = tiny_config(tmp_path / "second", tiny_backbone, fixture_data, init_from=str(first))
    model, _ = modeling.build_model(cfg2)
    for name, param in model.named_parameters():
        assert torch.allclose(param.float(), saved[name].float(), atol=1e-3), name
    fresh, _ = modeling.build_model(tiny_config(tmp_path / "third", tiny_backbone, fixture_data))
    assert not torch.allclose(fresh.head.weight, model.head.weight)
    with pytest.raises(InputError, match="pools with"):
        modeling.build_model(
            tiny_config(tmp_path / "x", tiny_backbone, fixture_data, init_from=str(first), pooling="cls")
        )
    with pytest.raises(InputError, match="no heapmetric.json"):
        modeling.build_model(
            tiny_config(tmp_path / "y", tiny_backbone, fixture_data, init_from=str(tmp_path))
        )


def test_a_segments_run_starts_from_a_mean_pooled_model_and_round_trips(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path
) -> None:
    import torch

    from heapmetric.judges.base import ScoreItem
    from heapmetric.registry import get_criterion
    from heapmetric.scoring.render import encode_batch, render
    from training import modeling
    from training.trainer import train

    common = {"eval_every": 100, "save_every": 100, "calibrate": False}
    first = train(tiny_config(tmp_path, tiny_backbone, fixture_data, max_steps=2, **common), progress=False)
    mean_model = modeling.load_model(first.model_dir)
    crit = get_criterion("summarization", "coherence")
    items = [ScoreItem(output=f"summary number {i} " * (i + 1), source="the article " * 9) for i in range(3)]

    def scores(model):
        batch, _ = encode_batch(model.tokenizer, [render(i, crit) for i in items], 64)
        with torch.no_grad():
            return model.eval()(**batch)

    cfg = tiny_config(
        tmp_path / "wide",
        tiny_backbone,
        fixture_data,
        pooling="segments",
        init_from=str(first.model_dir),
        max_steps=6,
        **common,
    )
    widened, _ = modeling.build_model(cfg)
    torch.testing.assert_close(scores(widened), scores(mean_model), atol=1e-5, rtol=0)
    trained = modeling.load_model(train(cfg, progress=False).model_dir)
    assert trained.pooling == "segments"
    head = trained.head.weight.detach()
    hidden = mean_model.head.in_features
    assert head.shape[1] == 5 * hidden + 2 and head[0, hidden:].abs().sum() > 0  # the new features learned
    with pytest.raises(InputError, match="pools with"):
        modeling.build_model(
            tiny_config(tmp_path / "z", tiny_backbone, fixture_data, init_from=str(cfg.output_dir) + "/model")
        )


def test_misspelt_dataset_names_are_refused_before_training(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path
) -> None:
    from training.trainer import prepare_data

    dataset = next(p.name for p in fixture_data.iterdir() if p.is_dir())
    for key, value in (("dataset_weights", {dataset + "x": 2.0}), ("length_balance", [dataset + "x"])):
        cfg = tiny_config(tmp_path, tiny_backbone, fixture_data, **{key: value})
        with pytest.raises(InputError, match=rf"no dataset '{dataset}x'.*did you mean '{dataset}'") as err:
            prepare_data(cfg)
        assert err.value.field == key
    # a dataset that exists but is filtered out (as the held-out protocol does) is fine
    other = next(p.name for p in fixture_data.iterdir() if p.is_dir() and p.name != dataset)
    cfg = tiny_config(
        tmp_path,
        tiny_backbone,
        fixture_data,
        datasets=[other],
        length_balance=[dataset],
        dataset_weights={dataset: 2},
    )
    assert prepare_data(cfg)[0].pairs or prepare_data(cfg)[0].graded
