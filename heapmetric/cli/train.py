"""``heapmetric train``: train a metric from a config file (``training/configs/*.yaml``).

Multi-GPU / multi-node: ``accelerate launch -m heapmetric.cli train --config FILE`` (the trainer uses
``accelerate``'s Accelerator, so the same command runs on one CPU, one GPU or many).

A config with ``head_fit: true`` fits only the linear head on the frozen encoder's features instead
(:mod:`training.head_fit`).

``heapmetric train --merge A B --merge-weight W --output DIR`` writes the weight interpolation
``(1 - W) * A + W * B`` of two trained metrics instead (:mod:`training.merge`), validated and calibrated.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common

    p = sub.add_parser(
        "train",
        help="train a metric on HEAP-format data from a config file",
        description="Train a reward-model metric (Bradley-Terry on pairs, optional pointwise loss) "
        "from a YAML config; writes metrics.jsonl, metrics.png, checkpoints and the "
        "final model folder under the output directory. With --merge, write the weight interpolation "
        "of two trained metrics instead (WiSE-FT).",
    )
    p.add_argument("--config", help="YAML config (see training/configs/); required unless --merge")
    p.add_argument("--output", help="run folder (overrides output_dir of the config)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in the run folder"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (value parsed as YAML), e.g. --set max_steps=100; repeatable",
    )
    p.add_argument("--check", action="store_true", help="validate the config and the data, then stop")
    p.add_argument(
        "--merge",
        nargs=2,
        metavar=("A", "B"),
        help="two trained model folders of one architecture (B usually trained from A with init_from): write "
        "(1 - W) * A + W * B to --output, validated and calibrated with B's training config",
    )
    p.add_argument(
        "--merge-weight",
        type=float,
        default=0.5,
        metavar="W",
        help="weight of B in --merge, in [0, 1] (default 0.5)",
    )
    add_common(p)
    p.set_defaults(func=run)


def parse_overrides(pairs: list[str]) -> dict:
    """``["max_steps=100", "datasets=[a, b]"]`` -> ``{"max_steps": 100, "datasets": ["a", "b"]}``."""
    import yaml

    from heapmetric.errors import InputError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects KEY=VALUE, got {pair!r}", field="--set")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from heapmetric.errors import InputError
    from training.config import load_config

    overrides = parse_overrides(args.overrides)
    if args.merge:
        return _merge(args, overrides)
    if not args.config:
        raise InputError("--config is required (or --merge A B)", field="--config")
    if args.output:
        overrides["output_dir"] = args.output
    cfg = load_config(args.config, **overrides)
    if not args.check:
        from heapmetric.io import check_output

        check_output(cfg.output_dir, folder=True, flag="--output")
    if args.check:
        from training.trainer import prepare_data

        data, val_groups, _ = prepare_data(cfg)
        print(
            json.dumps(
                {"groups": data.summary, "warnings": data.warnings, "validation_groups": sorted(val_groups)},
                indent=2,
            )
        )
        return 0
    if cfg.head_fit:
        from training.head_fit import describe
        from training.head_fit import run as fit_head

        report = fit_head(cfg, resume=args.resume, progress=not args.quiet)
        if not args.quiet:
            print(f"{describe(report)}; model in {cfg.output_dir}/model", file=sys.stderr)
        return 0
    from training.trainer import train

    result = train(cfg, resume=args.resume, progress=not args.quiet)
    if not args.quiet:
        v = result.validation or {}
        acc, tau = v.get("mean_pairwise_accuracy"), v.get("mean_kendall")
        print(
            f"done: {result.steps} steps ({result.stopped}) in {result.elapsed_s / 60:.1f} min; "
            f"validation mean pairwise accuracy {acc if acc is None else round(acc, 4)}, "
            f"mean Kendall {tau if tau is None else round(tau, 4)}; model in {result.model_dir}",
            file=sys.stderr,
        )
    return 0


def _merge(args: argparse.Namespace, overrides: dict) -> int:
    import sys

    from heapmetric.errors import InputError
    from heapmetric.io import check_output
    from training.merge import merge_models

    if not args.output:
        raise InputError("--merge writes a model folder: give it with --output", field="--output")
    extra = sorted(set(overrides) - {"data_dir"})
    if args.config or args.resume or args.check or extra:
        what = (
            "--config"
            if args.config
            else "--resume"
            if args.resume
            else "--check"
            if args.check
            else extra[0]
        )
        raise InputError(f"{what} does not apply to --merge (only --set data_dir=DIR does)", field="--merge")
    check_output(args.output, folder=True, flag="--output")
    validation = merge_models(
        args.merge[0], args.merge[1], args.merge_weight, args.output, data_dir=overrides.get("data_dir")
    )
    if not args.quiet:
        v = validation or {}
        print(
            f"merged with weight {args.merge_weight} on {args.merge[1]}: validation mean pairwise accuracy "
            f"{v.get('mean_pairwise_accuracy')}, mean Kendall {v.get('mean_kendall')}; model in {args.output}",
            file=sys.stderr,
        )
    return 0
