"""Meta-evaluation reports: a markdown table, ``results.json`` / ``results.csv`` rows, ``summary.json`` (config,
exclusions, significance tests) and PNG plots (correlation per criterion with CI bars for each metric; metric
vs human scatter). matplotlib is imported lazily with the Agg backend."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heapmetric.io import atomic_write, write_json, write_table
from heapmetric.metaeval.harness import PAIR_LEVEL, MetaEvalResult, MetricScores

ROW_FIELDS = ("dataset", "criterion", "metric", "level", "statistic", "value", "ci_low", "ci_high", "n")
LEVEL_TITLES = {
    "segment": "Segment level (all outputs pooled)",
    "item": 'Item level (per-input correlation averaged over inputs; SummEval "summary-level")',
    "system": "System level (per-system means)",
    PAIR_LEVEL: "Pairwise accuracy (non-tied human pairs)",
}
SYMBOLS = {"pearson": "r", "spearman": "ρ", "kendall": "τ", "pairwise_accuracy": "acc"}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cell(row: dict[str, Any] | None, ci: bool) -> str:
    if row is None:
        return "–"
    text = _fmt(row["value"])
    if ci and row.get("ci_low") is not None:
        text += f" [{_fmt(row['ci_low'], 2)}, {_fmt(row['ci_high'], 2)}]"
    return text


def format_markdown(result: MetaEvalResult, *, ci: bool = True, title: str | None = None) -> str:
    """Markdown: one table per level × statistic, metrics as rows and criteria as columns, then the
    significance tests and the exclusions."""
    rows = result.rows
    criteria = sorted({r["criterion"] for r in rows})
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    index = {(r["metric"], r["criterion"], r["level"], r["statistic"]): r for r in rows}
    cfg = result.config
    lines = [
        f"# {title or f'Meta-evaluation: {result.dataset}'}",
        "",
        f"Dataset `{result.dataset}`, split `{result.split}`; Kendall tau-{cfg.kendall_variant}; "
        + (
            f"{int(cfg.confidence * 100)}% bootstrap percentile intervals from {cfg.bootstrap} resamples "
            f"(inputs resampled; systems at system level), seed {cfg.seed}."
            if cfg.bootstrap and ci
            else f"point estimates only here; the {int(cfg.confidence * 100)}% bootstrap intervals "
            f"({cfg.bootstrap} resamples, seed {cfg.seed}) are in report.md and results.json."
            if cfg.bootstrap
            else "no bootstrap intervals."
        ),
        "",
    ]
    levels = [lv for lv in (*cfg.levels, PAIR_LEVEL) if any(r["level"] == lv for r in rows)]
    for level in levels:
        stats = [
            s
            for s in ((*cfg.statistics,) if level != PAIR_LEVEL else ("pairwise_accuracy",))
            if any(r["level"] == level and r["statistic"] == s for r in rows)
        ]
        for stat in stats:
            lines += [
                f"## {LEVEL_TITLES[level]} — {stat} ({SYMBOLS[stat]})",
                "",
                "| metric | " + " | ".join(criteria) + " | mean |",
                "|---|" + "---:|" * (len(criteria) + 1),
            ]
            for m in metrics:
                cells = [index.get((m, c, level, stat)) for c in criteria]
                vals = [c["value"] for c in cells if c is not None and c["value"] is not None]
                mean = sum(vals) / len(vals) if vals and len(vals) == len(criteria) else None
                lines.append(f"| {m} | " + " | ".join(_cell(c, ci) for c in cells) + f" | {_fmt(mean)} |")
            ns = {c: index.get((metrics[0], c, level, stat), {}).get("n") for c in criteria}
            lines += ["", "n per criterion: " + ", ".join(f"{c} {ns[c]}" for c in criteria), ""]
    if result.significance:
        lines += [
            "## Significance against the first metric",
            "",
            "| criterion | level | statistic | metric A | metric B | Δ (A−B) | permutation p | Williams p |",
            "|---|---|---|---|---|---:|---:|---:|",
        ]
        for s in result.significance:
            lines.append(
                f"| {s['criterion']} | {s['level']} | {s['statistic']} | {s['metric_a']} | {s['metric_b']} "
                f"| {_fmt(s['delta'])} | {_fmt(s['permutation_p'])} | {_fmt(s['williams_p'])} |"
            )
        lines.append("")
    lines += ["## Exclusions", ""]
    if result.exclusions:
        for e in result.exclusions:
            who = f"metric `{e.metric}`" if e.metric else "all metrics"
            first = f" (first: {', '.join(e.first)})" if e.first else ""
            lines.append(f"- {e.criterion}: {e.count} excluded for {who}: {e.reason}{first}")
    else:
        lines.append("- none: every output was scored by every metric.")
    constant = [r for r in rows if r.get("n_constant")]
    if constant:
        worst = max(constant, key=lambda r: r["n_constant"])
        lines.append(
            f"- inputs with constant metric or human scores are skipped at item level and counted in "
            f"`n_constant` of results.json ({len(constant)} cells; at most {worst['n_constant']} inputs, "
            f"{worst['metric']} / {worst['criterion']} / {worst['statistic']})."
        )
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "metric"


def plot_correlations(
    rows: Sequence[dict[str, Any]], path: str | Path, *, level: str, statistic: str, title: str = ""
) -> Path | None:
    """Grouped bars: one group per criterion, one bar per metric, CI whiskers. None when there is nothing."""
    sel = [r for r in rows if r["level"] == level and r["statistic"] == statistic and r["value"] is not None]
    if not sel:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    criteria = sorted({r["criterion"] for r in sel})
    metrics = list(dict.fromkeys(r["metric"] for r in sel))
    index = {(r["metric"], r["criterion"]): r for r in sel}
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(criteria) * max(1, len(metrics)) / 3), 4))
    for k, m in enumerate(metrics):
        xs, ys, lo, hi = [], [], [], []
        for i, c in enumerate(criteria):
            r = index.get((m, c))
            if r is None:
                continue
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(r["value"])
            lo.append(r["value"] - r["ci_low"] if r.get("ci_low") is not None else 0)
            hi.append(r["ci_high"] - r["value"] if r.get("ci_high") is not None else 0)
        ax.bar(xs, ys, width, label=m, yerr=[lo, hi], capsize=2)
    ax.set_xticks(range(len(criteria)))
    ax.set_xticklabels(criteria, rotation=20, ha="right")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel(f"{statistic} ({level})")
    ax.set_title(title or f"{statistic}, {level} level")
    ax.legend(fontsize=7, ncol=min(3, len(metrics)))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_scatter(scores: Sequence[MetricScores], path: str | Path, *, metric: str) -> Path | None:
    """One panel per criterion: the metric's score against the human score of every output."""
    sel = [s for s in scores if s.metric == metric and s.scores.size]
    if not sel:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(sel))
    rows_n = math.ceil(len(sel) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3.2 * rows_n), squeeze=False)
    for ax, s in zip(axes.flat, sel, strict=False):
        ax.scatter(s.human, s.scores, s=6, alpha=0.35)
        ax.set_xlabel(f"human {s.criterion}")
        ax.set_ylabel(metric)
        ax.set_title(s.criterion, fontsize=9)
    for ax in list(axes.flat)[len(sel) :]:
        ax.axis("off")
    fig.suptitle(f"{metric} vs human scores", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
    return path


def write_report(
    result: MetaEvalResult, out: str | Path, *, plots: bool = True, title: str | None = None
) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv``, ``report.md``, ``summary.json`` and (with ``plots``) PNGs under
    ``out``; return what was written, by kind."""
    out = Path(out)
    written: dict[str, Path] = {}
    rows = [
        {**{k: r.get(k) for k in ROW_FIELDS}, **{k: v for k, v in r.items() if k not in ROW_FIELDS}}
        for r in result.rows
    ]
    write_json(out / "results.json", rows)
    written["json"] = out / "results.json"
    if rows:
        write_table(out / "results.csv", rows)
        written["csv"] = out / "results.csv"
    write_json(out / "summary.json", result.summary())
    written["summary"] = out / "summary.json"
    with atomic_write(out / "report.md") as handle:
        handle.write(format_markdown(result, title=title))
    written["markdown"] = out / "report.md"
    if plots:
        levels = [*result.config.levels, PAIR_LEVEL]
        for level in levels:
            stats = result.config.statistics if level != PAIR_LEVEL else ("pairwise_accuracy",)
            for stat in stats:
                p = plot_correlations(
                    result.rows,
                    out / "plots" / f"correlation_{level}_{stat}.png",
                    level=level,
                    statistic=stat,
                    title=f"{result.dataset}: {stat}, {level} level",
                )
                if p is not None:
                    written[f"plot_{level}_{stat}"] = p
        for metric in dict.fromkeys(s.metric for s in result.scores):
            p = plot_scatter(result.scores, out / "plots" / f"scatter_{_safe(metric)}.png", metric=metric)
            if p is not None:
                written[f"scatter_{metric}"] = p
    return written
