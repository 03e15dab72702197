"""Evaluation of any scorer on grouped HEAP data: pairwise accuracy, Kendall tau and Spearman per group.

The same function measures the trained metric during training (validation), the saved model on the test
split (``heapmetric evaluate-model``) and the baselines of the model card, so every number is comparable:

- *pairwise accuracy*: share of non-tie human pairs whose better output gets the higher score (ties in score
  count half). For graded data, every two outputs of the same input with different human scores; for a
  group with only preference records, those records.
- *Kendall tau-b* and *Spearman* between scores and human grades over all graded outputs of the group
  (segment level), where the group has graded judgements.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from heapmetric.judges.base import ScoreItem
from training.data import Group, better_worse, judgement_pairs

ScoreFn = Callable[[list[ScoreItem]], Sequence[float]]


def _corr():
    try:
        from heapmetric.stats.correlation import kendall, pearson, spearman
    except ImportError:  # the stats module is written by another part of the project
        from scipy import stats

        def kendall(x, y, variant="b"):
            return float(stats.kendalltau(x, y, variant=variant).statistic)

        def spearman(x, y):
            return float(stats.spearmanr(x, y).statistic)

        def pearson(x, y):
            return float(stats.pearsonr(x, y).statistic)

    return kendall, spearman, pearson


def item_of(r: Any, output: str) -> ScoreItem:
    """The :class:`ScoreItem` a judge sees for one output of a record."""
    refs = r.all_references
    return ScoreItem(
        output=output,
        source=r.source,
        context=r.context,
        reference=refs[0] if refs else None,
        instruction=r.instruction,
        task=r.task,
        criterion=r.criterion,
    )


def subsample(group: Group, max_per_group: int | None, seed: int = 0) -> Group:
    """At most ``max_per_group`` judgements (whole inputs, chosen by a seeded shuffle of ``item_id``s) and at
    most ``max_per_group`` preferences."""
    if max_per_group is None:
        return group
    rng = random.Random(f"{seed}/{group.name}")
    judgements = group.judgements
    if len(judgements) > max_per_group:
        items = sorted({j.item_id for j in judgements})
        rng.shuffle(items)
        keep: set[str] = set()
        count = 0
        per_item: dict[str, int] = {}
        for j in judgements:
            per_item[j.item_id] = per_item.get(j.item_id, 0) + 1
        for item in items:
            if count >= max_per_group:
                break
            keep.add(item)
            count += per_item[item]
        judgements = [j for j in judgements if j.item_id in keep]
    prefs = [p for p in group.preferences if p.label != "tie"]
    if len(prefs) > max_per_group:
        prefs = rng.sample(prefs, max_per_group)
    return Group(group.name, group.dataset, group.task, group.criterion, judgements, prefs)


def _safe(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def evaluate(
    groups: dict[str, Group], score_fn: ScoreFn, *, max_per_group: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Score every output of every group once (one ``score_fn`` call) and compute the metrics.

    Returns ``{"groups": {name: {...}}, "mean_pairwise_accuracy", "mean_kendall", "mean_spearman", "mean"}``
    where the means are over groups that have the metric and ``mean`` averages the first two.
    """
    kendall, spearman, pearson = _corr()
    chosen = {name: subsample(g, max_per_group, seed) for name, g in sorted(groups.items())}
    unique: dict[ScoreItem, int] = {}
    plan: dict[str, dict[str, list]] = {}
    for name, g in chosen.items():
        graded = [(unique.setdefault(item_of(j, j.output), len(unique)), j.score) for j in g.judgements]
        if g.preferences and not g.judgements:
            oriented = [(p, bw) for p in g.preferences if (bw := better_worse(p)) is not None]
            pairs = [
                (
                    unique.setdefault(item_of(p, better), len(unique)),
                    unique.setdefault(item_of(p, worse), len(unique)),
                )
                for p, (better, worse) in oriented
            ]
        else:
            pairs = [
                (
                    unique.setdefault(item_of(b, b.output), len(unique)),
                    unique.setdefault(item_of(w, w.output), len(unique)),
                )
                for b, w in judgement_pairs(g.judgements)
            ]
        plan[name] = {"graded": graded, "pairs": pairs}
    items = list(unique)
    scores = list(score_fn(items)) if items else []
    if len(scores) != len(items):
        raise RuntimeError(f"scorer returned {len(scores)} scores for {len(items)} items")
    results: dict[str, dict[str, Any]] = {}
    for name, p in plan.items():
        g = chosen[name]
        row: dict[str, Any] = {
            "dataset": g.dataset,
            "task": g.task,
            "criterion": g.criterion,
            "n_graded": len(p["graded"]),
            "n_pairs": len(p["pairs"]),
        }
        if p["pairs"]:
            hits = [
                1.0 if scores[b] > scores[w] else 0.5 if scores[b] == scores[w] else 0.0
                for b, w in p["pairs"]
            ]
            row["pairwise_accuracy"] = statistics.fmean(hits)
        if len(p["graded"]) >= 3 and len({s for _, s in p["graded"]}) > 1:
            x = [scores[i] for i, _ in p["graded"]]
            y = [s for _, s in p["graded"]]
            row["kendall"] = _safe(kendall(x, y))
            row["spearman"] = _safe(spearman(x, y))
            row["pearson"] = _safe(pearson(x, y))
        results[name] = row
    return {"groups": results, **summarize(results)}


def summarize(results: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Means over groups of pairwise accuracy, Kendall and Spearman, and ``mean`` of the first two."""

    def mean_of(key: str) -> float | None:
        vals = [r[key] for r in results.values() if r.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    acc, tau, rho = mean_of("pairwise_accuracy"), mean_of("kendall"), mean_of("spearman")
    both = [v for v in (acc, tau) if v is not None]
    return {
        "mean_pairwise_accuracy": acc,
        "mean_kendall": tau,
        "mean_spearman": rho,
        "mean": statistics.fmean(both) if both else None,
    }


def markdown_table(results: dict[str, dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A markdown table, one row per group, of one result set (``evaluate(...)['groups']``)."""
    columns = list(columns or ("n_pairs", "pairwise_accuracy", "n_graded", "kendall", "spearman"))
    lines = ["| dataset / task / criterion | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, row in sorted(results.items()):
        cells = []
        for c in columns:
            v = row.get(c)
            cells.append("–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
