"""LoRA (peft) and QLoRA (bitsandbytes 4-bit) training of a tiny decoder backbone; the adapter checkpoint loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import tiny_config, train_lora


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaModel

    from tests.conftest import build_bpe_tokenizer

    # hidden 64: bitsandbytes' CPU 4-bit kernels need rows of at least one 64-value block
    path = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    tok = build_bpe_tokenizer(chat_template=False)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _train_and_reload(tmp_path: Path, backbone: Path, data: Path, **kw):
    from heapmetric.scoring.reward_model import RewardModel

    return RewardModel.from_pretrained(train_lora(tmp_path, backbone, data, **kw))


def test_lora_on_a_decoder(tmp_path: Path, tiny_llama: Path, fixture_data: Path) -> None:
    from training import modeling
    from training.config import config_from_dict

    cfg = config_from_dict({"backbone": str(tiny_llama), "lora": {"r": 4}, "pooling": "last"})
    model, _ = modeling.build_model(cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert any("q_proj" in n for n in trainable)
    reloaded = _train_and_reload(tmp_path, tiny_llama, fixture_data)
    assert reloaded.pooling == "last"


def test_adapter_checkpoint_reloads_for_saving_as_an_adapter(
    tmp_path: Path, tiny_llama: Path, fixture_data: Path
) -> None:
    """The trainer reloads its best checkpoint (modeling.load_model) when a later step validated worse; that
    model must save as an adapter again, and score as the merged one heapmetric.load gives."""
    import torch

    from training import modeling

    reloaded = _train_and_reload(tmp_path, tiny_llama, fixture_data)  # merged, for scoring
    src = tmp_path / "run" / "model"
    kept = modeling.load_model(src)
    assert hasattr(kept.backbone, "peft_config") and not hasattr(reloaded.backbone, "peft_config")
    cfg = tiny_config(tmp_path, tiny_llama, fixture_data, pooling="last", lora={"r": 4, "alpha": 8})
    again = modeling.save_model(kept, kept.tokenizer, tmp_path / "again", cfg)
    meta = json.loads((again / "heapmetric.json").read_text())
    assert meta["backbone"]["layout"] == "adapter" and (again / "adapter" / "adapter_config.json").exists()
    ids = torch.tensor([[5, 9, 12, 7, 3]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        want = reloaded(input_ids=ids, attention_mask=mask)
        got = modeling.load_model(again)(input_ids=ids, attention_mask=mask)
    assert torch.allclose(got, want, atol=1e-5)


def test_qlora_4bit_on_cpu(tmp_path: Path, tiny_llama: Path, fixture_data: Path) -> None:
    pytest.importorskip("bitsandbytes")
    _train_and_reload(tmp_path, tiny_llama, fixture_data, quantization="4bit")
