"""The micro-batcher: merges items from concurrent requests into token-budget batches, runs the judge off
the event loop (one worker thread, so one batch at a time on the device), and splits results back.

- The queue is bounded in *items*: a request that does not fit is refused at once (429 + Retry-After)
  instead of growing the queue.
- A request still queued at its deadline is dropped and answered 503; one whose client disconnected is
  dropped from the queue (items already on the device finish, their results are discarded).
- Batches take items in arrival order (a request may be split across batches) up to ``max_batch_tokens``
  and ``max_batch_items``; an idle batcher waits at most ``max_wait_ms`` for a batch to fill.
- Inside a batch the judge does its own length-sorted batching (``heapmetric/scoring/batching.py``) and
  returns scores in input order, so merging requests never changes a score.
- ``stop()`` refuses new work, finishes everything queued, then ends the worker: nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from heapmetric.errors import HeapmetricError
from heapmetric.judges.base import CompareResult, Judge, ScoreItem, ScoreResult
from heapmetric.scoring.batching import plan_batches
from service.errors import DeadlineExceeded, Draining, QueueFull, ServiceError
from service.metrics import ServiceMetrics

log = logging.getLogger(__name__)

Kind = Literal["score", "compare"]

#: Result metadata that describes a batch rather than a request; the service recomputes or drops them.
BATCH_LEVEL_KEYS = frozenset(
    {"n_items", "n_pairs", "truncated", "padding_fraction", "criterion", "criteria", "batches"}
)


def approximate_tokens(text: str | None) -> int:
    """A tokenizer-free estimate (about 4 characters per token) used when the judge exposes no tokenizer."""
    return 0 if not text else len(text) // 4 + 1


Counter = Callable[[Sequence[ScoreItem]], list[tuple[int, bool]]]


def make_token_counter(judge: Judge) -> Counter:
    """``(tokens, truncated)`` per item, computed on the event loop while the model runs elsewhere.

    For the trained metric (a judge of kind ``reward`` with ``tokenizer`` and ``max_length``) this renders and
    encodes exactly as the metric does, with a private copy of the tokenizer (a fast tokenizer must not be
    used from two threads at once). Other judges get an estimate of about 4 characters per token.
    """
    tokenizer, max_length = getattr(judge, "tokenizer", None), getattr(judge, "max_length", None)
    if judge.info.kind == "reward" and tokenizer is not None and isinstance(max_length, int):
        try:
            tokenizer = copy.deepcopy(tokenizer)
        except Exception:  # noqa: BLE001 - fall back to the estimate
            tokenizer = None
        if tokenizer is not None:
            from heapmetric.scoring.inputs import criterion_of
            from heapmetric.scoring.render import encode, render

            def exact(items: Sequence[ScoreItem]) -> list[tuple[int, bool]]:
                cache: dict = {}
                rendered = [render(it, criterion_of(it, index=i, cache=cache)) for i, it in enumerate(items)]
                return [
                    (len(e.input_ids), bool(e.truncated)) for e in encode(tokenizer, rendered, max_length)
                ]

            return exact

    def estimate(items: Sequence[ScoreItem]) -> list[tuple[int, bool]]:
        return [
            (
                16
                + sum(
                    approximate_tokens(t)
                    for t in (i.output, i.source, i.context, i.first_reference, i.instruction)
                ),
                False,
            )
            for i in items
        ]

    return estimate


@dataclass(eq=False)
class Job:
    """One request's items waiting in the queue."""

    kind: Kind
    items: list[Any]
    costs: list[int]
    future: asyncio.Future
    deadline: float
    enqueued: float
    results: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    taken: int = 0  # items handed to a batch so far
    done: int = 0  # items with results
    truncated: int = 0
    exact_truncation: bool = False  # ``truncated`` came from the exact counter, not from the judge

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)

    @property
    def waiting(self) -> int:
        return len(self.items) - self.taken


@dataclass
class _Slice:
    job: Job
    start: int
    stop: int


class MicroBatcher:
    """Queue + worker around one judge. Use from one event loop: ``start()``, ``submit()``, ``stop()``."""

    def __init__(
        self,
        judge: Judge,
        *,
        max_batch_tokens: int = 16384,
        max_batch_items: int = 64,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        request_timeout_s: float = 60.0,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.judge = judge
        self.max_batch_tokens, self.max_batch_items = max_batch_tokens, max_batch_items
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue, self.request_timeout = max_queue, request_timeout_s
        self.metrics = metrics or ServiceMetrics()
        self.count_tokens = make_token_counter(judge)
        self.exact = self.count_tokens.__name__ == "exact"
        self._queue: collections.deque[Job] = collections.deque()
        self._queued_items = 0
        self._queued_tokens = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker task on the running loop."""
        self._wake = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="heapmetric-batcher")

    async def stop(self) -> None:
        """Refuse new work, finish every queued item, then stop the worker."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._worker is not None:
            await self._worker
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    @property
    def queued_items(self) -> int:
        """Items accepted but not yet handed to the model."""
        return self._queued_items

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- requests ------------------------------------------------------------------------------------------
    def submit(self, kind: Kind, items: Sequence[Any]) -> Job:
        """Queue one request's items; raises :class:`QueueFull` (429) or :class:`Draining` (503)."""
        if self._stopping:
            raise Draining()
        n = len(items)
        if self._queued_items + n > self.max_queue:
            self.metrics.rejected.labels("queue_full").inc()
            raise QueueFull(self._retry_after())
        try:
            if kind == "score":
                counted = self.count_tokens(items)
                costs, truncated = [c for c, _ in counted], sum(t for _, t in counted)
            else:
                a = self.count_tokens([p.side("a") for p in items])
                b = self.count_tokens([p.side("b") for p in items])
                costs = [x + y for (x, _), (y, _) in zip(a, b, strict=True)]
                truncated = sum(t for _, t in a) + sum(t for _, t in b)
        except HeapmetricError as exc:
            name = "items" if kind == "score" else "pairs"
            line, key = getattr(exc, "line", None), getattr(exc, "field", None)
            where = f"{name}[{line - 1}]" if line else name
            reason = getattr(exc, "reason", str(exc))
            if key in ("task", "criterion") and reason.startswith("no "):
                # the library's wording names command-line flags and file columns
                reason = (
                    f"no {key} for this item: give task and criterion (in the item or for the whole "
                    "request), or an instruction"
                )
            raise ServiceError(
                422, "invalid_request", reason, field=f"{where}.{key}" if key else where
            ) from exc
        loop = asyncio.get_running_loop()
        now = loop.time()
        job = Job(
            kind=kind,
            items=list(items),
            costs=costs,
            future=loop.create_future(),
            deadline=now + self.request_timeout,
            enqueued=now,
            truncated=truncated,
            exact_truncation=self.exact,
        )
        self._queue.append(job)
        self._queued_items += n
        self._queued_tokens += sum(costs)
        self.metrics.queue_depth.set(self._queued_items)
        assert self._wake is not None, "start() the batcher first"
        self._wake.set()
        return job

    def cancel(self, job: Job) -> None:
        """Drop a job's items that have not reached the model (its client went away or timed out)."""
        if job in self._queue:
            self._queue.remove(job)
            self._queued_items -= job.waiting
            self._queued_tokens -= sum(job.costs[job.taken :])
            job.taken = len(job.items)
            self.metrics.queue_depth.set(self._queued_items)
        if not job.future.done():
            job.future.cancel()

    def _retry_after(self) -> float:
        rate = self.metrics.recent_items_per_second()
        return self._queued_items / rate if rate > 0 else 1.0

    # -- worker --------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            # an idle batcher waits briefly so that concurrent requests share a batch
            first = self._queue[0].enqueued
            while (
                not self._stopping
                and self._queued_tokens < self.max_batch_tokens
                and self._queued_items < self.max_batch_items
            ):
                remaining = first + self.max_wait - loop.time()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            slices = self._take(loop.time())
            if slices:
                try:
                    await self._execute(slices)
                except Exception:  # the worker must outlive any one batch
                    log.exception("the batcher failed on a batch")
                    self._fail(slices, ServiceError(500, "internal_error", "internal server error"))

    def _take(self, now: float) -> list[_Slice]:
        """Cut the next batch from the head of the queue: one kind, arrival order, within the budgets."""
        while self._queue and self._queue[0].deadline <= now:
            job = self._queue.popleft()
            self._queued_items -= job.waiting
            self._queued_tokens -= sum(job.costs[job.taken :])
            if not job.future.done():
                job.future.set_exception(DeadlineExceeded(self.request_timeout))
        # candidates: queued items of the head's kind, in arrival order, up to max_batch_items
        kind = self._queue[0].kind if self._queue else None
        candidates: list[tuple[Job, int]] = []
        for job in self._queue:
            if job.kind != kind or len(candidates) >= self.max_batch_items:
                break
            take = min(job.waiting, self.max_batch_items - len(candidates))
            candidates += [(job, job.taken + k) for k in range(take)]
        if not candidates:
            return []
        # the first batch of an unsorted plan is the longest prefix within the padded-token budget
        first = plan_batches(
            [j.costs[i] for j, i in candidates],
            max_tokens=self.max_batch_tokens,
            max_batch_size=self.max_batch_items,
            sort=False,
        )[0]
        chosen = candidates[: len(first.indices)]
        slices: list[_Slice] = []
        for job, index in chosen:
            if slices and slices[-1].job is job:
                slices[-1].stop = index + 1
            else:
                slices.append(_Slice(job, index, index + 1))
        for sl in slices:
            sl.job.taken = sl.stop
            self._queued_items -= sl.stop - sl.start
            self._queued_tokens -= sum(sl.job.costs[sl.start : sl.stop])
        while self._queue and not self._queue[0].waiting:
            self._queue.popleft()
        self.metrics.queue_depth.set(self._queued_items)
        return slices

    async def _execute(self, slices: list[_Slice]) -> None:
        loop = asyncio.get_running_loop()
        kind = slices[0].job.kind
        items = [it for s in slices for it in s.job.items[s.start : s.stop]]
        tokens = sum(c for s in slices for c in s.job.costs[s.start : s.stop])
        t0 = time.perf_counter()
        try:
            result = await loop.run_in_executor(self._executor, self._call, kind, items)
        except HeapmetricError as exc:
            if len({id(s.job) for s in slices}) > 1:
                # one request's bad input must not fail the others merged into the batch
                for s in slices:
                    await self._execute([s])
                return
            self._fail(
                slices, ServiceError(422, "invalid_request", str(exc), field=getattr(exc, "field", None))
            )
            return
        except Exception:
            log.exception("the judge failed on a batch of %d items", len(items))
            self._fail(
                slices,
                ServiceError(500, "internal_error", "the judge failed on this batch (see the server log)"),
            )
            return
        self.metrics.observe_batch(len(items), tokens, time.perf_counter() - t0)
        self._distribute(slices, kind, result)

    def _call(self, kind: Kind, items: list[Any]) -> ScoreResult | CompareResult:
        if kind == "score":
            return self.judge.score(items)
        return self.judge.compare(items)

    @staticmethod
    def _fail(slices: list[_Slice], error: Exception) -> None:
        for s in slices:
            if not s.job.future.done():
                s.job.future.set_exception(error)

    @staticmethod
    def _distribute(slices: list[_Slice], kind: Kind, result: ScoreResult | CompareResult) -> None:
        if kind == "score":
            assert isinstance(result, ScoreResult)
            cal = result.calibrated
            rows = [(s, None if cal is None else cal[i]) for i, s in enumerate(result.scores)]
        else:
            assert isinstance(result, CompareResult)
            sa, sb = result.scores_a, result.scores_b
            rows = [
                (p, None if sa is None else sa[i], None if sb is None else sb[i])
                for i, p in enumerate(result.probabilities)
            ]
        single = len({id(s.job) for s in slices}) == 1
        offset = 0
        for s in slices:
            job, n = s.job, s.stop - s.start
            job.results[s.start : s.stop] = rows[offset : offset + n]
            offset += n
            job.done += n
            if not job.metadata:
                # keys describing the whole merged batch would mislead about one request's items
                job.metadata = {k: v for k, v in result.metadata.items() if k not in BATCH_LEVEL_KEYS}
            # a truncation count belongs to a batch; it is attributable only when the batch is one request's
            if isinstance(result, ScoreResult) and result.truncated and single and not job.exact_truncation:
                job.truncated += result.truncated
            if job.done == len(job.items) and not job.future.done():
                job.future.set_result(job)


def finite(x: float | None) -> float | None:
    """JSON has no NaN/inf: such values travel as null."""
    return None if x is None or not math.isfinite(x) else float(x)
