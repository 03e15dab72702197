"""How much a metric's scores follow the output's length, beside how much they follow the human grades.

For the graded records of one dataset × criterion of a ``data build`` split, prints the Spearman correlation of
each model's scores with the output's length in words and with the human grades, and the humans' own
correlation with length (the length dependence that is earned):

    .venv/bin/python benchmarks/length_dependence.py --dataset summeval --criterion coherence \\
        --models runs/v1_model runs/v2_robust_model [--out results.json]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data_build", help="a `heapmetric data build` folder")
    p.add_argument("--dataset", required=True)
    p.add_argument("--criterion", required=True)
    p.add_argument("--split", default="test")
    p.add_argument(
        "--models", nargs="+", required=True, help="model folders (or names heapmetric.load takes)"
    )
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = p.parse_args()

    import heapmetric
    from heapmetric.errors import InputError
    from heapmetric.io import write_json
    from heapmetric.records import Judgement, read_records
    from heapmetric.stats.correlation import spearman

    path = Path(args.data) / args.dataset / f"{args.split}.jsonl"
    records = [r for r in read_records(path) if isinstance(r, Judgement) and r.criterion == args.criterion]
    if not records:
        raise InputError(f"no graded records for criterion {args.criterion!r}", file=str(path))
    lengths = [len(r.output.split()) for r in records]
    human = [r.score for r in records]
    task = records[0].task
    items = [
        {"output": r.output, "source": r.source, "context": r.context, "references": r.all_references or None}
        for r in records
    ]
    rows = [{"judge": "human grades", "vs_length": spearman(human, lengths), "vs_human": 1.0}]
    for model in args.models:
        metric = heapmetric.load(model)
        scores = metric.score(items, task=task, criterion=args.criterion).scores
        rows.append(
            {"judge": model, "vs_length": spearman(scores, lengths), "vs_human": spearman(scores, human)}
        )
    print(
        f"{args.dataset}/{task}/{args.criterion}, {args.split} split, {len(records)} graded outputs (Spearman)\n"
    )
    print("| judge | with length in words | with human grades |\n|---|---:|---:|")
    for row in rows:
        print(f"| {row['judge']} | {row['vs_length']:+.3f} | {row['vs_human']:+.3f} |")
    if args.out:
        write_json(
            args.out, {"data": str(path), "criterion": args.criterion, "n": len(records), "rows": rows}
        )


if __name__ == "__main__":
    main()
