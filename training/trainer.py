"""The training loop: Bradley–Terry (+ optional pointwise) training of a reward-model metric, with multi-task
mixing, evaluation and early stopping, resumable checkpoints, and ``accelerate`` for devices and processes.

Resumption is exact: the examples of every micro-step are a pure function of ``(seed, micro_step)``
(:class:`~training.mixing.MixtureSampler`), dropout is reseeded from ``(seed, step)`` at every step, and a
checkpoint holds the model, optimizer, scheduler, RNG states (through ``Accelerator.save_state``) and the
trainer state (step, elapsed time, early-stopping state). Checkpoints are written to a temporary folder and
renamed, so a run killed at any point resumes from the last complete one without repeating or losing steps.

Run folder layout (``output_dir``)::

    config.yaml            the resolved config
    data_summary.json      pairs per group, and groups without pairs
    metrics.jsonl          one line per step (loss, accuracy, lr) and per evaluation
    metrics.png            a plot of metrics.jsonl
    checkpoints/step-N/    resumable checkpoints (the last ``keep_checkpoints``)
    best/                  the best model so far on the validation mean (when evaluating)
    model/                 the final model (best or last), calibrated: what ``heapmetric.load(dir)`` reads
    summary.json           steps, wall time, pairs seen, final validation results
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError
from heapmetric.io import atomic_write, write_json
from training.config import TrainConfig
from training.data import Fields, Group, TrainingData, build_training_data, load_groups
from training.mixing import MixtureSampler, group_weights, shard

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished (or stopped) run produced."""

    output_dir: Path
    model_dir: Path
    steps: int
    stopped: str
    elapsed_s: float
    validation: dict[str, Any] | None


# ----------------------------------------------------------------------------------------- preparation


def prepare_data(cfg: TrainConfig) -> tuple[TrainingData, dict[str, Group], dict[str, Any]]:
    """Load and check the training and validation data before any model is built.

    Returns the training pairs, the validation groups and the criterion of each group. Groups whose
    task/criterion is not registered (and have no record-level instruction) raise :class:`InputError`.
    """
    from heapmetric import registry

    kw = dict(
        datasets=cfg.datasets,
        exclude_datasets=cfg.exclude_datasets,
        tasks=cfg.tasks,
        exclude_tasks=cfg.exclude_tasks,
        criteria=cfg.criteria,
    )
    _check_dataset_names(cfg)
    train_groups = load_groups(cfg.data_dir, "train", **kw)
    if not train_groups:
        raise InputError("no training records match the config's datasets/tasks/criteria", field="datasets")
    data = build_training_data(
        train_groups,
        judgement_pairs_enabled=cfg.judgement_pairs,
        min_gap=cfg.min_score_gap,
        max_pairs_per_item=cfg.max_pairs_per_item,
        length_balance=cfg.length_balance,
        seed=cfg.seed,
    )
    if not data.pairs and not (cfg.pointwise_weight > 0 and data.graded):
        raise InputError("no training pairs in any group: " + "; ".join(data.warnings), field="datasets")
    criteria: dict[str, Any] = {}
    for name, g in train_groups.items():
        try:
            criteria[f"{g.task}/{g.criterion}"] = registry.get_criterion(g.task, g.criterion)
        except Exception as exc:
            raise InputError(
                f"group {name}: {exc}; add it to heapmetric/criteria/ or filter it out", field="criteria"
            ) from exc
    try:
        val_groups = load_groups(cfg.data_dir, "validation", **kw)
    except InputError:
        val_groups = {}
    val_groups = {k: g for k, g in val_groups.items() if f"{g.task}/{g.criterion}" in criteria}
    return data, val_groups, criteria


def _check_dataset_names(cfg: TrainConfig) -> None:
    """A dataset named in ``dataset_weights`` or ``length_balance`` must be a folder of ``data_dir``: a
    misspelt name would otherwise weigh or balance nothing, silently. (A dataset that exists but is filtered
    out by ``tasks``/``datasets``, as in the held-out protocol, is fine.)"""
    import difflib

    root = Path(cfg.data_dir)
    if not root.is_dir():
        return  # load_groups says so, naming data_dir
    known = sorted(p.name for p in root.iterdir() if p.is_dir())
    for key, names in (
        ("dataset_weights", cfg.dataset_weights or {}),
        ("length_balance", cfg.length_balance),
    ):
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(f"no dataset {name!r} in {root}{hint}", field=key)


def criterion_for(fields: Fields, criteria: dict[str, Any]):
    """The registered criterion, or a free-text one when the record carries its own instruction."""
    if fields.instruction:
        from heapmetric.registry import free_text_criterion

        return free_text_criterion(fields.instruction)
    return criteria[f"{fields.task}/{fields.criterion}"]


def render_side(fields: Fields, output: str, criteria: dict[str, Any], paraphrase: int | None):
    """Render one output for training; ``paraphrase`` picks an instruction paraphrase (None: canonical)."""
    from heapmetric.judges.base import ScoreItem
    from heapmetric.scoring.render import render

    crit = criterion_for(fields, criteria)
    item = ScoreItem(
        output=output,
        source=fields.source,
        context=fields.context,
        reference=fields.reference,
        task=fields.task,
        criterion=fields.criterion,
    )
    instruction = None
    if paraphrase is not None and not fields.instruction:
        instruction = crit.instructions[paraphrase % len(crit.instructions)]
    elif fields.instruction:
        instruction = fields.instruction
    return render(item, crit, instruction=instruction)


# ------------------------------------------------------------------------------------------ checkpoints


def _checkpoints(out: Path) -> list[tuple[int, Path]]:
    folder = out / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith("step-") and (p / "trainer_state.json").exists():
            try:
                found.append((int(p.name[5:]), p))
            except ValueError:
                continue
    return sorted(found)


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete checkpoint of a run folder, or None."""
    found = _checkpoints(Path(out))
    return found[-1][1] if found else None


def _save_checkpoint(accelerator, out: Path, state: dict[str, Any], keep: int) -> Path:
    """Save atomically: write ``checkpoints/.tmp-step-N`` then rename to ``step-N``; prune old ones."""
    folder = out / "checkpoints"
    final = folder / f"step-{state['step']}"
    tmp = folder / f".tmp-step-{state['step']}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if accelerator.is_main_process:
        write_json(tmp / "trainer_state.json", state)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for _, old in _checkpoints(out)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after ``step`` (they will be logged again by the resumed run)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
    with atomic_write(path) as handle:
        handle.write("".join(k + "\n" for k in keep))


# ------------------------------------------------------------------------------------------------ train


def train(
    cfg: TrainConfig, *, resume: bool = False, progress: bool = True, stop_after: int | None = None
) -> TrainResult:
    """Train per ``cfg``; with ``resume``, continue from the newest checkpoint in ``cfg.output_dir``.

    ``stop_after`` stops (with a checkpoint) after that many optimizer steps in this call, leaving the run
    resumable: tests use it to simulate a kill. Raises :class:`InputError` before any work for bad data, and
    when the output folder holds checkpoints but ``resume`` is false.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from training import modeling
    from training.evaluation import evaluate
    from training.losses import bradley_terry_loss, pair_accuracy, pointwise_loss

    out = Path(cfg.output_dir)
    existing = latest_checkpoint(out)
    if existing is not None and not resume:
        raise InputError(
            f"{out} already holds checkpoints ({existing.name}); pass --resume to continue or "
            "--output for a new run",
            field="output_dir",
        )
    if resume and existing is None and (out / "model").exists():
        raise InputError(f"{out} holds a finished run and no checkpoint to resume", field="output_dir")
    data, val_groups, criteria = prepare_data(cfg)

    accelerator = Accelerator(
        mixed_precision=cfg.mixed_precision, cpu=os.environ.get("HEAPMETRIC_TRAIN_DEVICE") == "cpu"
    )
    set_seed(cfg.seed)
    main = accelerator.is_main_process
    if cfg.mixed_precision == "bf16" and accelerator.device.type == "cpu":
        from heapmetric.scoring.device import cpu_native_bf16

        if not cpu_native_bf16():
            log.warning(
                "mixed_precision: bf16 on a CPU without native bf16 (no avx512_bf16/amx_bf16 flag): torch "
                "emulates it, measured 20x slower than fp32 training on an AVX2 EPYC; use mixed_precision: no"
            )
    if main:
        out.mkdir(parents=True, exist_ok=True)
        import yaml

        with atomic_write(out / "config.yaml") as handle:
            yaml.safe_dump(cfg.to_dict(), handle, sort_keys=False)
        write_json(
            out / "data_summary.json",
            {"groups": data.summary, "warnings": data.warnings, "validation_groups": sorted(val_groups)},
        )
    model, tokenizer = modeling.build_model(cfg)
    optimizer = modeling.build_optimizer(model, cfg)
    # ``plan`` holds the number of steps the schedule decays over: max_steps, or, under a time budget, the
    # steps that fit in it (estimated once, early in the run, and checkpointed with the trainer state).
    plan = {"planned_steps": cfg.max_steps}
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(cfg, s, plan["planned_steps"])
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    device = accelerator.device

    sizes = {k: len(v) for k, v in data.pairs.items()}
    weights = (
        group_weights(
            sizes,
            cfg.mixing,
            cap=cfg.mixing_cap,
            temperature=cfg.mixing_temperature,
            dataset_weights=cfg.dataset_weights,
        )
        if sizes
        else {}
    )
    sampler = MixtureSampler(sizes, weights, cfg.seed) if sizes else None
    graded_sampler = None
    if cfg.pointwise_weight > 0 and data.graded:
        gsizes = {k: len(v) for k, v in data.graded.items()}
        graded_sampler = MixtureSampler(
            gsizes,
            group_weights(
                gsizes,
                cfg.mixing,
                cap=cfg.mixing_cap,
                temperature=cfg.mixing_temperature,
                dataset_weights=cfg.dataset_weights,
            ),
            cfg.seed + 1,
        )

    state: dict[str, Any] = {
        "step": 0,
        "elapsed_s": 0.0,
        "best": None,
        "best_step": None,
        "bad_evals": 0,
        "pairs_seen": 0,
        "stopped": None,
    }
    metrics_path = out / "metrics.jsonl"
    if resume and existing is not None:
        accelerator.load_state(str(existing))
        state = json.loads((existing / "trainer_state.json").read_text(encoding="utf-8"))
        plan["planned_steps"] = state.get("planned_steps", cfg.max_steps)
        if state.get("stopped") == "time_budget":
            state["stopped"] = None  # a new call gets a new time budget
        extended = _extend_plan(cfg, state)
        if extended is not None:
            plan["planned_steps"] = state["planned_steps"] = extended
            log.info(
                "time budget raised to %.1f min: schedule re-planned over %d steps", cfg.max_minutes, extended
            )
        if main:
            _truncate_metrics(metrics_path, state["step"])
            log.info("resumed from %s (step %d)", existing, state["step"])
    elif main and metrics_path.exists():
        metrics_path.unlink()
    accelerator.wait_for_everyone()

    def score_items(items):
        return modeling.score_items(
            accelerator.unwrap_model(model),
            tokenizer,
            items,
            criteria,
            max_length=cfg.max_length,
            batch_size=cfg.eval_batch_size,
            device=device,
            autocast=accelerator.autocast,
        )

    def log_line(row: dict[str, Any]) -> None:
        if main:
            with open(metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")

    def run_eval() -> dict[str, Any] | None:
        if not val_groups:
            return None
        for fut in list(ahead.values()):  # the tokenizer is not shared between threads while evaluating
            fut.result()
        model.eval()
        with torch.no_grad():
            res = evaluate(val_groups, score_items, max_per_group=cfg.eval_max_per_group, seed=cfg.seed)
        model.train()
        return res

    def build_micro(micro: int) -> dict[str, Any]:
        """Render and tokenize the examples of one micro-step (a pure function of the seed and ``micro``)."""
        from heapmetric.scoring.render import encode

        def token_ids(rendered: list) -> list[list[int]]:  # padded later, per chunk, in run_model
            return [e.input_ids for e in encode(tokenizer, rendered, cfg.max_length)]

        out: dict[str, Any] = {}
        if sampler is not None:
            picks = shard(sampler.draw(micro, cfg.batch_size * n_proc), rank, n_proc)
            para = (
                sampler.rng(micro).integers(0, 1 << 30, size=len(picks))
                if cfg.paraphrase == "random"
                else [None] * len(picks)
            )
            pairs = [data.pairs[g][i] for g, i in picks]
            rendered = [
                render_side(p.fields, p.better, criteria, q) for p, q in zip(pairs, para, strict=True)
            ] + [render_side(p.fields, p.worse, criteria, q) for p, q in zip(pairs, para, strict=True)]
            margins = torch.tensor([p.margin for p in pairs]) if cfg.margin_weighting else None
            probs = torch.tensor([p.prob for p in pairs]) if any(p.prob != 1.0 for p in pairs) else None
            out["pairs"] = (token_ids(rendered), len(pairs), margins, probs)
        if graded_sampler is not None:
            gp = shard(
                graded_sampler.draw(micro, (cfg.pointwise_batch_size or cfg.batch_size) * n_proc),
                rank,
                n_proc,
            )
            gpara = (
                graded_sampler.rng(micro).integers(0, 1 << 30, size=len(gp))
                if cfg.paraphrase == "random"
                else [None] * len(gp)
            )
            ex = [data.graded[g][i] for g, i in gp]
            rendered = [render_side(e.fields, e.output, criteria, q) for e, q in zip(ex, gpara, strict=True)]
            out["graded"] = (
                token_ids(rendered),
                torch.tensor([e.target for e in ex]),
            )
        return out

    from heapmetric.scoring.batching import plan_batches
    from heapmetric.scoring.render import collate, pad_token_id

    pad_id = pad_token_id(tokenizer)

    def run_model(ids: list[list[int]]) -> Any:
        """Scores of token sequences in input order: one padded forward pass, or, with ``token_budget``,
        length-sorted chunks of at most that many padded tokens (same scores, less padding)."""
        chunks = (
            [b.indices for b in plan_batches([len(x) for x in ids], max_tokens=cfg.token_budget)]
            if cfg.token_budget
            else [tuple(range(len(ids)))]
        )
        parts, order = [], []
        for idx in chunks:
            batch = collate([ids[i] for i in idx], pad_id)
            with accelerator.autocast():
                parts.append(
                    model(
                        input_ids=batch["input_ids"].to(device, non_blocking=True),
                        attention_mask=batch["attention_mask"].to(device, non_blocking=True),
                    ).float()
                )
            order.extend(idx)
        scores = torch.cat(parts)
        if len(chunks) == 1:
            return scores
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return scores[inverse.to(scores.device)]

    # One micro-step ahead on a thread: tokenizing (Rust, outside the GIL) overlaps the model's step.
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heapmetric-batches")
    ahead: dict[int, Any] = {}
    last_micro = cfg.max_steps * cfg.grad_accum_steps - 1

    def fetch(micro: int) -> dict[str, Any]:
        fut = ahead.pop(micro, None)
        result = fut.result() if fut is not None else build_micro(micro)
        if micro < last_micro:
            ahead[micro + 1] = pool.submit(build_micro, micro + 1)
        return result

    bar = None
    if progress and main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=state["step"], desc="train", unit="step", dynamic_ncols=True)
    n_proc, rank = accelerator.num_processes, accelerator.process_index
    start = time.monotonic() - state["elapsed_s"]
    steps_this_call = 0
    model.train()
    stopped = state.get("stopped")
    while state["step"] < cfg.max_steps and not stopped:
        step = state["step"]
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        t0 = time.monotonic()
        loss_sum, acc_sum, pw_sum = 0.0, 0.0, 0.0
        for k in range(cfg.grad_accum_steps):
            micro = step * cfg.grad_accum_steps + k
            loss = torch.zeros((), device=device)
            mb = fetch(micro)
            if "pairs" in mb:
                ids, n, margins, probs = mb["pairs"]
                scores = run_model(ids)
                s_b, s_w = scores[:n], scores[n:]
                bt = bradley_terry_loss(s_b, s_w, margins.to(device) if margins is not None else None, probs)
                loss = loss + bt
                loss_sum += float(bt.detach())
                acc_sum += pair_accuracy(s_b, s_w)
            if "graded" in mb:
                ids, targets = mb["graded"]
                s = run_model(ids)
                pw = pointwise_loss(s, targets.to(device))
                loss = loss + cfg.pointwise_weight * pw
                pw_sum += float(pw.detach())
            loss = loss / cfg.grad_accum_steps
            if k < cfg.grad_accum_steps - 1 and n_proc > 1:
                with accelerator.no_sync(model):
                    accelerator.backward(loss)
            else:
                accelerator.backward(loss)
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] = step = step + 1
        state["pairs_seen"] += cfg.batch_size * n_proc * cfg.grad_accum_steps
        steps_this_call += 1
        elapsed = time.monotonic() - start
        state["elapsed_s"] = elapsed
        if step == 1:
            state["first_step_s"] = elapsed
        row = {
            "step": step,
            "loss": loss_sum / cfg.grad_accum_steps,
            "train_pair_accuracy": acc_sum / cfg.grad_accum_steps,
            "lr": scheduler.get_last_lr()[0],
            "pairs_per_s": cfg.batch_size * n_proc * cfg.grad_accum_steps / max(time.monotonic() - t0, 1e-9),
            "elapsed_s": round(elapsed, 2),
        }
        if graded_sampler is not None:
            row["pointwise_loss"] = pw_sum / cfg.grad_accum_steps
        log_line(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['train_pair_accuracy']:.2f}")

        if (
            cfg.max_minutes is not None
            and step == PLAN_AT
            and "planned_steps" not in state
            and "first_step_s" in state
        ):
            # pace of the steps after the first (which pays for warm-up); 10% of the budget is left for the
            # evaluations, the final calibration and saving
            per_step = (elapsed - state["first_step_s"]) / (step - 1)
            fit = int((cfg.max_minutes * 60 * 0.9 - state["first_step_s"]) / per_step) + 1
            plan["planned_steps"] = max(step + 1, min(cfg.max_steps, fit))
            state["planned_steps"] = plan["planned_steps"]
            state["budget_minutes"] = cfg.max_minutes
            log.info(
                "time budget %.1f min: %.3f s/step, schedule planned over %d steps",
                cfg.max_minutes,
                per_step,
                plan["planned_steps"],
            )
        out_of_time = (cfg.max_minutes is not None and elapsed >= cfg.max_minutes * 60) or (
            plan["planned_steps"] < cfg.max_steps and step >= plan["planned_steps"]
        )
        if step % cfg.eval_every == 0 or step == cfg.max_steps or out_of_time:
            res = run_eval()
            if res is not None and main:
                metric = {
                    "mean": res["mean"],
                    "pairwise_accuracy": res["mean_pairwise_accuracy"],
                    "kendall": res["mean_kendall"],
                }[cfg.early_stopping_metric]
                log_line(
                    {
                        "step": step,
                        "eval": True,
                        "val_mean_pairwise_accuracy": res["mean_pairwise_accuracy"],
                        "val_mean_kendall": res["mean_kendall"],
                        "val_mean_spearman": res["mean_spearman"],
                        "val_mean": res["mean"],
                    }
                )
                log.info(
                    "step %d validation: pairwise acc %s, kendall %s",
                    step,
                    _fmt(res["mean_pairwise_accuracy"]),
                    _fmt(res["mean_kendall"]),
                )
                if metric is not None and (state["best"] is None or metric > state["best"]):
                    state.update(best=metric, best_step=step, bad_evals=0)
                    # full (or adapter) layout: loadable without the base package, wherever this runs
                    modeling.save_model(
                        accelerator.unwrap_model(model),
                        tokenizer,
                        out / "best",
                        cfg,
                        extra={"step": step, "validation": res},
                        layout="adapter" if cfg.lora is not None else "full",
                    )
                else:
                    state["bad_evals"] += 1
                    if cfg.early_stopping_patience and state["bad_evals"] >= cfg.early_stopping_patience:
                        stopped = "early_stopping"
            state = _broadcast(accelerator, state)
            stopped = _broadcast(accelerator, stopped)
        if out_of_time and not stopped:
            stopped = "time_budget"
        if stopped:
            state["stopped"] = stopped
        if (
            step % cfg.save_every == 0
            or stopped
            or step == cfg.max_steps
            or (stop_after is not None and steps_this_call >= stop_after)
        ):
            _save_checkpoint(accelerator, out, state, cfg.keep_checkpoints)
        if stop_after is not None and steps_this_call >= stop_after and step < cfg.max_steps and not stopped:
            pool.shutdown(cancel_futures=True)
            if bar is not None:
                bar.close()
            return TrainResult(out, out / "model", step, "interrupted", state["elapsed_s"], None)
    pool.shutdown(cancel_futures=True)
    if bar is not None:
        bar.close()
    stopped = stopped or "max_steps"

    # final model: the best validated one if any, else the last; calibrated on validation grades
    final_model = accelerator.unwrap_model(model)
    best_dir = out / "best"
    validation = None
    if main:
        if state.get("best_step") is not None and state["best_step"] != state["step"] and best_dir.exists():
            final_model = modeling.load_model(best_dir, device=device)
        validation = finalize_model(
            final_model,
            tokenizer,
            out / "model",
            cfg,
            val_groups,
            criteria,
            device=device,
            autocast=accelerator.autocast,
            extra={"step": state["step"], "best_step": state.get("best_step")},
        )
        write_json(
            out / "summary.json",
            {
                "steps": state["step"],
                "best_step": state.get("best_step"),
                "stopped": stopped,
                "elapsed_s": round(state["elapsed_s"], 1),
                "pairs_seen": state["pairs_seen"],
                "num_processes": n_proc,
                "device": str(device),
                "groups": data.summary,
                "mixing_weights": weights,
                "validation": validation,
                "warnings": data.warnings,
            },
        )
        try:
            from training.plot import plot_metrics

            plot_metrics(metrics_path, out / "metrics.png")
        except Exception as exc:  # a plot must never fail a finished run
            log.warning("could not plot metrics: %s", exc)
    accelerator.wait_for_everyone()
    return TrainResult(out, out / "model", state["step"], stopped, state["elapsed_s"], validation)


def finalize_model(
    model: Any,
    tokenizer: Any,
    directory: Path,
    cfg: TrainConfig,
    val_groups: dict[str, Group],
    criteria: dict[str, Any],
    *,
    device: Any,
    autocast: Any = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Validate ``model`` on the validation groups (at most ``cfg.final_eval_max_per_group`` each), fit its
    calibration on the same outputs when ``cfg.calibrate``, and save it to ``directory`` with the results.

    Returns the validation results (None without validation groups). Used by the trainer for its final model
    and by :mod:`training.merge` for an interpolated one, so both are validated and calibrated alike.
    """
    import torch

    from training import modeling
    from training.evaluation import evaluate, subsample

    model.eval()
    memo: dict[Any, float] = {}

    def final_scores(items):  # calibration and validation score the same outputs: score them once
        todo = [it for it in dict.fromkeys(items) if it not in memo]
        if todo:
            memo.update(
                zip(
                    todo,
                    modeling.score_items(
                        model,
                        tokenizer,
                        todo,
                        criteria,
                        max_length=cfg.max_length,
                        batch_size=cfg.eval_batch_size,
                        device=device,
                        autocast=autocast,
                    ),
                    strict=False,
                )
            )
        return [memo[it] for it in items]

    final_groups = {k: subsample(g, cfg.final_eval_max_per_group, cfg.seed) for k, g in val_groups.items()}
    with torch.no_grad():
        validation = evaluate(final_groups, final_scores) if final_groups else None
        calibration = modeling.fit_calibration(final_groups, criteria, final_scores) if cfg.calibrate else {}
    modeling.save_model(
        model,
        tokenizer,
        directory,
        cfg,
        calibration=calibration,
        extra={**(extra or {}), "validation": validation},
    )
    return validation


PLAN_AT = 30
"""Step at which a run with a time budget estimates how many steps fit in it."""


def _extend_plan(cfg: TrainConfig, state: dict[str, Any]) -> int | None:
    """On resume with a larger ``max_minutes`` than the run was planned for, the steps that fit in the new
    budget at the pace measured so far (None: keep the plan). This is how a CPU run grows across sessions:
    ``heapmetric train --resume --set max_minutes=N``; the linear schedule then restarts from the learning rate
    it has at the current step of the longer plan (a warm restart)."""
    if cfg.max_minutes is None or "planned_steps" not in state or state.get("step", 0) < 2:
        return None
    old = state.get("budget_minutes")
    if old is not None and cfg.max_minutes <= old:
        return None
    first = state.get("first_step_s", 0.0)
    pace = (state["elapsed_s"] - first) / (state["step"] - 1)
    if pace <= 0:
        return None
    fit = min(cfg.max_steps, int((cfg.max_minutes * 60 * 0.9 - first) / pace) + 1)
    state["budget_minutes"] = cfg.max_minutes
    return fit if fit > state["planned_steps"] else None


def lr_factor(cfg: TrainConfig, step: int, planned: int) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up over ``warmup_ratio`` of the planned steps (over the
    first :data:`PLAN_AT` steps under a time budget, while the pace is measured), then linear or cosine decay to
    0 at ``planned`` (or constant)."""
    warmup = (
        PLAN_AT if cfg.max_minutes is not None and cfg.warmup_ratio > 0 else int(cfg.warmup_ratio * planned)
    )
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if cfg.scheduler == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, planned - warmup))
    if cfg.scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)


def _fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _broadcast(accelerator, obj):
    """The main process's value of ``obj`` on every process."""
    if accelerator.num_processes == 1:
        return obj
    from accelerate.utils import broadcast_object_list

    box = [obj]
    broadcast_object_list(box, from_process=0)
    return box[0]
