"""The two record types every part of heapmetric exchanges (BRIEF §4), validated on load.

A :class:`Judgement` is one output with a human score on one criterion; a :class:`Preference` is two outputs
for the same input with a human label saying which is better. Both are stored as JSON Lines, one record a
line, and both carry ``item_id``: the id of the *input*, which decides the split so that no input leaks
between train and test.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl, write_jsonl

LABELS = ("a", "b", "tie")


def _check_str(obj: dict, name: str, required: bool, where: dict) -> None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InputError("missing required field", field=name, **where)
        return
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", field=name, **where)
    if required and name in ("output", "output_a", "output_b") and not value.strip():
        raise InputError("empty text", field=name, **where)


def _check_common(obj: dict, where: dict) -> None:
    for name in ("id", "dataset", "task", "criterion", "item_id"):
        _check_str(obj, name, True, where)
    for name in ("instruction", "source", "context", "reference", "system"):
        _check_str(obj, name, False, where)
    refs = obj.get("references")
    if refs is not None and (not isinstance(refs, list) or not all(isinstance(r, str) for r in refs)):
        raise InputError("expected a list of strings", field="references", **where)


@dataclass
class _Base:
    id: str
    dataset: str
    task: str
    criterion: str
    item_id: str
    instruction: str | None = None
    source: str | None = None
    context: str | None = None
    reference: str | None = None
    references: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict without empty optional fields (what is written to JSONL)."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}

    @property
    def all_references(self) -> list[str]:
        """``references`` if present, else ``[reference]``, else ``[]``."""
        if self.references:
            return list(self.references)
        return [self.reference] if self.reference else []


@dataclass
class Judgement(_Base):
    """One output scored by humans on one criterion. ``scale`` is ``[low, high]`` of the human scale."""

    output: str = ""
    score: float = 0.0
    scale: list[float] = field(default_factory=lambda: [0.0, 1.0])
    system: str | None = None
    annotator_scores: list[float] | None = None

    @classmethod
    def from_dict(cls, obj: dict[str, Any], *, file: str | None = None, line: int | None = None) -> Judgement:
        """Validate and build; a bad record raises :class:`InputError` naming file, line and field."""
        where = {"file": file, "line": line}
        _check_common(obj, where)
        _check_str(obj, "output", True, where)
        score = obj.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InputError(f"expected a finite number, got {score!r}", field="score", **where)
        scale = obj.get("scale")
        if (
            not isinstance(scale, list)
            or len(scale) != 2
            or not all(isinstance(s, (int, float)) for s in scale)
            or scale[0] >= scale[1]
        ):
            raise InputError(f"expected [low, high] with low < high, got {scale!r}", field="scale", **where)
        ann = obj.get("annotator_scores")
        if ann is not None and (
            not isinstance(ann, list)
            or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in ann)
        ):
            raise InputError("expected a list of numbers", field="annotator_scores", **where)
        return cls(**_known(cls, obj, file, line))


@dataclass
class Preference(_Base):
    """Two outputs for one input; ``label`` says which humans judged better (``a``, ``b`` or ``tie``)."""

    output_a: str = ""
    output_b: str = ""
    label: str = "tie"
    margin: float | None = None
    system_a: str | None = None
    system_b: str | None = None

    @classmethod
    def from_dict(
        cls, obj: dict[str, Any], *, file: str | None = None, line: int | None = None
    ) -> Preference:
        """Validate and build; a bad record raises :class:`InputError` naming file, line and field."""
        where = {"file": file, "line": line}
        _check_common(obj, where)
        _check_str(obj, "output_a", True, where)
        _check_str(obj, "output_b", True, where)
        if obj.get("label") not in LABELS:
            raise InputError(f"expected one of {LABELS}, got {obj.get('label')!r}", field="label", **where)
        margin = obj.get("margin")
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
            raise InputError(f"expected a number, got {margin!r}", field="margin", **where)
        return cls(**_known(cls, obj, file, line))


Record = Judgement | Preference

#: ``meta`` key naming who produced a record's label: ``"human"`` or the judge model (``"gpt-4-turbo"``).
LABEL_SOURCE_KEY = "label_source"
HUMAN = "human"


def label_source(record: Record | dict[str, Any]) -> str:
    """Who produced the record's score or label: ``"human"``, a judge model name, or ``"unknown"``.

    Reads ``meta["label_source"]`` (stamped on every record by ``heapmetric data build``) of a record or of
    its JSON object. Without it (a build made before provenance was recorded), a record of a registered
    converter whose labels all share one source gets that converter's ``LABEL_SOURCE``; anything else
    (hand-made records, mixed-provenance converters) is ``"unknown"``, never silently counted as human.
    """
    if isinstance(record, dict):
        meta, dataset = record.get("meta"), record.get("dataset")
    else:
        meta, dataset = record.meta, record.dataset
    value = (meta or {}).get(LABEL_SOURCE_KEY)
    if isinstance(value, str) and value:
        return value
    return _converter_label_source(dataset) if isinstance(dataset, str) else "unknown"


@functools.cache
def _converter_label_source(dataset: str) -> str:
    from heapmetric.data import CONVERTERS, get_converter
    from heapmetric.errors import HeapmetricError

    if dataset not in CONVERTERS:
        return "unknown"
    try:
        value = getattr(get_converter(dataset), "LABEL_SOURCE", None)
    except HeapmetricError:
        return "unknown"
    return value if isinstance(value, str) and value else "unknown"


def is_human_label(record: Record | dict[str, Any]) -> bool:
    """True when the record's label comes from human annotators (see :func:`label_source`)."""
    return label_source(record) == HUMAN


def _known(cls: type, obj: dict[str, Any], file: str | None, line: int | None) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(obj) - names - {"kind"})
    if unknown:
        raise InputError(
            f"unknown field(s) {', '.join(unknown)}; put extra data under 'meta'",
            field=unknown[0],
            file=file,
            line=line,
        )
    return {k: v for k, v in obj.items() if k in names}


def record_from_dict(obj: dict[str, Any], *, file: str | None = None, line: int | None = None) -> Record:
    """A :class:`Preference` if the object has ``output_a``, else a :class:`Judgement`."""
    if "output_a" in obj or "output_b" in obj or "label" in obj:
        return Preference.from_dict(obj, file=file, line=line)
    return Judgement.from_dict(obj, file=file, line=line)


def iter_records(path: str | os.PathLike) -> Iterator[Record]:
    """Validate and yield each record of a JSONL file; the first bad one raises with file:line and field."""
    for line, obj in iter_jsonl(path):
        yield record_from_dict(obj, file=str(path), line=line)


def read_records(path: str | os.PathLike) -> list[Record]:
    """All records of a JSONL file, validated."""
    return list(iter_records(path))


def write_records(path: str | os.PathLike, records: Iterable[Record]) -> int:
    """Write records atomically as JSON Lines; return the count."""
    return write_jsonl(path, (r.to_dict() for r in records))


def to_dataset(records: list[Record]):
    """A ``datasets.Dataset`` with one column per field (``meta`` kept as a JSON string)."""
    import json

    import datasets

    rows = []
    for r in records:
        d = asdict(r)
        d["meta"] = json.dumps(d.get("meta") or {}, ensure_ascii=False)
        rows.append(d)
    return datasets.Dataset.from_list(rows)
