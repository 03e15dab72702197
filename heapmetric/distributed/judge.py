""":class:`RayJudge`: a ``Judge`` whose ``score``/``compare`` calls are spread over Ray actors.

For callers that hold items in memory and call the judge many times (the synthesis metric filter, the
benchmark harness), a Ray Data pipeline per call would load the model on every call. Here ``workers`` Ray
actors each load the judge once for the judge's lifetime; every call cuts its items into ``chunk_size``
pieces and hands them to the actors through :class:`ray.util.ActorPool` (results come back in input order).
The actors run with ``max_restarts=-1`` and ``max_task_retries=-1``: a killed actor is restarted and its
chunk retried, so a call still returns every result once.

Scores are those of the judge in-process (same items, same per-chunk token-budget batching; the contract
that scores do not depend on batch composition makes chunking invisible, within float rounding).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from heapmetric.judges.base import CompareResult, JudgeInfo, ScoreResult, system_means

DEFAULT_CHUNK = 256


class _JudgeActor:
    """Holds one judge (loaded once) and scores chunks for the pool."""

    def __init__(self, spec: str | None, loader: str, options: dict[str, Any]) -> None:
        if loader == "judge":
            from heapmetric.judges.spec import load_judge

            self.judge = load_judge(spec or "heapmetric")
        elif options:
            import heapmetric

            self.judge = heapmetric.load(spec, **options)
        else:
            from heapmetric.synth.pipeline import load_metric

            self.judge = load_metric(spec)

    def info(self) -> JudgeInfo:
        return self.judge.info

    def score(self, items: list[Any], batch_size: int | None) -> ScoreResult:
        return self.judge.score(items, batch_size=batch_size)

    def compare(self, pairs: list[Any], batch_size: int | None) -> CompareResult:
        return self.judge.compare(pairs, batch_size=batch_size)


class RayJudge:
    """A ``Judge`` backed by ``workers`` Ray actors that each load ``spec`` once.

    ``spec``: with ``loader="metric"`` (default) a model folder or cached hub id (None: the default model) or a
    judge spec (``heapmetric:PATH``, ``generative:PATH``, ``rougeL`` ...), resolved in each actor as
    ``heapmetric synth --metric`` resolves it; with ``loader="judge"`` a judge spec as ``heapmetric bench
    --judge`` takes it. ``load_options`` (``device``, ``dtype``, ``quantization``, ``max_length``) go to
    :func:`heapmetric.load` for a model folder. A call's items are cut into at most ``chunk_size`` items
    per actor call, and into at least one piece per worker, so every call uses every actor.
    ``preferred_batch`` tells callers that cut their work into calls (the synthesis metric filter) how many
    items a call should carry to keep every actor busy. Joins the cluster at ``address`` (or starts a local one); :meth:`close` removes the
    actors and disconnects what it connected. Use it as a context manager."""

    def __init__(
        self,
        spec: str | None = None,
        *,
        workers: int = 1,
        address: str | None = None,
        gpus_per_worker: float = 0.0,
        cpus_per_worker: float = 1.0,
        chunk_size: int = DEFAULT_CHUNK,
        loader: str = "metric",
        load_options: dict[str, Any] | None = None,
    ) -> None:
        from heapmetric.distributed.bulk import connect, require_ray
        from heapmetric.errors import InputError

        if workers < 1:
            raise InputError(f"must be >= 1, got {workers}", field="--workers")
        if chunk_size < 1:
            raise InputError(f"must be >= 1, got {chunk_size}", field="chunk_size")
        ray = require_ray()
        local_cpus = None if address else max(os.cpu_count() or 1, math.ceil(workers * cpus_per_worker))
        self._started_here = connect(address, num_cpus=local_cpus, quiet=True)
        remote = ray.remote(_JudgeActor).options(
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=-1, max_task_retries=-1
        )
        self.actors = [remote.remote(spec, loader, dict(load_options or {})) for _ in range(workers)]
        self.chunk_size = chunk_size
        self.preferred_batch = chunk_size * workers * 2
        try:
            self._info: JudgeInfo = ray.get(self.actors[0].info.remote())
        except Exception:
            self.close()
            raise
        meta = dict(self._info.metadata or {})
        meta["engine"] = {"ray_workers": workers}
        self._info = JudgeInfo(
            name=self._info.name,
            kind=self._info.kind,
            order_free=self._info.order_free,
            can_score=self._info.can_score,
            metadata=meta,
        )

    @property
    def info(self) -> JudgeInfo:
        """The actors' judge's info (same name, so caches and journals are shared with in-process runs)."""
        return self._info

    def _map(self, method: str, items: Sequence[Any], batch_size: int | None) -> list[Any]:
        from ray.util import ActorPool

        size = max(1, min(self.chunk_size, math.ceil(len(items) / len(self.actors))))
        chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
        pool = ActorPool(self.actors)
        return list(pool.map(lambda actor, chunk: getattr(actor, method).remote(chunk, batch_size), chunks))

    def score(
        self, items: Sequence[Any], *, batch_size: int | None = None, show_progress: bool = False, **_: Any
    ) -> ScoreResult:
        """Scores in input order (a list of ``ScoreItem`` or item dicts)."""
        from heapmetric.scoring.inputs import build_items

        items = build_items(list(items))
        parts = self._map("score", items, batch_size)
        scores = [s for p in parts for s in p.scores]
        calibrated = None
        if any(p.calibrated is not None for p in parts):
            calibrated = [c for p in parts for c in (p.calibrated or [None] * len(p.scores))]
        meta = dict(parts[0].metadata) if parts else dict(self._info.metadata)
        meta["n_items"] = len(scores)
        return ScoreResult(
            scores=scores,
            calibrated=calibrated,
            system_scores=system_means(scores, [it.system for it in items]),
            metadata=meta,
            truncated=sum(p.truncated for p in parts),
        )

    def compare(
        self, pairs: Sequence[Any], *, batch_size: int | None = None, show_progress: bool = False, **_: Any
    ) -> CompareResult:
        """P(output_a better) in input order."""
        from heapmetric.scoring.inputs import build_pairs

        pairs = build_pairs(list(pairs))
        parts = self._map("compare", pairs, batch_size)
        both = all(p.scores_a is not None and p.scores_b is not None for p in parts)
        return CompareResult(
            probabilities=[x for p in parts for x in p.probabilities],
            scores_a=[x for p in parts for x in p.scores_a] if both and parts else None,
            scores_b=[x for p in parts for x in p.scores_b] if both and parts else None,
            metadata=dict(parts[0].metadata) if parts else dict(self._info.metadata),
        )

    def close(self) -> None:
        """Remove the actors; disconnect from Ray when this judge connected."""
        import ray

        for actor in getattr(self, "actors", []):
            ray.kill(actor)
        self.actors = []
        if self._started_here and ray.is_initialized():
            ray.shutdown()
        self._started_here = False

    def __enter__(self) -> RayJudge:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
