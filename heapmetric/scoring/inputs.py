"""Turning the keyword API's arguments into items and criteria (shared by the trained metric and the
generative judge).

``score(outputs=[...], sources=..., references=..., contexts=..., task=..., criterion=... | instruction=...,
systems=..., ids=...)`` and ``compare(outputs_a=[...], outputs_b=[...], ...)``: parallel lists are
keyword-only and must have the same length as ``outputs``; a single string for ``sources`` etc. applies to
every item. Items may instead be given positionally as :class:`ScoreItem` / :class:`PairItem` objects, dicts
(records or table rows with the same field names) or record objects (anything with ``to_dict()``).
Per-item ``task``/``criterion``/``instruction`` override the keyword defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heapmetric.errors import InputError
from heapmetric.judges.base import PairItem, ScoreItem
from heapmetric.registry import Criterion, free_text_criterion, get_criterion

SCORE_KEYWORDS = (
    "outputs",
    "sources",
    "references",
    "contexts",
    "task",
    "criterion",
    "instruction",
    "systems",
    "ids",
)
COMPARE_KEYWORDS = (
    "outputs_a",
    "outputs_b",
    "sources",
    "references",
    "contexts",
    "task",
    "criterion",
    "instruction",
    "ids",
)
_PLURAL = {
    "sources": "source",
    "references": "reference",
    "contexts": "context",
    "systems": "system",
    "ids": "id",
}


def check_keywords(given: dict[str, Any], allowed: Sequence[str], extra: Sequence[str] = ()) -> None:
    """Raise ``TypeError`` naming the valid keywords when ``given`` holds an unknown one."""
    unknown = sorted(set(given) - set(allowed) - set(extra))
    if unknown:
        raise TypeError(
            f"unknown keyword argument(s) {', '.join(unknown)}; valid: "
            f"{', '.join(list(allowed) + list(extra))}"
        )


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise InputError(f"cannot score a {type(obj).__name__}: give ScoreItem objects, dicts or records")


def _column(name: str, value: Any, n: int) -> list[Any]:
    if value is None or isinstance(value, str):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise InputError(f"{name} has {len(values)} entries but there are {n} outputs", field=name)
    return values


def build_items(items: Any = None, **kw: Any) -> list[ScoreItem]:
    """:class:`ScoreItem` s from positional items or the keyword lists (see the module docstring)."""
    check_keywords(kw, SCORE_KEYWORDS)
    outputs = kw.get("outputs")
    if items is not None and outputs is not None:
        raise TypeError("give either items (positionally) or outputs=, not both")
    defaults = {
        "task": kw.get("task"),
        "criterion": kw.get("criterion"),
        "instruction": kw.get("instruction"),
    }
    if items is not None:
        if isinstance(items, (str, ScoreItem)) or isinstance(items, dict):
            items = [items]
        out = []
        for obj in items:
            if isinstance(obj, str):
                obj = ScoreItem(output=obj)
            if not isinstance(obj, ScoreItem):
                row = _as_dict(obj)
                values = {k: row[k] for k in ScoreItem.__dataclass_fields__ if row.get(k) not in (None, "")}
                if isinstance(values.get("references"), list):
                    values["references"] = tuple(values["references"])
                if "output" not in values:
                    raise InputError("missing required field", field="output", line=len(out) + 1)
                obj = ScoreItem(**values)
            out.append(_with_defaults(obj, defaults))
        return out
    if outputs is None:
        raise TypeError("score() needs items or outputs=[...]")
    if isinstance(outputs, str):
        outputs = [outputs]
    outputs = list(outputs)
    n = len(outputs)
    cols = {
        _PLURAL[k]: _column(k, kw.get(k), n) for k in ("sources", "references", "contexts", "systems", "ids")
    }
    out = []
    for i, text in enumerate(outputs):
        if not isinstance(text, str):
            raise InputError(f"expected a string, got {type(text).__name__}", field="output", line=i + 1)
        ref = cols["reference"][i]
        refs = tuple(ref) if isinstance(ref, (list, tuple)) else None
        out.append(
            _with_defaults(
                ScoreItem(
                    output=text,
                    source=cols["source"][i],
                    context=cols["context"][i],
                    reference=None if refs else ref,
                    references=refs,
                    system=cols["system"][i],
                    id=cols["id"][i],
                ),
                defaults,
            )
        )
    return out


def build_pairs(pairs: Any = None, **kw: Any) -> list[PairItem]:
    """:class:`PairItem` s from positional pairs (objects or dicts with ``output_a``/``output_b``) or the
    keyword lists ``outputs_a=``/``outputs_b=``."""
    check_keywords(kw, COMPARE_KEYWORDS)
    defaults = {
        "task": kw.get("task"),
        "criterion": kw.get("criterion"),
        "instruction": kw.get("instruction"),
    }
    if pairs is not None:
        out = []
        for obj in pairs:
            if not isinstance(obj, PairItem):
                row = _as_dict(obj)
                values = {k: row[k] for k in PairItem.__dataclass_fields__ if row.get(k) not in (None, "")}
                if "reference" not in values and row.get("references"):
                    values["reference"] = row["references"][0]
                for side in ("output_a", "output_b"):
                    if side not in values:
                        raise InputError("missing required field", field=side, line=len(out) + 1)
                obj = PairItem(**values)
            out.append(_with_defaults(obj, defaults))
        return out
    a, b = kw.get("outputs_a"), kw.get("outputs_b")
    if a is None or b is None:
        raise TypeError("compare() needs pairs or outputs_a=[...] and outputs_b=[...]")
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise InputError(f"outputs_a has {len(a)} entries, outputs_b {len(b)}", field="outputs_b")
    cols = {_PLURAL[k]: _column(k, kw.get(k), len(a)) for k in ("sources", "references", "contexts", "ids")}
    return [
        _with_defaults(
            PairItem(
                output_a=x,
                output_b=y,
                source=cols["source"][i],
                context=cols["context"][i],
                reference=cols["reference"][i],
                id=cols["id"][i],
            ),
            defaults,
        )
        for i, (x, y) in enumerate(zip(a, b, strict=True))
    ]


def _with_defaults(item: Any, defaults: dict[str, Any]) -> Any:
    from dataclasses import replace

    changes = {k: v for k, v in defaults.items() if v is not None and getattr(item, k) is None}
    # a per-item instruction wins over default task/criterion and vice versa
    if item.instruction is not None:
        changes.pop("task", None)
        changes.pop("criterion", None)
    if item.task is not None or item.criterion is not None:
        changes.pop("instruction", None)
    return replace(item, **changes) if changes else item


def criterion_of(
    item: ScoreItem | PairItem, *, index: int | None = None, cache: dict[tuple, Criterion] | None = None
) -> Criterion:
    """The criterion an item is judged on: its ``instruction`` (free text), else ``task`` + ``criterion``."""
    key = (item.instruction, item.task, item.criterion)
    if cache is not None and key in cache:
        return cache[key]
    line = index + 1 if index is not None else None
    if item.instruction:
        crit = free_text_criterion(item.instruction)
    else:
        task, name = item.task, item.criterion
        if name and "/" in name and not task:
            task, name = name.split("/", 1)
        if not task or not name:
            missing = "task" if not task else "criterion"
            raise InputError(
                f"no {missing} for this item: give task and criterion (--task/--criterion, "
                "per-row columns) or an instruction",
                line=line,
                field=missing,
            )
        crit = get_criterion(task, name)
    if cache is not None:
        cache[key] = crit
    return crit
