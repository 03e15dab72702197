"""``heapmetric protocol single-task|multi-task|held-out``: the HEAP paper's training protocols.

Trains one model per run of the protocol (resumable, see :mod:`training.protocols`) and writes the results table
as ``<out>/<protocol>.md`` and ``<out>/<protocol>.json``.
"""

from __future__ import annotations

import argparse

PROTOCOLS = ("single-task", "multi-task", "held-out")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "protocol",
        help="run a HEAP training protocol (single-task, multi-task, held-out)",
        description="Train and test per protocol: single-task (train and test on each task), "
        "multi-task (train on all, test on each), held-out (train on all tasks but "
        "one, test on it). Writes a results table (markdown + JSON).",
    )
    p.add_argument("protocol", choices=PROTOCOLS)
    p.add_argument("--config", required=True, help="training config (training/configs/*.yaml)")
    p.add_argument("--out", required=True, help="folder for the runs and the results table")
    p.add_argument("--tasks", nargs="+", help="only these tasks (default: every task in the data)")
    p.add_argument("--split", default="test", choices=["validation", "test"], help="split to test on")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (value parsed as YAML); repeatable",
    )
    p.add_argument(
        "--max-per-group", type=count_type(1), help="subsample each tested group to at most N outputs"
    )
    p.add_argument("--device", default="auto", help="device for testing: auto | cpu | cuda")
    p.add_argument(
        "--baselines",
        nargs="*",
        default=[],
        metavar="NAME",
        help="also score these baselines on the tested groups and compare per task "
        "(length, rougeL, minilm-cosine; e.g. --baselines length minilm-cosine)",
    )
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heapmetric.cli.train import parse_overrides
    from heapmetric.errors import InputError
    from heapmetric.io import check_output
    from training.config import load_config
    from training.model_card import BASELINES
    from training.protocols import protocol_markdown, run_protocol

    check_output(args.out, folder=True, flag="--out")
    unknown = [b for b in args.baselines if b not in BASELINES]
    if unknown:
        raise InputError(
            f"unknown baseline {unknown[0]!r} (expected {', '.join(BASELINES)})", field="--baselines"
        )
    cfg = load_config(args.config, **parse_overrides(args.overrides))
    result = run_protocol(
        args.protocol,
        cfg,
        args.out,
        tasks=args.tasks,
        split=args.split,
        progress=not args.quiet,
        eval_max_per_group=args.max_per_group,
        device=args.device,
        baselines=args.baselines,
    )
    if not args.quiet:
        print(protocol_markdown(result))
    return 0
