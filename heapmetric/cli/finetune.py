"""``heapmetric finetune``: supervised fine-tuning (TRL SFTTrainer + peft LoRA/QLoRA) on synthesized data.

    heapmetric finetune --data runs/refed/reference --model smollm2 --out runs/sft-reference

Multi-GPU: ``accelerate launch -m heapmetric.cli finetune ...``. See ``heapmetric/finetune/sft.py``.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "finetune",
        help="fine-tune a chat model (LoRA/QLoRA, assistant tokens only) on synth output or chat data",
        description="SFT with TRL's SFTTrainer and peft. DATA is a `heapmetric synth` output folder, a chat "
        "JSONL file (messages, instruction/response or prompt/completion) or a datasets folder. Writes the "
        "adapter (or full model), tokenizer, finetune.json and a model card to --out; checkpoints there.",
    )
    p.add_argument("--data", required=True, help="synth output folder, chat JSONL or datasets folder")
    p.add_argument(
        "--model", default="smollm2", help="base chat model: folder, Hub id in the cache, .gguf, smollm2"
    )
    p.add_argument("--out", required=True, help="output folder (checkpoints, adapter, card)")
    p.add_argument(
        "--max-length", type=count_type(16), default=1024, help="tokens per conversation (default 1024)"
    )
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument(
        "--max-steps",
        type=count_type(1),
        default=-1,
        help="stop after N optimizer steps (overrides --epochs)",
    )
    p.add_argument("--batch-size", type=count_type(1), default=4, help="per device (default 4)")
    p.add_argument("--grad-accum", type=count_type(1), default=1)
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    p.add_argument("--scheduler", default="cosine", help="linear, cosine, constant ... (default cosine)")
    p.add_argument("--warmup-ratio", type=float, default=0.03)
    p.add_argument(
        "--lora-r", type=count_type(0), default=16, help="LoRA rank; 0 = full fine-tuning (default 16)"
    )
    p.add_argument("--lora-alpha", type=count_type(1), default=32)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--lora-targets", default="all-linear", help="all-linear or comma-separated module names")
    p.add_argument("--qlora", action="store_true", help="4-bit NF4 base weights (bitsandbytes), LoRA on top")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument(
        "--save-steps", type=count_type(1), default=200, help="checkpoint every N steps (default 200)"
    )
    p.add_argument("--save-total-limit", type=count_type(1), default=2)
    p.add_argument("--logging-steps", type=count_type(1), default=5)
    p.add_argument("--eval-fraction", type=float, default=0.0, help="share held out for a loss before/after")
    p.add_argument("--seed", type=count_type(0), default=0)
    p.add_argument("--limit", type=count_type(1), help="only the first N conversations")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heapmetric.finetune.sft import FinetuneConfig, finetune
    from heapmetric.io import check_output

    check_output(args.out, folder=True, flag="--out")

    cfg = FinetuneConfig(
        data=args.data,
        output_dir=args.out,
        model=args.model,
        max_length=args.max_length,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        learning_rate=args.lr,
        lr_scheduler=args.scheduler,
        warmup_ratio=args.warmup_ratio,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_targets=args.lora_targets,
        quantization="4bit" if args.qlora else None,
        device=args.device,
        precision=args.precision,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        logging_steps=args.logging_steps,
        eval_fraction=args.eval_fraction,
        seed=args.seed,
        resume=args.resume,
        limit=args.limit,
    )
    result = finetune(cfg)
    if not args.quiet:
        print(
            f"finetune: {result.train_examples} conversations, {result.steps} steps, loss "
            f"{result.first_loss} -> {result.last_loss}, {result.elapsed_s} s -> {result.output_dir}"
        )
    return 0
