"""A PNG plot of a run's ``metrics.jsonl``: training loss and pair accuracy, and validation means."""

from __future__ import annotations

import json
from pathlib import Path


def plot_metrics(metrics: str | Path, png: str | Path, *, smooth: int = 20) -> Path:
    """Draw training loss / pair accuracy (moving average over ``smooth`` steps) and the validation
    pairwise accuracy and Kendall tau against steps; write ``png`` atomically and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from heapmetric.io import atomic_write

    rows = [
        json.loads(line) for line in Path(metrics).read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    train = [r for r in rows if not r.get("eval")]
    evals = [r for r in rows if r.get("eval")]

    def moving(values: list[float]) -> list[float]:
        out, acc = [], 0.0
        for i, v in enumerate(values):
            acc += v
            if i >= smooth:
                acc -= values[i - smooth]
            out.append(acc / min(i + 1, smooth))
        return out

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [r["step"] for r in train]
    ax1.plot(steps, moving([r["loss"] for r in train]), label="train loss (BT)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss")
    ax1.legend(loc="upper right")
    ax2.plot(steps, moving([r["train_pair_accuracy"] for r in train]), label="train pair accuracy")
    if evals:
        es = [r["step"] for r in evals]
        for key, label in (
            ("val_mean_pairwise_accuracy", "val pairwise accuracy"),
            ("val_mean_kendall", "val Kendall tau"),
        ):
            vals = [r.get(key) for r in evals]
            if any(v is not None for v in vals):
                ax2.plot(es, [float("nan") if v is None else v for v in vals], marker="o", label=label)
    ax2.set_xlabel("step")
    ax2.legend(loc="lower right")
    fig.tight_layout()
    with atomic_write(png, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
    return Path(png)
