""":class:`Metric`, the trained reward-model metric behind the :class:`~heapmetric.judges.base.Judge` protocol
(:func:`heapmetric.load` in :mod:`heapmetric.loading` resolves a model to it).

Load once, score many times::

    metric = heapmetric.load()                     # $HEAPMETRIC_MODEL, else heapmetric/models/default/
    result = metric.score(outputs=[...], sources=[...], task="summarization", criterion="coherence")
    result.scores, result.system_scores, result.metadata
    metric.compare(outputs_a=[...], outputs_b=[...], sources=[...], task=..., criterion=...).probabilities

Scores are one forward pass per item (no generation), in input order, the same for any batch size (fp32,
within 1e-5: inputs are length-sorted into token-budget batches, see :mod:`heapmetric.scoring.batching`, and
each row's result does not depend on its batch mates). ``compare`` gives ``sigmoid(s_a - s_b)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from heapmetric.errors import InputError, UnsupportedError
from heapmetric.judges.base import (
    CompareResult,
    JudgeInfo,
    ScoreItem,
    ScoreResult,
    criteria_metadata,
    pair_probability,
    progress_bar,
    system_means,
)
from heapmetric.scoring.batching import DEFAULT_MAX_TOKENS, padding_fraction, plan_batches, restore_order

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
"""Largest batch (items) when the caller gives no batch size; the token budget usually binds first."""


def position_limit(model: Any) -> tuple[int | None, str]:
    """The most input tokens ``model`` can take and where that comes from (config / tokenizer), or None.

    A RoBERTa-style ``max_position_embeddings`` counts the padding offset; the tokenizer's
    ``model_max_length`` (when set to a real value) is the tighter, usable limit."""
    limits: list[tuple[int, str]] = []
    tokenizer = getattr(model, "tokenizer", None)
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 0 < value < 10**6:
        limits.append((value, "tokenizer.model_max_length"))
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    if isinstance(value, int) and 0 < value < 10**6:
        limits.append((value, "config.max_position_embeddings"))
    if not limits:
        return None, ""
    return min(limits)


class Metric:
    """The trained metric (a :class:`~heapmetric.scoring.reward_model.RewardModel`) as a ``Judge``.

    ``score``/``compare`` accept items positionally (``ScoreItem``/``PairItem``, dicts, records) or the keyword
    lists described in :mod:`heapmetric.scoring.inputs`.
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str = "reward",
        revision: str | None = None,
        device: str = "cpu",
        dtype: Any = None,
        quantization: str | None = None,
        max_length: int | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        import torch

        self.model = model.eval()
        self.tokenizer = model.tokenizer
        self.name = name
        self.revision = revision
        self.device = device
        self.dtype = dtype or torch.float32
        self.quantization = quantization
        if max_length is not None:
            limit, source = position_limit(model)
            if limit is not None and int(max_length) > limit:
                raise InputError(
                    f"max_length {int(max_length)} is above this model's limit of {limit} tokens ({source}); "
                    f"pass --max-length {limit} or less"
                )
        self.max_length = int(max_length or model.max_length)
        self.max_tokens = max_tokens
        self.calibration: dict[str, Any] = dict(model.spec.get("calibration") or {})
        self._input_device = next(model.parameters()).device

    # ----------------------------------------------------------------------------------------- info

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name=f"heapmetric:{self.name}",
            kind="reward",
            order_free=True,
            can_score=True,
            metadata=self._base_metadata(),
        )

    def _base_metadata(self) -> dict[str, Any]:
        from heapmetric.registry import registry_version
        from heapmetric.scoring.device import dtype_name, library_versions
        from heapmetric.scoring.render import RENDER_VERSION

        spec = self.model.spec
        return {
            "model": self.name,
            "revision": self.revision,
            "kind": "reward",
            "versions": library_versions(),
            "dtype": dtype_name(self.dtype),
            "quantization": self.quantization,
            "device": self.device,
            "max_length": self.max_length,
            "pooling": self.model.pooling if not self.model.native_head else "native",
            "render_version": RENDER_VERSION,
            "registry_version": registry_version(),
            "checkpoint_render_version": spec.get("render_version"),
            "checkpoint_registry_version": spec.get("registry_version"),
        }

    # ----------------------------------------------------------------------------------------- scoring

    def raw_scores(
        self,
        items: Sequence[ScoreItem],
        *,
        batch_size: int | None = None,
        max_tokens: int | None = None,
        show_progress: bool = False,
    ) -> tuple[list[float], dict[str, Any]]:
        """Raw scores in input order, plus stats (``truncated``, ``padding_fraction``, ``batches``, criteria)."""
        import torch

        from heapmetric.scoring.inputs import criterion_of
        from heapmetric.scoring.render import collate, encode, pad_token_id, render

        cache: dict = {}
        criteria = [criterion_of(it, index=i, cache=cache) for i, it in enumerate(items)]
        rendered = [render(it, c) for it, c in zip(items, criteria, strict=True)]
        encoded = encode(self.tokenizer, rendered, self.max_length)
        lengths = [len(e.input_ids) for e in encoded]
        batches = plan_batches(
            lengths, max_tokens=max_tokens or self.max_tokens, max_batch_size=batch_size or DEFAULT_BATCH_SIZE
        )
        pad = pad_token_id(self.tokenizer)
        side = getattr(self.tokenizer, "padding_side", "right") or "right"
        results: list[list[float]] = []
        progress = progress_bar(len(items), show_progress)
        try:
            # bitsandbytes logs a warning on every 8-bit matmul that fp32 inputs are cast to fp16
            with torch.inference_mode(), _quiet_logger("bitsandbytes.autograd._functions"):
                for batch in batches:
                    enc = collate([encoded[i].input_ids for i in batch.indices], pad, side)
                    try:
                        out = self.model(
                            input_ids=enc["input_ids"].to(self._input_device),
                            attention_mask=enc["attention_mask"].to(self._input_device),
                        )
                    except RuntimeError as exc:
                        if self.quantization is None:
                            raise
                        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        raise UnsupportedError(
                            f"--quantize {self.quantization} cannot run this model on {self.device} ({first})"
                        ) from exc
                    results.append([float(v) for v in out.float().cpu().tolist()])
                    progress.update(len(batch.indices))
        finally:
            progress.close()
        stats = {
            "truncated": sum(e.truncated for e in encoded),
            "batches": len(batches),
            "padding_fraction": padding_fraction(lengths, batches),
            "tokens": sum(lengths),
            "criteria": [c.id for c in criteria],
        }
        return restore_order(batches, results), stats

    def score(
        self,
        items: Any = None,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> ScoreResult:
        """Score items (or the keyword lists ``outputs=``, ``sources=``, ...) in input order.

        Returns raw scores, scores calibrated to the criterion's human scale where the checkpoint holds a
        calibration for it, per-system means when systems are known, and metadata.
        """
        from heapmetric.scoring.inputs import build_items

        items = build_items(items, **kwargs)
        if not items:
            return ScoreResult(scores=[], metadata=self._base_metadata())
        scores, stats = self.raw_scores(
            items, batch_size=batch_size, max_tokens=max_tokens, show_progress=show_progress
        )
        calibrated = self._calibrate(scores, stats["criteria"])
        meta = self._base_metadata()
        meta.update(
            criteria_metadata(stats["criteria"]),
            truncated=stats["truncated"],
            padding_fraction=round(stats["padding_fraction"], 4),
            n_items=len(items),
        )
        return ScoreResult(
            scores=scores,
            calibrated=calibrated,
            system_scores=system_means(scores, [it.system for it in items]),
            metadata=meta,
            truncated=stats["truncated"],
        )

    def compare(
        self,
        pairs: Any = None,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> CompareResult:
        """P(output_a better) = sigmoid(s_a - s_b) for each pair (or ``outputs_a=``/``outputs_b=`` lists)."""
        from heapmetric.scoring.inputs import build_pairs

        pairs = build_pairs(pairs, **kwargs)
        if not pairs:
            return CompareResult(probabilities=[], scores_a=[], scores_b=[], metadata=self._base_metadata())
        sides = [p.side("a") for p in pairs] + [p.side("b") for p in pairs]
        scores, stats = self.raw_scores(
            sides, batch_size=batch_size, max_tokens=max_tokens, show_progress=show_progress
        )
        n = len(pairs)
        a, b = scores[:n], scores[n:]
        meta = self._base_metadata()
        meta.update(criteria_metadata(stats["criteria"][:n]), truncated=stats["truncated"], n_pairs=n)
        return CompareResult(
            probabilities=[pair_probability(x, y) for x, y in zip(a, b, strict=True)],
            scores_a=a,
            scores_b=b,
            metadata=meta,
        )

    def _calibrate(self, scores: list[float], criteria: list[str]) -> list[float | None] | None:
        if not self.calibration:
            return None
        from heapmetric.scoring.calibration import apply

        out: list[float | None] = [None] * len(scores)
        for cid in set(criteria):
            spec = self.calibration.get(cid)
            if spec is None:
                continue
            idx = [i for i, c in enumerate(criteria) if c == cid]
            for i, v in zip(idx, apply([scores[i] for i in idx], spec), strict=True):
                out[i] = v
        return out if any(v is not None for v in out) else None


@contextlib.contextmanager
def _quiet_logger(name: str) -> Any:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


__all__ = ["Metric", "position_limit"]
