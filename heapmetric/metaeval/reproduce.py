"""Reproduce the published baseline correlations (see :mod:`heapmetric.metaeval.published`) and print
side-by-side markdown tables::

    python -m heapmetric.metaeval.reproduce [--data-dir DIR] [--dataset summeval|topicalchat_usr]

Each reproduction fixes the choices the papers made (docs/metaeval.md explains how they were found).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reproduction:
    """One published table: our judge spec for each paper metric, the level, statistics and protocol."""

    dataset: str
    specs: dict[str, str]  # paper metric name -> heapmetric judge spec
    level: str
    statistics: tuple[str, ...]
    criteria: tuple[str, ...]
    reference_system: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


REPRODUCTIONS: dict[str, Reproduction] = {
    "summeval": Reproduction(
        dataset="summeval",
        specs={"rouge1": "rouge1", "rouge2": "rouge2", "rougeL": "rougeLsum"},
        level="item",
        statistics=("spearman", "kendall"),
        criteria=("coherence", "consistency", "fluency", "relevance"),
    ),
    "topicalchat_usr": Reproduction(
        dataset="topicalchat_usr",
        specs={
            "rougeL": "rougeL?beta=1.2&tokenizer=whitespace&stem=false",
            "bleu": "bleu?smooth=floor&smooth_value=1e-10",
        },
        level="segment",
        statistics=("pearson", "spearman"),
        criteria=("natural", "maintains_context", "engaging", "uses_knowledge"),
        reference_system="Original Ground Truth",
    ),
}


def reproduce(name: str, *, data_dir: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{dataset, paper_metric, spec, criterion, level, statistic, published, ours, diff, n}``."""
    from heapmetric.judges.spec import load_judge
    from heapmetric.metaeval.data import load_records
    from heapmetric.metaeval.harness import MetaEvalConfig, meta_evaluate
    from heapmetric.metaeval.published import published

    rep = REPRODUCTIONS[name]
    records = load_records(rep.dataset, split="all", data_dir=data_dir, criteria=list(rep.criteria))
    judges = {paper: load_judge(spec) for paper, spec in rep.specs.items()}
    config = MetaEvalConfig(
        levels=(rep.level,),
        statistics=rep.statistics,
        bootstrap=0,
        pairwise=False,
        reference_system=rep.reference_system,
    )
    result = meta_evaluate(records, judges, config, dataset=rep.dataset, split="all")
    rows = []
    for r in result.rows:
        pub = published(rep.dataset, r["metric"], r["criterion"], r["level"], r["statistic"])
        rows.append(
            {
                "dataset": rep.dataset,
                "paper_metric": r["metric"],
                "spec": rep.specs[r["metric"]],
                "criterion": r["criterion"],
                "level": r["level"],
                "statistic": r["statistic"],
                "published": pub,
                "ours": r["value"],
                "diff": None if pub is None or r["value"] is None else r["value"] - pub,
                "n": r["n"],
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per paper metric × statistic, published / ours per criterion, and the largest gap."""
    criteria = list(dict.fromkeys(r["criterion"] for r in rows))
    keys = list(dict.fromkeys((r["paper_metric"], r["spec"], r["statistic"]) for r in rows))
    index = {(r["paper_metric"], r["statistic"], r["criterion"]): r for r in rows}
    lines = [
        "| metric (our spec) | statistic | "
        + " | ".join(f"{c} pub / ours" for c in criteria)
        + " | max abs diff |",
        "|---|---|" + "---:|" * (len(criteria) + 1),
    ]
    for metric, spec, stat in keys:
        cells, gaps = [], []
        for c in criteria:
            r = index[(metric, stat, c)]
            cells.append(f"{r['published']:.3f} / {r['ours']:.3f}")
            gaps.append(abs(r["diff"]))
        lines.append(f"| {metric} (`{spec}`) | {stat} | " + " | ".join(cells) + f" | {max(gaps):.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="raw datasets folder (default $HEAPMETRIC_DATA)")
    parser.add_argument(
        "--dataset", action="append", choices=sorted(REPRODUCTIONS), help="which reproduction (default: all)"
    )
    args = parser.parse_args(argv)
    for name in args.dataset or list(REPRODUCTIONS):
        rows = reproduce(name, data_dir=args.data_dir)
        print(f"### {name}\n\n{format_table(rows)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
