"""Supervised fine-tuning of a chat model on (synthesized) conversations: TRL's ``SFTTrainer`` + peft LoRA.

:func:`finetune` tokenizes every conversation with the model's chat template and labels only assistant tokens
(:func:`heapmetric.finetune.data.tokenize_conversation`), then hands the tokenized dataset (``input_ids`` +
``labels``) to ``SFTTrainer``, which keeps the labels as given. Why not TRL's own ``assistant_only_loss``: it
needs ``{% generation %}`` markers in the chat template and patches only the templates it knows; SmolLM2's
ChatML template (and many others) is not among them, while the prefix rendering used here works for any
prefix-preserving template.

LoRA by default (``lora_r`` 0 = full fine-tuning); ``quantization="4bit"`` is QLoRA (bitsandbytes NF4; on
GPU, and on CPU where bitsandbytes supports it). Checkpoints every ``save_steps`` in ``output_dir``;
``resume=True`` continues from the newest one. Multi-GPU: ``accelerate launch -m heapmetric.cli finetune ...``
(``SFTTrainer`` is a transformers ``Trainer``, which runs under accelerate). The output folder holds the
adapter (or the full model), the tokenizer, ``finetune.json`` (config, data, losses, versions) and a model card.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run (see :func:`finetune`)."""

    data: str
    output_dir: str
    model: str = "smollm2"
    max_length: int = 1024
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = "all-linear"
    quantization: str | None = None
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    save_steps: int = 200
    save_total_limit: int = 2
    logging_steps: int = 5
    eval_fraction: float = 0.0
    seed: int = 0
    resume: bool = False
    limit: int | None = None

    def check(self) -> None:
        """Raise :class:`InputError` naming the first impossible setting."""
        rules = [
            (self.max_length >= 16, "max_length", "must be at least 16"),
            (self.batch_size >= 1, "batch_size", "must be at least 1"),
            (self.grad_accum >= 1, "grad_accum", "must be at least 1"),
            (self.learning_rate > 0, "learning_rate", "must be positive"),
            (self.epochs > 0 or self.max_steps > 0, "epochs", "must be positive (or set max_steps)"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)"),
            (self.lora_r >= 0, "lora_r", "must be >= 0 (0 = full fine-tuning)"),
            (0 <= self.eval_fraction < 1, "eval_fraction", "must be in [0, 1)"),
            (
                self.precision in ("auto", "fp32", "bf16", "fp16"),
                "precision",
                "must be auto, fp32, bf16 or fp16",
            ),
            (self.quantization in (None, "4bit", "8bit"), "quantization", "must be 4bit or 8bit"),
            (not (self.quantization and self.lora_r == 0), "quantization", "needs LoRA (lora_r > 0): QLoRA"),
        ]
        for ok, key, why in rules:
            if not ok:
                raise InputError(
                    f"{key} {why}, got {getattr(self, key)!r}", field=f"--{key.replace('_', '-')}"
                )


@dataclass
class FinetuneResult:
    """Where the model went and what training did (losses as logged by the trainer)."""

    output_dir: str
    train_examples: int
    eval_examples: int
    steps: int
    first_loss: float | None
    last_loss: float | None
    eval_loss_before: float | None
    eval_loss_after: float | None
    elapsed_s: float


def _tokenized(tokenizer: Any, conversations: list[Any], max_length: int) -> tuple[list[dict[str, Any]], int]:
    from heapmetric.finetune.data import tokenize_conversation

    rows, dropped = [], 0
    for conv in conversations:
        row = tokenize_conversation(tokenizer, conv, max_length)
        if all(label == -100 for label in row["labels"]):
            dropped += 1  # the assistant reply lies beyond max_length
            continue
        rows.append(row)
    return rows, dropped


def _precision(cfg: FinetuneConfig, device: str) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    import torch

    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def finetune(cfg: FinetuneConfig, *, callbacks: list[Any] | None = None) -> FinetuneResult:
    """Fine-tune ``cfg.model`` on ``cfg.data`` and save adapter/model, tokenizer, ``finetune.json`` and a card.

    Raises :class:`InputError` for bad settings or data, :class:`ModelLoadError` for a model that cannot load,
    and :class:`UnsupportedError` for a device or quantization this machine lacks."""
    cfg.check()
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from heapmetric.finetune.card import model_card
    from heapmetric.finetune.data import load_conversations
    from heapmetric.io import write_json
    from heapmetric.llm.local import load_chat_model, resolve_local_model, trainable_copy
    from heapmetric.scoring.device import bnb_config, library_versions, resolve_device

    started = time.monotonic()
    device = resolve_device(cfg.device)
    precision = _precision(cfg, device)
    data = load_conversations(cfg.data)
    conversations = data.conversations[: cfg.limit] if cfg.limit else data.conversations
    path, gguf = resolve_local_model(cfg.model)
    torch.manual_seed(cfg.seed)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    quant = bnb_config(cfg.quantization, dtype, device)
    if quant is None:
        tokenizer, model = load_chat_model(path, gguf, device=device, dtype=None, name=cfg.model)
        model = trainable_copy(model)  # a GGUF model (SmolLM2) is dequantized but still marked quantized
        model.train()
    else:  # QLoRA: quantized base weights, loaded straight to the device
        from peft import prepare_model_for_kbit_training
        from transformers import AutoTokenizer

        kwargs: dict[str, Any] = {"local_files_only": not Path(path).is_dir()}
        if gguf:
            kwargs["gguf_file"] = gguf
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            path, quantization_config=quant, dtype=dtype, device_map={"": device}, **kwargs
        )
        model = prepare_model_for_kbit_training(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows, dropped = _tokenized(tokenizer, conversations, cfg.max_length)
    if dropped:
        data.skipped["reply_beyond_max_length"] = dropped
    if not rows:
        raise InputError(f"no conversation has an assistant token within max_length {cfg.max_length}")
    n_eval = int(len(rows) * cfg.eval_fraction)
    dataset = Dataset.from_list(rows).shuffle(seed=cfg.seed)
    train_ds = dataset.select(range(n_eval, len(rows)))
    eval_ds = dataset.select(range(n_eval)) if n_eval else None

    peft_config = None
    if cfg.lora_r > 0:
        from peft import LoraConfig

        targets: Any = cfg.lora_targets if cfg.lora_targets == "all-linear" else cfg.lora_targets.split(",")
        peft_config = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
        )
    out = Path(cfg.output_dir)
    args = SFTConfig(
        output_dir=str(out),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a share of the steps
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        eval_strategy="no",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        seed=cfg.seed,
        data_seed=cfg.seed,
        max_length=cfg.max_length,
        report_to="none",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=not log.isEnabledFor(logging.INFO),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    eval_before = trainer.evaluate()["eval_loss"] if eval_ds is not None and not cfg.resume else None
    resume = None
    if cfg.resume:
        checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        resume = str(checkpoints[-1]) if checkpoints else None
        log.info("resuming from %s", resume or "scratch (no checkpoint yet)")
    trainer.train(resume_from_checkpoint=resume)
    eval_after = trainer.evaluate()["eval_loss"] if eval_ds is not None else None
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    if trainer.is_world_process_zero():
        trainer.save_model(str(out))
        tokenizer.save_pretrained(str(out))
    result = FinetuneResult(
        output_dir=str(out),
        train_examples=len(train_ds),
        eval_examples=n_eval,
        steps=trainer.state.global_step,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        eval_loss_before=eval_before,
        eval_loss_after=eval_after,
        elapsed_s=round(time.monotonic() - started, 1),
    )
    info = {
        "base_model": cfg.model,
        "adapter": peft_config is not None,
        "config": asdict(cfg),
        "device": device,
        "precision": precision,
        "data": data.describe(),
        "result": asdict(result),
        "log_history": trainer.state.log_history,
        "versions": {**library_versions(), **_versions("trl", "peft", "accelerate")},
    }
    if trainer.is_world_process_zero():
        write_json(out / "finetune.json", _finite(info))
        from heapmetric.io import atomic_write

        with atomic_write(out / "README.md") as handle:
            handle.write(model_card(info))
    return result


def _versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _finite(obj: Any) -> Any:
    """NaN/inf floats as None, so the JSON is valid."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
