"""Leaderboards of the benchmark harness: alpaca_eval and Arena-Hard CSVs, a PNG chart with intervals, a
markdown table, and the rank agreement with a published leaderboard. matplotlib is imported only to draw."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from heapmetric.io import atomic_write


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return "" if value is None else value


def write_alpacaeval_csv(
    path: str | os.PathLike, rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """alpaca_eval's leaderboard layout: an unnamed first column with the model name, then ``columns``;
    rows sorted by ``length_controlled_winrate`` then ``win_rate``, best first."""
    import csv

    def key(item: tuple[str, Mapping[str, Any]]) -> tuple[float, float]:
        r = item[1]
        lc, wr = r.get("length_controlled_winrate"), r.get("win_rate")
        return (
            -(lc if isinstance(lc, float) and math.isfinite(lc) else -1.0),
            -(wr if isinstance(wr, float) and math.isfinite(wr) else -1.0),
        )

    with atomic_write(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["", *columns])
        for name, row in sorted(rows.items(), key=key):
            writer.writerow([name, *(_cell(row.get(c)) for c in columns)])


def write_rows_csv(
    path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """Plain CSV with a header row (used for the Arena-Hard leaderboard and diagnostics tables)."""
    import csv

    with atomic_write(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(list(columns))
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], digits: int = 2) -> str:
    """A GitHub markdown table of ``rows`` (floats rounded to ``digits``)."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else f"{v:.{digits}f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def plot_intervals(
    path: str | os.PathLike,
    names: Sequence[str],
    values: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    *,
    title: str,
    xlabel: str,
) -> None:
    """Horizontal dot-and-whisker chart, best at the top, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    order = sorted(range(len(names)), key=lambda i: values[i])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.4))
    ys = list(range(len(order)))
    vals = [values[i] for i in order]
    err = [[max(0.0, values[i] - lower[i]) for i in order], [max(0.0, upper[i] - values[i]) for i in order]]
    ax.errorbar(vals, ys, xerr=err, fmt="o", capsize=4, color="tab:blue")
    for y, v in zip(ys, vals, strict=True):
        ax.annotate(f"{v:.1f}", (v, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([names[i] for i in order])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    plt.close(fig)


def rank_agreement(
    ours: Mapping[str, float], published: Mapping[str, float], exclude: Sequence[str] = ()
) -> tuple[float, list[str]]:
    """Kendall tau-b between our scores and published ones over the models both have (minus ``exclude``);
    NaN when fewer than two models are shared."""
    from heapmetric.stats.correlation import kendall

    common = sorted(
        m
        for m in ours
        if m in published and m not in exclude and math.isfinite(ours[m]) and math.isfinite(published[m])
    )
    if len(common) < 2:
        return float("nan"), common
    return float(kendall([ours[m] for m in common], [published[m] for m in common])), common
