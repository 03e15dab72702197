"""Benchmarks with any heapmetric :class:`~heapmetric.judges.base.Judge`: AlpacaEval 2.0 (win rate,
length-controlled win rate) and Arena-Hard (Bradley–Terry with bootstrap intervals), an SQLite annotation cache
that makes re-runs free, and judge diagnostics against human preferences. See ``docs/bench.md``."""
