"""Token and cost accounting per synthesis stage, input and output tokens priced separately."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heapmetric.errors import InputError


@dataclass(frozen=True)
class Prices:
    """USD per million tokens, input and output apart (e.g. ``in=0.15,out=0.60``)."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6


def parse_prices(text: str | None) -> Prices | None:
    """``"in=0.15,out=0.6"`` (USD per 1M tokens) -> :class:`Prices`; ``None``/empty -> None."""
    if not text:
        return None
    values: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("in", "out", "input", "output"):
            raise InputError(f"expected in=USD_PER_1M,out=USD_PER_1M, got {part!r}", field="prices")
        try:
            values[key[:2] if key.startswith("in") else "out"] = float(value)
        except ValueError as exc:
            raise InputError(f"not a number: {value!r}", field="prices") from exc
    return Prices(values.get("in", 0.0), values.get("out", 0.0))


@dataclass
class StageUsage:
    """Counts for one stage: steps done (``new`` this session, ``cached`` from the journal), model calls
    (repairs included), tokens, and failures by kind (parse, backend). ``calls``, ``repairs`` and the tokens
    cover every step of the output, journal replays included (what the data cost to make); ``this_run`` holds
    the same counts for the steps computed by this run only (what the endpoint was asked now)."""

    steps: int = 0
    new: int = 0
    cached: int = 0
    calls: int = 0
    repairs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    this_run: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("calls", "repairs", "input_tokens", "output_tokens"), 0)
    )


_COUNTS = ("steps", "new", "cached", "calls", "repairs", "input_tokens", "output_tokens")


class CostTracker:
    """Adds up :class:`StageUsage` per stage and prices it."""

    def __init__(self, prices: Prices | None = None) -> None:
        self.prices = prices
        self.stages: dict[str, StageUsage] = {}

    def add(self, stage: str, entry: dict[str, Any], *, new: bool) -> None:
        """Count one journal entry (``usage``: in/out/calls/repairs; ``ok``; ``kind`` of failure); ``new``:
        computed by this run rather than replayed from the journal."""
        u = self.stages.setdefault(stage, StageUsage())
        usage = entry.get("usage") or {}
        counts = {
            "calls": int(usage.get("calls", 0)),
            "repairs": int(usage.get("repairs", 0)),
            "input_tokens": int(usage.get("in", 0)),
            "output_tokens": int(usage.get("out", 0)),
        }
        u.steps += 1
        u.new += int(new)
        u.cached += int(not new)
        for key, value in counts.items():
            setattr(u, key, getattr(u, key) + value)
            if new:
                u.this_run[key] += value
        u.seconds += float(entry.get("t") or 0.0)
        if not entry.get("ok", True):
            kind = entry.get("kind", "error")
            u.failures[kind] = u.failures.get(kind, 0) + 1

    def _cost(self, input_tokens: int, output_tokens: int) -> float | None:
        return None if self.prices is None else round(self.prices.cost(input_tokens, output_tokens), 6)

    def _row(self, u: StageUsage) -> dict[str, Any]:
        row: dict[str, Any] = {k: getattr(u, k) for k in _COUNTS}
        row["failures"] = dict(u.failures)
        row["cost_usd"] = self._cost(u.input_tokens, u.output_tokens)
        row["this_run"] = {
            **u.this_run,
            "cost_usd": self._cost(u.this_run["input_tokens"], u.this_run["output_tokens"]),
        }
        return row

    def report(self) -> dict[str, Any]:
        """Per stage and total: steps, calls, repairs, tokens, failures and ``cost_usd`` (None without
        prices), journal replays included; ``this_run``: the calls, repairs, tokens and cost of this run."""
        out: dict[str, Any] = {
            "prices_usd_per_million": None
            if self.prices is None
            else {"input": self.prices.input_per_million, "output": self.prices.output_per_million},
            "stages": {},
        }
        total = StageUsage()
        for name, u in self.stages.items():
            out["stages"][name] = {**self._row(u), "model_seconds": round(u.seconds, 3)}
            for k in _COUNTS:
                setattr(total, k, getattr(total, k) + getattr(u, k))
            for k, v in u.this_run.items():
                total.this_run[k] += v
            for k, v in u.failures.items():
                total.failures[k] = total.failures.get(k, 0) + v
        out["total"] = self._row(total)
        return out
