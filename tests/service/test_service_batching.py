"""The micro-batcher on its own (no HTTP): merging, budgets, order, limits, deadlines, cancel, drain."""

from __future__ import annotations

import asyncio
import threading

import pytest
from service_fakes import FakeJudge

from heapmetric.judges.base import PairItem, ScoreItem
from service.batching import MicroBatcher
from service.errors import DeadlineExceeded, Draining, QueueFull, ServiceError


def items(prefix: str, n: int) -> list[ScoreItem]:
    return [ScoreItem(output=f"{prefix}{'x' * i}") for i in range(n)]


def test_concurrent_requests_share_a_batch_and_get_their_own_scores_in_order():
    judge = FakeJudge()

    async def main():
        b = MicroBatcher(judge, max_wait_ms=50, max_batch_items=64)
        b.start()
        jobs = [b.submit("score", items(p, 5)) for p in ("a", "bb", "ccc")]
        done = await asyncio.gather(*(j.future for j in jobs))
        await b.stop()
        return done

    done = asyncio.run(main())
    assert len(judge.batches) == 1 and len(judge.batches[0]) == 15  # merged
    for job, prefix in zip(done, ("a", "bb", "ccc"), strict=True):
        assert [r[0] for r in job.results] == [judge._one(i) for i in items(prefix, 5)]


def test_token_and_item_budgets_split_batches_without_losing_order():
    judge = FakeJudge()

    async def main():
        # each item is estimated at >= 17 tokens, so a 40-token budget holds 2 items
        b = MicroBatcher(judge, max_wait_ms=20, max_batch_tokens=40, max_batch_items=64)
        b.start()
        job = b.submit("score", items("q", 7))
        await job.future
        await b.stop()
        return job

    job = asyncio.run(main())
    assert [len(x) for x in judge.batches] == [2, 2, 2, 1]
    assert [r[0] for r in job.results] == [judge._one(i) for i in items("q", 7)]


def test_full_queue_is_refused_with_retry_after_and_queue_stays_bounded():
    gate = threading.Event()
    judge = FakeJudge(gate)

    async def main():
        b = MicroBatcher(judge, max_queue=10, max_wait_ms=0)
        b.start()
        first = b.submit("score", items("a", 4))
        while not judge.entered.is_set():  # the model holds the first 4; the queue is empty again
            await asyncio.sleep(0.01)
        queued = b.submit("score", items("b", 10))
        with pytest.raises(QueueFull) as info:
            b.submit("score", items("c", 1))
        assert b.queued_items == 10
        gate.set()
        await asyncio.gather(first.future, queued.future)
        await b.stop()
        return info.value

    err = asyncio.run(main())
    assert err.status == 429 and int(err.headers["Retry-After"]) >= 1


def test_queued_job_past_its_deadline_gets_503_and_never_reaches_the_model():
    gate = threading.Event()
    judge = FakeJudge(gate)

    async def main():
        b = MicroBatcher(judge, max_wait_ms=0, request_timeout_s=0.2)
        b.start()
        first = b.submit("score", items("a", 1))
        while not judge.entered.is_set():
            await asyncio.sleep(0.01)
        late = b.submit("score", items("late", 2))
        await asyncio.sleep(0.3)
        gate.set()
        await first.future
        with pytest.raises(DeadlineExceeded):
            await late.future
        await b.stop()

    asyncio.run(main())
    assert all(not o.startswith("late") for batch in judge.batches for o in batch)


def test_cancelled_job_is_dropped_from_the_queue():
    gate = threading.Event()
    judge = FakeJudge(gate)

    async def main():
        b = MicroBatcher(judge, max_wait_ms=0)
        b.start()
        first = b.submit("score", items("a", 1))
        while not judge.entered.is_set():
            await asyncio.sleep(0.01)
        gone = b.submit("score", items("gone", 3))
        assert b.queued_items == 3
        b.cancel(gone)
        assert b.queued_items == 0 and gone.future.cancelled()
        gate.set()
        await first.future
        await b.stop()

    asyncio.run(main())
    assert judge.batches == [["a"]]


def test_stop_drains_everything_accepted_then_refuses_new_work():
    gate = threading.Event()
    judge = FakeJudge(gate)

    async def main():
        b = MicroBatcher(judge, max_wait_ms=0, max_batch_items=4)
        b.start()
        jobs = [b.submit("score", items(p, 3)) for p in "abcde"]
        stopping = asyncio.ensure_future(b.stop())
        await asyncio.sleep(0.05)
        with pytest.raises(Draining):
            b.submit("score", items("z", 1))
        gate.set()
        await stopping
        return jobs

    jobs = asyncio.run(main())
    assert all(j.future.done() and not j.future.exception() for j in jobs)
    assert sum(len(x) for x in judge.batches) == 15


def test_one_requests_bad_input_does_not_fail_the_requests_batched_with_it():
    judge = FakeJudge()

    async def main():
        b = MicroBatcher(judge, max_wait_ms=50)
        b.start()
        good = b.submit("score", items("ok", 2))
        bad = b.submit("score", [ScoreItem(output="RAISE-INPUT")])
        bug = b.submit("score", [ScoreItem(output="RAISE-BUG")])
        await asyncio.wait([good.future, bad.future, bug.future])
        await b.stop()
        return good, bad, bug

    good, bad, bug = asyncio.run(main())
    assert [r[0] for r in good.results] == [judge._one(i) for i in items("ok", 2)]
    assert isinstance(bad.future.exception(), ServiceError) and bad.future.exception().status == 422
    err = bug.future.exception()
    assert err.status == 500 and "/home/secret" not in err.message


def test_compare_jobs_batch_separately_from_score_jobs():
    judge = FakeJudge()
    pairs = [PairItem(output_a="long answer here", output_b="short"), PairItem(output_a="x", output_b="yy")]

    async def main():
        b = MicroBatcher(judge, max_wait_ms=30)
        b.start()
        s = b.submit("score", items("s", 2))
        c = b.submit("compare", pairs)
        await asyncio.gather(s.future, c.future)
        await b.stop()
        return c

    c = asyncio.run(main())
    assert len(judge.batches) == 2
    probs = [r[0] for r in c.results]
    assert probs[0] > 0.5 > probs[1]
