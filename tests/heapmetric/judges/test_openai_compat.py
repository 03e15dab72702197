"""The OpenAI-compatible judge without a server: packaged configs and prompts, verdict parsers, the spec."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from heapmetric.errors import UnknownNameError
from heapmetric.judges.openai_compat import (
    list_configs,
    load_config,
    parse_logprob,
    parse_ranking,
    parse_verdict,
    render_messages,
)
from heapmetric.judges.spec import load_judge


def test_configs_and_prompts_load() -> None:
    cfg = load_config("arena-hard-v0.1")
    assert cfg.parser == "verdict" and cfg.max_tokens == 4096 and cfg.temperature == 0.0
    msgs = render_messages(cfg.template, "Q?", "ans {output_2} one", "ans two")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"].startswith("Please act as an impartial judge")
    assert "[[A>>B]]" in msgs[0]["content"]
    assert msgs[1]["content"].startswith(
        "<|User Prompt|>\nQ?\n\n<|The Start of Assistant A's Answer|>\nans {output_2} one\n"
    )
    for name in ("weighted_alpaca_eval_gpt4_turbo", "alpaca_eval_gpt4"):
        msgs = render_messages(load_config(name).template, "I", "o1", "o2")
        assert msgs[0]["role"] == "system" and '"""o1"""' in msgs[1]["content"]


def test_verdict_and_ranking_parsers() -> None:
    pats = load_config("arena-hard-v0.1").regex_patterns
    assert parse_verdict("blah [[B>>A]] end", pats) == "B>>A"
    assert parse_verdict("final: [A=B]", pats) == "A=B"
    assert parse_verdict("[[A>B]] ... no, [[B>A]]", pats) is None  # ambiguous
    assert parse_verdict("no verdict", pats) is None
    assert parse_ranking("[{'model': 'model_2', 'rank': 1}, {'model': 'model_1', 'rank': 2}]") == 0.0
    assert parse_ranking('[{"model": "model_1", "rank": 1}, {"model": "model_2", "rank": 2}]') == 1.0
    assert parse_ranking("I like both") is None


def test_spec_registration() -> None:
    judge = load_judge("openai:gpt-x@http://127.0.0.1:9/v1?config=alpaca_eval_gpt4&max_retries=0")
    assert judge.info.kind == "openai" and not judge.info.order_free
    assert judge.info.metadata["config"] == "alpaca_eval_gpt4"
    with pytest.raises(Exception, match="MODEL@BASE_URL"):
        load_judge("openai:gpt-x")


def test_logprob_parser() -> None:
    lp = SimpleNamespace(
        token="m",
        logprob=math.log(0.6),
        top_logprobs=(("m", math.log(0.6)), ("M", math.log(0.2)), ("The", math.log(0.2))),
    )
    assert parse_logprob(SimpleNamespace(text="m", logprobs=(lp,)), "m", ("m", "M")) == pytest.approx(0.75)
    assert parse_logprob(SimpleNamespace(text="M", logprobs=None), "m", ("m", "M")) == 0.0
    assert parse_logprob(SimpleNamespace(text="Model M", logprobs=None), "m", ("m", "M")) is None


def test_every_packaged_config_loads_and_unknown_names_suggest() -> None:
    names = list_configs()
    assert {"arena-hard-v0.1", "weighted_alpaca_eval_gpt4_turbo", "alpaca_eval_gpt4"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert (
            "{instruction}" in cfg.template and "{output_1}" in cfg.template and "{output_2}" in cfg.template
        )
    with pytest.raises(UnknownNameError, match="arena-hard-v0.1"):
        load_config("arena-hard-v0.2")
