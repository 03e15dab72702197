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


def close_truncated(text: str) -> dict[str, Any] | None:
    """The longest prefix of a JSON object cut off mid-way (a reply that hit its token limit) that parses
    once its open strings, lists and objects are closed; incomplete trailing items are dropped. None if no
    prefix works."""
    start = text.find("{")
    if start < 0:
        return None
    stack: list[str] = []
    cuts: list[tuple[int, str]] = []  # (end of a complete value, the closers needed there)
    in_str = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
                if stack and stack[-1] == "[":  # a complete string item of a list
                    cuts.append((i + 1, "".join(reversed(stack))))
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            if not stack:
                break
            stack.pop()
            if not stack:
                return None  # the object closed: not truncated, the caller's parse error stands
            cuts.append((i + 1, "".join(reversed(stack))))
    closers = {"{": "}", "[": "]"}
    for end, opened in reversed(cuts[-200:]):
        try:
            obj = json.loads(text[start:end] + "".join(closers[c] for c in opened))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _as_str(value: Any) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        # "..." or "-" copied from the example form is not content
        return text if any(ch.isalnum() for ch in text) else None
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
            items = list(
                dict.fromkeys(s for s in (_as_str(v) for v in value) if s)
            )  # a looping model repeats
            if not items and not optional:
                raise SchemaError(f"field {key!r} must be a non-empty list of strings")
            out[key] = items
        else:
            raise ValueError(f"unknown schema type {spec!r}")
    return out


def parse(text: str, schema: dict[str, str]) -> dict[str, Any]:
    """:func:`extract_json` then :func:`check`; a reply cut off mid-object is closed at its last complete
    item (:func:`close_truncated`) before giving up."""
    try:
        return check(extract_json(text), schema)
    except SchemaError as first:
        salvaged = close_truncated(text)
        if salvaged is None:
            raise
        try:
            return check(salvaged, schema)
        except SchemaError:
            raise first from None


def example_form(schema: dict[str, str], sections: dict[str, str] | None = None) -> str:
    """A skeleton of ``schema`` (JSON, or headed bullet lists for a sections stage), shown to the model in the
    repair request."""
    if sections:
        return "\n".join(
            f"{sections[k]}:\n" + ("- ..." if v.rstrip("?") == "list[str]" else "...")
            for k, v in schema.items()
        )
    return json.dumps({k: ["..."] if v.rstrip("?") == "list[str]" else "..." for k, v in schema.items()})


_BULLET = re.compile(r"^\s*(?:[-*\u2022+]|\(?\d{1,2}[.)])\s+")
_HEADING_DECOR = re.compile(r"^[#*_\s]+|[*_\s]+$")


def parse_sections(
    text: str, schema: dict[str, str], sections: dict[str, str], *, exclude: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A reply written under headings (``Strengths:`` then ``- item`` lines; ``Improved response:`` then free
    text) as the dict a JSON reply would give, then :func:`check` against ``schema``. A heading is a line that
    is one of the ``sections`` headings (any case, markdown emphasis or ``#`` allowed) followed by a colon.
    Under a ``list[str]`` heading an item is a bulleted or numbered line (an unbulleted line continues the
    previous item; text after the colon is an item; numbering alone is not), and another ``Word:`` heading
    (``Suggestions:``) ends the list; a ``str`` field is all the text up to the next known heading. Lines
    before the first heading are ignored. Text in ``exclude`` (normalised with :func:`normalise_item`: the
    prompt's own example) is dropped, so a reply that copies the example fails the check."""
    by_heading = {h.strip().lower(): k for k, h in sections.items()}
    lists: dict[str, list[str]] = {}
    texts: dict[str, list[str]] = {}
    key: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        head, colon, rest = line.partition(":")
        name = _HEADING_DECOR.sub("", head).lower()
        is_list = key is not None and schema[key].rstrip("?") == "list[str]"
        if colon and not _BULLET.match(line) and name in by_heading:
            key = by_heading[name]
            rest = rest.strip(" *_")
            if schema[key].rstrip("?") == "list[str]":
                lists.setdefault(key, [])
                if rest:
                    lists[key].append(rest)
            else:
                texts.setdefault(key, [])
                if rest:
                    texts[key].append(rest)
            continue
        if key is None:
            continue
        if not is_list:
            texts[key].append(raw.rstrip())
            continue
        if not line:
            continue
        if colon and not _BULLET.match(line) and (" " not in name.strip() or not rest.strip()):
            key = None  # another heading ("Minor suggestions:"): the list ended
            continue
        current = lists[key]
        bullet = _BULLET.match(line)
        if bullet:
            while bullet:  # "- 1) item"
                line = line[bullet.end() :]
                bullet = _BULLET.match(line)
            if any(ch.isalpha() for ch in line):  # "- 1." alone is numbering, not an item
                current.append(line.strip())
        elif current:
            current[-1] = f"{current[-1]} {line}"
        elif any(ch.isalpha() for ch in line):
            current.append(line)
    if not lists and not texts:
        raise SchemaError(
            "no " + " / ".join(f"'{sections[k]}:'" for k in schema) + " section found in the reply"
        )
    out: dict[str, Any] = {}
    copied = 0
    for k, items in lists.items():
        keep = [i for i in items if normalise_item(i) not in exclude]
        copied += len(items) - len(keep)
        out[k] = keep
    for k, lines in texts.items():
        value = "\n".join(lines).strip()
        rows = [normalise_item(x) for x in value.splitlines() if x.strip()]
        if rows and all(r in exclude or _shares_ngram(r, exclude) for r in rows):
            copied += 1
            value = ""
        out[k] = value
    try:
        return check(out, schema)
    except SchemaError as exc:
        if copied:
            raise SchemaError(f"{exc} (text copied from the example does not count)") from None
        raise


def _shares_ngram(row: str, exclude: frozenset[str], n: int = 6) -> bool:
    """Whether ``row`` repeats ``n`` consecutive words of a line in ``exclude`` (a copied or lightly edited
    example line)."""
    words = row.split()
    grams = {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
    if not grams:
        return False
    for line in exclude:
        w = line.split()
        if any(tuple(w[i : i + n]) in grams for i in range(len(w) - n + 1)):
            return True
    return False


def normalise_item(text: str) -> str:
    """Lower case, single spaces, no trailing punctuation: how copied example items are recognised."""
    return " ".join(text.lower().split()).rstrip(" .;,")
