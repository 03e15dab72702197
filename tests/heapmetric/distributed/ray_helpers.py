"""Rows for the ray engine tests and ``benchmarks/distributed_scoring.py``."""

from __future__ import annotations


def rows(n: int) -> list[dict]:
    """``n`` summary-like rows of varied length with ids ``"0"..`` and three systems."""
    return [
        {
            "id": str(i),
            "output": "the summary says " + "word " * (1 + i % 37) + f"n{i}",
            "source": "the article " * (1 + i % 11),
            "system": f"sys{i % 3}",
        }
        for i in range(n)
    ]
