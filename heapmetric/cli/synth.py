"""``heapmetric synth``: REFED synthesis with heapmetric filtering (see docs/synth.md)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common, count_type

    p = sub.add_parser(
        "synth",
        help="synthesize instruction data with Reference-Level Feedback, filtered by the metric",
        description="REFED synthesis: references -> instruction/response feedback -> new instructions per "
        "feature -> one-shot responses -> refinement -> filters -> DIR/MODE/data.jsonl, DIR/MODE/dataset, "
        "DIR/MODE/README.md (card), DIR/MODE/report.json, DIR/MODE/removed.jsonl (MODE: reference, sample or "
        "none; each mode keeps its own folder) and DIR/journal.jsonl (shared by the modes). Resumable: rerun "
        "the same command after a crash; a failed run leaves the mode's earlier outputs as they were.",
    )
    p.add_argument(
        "--references",
        required=True,
        metavar="FILE",
        help="JSONL with instruction/response (optional id), or LIMA's conversations form",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output folder: DIR/MODE/ per mode, and the journal shared by the modes",
    )
    g = p.add_argument_group("generator")
    g.add_argument("--backend", choices=["openai", "local"], default="openai")
    g.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint (openai backend)")
    g.add_argument(
        "--model",
        required=True,
        metavar="NAME",
        help="model name at the endpoint, or for --backend local a folder, .gguf file or 'smollm2'",
    )
    g.add_argument("--api-key", help="bearer token for the endpoint (default: $OPENAI_API_KEY)")
    g.add_argument("--concurrency", type=count_type(1), default=8, help="requests in flight (default 8)")
    g.add_argument("--rate-limit", type=float, metavar="RPS", help="at most this many requests per second")
    g.add_argument("--timeout", type=float, default=60, help="seconds per request attempt (default 60)")
    g.add_argument("--max-retries", type=count_type(0), default=5, help="retries per request (default 5)")
    g.add_argument("--device", default="cpu", help="device for --backend local (default cpu)")
    g.add_argument(
        "--temperature",
        type=float,
        default=0.7,
        help="sampling temperature of instructions and responses (feedback stages use 0)",
    )
    g.add_argument(
        "--max-tokens",
        metavar="N[,STAGE=N...]",
        help="cap every stage's reply length, e.g. 96 or 96,response=160,refine=256 (stages: "
        "instruction_feedback, response_feedback, sample_feedback, instructions, response, refine)",
    )
    g.add_argument(
        "--prompt-set",
        default="small",
        metavar="NAME",
        help="REFED prompts: small (default; headed lists a 135M model can fill), capable (JSON in every "
        "structured stage, for capable chat models), or a file stem of heapmetric/synth/prompts/",
    )
    g.add_argument(
        "--no-json-mode",
        action="store_true",
        help="do not send response_format=json_object (for endpoints that reject it)",
    )
    g.add_argument(
        "--prices", metavar="in=X,out=Y", help="USD per 1M input/output tokens, for the cost report"
    )
    s = p.add_argument_group("synthesis")
    s.add_argument(
        "--mode",
        choices=["reference", "sample", "none"],
        default="reference",
        help="refinement: reference-level feedback (REFED), sample-level feedback, or none",
    )
    s.add_argument("--instructions-per-feature", type=int, default=2, metavar="N")
    s.add_argument(
        "--max-features",
        type=count_type(1),
        default=4,
        metavar="N",
        help="instruction features (subject areas, skills) used per reference (default 4)",
    )
    s.add_argument("--limit", type=count_type(1), metavar="N", help="use only the first N references")
    s.add_argument(
        "--target-size",
        type=count_type(1),
        metavar="N",
        help="records wanted: references are used in order until the filters keep N, then the "
        "data budget selects N",
    )
    s.add_argument(
        "--retry-failed",
        action="store_true",
        help="retry steps whose replies failed to parse in an earlier run (backend errors are "
        "always retried on a rerun)",
    )
    f = p.add_argument_group("filters")
    f.add_argument(
        "--metric",
        metavar="MODEL",
        help="scoring metric: model folder/id or a judge spec "
        "(default model when a score filter is asked for)",
    )
    f.add_argument("--metric-server", metavar="URL", help="score with a heapmetric service instead")
    f.add_argument("--metric-api-key", help="bearer token for --metric-server (default: $HEAPMETRIC_API_KEY)")
    from heapmetric.distributed.cli import add_judge_engine_options

    add_judge_engine_options(f)
    f.add_argument("--criterion", metavar="TASK/NAME", help="registered criterion to score with")
    f.add_argument("--score-instruction", metavar="TEXT", help="free-text criterion to score with")
    f.add_argument("--min-score", type=float, metavar="X", help="drop candidates scoring below X")
    f.add_argument(
        "--top-k", type=count_type(1), metavar="K", help="keep the K best candidates of each reference"
    )
    f.add_argument(
        "--diversity",
        type=float,
        default=0.3,
        help="data budget: weight of diversity against score in [0, 1] (default 0.3)",
    )
    f.add_argument("--dedup-threshold", type=float, default=0.7, help="near-duplicate Jaccard (default 0.7)")
    f.add_argument("--no-dedup", action="store_true")
    f.add_argument("--no-decontaminate", action="store_true")
    f.add_argument(
        "--benchmarks",
        metavar="DIR",
        help="folder with alpacaeval/, arena_hard/, mt_bench/ (default $HEAPMETRIC_DATA)",
    )
    o = p.add_argument_group("output")
    o.add_argument("--no-dataset", action="store_true", help="skip the datasets folder")
    o.add_argument("--name", help="dataset name for the card")
    o.add_argument("--license", help="licence for the card (default: other)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heapmetric.errors import InputError
    from heapmetric.llm import make_backend
    from heapmetric.synth.cost import parse_prices
    from heapmetric.synth.filters import ScoringCriterion
    from heapmetric.synth.generate import DEFAULT_MAX_TOKENS, GenerationConfig
    from heapmetric.synth.pipeline import SynthOptions, load_metric, synthesize

    for name in ("instructions_per_feature", "max_features", "concurrency"):
        if getattr(args, name) < 1:
            raise InputError("must be at least 1", field=name.replace("_", "-"))
    for name in ("target_size", "top_k", "limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError("must be at least 1", field=name.replace("_", "-"))
    if args.metric and args.metric_server:
        raise InputError("give --metric or --metric-server, not both", field="metric")
    if args.criterion and args.score_instruction:
        raise InputError("give --criterion or --score-instruction, not both", field="criterion")
    if not 0 <= args.diversity <= 1:
        raise InputError("must be in [0, 1]", field="diversity")
    kwargs = (
        {"device": args.device}
        if args.backend == "local"
        else {
            "api_key": args.api_key,
            "concurrency": args.concurrency,
            "max_retries": args.max_retries,
            "timeout": args.timeout,
            "rate_limit": args.rate_limit,
        }
    )
    backend = make_backend(args.backend, model=args.model, base_url=args.base_url, **kwargs)
    max_tokens = parse_max_tokens(args.max_tokens, DEFAULT_MAX_TOKENS)
    gen = GenerationConfig(
        mode=args.mode,
        instructions_per_feature=args.instructions_per_feature,
        max_features=args.max_features,
        temperature=args.temperature,
        max_tokens=max_tokens,
        json_mode=not args.no_json_mode,
        prompt_set=args.prompt_set,
    )
    wants_scores = args.min_score is not None or args.top_k is not None
    judge = None
    if getattr(args, "engine", "local") == "ray" and (args.metric or wants_scores):
        from heapmetric.distributed.cli import ray_judge

        if args.metric_server:
            raise InputError(
                "--engine ray loads the metric in Ray actors; give --metric, not --metric-server"
            )
        judge = ray_judge(args, args.metric, "metric")
    elif args.metric or args.metric_server or wants_scores:
        from heapmetric.client import resolve_api_key

        key = resolve_api_key(args.metric_api_key) if args.metric_server else None
        judge = load_metric(args.metric, args.metric_server, api_key=key)
    criterion = ScoringCriterion.parse(args.criterion, args.score_instruction) if judge is not None else None
    opts = SynthOptions(
        references=args.references,
        out_dir=args.out,
        generation=gen,
        limit=args.limit,
        target_size=args.target_size,
        min_score=args.min_score,
        top_k=args.top_k,
        diversity=args.diversity,
        dedup=not args.no_dedup,
        dedup_threshold=args.dedup_threshold,
        decontaminate=not args.no_decontaminate,
        benchmarks_dir=args.benchmarks,
        prices=parse_prices(args.prices),
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        save_datasets=not args.no_dataset,
        name=args.name,
        license=args.license,
    )
    try:
        report = synthesize(opts, backend, judge, criterion)
    finally:
        if getattr(args, "engine", "local") == "ray" and judge is not None:
            judge.close()  # the Ray actors
    if not args.quiet:
        total = report["cost"]["total"]
        now = total["this_run"]

        def usd(value: float | None) -> str:
            return f"${value:.4f}" if value is not None else "not priced (--prices)"

        print(
            f"{report['records']} records from {report['candidates']} candidates "
            f"({report['references']['used']} references) -> {report['outputs']}",
            file=sys.stderr,
        )
        for step in report["filters"]:
            print(
                f"  {step['filter']:<14} in {step['in']:>6}  kept {step['kept']:>6}  removed {step['removed']:>6}"
                f"  {json.dumps(step['reasons'])}",
                file=sys.stderr,
            )
        # the same counts as report.json: cost.total.this_run, then cost.total (journal replays included)
        print(
            f"  this run: {now['calls']} model calls (repairs {now['repairs']}), tokens in "
            f"{now['input_tokens']} out {now['output_tokens']}, cost {usd(now['cost_usd'])}",
            file=sys.stderr,
        )
        print(
            f"  the data in all ({total['cached']} of {total['steps']} steps from the journal): "
            f"{total['calls']} model calls (repairs {total['repairs']}), tokens in {total['input_tokens']} "
            f"out {total['output_tokens']}, cost {usd(total['cost_usd'])}; failed steps: "
            f"{json.dumps(report['failures'])}",
            file=sys.stderr,
        )
    return 0


def parse_max_tokens(text: str | None, defaults: dict[str, int]) -> dict[str, int]:
    """``"96,refine=256"`` -> every stage capped at 96 except refine at 256; None -> {} (the defaults)."""
    from heapmetric.errors import InputError

    if not text:
        return {}
    out: dict[str, int] = {}
    for part in text.split(","):
        stage, sep, value = part.strip().rpartition("=")
        try:
            n = int(value)
        except ValueError as exc:
            raise InputError(f"not a whole number: {value!r}", field="max-tokens") from exc
        if n < 1:
            raise InputError("must be at least 1", field="max-tokens")
        if not sep:
            out.update({k: min(v, n) for k, v in defaults.items() if k not in out})
        elif stage in defaults:
            out[stage] = n
        else:
            from heapmetric.errors import UnknownNameError

            raise UnknownNameError("stage", stage, defaults)
    return out
