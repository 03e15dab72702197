"""Memory and speed of an 8B reward model in bf16, 8-bit and 4-bit (bitsandbytes), and how well the
quantized scores agree with bf16. Nothing is downloaded: the model is built from Llama-3.1-8B's published
config with random weights (seeded, so every mode sees identical weights).

The reward model is what ``heapmetric`` serves for a decoder backbone: ``LlamaModel`` + a scalar linear
head on the last non-padding token. For each mode the script builds the bf16 model directly on the device
(meta device, then ``to_empty`` + seeded init), replaces every decoder ``nn.Linear`` with its bitsandbytes
counterpart (``Linear8bitLt`` with the LLM.int8 threshold 6.0, or ``Linear4bit`` nf4 with double
quantization and bf16 compute, as ``BitsAndBytesConfig`` would), then scores fixed random token sequences:
tokens/s over timed repeats after a warm-up, model memory, and peak memory during scoring. Agreement:
Spearman and Pearson of each quantized mode's scores with the bf16 scores.

    python benchmarks/gpu/quant_8b.py --out "$OUT/quant_8b.json"        # on a CUDA machine
    python benchmarks/gpu/quant_8b.py --tiny --device cpu --out /tmp/q.json   # a 2-layer smoke test

Random weights are a stand-in: throughput and memory are those of the real architecture; agreement on a
random network says how much quantization perturbs this function, not how a trained metric's accuracy moves.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from typing import Any

import torch
from torch import nn

# Llama-3.1-8B, as published in its config.json
LLAMA_31_8B = dict(
    hidden_size=4096,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=14336,
    vocab_size=128256,
    max_position_embeddings=131072,
    rms_norm_eps=1e-5,
    rope_theta=500000.0,
    hidden_act="silu",
    tie_word_embeddings=False,
    rope_scaling={
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
)
TINY = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    vocab_size=1000,
    max_position_embeddings=1024,
    rms_norm_eps=1e-5,
    rope_theta=500000.0,
    hidden_act="silu",
    tie_word_embeddings=False,
)


class RewardLM(nn.Module):
    """Backbone + scalar head on the last non-padding token (right padding)."""

    def __init__(self, backbone: nn.Module, hidden: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(hidden, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        last = attention_mask.sum(dim=1) - 1
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return self.head(pooled.to(self.head.weight.dtype)).squeeze(-1).float()


def build(config_kw: dict, device: str, seed: int) -> RewardLM:
    """The bf16 reward model, allocated directly on ``device`` and initialised from ``seed``."""
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(**config_kw, torch_dtype=torch.bfloat16)
    with torch.device("meta"):
        model = RewardLM(LlamaModel(config), config.hidden_size)
    model = model.to_empty(device=device).to(torch.bfloat16)
    gen = torch.Generator(device=device).manual_seed(seed)
    std = config.initializer_range
    with torch.no_grad():
        for name, p in model.named_parameters():  # fixed order -> identical weights in every mode
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, std, generator=gen)
    # rotary buffers were created on meta: rebuild the module for real (its signature varies by version)
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    try:
        rotary = LlamaRotaryEmbedding(config, device=device)
    except TypeError:
        rotary = LlamaRotaryEmbedding(config)
    model.backbone.rotary_emb = rotary.to(device)
    return model.eval()


def quantize(model: RewardLM, mode: str, device: str) -> int:
    """Replace every decoder ``nn.Linear`` by its bitsandbytes counterpart, in place; returns how many."""
    import bitsandbytes as bnb

    count = 0
    for layer in model.backbone.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, old in list(parent.named_children()):
                if not isinstance(old, nn.Linear):
                    continue
                weight = old.weight.data.to("cpu")  # bnb quantizes when a CPU parameter moves to the device
                if mode == "8bit":
                    new = bnb.nn.Linear8bitLt(
                        old.in_features,
                        old.out_features,
                        bias=old.bias is not None,
                        has_fp16_weights=False,
                        threshold=6.0,
                    )
                    new.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False)
                else:
                    new = bnb.nn.Linear4bit(
                        old.in_features,
                        old.out_features,
                        bias=old.bias is not None,
                        compute_dtype=torch.bfloat16,
                        compress_statistics=True,
                        quant_type="nf4",
                    )
                    new.weight = bnb.nn.Params4bit(
                        weight, requires_grad=False, compress_statistics=True, quant_type="nf4", module=new
                    )
                if old.bias is not None:
                    new.bias = nn.Parameter(old.bias.data.to("cpu"), requires_grad=False)
                setattr(parent, name, new.to(device))
                del old, weight
                count += 1
    return count


def make_inputs(n: int, seq_len: int, vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random sequences with lengths in [seq_len/2, seq_len], right-padded."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(seq_len // 2, seq_len + 1, (n,), generator=gen)
    ids = torch.randint(0, vocab, (n, seq_len), generator=gen)
    mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    return ids * mask, mask


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def score_all(model: RewardLM, ids: torch.Tensor, mask: torch.Tensor, batch: int, device: str) -> list[float]:
    out: list[float] = []
    with torch.inference_mode():
        for i in range(0, len(ids), batch):
            out += model(ids[i : i + batch].to(device), mask[i : i + batch].to(device)).cpu().tolist()
    return out


def run_mode(
    mode: str, args: argparse.Namespace, config_kw: dict, ids: torch.Tensor, mask: torch.Tensor
) -> tuple[dict[str, Any], list[float]]:
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model = build(config_kw, args.device, args.seed)
    built = time.perf_counter() - t0
    replaced = quantize(model, mode, args.device) if mode != "bf16" else 0
    sync(args.device)
    prepared = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    model_bytes = torch.cuda.memory_allocated() if cuda else None
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    score_all(model, ids[: args.batch], mask[: args.batch], args.batch, args.device)  # warm-up
    sync(args.device)
    times, scores = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        scores = score_all(model, ids, mask, args.batch, args.device)
        sync(args.device)
        times.append(time.perf_counter() - t)
    tokens = int(mask.sum())
    result = {
        "mode": mode,
        "linear_layers_quantized": replaced,
        "parameters_reported": params,
        "build_s": round(built, 2),
        "prepare_s": round(prepared, 2),
        "model_memory_gib": None if model_bytes is None else round(model_bytes / 2**30, 3),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "tokens_per_s": tokens / min(times),
        "tokens_per_s_mean": tokens * len(times) / sum(times),
        "items_per_s": len(ids) / min(times),
        "seconds_per_pass": [round(t, 3) for t in times],
    }
    del model
    gc.collect()
    return result, scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "quant_8b.json"))
    ap.add_argument("--tiny", action="store_true", help="a 2-layer config (CPU smoke test)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", nargs="+", default=["bf16", "8bit", "4bit"], choices=["bf16", "8bit", "4bit"])
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config_kw = TINY if args.tiny else LLAMA_31_8B
    if args.tiny:
        args.seq_len = min(args.seq_len, 64)
    started = time.perf_counter()
    ids, mask = make_inputs(args.items, args.seq_len, config_kw["vocab_size"], args.seed + 1)
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": args.device,
    }
    import transformers

    env["transformers"] = transformers.__version__
    if args.device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name()
    try:
        import bitsandbytes

        env["bitsandbytes"] = bitsandbytes.__version__
    except ImportError as exc:
        env["bitsandbytes"] = None
        missing = [m for m in args.modes if m != "bf16"]
        if missing:
            print(
                f"bitsandbytes is not importable ({exc}); measuring bf16 only, skipping {missing}",
                file=sys.stderr,
            )
            args.modes = [m for m in args.modes if m == "bf16"]

    results: dict[str, Any] = {}
    scores: dict[str, list[float]] = {}
    for mode in args.modes:
        try:
            results[mode], scores[mode] = run_mode(mode, args, config_kw, ids, mask)
            r = results[mode]
            print(
                f"{mode:>5}: {r['tokens_per_s']:10.0f} tokens/s  model {r['model_memory_gib']} GiB  "
                f"peak {r['peak_memory_gib']} GiB  prepare {r['prepare_s']} s",
                flush=True,
            )
        except Exception as exc:  # record and go on: one mode failing must not lose the others
            results[mode] = {"mode": mode, "error": f"{type(exc).__name__}: {exc}"}
            print(f"{mode}: failed: {exc}", file=sys.stderr, flush=True)
    if "bf16" in scores:
        from scipy.stats import pearsonr, spearmanr

        ref = scores["bf16"]
        for mode, s in scores.items():
            if mode != "bf16":
                results[mode]["spearman_vs_bf16"] = float(spearmanr(ref, s).statistic)
                results[mode]["pearson_vs_bf16"] = float(pearsonr(ref, s).statistic)
                results[mode]["max_abs_diff_vs_bf16"] = max(abs(a - b) for a, b in zip(ref, s, strict=True))
        results["bf16"]["score_std"] = float(torch.tensor(ref).std())
    report = {
        "benchmark": "quant_8b",
        "config": "tiny" if args.tiny else "Llama-3.1-8B (random weights)",
        "model_config": config_kw,
        "items": args.items,
        "seq_len_max": args.seq_len,
        "tokens_per_pass": int(mask.sum()),
        "batch": args.batch,
        "repeats": args.repeats,
        "environment": env,
        "results": results,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:  # written whole, then renamed: a killed run leaves no half file
        json.dump(report, f, indent=2)
    os.replace(tmp, args.out)
    print(
        json.dumps(
            {
                m: {k: r.get(k) for k in ("tokens_per_s", "peak_memory_gib", "spearman_vs_bf16", "error")}
                for m, r in results.items()
            },
            indent=1,
        )
    )
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
