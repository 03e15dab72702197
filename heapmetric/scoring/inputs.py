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
from heapmetric.judges.base import PairItem, ScoreItem, item_values, text_value
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


def _as_dict(obj: Any, index: int) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, (ScoreItem, PairItem)):
        return {k: getattr(obj, k) for k in type(obj).__dataclass_fields__}
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise InputError(
        f"cannot score a {type(obj).__name__}: give ScoreItem objects, dicts or records", line=index + 1
    )


def _column(name: str, value: Any, n: int) -> list[Any]:
    """A keyword list as one entry per output: ``None`` or one string applies to every output; a list or
    tuple must have ``n`` entries; anything else is an :class:`InputError`."""
    if value is None or isinstance(value, str):
        return [value] * n
    if isinstance(value, (dict, bytes, bytearray)) or not hasattr(value, "__iter__"):
        raise InputError(
            f"expected a string or a list with one entry per output, got {type(value).__name__}", field=name
        )
    values = list(value)
    if len(values) != n:
        raise InputError(f"{name} has {len(values)} entries but there are {n} outputs", field=name)
    return values


def _outputs(name: str, value: Any) -> list[Any]:
    """The ``outputs=`` (``outputs_a=``/``outputs_b=``) list: one string is one output."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (dict, bytes, bytearray)) or not hasattr(value, "__iter__"):
        raise InputError(f"expected a list of strings, got {type(value).__name__}", field=name)
    return list(value)


def _checked(row: dict[str, Any], fields: tuple[str, ...], required: tuple[str, ...], index: int) -> dict:
    """The row's values by the one input rule (:func:`~heapmetric.judges.base.item_values`); every
    ``required`` field must be a string (``None`` is an error as for any other non-string)."""
    values = item_values(row, fields, line=index + 1)
    for name in required:
        if name not in values:
            got = row.get(name)
            reason = (
                "missing required field" if got is None else f"expected a string, got {type(got).__name__}"
            )
            raise InputError(reason, field=name, line=index + 1)
    return values


def build_items(items: Any = None, **kw: Any) -> list[ScoreItem]:
    """:class:`ScoreItem` s from positional items or the keyword lists (see the module docstring).

    Every value goes through one rule (:func:`~heapmetric.judges.base.text_value`,
    :func:`~heapmetric.judges.base.references_value`): text fields are strings, a reference string is one
    reference; any other type, a lone surrogate or a missing output raises :class:`InputError` naming the
    item and field."""
    check_keywords(kw, SCORE_KEYWORDS)
    outputs = kw.get("outputs")
    if items is not None and outputs is not None:
        raise TypeError("give either items (positionally) or outputs=, not both")
    defaults = {
        "task": kw.get("task"),
        "criterion": kw.get("criterion"),
        "instruction": kw.get("instruction"),
    }
    for name, value in defaults.items():
        text_value(value, name)
    fields = tuple(ScoreItem.__dataclass_fields__)
    if items is not None:
        if isinstance(items, (str, ScoreItem, dict)):
            items = [items]
        out = []
        for i, obj in enumerate(_outputs("items", items)):
            row = {"output": obj} if isinstance(obj, str) else _as_dict(obj, i)
            out.append(_with_defaults(ScoreItem(**_checked(row, fields, ("output",), i)), defaults))
        return out
    if outputs is None:
        raise TypeError("score() needs items or outputs=[...]")
    outputs = _outputs("outputs", outputs)
    n = len(outputs)
    cols = {
        _PLURAL[k]: _column(k, kw.get(k), n) for k in ("sources", "references", "contexts", "systems", "ids")
    }
    out = []
    for i, text in enumerate(outputs):
        row = {"output": text, **{k: v[i] for k, v in cols.items()}}
        out.append(_with_defaults(ScoreItem(**_checked(row, fields, ("output",), i)), defaults))
    return out


def build_pairs(pairs: Any = None, **kw: Any) -> list[PairItem]:
    """:class:`PairItem` s from positional pairs (objects or dicts with ``output_a``/``output_b``) or the
    keyword lists ``outputs_a=``/``outputs_b=``, by the same rule as :func:`build_items` (a pair is judged
    against the first reference: ``references`` as a string is one reference, a list gives its first)."""
    check_keywords(kw, COMPARE_KEYWORDS)
    defaults = {
        "task": kw.get("task"),
        "criterion": kw.get("criterion"),
        "instruction": kw.get("instruction"),
    }
    for name, value in defaults.items():
        text_value(value, name)
    fields = (*PairItem.__dataclass_fields__, "references")
    required = ("output_a", "output_b")
    if pairs is not None:
        if isinstance(pairs, (PairItem, dict)):
            pairs = [pairs]
        out = []
        for i, obj in enumerate(_outputs("pairs", pairs)):
            values = _checked(_as_dict(obj, i), fields, required, i)
            refs = values.pop("references", None)
            if refs:
                values.setdefault("reference", refs[0])
            out.append(_with_defaults(PairItem(**values), defaults))
        return out
    a, b = kw.get("outputs_a"), kw.get("outputs_b")
    if a is None or b is None:
        raise TypeError("compare() needs pairs or outputs_a=[...] and outputs_b=[...]")
    a, b = _outputs("outputs_a", a), _outputs("outputs_b", b)
    if len(a) != len(b):
        raise InputError(f"outputs_a has {len(a)} entries, outputs_b {len(b)}", field="outputs_b")
    cols = {_PLURAL[k]: _column(k, kw.get(k), len(a)) for k in ("sources", "references", "contexts", "ids")}
    out = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        row = {"output_a": x, "output_b": y, **{k: v[i] for k, v in cols.items()}}
        values = _checked(row, (*PairItem.__dataclass_fields__,), required, i)
        out.append(_with_defaults(PairItem(**values), defaults))
    return out


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
