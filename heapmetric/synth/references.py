"""Reading the curated reference pairs REFED starts from."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl


@dataclass(frozen=True)
class Reference:
    """One curated instruction-response pair. ``id`` is the file's ``id`` field if present, else a sha256 of
    the pair's text, so it is stable across runs and machines."""

    id: str
    index: int
    instruction: str
    response: str


@dataclass
class ReferenceSet:
    """References in file order, and how many rows were skipped and why (e.g. ``multi_turn``)."""

    references: list[Reference]
    skipped: dict[str, int] = field(default_factory=dict)


def reference_id(instruction: str, response: str) -> str:
    """sha256 of ``instruction \\0 response``, first 16 hex digits."""
    return hashlib.sha256(f"{instruction}\0{response}".encode()).hexdigest()[:16]


def read_references(path: str | os.PathLike, limit: int | None = None) -> ReferenceSet:
    """References from JSON Lines: ``{instruction, response[, id]}`` rows, or LIMA's ``{conversations: [user,
    assistant, ...]}`` rows, of which only single-turn ones (exactly two turns) are kept and the rest counted
    in ``skipped["multi_turn"]``. ``limit`` keeps the first N usable references."""
    name = str(path)
    if not os.path.exists(name):
        raise InputError("file not found", file=name)
    refs: list[Reference] = []
    skipped: dict[str, int] = {}
    seen: dict[str, int] = {}
    for line, row in iter_jsonl(path):
        if "conversations" in row:
            conv = row["conversations"]
            if not isinstance(conv, list) or not all(isinstance(t, str) for t in conv):
                raise InputError("expected a list of strings", file=name, line=line, field="conversations")
            if len(conv) != 2:
                skipped["multi_turn"] = skipped.get("multi_turn", 0) + 1
                continue
            instruction, response = conv
            field_i, field_r = "conversations", "conversations"
        else:
            instruction, response = row.get("instruction"), row.get("response")
            field_i, field_r = "instruction", "response"
            for fname, value in (("instruction", instruction), ("response", response)):
                if value is None:
                    raise InputError(
                        "missing required field (or give 'conversations')", file=name, line=line, field=fname
                    )
                if not isinstance(value, str):
                    raise InputError(
                        f"expected a string, got {type(value).__name__}", file=name, line=line, field=fname
                    )
        if not instruction.strip():
            raise InputError("empty instruction", file=name, line=line, field=field_i)
        if not response.strip():
            raise InputError("empty response", file=name, line=line, field=field_r)
        rid = row.get("id")
        rid = str(rid) if rid not in (None, "") else reference_id(instruction, response)
        if rid in seen:
            raise InputError(
                f"duplicate reference id {rid!r} (first on line {seen[rid]})",
                file=name,
                line=line,
                field="id",
            )
        seen[rid] = line
        refs.append(Reference(id=rid, index=len(refs), instruction=instruction, response=response))
        if limit is not None and len(refs) >= limit:
            break
    if not refs:
        raise InputError(
            "no usable references (need instruction/response or single-turn conversations)", file=name
        )
    return ReferenceSet(refs, skipped)
