"""heapmetric beyond one process, on Ray (the optional ``heapmetric[ray]`` extra).

- :mod:`heapmetric.distributed.bulk`: bulk scoring of files on Ray Data (``heapmetric score|compare --engine
  ray``; :func:`score_file` here), resumable output shards with a manifest.
- :mod:`heapmetric.distributed.judge`: :class:`RayJudge`, a ``Judge`` that spreads ``score``/``compare`` calls
  over a pool of Ray actors, each holding the model (``synth --engine ray``, ``bench --engine ray``).
- :mod:`heapmetric.distributed.serve`: the FastAPI service on Ray Serve with N replicas
  (``heapmetric serve --engine ray --replicas N``).

Nothing here imports Ray until it is used; without Ray installed every entry point raises
:class:`~heapmetric.errors.UnsupportedError` saying ``pip install 'heapmetric[ray]'``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["score_file", "RayJudge", "require_ray"]


def require_ray() -> Any:
    """The ``ray`` module, or :class:`~heapmetric.errors.UnsupportedError` saying how to install it."""
    from heapmetric.distributed.bulk import require_ray as _require

    return _require()


def score_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    kind: str = "score",
    model: str | None = None,
    task: str | None = None,
    criterion: str | None = None,
    instruction: str | None = None,
    mapping: dict[str, str] | None = None,
    **options: Any,
) -> Any:
    """Score (``kind="score"``) or compare (``kind="compare"``) every row of ``input`` on Ray and write ``output``.

    ``options`` are those of :func:`heapmetric.distributed.bulk.run_bulk` (``workers``, ``address``,
    ``gpus_per_worker``, ``shard_size``, ``batch_size`` goes to the spec ...). Returns a
    :class:`~heapmetric.distributed.bulk.BulkReport`. See :func:`~heapmetric.distributed.bulk.run_bulk` for
    what the output promises (input order, each row once, in-process scores, resumable)."""
    from heapmetric.distributed.bulk import RunSpec, run_bulk

    spec_keys = ("device", "dtype", "quantize", "max_length", "batch_size")
    spec = RunSpec(
        kind=kind,
        model=model,
        task=task,
        criterion=criterion,
        instruction=instruction,
        mapping=dict(mapping or {}),
        **{k: options.pop(k) for k in spec_keys if k in options},
    )
    return run_bulk(spec, input, output, **options)


def __getattr__(name: str) -> Any:
    if name == "RayJudge":
        from heapmetric.distributed.judge import RayJudge

        return RayJudge
    raise AttributeError(f"module 'heapmetric.distributed' has no attribute {name!r}")
