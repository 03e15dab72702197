"""Training conversations for ``heapmetric finetune`` and the loss mask that trains on assistant tokens only.

Sources (:func:`load_conversations`):

- a ``heapmetric synth`` output folder (``data.jsonl`` + ``report.json``): each record becomes
  ``[user: instruction, assistant: response]``, and the report (mode, generator, prompt set, filters, sizes)
  goes into the model card;
- a chat JSON Lines file: records with ``messages`` (``[{role, content}, ...]``), or ``instruction`` with
  ``response`` / ``output``, or ``prompt`` with ``completion``;
- a ``datasets`` folder (``save_to_disk``) with the same columns.

The mask (:func:`tokenize_conversation`) works for any chat template that renders a conversation's prefix as a
prefix of the whole (ChatML, Llama 3, Mistral, Gemma ...): the assistant span of turn *i* is the text between
the template rendering of ``messages[:i]`` with the generation prompt and the rendering of ``messages[:i+1]``,
so it covers the reply and the template's end-of-turn tokens (the model learns to stop) and nothing else.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError

Conversation = list[dict[str, str]]
ROLES = ("system", "user", "assistant")


@dataclass
class TrainingData:
    """Conversations and what is known about where they came from (for the model card)."""

    conversations: list[Conversation]
    source: str
    kind: str  # synth | jsonl | datasets
    synth_report: dict[str, Any] | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: source, kind, size and, for synthesized data, how it was made."""
        out: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "conversations": len(self.conversations),
            "skipped": dict(self.skipped),
        }
        rep = self.synth_report
        if rep:
            cfg = rep.get("config", {})
            out["synthesis"] = {
                "mode": cfg.get("mode"),
                "generator": cfg.get("generator"),
                "prompt_version": cfg.get("prompt_version"),
                "references": cfg.get("references"),
                "references_used": (rep.get("references") or {}).get("used"),
                "candidates": rep.get("candidates"),
                "records": rep.get("records"),
                "judge": cfg.get("judge"),
                "criterion": cfg.get("criterion"),
                "filters": [
                    {k: f.get(k) for k in ("filter", "params", "in", "kept", "removed")}
                    for f in rep.get("filters", [])
                ],
                "heapmetric_version": rep.get("heapmetric_version"),
            }
        return out


def conversation_of(row: dict[str, Any], where: str) -> Conversation:
    """The chat messages of one record (see the module docstring for the accepted columns)."""
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            raise InputError("expected a non-empty list of {role, content}", file=where, field="messages")
        out = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise InputError(
                    f"message {i} needs role (one of {', '.join(ROLES)}) and string content",
                    file=where,
                    field="messages",
                )
            out.append({"role": m["role"], "content": m["content"]})
        return out
    for user_key, reply_keys in (("instruction", ("response", "output")), ("prompt", ("completion",))):
        if user_key in row:
            reply_key = next((k for k in reply_keys if k in row), None)
            if reply_key is None:
                raise InputError(
                    f"'{user_key}' without {' or '.join(reply_keys)}", file=where, field=user_key
                )
            for key in (user_key, reply_key):
                if not isinstance(row[key], str):
                    raise InputError("expected a string", file=where, field=key)
            return [
                {"role": "user", "content": row[user_key]},
                {"role": "assistant", "content": row[reply_key]},
            ]
    raise InputError(
        "no conversation: expected 'messages', 'instruction' + 'response'/'output' or 'prompt' + 'completion'",
        file=where,
    )


def load_conversations(source: str | os.PathLike) -> TrainingData:
    """Conversations from a synth output folder, a chat JSONL file or a ``datasets`` folder.

    Conversations without an assistant message are skipped and counted; an empty result is an error."""
    from heapmetric.io import iter_jsonl

    path = Path(source)
    report = None
    if path.is_dir() and (path / "data.jsonl").is_file():
        kind, rows_path = "synth" if (path / "report.json").is_file() else "jsonl", path / "data.jsonl"
        if kind == "synth":
            report = json.loads((path / "report.json").read_text(encoding="utf-8"))
        rows = [(f"{rows_path}:{n}", r) for n, r in iter_jsonl(rows_path)]
    elif path.is_dir() and any((path / n).is_file() for n in ("state.json", "dataset_dict.json")):
        from datasets import load_from_disk

        kind = "datasets"
        ds = load_from_disk(str(path))
        if hasattr(ds, "keys"):  # a DatasetDict: train on its train split
            if "train" not in ds:
                raise InputError(f"datasets folder has splits {sorted(ds)} but no 'train'", file=str(path))
            ds = ds["train"]
        # a table has every column in every row: None marks a column the record does not use
        rows = [(f"{path}[{i}]", {k: v for k, v in r.items() if v is not None}) for i, r in enumerate(ds)]
    elif path.is_file():
        kind = "jsonl"
        rows = [(f"{path}:{n}", r) for n, r in iter_jsonl(path)]
    elif path.is_dir():
        raise InputError(
            "folder is neither a synth output (data.jsonl) nor a datasets folder (save_to_disk)",
            file=str(path),
        )
    else:
        raise InputError("file not found", file=str(path))
    data = TrainingData([], str(path), kind, report)
    for where, row in rows:
        conv = conversation_of(row, where)
        if not any(m["role"] == "assistant" and m["content"].strip() for m in conv):
            data.skipped["no_assistant_reply"] = data.skipped.get("no_assistant_reply", 0) + 1
            continue
        data.conversations.append(conv)
    if not data.conversations:
        raise InputError(f"no conversation with an assistant reply ({data.skipped})", file=str(path))
    return data


def assistant_spans(tokenizer: Any, messages: Conversation) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (end-of-turn included).

    Raises :class:`InputError` when the chat template does not render prefixes as prefixes (the masking
    would be wrong), naming the turn."""
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (through.startswith(before) and full.startswith(through)):
            raise InputError(
                f"the chat template does not render turn {i} as a prefix of the conversation, so assistant "
                "tokens cannot be located; use a model whose template is prefix-preserving"
            )
        spans.append((len(before), len(through)))
    return full, spans


def tokenize_conversation(
    tokenizer: Any, messages: Conversation, max_length: int | None = None
) -> dict[str, list[int]]:
    """``input_ids`` of the rendered conversation and ``labels`` equal to them on assistant tokens and -100
    elsewhere (a token belongs to a turn when it starts inside the turn's span). Cut to ``max_length`` tokens
    from the start. Needs a fast tokenizer (character offsets)."""
    text, spans = assistant_spans(tokenizer, messages)
    if not getattr(tokenizer, "is_fast", False):
        raise InputError("assistant-only masking needs a fast tokenizer (character offsets)")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [
        token if any(a <= start < b for a, b in spans) else -100
        for token, (start, _end) in zip(ids, enc["offset_mapping"], strict=True)
    ]
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels}
