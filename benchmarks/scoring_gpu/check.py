"""GPU checks of the scoring engine (run on a CUDA machine; inputs built by ``prepare.py`` on the CPU).

    .venv/bin/python benchmarks/scoring_gpu/prepare.py            # here: checkpoint, items, CPU fp32 reference
    PYTHONPATH=.gpu/site:. python3 benchmarks/scoring_gpu/check.py  # there, with .gpu/ carried

Checks device/dtype/quantization paths (cuda fp32, bf16, fp16, 8-bit, 4-bit nf4) against the CPU fp32 scores,
batch-size invariance on CUDA, speed of sorted vs fixed vs one-at-a-time batching, and the CLI on CUDA.
Writes ``$OUT/gpu_check.json`` (copied to ``benchmarks/results/scoring_gpu_check.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback

import torch
import transformers
from scipy.stats import spearmanr

import heapmetric
from heapmetric.scoring.batching import padding_fraction, plan_batches
from heapmetric.scoring.inputs import build_items, criterion_of
from heapmetric.scoring.render import collate, encode, pad_token_id, render

TASK = {"task": "summarization", "criterion": "coherence"}
CONFIGS = [("fp32", None), ("bf16", None), ("fp16", None), ("fp32", "8bit"), ("bf16", "4bit")]


def timed(fn):
    torch.cuda.synchronize()
    start = time.time()
    value = fn()
    torch.cuda.synchronize()
    return value, time.time() - start


def max_diff(a, b):
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def speed_modes(metric, items):
    its = build_items(items, **TASK)
    enc = encode(metric.tokenizer, [render(i, criterion_of(i)) for i in its], 256)
    lengths = [len(e.input_ids) for e in enc]
    plans = {
        "sorted": plan_batches(lengths, max_tokens=16384, max_batch_size=64),
        "fixed32": plan_batches(lengths, max_tokens=None, max_batch_size=32, sort=False),
        "one": plan_batches(lengths, max_tokens=None, max_batch_size=1, sort=False),
    }
    modes = {}
    for name, plan in plans.items():

        def run(plan=plan):
            with torch.inference_mode():
                for b in plan:
                    e = collate([enc[i].input_ids for i in b.indices], pad_token_id(metric.tokenizer))
                    metric.model(input_ids=e["input_ids"].cuda(), attention_mask=e["attention_mask"].cuda())

        _, seconds = timed(run)
        modes[name] = {
            "items_per_s": len(lengths) / seconds,
            "tokens_per_s": sum(lengths) / seconds,
            "padding_fraction": padding_fraction(lengths, plan),
        }
    return modes


def main() -> None:
    out = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "transformers": transformers.__version__,
    }
    data = json.load(open(".gpu/items.json"))
    items, ref = data["items"], data["cpu_fp32"]
    results = {}
    for dtype, q in CONFIGS:
        key = dtype + (f"+{q}" if q else "")
        try:
            start = time.time()
            metric = heapmetric.load(".gpu/minilm_ckpt", device="cuda", dtype=dtype, quantization=q)
            load_s = time.time() - start
            metric.score(items[:8], **TASK)  # warm-up
            result, seconds = timed(lambda m=metric: m.score(items, **TASK))
            row = {
                "spearman_vs_cpu_fp32": float(spearmanr(ref, result.scores).statistic),
                "max_abs_diff_vs_cpu_fp32": max_diff(ref, result.scores),
                "items_per_s": len(items) / seconds,
                "load_s": load_s,
                "meta_device": result.metadata["device"],
                "meta_dtype": result.metadata["dtype"],
                "meta_quant": result.metadata["quantization"],
            }
            if key == "fp32":
                b1, b3, b32 = (metric.score(items[:64], **TASK, batch_size=bs).scores for bs in (1, 3, 32))
                row["batch_1_vs_3_max_diff"], row["batch_1_vs_32_max_diff"] = (
                    max_diff(b1, b3),
                    max_diff(b1, b32),
                )
            if key in ("fp32", "bf16"):
                row["speed_modes"] = speed_modes(metric, items)
        except Exception as exc:  # record and go on: one failing path must not hide the others
            row = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-1500:]}
        results[key] = row
        print(key, json.dumps(row)[:400], flush=True)
    out["results"] = results
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "heapmetric.cli",
            "score",
            "-i",
            "heapmetric/examples/summaries.jsonl",
            *sum((["--" + k, v] for k, v in TASK.items()), []),
            "--model",
            ".gpu/minilm_ckpt",
            "--device",
            "cuda",
            "--dtype",
            "bf16",
            "--quantize",
            "8bit",
        ],
        capture_output=True,
        text=True,
    )
    out["cli_rc"], out["cli_stdout_lines"], out["cli_stderr"] = (
        cli.returncode,
        len(cli.stdout.splitlines()),
        cli.stderr[-800:],
    )
    with open(os.path.join(os.environ.get("OUT", "."), "gpu_check.json"), "w") as handle:
        json.dump(out, handle, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "results"}))


if __name__ == "__main__":
    main()
