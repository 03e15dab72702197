"""What a converter left out of a source, and why: ``{reason: Counter(key -> lines)}``.

The converters of the LLM-judge and benchmark-adjacent sources (``alpacaeval_annotations``, ``arena_bench_v1``,
``autoj_pairwise``, ``prometheus_eval``) expose ``convert_report(folder) -> (records, exclusions)`` so that tests
and dataset cards state every exclusion with its count.
"""

from __future__ import annotations

from collections import Counter, defaultdict

Exclusions = dict[str, Counter]


def new_exclusions() -> defaultdict[str, Counter]:
    """An empty exclusion tally: ``tally[reason][key] += 1``."""
    return defaultdict(Counter)


def total(exclusions: Exclusions, reason: str) -> int:
    """Lines left out for ``reason`` (0 when none)."""
    return sum(exclusions.get(reason, Counter()).values())


def describe(exclusions: Exclusions) -> str:
    """One line per reason, ``reason: N (key n, ...)``, reasons and keys sorted (for logs and cards)."""
    out = []
    for reason, per_key in sorted(exclusions.items()):
        keys = ", ".join(f"{k} {n}" for k, n in sorted(per_key.items()))
        out.append(f"{reason}: {sum(per_key.values())} ({keys})")
    return "\n".join(out)
