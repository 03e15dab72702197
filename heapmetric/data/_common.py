"""Helpers shared by the converters: strict readers that say where a source file is malformed.

A structural problem in a JSON document is reported with the file and the JSON path of the value
(``field 'dm-test-1/sys_summs/M0/scores'``); a syntax error, or a problem in a line-based file (JSONL, TSV),
with file:line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError

_TYPE_NAMES = {str: "a string", dict: "an object", list: "a list", float: "a number", int: "an integer"}


def require_file(folder: Path, name: str) -> Path:
    """``folder/name``, or :class:`InputError` if it does not exist."""
    path = Path(folder) / name
    if not path.is_file():
        raise InputError("expected file is missing", file=str(path))
    return path


def load_json(path: Path) -> Any:
    """Parse a JSON document; a syntax error names file:line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg} at column {exc.colno})", file=str(path), line=exc.lineno
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", file=str(path)) from exc


def json_records(path: Path) -> Iterator[tuple[int, dict]]:
    """``(index, record)`` for each object of a JSON list of records; anything else raises :class:`InputError`.

    Lazy: the file is read, and each record checked, as the iteration reaches it.
    """
    data = load_json(path)
    if not isinstance(data, list):
        raise InputError("expected a JSON list of records", file=str(path))
    for i in range(len(data)):
        yield i, get(data, i, dict, file=path, where="")


def json_object(path: Path, shape: str) -> dict:
    """A JSON document that must be an object; ``shape`` describes it in the error (``{doc_id: document}``)."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object {shape}", file=str(path))
    return data


def numeric_order(keys: Iterable[str]) -> list[str]:
    """Digit-string keys (``"0"`` … ``"99"``) in numeric order: shorter first, then by text."""
    return sorted(keys, key=lambda k: (len(k), k))


def get(
    obj: Any,
    key: str | int,
    kind: type | tuple[type, ...],
    *,
    file: Path | str,
    where: str,
    line: int | None = None,
    optional: bool = False,
) -> Any:
    """``obj[key]`` checked to be of ``kind``; anything else raises :class:`InputError` naming the place.

    ``where`` is the JSON path of ``obj`` (the error names ``where/key``). Numbers must be finite and not bool.
    With ``optional=True`` a missing key (or ``None``) returns ``None``.
    """
    path = f"{where}/{key}" if where else str(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    expected = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
    if isinstance(obj, dict):
        value = obj.get(key)
    elif isinstance(obj, list) and isinstance(key, int) and 0 <= key < len(obj):
        value = obj[key]
    else:
        value = None
    if value is None:
        if optional:
            return None
        raise InputError(f"missing; expected {expected}", file=str(file), line=line, field=path)
    numeric = float in kinds or int in kinds
    if numeric and isinstance(value, bool):
        raise InputError(f"expected {expected}, got a boolean", file=str(file), line=line, field=path)
    if float in kinds and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kinds):
        raise InputError(
            f"expected {expected}, got {type(value).__name__} {_short(value)}",
            file=str(file),
            line=line,
            field=path,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value!r}", file=str(file), line=line, field=path)
    return value


def text(
    obj: Any, key: str | int, *, file: Path | str, where: str, line: int | None = None, optional: bool = False
) -> str | None:
    """A string field; with ``optional=True`` a missing or empty string gives ``None``."""
    value = get(obj, key, str, file=file, where=where, line=line, optional=optional)
    if value is not None and not value.strip():
        if optional:
            return None
        raise InputError(
            "expected non-empty text",
            file=str(file),
            line=line,
            field=f"{where}/{key}" if where else str(key),
        )
    return value


def _short(value: Any) -> str:
    s = json.dumps(value, ensure_ascii=False)
    return s if len(s) <= 40 else s[:37] + "..."


def in_scale(
    value: float, scale: tuple[float, float], *, file: Path | str, where: str, line: int | None = None
) -> float:
    """``value`` if it lies in ``scale`` (inclusive, with float tolerance), else :class:`InputError`."""
    lo, hi = scale
    if not (lo - 1e-6 <= value <= hi + 1e-6):
        raise InputError(
            f"expected a value in [{lo:g}, {hi:g}], got {value!r}", file=str(file), line=line, field=where
        )
    return value


def number_in(
    obj: Any,
    key: str | int,
    scale: tuple[float, float],
    *,
    file: Path | str,
    where: str,
    line: int | None = None,
) -> float:
    """``obj[key]``, a finite number checked to lie in ``scale``; errors name ``where/key``."""
    value = get(obj, key, float, file=file, where=where, line=line)
    return in_scale(value, scale, file=file, where=f"{where}/{key}" if where else str(key), line=line)
