"""``heapmetric robustness``: how often judges prefer real outputs to rule-based perturbations of them.

``heapmetric robustness [--model PATH|default] [--judge SPEC ...] [--data-dir DIR] [--split test] [--per-cell N]
[--pairs FILE] [--only NAME ...] [--min-rate R] -o OUTDIR`` prints a perturbation × criterion table, writes
``OUTDIR/robustness.{json,md}`` and one heatmap per judge, and with ``--min-rate`` exits 1 when a cell of any
judge is below it.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "robustness",
        help="robustness suite: does a judge prefer real outputs to perturbed ones?",
        description="For every perturbation × criterion in heapmetric/data/perturbation_targets.yaml, make "
        "pairs (real output, perturbed output) from one split of a 'data build' folder and report how often "
        "each judge scores the original higher (ties count half), with Wilson intervals.",
    )
    p.add_argument(
        "--model",
        metavar="PATH|default",
        help="a heapmetric checkpoint folder, or 'default' for the embedded metric (same as --judge heapmetric)",
    )
    p.add_argument(
        "--judge",
        action="append",
        default=[],
        metavar="SPEC",
        help="a judge spec (repeatable): heapmetric[:MODEL], length, rougeL, embed-src, generative:MODEL, ...",
    )
    p.add_argument(
        "--data-dir", default="data_build", help="a folder written by 'data build' (default: ./data_build)"
    )
    p.add_argument(
        "--pairs",
        metavar="FILE",
        help="use these robustness pairs (a 'data perturb' split file) instead of making them from --data-dir",
    )
    p.add_argument(
        "--split", choices=["train", "validation", "test"], default="test", help="which split (default test)"
    )
    p.add_argument(
        "--per-cell", type=count_type(1), default=50, metavar="N", help="pairs per cell at most (default 50)"
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these perturbations")
    p.add_argument("--seed", type=int, default=0, help="seed of the pair draws (default 0)")
    p.add_argument(
        "--batch-size", type=count_type(1), default=None, help="judge batch size (default: the judge's)"
    )
    p.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    p.add_argument(
        "--min-rate",
        type=float,
        default=None,
        metavar="R",
        help="exit 1 when any cell of any judge has a rate below R (e.g. 0.9)",
    )
    p.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="OUTDIR",
        help="output folder; writes robustness.json, robustness.md and heatmap_JUDGE.png per judge",
    )
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from heapmetric.errors import InputError
    from heapmetric.io import check_output
    from heapmetric.judges.spec import load_judge
    from heapmetric.metaeval import robustness as rb

    check_output(args.out, folder=True, flag="--out")
    specs = list(args.judge)
    if args.model:
        specs.insert(0, "heapmetric" if args.model == "default" else f"heapmetric:{args.model}")
    if not specs:
        raise InputError("name at least one judge with --model or --judge", field="--judge")
    if args.min_rate is not None and not 0 <= args.min_rate <= 1:
        raise InputError(f"must be in [0, 1], got {args.min_rate}", field="--min-rate")
    data_dir = Path(args.data_dir)
    if args.pairs:
        from heapmetric.records import Preference, read_records

        records = read_records(args.pairs)
        pairs = [
            r
            for r in records
            if isinstance(r, Preference) and (not args.only or r.meta.get("perturbation") in args.only)
        ]
        pairs = rb.cap_cells(pairs, args.per_cell, seed=args.seed)
        origin = args.pairs
    else:
        if not data_dir.is_dir():
            raise InputError("data folder not found (run `heapmetric data build` first)", file=str(data_dir))
        pairs = rb.suite_pairs(data_dir, args.split, per_cell=args.per_cell, seed=args.seed, only=args.only)
        origin = f"{data_dir} ({args.split})"
    if not pairs:
        raise InputError("no robustness pairs could be made", file=str(args.pairs or data_dir))
    if not args.quiet:
        print(f"{len(pairs)} pairs from {origin}", file=sys.stderr)
    results = []
    for spec in specs:
        judge = load_judge(spec)
        start = time.perf_counter()
        result = rb.run_suite(
            judge, pairs, batch_size=args.batch_size, confidence=args.confidence, show_progress=not args.quiet
        )
        result.metadata.update({"spec": spec, "seconds": round(time.perf_counter() - start, 1)})
        results.append(result)
    info = {
        "data_dir": None if args.pairs else str(data_dir),
        "pairs_file": args.pairs,
        "split": None if args.pairs else args.split,
        "per_cell": args.per_cell,
        "seed": args.seed,
        "confidence": args.confidence,
        "pairs": len(pairs),
    }
    paths = rb.write_report(results, args.out, info=info)
    print(rb.pooled_table(results) + "\n\n" + rb.markdown_table(results))
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    if args.min_rate is not None:
        failing = [(r.judge, c) for r in results for c in r.below(args.min_rate)]
        for judge, c in failing:
            print(
                f"below {args.min_rate}: {judge} {c.perturbation} × {c.criterion}: {c.rate:.2f} (n={c.n})",
                file=sys.stderr,
            )
        if failing:
            return 1
    return 0
