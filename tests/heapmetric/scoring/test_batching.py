"""Token-budget batching: budget respected, every item once, input order restored, padding reported."""

from __future__ import annotations

import random

import pytest

from heapmetric.scoring.batching import (
    inverse_permutation,
    padding_fraction,
    plan_batches,
    restore_order,
)


def test_batches_respect_the_budget_and_cover_every_item_once():
    rng = random.Random(0)
    lengths = [rng.randint(1, 500) for _ in range(300)]
    batches = plan_batches(lengths, max_tokens=2048, max_batch_size=16)
    seen = sorted(i for b in batches for i in b.indices)
    assert seen == list(range(300))
    for b in batches:
        assert len(b.indices) <= 16
        assert b.width == max(lengths[i] for i in b.indices)
        assert b.padded_tokens <= 2048 or len(b.indices) == 1
    widths = [b.width for b in batches]
    assert widths == sorted(widths, reverse=True)  # longest first


def test_single_item_over_budget_gets_its_own_batch():
    batches = plan_batches([10, 5000, 10], max_tokens=100)
    assert batches[0].indices == (1,) and batches[1].indices == (0, 2)


def test_restore_order_is_the_inverse_permutation():
    rng = random.Random(1)
    lengths = [rng.randint(1, 50) for _ in range(57)]
    batches = plan_batches(lengths, max_tokens=200)
    results = [[f"item{i}" for i in b.indices] for b in batches]
    assert restore_order(batches, results) == [f"item{i}" for i in range(57)]
    order = [i for b in batches for i in b.indices]
    inv = inverse_permutation(order)
    assert [order[inv[i]] for i in range(57)] == list(range(57))


def test_unsorted_batches_keep_input_order_and_pad_more():
    rng = random.Random(2)
    lengths = [rng.choice([5, 400]) for _ in range(200)]
    plain = plan_batches(lengths, max_tokens=None, max_batch_size=8, sort=False)
    assert [i for b in plain for i in b.indices] == list(range(200))
    sorted_ = plan_batches(lengths, max_tokens=None, max_batch_size=8)
    assert padding_fraction(lengths, sorted_) < 0.05 < padding_fraction(lengths, plain)
    assert padding_fraction([3, 3], plan_batches([3, 3])) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        plan_batches([1, 2], max_batch_size=0)
    batches = plan_batches([1, 2, 3], max_batch_size=2)
    with pytest.raises(ValueError):
        restore_order(batches, [[1], [2]])
