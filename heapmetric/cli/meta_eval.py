"""``heapmetric meta-eval``: correlate judges with human judgements of a dataset and write a report."""

from __future__ import annotations

import argparse
import sys
import time


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "meta-eval",
        help="correlation of metrics with human judgements (segment/item/system level)",
        description="Score a dataset's human-judged outputs with each --metric and report Pearson, Spearman and "
        "Kendall correlations at segment, item (SummEval 'summary-level') and system level, pairwise "
        "accuracy, bootstrap confidence intervals and significance tests. Metric specs: "
        "heapmetric[:MODEL], generative:MODEL, length, rouge1, rouge2, rougeL, rougeLsum, bleu, chrf, "
        "embed-ref, embed-src, scores:FILE, openai:MODEL@URL; options after '?', e.g. "
        "'rouge1?stem=false'.",
    )
    p.add_argument(
        "--dataset", required=True, help="dataset name (heapmetric data: summeval, topicalchat_usr, ...)"
    )
    p.add_argument(
        "--criterion",
        action="append",
        default=None,
        metavar="C",
        help="only this criterion (repeatable; default: all of the dataset's)",
    )
    p.add_argument(
        "--metric",
        action="append",
        required=True,
        metavar="SPEC",
        help="a judge spec (repeatable); the first is the reference of the significance tests",
    )
    p.add_argument(
        "--level",
        type=_csv,
        default=["segment", "item", "system"],
        help="comma-separated levels among segment,item,system (default: all)",
    )
    p.add_argument(
        "--statistic",
        type=_csv,
        default=["pearson", "spearman", "kendall"],
        help="comma-separated statistics among pearson,spearman,kendall (default: all)",
    )
    p.add_argument(
        "--kendall-variant", choices=["b", "c"], default="b", help="Kendall tau-b (default) or tau-c"
    )
    p.add_argument(
        "--bootstrap",
        type=count_type(0),
        default=1000,
        metavar="N",
        help="bootstrap resamples for confidence intervals (0: none; default 1000)",
    )
    p.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    p.add_argument(
        "--significance",
        type=count_type(0),
        default=0,
        metavar="N",
        help="permutation resamples for tests of each metric against the first (0: no tests)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and permutation draws")
    p.add_argument(
        "--split",
        choices=["test", "validation", "train", "all"],
        default="test",
        help="which split of the dataset (default test; 'all' to compare with published numbers)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="a `heapmetric data build` folder (default: convert the raw data from --data-dir on the fly)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="raw datasets folder (default $HEAPMETRIC_DATA)")
    p.add_argument(
        "--reference-system",
        metavar="NAME",
        help="use this system's output as the reference of the other outputs of each input and "
        "leave it out (USR protocol on Topical-Chat: 'Original Ground Truth')",
    )
    p.add_argument("--no-pairwise", action="store_true", help="skip pairwise accuracy")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--batch-size", type=count_type(1), default=None, help="batch size passed to the judges")
    p.add_argument("--title", help="report title")
    p.add_argument(
        "-o",
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default runs/meta-eval/DATASET); writes report.md, results.json, results.csv, "
        "summary.json, plots/correlation_LEVEL_STATISTIC.png and plots/scatter_METRIC.png (no plots with "
        "--no-plots)",
    )
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heapmetric.io import check_output
    from heapmetric.judges.spec import load_judge
    from heapmetric.metaeval.data import load_records
    from heapmetric.metaeval.harness import MetaEvalConfig, meta_evaluate
    from heapmetric.report.metaeval import format_markdown, write_report

    out = args.out or f"runs/meta-eval/{args.dataset}"
    check_output(out, folder=True, flag="--out")
    config = MetaEvalConfig(
        levels=tuple(args.level),
        statistics=tuple(args.statistic),
        kendall_variant=args.kendall_variant,
        bootstrap=args.bootstrap,
        confidence=args.confidence,
        seed=args.seed,
        pairwise=not args.no_pairwise,
        reference_system=args.reference_system,
        significance=args.significance,
        batch_size=args.batch_size,
        show_progress=not args.quiet,
    )
    records = load_records(
        args.dataset, split=args.split, built=args.data, data_dir=args.data_dir, criteria=args.criterion
    )
    judges = {}
    for spec in args.metric:
        if spec in judges:
            continue
        judges[spec] = load_judge(spec)
    start = time.perf_counter()
    result = meta_evaluate(records, judges, config, dataset=args.dataset, split=args.split)
    written = write_report(result, out, plots=not args.no_plots, title=args.title)
    if not args.quiet:
        print(format_markdown(result, ci=False, title=args.title))
        print(
            f"meta-eval: {len(result.rows)} rows in {time.perf_counter() - start:.1f}s; wrote "
            f"{written['markdown']}, {written['json']}, {written.get('csv', '-')}, {written['summary']}"
            + (
                f" and {sum(k.startswith(('plot_', 'scatter_')) for k in written)} plots under {out}/plots"
                if not args.no_plots
                else ""
            ),
            file=sys.stderr,
        )
    return 0
