"""Temperature scaling of a trained metric's scores, fitted on validation pairs.

A Bradley–Terry metric states P(a better than b) = sigmoid(s_a − s_b). A short training run ranks well before
its scores reach the spread that makes those probabilities honest (every win rate comes out near 50%). Temperature
scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") fixes the spread without touching the
ranking: one factor ``alpha > 0`` multiplies every raw score, chosen to minimise the pairwise negative
log-likelihood on validation pairs (soft labels where the data has them), each dataset × criterion group weighted
equally. Rankings, pairwise accuracies and correlations are unchanged; only the scale of the scores is.

:func:`apply_scale` multiplies the checkpoint's scalar head (weight and bias) by ``alpha`` and the ``x`` knots of
its isotonic calibration maps, so the calibrated scores stay what they were, and records ``alpha`` in
``heapmetric.json``. Usage::

    python -m training.scaling --model runs/default_v2/model --data data_build [--max-pairs 200]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training.data import Group, better_worse, judgement_pairs, load_groups, soft_label
from training.evaluation import ScoreFn, item_of


def validation_pairs(
    groups: dict[str, Group], *, max_pairs: int = 200, seed: int = 0
) -> dict[str, list[tuple[Any, Any, float]]]:
    """``(better item, worse item, P(better is better))`` per group, at most ``max_pairs`` a group (seeded)."""
    out: dict[str, list[tuple[Any, Any, float]]] = {}
    for name, g in sorted(groups.items()):
        rows: list[tuple[Any, Any, float]] = []
        if g.judgements:
            for b, w in judgement_pairs(g.judgements):
                rows.append((item_of(b, b.output), item_of(w, w.output), 1.0))
        else:
            for p in g.preferences:
                oriented = better_worse(p)
                if oriented is None or oriented[0] == oriented[1]:
                    continue
                better, worse = oriented
                rows.append((item_of(p, better), item_of(p, worse), soft_label(p)))
        if len(rows) > max_pairs:
            rows = random.Random(f"{seed}/{name}").sample(rows, max_pairs)
        if rows:
            out[name] = rows
    return out


def pair_differences(
    pairs: dict[str, list[tuple[Any, Any, float]]], score_fn: ScoreFn
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group: ``s_better − s_worse`` and the target probabilities (every unique item scored once)."""
    unique: dict[Any, int] = {}
    for rows in pairs.values():
        for b, w, _ in rows:
            unique.setdefault(b, len(unique))
            unique.setdefault(w, len(unique))
    scores = np.asarray(list(score_fn(list(unique))), dtype=float)
    return {
        name: (
            np.array([scores[unique[b]] - scores[unique[w]] for b, w, _ in rows]),
            np.array([p for _, _, p in rows]),
        )
        for name, rows in pairs.items()
    }


def group_nll(alpha: float, diffs: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over groups of the mean pairwise cross-entropy of sigmoid(alpha * d) against the targets."""
    losses = []
    for d, p in diffs.values():
        z = alpha * d
        # -[p log s(z) + (1-p) log s(-z)], with log s(z) = -log(1 + e^-z) computed stably
        losses.append(float(np.mean(p * np.logaddexp(0.0, -z) + (1.0 - p) * np.logaddexp(0.0, z))))
    return float(np.mean(losses))


def fit_scale(
    diffs: dict[str, tuple[np.ndarray, np.ndarray]], *, low: float = 0.1, high: float = 100.0
) -> float:
    """The ``alpha`` in ``[low, high]`` that minimises :func:`group_nll` (golden-section search on log alpha;
    the loss is convex in alpha)."""
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = group_nll(math.exp(c), diffs), group_nll(math.exp(d), diffs)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = group_nll(math.exp(c), diffs)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = group_nll(math.exp(d), diffs)
    return math.exp((a + b) / 2)


def apply_scale(model_dir: str | Path, alpha: float, *, note: dict[str, Any] | None = None) -> None:
    """Multiply the checkpoint's head and its calibration knots by ``alpha`` (in place, atomically per file)."""
    from safetensors.torch import load_file, save_file

    from heapmetric.io import write_json

    model_dir = Path(model_dir)
    spec_path = model_dir / "heapmetric.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    head_path = model_dir / (spec.get("head") or {}).get("file", "head.safetensors")
    tensors = {k: v * alpha for k, v in load_file(str(head_path)).items()}
    tmp = head_path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(head_path)
    for cal in (spec.get("calibration") or {}).values():
        if isinstance(cal, dict) and isinstance(cal.get("x"), list):
            cal["x"] = [float(x) * alpha for x in cal["x"]]
    spec.setdefault("training", {})["score_scale"] = {"alpha": alpha, **(note or {})}
    write_json(spec_path, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint folder (changed in place)")
    parser.add_argument("--data", default="data_build")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--max-pairs", type=int, default=200, help="pairs per group at most")
    parser.add_argument("--dry-run", action="store_true", help="fit and report, change nothing")
    args = parser.parse_args(argv)
    from training.protocols import model_score_fn

    groups = load_groups(args.data, args.split)
    pairs = validation_pairs(groups, max_pairs=args.max_pairs)
    diffs = pair_differences(pairs, model_score_fn(args.model, device="cpu"))
    alpha = fit_scale(diffs)
    report = {
        "alpha": alpha,
        "split": args.split,
        "groups": len(diffs),
        "pairs": int(sum(len(d) for d, _ in diffs.values())),
        "nll_before": group_nll(1.0, diffs),
        "nll_after": group_nll(alpha, diffs),
    }
    print(json.dumps(report, indent=1))
    if not args.dry_run:
        apply_scale(args.model, alpha, note={k: v for k, v in report.items() if k != "alpha"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
