"""Ray engine benchmark: bulk scoring throughput and memory, and serving through Ray Serve (same run).

Bulk (``--engine ray``, tiny random 2-layer BERT metric from ``tests/conftest.py``, so the numbers show the
engine's own cost, not a model's):

- items/s of in-process ``metric.score`` and of the ray engine with 1 and 2 workers on the same JSONL file,
  measured one after the other in this run. The ray figures are whole runs (actor start-up and model loading
  included, as a user sees them) and, separately, the rows the actors scored per second of their busy time.
- peak memory of the ray engine (2 workers) at 10x and 100x the input size, each in a fresh subprocess: the
  driver's peak RSS and the peak of the summed RSS of the driver and every process under it (raylet, object
  store, workers), sampled every 0.2 s. Bounded streaming means both stay flat while the input grows 10x.

Serve (``--serve``; the embedded default model, as ``benchmarks/service_load.py`` uses): the single-process
service (``heapmetric serve``, uvicorn) and 2 Ray Serve replicas of the same app are driven in alternation
with ``service_load.run_case`` (32 keep-alive clients x 1 item), and the Ray Serve throughput is reported as a
ratio to the single-process one measured in the same run.

    .venv/bin/python benchmarks/distributed_scoring.py --out benchmarks/results/distributed_scoring.json
    .venv/bin/python benchmarks/distributed_scoring.py --serve --out benchmarks/results/distributed_serving.json

Everything stays on this machine; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
TASK = {"task": "summarization", "criterion": "coherence"}


def rows(n: int) -> list[dict]:
    """The rows of the ray engine tests (tests/heapmetric/distributed/ray_helpers.py)."""
    sys.path.insert(0, str(REPO / "tests" / "heapmetric" / "distributed"))
    from ray_helpers import rows as test_rows

    return test_rows(n)


def write_input(path: Path, n: int) -> Path:
    with open(path, "w") as handle:
        for row in rows(n):
            handle.write(json.dumps(row) + "\n")
    return path


def tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and all its descendants plus, when this process joined a cluster started
    elsewhere (``$RAY_ADDRESS``), this machine's raylet and gcs_server with theirs (object store, workers);
    each process counted once, those that vanish meanwhile skipped."""
    import psutil

    roots = [pid]
    if os.environ.get("RAY_ADDRESS"):
        roots += [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in ("raylet", "gcs_server")]
    seen: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            proc = psutil.Process(root)
            for p in [proc, *proc.children(recursive=True)]:
                seen[p.pid] = p
        except psutil.NoSuchProcess:
            continue
    total = 0
    for proc in seen.values():
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def memory_child(model: str, n: int, workers: int, shard_size: int) -> None:
    """Run in a subprocess: one ray-engine run over ``n`` rows; print a JSON line with peak memory."""
    import resource

    import ray

    from heapmetric.distributed import score_file
    from heapmetric.distributed.bulk import connect

    peak = {"tree": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["tree"] = max(peak["tree"], tree_rss(os.getpid()))
            stop.wait(0.2)

    with tempfile.TemporaryDirectory() as tmp:
        path = write_input(Path(tmp) / "rows.jsonl", n)
        connect(num_cpus=2, quiet=True)
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            report = score_file(
                path,
                Path(tmp) / "out.jsonl",
                model=model,
                workers=workers,
                shard_size=shard_size,
                device="cpu",
                **TASK,
            )
        finally:
            stop.set()
            thread.join()
            ray.shutdown()
    print(
        json.dumps(
            {
                "rows": n,
                "seconds": round(report.seconds, 2),
                "items_per_s": round(report.items_per_second, 1),
                "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "all_processes_peak_rss_mb": round(peak["tree"] / 2**20, 1),
            }
        )
    )


def bulk(args: argparse.Namespace, model: str, tmp: Path) -> dict:
    import ray

    import heapmetric
    from heapmetric.distributed import score_file
    from heapmetric.distributed.bulk import connect

    path = write_input(tmp / "rows.jsonl", args.rows)
    data = rows(args.rows)
    metric = heapmetric.load(model, device="cpu")
    metric.score(data[:200], **TASK)  # warm-up
    t0 = time.perf_counter()
    metric.score(data, **TASK)
    in_process = args.rows / (time.perf_counter() - t0)
    print(f"in-process: {in_process:.1f} items/s", flush=True)
    results = {"in_process_items_per_s": round(in_process, 1), "ray": []}
    connect(num_cpus=2, quiet=True)
    try:
        for workers in (1, 2):
            report = score_file(
                path,
                tmp / f"out{workers}.jsonl",
                model=model,
                workers=workers,
                shard_size=args.shard_size,
                device="cpu",
                **TASK,
            )
            # each actor's rows over its own busy seconds, summed over the actors that got rows
            busy_rate = sum(
                a["rows"] / a["busy_s"] for a in report.actors["actors"].values() if a["busy_s"] > 0
            )
            entry = {
                "workers": workers,
                "seconds": round(report.seconds, 2),
                "items_per_s": round(report.items_per_second, 1),
                "vs_in_process": round(report.items_per_second / in_process, 3),
                "actor_busy_items_per_s": round(busy_rate, 1),
                "rows_per_actor": [a["rows"] for a in report.actors["actors"].values()],
            }
            results["ray"].append(entry)
            print(json.dumps(entry), flush=True)
    finally:
        ray.shutdown()
    t0 = time.perf_counter()
    metric.score(data, **TASK)
    results["in_process_after_items_per_s"] = round(args.rows / (time.perf_counter() - t0), 1)
    print(f"in-process after: {results['in_process_after_items_per_s']} items/s", flush=True)
    results["driver"] = driver_cost(tmp, 10 * (args.memory_base or args.rows))
    print(json.dumps(results["driver"]), flush=True)
    memory = []
    for factor in args.memory_factors:
        n = (args.memory_base or args.rows) * factor
        cmd = [
            sys.executable,
            __file__,
            "--memory-child",
            str(n),
            "--model",
            model,
            "--shard-size",
            str(args.shard_size),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        entry = {"factor": factor, **json.loads(out)}
        memory.append(entry)
        print(json.dumps(entry), flush=True)
    results["memory"] = memory
    return results


def driver_cost(tmp: Path, n: int) -> dict:
    """Rows/s of the driver's own per-row work, which caps the engine whatever the number of GPUs: the
    checking pass (parse + build the item + resolve its criterion) and the JSON decode of the final pass."""
    from heapmetric.distributed.bulk import RunSpec, row_checker
    from heapmetric.distributed.sources import open_source, plan_shards

    path = write_input(tmp / "driver.jsonl", n)
    source = open_source(path)
    t0 = time.perf_counter()
    plan_shards(source, 4096, row_checker(RunSpec(**TASK), str(path)))
    check = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    with open(path) as handle:
        for line in handle:
            json.loads(line)
    decode = n / (time.perf_counter() - t0)
    return {"rows": n, "check_pass_rows_per_s": round(check), "json_decode_rows_per_s": round(decode)}


def serve_compare(args: argparse.Namespace, tmp: Path) -> dict:
    import ray
    import service_load as sl

    from heapmetric.distributed.bulk import connect
    from heapmetric.distributed.serve import start, stop
    from service.settings import Settings

    folder, description = sl.model_folder(tmp)
    pool = sl.make_items(512, 1, 16, 32)
    load_args = argparse.Namespace(max_queue=256, max_batch_items=16, max_wait_ms=5.0)
    single_port, ray_port = sl.free_port(), sl.free_port()
    single_url = f"http://127.0.0.1:{single_port}"
    proc = sl.start_server(folder, single_port, load_args)
    connect(num_cpus=2, quiet=True)
    results: dict = {
        "model": description,
        "clients": args.clients,
        "seconds_per_case": args.seconds,
        "runs": [],
    }
    try:
        asyncio.run(sl.wait_ready(single_url, proc))
        settings = Settings(model=folder, device="cpu", port=ray_port, max_queue=256, max_batch_items=16)
        ray_url = start(settings, replicas=args.replicas)
        asyncio.run(sl.wait_ready(ray_url, proc))
        for url in (single_url, ray_url):  # warm-up, untimed
            asyncio.run(sl.run_case(url, pool, 8, 1, 3.0))
        for _ in range(args.repeats):
            single = asyncio.run(sl.run_case(single_url, pool, args.clients, 1, args.seconds))
            served = asyncio.run(sl.run_case(ray_url, pool, args.clients, 1, args.seconds))
            entry = {
                "single_process_items_per_s": round(single["items_per_s"], 1),
                "ray_serve_items_per_s": round(served["items_per_s"], 1),
                "ratio": round(served["items_per_s"] / single["items_per_s"], 3),
                "ray_p50_ms": round(served["p50_ms"], 1),
                "ray_p99_ms": round(served["p99_ms"], 1),
                "single_p50_ms": round(single["p50_ms"], 1),
                "single_p99_ms": round(single["p99_ms"], 1),
                "errors": single["errors"] + served["errors"],
                "timeouts": single["timeouts"] + served["timeouts"],
            }
            results["runs"].append(entry)
            print(json.dumps(entry), flush=True)
        results["median_ratio"] = statistics.median(r["ratio"] for r in results["runs"])
    finally:
        stop()
        ray.shutdown()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--rows", type=int, default=2000, help="base input size (default 2000)")
    ap.add_argument("--shard-size", type=int, default=4096)
    ap.add_argument("--memory-factors", type=int, nargs="*", default=[10, 100])
    ap.add_argument("--memory-base", type=int, help="rows the memory factors multiply (default: --rows)")
    ap.add_argument("--model", help="checkpoint (default: a tiny random BERT metric built here)")
    ap.add_argument("--serve", action="store_true", help="the Ray Serve load test instead of bulk scoring")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_agent_register_timeout_ms": "300000",  # a loaded machine starts Ray's agents slowly
    }.items():
        os.environ.setdefault(key, value)
    if args.memory_child:
        memory_child(args.model, args.memory_child, 2, args.shard_size)
        return 0
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        if args.serve:
            results = serve_compare(args, Path(tmp))
        else:
            model = args.model
            if model is None:
                from tests.conftest import build_tiny_encoder_metric

                model = str(build_tiny_encoder_metric(Path(tmp) / "tiny"))
            results = bulk(args, model, Path(tmp))
            results["model"] = args.model or "tiny random BERT metric (tests/conftest.py)"
    results["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_end": os.getloadavg(),
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        from heapmetric.io import write_json

        write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
