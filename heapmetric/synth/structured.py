"""Structured (JSON) replies from chat models: tolerant extraction and a small schema check.

Models wrap JSON in prose or code fences, use objects where strings were asked for, or stop mid-way.
:func:`extract_json` finds the first JSON object in a reply; :func:`check` validates and normalises it
against a schema like ``{"skills": "list[str]", "response": "str", "notes": "list[str]?"}`` (``?`` = optional)
and returns a readable reason when it does not fit, which the pipeline sends back in its one repair request.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_ITEM_KEYS = ("name", "text", "item", "value", "title", "description")


class SchemaError(ValueError):
    """The reply does not hold a JSON object of the expected shape."""


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: the whole text, a fenced block, or the first ``{...}`` that parses."""
    text = text.strip()
    candidates = [text] + [m.strip() for m in _FENCE.findall(text)]
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise SchemaError("no JSON object found in the reply")


def _as_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):  # {"name": "Baking", "description": ...} -> "Baking"
        for key in _ITEM_KEYS:
            if isinstance(value.get(key), str) and value[key].strip():
                return value[key].strip()
    return None


def check(obj: dict[str, Any], schema: dict[str, str]) -> dict[str, Any]:
    """``obj`` normalised to ``schema`` (lists of non-empty strings, stripped strings); keys outside the
    schema are dropped. Raises :class:`SchemaError` naming the first field that does not fit."""
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        optional = spec.endswith("?")
        kind = spec.rstrip("?")
        value = obj.get(key)
        if value is None:
            if optional:
                out[key] = [] if kind == "list[str]" else None
                continue
            raise SchemaError(f"missing field {key!r}")
        if kind == "str":
            text = _as_str(value)
            if text is None:
                raise SchemaError(f"field {key!r} must be a non-empty string")
            out[key] = text
        elif kind == "list[str]":
            if isinstance(value, (str, dict)):
                value = [value]
            if not isinstance(value, list):
                raise SchemaError(f"field {key!r} must be a list of strings")
            items = [s for s in (_as_str(v) for v in value) if s]
            if not items and not optional:
                raise SchemaError(f"field {key!r} must be a non-empty list of strings")
            out[key] = items
        else:
            raise ValueError(f"unknown schema type {spec!r}")
    return out


def parse(text: str, schema: dict[str, str]) -> dict[str, Any]:
    """:func:`extract_json` then :func:`check`."""
    return check(extract_json(text), schema)


def example_form(schema: dict[str, str]) -> str:
    """A JSON skeleton of ``schema``, shown to the model in the repair request."""
    return json.dumps({k: ["..."] if v.rstrip("?") == "list[str]" else "..." for k, v in schema.items()})
