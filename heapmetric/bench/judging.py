"""Running any :class:`~heapmetric.judges.base.Judge` over benchmark pairs: both orders where the judge is not
order-free, the annotation cache, batching, and the bookkeeping of unparsed verdicts.

A judge's ``compare`` returns P(output_a better) per pair. Judges that produce discrete verdicts (LLM judges)
may also put ``verdicts`` (e.g. ``"A>>B"``) and ``raw`` (the judge's text) lists in ``CompareResult.metadata``;
NaN probabilities mean "no usable verdict" and are never turned into ties here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from heapmetric.bench.cache import AnnotationCache, cache_key
from heapmetric.errors import HeapmetricError, InputError
from heapmetric.judges.base import Judge, PairItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """One judged pair: ``p`` = P(a better) (NaN when unparsed), the discrete verdict and raw text if any."""

    p: float
    verdict: str | None = None
    raw: str | None = None
    cached: bool = False

    @property
    def parsed(self) -> bool:
        return math.isfinite(self.p)

    def to_json(self) -> dict[str, Any]:
        return {"p": self.p if self.parsed else None, "verdict": self.verdict, "raw": self.raw}


def judge_id(judge: Judge) -> str:
    """Identity of a judge for cache keys. A judge may declare ``metadata["cache_id"]`` (an LLM judge: model,
    config version and prompt hash, not the endpoint URL, so the same judge served elsewhere reuses the cache);
    otherwise its name plus a hash of all its metadata (model revision, dtype, library versions ...), so that a
    changed judge never reads another's verdicts."""
    info = judge.info
    meta = info.metadata or {}
    if meta.get("cache_id"):
        return str(meta["cache_id"])
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))
    return f"{info.name}|{info.kind}|{digest.hexdigest()[:16]}"


def _pair_key(jid: str, pair: PairItem) -> str:
    return cache_key(
        jid,
        pair.source,
        pair.output_a,
        pair.output_b,
        context=pair.context,
        reference=pair.reference,
        instruction=pair.instruction,
        task=pair.task,
        criterion=pair.criterion,
    )


def _meta_list(meta: dict[str, Any], key: str, n: int) -> list[Any]:
    value = meta.get(key)
    return list(value) if isinstance(value, (list, tuple)) and len(value) == n else [None] * n


class UnavailableJudgeError(HeapmetricError):
    """The judge failed part-way (e.g. an unreachable endpoint); everything judged so far is in the cache."""


def judge_pairs(
    judge: Judge,
    pairs: Sequence[PairItem],
    *,
    cache: AnnotationCache | None = None,
    batch_size: int = 64,
    show_progress: bool = False,
) -> list[Verdict]:
    """Verdicts for ``pairs`` in order, reading and filling ``cache``. Parsed verdicts are cached after each
    batch; unparsed ones are not, so that a re-run asks again. A failing judge raises
    :class:`UnavailableJudgeError` saying how much is cached."""
    pairs = list(pairs)
    jid = judge_id(judge)
    keys = [_pair_key(jid, p) for p in pairs]
    found = cache.get_many(keys) if cache is not None else {}
    out: list[Verdict | None] = [None] * len(pairs)
    todo = []
    for i, k in enumerate(keys):
        if k in found:
            v = found[k]
            out[i] = Verdict(
                float("nan") if v.get("p") is None else float(v["p"]),
                v.get("verdict"),
                v.get("raw"),
                cached=True,
            )
        else:
            todo.append(i)
    if todo:
        log.info("judging %d pairs with %s (%d cached)", len(todo), judge.info.name, len(pairs) - len(todo))
    progress = None
    if show_progress and todo:
        from tqdm import tqdm

        progress = tqdm(total=len(todo), desc="judging", unit="pair")
    done = 0
    try:
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            try:
                result = judge.compare([pairs[i] for i in idx], batch_size=None)
            except InputError:
                raise  # bad input names its own file and record
            except HeapmetricError as exc:
                raise UnavailableJudgeError(
                    f"judge {judge.info.name} failed after {done} of {len(todo)} new pairs: {exc}"
                    + (
                        f" ({len(cache)} annotations kept in the cache {cache.path}; re-run to resume)"
                        if cache is not None
                        else ""
                    )
                ) from exc
            probs = list(result.probabilities)
            if len(probs) != len(idx):
                raise HeapmetricError(
                    f"judge {judge.info.name} returned {len(probs)} results for {len(idx)} pairs"
                )
            meta = dict(result.metadata or {})
            verdicts = _meta_list(meta, "verdicts", len(idx))
            raws = _meta_list(meta, "raw", len(idx))
            new = {}
            for j, i in enumerate(idx):
                p = float(probs[j]) if probs[j] is not None else float("nan")
                out[i] = Verdict(p, verdicts[j], raws[j])
                if math.isfinite(p):
                    new[keys[i]] = out[i].to_json()
            if cache is not None and new:
                cache.put_many(new, judge=jid)
            done += len(idx)
            if progress is not None:
                progress.update(len(idx))
    finally:
        if progress is not None:
            progress.close()
    return [v for v in out if v is not None]


def swapped(pair: PairItem) -> PairItem:
    """The same pair with a and b exchanged."""
    return replace(pair, output_a=pair.output_b, output_b=pair.output_a)


def judge_both_orders(
    judge: Judge,
    pairs: Sequence[PairItem],
    *,
    cache: AnnotationCache | None = None,
    batch_size: int = 64,
    show_progress: bool = False,
) -> tuple[list[Verdict], list[Verdict]]:
    """Verdicts on ``pairs`` as given and with positions swapped (``p`` of the swapped list is still P(its a
    better), i.e. about the original b). An order-free judge is asked once; the swapped verdict is derived."""
    pairs = list(pairs)
    if judge.info.order_free:
        first = judge_pairs(judge, pairs, cache=cache, batch_size=batch_size, show_progress=show_progress)
        return first, [Verdict(1.0 - v.p, None, v.raw, v.cached) for v in first]
    both = judge_pairs(
        judge,
        pairs + [swapped(p) for p in pairs],
        cache=cache,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    return both[: len(pairs)], both[len(pairs) :]


def combine_orders(ab: Verdict, ba: Verdict) -> float:
    """P(original a better) from both orders: the mean of the parsed ones, NaN when neither parsed."""
    values = [v for v in (ab.p, 1.0 - ba.p) if math.isfinite(v)]
    return sum(values) / len(values) if values else float("nan")
