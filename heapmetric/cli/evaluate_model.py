"""``heapmetric evaluate-model``: test-split results of a trained metric (or any judge) per dataset × criterion.

Pairwise accuracy, Kendall tau-b and Spearman per ``dataset/task/criterion`` group, measured exactly as the
trainer measures validation (:mod:`training.evaluation`), so models and baselines compare like for like.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "evaluate-model",
        help="test-split results of a trained metric per dataset x criterion",
        description="Evaluate a metric checkpoint (--model) or any judge spec (--judge) on a split of "
        "converted data: pairwise accuracy, Kendall tau-b and Spearman per group.",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="checkpoint folder (heapmetric.json), e.g. heapmetric/models/default")
    who.add_argument("--judge", help="a judge spec (length, rougeL, embed-ref, heapmetric:DIR, ...)")
    p.add_argument("--data", default="data_build", help="converted data folder (default: data_build)")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--datasets", nargs="+", help="only these datasets")
    p.add_argument("--tasks", nargs="+", help="only these tasks")
    p.add_argument(
        "--max-per-group", type=count_type(1), help="subsample each group (whole inputs) to at most N outputs"
    )
    p.add_argument("--batch-size", type=count_type(1), default=32)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--out", help="write the results JSON here (a .md beside it gets the table)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from heapmetric.io import atomic_write, write_json
    from training.evaluation import markdown_table
    from training.protocols import evaluate_on_split, judge_score_fn, model_score_fn

    if args.out:
        from heapmetric.io import check_output

        check_output(args.out, flag="--out")
        check_output(Path(args.out).with_suffix(".md"), flag="--out")
    if args.model:
        score_fn, name = (
            model_score_fn(args.model, device=args.device, batch_size=args.batch_size),
            args.model,
        )
    else:
        score_fn, name = judge_score_fn(args.judge, batch_size=args.batch_size), args.judge
    result = evaluate_on_split(
        score_fn,
        args.data,
        args.split,
        datasets=args.datasets,
        tasks=args.tasks,
        max_per_group=args.max_per_group,
    )
    result = {"judge": name, "split": args.split, "data": str(args.data), **result}
    table = markdown_table(result["groups"])
    summary = (
        f"mean pairwise accuracy {_f(result['mean_pairwise_accuracy'])}, mean Kendall "
        f"{_f(result['mean_kendall'])}, mean Spearman {_f(result['mean_spearman'])}"
    )
    if args.out:
        write_json(args.out, result)
        with atomic_write(Path(args.out).with_suffix(".md")) as handle:
            handle.write(f"# {name} on {args.split}\n\n{table}\n\n{summary}\n")
    print(table)
    print(summary, file=sys.stderr if args.quiet else sys.stdout)
    return 0


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"
