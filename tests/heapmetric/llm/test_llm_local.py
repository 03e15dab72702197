"""LocalChatBackend: a tiny random Llama with a word-level tokenizer (fast), and SmolLM2 (slow)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from heapmetric.errors import ModelLoadError
from heapmetric.llm.local import LocalChatBackend, resolve_local_model, smollm2_gguf_path

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} {{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = (
        ["<unk>", "<pad>", "<s>", "</s>", "user", "assistant", "system"]
        + [f"w{i}" for i in range(57)]
        + ["hello", "world", "say", "something"]
    )
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(words),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=128,
            bos_token_id=2,
            eos_token_id=3,
            pad_token_id=1,
        )
    )
    out = tmp_path_factory.mktemp("tiny_chat")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_resolve_aliases(tmp_path: Path) -> None:
    folder, gguf = resolve_local_model("smollm2")
    assert gguf == "SmolLM2-135M-Instruct.Q4_1.gguf" and Path(folder, gguf) == smollm2_gguf_path()
    assert resolve_local_model(str(tmp_path / "m.gguf")) == (str(tmp_path), "m.gguf")
    assert resolve_local_model("some/id", "f.gguf") == ("some/id", "f.gguf")


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot load local chat model"):
        LocalChatBackend(str(tmp_path / "nothing-here")).load()


def test_tiny_model_greedy_generation(tiny_chat_dir: Path) -> None:
    backend = LocalChatBackend(str(tiny_chat_dir))
    msgs = [{"role": "user", "content": "say hello world"}]
    first = backend.chat_sync(msgs, max_tokens=6)
    second = asyncio.run(backend.chat(msgs, max_tokens=6))
    assert first.text == second.text  # greedy is deterministic
    from transformers import AutoTokenizer

    prompt_ids = AutoTokenizer.from_pretrained(tiny_chat_dir).apply_chat_template(
        msgs, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert first.input_tokens == len(prompt_ids)
    assert 1 <= first.output_tokens <= 6 and first.finish_reason in ("stop", "length")
    assert backend.stats["calls"] == 2 and backend.stats["output_tokens"] == 2 * first.output_tokens
    sampled = backend.chat_sync(msgs, max_tokens=6, temperature=1.0, seed=1)
    assert sampled.text == backend.chat_sync(msgs, max_tokens=6, temperature=1.0, seed=1).text


@pytest.mark.slow
def test_smollm2_answers_offline() -> None:
    backend = LocalChatBackend("smollm2")
    r = backend.chat_sync(
        [{"role": "user", "content": "What is the capital of France? One word."}], max_tokens=8
    )
    assert "Paris" in r.text and r.output_tokens <= 8


def test_prefill_starts_the_reply(tiny_chat_dir: Path) -> None:
    backend = LocalChatBackend(str(tiny_chat_dir))
    msgs = [{"role": "user", "content": "say something"}]
    plain = backend.chat_sync(msgs, max_tokens=3)
    filled = backend.chat_sync(msgs, max_tokens=3, prefill="hello world")
    assert filled.text.startswith("hello world") and filled.input_tokens > plain.input_tokens
