"""What the score and compare routes share: request limits, criterion checks, and waiting for a queued
job while watching the deadline and the client's connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from fastapi import Request

from heapmetric.errors import HeapmetricError, UnknownNameError
from heapmetric.judges.base import PairItem, ScoreItem
from service.batching import Job, Kind
from service.errors import DeadlineExceeded, NotReady, ServiceError
from service.lifespan import ServiceState
from service.schemas import CompareRequest, ScoreRequest

_TEXT_FIELDS = (
    "output",
    "output_a",
    "output_b",
    "source",
    "context",
    "reference",
    "instruction",
    "task",
    "criterion",
    "system",
    "id",
)


def _check_chars(value: str | None, limit: int, path: str) -> None:
    """422 for a text over ``limit`` characters, or one holding a lone surrogate (JSON's ``"\\ud800"``
    escape decodes to one; it is not Unicode text and no tokenizer or UTF-8 encoder takes it)."""
    if value is None:
        return
    if len(value) > limit:
        raise ServiceError(
            422, "field_too_long", f"longer than {limit} characters ({len(value)})", field=path
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ServiceError(
                422,
                "invalid_text",
                f"holds a lone surrogate ({value[exc.start]!a} at character {exc.start}), "
                "which is not Unicode text",
                field=path,
            ) from exc


def _check_limits(
    body: ScoreRequest | CompareRequest, rows: Sequence[Any], name: str, state: ServiceState
) -> None:
    s = state.settings
    if len(rows) > s.max_items_per_request:
        raise ServiceError(
            422,
            "too_many_items",
            f"{len(rows)} {name} in one request; at most {s.max_items_per_request}",
            field=name,
        )
    for key in ("task", "criterion", "instruction"):
        _check_chars(getattr(body, key), s.max_chars_per_field, key)
    for i, row in enumerate(rows):
        for key in _TEXT_FIELDS:
            _check_chars(getattr(row, key, None), s.max_chars_per_field, f"{name}[{i}].{key}")
        for j, ref in enumerate(getattr(row, "references", None) or ()):
            _check_chars(ref, s.max_chars_per_field, f"{name}[{i}].references[{j}]")


def _check_criterion(
    task: str | None, criterion: str | None, instruction: str | None, path: str, item_has: set[str]
) -> None:
    """Unknown names answer 422 before anything is queued, naming the field that holds the name."""
    from heapmetric import registry

    if instruction is not None:
        if not instruction.strip():
            raise ServiceError(
                422,
                "invalid_request",
                "the instruction is empty",
                field=f"{path}.instruction" if "instruction" in item_has else "instruction",
            )
        return
    if task is None and criterion is None:
        return  # the judge decides whether it needs one
    try:
        registry.resolve(task=task, criterion=criterion)
    except HeapmetricError as exc:
        if not isinstance(exc, UnknownNameError):  # a task without a criterion, or the reverse
            missing = "criterion" if criterion is None else "task"
            raise ServiceError(
                422,
                "invalid_request",
                f"no {missing}: give task and criterion (criterion may be written task/criterion), "
                "in the item or for the whole request, or an instruction",
                field=f"{path}.{missing}",  # missing from the item and the request alike
            ) from exc
        if getattr(exc, "kind", None) == "task":
            key = "task"  # an unknown task
        elif getattr(exc, "kind", None) is not None or criterion is None:
            key = "criterion"  # an unknown criterion of a known task, or a task without a criterion
        else:
            key = "task"  # a bare criterion name without its task
        # name the item when the value is its own or missing altogether; else the request-level default
        value = task if key == "task" else criterion
        raise ServiceError(
            422,
            "unknown_criterion",
            str(exc),
            field=f"{path}.{key}" if key in item_has or value is None else key,
        ) from exc


def _criterion_of(entry: Any, body: Any, path: str, seen: set) -> tuple[Any, Any, Any]:
    """An item's task/criterion/instruction, the request's filling what the item leaves out; each distinct
    combination is checked against the registry once per request."""
    task = entry.task if entry.task is not None else body.task
    criterion = entry.criterion if entry.criterion is not None else body.criterion
    instruction = entry.instruction if entry.instruction is not None else body.instruction
    if (task, criterion, instruction) not in seen:
        _check_criterion(task, criterion, instruction, path, entry.model_fields_set)
        seen.add((task, criterion, instruction))
    return task, criterion, instruction


def score_items(body: ScoreRequest, state: ServiceState) -> list[ScoreItem]:
    """Validated :class:`ScoreItem`s, request-level task/criterion/instruction filling missing ones."""
    _check_limits(body, body.items, "items", state)
    out, seen = [], set()
    for i, it in enumerate(body.items):
        task, criterion, instruction = _criterion_of(it, body, f"items[{i}]", seen)
        out.append(
            ScoreItem(
                output=it.output,
                source=it.source,
                context=it.context,
                reference=it.reference,
                references=tuple(it.references) if it.references else None,
                instruction=instruction,
                task=task,
                criterion=criterion,
                system=it.system,
                id=it.id,
            )
        )
    return out


def pair_items(body: CompareRequest, state: ServiceState) -> list[PairItem]:
    """Validated :class:`PairItem`s, request-level task/criterion/instruction filling missing ones."""
    _check_limits(body, body.pairs, "pairs", state)
    out, seen = [], set()
    for i, p in enumerate(body.pairs):
        task, criterion, instruction = _criterion_of(p, body, f"pairs[{i}]", seen)
        out.append(
            PairItem(
                output_a=p.output_a,
                output_b=p.output_b,
                source=p.source,
                context=p.context,
                reference=p.reference,
                instruction=instruction,
                task=task,
                criterion=criterion,
                id=p.id,
            )
        )
    return out


def request_metadata(
    job_metadata: dict[str, Any], items: Sequence[ScoreItem | PairItem], state: ServiceState
) -> dict[str, Any]:
    """The judge's metadata (local paths replaced by the model's name) plus this request's own item count
    and criterion (or criteria counts)."""
    from collections import Counter

    from heapmetric import registry

    def cid(it: ScoreItem | PairItem) -> str | None:
        try:
            return registry.resolve(task=it.task, criterion=it.criterion, instruction=it.instruction).id
        except HeapmetricError:
            return None

    counts = Counter(cid(it) for it in items)
    meta = state.redact(dict(job_metadata))
    meta["n_items"] = len(items)
    if len(counts) == 1:
        meta["criterion"] = next(iter(counts))
    else:
        meta["criterion"] = None
        meta["criteria"] = {str(k): v for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))}
    return meta


async def _disconnected(request: Request) -> None:
    """Returns once the client has gone away (the body has already been read by then)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
        await asyncio.sleep(0.01)


async def run_job(state: ServiceState, kind: Kind, items: Sequence[Any], request: Request) -> Job:
    """Queue ``items`` and wait for their results; 429/503 from the batcher propagate as ServiceErrors.

    A client that disconnects has its queued items dropped; a request past the server's timeout gets 503.
    """
    if state.batcher is None:
        raise NotReady(
            "the model failed to load" if state.status == "failed" else "the model is still loading"
        )
    batcher = state.batcher
    job = batcher.submit(kind, items)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait(
            {job.future, watcher}, timeout=batcher.request_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if job.future in done:
            return job.future.result()
        batcher.cancel(job)
        if watcher in done:
            batcher.metrics.rejected.labels("client_disconnected").inc()
            raise ServiceError(499, "client_disconnected", "the client went away")
        batcher.metrics.rejected.labels("timeout").inc()
        raise DeadlineExceeded(batcher.request_timeout)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
