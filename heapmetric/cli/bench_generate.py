"""``heapmetric bench generate``: answer AlpacaEval / Arena-Hard / MT-Bench questions with a model.

    heapmetric bench generate --benchmark alpacaeval --model smollm2 [--adapter DIR] --out model_outputs.json
    heapmetric bench generate --benchmark arena-hard --base-url URL --model NAME --out answers.jsonl

Wired into ``heapmetric bench`` by :func:`add_parser`; see ``heapmetric/bench/generate.py`` and docs/bench.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(actions: argparse._SubParsersAction) -> None:
    """Add the ``generate`` action to ``heapmetric bench``'s sub-parsers."""
    from heapmetric.cli import add_common, count_type

    g = actions.add_parser(
        "generate",
        help="answer a benchmark's questions with a local model or an OpenAI-compatible endpoint",
        description="Write AlpacaEval model_outputs.json, Arena-Hard model_answer JSONL or MT-Bench answer "
        "JSONL (two turns). Resumable: answers are journaled in OUT.journal.jsonl.",
    )
    g.add_argument("--benchmark", required=True, choices=["alpacaeval", "arena-hard", "mt-bench"])
    g.add_argument(
        "--model",
        help="local model folder, Hub id in the cache, .gguf file or 'smollm2'; with --base-url the "
        "endpoint's model name (default with --adapter: the adapter's base model)",
    )
    g.add_argument(
        "--adapter", help="peft adapter folder (e.g. a heapmetric finetune output), merged at load"
    )
    g.add_argument("--base-url", help="OpenAI-compatible endpoint instead of a local model")
    g.add_argument("--name", help="model name written in the file (default: derived from --adapter/--model)")
    g.add_argument("--out", required=True, help="output file (.json for AlpacaEval, .jsonl otherwise)")
    g.add_argument("--questions", help="questions file (default: the benchmark's under $HEAPMETRIC_DATA)")
    g.add_argument("--journal", help="resume journal (default: OUT.journal.jsonl)")
    g.add_argument("--limit", type=count_type(1), help="only the first N questions")
    g.add_argument(
        "--max-new-tokens", type=count_type(1), default=1024, help="token limit per answer (default 1024)"
    )
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--seed", type=count_type(0), default=0)
    g.add_argument("--system", help="system message before each conversation")
    g.add_argument(
        "--batch-size", type=count_type(1), default=8, help="prompts per generate call (local; default 8)"
    )
    g.add_argument("--device", default="cpu", help="local device (default cpu)")
    g.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="local weights dtype")
    g.add_argument(
        "--concurrency", type=count_type(1), default=8, help="requests in flight (endpoint; default 8)"
    )
    g.add_argument("--max-retries", type=count_type(0), default=5, help="retries per request (endpoint)")
    g.add_argument("--rate-limit", type=float, help="requests per second (endpoint)")
    g.add_argument("--timeout", type=float, default=120, help="seconds per attempt (endpoint)")
    add_common(g)
    g.set_defaults(func=run)


def _default_name(args: argparse.Namespace) -> str:
    if args.name:
        return args.name
    if args.adapter:
        return Path(args.adapter).resolve().name
    return Path(args.model).name if args.model else "model"


def run(args: argparse.Namespace) -> int:
    """Generate, journal, then write the answers file atomically; prints a one-line summary."""
    import sys

    from heapmetric.bench import generate as gen
    from heapmetric.errors import InputError
    from heapmetric.io import check_output

    check_output(args.out, flag="--out")
    if args.journal:
        check_output(args.journal, flag="--journal")

    if args.base_url and args.adapter:
        raise InputError("--adapter works with a local model, not with --base-url", field="--adapter")
    model = args.model or (gen.adapter_base_model(args.adapter) if args.adapter else None)
    if not model:
        raise InputError("give --model (or an --adapter folder that names its base model)", field="--model")
    args.model = model
    prompts = gen.read_prompts(args.benchmark, args.questions, args.limit)
    settings = gen.GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        system=args.system,
    )
    if args.base_url:
        from heapmetric.llm.openai import OpenAIChatBackend

        generator: gen.Generator = gen.EndpointGenerator(
            OpenAIChatBackend(
                args.base_url,
                model,
                concurrency=args.concurrency,
                max_retries=args.max_retries,
                timeout=args.timeout,
                rate_limit=args.rate_limit,
            )
        )
        chunk = max(args.concurrency * 4, 1)
    else:
        generator = gen.LocalGenerator(
            model, args.adapter, device=args.device, dtype=args.dtype, batch_size=args.batch_size
        )
        chunk = args.batch_size
    out = Path(args.out)
    journal = Path(args.journal) if args.journal else out.with_name(out.name + ".journal.jsonl")
    name = _default_name(args)

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\r{args.benchmark}: {done}/{total} answers", end="", file=sys.stderr, flush=True)

    result = gen.generate_answers(
        args.benchmark, prompts, generator, settings, journal, chunk_size=chunk, progress=progress
    )
    if not args.quiet:
        print(file=sys.stderr)
    generation = {**generator.fingerprint, **gen.asdict(settings)}
    gen.write_answers(
        args.benchmark, out, gen.output_records(args.benchmark, prompts, result.answers, name, generation)
    )
    log.info(
        "%s: %d answers for %d questions (%d new, %d from the journal %s), %d output tokens, finish %s, "
        "%.0f s -> %s",
        args.benchmark,
        result.new + result.from_journal,
        len(prompts),
        result.new,
        result.from_journal,
        journal,
        result.output_tokens,
        result.finish_reasons,
        result.elapsed_s,
        out,
    )
    return 0
