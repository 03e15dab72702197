"""Two checkpoints' test-split results side by side, with a paired bootstrap CI of the difference in means.

Reads two ``heapmetric evaluate-model --out`` JSON files. The groups compared are those of ``--groups-from``
(default: the first model's file), so the means are taken over the same dataset × criterion groups for both.
The bootstrap resamples *groups* (the unit the means are taken over) with replacement, paired: each draw takes
the same groups for both models. Writes JSON and a markdown table.

    python benchmarks/compare_models.py --a runs/v1_test.json --b runs/v2_test.json \
        --names v1 v2 --out benchmarks/results/default_v2/v1_vs_v2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

MEASURES = ("pairwise_accuracy", "kendall")
# Each group counts once in the means above, so the FED turn-level criteria (9 groups of 12-25 pairs on the same
# ~20 responses) weigh as much as SummEval's 1,800-pair groups; the pair-weighted accuracy shows the other view.
WEIGHTED = ("pairwise_accuracy", "n_pairs")


def paired_difference(
    a: dict,
    b: dict,
    groups: list[str],
    measure: str,
    *,
    weight: str | None = None,
    n_resamples: int = 10000,
    seed: int = 0,
) -> dict:
    """Mean of ``measure`` for both models over the groups where both have it, and a 95% paired bootstrap
    interval of mean(b) - mean(a). With ``weight`` (a per-group count in ``a``, e.g. ``n_pairs``) the means
    are weighted by it, in every bootstrap draw too."""
    from heapmetric.stats.bootstrap import bootstrap

    keep = [
        g
        for g in groups
        if all(
            isinstance(r.get("groups", {}).get(g, {}).get(measure), (int, float))
            and math.isfinite(r["groups"][g][measure])
            for r in (a, b)
        )
    ]
    va = np.array([a["groups"][g][measure] for g in keep])
    vb = np.array([b["groups"][g][measure] for g in keep])
    w = np.array([float(a["groups"][g].get(weight) or 0) for g in keep]) if weight else np.ones(len(keep))
    diff = vb - va

    def mean(v: np.ndarray, idx: np.ndarray | slice = slice(None)) -> float:
        return float((v[idx] * w[idx]).sum() / w[idx].sum()) if w[idx].sum() > 0 else math.nan

    ci = bootstrap(
        lambda idx: mean(diff, idx),
        len(keep),
        n_resamples=n_resamples,
        rng=np.random.default_rng(seed),
    )
    return {
        "groups": len(keep),
        "weight": weight,
        "mean_a": mean(va) if keep else math.nan,
        "mean_b": mean(vb) if keep else math.nan,
        "difference": mean(diff) if keep else math.nan,
        "ci95": [ci.low, ci.high],
        "b_better_groups": int((diff > 0).sum()),
        "b_worse_groups": int((diff < 0).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True, help="first model's evaluate-model JSON (the baseline)")
    p.add_argument("--b", required=True, help="second model's evaluate-model JSON")
    p.add_argument("--names", nargs=2, default=["a", "b"])
    p.add_argument("--groups-from", help="JSON whose groups define the comparison (default: --a)")
    p.add_argument("--out", required=True, help="output path without suffix (.json and .md are written)")
    args = p.parse_args(argv)
    a = json.loads(Path(args.a).read_text())
    b = json.loads(Path(args.b).read_text())
    groups = sorted(
        json.loads(Path(args.groups_from).read_text())["groups"] if args.groups_from else a["groups"]
    )
    result = {
        "names": args.names,
        "files": [args.a, args.b],
        "resampling": "groups (dataset x criterion), paired, 10000 draws, seed 0",
        **{m: paired_difference(a, b, groups, m) for m in MEASURES},
        "pairwise_accuracy_pair_weighted": paired_difference(a, b, groups, WEIGHTED[0], weight=WEIGHTED[1]),
    }
    na, nb = args.names
    lines = [
        f"| measure | groups | {na} | {nb} | {nb} − {na} | 95% CI (paired bootstrap over groups) | groups {nb} better / worse |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for m, label in (
        *((m, f"mean {m.replace('_', ' ')}") for m in MEASURES),
        ("pairwise_accuracy_pair_weighted", "pairwise accuracy, pair-weighted mean"),
    ):
        r = result[m]
        lines.append(
            f"| {label} | {r['groups']} | {r['mean_a']:.3f} | {r['mean_b']:.3f} | "
            f"{r['difference']:+.3f} | [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}] | "
            f"{r['b_better_groups']} / {r['b_worse_groups']} |"
        )
    from heapmetric.io import atomic_write, write_json

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # appended, not with_suffix: a name like v2_merge_0.3 must not lose its ".3"
    write_json(out.parent / f"{out.name}.json", result)
    with atomic_write(out.parent / f"{out.name}.md") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
