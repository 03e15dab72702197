"""Composable filters over synthesized candidates; each reports what it removed and why.

A filter takes candidates in a stable order and returns ``(kept, removed)`` where ``removed`` pairs each
dropped candidate with a reason. :func:`run_filters` chains them and collects one :class:`FilterStep` report
per filter. :class:`MetricScorer` is a step that removes nothing: it attaches a judge's score (any
:class:`~heapmetric.judges.base.Judge`: the in-process metric, the HTTP client, a baseline) to every
candidate, caching scores in the journal so a restart re-scores nothing.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from heapmetric.synth.generate import Candidate
from heapmetric.synth.journal import Journal, step_key
from heapmetric.synth.references import Reference
from heapmetric.synth.textsim import MinHasher, ngram_hashes, normalize, signatures

log = logging.getLogger(__name__)

DEFAULT_CRITERION = (
    "Rate how well the response follows the user's instruction: is it helpful, correct, "
    "complete and clearly written?"
)
"""The free-text criterion used when the registry has no ``instruction_following/instruction_following``."""
REGISTERED_DEFAULT = "instruction_following/instruction_following"

Removed = list[tuple[Candidate, str]]


class Filter(Protocol):
    """A named, parameterised step over candidates."""

    name: str

    def params(self) -> dict[str, Any]: ...

    def apply(self, candidates: list[Candidate]) -> tuple[list[Candidate], Removed]: ...


@dataclass
class FilterStep:
    """What one filter did: how many came in, were kept, were removed, and the reasons."""

    name: str
    params: dict[str, Any]
    n_in: int
    kept: int
    removed: Removed = field(default_factory=list)
    nan_scores: int = 0
    """Candidates (kept or removed) whose score is NaN: the judge gave none; they are treated as unscored."""

    def to_dict(self, examples: int = 3) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for _, reason in self.removed:
            head = reason.split(":", 1)[0]
            reasons[head] = reasons.get(head, 0) + 1
        out = {
            "filter": self.name,
            "params": self.params,
            "in": self.n_in,
            "kept": self.kept,
            "removed": len(self.removed),
            "reasons": reasons,
            "examples": [
                {
                    "id": c.id,
                    "instruction": c.instruction[:160],
                    "score": None if _no_score(c.score) else c.score,
                    "reason": r,
                }
                for c, r in self.removed[:examples]
            ],
        }
        if self.nan_scores:
            out["nan_scores"] = self.nan_scores
        return out


def run_filters(
    candidates: list[Candidate], filters: Sequence[Filter]
) -> tuple[list[Candidate], list[FilterStep]]:
    """Apply ``filters`` in order; returns the survivors and one report per filter."""
    steps = []
    for f in filters:
        n_in = len(candidates)
        candidates, removed = f.apply(candidates)
        nan = sum(_is_nan(c.score) for c in candidates) + sum(_is_nan(c.score) for c, _ in removed)
        steps.append(FilterStep(f.name, f.params(), n_in, len(candidates), removed, nan))
    return candidates, steps


def _is_nan(score: float | None) -> bool:
    return score is not None and math.isnan(score)


def _no_score(score: float | None) -> bool:
    """None (not scored) or NaN (the judge gave no score): both rank last and never pass a threshold."""
    return score is None or math.isnan(score)


def _priority(c: Candidate) -> tuple:
    """Higher score first, unscored (None/NaN) last, then the stable order: who survives among duplicates.

    NaN must not reach the sort key itself: it compares false with everything, which scrambles the order."""
    missing = _no_score(c.score)
    return (missing, 0.0 if missing else -c.score, c.order)


# -- the metric -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoringCriterion:
    """How the judge is asked: a registered ``task``/``criterion`` or a free-text ``instruction``."""

    task: str | None = None
    criterion: str | None = None
    instruction: str | None = None

    @property
    def key(self) -> str:
        return self.instruction if self.instruction else f"{self.task}/{self.criterion}"

    @classmethod
    def parse(cls, criterion: str | None = None, instruction: str | None = None) -> ScoringCriterion:
        """From ``--criterion task/name`` (checked against the registry) or ``--score-instruction``; neither
        gives the registered ``instruction_following/instruction_following`` criterion (what the metric was
        trained on), or :data:`DEFAULT_CRITERION` as free text where the registry lacks it."""
        from heapmetric import registry
        from heapmetric.errors import UnknownNameError

        if instruction:
            return cls(instruction=instruction)
        try:
            c = registry.resolve(criterion=criterion or REGISTERED_DEFAULT)
        except UnknownNameError:
            if criterion:
                raise
            return cls(instruction=DEFAULT_CRITERION)
        return cls(task=c.task, criterion=c.name)


class MetricScorer:
    """Attaches ``judge`` scores (output = response, source = instruction) to candidates; removes none."""

    name = "metric"

    def __init__(
        self,
        judge: Any,
        journal: Journal | None = None,
        criterion: ScoringCriterion | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> None:
        self.judge, self.journal = judge, journal
        self.criterion = criterion or ScoringCriterion.parse()
        self.batch_size, self.show_progress = batch_size, show_progress
        self.judge_name = judge.info.name
        self.scored_new = 0

    def params(self) -> dict[str, Any]:
        return {"judge": self.judge_name, "criterion": self.criterion.key}

    def _key(self, c: Candidate) -> str:
        return step_key("score", self.judge_name, self.criterion.key, c.instruction, c.response)

    def apply(self, candidates: list[Candidate]) -> tuple[list[Candidate], Removed]:
        from heapmetric.judges.base import ScoreItem

        todo = []
        for c in candidates:
            entry = self.journal.get(self._key(c)) if self.journal is not None else None
            if entry is not None:
                c.score = float(entry["v"])
            else:
                todo.append(c)
        # a judge spread over several workers (heapmetric.distributed.RayJudge) asks for larger calls
        step = max(self.batch_size, int(getattr(self.judge, "preferred_batch", 0) or 0))
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            items = [
                ScoreItem(
                    output=c.response,
                    source=c.instruction,
                    task=self.criterion.task,
                    criterion=self.criterion.criterion,
                    instruction=self.criterion.instruction,
                )
                for c in chunk
            ]
            result = self.judge.score(items, show_progress=self.show_progress)
            for c, s in zip(chunk, result.scores, strict=True):
                c.score = math.nan if s is None else float(s)
                if self.journal is not None:
                    self.journal.append({"k": self._key(c), "stage": "score", "ok": True, "v": c.score})
            self.scored_new += len(chunk)
        n_nan = sum(_is_nan(c.score) for c in candidates)
        if n_nan:
            log.warning(
                "%s gave no score (NaN) to %d of %d candidates; they rank last and fail any min_score",
                self.judge_name,
                n_nan,
                len(candidates),
            )
        return candidates, []


class ScoreThresholdFilter:
    """Keeps candidates whose metric score is ≥ ``min_score``."""

    name = "min_score"

    def __init__(self, min_score: float) -> None:
        self.min_score = min_score

    def params(self) -> dict[str, Any]:
        return {"min_score": self.min_score}

    def apply(self, candidates: list[Candidate]) -> tuple[list[Candidate], Removed]:
        kept, removed = [], []
        for c in candidates:
            if c.score is None:
                raise ValueError("min_score needs scores: put a MetricScorer before it")
            if math.isnan(c.score):
                removed.append((c, "no score: the judge returned NaN"))
            elif c.score >= self.min_score:
                kept.append(c)
            else:
                removed.append((c, f"score: {c.score:.4g} < {self.min_score:g}"))
        return kept, removed


class TopKPerReferenceFilter:
    """Keeps the ``k`` best-scored candidates of each reference (ties broken by the stable order; NaN scores,
    where the judge gave none, rank last)."""

    name = "top_k"

    def __init__(self, k: int) -> None:
        self.k = k

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    def apply(self, candidates: list[Candidate]) -> tuple[list[Candidate], Removed]:
        groups: dict[str, list[Candidate]] = {}
        for c in candidates:
            if c.score is None:
                raise ValueError("top_k needs scores: put a MetricScorer before it")
            groups.setdefault(c.reference.id, []).append(c)
        keep_ids = set()
        for group in groups.values():
            keep_ids.update(c.id for c in sorted(group, key=_priority)[: self.k])
        kept = [c for c in candidates if c.id in keep_ids]
        removed = [
            (
                c,
                f"no score: the judge returned NaN (ranked last, not in the top {self.k} of reference "
                f"{c.reference.id})"
                if math.isnan(c.score)
                else f"rank: below the top {self.k} of reference {c.reference.id}",
            )
            for c in candidates
            if c.id not in keep_ids
        ]
        return kept, removed


class DedupFilter:
    """Removes exact (normalised text) and near duplicates (word-shingle Jaccard ≥ ``threshold``, found with
    MinHash LSH and verified exactly) of the instruction, against the references' instructions and against
    candidates already kept. Among duplicates the best-scored (else the first) survives."""

    name = "dedup"

    def __init__(
        self,
        references: Sequence[Reference] = (),
        threshold: float = 0.7,
        ngram: int = 3,
        num_perm: int = 128,
    ) -> None:
        self.references, self.threshold, self.ngram, self.num_perm = (
            list(references),
            threshold,
            ngram,
            num_perm,
        )

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "ngram": self.ngram, "against_references": len(self.references)}

    def apply(self, candidates: list[Candidate]) -> tuple[list[Candidate], Removed]:
        index = MinHasher(self.threshold, self.num_perm, self.ngram)
        exact: dict[str, str] = {}
        for r in self.references:
            exact.setdefault(normalize(r.instruction), f"reference {r.id}")
            index.add(f"reference {r.id}", r.instruction)
        keep_ids, removed = set(), []
        for c in sorted(candidates, key=_priority):
            norm = normalize(c.instruction)
            if norm in exact:
                removed.append((c, f"exact: same instruction as {exact[norm]}"))
                continue
            near = index.near(c.instruction)
            if near:
                removed.append((c, f"near: Jaccard {near[0][1]:.2f} with {near[0][0]}"))
                continue
            exact[norm] = f"candidate {c.id[:12]}"
            index.add(f"candidate {c.id[:12]}", c.instruction)
            keep_ids.add(c.id)
        removed.sort(key=lambda cr: cr[0].order)
        return [c for c in candidates if c.id in keep_ids], removed


# -- decontamination --------------------------------------------------------------------------------------
def benchmark_prompts(data_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """``(benchmark, prompt)`` for AlpacaEval (805 instructions), Arena-Hard v0.1 and v2.0 prompts and every
    MT-Bench turn found under ``data_dir``; benchmarks whose files are absent are skipped with a log line."""
    root = Path(data_dir)
    out: list[tuple[str, str]] = []
    alpaca = root / "alpacaeval" / "model_outputs" / "gpt4_1106_preview.json"
    if alpaca.is_file():
        out += [("alpacaeval", r["instruction"]) for r in json.loads(alpaca.read_text(encoding="utf-8"))]
    else:
        log.warning("decontamination: %s not found, AlpacaEval skipped", alpaca)
    for version in ("v0.1", "v2.0"):
        path = root / "arena_hard" / version / "question.jsonl"
        if path.is_file():
            from heapmetric.io import read_jsonl

            out += [(f"arena-hard-{version}", r["prompt"]) for r in read_jsonl(path) if r.get("prompt")]
        else:
            log.warning("decontamination: %s not found, Arena-Hard %s skipped", path, version)
    mt = root / "mt_bench" / "question.jsonl"
    if mt.is_file():
        from heapmetric.io import read_jsonl

        out += [("mt-bench", turn) for r in read_jsonl(mt) for turn in r.get("turns", [])]
    else:
        log.warning("decontamination: %s not found, MT-Bench skipped", mt)
    return out


class DecontaminationFilter:
    """Removes candidates whose instruction (or response) overlaps a benchmark prompt: the same normalised
    text, a shared word ``ngram``-gram (8 by default, as in common decontamination practice), or word-3-shingle
    Jaccard ≥ ``threshold`` (catches short paraphrased prompts that share no long n-gram)."""

    name = "decontaminate"

    def __init__(
        self,
        prompts: Sequence[tuple[str, str]],
        ngram: int = 8,
        threshold: float = 0.5,
        check_response: bool = False,
    ) -> None:
        self.prompts, self.ngram, self.threshold, self.check_response = (
            list(prompts),
            ngram,
            threshold,
            check_response,
        )
        self._built = False

    def params(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for bench, _ in self.prompts:
            counts[bench] = counts.get(bench, 0) + 1
        return {
            "ngram": self.ngram,
            "jaccard": self.threshold,
            "benchmark_prompts": counts,
            "check_response": self.check_response,
        }

    def _build(self) -> None:
        self.exact = {normalize(t): b for b, t in self.prompts}
        self.grams: dict[int, str] = {}
        self.index = MinHasher(self.threshold, 128, 3)
        for i, (bench, text) in enumerate(self.prompts):
            for h in ngram_hashes(text, self.ngram):
                self.grams.setdefault(h, bench)
            self.index.add(f"{bench}#{i}", text)
        self._built = True

    def _hit(self, text: str) -> str | None:
        norm = normalize(text)
        if norm in self.exact:
            return f"exact: {self.exact[norm]} prompt"
        for h in ngram_hashes(text, self.ngram):
            if h in self.grams:
                return f"ngram: shares a {self.ngram}-gram with a {self.grams[h]} prompt"
        near = self.index.near(text)
        if near:
            return f"near: Jaccard {near[0][1]:.2f} with {near[0][0]}"
        return None

    def apply(self, candidates: list[Candidate]) -> tuple[list[Candidate], Removed]:
        if not self.prompts:
            return candidates, []
        if not self._built:
            self._build()
        kept, removed = [], []
        for c in candidates:
            hit = self._hit(c.instruction) or (self._hit(c.response) if self.check_response else None)
            if hit:
                removed.append((c, hit))
            else:
                kept.append(c)
        return kept, removed


# -- the data budget --------------------------------------------------------------------------------------
class BudgetFilter:
    """Selects ``size`` candidates trading score against diversity (maximal marginal relevance):
    greedily take the candidate maximising ``(1 - diversity) * score01 - diversity * max_sim``, where
    ``score01`` is the score min-max scaled to [0, 1] (0 when no candidate has a score; -1, below every
    scored one, for a candidate without one or with a NaN score) and ``max_sim`` the MinHash
    Jaccard estimate of its instruction+response to the most similar one already selected. ``diversity=0``
    is plain top-``size`` by score; ``diversity=1`` ignores scores."""

    name = "budget"

    def __init__(self, size: int, diversity: float = 0.3, num_perm: int = 64) -> None:
        if not 0 <= diversity <= 1:
            raise ValueError("diversity must be in [0, 1]")
        self.size, self.diversity, self.num_perm = size, diversity, num_perm

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "diversity": self.diversity}

    def apply(self, candidates: list[Candidate]) -> tuple[list[Candidate], Removed]:
        if len(candidates) <= self.size:
            return candidates, []
        import numpy as np

        scores = np.array([np.nan if c.score is None else c.score for c in candidates], dtype=float)
        finite = np.isfinite(scores)
        s01 = np.zeros_like(scores)
        if finite.any():
            lo, hi = scores[finite].min(), scores[finite].max()
            if hi > lo:
                s01[finite] = (scores[finite] - lo) / (hi - lo)
            s01[~finite] = -1.0
        sigs = signatures([c.instruction + "\n" + c.response for c in candidates], self.num_perm)
        w = self.diversity
        # lazy greedy: a candidate's value only falls as the selection grows, so a stale heap value is an
        # upper bound; re-evaluate the top until it stays on top
        heap = [(-(1 - w) * s01[i], candidates[i].order, i) for i in range(len(candidates))]
        heapq.heapify(heap)
        chosen: list[int] = []
        while heap and len(chosen) < self.size:
            _, order, i = heapq.heappop(heap)
            if chosen:
                max_sim = float((sigs[chosen] == sigs[i]).mean(axis=1).max())
            else:
                max_sim = 0.0
            value = (1 - w) * s01[i] - w * max_sim
            if heap and -heap[0][0] > value + 1e-12:
                heapq.heappush(heap, (-value, order, i))
                continue
            chosen.append(i)
        keep = set(chosen)
        kept = [c for i, c in enumerate(candidates) if i in keep]
        removed = [
            (c, f"budget: not among the {self.size} selected")
            for i, c in enumerate(candidates)
            if i not in keep
        ]
        return kept, removed
