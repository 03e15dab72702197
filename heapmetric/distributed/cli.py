"""The ``--engine ray`` options of ``heapmetric score`` / ``compare`` and what they run.

No Ray import at module level: ``heapmetric --help`` stays fast, and without Ray installed ``--engine ray``
fails with one line saying ``pip install 'heapmetric[ray]'``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--address``, ``--workers``, ``--gpus-per-worker``, ``--shard-size``."""
    g = p.add_argument_group("ray engine (pip install 'heapmetric[ray]'; see docs/distributed.md)")
    g.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: Ray Data with an actor pool, resumable output shards "
        "(input JSONL, CSV/TSV, Parquet or a datasets folder)",
    )
    g.add_argument(
        "--address",
        metavar="ADDR",
        help="Ray cluster to join (auto, or HOST:PORT of `ray start --head`; default: a local Ray)",
    )
    g.add_argument("--workers", type=int, default=1, metavar="N", help="scoring actors (default 1)")
    g.add_argument(
        "--gpus-per-worker",
        type=float,
        default=0.0,
        metavar="F",
        help="GPUs per actor, may be 0.5 (default 0)",
    )
    g.add_argument(
        "--cpus-per-worker", type=float, default=1.0, metavar="F", help="CPUs per actor (default 1)"
    )
    g.add_argument(
        "--shard-size",
        type=int,
        default=None,
        metavar="ROWS",
        help="rows per resumable output shard (default 4096)",
    )


def run_ray(args: argparse.Namespace, kind: str) -> int:
    """``heapmetric score|compare --engine ray``: :func:`heapmetric.distributed.bulk.run_bulk` with the flags."""
    from heapmetric.cli.score import check_batch_size, parse_mapping
    from heapmetric.distributed.bulk import DEFAULT_SHARD_SIZE, PAIR_FIELDS, SCORE_FIELDS, RunSpec, run_bulk
    from heapmetric.errors import InputError

    if getattr(args, "server", None):
        raise InputError("--engine ray loads the model in Ray actors; it cannot score through --server")
    check_batch_size(args)
    mapping = parse_mapping(args.mapping, SCORE_FIELDS if kind == "score" else PAIR_FIELDS)
    spec = RunSpec(
        kind=kind,
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        quantize=args.quantize,
        max_length=args.max_length,
        task=args.task,
        criterion=args.criterion,
        instruction=args.instruction,
        mapping=mapping,
        batch_size=args.batch_size,
    )

    def progress(p: Any) -> None:
        print(f"shard {p.shards_done}/{p.shards_total} written ({p.rows_done} rows)", file=sys.stderr)

    report = run_bulk(
        spec,
        args.input,
        args.output,
        input_format=args.input_format,
        output_format=args.output_format,
        only_system=getattr(args, "only_system", False),
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        address=args.address,
        shard_size=args.shard_size or DEFAULT_SHARD_SIZE,
        quiet=args.quiet,
        on_shard=None if args.quiet else progress,
    )
    if not args.quiet:
        what = "score" if kind == "score" else "P(a better)"
        if report.shards_resumed:
            print(
                f"resumed: {report.shards_resumed} of {report.shards} shards were already scored",
                file=sys.stderr,
            )
        if report.system_means:
            width = max(len(k) for k in report.system_means)
            print(f"{'system':<{width}}  {'mean':>9}  n", file=sys.stderr)
            for k, v in sorted(report.system_means.items(), key=lambda kv: -kv[1]):
                print(f"{k:<{width}}  {v:>9.4f}  {report.system_counts[k]}", file=sys.stderr)
        if report.mean is not None:
            print(f"mean {what} {report.mean:.4f} over {report.rows} rows", file=sys.stderr)
        print(
            f"{report.rows_scored} rows scored in {report.seconds:.1f} s ({report.items_per_second:.1f} rows/s) "
            f"-> {report.output}",
            file=sys.stderr,
        )
    return 0


def add_serve_engine_options(p: argparse.ArgumentParser) -> None:
    """``heapmetric serve``'s ``--engine``, ``--replicas``, ``--address``, ``--gpus-per-replica``, ``--metrics-port``."""
    g = p.add_argument_group("ray engine (pip install 'heapmetric[ray]'; see docs/distributed.md)")
    g.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: one uvicorn process (default); ray: the same app as Ray Serve replicas",
    )
    g.add_argument("--replicas", type=int, default=1, metavar="N", help="Ray Serve replicas (default 1)")
    g.add_argument("--address", metavar="ADDR", help="Ray cluster to join (default: a local Ray)")
    g.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="F", help="default 1")
    g.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="F", help="default 0")
    g.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="replica k on a node also serves its Prometheus metrics on PORT+k (default: off)",
    )


def run_serve_ray(args: argparse.Namespace, settings: Any) -> int:
    """``heapmetric serve --engine ray``: :func:`heapmetric.distributed.serve.serve_forever`."""
    from heapmetric.distributed.bulk import require_ray
    from heapmetric.errors import InputError

    require_ray()
    if args.replicas < 1:
        raise InputError(f"must be >= 1, got {args.replicas}", field="--replicas")
    from heapmetric.distributed.serve import serve_forever

    return serve_forever(
        settings,
        address=args.address,
        replicas=args.replicas,
        cpus_per_replica=args.cpus_per_replica,
        gpus_per_replica=args.gpus_per_replica,
        metrics_port=args.metrics_port,
        quiet=args.quiet,
    )


def add_judge_engine_options(g: Any) -> None:
    """``--engine``, ``--workers``, ``--address``, ``--gpus-per-worker`` for verbs that call a judge many times
    (``synth``'s metric filter, ``bench``): with ``--engine ray`` a :class:`~heapmetric.distributed.judge.RayJudge`
    spreads the judge calls over Ray actors that each load the model once."""
    g.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="ray: spread the judge's calls over Ray actors (pip install 'heapmetric[ray]')",
    )
    g.add_argument(
        "--workers", type=int, default=1, metavar="N", help="Ray actors with --engine ray (default 1)"
    )
    g.add_argument("--address", metavar="ADDR", help="Ray cluster to join with --engine ray (default: local)")
    g.add_argument(
        "--gpus-per-worker", type=float, default=0.0, metavar="F", help="with --engine ray (default 0)"
    )


def ray_judge(args: argparse.Namespace, spec: str | None, loader: str) -> Any:
    """The :class:`~heapmetric.distributed.judge.RayJudge` the ``--engine ray`` flags describe."""
    from heapmetric.distributed.judge import RayJudge

    return RayJudge(
        spec,
        workers=args.workers,
        address=args.address,
        gpus_per_worker=args.gpus_per_worker,
        loader=loader,
    )
