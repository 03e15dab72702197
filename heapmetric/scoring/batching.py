"""Length-sorted, token-budget batching with the input order restored (used by the scorer and the service).

:func:`plan_batches` sorts item indices by token length, longest first (so an out-of-memory error shows on the
first batch), and fills each batch while ``batch_size * longest_length <= max_tokens`` (the padded size) and
``batch_size <= max_batch_size``. :func:`restore_order` puts per-item results back in input order through the
inverse permutation. :func:`padding_fraction` reports how many of the padded tokens are padding.

Pure Python, no torch: the service can plan micro-batches without touching the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

DEFAULT_MAX_TOKENS = 16384
"""Default padded-token budget per batch (batch size x longest sequence)."""


@dataclass(frozen=True)
class Batch:
    """Indices (into the input list) of one batch and its padded width (its longest sequence)."""

    indices: tuple[int, ...]
    width: int

    @property
    def padded_tokens(self) -> int:
        return len(self.indices) * self.width


def plan_batches(
    lengths: Sequence[int],
    *,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    max_batch_size: int | None = None,
    sort: bool = True,
) -> list[Batch]:
    """Group items into batches by token budget.

    ``lengths[i]`` is item ``i``'s token count. With ``sort`` (default) items are taken longest first (ties in
    input order); without it, in input order. A batch never exceeds ``max_batch_size`` items nor
    ``max_tokens`` padded tokens, except that a single item longer than the budget gets a batch of its own.
    ``max_tokens=None`` means only ``max_batch_size`` limits a batch. Every index appears exactly once.
    """
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if sort else list(range(len(lengths)))
    batches: list[Batch] = []
    current: list[int] = []
    width = 0
    for i in order:
        n = max(int(lengths[i]), 1)
        new_width = max(width, n)
        full = (max_batch_size is not None and len(current) >= max_batch_size) or (
            max_tokens is not None and current and (len(current) + 1) * new_width > max_tokens
        )
        if current and full:
            batches.append(Batch(tuple(current), width))
            current, new_width = [], n
        current.append(i)
        width = new_width
    if current:
        batches.append(Batch(tuple(current), width))
    return batches


def restore_order(batches: Sequence[Batch], results: Sequence[Sequence[T]]) -> list[T]:
    """Per-item results in input order, from ``results[b][j]`` = result of ``batches[b].indices[j]``."""
    n = sum(len(b.indices) for b in batches)
    out: list[T | None] = [None] * n
    filled = 0
    for batch, values in zip(batches, results, strict=True):
        if len(values) != len(batch.indices):
            raise ValueError(f"batch of {len(batch.indices)} items got {len(values)} results")
        for index, value in zip(batch.indices, values, strict=True):
            out[index] = value
            filled += 1
    if filled != n:
        raise ValueError("batches do not cover every item exactly once")
    return out  # type: ignore[return-value]


def inverse_permutation(order: Sequence[int]) -> list[int]:
    """``inv`` with ``inv[order[k]] = k``: position of each input index in a permuted list."""
    inv = [0] * len(order)
    for k, i in enumerate(order):
        inv[i] = k
    return inv


def padding_fraction(lengths: Sequence[int], batches: Sequence[Batch]) -> float:
    """Share of padded tokens that are padding (0.0 = none) over all ``batches``."""
    padded = sum(b.padded_tokens for b in batches)
    real = sum(max(int(lengths[i]), 1) for b in batches for i in b.indices)
    return 0.0 if padded == 0 else 1.0 - real / padded
