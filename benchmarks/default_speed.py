"""CPU scoring speed of two checkpoints in the same run, each at its own max length (what users get).

    .venv/bin/python benchmarks/default_speed.py --a runs/v1_model --b heapmetric/models/default \
        --names v1 v2 [--items 192] [--rounds 3] [--out benchmarks/results/default_v2/speed.json]

Items: the mix of ``benchmarks/scoring_speed.py`` (SummEval articles + summaries, SummEval summaries alone,
Topical-Chat turns with history) plus AlpacaEval answers (gpt4_1106_preview, long), a quarter each. Each round
scores all items with model a, then b (sorted token-budget batching, the default), so machine load hits both
alike; items/s is the median over rounds and the ratio b/a is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def items(n: int) -> list[dict]:
    from benchmarks.scoring_speed import load_mix
    from heapmetric.env import data_dir

    mix = load_mix(n - n // 4)
    answers = json.loads((data_dir() / "alpacaeval" / "model_outputs" / "gpt4_1106_preview.json").read_text())
    rng = random.Random(0)
    picked = rng.sample(answers, n // 4)
    alpaca = [
        {
            "output": a["output"],
            "source": a["instruction"],
            "task": "instruction_following",
            "criterion": "overall",
        }
        for a in picked
    ]
    return mix + alpaca


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--names", nargs=2, default=["a", "b"])
    p.add_argument("--items", type=int, default=192)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out")
    args = p.parse_args(argv)
    import heapmetric

    its = items(args.items)
    models = {name: heapmetric.load(path) for name, path in zip(args.names, (args.a, args.b), strict=True)}
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, m in models.items():
            t = time.perf_counter()
            m.score(its, show_progress=False)
            times[name].append(time.perf_counter() - t)
    rate = {name: len(its) / statistics.median(ts) for name, ts in times.items()}
    a, b = args.names
    result = {
        "items": len(its),
        "rounds": args.rounds,
        "max_length": {name: m.info.metadata.get("max_length") for name, m in models.items()},
        "items_per_s": rate,
        "ratio_b_over_a": rate[b] / rate[a],
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        from heapmetric.io import write_json

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
