"""The model card (``README.md``, Hugging Face format) of a ``heapmetric finetune`` output folder."""

from __future__ import annotations

import json
from typing import Any


def _f(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def model_card(info: dict[str, Any]) -> str:
    """A card from ``finetune.json``'s content: base model, method, the data it was trained on (for
    synthesized data: mode, generator, prompt set, filters and sizes), hyperparameters and losses."""
    cfg, data, res = info["config"], info["data"], info["result"]
    syn = data.get("synthesis")
    method = (
        f"LoRA (r={cfg['lora_r']}, alpha={cfg['lora_alpha']}, dropout={cfg['lora_dropout']}, "
        f"targets {cfg['lora_targets']})"
        + (f" on {cfg['quantization']} quantized weights (QLoRA)" if cfg.get("quantization") else "")
        if info["adapter"]
        else "full fine-tuning"
    )
    lines = [
        "---",
        f"base_model: {info['base_model']}",
        "library_name: peft" if info["adapter"] else "library_name: transformers",
        "tags:",
        "- heapmetric",
        "- sft",
        "- trl",
        *(["- refed", "- synthetic-data"] if syn else []),
        "---",
        "",
        f"# {info['base_model']} fine-tuned with heapmetric finetune",
        "",
        f"Supervised fine-tuning with TRL's `SFTTrainer` and {method}; the loss covers assistant tokens only "
        "(the chat template's rendering of each assistant turn, end-of-turn tokens included).",
        "",
        "## Training data",
        "",
        f"- source: `{data['source']}` ({data['kind']}), {data['conversations']} conversations; "
        f"skipped: {json.dumps(data.get('skipped') or {})}",
        f"- used: {res['train_examples']} for training, {res['eval_examples']} held out"
        + (f" (first {cfg['limit']} conversations)" if cfg.get("limit") else ""),
    ]
    if syn:
        lines += [
            f"- synthesis: `heapmetric synth` {syn.get('heapmetric_version')} in mode **{syn.get('mode')}**, "
            f"generator `{syn.get('generator')}`, prompt set `{syn.get('prompt_version')}`, "
            f"{syn.get('references_used')} references of `{syn.get('references')}`, "
            f"{syn.get('candidates')} candidates -> {syn.get('records')} records",
            f"- metric filter judge: `{syn.get('judge')}` ({syn.get('criterion')})",
            "",
            "| filter | params | in | kept | removed |",
            "|---|---|---:|---:|---:|",
            *(
                f"| {f['filter']} | `{json.dumps(f['params'])}` | {f['in']} | {f['kept']} | {f['removed']} |"
                for f in syn.get("filters", [])
            ),
        ]
    lines += [
        "",
        "## Training",
        "",
        f"- device {info['device']}, precision {info['precision']}, max length {cfg['max_length']} tokens",
        f"- epochs {cfg['epochs']}, max steps {cfg['max_steps']}, batch {cfg['batch_size']} x accumulation "
        f"{cfg['grad_accum']}, learning rate {cfg['learning_rate']} ({cfg['lr_scheduler']}, warmup "
        f"{cfg['warmup_ratio']}), seed {cfg['seed']}",
        f"- steps {res['steps']}, {res['elapsed_s']} s; training loss first {_f(res['first_loss'])}, "
        f"last {_f(res['last_loss'])}; held-out loss before {_f(res['eval_loss_before'])}, "
        f"after {_f(res['eval_loss_after'])}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in sorted(info['versions'].items()))}",
        "",
        "## Use",
        "",
        "```bash",
        "heapmetric bench generate --benchmark alpacaeval --adapter THIS_FOLDER --out model_outputs.json"
        if info["adapter"]
        else "heapmetric bench generate --benchmark alpacaeval --model THIS_FOLDER --out model_outputs.json",
        "```",
        "",
        "The full configuration, the data summary and the trainer's log are in `finetune.json`.",
        "",
    ]
    return "\n".join(lines)
