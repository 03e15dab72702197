"""The HEAP paper's training protocols, and test-split evaluation of a model or any judge.

- ``single-task``: one model per task, trained and tested on that task.
- ``multi-task``: one model trained on every task, tested on each.
- ``held-out``: for each task, a model trained on every *other* task and tested on the one left out.

Each run lives in ``<out>/<protocol>/<task or all>/`` (resumable: a finished run is reused, an interrupted one
resumes); the protocol writes ``<out>/<protocol>.json`` and ``<out>/<protocol>.md`` with one row per tested
group and the per-task means.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError
from heapmetric.io import atomic_write, write_json
from training.config import TrainConfig
from training.data import load_groups
from training.evaluation import ScoreFn, evaluate, markdown_table

log = logging.getLogger(__name__)

PROTOCOLS = ("single-task", "multi-task", "held-out")


class _Criteria(dict):
    """Registered criteria looked up on first use (``task/criterion`` -> Criterion)."""

    def __missing__(self, key: str) -> Any:
        from heapmetric.registry import get_criterion

        task, criterion = key.split("/", 1)
        value = self[key] = get_criterion(task, criterion)
        return value


def model_score_fn(model_dir: str | Path, *, device: str = "auto", batch_size: int = 32) -> ScoreFn:
    """Raw scores of a saved checkpoint, rendered exactly as in training (canonical instruction)."""
    from heapmetric.scoring.device import resolve_device
    from heapmetric.scoring.reward_model import RewardModel
    from training import modeling

    dev = resolve_device(device)
    model = RewardModel.from_pretrained(model_dir, device=str(dev))  # an adapter merged: scoring only
    criteria = _Criteria()

    def score(items: Sequence[Any]) -> list[float]:
        return modeling.score_items(
            model,
            model.tokenizer,
            list(items),
            criteria,
            max_length=model.max_length,
            batch_size=batch_size,
            device=dev,
        )

    return score


def judge_score_fn(spec: str, *, batch_size: int = 32) -> ScoreFn:
    """Scores of any judge spec (``length``, ``rougeL``, ``embed-ref``, ``heapmetric:DIR`` ...)."""
    from heapmetric.judges.spec import load_judge

    judge = load_judge(spec)

    def score(items: Sequence[Any]) -> list[float]:
        return list(judge.score(list(items), batch_size=batch_size).scores)

    return score


def evaluate_on_split(
    score_fn: ScoreFn,
    data_dir: str | Path,
    split: str = "test",
    *,
    datasets: Iterable[str] | None = None,
    tasks: Iterable[str] | None = None,
    exclude_datasets: Iterable[str] = (),
    max_per_group: int | None = None,
) -> dict[str, Any]:
    """:func:`training.evaluation.evaluate` on one split of the converted data."""
    groups = load_groups(data_dir, split, datasets=datasets, tasks=tasks, exclude_datasets=exclude_datasets)
    if not groups:
        raise InputError(f"no {split} records to evaluate on", file=str(data_dir))
    return evaluate(groups, score_fn, max_per_group=max_per_group)


def available_tasks(cfg: TrainConfig) -> list[str]:
    """Tasks present in the training split under the config's dataset filters."""
    groups = load_groups(
        cfg.data_dir,
        "train",
        datasets=cfg.datasets,
        exclude_datasets=cfg.exclude_datasets,
        tasks=cfg.tasks,
        exclude_tasks=cfg.exclude_tasks,
        criteria=cfg.criteria,
    )
    return sorted({g.task for g in groups.values()})


def run_protocol(
    protocol: str,
    cfg: TrainConfig,
    out: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    split: str = "test",
    progress: bool = False,
    eval_max_per_group: int | None = None,
    device: str = "auto",
    baselines: Sequence[str] = (),
) -> dict[str, Any]:
    """Train and test per ``protocol``; write ``<out>/<protocol>.json`` and ``.md``; return the results.

    ``baselines`` (names of :data:`training.model_card.BASELINES`) are scored on the same tested groups (same
    subsample); each task's row then holds, per baseline, its mean pairwise accuracy and the model's over the
    groups that baseline covers, and whether the model beats every baseline there."""
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r} (expected {', '.join(PROTOCOLS)})", field="protocol")
    from training.trainer import latest_checkpoint, train

    out = Path(out)
    all_tasks = available_tasks(cfg)
    tasks = list(tasks) if tasks else all_tasks
    unknown = sorted(set(tasks) - set(all_tasks))
    if unknown:
        raise InputError(
            f"task {unknown[0]!r} has no training data (have: {', '.join(all_tasks)})", field="tasks"
        )
    if protocol == "held-out" and len(all_tasks) < 2:
        raise InputError("the held-out protocol needs at least two tasks in the data", field="tasks")
    if protocol == "multi-task":
        plan = [("all", dataclasses.replace(cfg, tasks=all_tasks), tasks)]
    elif protocol == "single-task":
        plan = [(t, dataclasses.replace(cfg, tasks=[t]), [t]) for t in tasks]
    else:
        plan = [
            (t, dataclasses.replace(cfg, tasks=[x for x in all_tasks if x != t], exclude_tasks=[]), [t])
            for t in tasks
        ]
    rows: dict[str, dict[str, Any]] = {}
    per_task: dict[str, dict[str, Any]] = {}
    task_groups: dict[str, list[str]] = {}
    runs: dict[str, Any] = {}
    for name, run_cfg, test_tasks in plan:
        run_dir = out / protocol / name
        run_cfg = dataclasses.replace(run_cfg, output_dir=str(run_dir))
        if not (run_dir / "model" / "heapmetric.json").exists() and run_cfg.head_fit:
            from training.head_fit import run as fit_head

            log.info("%s: fitting the head of %s", protocol, name)
            report = fit_head(run_cfg, resume=(run_dir / "features").is_dir(), progress=progress)
            runs[name] = {
                "head_fit_pairs": report["pairs"],
                "chosen_l2": report["chosen_l2"],
                "extract_minutes": report["extract_minutes_this_call"],
            }
        elif not (run_dir / "model" / "heapmetric.json").exists():
            log.info("%s: training %s", protocol, name)
            result = train(run_cfg, resume=latest_checkpoint(run_dir) is not None, progress=progress)
            runs[name] = {
                "steps": result.steps,
                "stopped": result.stopped,
                "elapsed_s": round(result.elapsed_s, 1),
            }
        else:
            runs[name] = {"reused": True}
        score_fn = model_score_fn(run_dir / "model", device=device, batch_size=cfg.eval_batch_size)
        for task in test_tasks:
            res = evaluate_on_split(
                score_fn,
                cfg.data_dir,
                split,
                tasks=[task],
                datasets=cfg.datasets,
                exclude_datasets=cfg.exclude_datasets,
                max_per_group=eval_max_per_group,
            )
            for gname, row in res["groups"].items():
                rows[gname] = {**row, "trained_on": name}
            per_task[task] = {k: res[k] for k in ("mean_pairwise_accuracy", "mean_kendall", "mean_spearman")}
            task_groups[task] = list(res["groups"])
    baseline_rows: dict[str, Any] = {}
    if baselines:
        from training.model_card import baseline_results

        log.info("%s: scoring the baselines %s", protocol, ", ".join(baselines))
        base = baseline_results(
            cfg.data_dir,
            split,
            baselines,
            eval_max_per_group,
            tasks=list(task_groups),
            datasets=cfg.datasets,
            exclude_datasets=cfg.exclude_datasets,
        )
        baseline_rows = {name: res["groups"] for name, res in base.items()}
        for task, names in task_groups.items():
            per_task[task]["baselines"] = _versus_baselines(rows, baseline_rows, names)
            compared = per_task[task]["baselines"].values()
            per_task[task]["beats_baselines"] = (
                all(c["model_pairwise_accuracy"] > c["pairwise_accuracy"] for c in compared)
                if compared
                else None
            )
    result = {
        "protocol": protocol,
        "split": split,
        "tasks": tasks,
        "runs": runs,
        "per_task": per_task,
        "groups": rows,
        "baseline_groups": baseline_rows,
        "config": cfg.to_dict(),
        **_means(per_task),
    }
    write_json(out / f"{protocol}.json", result)
    with atomic_write(out / f"{protocol}.md") as handle:
        handle.write(protocol_markdown(result))
    return result


def _versus_baselines(
    model_rows: dict[str, Any], baseline_rows: dict[str, dict[str, Any]], names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per baseline: its and the model's mean pairwise accuracy over the groups of ``names`` that it covers and
    that have pairs (baselines that cover none of them are left out)."""
    out = {}
    for base, brows in baseline_rows.items():
        shared = [
            n
            for n in names
            if n in brows
            and brows[n].get("pairwise_accuracy") is not None
            and model_rows[n].get("pairwise_accuracy") is not None
        ]
        if shared:
            out[base] = {
                "groups": len(shared),
                "pairwise_accuracy": statistics.fmean(brows[n]["pairwise_accuracy"] for n in shared),
                "model_pairwise_accuracy": statistics.fmean(
                    model_rows[n]["pairwise_accuracy"] for n in shared
                ),
            }
    return out


def _means(per_task: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def mean(key: str) -> float | None:
        vals = [v[key] for v in per_task.values() if v.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    beats = [v["beats_baselines"] for v in per_task.values() if v.get("beats_baselines") is not None]
    return {
        "mean_pairwise_accuracy": mean("mean_pairwise_accuracy"),
        "mean_kendall": mean("mean_kendall"),
        "tasks_beating_baselines": sum(beats) if beats else None,
    }


def protocol_markdown(result: dict[str, Any]) -> str:
    """The protocol's results as markdown: per task, then per group."""

    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.3f}"

    lines = [
        f"# Protocol {result['protocol']} ({result['split']} split)",
        "",
        "| tested task | trained on | mean pairwise accuracy | mean Kendall tau | mean Spearman |",
        "|---|---|---:|---:|---:|",
    ]
    for task, m in sorted(result["per_task"].items()):
        trained = (
            "all tasks"
            if result["protocol"] == "multi-task"
            else (task if result["protocol"] == "single-task" else f"all tasks but {task}")
        )
        lines.append(
            f"| {task} | {trained} | {f(m['mean_pairwise_accuracy'])} | {f(m['mean_kendall'])} | "
            f"{f(m['mean_spearman'])} |"
        )
    lines.append(
        f"| **mean over tasks** | | {f(result['mean_pairwise_accuracy'])} | {f(result['mean_kendall'])} | |"
    )
    names = sorted({b for m in result["per_task"].values() for b in m.get("baselines", {})})
    if names:
        from training.model_card import LABELS

        lines += [
            "",
            "Against the baselines, mean pairwise accuracy over the tested groups each baseline covers "
            "(model / baseline):",
            "",
            "| tested task | " + " | ".join(LABELS.get(n, n) for n in names) + " | beats every baseline |",
            "|---|" + "---:|" * len(names) + "---|",
        ]
        for task, m in sorted(result["per_task"].items()):
            cells = []
            for n in names:
                c = m.get("baselines", {}).get(n)
                cells.append(
                    "–"
                    if c is None
                    else f"{f(c['model_pairwise_accuracy'])} / {f(c['pairwise_accuracy'])} ({c['groups']} groups)"
                )
            beats = {True: "yes", False: "no", None: "–"}[m.get("beats_baselines")]
            lines.append(f"| {task} | " + " | ".join(cells) + f" | {beats} |")
        lines.append(
            f"\nTasks where the model beats every baseline: {result.get('tasks_beating_baselines')} "
            f"of {len(result['per_task'])}."
        )
    lines += ["", "Per dataset / task / criterion:", "", markdown_table(result["groups"]), ""]
    return "\n".join(lines)
