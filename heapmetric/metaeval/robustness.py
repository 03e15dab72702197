"""The robustness suite: does a judge prefer a real output to a rule-based perturbation of it?

For every perturbation × criterion it targets (``heapmetric/data/perturbation_targets.yaml``), up to
``per_cell`` pairs are made from the good outputs of one split (the test split by default, see
:mod:`heapmetric.data.perturbation_pairs`) and the judge scores both sides. A cell's *rate* is the share of
pairs where the original scores higher, a tie counting half, with a Wilson interval. Any
:class:`~heapmetric.judges.base.Judge` works: one that can score is asked once per distinct output and
input, one that only compares is asked ``compare`` (P(a better) above, at or below 0.5).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError
from heapmetric.judges.base import Judge, PairItem, ScoreItem
from heapmetric.records import Preference
from heapmetric.stats.proportion import wilson_interval


@dataclass(frozen=True)
class Cell:
    """One perturbation × criterion: ``rate`` = (wins + ties / 2) / n, Wilson interval ``[low, high]``;
    ``missing`` pairs got no usable score and are not in ``n``."""

    perturbation: str
    criterion: str
    n: int
    wins: int
    ties: int
    rate: float
    low: float
    high: float
    missing: int = 0


@dataclass
class SuiteResult:
    """One judge's cells, in perturbation-table order then criterion order."""

    judge: str
    cells: list[Cell]
    metadata: dict[str, Any] = field(default_factory=dict)

    def below(self, min_rate: float) -> list[Cell]:
        """Cells with at least one pair whose rate is under ``min_rate``."""
        return [c for c in self.cells if c.n and c.rate < min_rate]

    def summary(self) -> dict[str, Any]:
        """Number of cells and pairs, the mean and the lowest cell rate."""
        rated = [c for c in self.cells if c.n]
        return {
            "cells": len(rated),
            "pairs": sum(c.n for c in rated),
            "mean_rate": sum(c.rate for c in rated) / len(rated) if rated else math.nan,
            "min_rate": min((c.rate for c in rated), default=math.nan),
        }

    def pooled(self) -> dict[str, Cell]:
        """Per perturbation, all its cells' pairs pooled into one cell (criterion ``*``)."""
        confidence = float(self.metadata.get("confidence", 0.95))
        out: dict[str, Cell] = {}
        for name in dict.fromkeys(c.perturbation for c in self.cells):
            cells = [c for c in self.cells if c.perturbation == name]
            n, wins, ties = sum(c.n for c in cells), sum(c.wins for c in cells), sum(c.ties for c in cells)
            low, high = wilson_interval(wins + ties / 2, n, confidence)
            rate = (wins + ties / 2) / n if n else math.nan
            out[name] = Cell(name, "*", n, wins, ties, rate, low, high, sum(c.missing for c in cells))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "summary": self.summary(),
            "pooled": {k: asdict(v) for k, v in self.pooled().items()},
            "metadata": self.metadata,
            "cells": [asdict(c) for c in self.cells],
        }


def suite_pairs(
    data_dir: str | Path,
    split: str = "test",
    *,
    per_cell: int = 50,
    seed: int = 0,
    only: Sequence[str] | None = None,
) -> list[Preference]:
    """Up to ``per_cell`` robustness pairs per perturbation × ``task/criterion`` from one split of a
    ``data build`` folder, drawn evenly from the datasets that have the criterion (seeded)."""
    from heapmetric.data.perturbation_pairs import DATASET, pairs_for_groups
    from training.data import load_groups

    if per_cell < 1:
        raise InputError(f"must be >= 1, got {per_cell}", field="--per-cell")
    groups = load_groups(data_dir, split, exclude_datasets=[DATASET])
    pairs, _ = pairs_for_groups(groups.values(), split, per_group=per_cell, seed=seed, only=only)
    return cap_cells(pairs, per_cell, seed=seed)


def cap_cells(pairs: Sequence[Preference], per_cell: int, *, seed: int = 0) -> list[Preference]:
    """At most ``per_cell`` pairs per perturbation × ``task/criterion`` (``meta["perturbation"]``), drawn evenly
    from the origin datasets of the cell (seeded); cells in sorted order. A pair without a perturbation name
    raises :class:`InputError`."""
    if per_cell < 1:
        raise InputError(f"must be >= 1, got {per_cell}", field="--per-cell")
    cells: dict[tuple[str, str], dict[str, list[Preference]]] = defaultdict(lambda: defaultdict(list))
    for p in pairs:
        name = (p.meta or {}).get("perturbation")
        if not isinstance(name, str):
            raise InputError(
                "not a robustness pair: no meta.perturbation", field="meta.perturbation", file=p.id
            )
        origin = str((p.meta or {}).get("origin_dataset", p.dataset))
        cells[(name, f"{p.task}/{p.criterion}")][origin].append(p)
    out: list[Preference] = []
    for key in sorted(cells):
        rng = random.Random(f"{seed}/{key[0]}/{key[1]}")
        by_dataset = [cells[key][d] for d in sorted(cells[key])]
        for lst in by_dataset:
            rng.shuffle(lst)
        picked: list[Preference] = []
        depth = 0
        while len(picked) < per_cell and any(depth < len(lst) for lst in by_dataset):
            picked.extend(lst[depth] for lst in by_dataset if depth < len(lst))
            depth += 1
        out.extend(picked[:per_cell])
    return out


def pair_side(p: Preference, output: str) -> ScoreItem:
    """The item that judging ``output`` of pair ``p`` scores (the pair's input fields, task and criterion)."""
    return ScoreItem(
        output=output,
        source=p.source,
        context=p.context,
        reference=p.reference,
        references=tuple(p.references) if p.references else None,
        instruction=p.instruction,
        task=p.task,
        criterion=p.criterion,
    )


def _outcomes(
    judge: Judge, pairs: Sequence[Preference], batch_size: int | None, progress: bool
) -> list[float]:
    """Per pair: 1 if the judge puts ``output_a`` (the original) above ``output_b``, 0.5 on a tie, 0 below,
    NaN when a score is missing."""
    if judge.info.can_score:
        items: dict[ScoreItem, int] = {}
        for p in pairs:
            for text in (p.output_a, p.output_b):
                items.setdefault(pair_side(p, text), len(items))
        result = judge.score(list(items), batch_size=batch_size, show_progress=progress)
        if len(result.scores) != len(items):
            raise InputError(
                f"judge {judge.info.name!r} returned {len(result.scores)} scores for {len(items)} items"
            )
        scores = [math.nan if s is None else float(s) for s in result.scores]
        out = []
        for p in pairs:
            a, b = scores[items[pair_side(p, p.output_a)]], scores[items[pair_side(p, p.output_b)]]
            out.append(
                math.nan if math.isnan(a) or math.isnan(b) else 1.0 if a > b else 0.5 if a == b else 0.0
            )
        return out
    probs = judge.compare(
        [
            PairItem(
                output_a=p.output_a,
                output_b=p.output_b,
                source=p.source,
                context=p.context,
                reference=p.all_references[0] if p.all_references else None,
                instruction=p.instruction,
                task=p.task,
                criterion=p.criterion,
                id=p.id,
            )
            for p in pairs
        ],
        batch_size=batch_size,
        show_progress=progress,
    ).probabilities
    return [
        math.nan if pr is None or math.isnan(pr) else 1.0 if pr > 0.5 else 0.5 if pr == 0.5 else 0.0
        for pr in probs
    ]


def run_suite(
    judge: Judge,
    pairs: Sequence[Preference],
    *,
    batch_size: int | None = None,
    confidence: float = 0.95,
    show_progress: bool = False,
) -> SuiteResult:
    """Score the pairs with ``judge`` and summarise them per perturbation × criterion."""
    from heapmetric.data.perturbations import PERTURBATIONS

    outcomes = _outcomes(judge, pairs, batch_size, show_progress)
    grouped: dict[tuple[str, str], list[float]] = defaultdict(list)
    for p, o in zip(pairs, outcomes, strict=True):
        grouped[(p.meta["perturbation"], f"{p.task}/{p.criterion}")].append(o)
    order = {name: i for i, name in enumerate(PERTURBATIONS)}
    cells = []
    for (name, crit), values in sorted(grouped.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0])):
        usable = [v for v in values if not math.isnan(v)]
        wins, ties = sum(v == 1.0 for v in usable), sum(v == 0.5 for v in usable)
        n = len(usable)
        rate = (wins + ties / 2) / n if n else math.nan
        low, high = wilson_interval(wins + ties / 2, n, confidence)
        cells.append(Cell(name, crit, n, wins, ties, rate, low, high, len(values) - n))
    return SuiteResult(judge.info.name, cells, {"confidence": confidence, "kind": judge.info.kind})


def _fmt(cell: Cell | None, ci: bool) -> str:
    if cell is None or not cell.n:
        return ""
    text = f"{cell.rate:.2f}"
    if ci:
        text += f" [{cell.low:.2f}, {cell.high:.2f}]"
    return f"{text} (n={cell.n})"


def markdown_table(results: Sequence[SuiteResult], *, ci: bool = True) -> str:
    """One row per perturbation × criterion, one column per judge: rate [Wilson CI] (n); then a row with each
    judge's mean over cells and one with its lowest cell."""
    keys: list[tuple[str, str]] = []
    for r in results:
        for c in r.cells:
            if (c.perturbation, c.criterion) not in keys:
                keys.append((c.perturbation, c.criterion))
    index = [{(c.perturbation, c.criterion): c for c in r.cells} for r in results]
    lines = [
        "| perturbation | criterion | " + " | ".join(r.judge for r in results) + " |",
        "|---|---|" + "---|" * len(results),
    ]
    for key in keys:
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(_fmt(ix.get(key), ci) for ix in index) + " |")
    summaries = [r.summary() for r in results]
    lines.append("| **mean over cells** | | " + " | ".join(f"{s['mean_rate']:.3f}" for s in summaries) + " |")
    lines.append("| **lowest cell** | | " + " | ".join(f"{s['min_rate']:.2f}" for s in summaries) + " |")
    return "\n".join(lines)


def pooled_table(results: Sequence[SuiteResult], *, ci: bool = True) -> str:
    """One row per perturbation, its cells' pairs pooled over criteria: rate [Wilson CI] (n) per judge."""
    pooled = [r.pooled() for r in results]
    names = list(dict.fromkeys(n for p in pooled for n in p))
    lines = [
        "| perturbation | " + " | ".join(r.judge for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    lines += [f"| {n} | " + " | ".join(_fmt(p.get(n), ci) for p in pooled) + " |" for n in names]
    return "\n".join(lines)


def plot_heatmap(result: SuiteResult, path: str | Path) -> Path:
    """A perturbation × criterion heatmap of the rates (matplotlib, imported here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = list(dict.fromkeys(c.perturbation for c in result.cells))
    cols = sorted({c.criterion for c in result.cells})
    grid = np.full((len(rows), len(cols)), np.nan)
    for c in result.cells:
        grid[rows.index(c.perturbation), cols.index(c.criterion)] = c.rate
    fig, ax = plt.subplots(figsize=(max(6, 0.42 * len(cols) + 3), max(3, 0.42 * len(rows) + 2)))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=6)
    ax.set_title(f"P(original preferred), {result.judge}", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(results: Sequence[SuiteResult], out_dir: str | Path, *, info: dict[str, Any]) -> list[Path]:
    """``robustness.json``, ``robustness.md`` and one ``heatmap_<judge>.png`` per judge, written atomically."""
    import re

    from heapmetric.io import atomic_write, write_json

    out_dir = Path(out_dir)
    json_path, md_path = out_dir / "robustness.json", out_dir / "robustness.md"
    write_json(json_path, {**info, "results": [r.to_dict() for r in results]})
    with atomic_write(md_path) as fh:
        fh.write("# Robustness suite\n\n")
        where = f"split `{info['split']}`" if info.get("split") else f"pairs from `{info.get('pairs_file')}`"
        fh.write(
            f"Robustness pairs: {where}, at most {info.get('per_cell')} per cell, seed {info.get('seed')}. "
            "Each cell: share of pairs where the judge scores the original above its perturbation (ties count "
            f"half), {round(100 * info.get('confidence', 0.95))}% Wilson interval, number of pairs.\n\n"
        )
        fh.write("## Per perturbation (all its criteria pooled)\n\n" + pooled_table(results) + "\n\n")
        fh.write("## Per perturbation × criterion\n\n" + markdown_table(results) + "\n")
    paths = [json_path, md_path]
    for r in results:
        paths.append(plot_heatmap(r, out_dir / f"heatmap_{re.sub(r'[^A-Za-z0-9_.-]+', '_', r.judge)}.png"))
    return paths
