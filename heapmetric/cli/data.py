"""``heapmetric data``: build the HEAP-format datasets from the raw human judgements, and count them.

``heapmetric data build [--data-dir DIR] [--out DIR] [--only NAME ...] [--aggregation mean|floor_mean|median]
[--max-pairs-per-item N]`` writes ``OUT/<dataset>/{train,validation,test}.jsonl`` and ``OUT/stats.json``
(default ``OUT``: ``./data_build``). ``heapmetric data stats DIR`` recounts a built folder from its files.
``heapmetric data list`` shows the converters and whether their source folders exist.
``heapmetric data perturb [--data-dir DIR] [--split S ...] [--per-group N] [--seed N] [--only NAME ...] [--out DIR]``
writes rule-based robustness pairs (original better than its perturbation) as ``OUT/{split}.jsonl`` +
``OUT/stats.json`` (default ``OUT``: ``DIR/perturbations``, ``DIR``: ``./data_build``). ``heapmetric data targets``
prints which perturbation breaks which criterion.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "data",
        help="build HEAP-format datasets from the human-judgement sources",
        description="Convert the human-judgement sources in $HEAPMETRIC_DATA into judgement and "
        "preference records split by input (train/validation/test).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    b = actions.add_parser("build", help="convert sources into OUT/<dataset>/{train,validation,test}.jsonl")
    b.add_argument(
        "--data-dir",
        help="folder with one sub-folder per source (default: $HEAPMETRIC_DATA, "
        "else ../shared/data beside the repository)",
    )
    b.add_argument(
        "--out",
        default="data_build",
        metavar="DIR",
        help="output folder (default: ./data_build); writes DATASET/train.jsonl, DATASET/validation.jsonl, "
        "DATASET/test.jsonl per dataset and stats.json",
    )
    b.add_argument("--only", nargs="+", metavar="NAME", help="build only these datasets (see 'data list')")
    b.add_argument(
        "--aggregation",
        default="mean",
        choices=["mean", "floor_mean", "median"],
        help="how several annotators' Likert ratings become one score (default: mean; HEAP used floor_mean)",
    )
    b.add_argument(
        "--max-pairs-per-item",
        type=count_type(0),
        default=None,
        metavar="N",
        help="keep at most N derived preference pairs per input and criterion (default: all)",
    )
    b.add_argument("--json", action="store_true", help="print the stats as JSON instead of a table")
    add_common(b)
    b.set_defaults(func=run)

    s = actions.add_parser(
        "stats", help="recount a built folder: records per dataset/task/criterion/split/kind"
    )
    s.add_argument("dir", help="a folder written by 'data build'")
    s.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    add_common(s)
    s.set_defaults(func=run)

    listing = actions.add_parser("list", help="list the converters and whether their source folders exist")
    listing.add_argument("--data-dir", help="folder with one sub-folder per source")
    add_common(listing)
    listing.set_defaults(func=run)

    pt = actions.add_parser(
        "perturb",
        help="robustness pairs: real outputs vs rule-based perturbations (shuffle, truncation, off-topic, ...)",
        description="From the good outputs of a built folder, make preference pairs 'original better than its "
        "perturbation' for the criteria each perturbation breaks (heapmetric/data/perturbation_targets.yaml). "
        "Each pair stays in the split of its original.",
    )
    pt.add_argument(
        "--data-dir", default="data_build", help="a folder written by 'data build' (default: ./data_build)"
    )
    pt.add_argument(
        "--split",
        nargs="+",
        choices=["train", "validation", "test"],
        default=["train", "validation", "test"],
        help="splits to write (default: all three)",
    )
    pt.add_argument(
        "--per-group",
        type=count_type(1),
        default=100,
        metavar="N",
        help="at most N pairs per perturbation and dataset/task/criterion group (default 100)",
    )
    pt.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    pt.add_argument("--only", nargs="+", metavar="NAME", help="only these perturbations")
    pt.add_argument("--out", help="output folder (default: DATA_DIR/perturbations)")
    pt.add_argument("--json", action="store_true", help="print the stats as JSON instead of a table")
    add_common(pt)
    pt.set_defaults(func=run)

    tg = actions.add_parser(
        "targets", help="print which perturbation breaks which criterion (the tables of docs/robustness.md)"
    )
    add_common(tg)
    tg.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from heapmetric.data import build as builder
    from heapmetric.env import data_dir

    if args.action == "stats":
        rows = builder.stats_from_files(Path(args.dir))
        print(json.dumps(rows, indent=1) if args.json else builder.format_table(rows))
        return 0
    if args.action == "targets":
        from heapmetric.data.perturbations import targets_markdown

        print(targets_markdown())
        return 0
    if args.action == "perturb":
        from heapmetric.data import perturbation_pairs as pp

        out = Path(args.out) if args.out else Path(args.data_dir) / pp.DATASET
        from heapmetric.io import check_output

        check_output(out, folder=True, flag="--out")
        stats = pp.build_pairs(
            Path(args.data_dir),
            args.split,
            out,
            per_group=args.per_group,
            seed=args.seed,
            only=args.only,
            report=None if args.quiet else lambda line: print(line, file=sys.stderr),
        )
        if not args.quiet:
            print(json.dumps(stats, indent=1) if args.json else pp.format_stats(stats))
        return 0
    if args.action == "list":
        from heapmetric.data import CONVERTERS, get_converter
        from heapmetric.errors import HeapmetricError

        root = data_dir(args.data_dir)
        for name in CONVERTERS:
            try:
                folder = root / get_converter(name).FOLDER
                state = "source present" if folder.is_dir() else f"source missing ({folder})"
            except HeapmetricError as exc:
                state = f"unavailable: {exc}"
            print(f"{name:<16} {state}")
        return 0

    from heapmetric.errors import InputError
    from heapmetric.io import check_output

    root = data_dir(args.data_dir)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder (give the raw datasets folder)", field="--data-dir")
    check_output(args.out, folder=True, flag="--out")
    quiet = args.quiet

    def report(line: str) -> None:
        if not quiet or ": skipped" in line or ": failed" in line:
            print(line, file=sys.stderr)

    results = builder.build(
        root,
        Path(args.out),
        only=args.only,
        aggregation=args.aggregation,
        max_pairs_per_item=args.max_pairs_per_item,
        report=report,
    )
    rows = [row for r in results if r.status == "built" for row in r.rows]
    if not quiet:
        if args.json:
            print(json.dumps(rows, indent=1))
        elif rows:
            print(builder.format_table(rows))
        print(f"wrote {Path(args.out) / builder.STATS_FILE}", file=sys.stderr)
    return 2 if any(r.status == "failed" for r in results) else 0
