"""The SQLite annotation cache: keys, persistence, resumption."""

from __future__ import annotations

from heapmetric.bench.cache import AnnotationCache, cache_key


def test_key_depends_on_every_part() -> None:
    base = cache_key("judge|v1", "prompt", "a", "b")
    assert base == cache_key("judge|v1", "prompt", "a", "b")
    others = {
        cache_key("judge|v2", "prompt", "a", "b"),
        cache_key("judge|v1", "prompt2", "a", "b"),
        cache_key("judge|v1", "prompt", "b", "a"),
        cache_key("judge|v1", "prompt", "a", "b", task="t"),
    }
    assert base not in others and len(others) == 4


def test_values_survive_reopening(tmp_path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    with AnnotationCache(path) as cache:
        cache.put_many({"k1": {"p": 0.25, "raw": "[[B>A]]"}, "k2": {"p": None}}, judge="j")
        assert len(cache) == 2
    with AnnotationCache(path) as cache:
        got = cache.get_many(["k1", "k2", "k3"])
        assert got == {"k1": {"p": 0.25, "raw": "[[B>A]]"}, "k2": {"p": None}}
        assert (cache.hits, cache.misses) == (2, 1)
        cache.put_many({"k1": {"p": 0.5}})
        assert cache.get_many(["k1"])["k1"] == {"p": 0.5}
