"""Task mixing weights and the step-keyed sampler."""

from __future__ import annotations

import pytest

from heapmetric.errors import InputError
from training.mixing import MixtureSampler, group_weights, shard


def test_proportional_with_cap() -> None:
    w = group_weights({"a/t/x": 100, "b/t/y": 10_000, "c/t/z": 0}, "proportional", cap=1000)
    assert w["a/t/x"] == pytest.approx(100 / 1100) and w["b/t/y"] == pytest.approx(1000 / 1100)
    assert w["c/t/z"] == 0


def test_temperature_flattens() -> None:
    sizes = {"a/t/x": 100, "b/t/y": 10_000}
    t1 = group_weights(sizes, "temperature", temperature=1.0)
    t4 = group_weights(sizes, "temperature", temperature=4.0)
    assert t1["a/t/x"] == pytest.approx(100 / 10_100)
    assert t1["a/t/x"] < t4["a/t/x"] < 0.5
    assert group_weights(sizes, "uniform") == {"a/t/x": 0.5, "b/t/y": 0.5}


def test_balanced_shares_datasets_before_criteria() -> None:
    # dataset "many" has 9 criteria, dataset "one" has 1: with T large both datasets get about half
    sizes = {f"many/t/c{i}": 100 for i in range(9)} | {"one/t/c": 100}
    w = group_weights(sizes, "balanced", temperature=1000.0)
    assert w["one/t/c"] == pytest.approx(0.5, abs=0.01)
    assert sum(w.values()) == pytest.approx(1.0)


def test_no_examples_is_an_error() -> None:
    with pytest.raises(InputError):
        group_weights({"a": 0}, "proportional")


def test_sampler_is_a_pure_function_of_seed_and_step() -> None:
    sizes = {"a": 5, "b": 50}
    s1 = MixtureSampler(sizes, group_weights(sizes, "uniform"), seed=1)
    s2 = MixtureSampler(sizes, group_weights(sizes, "uniform"), seed=1)
    assert s1.draw(17, 8) == s2.draw(17, 8)
    assert s1.draw(17, 8) != s1.draw(18, 8)
    draws = [g for step in range(200) for g, i in s1.draw(step, 4)]
    assert 0.4 < draws.count("a") / len(draws) < 0.6
    assert all(0 <= i < sizes[g] for step in range(50) for g, i in s1.draw(step, 4))


def test_shard_splits_a_global_batch() -> None:
    batch = list(range(10))
    parts = [shard(batch, r, 3) for r in range(3)]
    assert sorted(x for p in parts for x in p) == batch
