"""The REFED generation stages (BRIEF §2), journaled step by step.

Per reference: instruction feedback (subject areas, skills) and response feedback (strengths, improvements),
each collected once → for each instruction feature, N new instructions of similar complexity → a response to
each with the reference pair as a one-shot example → refinement. The ``mode`` picks the refinement:

- ``reference``: with the reference's response feedback, keeping only what applies (REFED);
- ``sample``: with feedback collected on each generated response (sample-level feedback baseline);
- ``none``: no refinement, the one-shot response is final (no-feedback baseline).

Instruction synthesis and the one-shot drafts are identical across modes (same journal keys), so the modes
compare at equal budget and a second mode reuses the first one's drafts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from heapmetric.llm.base import ChatBackend, ChatBackendError
from heapmetric.synth import structured
from heapmetric.synth.cost import CostTracker
from heapmetric.synth.journal import Journal, step_key
from heapmetric.synth.references import Reference
from heapmetric.synth.templates import PromptSet, load_prompts

log = logging.getLogger(__name__)

MODES = ("reference", "sample", "none")
DEFAULT_MAX_TOKENS = {
    "instruction_feedback": 256,
    "response_feedback": 384,
    "sample_feedback": 384,
    "instructions": 512,
    "response": 1024,
    "refine": 1536,
}
STAGE_ORDER = (
    "instruction_feedback",
    "response_feedback",
    "instructions",
    "response",
    "sample_feedback",
    "refine",
)


@dataclass(frozen=True)
class GenerationConfig:
    """What decides the generated text (and so is part of every journal key)."""

    mode: str = "reference"
    instructions_per_feature: int = 2
    max_features: int = 4
    temperature: float = 0.7
    max_tokens: dict[str, int] = field(default_factory=dict)
    prompt_set: str = "refed"
    json_mode: bool = True

    def tokens(self, stage: str) -> int:
        return int(self.max_tokens.get(stage, DEFAULT_MAX_TOKENS[stage]))


@dataclass
class Candidate:
    """One synthesized pair with where it came from. ``id`` = sha256(reference id, feature, index)."""

    id: str
    reference: Reference
    feature: str
    feature_kind: str
    feature_index: int
    index: int
    instruction: str
    response: str
    mode: str
    draft_response: str
    instruction_feedback: dict[str, list[str]]
    feedback: dict[str, list[str]]
    applied_feedback: list[str]
    timings: dict[str, float | None]
    score: float | None = None

    @property
    def prompt_id(self) -> str:
        """sha256 of the instruction text (the distilabel/UltraFeedback ``prompt_id`` convention)."""
        return hashlib.sha256(self.instruction.encode()).hexdigest()

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.reference.index, self.feature_index, self.index)


class _Progress:
    """One tqdm bar per stage on stderr; totals grow as work is discovered."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def expect(self, stage: str, n: int = 1) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            from tqdm.auto import tqdm

            bar = self.bars[stage] = tqdm(
                total=0,
                desc=f"{stage:<20}",
                unit="step",
                position=len(self.bars),
                leave=True,
                dynamic_ncols=True,
            )
        bar.total += n
        bar.refresh()

    def done(self, stage: str) -> None:
        if self.enabled and stage in self.bars:
            self.bars[stage].update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


PREFILL_VERSION = 3


def json_prefill(schema: dict[str, str], sections: dict[str, str] | None = None) -> str:
    """The start of the reply, up to the first value: ``{"skills": ["`` for JSON, ``Strengths:\n- `` for
    headed lists. A model that supports prefilled replies then writes content where content is wanted."""
    first, kind = next(iter(schema.items()))
    if sections:
        return f"{sections[first]}:\n" + ("- " if kind.rstrip("?") == "list[str]" else "")
    return '{"' + first + '": ' + ('["' if kind.rstrip("?") == "list[str]" else '"')


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {i}" for i in items) if items else "- (none)"


class Generator:
    """Runs the REFED stages for references, reusing every step already in the journal."""

    def __init__(
        self,
        backend: ChatBackend,
        journal: Journal,
        config: GenerationConfig,
        *,
        tracker: CostTracker | None = None,
        progress: bool = False,
        retry_failed: bool = False,
        prompts: PromptSet | None = None,
    ) -> None:
        if config.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.backend, self.journal, self.config = backend, journal, config
        self.prompts = prompts or load_prompts(config.prompt_set)
        self.tracker = tracker or CostTracker()
        self.progress = _Progress(progress)
        self.retry_failed = retry_failed
        self.shortfall = 0  # instructions asked for but not returned
        self.backend_errors: list[str] = []
        model = getattr(backend, "model", None) or backend.name
        prefill = PREFILL_VERSION if getattr(backend, "supports_prefill", False) else None
        self.fingerprint = step_key(
            "refed",
            str(model),
            self.prompts.id,
            config.temperature,
            {s: config.tokens(s) for s in DEFAULT_MAX_TOKENS},
            config.json_mode,
            prefill,
        )[:16]

    # -- one journaled step ------------------------------------------------------------------------
    async def step(
        self,
        stage: str,
        key: str,
        messages: list[dict[str, Any]],
        schema: dict[str, str] | None,
        temperature: float,
        sections: dict[str, str] | None = None,
        example_items: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The journal entry of one stage call: from the journal if present, else from the model (with one
        repair request when a JSON reply, or a headed-lists reply for ``sections``, does not fit ``schema``;
        list items copied from the prompt's example, ``example_items``, do not count). Failures are entries with ``ok: false``:
        parse failures are journaled (``retry_failed`` redoes them), backend failures are not (a restart
        retries them)."""
        self.progress.expect(stage)
        entry = self.journal.get(key)
        if entry is not None and (entry["ok"] or not self.retry_failed):
            self.tracker.add(stage, entry, new=False)
            self.progress.done(stage)
            return entry
        usage = {"in": 0, "out": 0, "calls": 0, "repairs": 0}
        started = time.monotonic()
        kw: dict[str, Any] = {"max_tokens": self.config.tokens(stage), "temperature": temperature}
        if schema is not None and sections is None and self.config.json_mode:
            kw["response_format"] = {"type": "json_object"}
        if schema is not None and getattr(self.backend, "supports_prefill", False):
            # small local models follow a started reply far more reliably than an instruction
            kw["prefill"] = json_prefill(schema, sections)

        def parse(text: str) -> dict[str, Any]:
            assert schema is not None
            if sections:
                return structured.parse_sections(text, schema, sections, exclude=example_items)
            return structured.parse(text, schema)

        new: dict[str, Any] = {"k": key, "stage": stage}
        model_seconds: float | None = None
        try:
            reply = await self.backend.chat(messages, **kw)
            usage.update({"in": reply.input_tokens, "out": reply.output_tokens, "calls": 1})
            model_seconds = reply.latency_s
            if schema is None:
                text = reply.text.strip()
                new.update(
                    {"ok": True, "v": text} if text else {"ok": False, "kind": "parse", "err": "empty reply"}
                )
            else:
                try:
                    new.update(ok=True, v=parse(reply.text))
                except structured.SchemaError as exc:
                    repair = self.prompts["repair"].render(
                        error=str(exc), form=structured.example_form(schema, sections)
                    )
                    again = await self.backend.chat(
                        messages
                        + [{"role": "assistant", "content": reply.text}, {"role": "user", "content": repair}],
                        **kw,
                    )
                    usage["in"] += again.input_tokens
                    usage["out"] += again.output_tokens
                    usage["calls"] += 1
                    usage["repairs"] += 1
                    model_seconds += again.latency_s
                    try:
                        new.update(ok=True, v=parse(again.text))
                    except structured.SchemaError as exc2:
                        new.update(ok=False, kind="parse", err=str(exc2), raw=again.text[:1000])
        except ChatBackendError as exc:
            new.update(ok=False, kind="backend", err=str(exc))
        new["usage"] = usage
        # model seconds of the calls (repair included), without time queued behind other requests; a step
        # that never got a reply records its wall time
        new["t"] = round(model_seconds if model_seconds is not None else time.monotonic() - started, 4)
        if new.get("kind") == "backend":
            # not journaled: an outage is not a property of the step, so a restart retries it
            entry = new
            self.backend_errors.append(new["err"])
        else:
            entry = self.journal.append(new, replace=self.retry_failed)
        if not entry["ok"]:
            log.debug("%s failed (%s): %s", stage, entry.get("kind"), entry.get("err"))
        self.tracker.add(stage, entry, new=True)
        self.progress.done(stage)
        return entry

    # -- the stages ----------------------------------------------------------------------------------
    def features(self, feedback: dict[str, list[str]]) -> list[tuple[str, str]]:
        """``(kind, text)`` features from instruction feedback, subject areas and skills interleaved, without
        case-insensitive repeats, at most ``max_features``."""
        areas = [("subject area", s) for s in feedback.get("subject_areas", [])]
        skills = [("skill", s) for s in feedback.get("skills", [])]
        mixed = (
            [x for pair in zip(areas, skills, strict=False) for x in pair]
            + areas[len(skills) :]
            + skills[len(areas) :]
        )
        out, seen = [], set()
        for kind, text in mixed:
            norm = " ".join(text.lower().split())
            if norm and norm not in seen:
                seen.add(norm)
                out.append((kind, text))
        return out[: self.config.max_features]

    async def reference(self, ref: Reference) -> list[Candidate]:
        """Every candidate of one reference (failed steps leave their candidates out; they are counted)."""
        p, fp = self.prompts, self.fingerprint
        ifb_task = self.step(
            "instruction_feedback",
            step_key("instruction_feedback", fp, ref.id),
            p["instruction_feedback"].messages(instruction=ref.instruction),
            p["instruction_feedback"].schema,
            0.0,
        )
        rfb_task = None
        if self.config.mode == "reference":
            rfb_task = self.step(
                "response_feedback",
                step_key("response_feedback", fp, ref.id),
                p["response_feedback"].messages(instruction=ref.instruction, response=ref.response),
                p["response_feedback"].schema,
                0.0,
                p["response_feedback"].sections,
                p["response_feedback"].example_items,
            )
        ifb, rfb = await asyncio.gather(ifb_task, rfb_task if rfb_task else asyncio.sleep(0, None))
        if not ifb["ok"]:
            return []
        features = self.features(ifb["v"])
        n = self.config.instructions_per_feature

        async def one_feature(fi: int, kind: str, feature: str) -> list[Candidate]:
            entry = await self.step(
                "instructions",
                step_key("instructions", fp, ref.id, feature, n),
                p["instructions"].messages(
                    instruction=ref.instruction, n=n, feature=feature, feature_kind=kind
                ),
                p["instructions"].schema,
                self.config.temperature,
            )
            if not entry["ok"]:
                return []
            instructions, seen = [], set()
            for text in entry["v"]["instructions"]:
                if text not in seen and text.strip() != ref.instruction.strip():
                    seen.add(text)
                    instructions.append(text)
            instructions = instructions[:n]
            self.shortfall += n - len(instructions)
            done = await asyncio.gather(
                *(
                    self.candidate(ref, fi, kind, feature, j, text, ifb, rfb, entry.get("t"))
                    for j, text in enumerate(instructions)
                )
            )
            return [c for c in done if c is not None]

        per_feature = await asyncio.gather(
            *(one_feature(fi, kind, f) for fi, (kind, f) in enumerate(features))
        )
        return [c for group in per_feature for c in group]

    async def candidate(
        self,
        ref: Reference,
        fi: int,
        kind: str,
        feature: str,
        j: int,
        instruction: str,
        ifb: dict[str, Any],
        rfb: dict[str, Any] | None,
        t_instructions: float | None,
    ) -> Candidate | None:
        p, fp, mode = self.prompts, self.fingerprint, self.config.mode
        cid = step_key(ref.id, feature, j)
        messages = ([{"role": "system", "content": p["response"].system}] if p["response"].system else []) + [
            {"role": "user", "content": p["response"].render(instruction=ref.instruction)},
            {"role": "assistant", "content": ref.response},
            {"role": "user", "content": p["response"].render(instruction=instruction)},
        ]
        # the draft depends on the instruction text too: a re-generated instruction list gets new drafts
        draft = await self.step(
            "response", step_key("response", fp, cid, instruction), messages, None, self.config.temperature
        )
        if not draft["ok"]:
            return None
        timings: dict[str, float | None] = {s: None for s in STAGE_ORDER}
        timings.update(
            instruction_feedback=ifb.get("t"), instructions=t_instructions, response=draft.get("t")
        )
        final, feedback, applied = draft["v"], {"strengths": [], "improvements": []}, []
        if mode != "none":
            if mode == "reference":
                if rfb is None or not rfb["ok"]:
                    return None
                feedback, source = rfb["v"], "a high-quality response to a related instruction"
                timings["response_feedback"] = rfb.get("t")
            else:
                sfb = await self.step(
                    "sample_feedback",
                    step_key("sample_feedback", fp, cid, instruction),
                    p["response_feedback"].messages(instruction=instruction, response=draft["v"]),
                    p["response_feedback"].schema,
                    0.0,
                    p["response_feedback"].sections,
                    p["response_feedback"].example_items,
                )
                if not sfb["ok"]:
                    return None
                feedback, source = sfb["v"], "this draft"
                timings["sample_feedback"] = sfb.get("t")
            refined = await self.step(
                "refine",
                step_key("refine", fp, mode, cid, instruction),
                p["refine"].messages(
                    instruction=instruction,
                    response=draft["v"],
                    feedback_source=source,
                    strengths=_bullets(feedback["strengths"]),
                    improvements=_bullets(feedback["improvements"]),
                ),
                p["refine"].schema,
                0.0,
                p["refine"].sections,
                p["refine"].example_items,
            )
            if not refined["ok"]:
                return None
            final, applied = refined["v"]["response"], refined["v"]["applicable_feedback"]
            timings["refine"] = refined.get("t")
        return Candidate(
            id=cid,
            reference=ref,
            feature=feature,
            feature_kind=kind,
            feature_index=fi,
            index=j,
            instruction=instruction,
            response=final,
            mode=mode,
            draft_response=draft["v"],
            instruction_feedback=ifb["v"],
            feedback=feedback,
            applied_feedback=applied,
            timings=timings,
        )

    async def generate(self, refs: list[Reference]) -> list[Candidate]:
        """All candidates of ``refs`` in a stable order (reference, feature, index)."""
        groups = await asyncio.gather(*(self.reference(r) for r in refs))
        return sorted((c for g in groups for c in g), key=lambda c: c.order)

    def failures(self) -> dict[str, dict[str, int]]:
        """Failed steps per stage and kind (from the tracker: this run's steps, journaled or new)."""
        return {s: dict(u.failures) for s, u in self.tracker.stages.items() if u.failures}
