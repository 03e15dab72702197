"""Rendering an item + criterion into model input, and encoding it with truncation.

Contract (shared by the scorer and the trainer; both MUST go through this module so that a checkpoint sees at
inference exactly what it saw in training):

- :func:`render` turns a :class:`~heapmetric.judges.base.ScoreItem` and a
  :class:`~heapmetric.registry.Criterion` into a :class:`RenderedInput`: an ordered list of segments
  ``instruction, output, reference, source, context``. Only fields the criterion lists (``criterion.fields``)
  are kept; empty fields are left out. The instruction is ``instruction=`` if given (the trainer passes a random
  paraphrase), else the canonical ``criterion.instructions[0]``. The output comes right after the instruction and
  its header states its length in words, so the model sees how long the output is even when it is cut.
- :func:`encode` / :func:`encode_batch` tokenize each segment's body separately (its header is never cut) and
  fit the whole sequence into ``max_length`` tokens, special tokens included. The budget order is: the
  instruction is kept (up to a quarter of the budget); the output keeps up to :data:`OUTPUT_SHARE` of what is
  left, or more when the other fields are short; the reference gets at most half of the remainder when source
  or context also need room; source and context share the rest (the shorter one keeps all it needs). Source,
  reference and output keep their beginning; context (dialogue history) keeps its end, the most recent turns.
- :data:`RENDER_VERSION` changes whenever any of the above changes; checkpoints record it.

Segments are joined by the tokenizer's ``sep_token`` when it has one (BERT, RoBERTa, DeBERTa, BART), else by
nothing (each segment header starts on a new line). ``[CLS] ... [SEP]`` / ``<s>`` special tokens are added
around the whole sequence the way the tokenizer adds them to a single text.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from heapmetric.errors import InputError
from heapmetric.judges.base import ScoreItem
from heapmetric.registry import Criterion

RENDER_VERSION = "1"
"""Version of the rendering and truncation rules; stored in checkpoints as ``render_version``."""

SEGMENT_ORDER = ("instruction", "output", "reference", "source", "context")
OUTPUT_SHARE = 0.6
"""The output keeps at least this share of the tokens left after the instruction (when it needs them)."""
INSTRUCTION_SHARE = 0.25

_HEADERS = {
    "instruction": "Evaluation instruction:",
    "reference": "Reference:",
    "source": "Source:",
    "context": "Context:",
}


@dataclass(frozen=True)
class Segment:
    """One named part of the model input: ``header`` (never truncated) and ``body`` (may be cut)."""

    name: str
    header: str
    body: str


@dataclass(frozen=True)
class RenderedInput:
    """The segments of one model input, in :data:`SEGMENT_ORDER`, plus the criterion id it was built for."""

    segments: tuple[Segment, ...]
    criterion_id: str

    @property
    def text(self) -> str:
        """The whole input as one string (what a generative judge or a human reads)."""
        return "\n\n".join(f"{s.header}\n{s.body}" for s in self.segments)

    def get(self, name: str) -> str | None:
        """The body of segment ``name``, or None when it is not rendered."""
        for s in self.segments:
            if s.name == name:
                return s.body
        return None


def count_words(text: str) -> int:
    """Whitespace-separated words in ``text``."""
    return len(text.split())


def render(item: ScoreItem, criterion: Criterion, *, instruction: str | None = None) -> RenderedInput:
    """Build the segments for ``item`` judged on ``criterion`` (see the module docstring for the rules)."""
    text = (instruction if instruction is not None else criterion.instructions[0]).strip()
    segments = [Segment("instruction", _HEADERS["instruction"], text)]
    output = item.output if item.output is not None else ""
    segments.append(Segment("output", f"Output ({count_words(output)} words):", output.strip()))
    wanted = set(criterion.fields)
    values = {"reference": item.first_reference, "source": item.source, "context": item.context}
    for name in SEGMENT_ORDER[2:]:
        value = values[name]
        if name in wanted and value is not None and str(value).strip():
            segments.append(Segment(name, _HEADERS[name], str(value).strip()))
    return RenderedInput(tuple(segments), criterion.id)


# --------------------------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class Encoded:
    """Token ids of one rendered input (special tokens included, no padding) and whether anything was cut."""

    input_ids: list[int]
    truncated: bool


_SPECIALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _special_frame(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer adds before and after a single text (e.g. ``[CLS]`` / ``[SEP]``, or ``<s>``)."""
    try:
        return _SPECIALS[tokenizer]
    except (KeyError, TypeError):
        pass
    probe = "hello world"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    frame: tuple[list[int], list[int]] = ([], [])
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            frame = (list(full[:start]), list(full[start + len(bare) :]))
            break
    try:
        _SPECIALS[tokenizer] = frame
    except TypeError:
        pass
    return frame


def _header_text(index: int, segment: Segment) -> str:
    # the blank line before a header keeps segments apart for tokenizers without a sep token
    return ("\n\n" if index else "") + segment.header + "\n"


def _separator(tokenizer: Any) -> list[int]:
    sep = getattr(tokenizer, "sep_token_id", None)
    return [int(sep)] if sep is not None else []


def _allocate(lengths: dict[str, int], budget: int) -> dict[str, int]:
    """Token budget per segment body (see the module docstring); every value <= the segment's length."""
    out: dict[str, int] = {}
    left = max(budget, 0)
    n_instr = lengths.get("instruction", 0)
    out["instruction"] = min(
        n_instr,
        max(int(INSTRUCTION_SHARE * budget), left - sum(v for k, v in lengths.items() if k != "instruction")),
    )
    left -= out["instruction"]
    others = sum(v for k, v in lengths.items() if k in ("reference", "source", "context"))
    n_out = lengths.get("output", 0)
    out["output"] = min(n_out, max(int(OUTPUT_SHARE * left), left - others))
    left -= out["output"]
    n_ref = lengths.get("reference", 0)
    rest = lengths.get("source", 0) + lengths.get("context", 0)
    out["reference"] = min(n_ref, max(left // 2, left - rest)) if rest else min(n_ref, left)
    left -= out["reference"]
    n_src, n_ctx = lengths.get("source", 0), lengths.get("context", 0)
    if n_src + n_ctx <= left:
        out["source"], out["context"] = n_src, n_ctx
    elif min(n_src, n_ctx) <= left // 2:
        small, large = ("source", "context") if n_src <= n_ctx else ("context", "source")
        out[small] = lengths.get(small, 0)
        out[large] = left - out[small]
    else:
        out["source"] = left - left // 2
        out["context"] = left // 2
    return {k: max(0, v) for k, v in out.items() if k in lengths}


def encode(tokenizer: Any, rendered: Sequence[RenderedInput], max_length: int) -> list[Encoded]:
    """Token ids for each rendered input, cut to fit ``max_length`` tokens by the budget rules."""
    prefix, suffix = _special_frame(tokenizer)
    sep = _separator(tokenizer)
    texts: list[str] = []
    for r in rendered:
        for i, s in enumerate(r.segments):
            texts.extend([_header_text(i, s), s.body])
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    out: list[Encoded] = []
    pos = 0
    for r in rendered:
        n = len(r.segments)
        headers = [ids[pos + 2 * i] for i in range(n)]
        bodies = [ids[pos + 2 * i + 1] for i in range(n)]
        pos += 2 * n
        fixed = len(prefix) + len(suffix) + sum(len(h) for h in headers) + len(sep) * max(n - 1, 0)
        lengths = {s.name: len(b) for s, b in zip(r.segments, bodies, strict=True)}
        budget = max_length - fixed
        if budget < 0:
            raise InputError(
                f"max_length {max_length} is too small for the segment headers ({fixed} tokens); "
                "raise --max-length"
            )
        keep = _allocate(lengths, budget)
        seq = list(prefix)
        truncated = False
        for i, (s, h, b) in enumerate(zip(r.segments, headers, bodies, strict=True)):
            k = keep[s.name]
            if k < len(b):
                truncated = True
                b = b[len(b) - k :] if s.name == "context" else b[:k]
            if i:
                seq.extend(sep)
            seq.extend(h)
            seq.extend(b)
        seq.extend(suffix)
        out.append(Encoded(seq, truncated))
    return out


def pad_token_id(tokenizer: Any) -> int:
    """The id used for padding: the tokenizer's pad token, else its eos token, else 0."""
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return 0


def collate(sequences: Sequence[Sequence[int]], pad_id: int, padding_side: str = "right") -> dict[str, Any]:
    """Pad id lists into ``input_ids`` / ``attention_mask`` LongTensors on ``padding_side`` (left or right)."""
    import torch

    width = max((len(s) for s in sequences), default=0)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        n = len(seq)
        if not n:
            continue
        if padding_side == "left":
            input_ids[row, width - n :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - n :] = 1
        else:
            input_ids[row, :n] = torch.tensor(seq, dtype=torch.long)
            mask[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def encode_batch(
    tokenizer: Any, rendered: Sequence[RenderedInput], max_length: int, padding_side: str | None = None
) -> tuple[dict[str, Any], int]:
    """Encode and pad a batch: ``({"input_ids", "attention_mask"}, number of inputs truncated)``.

    Padding follows ``padding_side`` or the tokenizer's own; the reward model pools correctly either way.
    """
    encoded = encode(tokenizer, rendered, max_length)
    side = padding_side or getattr(tokenizer, "padding_side", "right") or "right"
    batch = collate([e.input_ids for e in encoded], pad_token_id(tokenizer), side)
    return batch, sum(e.truncated for e in encoded)


def truncate_rendered(tokenizer: Any, rendered: RenderedInput, max_tokens: int) -> tuple[RenderedInput, bool]:
    """A text-level copy of ``rendered`` whose bodies are cut by the same budget rules to ``max_tokens``
    tokens of segment text (for judges that wrap the text in a chat prompt)."""
    texts = []
    for i, s in enumerate(rendered.segments):
        texts.extend([_header_text(i, s), s.body])
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    headers, bodies = ids[0::2], ids[1::2]
    budget = max_tokens - sum(len(h) for h in headers)
    if budget < 0:
        raise InputError(f"max_tokens {max_tokens} is too small for the segment headers; raise --max-length")
    keep = _allocate({s.name: len(b) for s, b in zip(rendered.segments, bodies, strict=True)}, budget)
    segments, truncated = [], False
    for s, b in zip(rendered.segments, bodies, strict=True):
        k = keep[s.name]
        if k < len(b):
            truncated = True
            cut = b[len(b) - k :] if s.name == "context" else b[:k]
            text = tokenizer.decode(cut, skip_special_tokens=True).strip()
            body = ("... " + text) if s.name == "context" else (text + " ...")
            segments.append(Segment(s.name, s.header, body))
        else:
            segments.append(s)
    return RenderedInput(tuple(segments), rendered.criterion_id), truncated
