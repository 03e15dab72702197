"""Train the embedded default model on a lent GPU and pack the results for the trip back.

Called by ``benchmarks/gpu/train_default.sh`` (read it for the environment). Steps:

1. train ``training/configs/default_gpu.yaml`` on the packed data (``$CARRY/data``) within its time budget;
2. evaluate the final model on the test split (every dataset x criterion);
3. optionally (``HELDOUT_MINUTES`` > 0) run the held-out-task protocol with that budget per task;
4. write to ``$OUT``: ``model.tar.gz.part-*`` (the model folder, split below 15 MiB a part) and
   ``results.tar.gz`` (metrics.jsonl, metrics.png, summary.json, test.json/.md, heldout.json/.md, the log).

Unpack here with ``benchmarks/gpu/unpack_default.sh FILES_DIR``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

PART = 15 * 2**20


def split_file(path: Path, part: int = PART) -> list[Path]:
    """Cut ``path`` into ``path.part-00``, ``-01`` ... of at most ``part`` bytes; remove ``path``."""
    parts = []
    with open(path, "rb") as handle:
        i = 0
        while chunk := handle.read(part):
            target = path.with_name(f"{path.name}.part-{i:02d}")
            target.write_bytes(chunk)
            parts.append(target)
            i += 1
    path.unlink()
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train the default model on a GPU and pack the results")
    parser.add_argument("--carry", default=".gpu_carry")
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", default="runs/gpu_default", help="scratch folder for the run")
    parser.add_argument("--config", default="training/configs/default_gpu.yaml")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--steps", type=int, help="max_steps override (for a dry run)")
    parser.add_argument("--minutes", type=float, help="max_minutes override")
    parser.add_argument(
        "--heldout-minutes",
        type=float,
        default=0.0,
        help="time budget per held-out-task run (0: skip the protocol)",
    )
    parser.add_argument("--heldout-steps", type=int, help="max_steps per held-out-task run")
    parser.add_argument("--heldout-tasks", nargs="*", help="tasks to hold out in turn (default: every task)")
    parser.add_argument("--eval-max-per-group", type=int, help="subsample test groups (dry runs)")
    parser.add_argument("--datasets", nargs="*", help="only these datasets (dry runs)")
    args = parser.parse_args(argv)

    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log_file = work / "train.log"
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        handlers=[logging.FileHandler(log_file), logging.StreamHandler(sys.stderr)],
    )
    log = logging.getLogger("train_default")
    t_start = time.time()

    import torch

    from training.config import load_config
    from training.protocols import evaluate_on_split, model_score_fn, protocol_markdown, run_protocol
    from training.trainer import train

    if args.device == "cpu":
        os.environ["HEAPMETRIC_TRAIN_DEVICE"] = "cpu"
    elif not torch.cuda.is_available():
        log.error("no CUDA device; use --device cpu for a dry run")
        return 1
    log.info(
        "torch %s, cuda %s, device %s",
        torch.__version__,
        torch.version.cuda,
        torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
    )
    overrides: dict = {"data_dir": str(Path(args.carry) / "data"), "output_dir": str(work / "run")}
    if args.steps:
        overrides["max_steps"] = args.steps
        overrides["eval_every"] = max(1, args.steps // 2)
    if args.datasets:
        overrides["datasets"] = args.datasets
    if args.minutes:
        overrides["max_minutes"] = args.minutes
    if args.device == "cpu":
        overrides.update(
            mixed_precision="no",
            batch_size=4,
            pointwise_batch_size=2,
            eval_batch_size=32,
            max_length=128,
            eval_max_per_group=20,
        )
    cfg = load_config(args.config, **overrides)
    result = train(cfg, progress=False)
    log.info("trained %d steps (%s) in %.1f s", result.steps, result.stopped, result.elapsed_s)

    score_fn = model_score_fn(result.model_dir, device=args.device, batch_size=cfg.eval_batch_size)
    t0 = time.time()
    test = evaluate_on_split(
        score_fn, cfg.data_dir, "test", datasets=cfg.datasets, max_per_group=args.eval_max_per_group
    )
    log.info(
        "test: mean pairwise accuracy %s, mean Kendall %s (%.1f s)",
        test["mean_pairwise_accuracy"],
        test["mean_kendall"],
        time.time() - t0,
    )
    from heapmetric.io import write_json
    from training.evaluation import markdown_table

    results = work / "results"
    results.mkdir()
    write_json(results / "test.json", {"split": "test", **test})
    (results / "test.md").write_text(markdown_table(test["groups"]) + "\n")

    if args.heldout_minutes > 0 or args.heldout_steps:
        ho = {"max_minutes": args.heldout_minutes or None}
        if args.heldout_steps:
            ho["max_steps"] = args.heldout_steps
            ho["eval_every"] = max(1, args.heldout_steps // 2)
        from dataclasses import replace

        ho_cfg = replace(cfg, **ho, calibrate=False)
        try:
            res = run_protocol(
                "held-out",
                ho_cfg,
                work / "protocols",
                device=args.device,
                tasks=args.heldout_tasks or None,
                eval_max_per_group=args.eval_max_per_group,
            )
            (results / "heldout.md").write_text(protocol_markdown(res))
            write_json(results / "heldout.json", res)
        except Exception as exc:  # the default model matters more than the protocol: keep going
            log.exception("held-out protocol failed: %s", exc)

    run = Path(result.output_dir)
    for name in ("metrics.jsonl", "metrics.png", "summary.json", "data_summary.json", "config.yaml"):
        if (run / name).exists():
            shutil.copy(run / name, results / name)
    log.info("total wall time %.1f s", time.time() - t_start)
    shutil.copy(log_file, results / "train.log")
    with tarfile.open(out / "results.tar.gz", "w:gz") as tar:
        tar.add(results, arcname="results")
    with tarfile.open(out / "model.tar.gz", "w:gz") as tar:
        tar.add(result.model_dir, arcname="model")
    parts = split_file(out / "model.tar.gz")
    print(
        json.dumps(
            {
                "out": sorted(p.name for p in out.iterdir()),
                "model_parts": len(parts),
                "test_mean_pairwise_accuracy": test["mean_pairwise_accuracy"],
                "test_mean_kendall": test["mean_kendall"],
                "steps": result.steps,
                "train_s": round(result.elapsed_s, 1),
                "total_s": round(time.time() - t_start, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
