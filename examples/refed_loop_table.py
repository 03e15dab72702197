"""The comparison table of ``examples/refed_loop.sh``: one CSV row per number with the command that made it.

    python examples/refed_loop_table.py OUT

Reads ``OUT/commands.tsv`` (step -> command, written by the loop), the synthesis reports, the fine-tuning
summaries and the bench summaries, and writes:

- ``OUT/comparison.csv``: ``model, mode, quantity, value, command`` (long form: every number with its command);
- ``OUT/comparison.md``: the same numbers as one wide Markdown table;
- ``OUT/comparison.png``: AlpacaEval win rate and Arena-Hard score per model and judge, with 95% intervals.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

MODES = ("reference", "none", "sample")


def _tag(judge: str) -> str:
    """The folder name the loop uses for a judge (same rule as its ``tr -c``/``cut``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", judge)[:40]


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def collect(out: Path) -> list[dict[str, Any]]:
    """Every number of the run as ``{model, mode, quantity, value, command}``."""
    commands = {}
    for line in (out / "commands.tsv").read_text(encoding="utf-8").splitlines():
        step, _, command = line.partition("\t")
        commands[step] = command
    judges = [s.split(":", 2)[2] for s in commands if s.startswith("bench:alpacaeval:")]
    rows: list[dict[str, Any]] = []

    def add(model: str, mode: str, quantity: str, value: Any, step: str) -> None:
        if value is not None:
            rows.append(
                {
                    "model": model,
                    "mode": mode,
                    "quantity": quantity,
                    "value": value,
                    "command": commands.get(step, ""),
                }
            )

    for mode in MODES:
        model = f"sft-{mode}"
        report = _read_json(out / "synth" / mode / "report.json")
        if report:
            add(model, mode, "synth_records", report["records"], f"synth:{mode}")
            add(model, mode, "synth_candidates", report["candidates"], f"synth:{mode}")
            add(model, mode, "synth_references_used", report["references"]["used"], f"synth:{mode}")
        info = _read_json(out / "sft" / mode / "finetune.json")
        if info:
            res = info["result"]
            add(model, mode, "sft_steps", res["steps"], f"finetune:{mode}")
            add(model, mode, "sft_loss_first", res["first_loss"], f"finetune:{mode}")
            add(model, mode, "sft_loss_last", res["last_loss"], f"finetune:{mode}")
            add(model, mode, "sft_seconds", res["elapsed_s"], f"finetune:{mode}")
    for judge in judges:
        ae = _read_json(out / "bench" / "alpacaeval" / _tag(judge) / "summary.json")
        for model, row in (ae or {}).get("rows", {}).items():
            mode = model.removeprefix("sft-")
            for key in ("win_rate", "standard_error", "length_controlled_winrate", "avg_length", "n_total"):
                add(model, mode, f"alpacaeval_{key}[{judge}]", row.get(key), f"bench:alpacaeval:{judge}")
        ah = _read_json(out / "bench" / "arena-hard" / _tag(judge) / "summary.json")
        for row in (ah or {}).get("rows", []):
            model = row["model"]
            if model == ah.get("baseline"):
                continue
            for key in ("score", "rating_q025", "rating_q975", "avg_tokens"):
                add(
                    model,
                    model.removeprefix("sft-"),
                    f"arenahard_{key}[{judge}]",
                    row.get(key),
                    f"bench:arena-hard:{judge}",
                )
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def write(out: Path, rows: list[dict[str, Any]]) -> None:
    """comparison.csv, comparison.md and comparison.png under ``out``."""
    from heapmetric.io import atomic_write
    from heapmetric.report.leaderboard import write_rows_csv

    write_rows_csv(out / "comparison.csv", rows, ["model", "mode", "quantity", "value", "command"])
    models = list(dict.fromkeys(r["model"] for r in sorted(rows, key=lambda r: r["model"] != "base")))
    quantities = list(dict.fromkeys(r["quantity"] for r in rows))
    cell = {(r["model"], r["quantity"]): r["value"] for r in rows}
    lines = ["| quantity | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for q in quantities:
        lines.append(f"| {q} | " + " | ".join(_fmt(cell.get((m, q), "")) for m in models) + " |")
    with atomic_write(out / "comparison.md") as handle:
        handle.write("\n".join(lines) + "\n")
    _plot(out / "comparison.png", models, cell, quantities)


def _plot(path: Path, models: list[str], cell: dict[tuple[str, str], Any], quantities: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for q in quantities:
        m = re.fullmatch(r"alpacaeval_win_rate\[(.*)\]", q)
        if m:
            panels.append(("AlpacaEval win rate vs gpt4_1106_preview (%)", q, "se", m.group(1)))
        m = re.fullmatch(r"arenahard_score\[(.*)\]", q)
        if m:
            panels.append(("Arena-Hard score vs gpt-4-0314 (%)", q, "ci", m.group(1)))
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.2 * max(len(panels), 1), 3.6), squeeze=False)
    for ax, (title, q, kind, judge) in zip(axes[0], panels, strict=False):
        values, lo, hi = [], [], []
        for model in models:
            v = cell.get((model, q))
            v = float("nan") if v is None else float(v)
            if kind == "se":
                se = cell.get((model, f"alpacaeval_standard_error[{judge}]")) or 0.0
                a = b = 1.96 * float(se)
            else:
                a = v - float(cell.get((model, f"arenahard_rating_q025[{judge}]"), v))
                b = float(cell.get((model, f"arenahard_rating_q975[{judge}]"), v)) - v
            values.append(v)
            lo.append(max(a, 0.0))
            hi.append(max(b, 0.0))
        ax.bar(range(len(models)), values, yerr=[lo, hi], capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{title}\njudge: {judge}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    rows = collect(out)
    write(out, rows)
    print((out / "comparison.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
