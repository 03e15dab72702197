"""TrainConfig: YAML mapping, unknown keys and impossible values named before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapmetric.errors import InputError
from training.config import LoraConfig, config_from_dict, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "training" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.max_steps >= 1 and cfg.batch_size >= 1


def test_yaml_maps_onto_dataclass(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "backbone: some/model\nmax_steps: 7\nlearning_rate: 1e-4\ndatasets: summeval\n"
        "lora: {r: 4, target_modules: [query, value]}\n"
    )
    cfg = load_config(f, output_dir="x")
    assert cfg.max_steps == 7 and cfg.learning_rate == pytest.approx(1e-4)
    assert cfg.datasets == ["summeval"] and cfg.output_dir == "x"
    assert cfg.lora == LoraConfig(r=4, target_modules=["query", "value"])


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("max_step: 10\n")
    with pytest.raises(InputError) as err:
        load_config(f)
    assert err.value.field == "max_step" and "max_steps" in str(err.value) and str(f) in str(err.value)


@pytest.mark.parametrize(
    "key, value",
    [
        ("learning_rate", 0),
        ("batch_size", 0),
        ("max_steps", -1),
        ("mixing", "random"),
        ("warmup_ratio", 1.5),
        ("mixed_precision", "fp8"),
        ("pooling", "max"),
        ("mixing_temperature", 0),
        ("max_minutes", 0),
        ("batch_size", 2.5),
        ("freeze_embeddings", "yes"),
        ("datasets", []),
        ("quantization", "4bit"),
        ("max_length", "long"),
        ("eval_max_per_group", 0),
    ],
)
def test_impossible_values_name_the_key(key: str, value: object) -> None:
    with pytest.raises(InputError) as err:
        config_from_dict({key: value}, file="cfg.yaml")
    assert err.value.field == key
    assert "cfg.yaml" in str(err.value)


def test_lora_section_is_checked() -> None:
    with pytest.raises(InputError) as err:
        config_from_dict({"lora": {"rank": 8}})
    assert err.value.field == "lora.rank"
    with pytest.raises(InputError) as err:
        config_from_dict({"lora": {"r": 0}})
    assert err.value.field == "lora.r"
    assert config_from_dict({"lora": True, "quantization": "4bit"}).lora == LoraConfig()


def test_conflicting_filters() -> None:
    with pytest.raises(InputError) as err:
        config_from_dict({"tasks": ["a"], "exclude_tasks": ["a"]})
    assert err.value.field == "exclude_tasks"


def test_missing_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "none.yaml")
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        load_config(f)
