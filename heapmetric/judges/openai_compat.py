"""An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, a hosted API) as a pairwise judge, with the
published judge prompts and verdict formats.

Spec: ``openai:MODEL@BASE_URL[?config=NAME&concurrency=8&max_retries=5&timeout=60&attempts=2&api_key_env=VAR]``,
e.g. ``openai:gpt-4-1106-preview@https://api.openai.com/v1?config=arena-hard-v0.1``. The API key comes from
``$OPENAI_API_KEY`` (or the variable ``api_key_env`` names). Configs (``heapmetric/judges/configs/*.yaml``, each
pointing at a prompt in ``heapmetric/judges/prompts/``):

- ``arena-hard-v0.1`` (default): Arena-Hard-Auto's judge; verdicts ``[[A>>B]]`` ... ``[[B>>A]]``.
- ``weighted_alpaca_eval_gpt4_turbo``: AlpacaEval 2.0's judge; P(output_1) from the logprobs of ``m``/``M``.
- ``alpaca_eval_gpt4``: AlpacaEval 1.0's ranking judge.

Position matters to these judges (``order_free=False``), so the benchmarks ask for both orders. A reply that
cannot be parsed is asked again (``attempts`` in all); if it still fails, the pair's probability is NaN, its raw
text is kept in ``metadata["raw"]`` and it is counted in ``metadata["unparsed"]`` - never turned into a tie.
HTTP concurrency, retries and backoff are those of :class:`heapmetric.llm.openai.OpenAIChatBackend`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from heapmetric.errors import InputError, UnknownNameError, UnsupportedError
from heapmetric.judges.base import CompareResult, JudgeInfo, PairItem, ScoreItem, ScoreResult

DEFAULT_CONFIG = "arena-hard-v0.1"
_REQUIRED = {"name", "version", "prompt", "max_tokens", "temperature", "parser"}
_OPTIONAL = {
    "regex_patterns",
    "attempts",
    "logprobs",
    "top_logprobs",
    "numerator_token",
    "denominator_tokens",
}
_PARSERS = ("verdict", "logprob", "ranking")
_PLACEHOLDER = re.compile(r"\{(instruction|output_1|output_2)\}")
_VERDICT_P = {
    "A>>B": 1.0,
    "A>B": 1.0,
    "A=B": 0.5,
    "B>A": 0.0,
    "B>>A": 0.0,
    "B<<A": 1.0,
    "B<A": 1.0,
    "B=A": 0.5,
    "A<B": 0.0,
    "A<<B": 0.0,
}


@dataclass(frozen=True)
class JudgeConfig:
    """A judge config file: prompt template (chatml with ``{instruction}``, ``{output_1}``, ``{output_2}``),
    decoding settings and the verdict parser."""

    name: str
    version: int
    template: str
    max_tokens: int
    temperature: float
    parser: str
    regex_patterns: tuple[str, ...] = ()
    attempts: int = 2
    logprobs: bool = False
    top_logprobs: int | None = None
    numerator_token: str = "m"
    denominator_tokens: tuple[str, ...] = ("m", "M")

    @property
    def prompt_hash(self) -> str:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()[:16]


def _config_files() -> dict[str, Any]:
    import yaml

    out = {}
    for entry in resources.files("heapmetric.judges").joinpath("configs").iterdir():
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("parser") in _PARSERS:
                out[str(data.get("name"))] = (entry.name, data)
    return out


@cache
def load_config(name: str = DEFAULT_CONFIG) -> JudgeConfig:
    """The packaged judge config ``name``, schema-checked; unknown names suggest close ones."""
    files = _config_files()
    if name not in files:
        raise UnknownNameError("judge config", name, files)
    filename, data = files[name]
    missing = _REQUIRED - set(data)
    unknown = set(data) - _REQUIRED - _OPTIONAL
    if missing or unknown:
        raise InputError(
            f"missing keys {sorted(missing)}" if missing else f"unknown keys {sorted(unknown)}",
            file=f"heapmetric/judges/configs/{filename}",
        )
    template = (
        resources.files("heapmetric.judges").joinpath("prompts", data["prompt"]).read_text(encoding="utf-8")
    )
    if data["parser"] == "verdict" and not data.get("regex_patterns"):
        raise InputError(
            "a verdict parser needs regex_patterns", file=f"heapmetric/judges/configs/{filename}"
        )
    return JudgeConfig(
        name=data["name"],
        version=int(data["version"]),
        template=template,
        max_tokens=int(data["max_tokens"]),
        temperature=float(data["temperature"]),
        parser=data["parser"],
        regex_patterns=tuple(data.get("regex_patterns") or ()),
        attempts=int(data.get("attempts", 2)),
        logprobs=bool(data.get("logprobs", False)),
        top_logprobs=data.get("top_logprobs"),
        numerator_token=str(data.get("numerator_token", "m")),
        denominator_tokens=tuple(data.get("denominator_tokens") or ("m", "M")),
    )


def list_configs() -> list[str]:
    return sorted(_config_files())


def render_messages(template: str, instruction: str, output_1: str, output_2: str) -> list[dict[str, str]]:
    """Fill the three placeholders (in one pass, so outputs containing ``{output_2}`` stay literal) and split the
    chatml text (``<|im_start|>role ... <|im_end|>``) into chat messages."""
    values = {"instruction": instruction, "output_1": output_1, "output_2": output_2}
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    messages = []
    for chunk in text.split("<|im_start|>")[1:]:
        body = chunk.split("<|im_end|>")[0]
        role, _, content = body.partition("\n")
        messages.append({"role": role.strip(), "content": content.strip("\n")})
    if not messages:
        messages = [{"role": "user", "content": text}]
    return messages


def parse_verdict(text: str, patterns: Sequence[str]) -> str | None:
    """Arena-Hard's rule: the first pattern with matches decides; several different labels are ambiguous."""
    for pattern in patterns:
        found = {m for m in re.findall(pattern, text) if m}
        if len(found) == 1:
            label = found.pop()
            return label if label in _VERDICT_P else None
        if len(found) > 1:
            return None
    return None


def parse_ranking(text: str) -> float | None:
    """P(output_1 better) from alpaca_eval_gpt4's ranking list: 1 if model_1 has rank 1, 0 if model_2 does."""
    ranks = dict(
        re.findall(r"""['"]model['"]\s*:\s*['"]model_([12])['"]\s*,\s*['"]rank['"]\s*:\s*(\d)""", text)
    )
    if ranks.get("1") == "1" and ranks.get("2") != "1":
        return 1.0
    if ranks.get("2") == "1" and ranks.get("1") != "1":
        return 0.0
    return None


def parse_logprob(response: Any, numerator: str, denominators: Sequence[str]) -> float | None:
    """P(numerator token) among the denominator tokens from the first token's top logprobs; falls back to the
    generated text when the endpoint returned no logprobs."""
    lps = getattr(response, "logprobs", None)
    if lps:
        first = lps[0]
        table = {tok.strip(): lp for tok, lp in first.top_logprobs} if first.top_logprobs else {}
        table.setdefault(first.token.strip(), first.logprob)
        mass = {t: math.exp(table[t]) for t in denominators if t in table}
        if mass and sum(mass.values()) > 0:
            return mass.get(numerator, 0.0) / sum(mass.values())
    text = (getattr(response, "text", "") or "").strip()
    if text in denominators:
        return 1.0 if text == numerator else 0.0
    return None


class OpenAIJudge:
    """Pairwise judge over an OpenAI-compatible endpoint (see the module docstring)."""

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        config: str = DEFAULT_CONFIG,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 60.0,
        attempts: int | None = None,
        backend: Any = None,
    ) -> None:
        self.config = load_config(config)
        self.model, self.base_url = model, base_url
        self.attempts = int(attempts or self.config.attempts)
        if backend is None:
            from heapmetric.llm.openai import OpenAIChatBackend

            backend = OpenAIChatBackend(
                base_url,
                model,
                api_key=api_key,
                concurrency=concurrency,
                max_retries=max_retries,
                timeout=timeout,
            )
        self.backend = backend

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name=f"openai:{self.model}@{self.base_url}#{self.config.name}",
            kind="openai",
            order_free=False,
            can_score=False,
            metadata={
                "config": self.config.name,
                "config_version": self.config.version,
                "prompt_hash": self.config.prompt_hash,
                "judge_model": self.model,
                "cache_id": f"openai:{self.model}#{self.config.name}|v{self.config.version}"
                f"|{self.config.prompt_hash}",
            },
        )

    def _parse(self, response: Any) -> tuple[float | None, str | None]:
        cfg = self.config
        if cfg.parser == "verdict":
            label = parse_verdict(response.text or "", cfg.regex_patterns)
            return (None, None) if label is None else (_VERDICT_P[label], label)
        if cfg.parser == "ranking":
            return parse_ranking(response.text or ""), None
        return parse_logprob(response, cfg.numerator_token, cfg.denominator_tokens), None

    async def _one(self, pair: PairItem) -> tuple[float, str | None, str, int]:
        cfg = self.config
        messages = render_messages(
            cfg.template, pair.source or pair.instruction or "", pair.output_a, pair.output_b
        )
        extra: dict[str, Any] = {}
        if cfg.logprobs:
            extra = {"logprobs": True, "top_logprobs": cfg.top_logprobs or 5}
        raw = ""
        for attempt in range(1, self.attempts + 1):
            response = await self.backend.chat(
                messages, max_tokens=cfg.max_tokens, temperature=cfg.temperature, **extra
            )
            raw = response.text or ""
            p, label = self._parse(response)
            if p is not None:
                return p, label, raw, attempt
        return math.nan, None, raw, self.attempts

    async def _all(self, pairs: Sequence[PairItem]) -> list[tuple[float, str | None, str, int]]:
        try:
            return list(await asyncio.gather(*(self._one(p) for p in pairs)))
        finally:
            close = getattr(self.backend, "aclose", None)
            if close is not None:  # each compare() runs its own event loop: release its connections
                await close()

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """P(output_a better) per pair, with ``verdicts``, ``raw`` texts, ``attempts`` and the ``unparsed`` count
        in the metadata. An unreachable endpoint raises the backend's error (after its retries)."""
        from heapmetric.llm.base import run_sync

        results = run_sync(self._all(list(pairs)))
        return CompareResult(
            probabilities=[r[0] for r in results],
            metadata={
                "judge": self.info.name,
                "verdicts": [r[1] for r in results],
                "raw": [r[2] for r in results],
                "attempts": [r[3] for r in results],
                "unparsed": sum(1 for r in results if math.isnan(r[0])),
            },
        )

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        raise UnsupportedError("OpenAI-compatible judges only compare pairs (use them with bench or compare)")


def _factory(
    arg: str | None,
    *,
    config: str = DEFAULT_CONFIG,
    concurrency: int = 8,
    max_retries: int = 5,
    timeout: float = 60.0,
    attempts: int | None = None,
    api_key_env: str | None = None,
) -> OpenAIJudge:
    if not arg or "@" not in arg:
        raise InputError(
            "openai judges are written openai:MODEL@BASE_URL (e.g. "
            "openai:gpt-4-1106-preview@https://api.openai.com/v1)",
            field="judge",
        )
    model, _, base_url = arg.partition("@")
    if not model or not base_url.startswith(("http://", "https://")):
        raise InputError(
            f"bad openai judge {arg!r}: expected MODEL@http(s)://HOST[:PORT][/v1]", field="judge"
        )
    api_key = os.environ.get(api_key_env) if api_key_env else None
    return OpenAIJudge(
        model,
        base_url,
        config=str(config),
        api_key=api_key,
        concurrency=int(concurrency),
        max_retries=int(max_retries),
        timeout=float(timeout),
        attempts=attempts,
    )


def _register() -> None:
    from heapmetric.judges.spec import register_judge

    register_judge(
        "openai",
        _factory,
        help="OpenAI-compatible chat judge: openai:MODEL@BASE_URL[?config=NAME]",
        replace=True,
    )


_register()
