"""Would a nonlinear head over a head-fit run's cached features order what its linear head cannot? (a probe)

A head-fit run (``head_fit: true``) keeps the features of its training and validation pairs in
``RUN/features/``. This fits, on the training features, a small MLP added to the run's fitted linear head
(``score = x @ w + mlp(standardised x)``, the MLP's output layer starting at zero, so epoch 0 is the linear head),
and reports the validation pairwise accuracy averaged over groups, over human/LLM-judge groups and over
perturbation groups, every few epochs, for a few widths, weight decays and perturbation weights.

    python benchmarks/mlp_head_probe.py --run runs/default_v2_lexical --model runs/v2_lexical_model \\
        --out benchmarks/results/v2_lexical/mlp_head_probe.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

SETTINGS = [(64, 1e-2, 1.0), (64, 1e-1, 1.0), (256, 1e-2, 1.0), (64, 1e-2, 3.0)]
"""(hidden width, AdamW weight decay, weight of perturbation pairs in the loss)."""


def validation_accuracy(diffs: list[float], probs: list[float], groups: list[str]) -> dict[str, Any]:
    """Group-mean pairwise accuracy (ties half, pairs labelled 0.5 left out), overall and by kind of group
    (None for a kind with no group)."""
    hits: dict[str, list[float]] = defaultdict(list)
    for d, p, g in zip(diffs, probs, groups, strict=True):
        if p != 0.5:
            hits[g].append(0.5 if d == 0 else float((d > 0) == (p > 0.5)))
    per = {g: statistics.fmean(h) for g, h in hits.items()}
    perturbation = [a for g, a in per.items() if g.startswith("perturbations/")]
    other = [a for g, a in per.items() if not g.startswith("perturbations/")]

    def mean(values: list[float]) -> float | None:
        return statistics.fmean(values) if values else None

    return {
        "groups": len(per),
        "mean": mean(list(per.values())),
        "human_llm": mean(other),
        "perturbations": mean(perturbation),
    }


def main(argv: list[str] | None = None) -> int:
    import torch
    from safetensors.torch import load_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="head-fit run folder (with features/)")
    ap.add_argument(
        "--model", required=True, help="the run's saved model (its head.safetensors is the linear head)"
    )
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    features = Path(args.run) / "features"
    parts = [torch.load(p, weights_only=False) for p in sorted(features.glob("part-*.pt"))]
    better = torch.cat([p["better"] for p in parts])
    worse = torch.cat([p["worse"] for p in parts])
    probs = torch.cat([p["prob"] for p in parts])
    groups = [g for p in parts for g in p["group"]]
    val = torch.load(features / "validation.pt", weights_only=False)
    linear = load_file(str(Path(args.model) / "head.safetensors"))["weight"][0]
    both = torch.cat([better, worse])
    mean, std = both.mean(0), both.std(0).clamp(min=1e-6)

    class Head(torch.nn.Module):
        def __init__(self, width: int, hidden: int) -> None:
            super().__init__()
            self.inner = torch.nn.Linear(width, hidden)
            self.outer = torch.nn.Linear(hidden, 1)
            torch.nn.init.zeros_(self.outer.weight)
            torch.nn.init.zeros_(self.outer.bias)

        def forward(self, x: Any) -> Any:
            mlp = self.outer(torch.nn.functional.gelu(self.inner((x - mean) / std))).squeeze(-1)
            return mlp + x @ linear

    def evaluate(score: Any) -> dict[str, Any]:
        with torch.no_grad():
            diffs = (score(val["better"]) - score(val["worse"])).tolist()
        return validation_accuracy(diffs, val["prob"].tolist(), val["group"])

    results = [{"head": "linear (the run's)", **evaluate(lambda x: x @ linear)}]
    for hidden, decay, perturbation_weight in SETTINGS:
        torch.manual_seed(0)
        head = Head(better.shape[1], hidden)
        opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=decay)
        weights = torch.tensor(
            [perturbation_weight if g.startswith("perturbations/") else 1.0 for g in groups]
        )
        start = time.time()
        for epoch in range(1, args.epochs + 1):
            for idx in torch.randperm(len(probs)).split(256):
                logits = head(better[idx]) - head(worse[idx])
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, probs[idx], reduction="none"
                )
                opt.zero_grad()
                (loss * weights[idx]).mean().backward()
                opt.step()
            if epoch % 5 == 0:
                row = {
                    "head": f"linear + MLP {hidden}",
                    "weight_decay": decay,
                    "perturbation_weight": perturbation_weight,
                    "epoch": epoch,
                    **evaluate(head),
                    "seconds": round(time.time() - start, 1),
                }
                print(json.dumps(row), flush=True)
                results.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"run": args.run, "pairs": len(probs), "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
