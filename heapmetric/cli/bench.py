"""``heapmetric bench``: AlpacaEval 2.0 and Arena-Hard with any judge, and judge diagnostics.

    heapmetric bench alpacaeval --model-outputs FILE [FILE ...] [--reference FILE] --judge SPEC [--out DIR]
    heapmetric bench arena-hard --answers FILE [FILE ...] --baseline FILE --questions FILE --judge SPEC [--out DIR]
    heapmetric bench diagnose --judge SPEC [--llmbar DIR] [--preferences FILE ...] [--out DIR]
    heapmetric bench generate --benchmark alpacaeval|arena-hard|mt-bench --model M [--adapter DIR] --out FILE

Defaults read the sets under ``$HEAPMETRIC_DATA`` (``alpacaeval/``, ``arena_hard/v0.1``, ``llmbar/``). Judge
verdicts are cached in ``$HEAPMETRIC_CACHE/annotations.sqlite`` so that re-runs cost nothing (``--cache``,
``--no-cache``). See ``docs/bench.md``.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "bench",
        help="AlpacaEval 2.0 / Arena-Hard with any judge; judge diagnostics",
        description="Benchmarks with heapmetric, an OpenAI-compatible LLM or fixed annotations as the judge.",
    )
    actions = p.add_subparsers(dest="bench", metavar="BENCHMARK")

    def common(q: argparse.ArgumentParser, writes: str) -> None:
        q.add_argument("--out", metavar="DIR", help=f"output folder; writes {writes}")
        q.add_argument(
            "--judge",
            default="heapmetric",
            help="judge spec: heapmetric[:MODEL], generative:MODEL, openai:MODEL@BASE_URL[?config=...], "
            "annotations:FILE, ... (default: heapmetric, the embedded metric)",
        )
        q.add_argument(
            "--cache", help="annotation cache file (default: $HEAPMETRIC_CACHE/annotations.sqlite)"
        )
        q.add_argument("--no-cache", action="store_true", help="do not read or write the annotation cache")
        q.add_argument(
            "--task",
            default="instruction_following",
            help="task given to heapmetric judges (default: instruction_following)",
        )
        q.add_argument(
            "--criterion", default="overall", help="criterion given to heapmetric judges (default: overall)"
        )
        q.add_argument(
            "--batch-size", type=count_type(1), default=64, help="pairs per judge call (default 64)"
        )
        q.add_argument(
            "--limit", type=count_type(1), help="only the first N instructions/questions (quick runs)"
        )
        from heapmetric.distributed.cli import add_judge_engine_options

        add_judge_engine_options(q.add_argument_group("ray engine"))
        add_common(q)

    a = actions.add_parser(
        "alpacaeval",
        help="AlpacaEval 2.0: win rate and length-controlled win rate",
        description="Compare each model's outputs with the reference outputs (alpaca_eval formats).",
    )
    a.add_argument(
        "--model-outputs",
        nargs="+",
        metavar="FILE",
        help="alpaca_eval model_outputs.json files (default: the shipped systems)",
    )
    a.add_argument("--name", nargs="+", help="generator names, one per --model-outputs file")
    a.add_argument("--reference", help="reference outputs (default: AlpacaEval 2.0's gpt4_1106_preview)")
    a.add_argument(
        "--lc-gamed",
        metavar="CSV",
        help="alpaca_eval's df_gamed.csv (Hub tatsu-lab/alpaca_eval): instruction difficulties and "
        "gamed baselines for the published length_controlled_v1 GLM; without it the GLM has no "
        "difficulty term (length_controlled_minimal)",
    )
    a.add_argument(
        "--published",
        help="published leaderboard CSV for the rank agreement "
        "(default: the shipped AlpacaEval 2.0 leaderboard)",
    )
    common(a, "leaderboard.csv, leaderboard.png, summary.json and annotations/MODEL.json per model")
    a.set_defaults(func=run_alpacaeval)

    h = actions.add_parser(
        "arena-hard",
        help="Arena-Hard: Bradley-Terry scores with bootstrap CIs",
        description="Judge each model's answers against the baseline's in two games.",
    )
    h.add_argument(
        "--answers", nargs="+", metavar="FILE", help="model answer files (default: the shipped systems)"
    )
    h.add_argument("--baseline", help="baseline answers (default: v0.1 gpt-4-0314)")
    h.add_argument("--questions", help="question.jsonl (default: v0.1)")
    h.add_argument("--rounds", type=count_type(1), default=100, help="bootstrap rounds (default 100)")
    h.add_argument("--seed", type=int, default=42, help="bootstrap seed (default 42)")
    h.add_argument(
        "--style-control", action="store_true", help="control for answer length and markdown counts"
    )
    h.add_argument("--published", help="published leaderboard CSV (default: the shipped v0.1 leaderboard)")
    common(h, "leaderboard.csv, leaderboard.png, summary.json and judgments/MODEL.jsonl per model")
    h.set_defaults(func=run_arena_hard)

    d = actions.add_parser(
        "diagnose",
        help="judge agreement with humans, position/length bias, swap consistency",
        description="Judge human-labelled preference pairs in both orders.",
    )
    d.add_argument("--llmbar", help="LLMBar folder (default: $HEAPMETRIC_DATA/llmbar unless --preferences)")
    d.add_argument("--preferences", nargs="+", metavar="FILE", help="HEAP-format preference JSONL files")
    common(d, "diagnostics.csv and diagnostics.json")
    d.set_defaults(func=run_diagnose)

    from heapmetric.cli import bench_generate

    bench_generate.add_parser(actions)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def _check_out(args: argparse.Namespace) -> None:
    """Fail before any work when ``--out`` cannot be an output folder."""
    if args.out:
        from heapmetric.io import check_output

        check_output(args.out, folder=True, flag="--out")


def _cache(args: argparse.Namespace, judge: Any) -> Any:
    from heapmetric.bench.cache import AnnotationCache, default_cache_path

    if args.no_cache or judge.info.kind == "annotations":
        return None
    path = Path(args.cache) if args.cache else default_cache_path()
    log.info("annotation cache: %s", path)
    return AnnotationCache(path)


def _fmt(v: Any) -> str:
    return "n/a" if isinstance(v, float) and math.isnan(v) else f"{v:.2f}" if isinstance(v, float) else str(v)


def run_alpacaeval(args: argparse.Namespace) -> int:
    from heapmetric.bench import alpacaeval as ae
    from heapmetric.bench.formats import ModelOutputs, align_to_reference, read_model_outputs
    from heapmetric.errors import InputError
    from heapmetric.io import write_json
    from heapmetric.report.leaderboard import (
        markdown_table,
        plot_intervals,
        rank_agreement,
        write_alpacaeval_csv,
    )

    _check_out(args)
    paths = args.model_outputs or [str(p) for p in ae.default_model_outputs()]
    if not paths:
        raise InputError(
            "no model outputs given and none found under the data folder", field="--model-outputs"
        )
    if args.name and len(args.name) != len(paths):
        raise InputError(f"--name has {len(args.name)} names for {len(paths)} files", field="--name")
    reference = read_model_outputs(args.reference or ae.default_reference_path())
    models = [read_model_outputs(p, args.name[i] if args.name else None) for i, p in enumerate(paths)]
    if args.limit:
        for m in models:  # a mismatch with the full reference is an error, --limit or not
            align_to_reference(m, reference)
        keep = {r["instruction"] for r in reference.records[: args.limit]}
        reference = ModelOutputs(reference.generator, reference.records[: args.limit], reference.path)
        models = [
            ModelOutputs(m.generator, tuple(r for r in m.records if r["instruction"] in keep), m.path)
            for m in models
        ]
    gamed = ae.read_gamed_file(args.lc_gamed) if args.lc_gamed else None
    judge = bench_judge(args)
    cache = _cache(args, judge)
    results = ae.evaluate(
        judge,
        models,
        reference,
        cache=cache,
        task=args.task,
        criterion=args.criterion,
        gamed=gamed,
        batch_size=args.batch_size,
        show_progress=not args.quiet,
    )
    rows = {r.generator: r.row for r in results}
    published_path = Path(args.published) if args.published else ae.default_published_path()
    agreement: dict[str, Any] = {}
    if published_path.is_file():
        published = ae.read_published_leaderboard(published_path)
        for column in ("win_rate", "length_controlled_winrate"):
            ours = {g: float(r[column]) for g, r in rows.items()}
            pub = {g: v[column] for g, v in published.items() if column in v}
            tau, common_models = rank_agreement(ours, pub, exclude=[reference.generator])
            agreement[column] = {"kendall_tau": tau, "models": common_models}
    table = [{"model": g, **r} for g, r in sorted(rows.items(), key=lambda kv: -kv[1]["win_rate"])]
    cols = [
        "model",
        "win_rate",
        "standard_error",
        "n_wins",
        "n_draws",
        "n_total",
        "discrete_win_rate",
        "avg_length",
        "length_controlled_winrate",
        "n_unparsed",
    ]
    if not args.quiet:
        print(markdown_table(table, cols))
        for column, info in agreement.items():
            print(
                f"Kendall tau vs published {column}: {_fmt(info['kendall_tau'])} over {len(info['models'])} "
                f"models ({', '.join(info['models'])})"
            )
    if args.out:
        out = Path(args.out)
        write_alpacaeval_csv(out / "leaderboard.csv", rows, ae.LEADERBOARD_COLUMNS + ae.EXTRA_COLUMNS)
        for r in results:
            write_json(out / "annotations" / f"{_safe(r.generator)}.json", r.annotations)
        names = [r.generator for r in results]
        wr = [r.row["win_rate"] for r in results]
        se = [
            1.96 * (r.row["standard_error"] if math.isfinite(r.row["standard_error"]) else 0.0)
            for r in results
        ]
        plot_intervals(
            out / "leaderboard.png",
            names,
            wr,
            [w - s for w, s in zip(wr, se, strict=True)],
            [w + s for w, s in zip(wr, se, strict=True)],
            title=f"AlpacaEval 2.0 (judge: {judge.info.name})",
            xlabel=f"win rate vs {reference.generator} (%), 95% CI",
        )
        write_json(
            out / "summary.json",
            {
                "benchmark": "alpacaeval",
                "judge": judge.info.name,
                "judge_metadata": judge.info.metadata,
                "reference": reference.generator,
                "rows": rows,
                "lc": {r.generator: r.lc for r in results},
                "rank_agreement": agreement,
                "cache": None
                if cache is None
                else {"path": cache.path, "hits": cache.hits, "misses": cache.misses},
            },
        )
        log.info("wrote %s", out / "leaderboard.csv")
    return 0


def run_arena_hard(args: argparse.Namespace) -> int:
    import numpy as np

    from heapmetric.bench import arena_hard as ah
    from heapmetric.bench.formats import Answers, read_answers, read_questions
    from heapmetric.io import write_json, write_jsonl
    from heapmetric.report.leaderboard import markdown_table, plot_intervals, rank_agreement, write_rows_csv

    _check_out(args)
    defaults = ah.default_paths()
    questions = read_questions(args.questions or defaults["questions"])
    baseline = read_answers(args.baseline or defaults["baseline"])
    models = [read_answers(p) for p in (args.answers or defaults["answers"])]
    if args.limit:
        questions = questions[: args.limit]
        keep = {q.uid for q in questions}
        baseline = Answers(
            baseline.model, {u: t for u, t in baseline.answers.items() if u in keep}, baseline.path
        )
        models = [Answers(m.model, {u: t for u, t in m.answers.items() if u in keep}, m.path) for m in models]
    judge = bench_judge(args)
    cache = _cache(args, judge)
    result = ah.evaluate(
        judge,
        questions,
        baseline,
        models,
        cache=cache,
        rng=np.random.default_rng(args.seed),
        rounds=args.rounds,
        style_control=args.style_control,
        task=args.task,
        criterion=args.criterion,
        batch_size=args.batch_size,
        show_progress=not args.quiet,
    )
    published_path = Path(args.published) if args.published else ah.default_published_path()
    agreement: dict[str, Any] = {}
    if published_path.is_file():
        published = ah.read_published_leaderboard(published_path)
        ours = {r["model"]: float(r["score"]) for r in result.rows}
        for label, exclude in (("with_baseline", []), ("without_baseline", [baseline.model])):
            tau, common_models = rank_agreement(ours, published, exclude=exclude)
            agreement[label] = {"kendall_tau": tau, "models": common_models}
    if not args.quiet:
        print(
            markdown_table(
                result.rows,
                [
                    "model",
                    "score",
                    "rating_q025",
                    "rating_q975",
                    "avg_tokens",
                    "n_battles",
                    "n_unparsed_games",
                ],
            )
        )
        if result.style_coefs:
            print("style coefficients: " + ", ".join(f"{k}={v:.3f}" for k, v in result.style_coefs.items()))
        for label, info in agreement.items():
            print(
                f"Kendall tau vs published ({label.replace('_', ' ')}): {_fmt(info['kendall_tau'])} over "
                f"{len(info['models'])} models ({', '.join(info['models'])})"
            )
    if args.out:
        out = Path(args.out)
        write_rows_csv(out / "leaderboard.csv", result.rows, ah.LEADERBOARD_COLUMNS)
        for model, rows in result.judgments.items():
            write_jsonl(out / "judgments" / f"{_safe(model)}.jsonl", rows)
        plot_intervals(
            out / "leaderboard.png",
            [r["model"] for r in result.rows],
            [r["score"] for r in result.rows],
            [r["rating_q025"] for r in result.rows],
            [r["rating_q975"] for r in result.rows],
            title=f"Arena-Hard (judge: {judge.info.name})",
            xlabel=f"win rate vs {baseline.model} (%), 95% bootstrap CI",
        )
        write_json(
            out / "summary.json",
            {
                "benchmark": "arena-hard",
                "judge": judge.info.name,
                "judge_metadata": judge.info.metadata,
                "baseline": baseline.model,
                "rows": result.rows,
                "style_coefs": result.style_coefs,
                "rounds": args.rounds,
                "seed": args.seed,
                "rank_agreement": agreement,
                "cache": None
                if cache is None
                else {"path": cache.path, "hits": cache.hits, "misses": cache.misses},
            },
        )
    return 0


def run_diagnose(args: argparse.Namespace) -> int:
    from heapmetric.bench import diagnostics as dg
    from heapmetric.env import data_dir
    from heapmetric.io import write_json
    from heapmetric.report.leaderboard import markdown_table, write_rows_csv

    _check_out(args)
    sets: dict[str, list[dg.LabelledPair]] = {}
    if args.llmbar or not args.preferences:
        sets.update(dg.read_llmbar(args.llmbar or data_dir() / "llmbar"))
    for path in args.preferences or []:
        sets.update(dg.read_preference_file(path))
    judge = bench_judge(args)
    cache = _cache(args, judge)
    rows = [
        r.to_dict()
        for r in dg.diagnose(
            judge,
            sets,
            cache=cache,
            limit=args.limit,
            task=args.task,
            criterion=args.criterion,
            batch_size=args.batch_size,
            show_progress=not args.quiet,
        )
    ]
    if not args.quiet:
        print(markdown_table(rows, dg.COLUMNS, digits=1))
    if args.out:
        out = Path(args.out)
        write_rows_csv(out / "diagnostics.csv", rows, dg.COLUMNS)
        write_json(out / "diagnostics.json", {"judge": judge.info.name, "rows": rows})
    return 0


def bench_judge(args: argparse.Namespace) -> Any:
    """The ``--judge`` spec loaded here, or with ``--engine ray`` spread over ``--workers`` Ray actors."""
    if getattr(args, "engine", "local") == "ray":
        from heapmetric.distributed.cli import ray_judge

        return ray_judge(args, args.judge, "judge")
    from heapmetric.judges.spec import load_judge

    return load_judge(args.judge)
