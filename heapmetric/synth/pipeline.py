"""The whole synthesis run: references → REFED generation (journaled) → filters → output files.

With a ``target_size`` the references are processed in waves, in file order, until the filters before the
budget keep at least that many candidates; the data budget then selects exactly ``target_size``. Wave sizes
depend only on journaled results, so a restarted run takes the same waves and yields the same records.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError, UnsupportedError
from heapmetric.llm.base import ChatBackend, ChatBackendError
from heapmetric.synth.cost import CostTracker, Prices
from heapmetric.synth.filters import (
    BudgetFilter,
    DecontaminationFilter,
    DedupFilter,
    Filter,
    MetricScorer,
    ScoreThresholdFilter,
    ScoringCriterion,
    TopKPerReferenceFilter,
    benchmark_prompts,
    run_filters,
)
from heapmetric.synth.generate import Candidate, GenerationConfig, Generator
from heapmetric.synth.journal import Journal
from heapmetric.synth.output import mode_dir, record, write_outputs
from heapmetric.synth.references import read_references

log = logging.getLogger(__name__)

JUDGE_SPEC_PREFIXES = ("heapmetric:", "generative:", "openai:", "scores:", "annotations:")
JUDGE_SPEC_NAMES = ("length", "rouge1", "rouge2", "rougeL", "bleu", "chrf", "embed-ref", "embed-src")


@dataclass
class SynthOptions:
    """Everything a run needs besides the backend and the judge."""

    references: str
    out_dir: str
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    limit: int | None = None
    target_size: int | None = None
    min_score: float | None = None
    top_k: int | None = None
    diversity: float = 0.3
    dedup: bool = True
    dedup_threshold: float = 0.7
    decontaminate: bool = True
    benchmarks_dir: str | None = None
    prices: Prices | None = None
    retry_failed: bool = False
    progress: bool = False
    save_datasets: bool = True
    name: str | None = None
    license: str | None = None


def load_metric(
    metric: str | None = None, metric_server: str | None = None, *, api_key: str | None = None
) -> Any:
    """The judge for the score filters: ``metric_server`` → :class:`heapmetric.client.HeapmetricClient`;
    a judge spec (``length``, ``heapmetric:...``, ``scores:FILE`` ...) → :func:`heapmetric.judges.spec.load_judge`;
    anything else (a model folder or id; None = the default model) → :func:`heapmetric.load`."""
    if metric_server:
        try:
            from heapmetric.client import HeapmetricClient
        except ImportError as exc:
            raise UnsupportedError(
                "--metric-server needs heapmetric.client, which this install lacks"
            ) from exc
        return HeapmetricClient(metric_server, api_key=api_key)
    if metric and (metric.startswith(JUDGE_SPEC_PREFIXES) or metric in JUDGE_SPEC_NAMES):
        try:
            from heapmetric.judges.spec import load_judge
        except ImportError as exc:
            raise UnsupportedError(
                f"judge spec {metric!r} needs heapmetric.judges.spec, which this install "
                "lacks; pass a model folder to --metric"
            ) from exc
        return load_judge(metric)
    import heapmetric

    return heapmetric.load(metric)


def build_filters(
    opts: SynthOptions,
    refs: list[Any],
    journal: Journal,
    judge: Any | None,
    criterion: ScoringCriterion | None,
) -> list[Filter]:
    """The filter chain before the budget: decontamination → dedup → metric → min-score → top-k."""
    chain: list[Filter] = []
    if opts.decontaminate:
        from heapmetric.env import data_dir

        prompts = benchmark_prompts(data_dir(opts.benchmarks_dir))
        if not prompts:
            log.warning("decontamination: no benchmark prompts found under %s", data_dir(opts.benchmarks_dir))
        chain.append(DecontaminationFilter(prompts))
    if opts.dedup:
        chain.append(DedupFilter(refs, threshold=opts.dedup_threshold))
    if judge is not None:
        chain.append(MetricScorer(judge, journal, criterion, show_progress=opts.progress))
    elif opts.min_score is not None or opts.top_k is not None:
        raise InputError("--min-score and --top-k need a metric (--metric MODEL or --metric-server URL)")
    if opts.min_score is not None:
        chain.append(ScoreThresholdFilter(opts.min_score))
    if opts.top_k is not None:
        chain.append(TopKPerReferenceFilter(opts.top_k))
    return chain


async def _generate_waves(
    gen: Generator, refs: list[Any], chain: list[Filter], target: int | None, per_ref_max: int
) -> tuple[list[Candidate], int]:
    candidates: list[Candidate] = []
    done = 0
    kept_count = 0
    try:
        while done < len(refs):
            if target is None:
                size = len(refs)
            elif done == 0:
                size = math.ceil(target / max(per_ref_max, 1))
            else:
                per_ref = max(kept_count / done, 0.25)
                size = math.ceil((target - kept_count) / per_ref)
            size = max(1, min(size, len(refs) - done))
            candidates += await gen.generate(refs[done : done + size])
            done += size
            if target is None:
                break
            kept, _ = run_filters(list(candidates), chain)
            kept_count = len(kept)
            log.info(
                "after %d references: %d candidates, %d pass the filters (target %d)",
                done,
                len(candidates),
                kept_count,
                target,
            )
            if kept_count >= target:
                break
    finally:
        aclose = getattr(gen.backend, "aclose", None)
        if aclose is not None:
            await aclose()
        gen.progress.close()
    return sorted(candidates, key=lambda c: c.order), done


def synthesize(
    opts: SynthOptions,
    backend: ChatBackend,
    judge: Any | None = None,
    criterion: ScoringCriterion | None = None,
) -> dict[str, Any]:
    """Run REFED synthesis end to end and write ``opts.out_dir/<mode>/`` (the journal is ``opts.out_dir``'s,
    shared by the modes); returns the report (also ``report.json``). A run that raises, or that generated no
    candidate because the backend failed, leaves the mode's earlier outputs untouched."""
    from heapmetric import __version__

    started = time.monotonic()
    ref_set = read_references(opts.references, opts.limit)
    refs = ref_set.references
    out = Path(opts.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tracker = CostTracker(opts.prices)
    with Journal(out / "journal.jsonl") as journal:
        if journal.recovered_bytes:
            log.info(
                "journal: dropped a torn last line (%d bytes) left by an interrupted run",
                journal.recovered_bytes,
            )
        gen = Generator(
            backend,
            journal,
            opts.generation,
            tracker=tracker,
            progress=opts.progress,
            retry_failed=opts.retry_failed,
        )
        if criterion is None and judge is not None:
            criterion = ScoringCriterion.parse()
        chain = build_filters(opts, refs, journal, judge, criterion)
        per_ref = opts.generation.max_features * opts.generation.instructions_per_feature
        candidates, used = asyncio.run(_generate_waves(gen, refs, chain, opts.target_size, per_ref))
        if opts.target_size is not None:
            chain = chain + [BudgetFilter(opts.target_size, opts.diversity)]
        kept, steps = run_filters(list(candidates), chain)
        appended, entries = journal.appended, len(journal)
    judge_name = judge.info.name if judge is not None else None
    crit = criterion.key if (criterion is not None and judge is not None) else None
    rows = [
        record(c, generator=backend.name, prompt_version=gen.prompts.id, judge=judge_name, criterion=crit)
        for c in kept
    ]
    removed = [
        {
            "id": c.id,
            "reference_id": c.reference.id,
            "instruction": c.instruction,
            "score": c.score,
            "filter": step.name,
            "reason": reason,
        }
        for step in steps
        for c, reason in step.removed
    ]
    config = {k: v for k, v in asdict(opts).items() if k not in ("generation", "prices")}
    config.update(asdict(opts.generation))
    config.update(generator=backend.name, prompt_version=gen.prompts.id, judge=judge_name, criterion=crit)
    report = {
        "heapmetric_version": __version__,
        "config": config,
        "references": {
            "file": opts.references,
            "available": len(refs),
            "used": used,
            "skipped": ref_set.skipped,
        },
        "candidates": len(candidates),
        "records": len(rows),
        "instruction_shortfall": gen.shortfall,
        "failures": gen.failures(),
        "backend_errors": gen.backend_errors[:20],
        "backend": getattr(backend, "stats", {}),
        "journal": {
            "path": str(out / "journal.jsonl"),
            "entries": entries,
            "appended_this_run": appended,
            "recovered_bytes": journal.recovered_bytes,
        },
        "cost": tracker.report(),
        "filters": [s.to_dict() for s in steps],
        "elapsed_s": round(time.monotonic() - started, 3),
    }
    if not candidates and gen.backend_errors:
        # a failed run: the outputs of an earlier run in this mode stay as they were
        raise ChatBackendError(
            f"no candidate was generated: {len(gen.backend_errors)} steps failed on backend "
            f"errors (rerun to retry them; {mode_dir(out, opts.generation.mode)} was left as it was), "
            f"e.g. {gen.backend_errors[0]}"
        )
    report["outputs"] = str(mode_dir(out, opts.generation.mode))
    write_outputs(out, rows, report, removed, mode=opts.generation.mode, save_datasets=opts.save_datasets)
    return report
