"""Tolerant JSON extraction and the schema check used for structured replies; the prompt files."""

from __future__ import annotations

import pytest

from heapmetric.synth.structured import SchemaError, check, example_form, extract_json, parse, parse_sections
from heapmetric.synth.templates import STAGES, load_prompts

SCHEMA = {"skills": "list[str]", "response": "str", "notes": "list[str]?"}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        'Sure, here it is:\n```json\n{"a": 1}\n```\nAnything else?',
        'JSON: {"a": 1} and then {"b": 2}',
        '{broken {"a": 1}',
    ],
)
def test_extract_json_finds_the_first_object(text: str) -> None:
    assert extract_json(text) == {"a": 1}


@pytest.mark.parametrize("text", ["no json here", '["a", "list"]', '{"a": 1', ""])
def test_extract_json_refuses(text: str) -> None:
    with pytest.raises(SchemaError):
        extract_json(text)


def test_check_normalises_items() -> None:
    obj = {
        "skills": [{"name": "Baking", "description": "..."}, " Kneading ", "", 3],
        "response": " ok ",
        "extra": 1,
    }
    assert check(obj, SCHEMA) == {"skills": ["Baking", "Kneading", "3"], "response": "ok", "notes": []}
    assert check({"skills": "one", "response": "r"}, SCHEMA)["skills"] == ["one"]
    with pytest.raises(SchemaError, match="'skills' must be a non-empty list"):  # the form's placeholders
        check({"skills": ["...", "-"], "response": "r"}, SCHEMA)


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"response": "r"}, "missing field 'skills'"),
        ({"skills": [], "response": "r"}, "non-empty list"),
        ({"skills": ["a"], "response": ""}, "non-empty string"),
        ({"skills": 5, "response": "r"}, "list of strings"),
    ],
)
def test_check_names_the_field(obj: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        check(obj, SCHEMA)


def test_parse_and_example_form() -> None:
    assert parse('```\n{"skills": ["x"], "response": "y"}\n```', SCHEMA)["response"] == "y"
    assert example_form(SCHEMA) == '{"skills": ["..."], "response": "...", "notes": ["..."]}'
    assert (
        example_form({"a": "list[str]", "b": "list[str]?"}, {"a": "Pros", "b": "Cons"})
        == "Pros:\n- ...\nCons:\n- ..."
    )


FEEDBACK = {"strengths": "list[str]", "improvements": "list[str]?"}
HEADINGS = {"strengths": "Strengths", "improvements": "Improvements"}


def test_parse_sections_reads_headed_bullet_lists() -> None:
    text = (
        "Sure.\n**Strengths:** clear\n* concise\n  and short\n- 1) concise and short\n"
        "## Improvements:\n1. more examples\n2) cite sources\nMinor suggestions:\n- ignored"
    )
    assert parse_sections(text, FEEDBACK, HEADINGS) == {
        "strengths": ["clear", "concise and short"],
        "improvements": ["more examples", "cite sources"],
    }
    assert parse_sections("Strengths:\n- ok", FEEDBACK, HEADINGS) == {"strengths": ["ok"], "improvements": []}


@pytest.mark.parametrize(
    "text, message",
    [
        ("no headings here", "no 'Strengths:' / 'Improvements:' section"),
        (
            "Strengths:\n- ...\nImprovements:\n- ...",
            "'strengths' must be a non-empty list",
        ),  # the repair form
        ("Improvements:\n- more", "missing field 'strengths'"),
        ("Strengths:\n- 1.\n- 2.\n3)", "'strengths' must be a non-empty list"),  # numbering alone
        (
            "Strengths:\n- Gives clear step-by-step instructions.\nImprovements:\n- more",
            "copied from the example",
        ),
    ],
)
def test_parse_sections_keeps_the_schema_check(text: str, message: str) -> None:
    example = frozenset({"gives clear step-by-step instructions"})
    with pytest.raises(SchemaError, match=message):
        parse_sections(text, FEEDBACK, HEADINGS, exclude=example)


def test_refine_sections_take_free_text_and_reject_copies() -> None:
    refine = load_prompts()["refine"]
    assert refine.kind == "sections" and "..." not in refine.user
    reply = "Improved response:\nStep 1: mix.\n\n- then fold\nApplied feedback:\n- be concrete"
    assert parse_sections(reply, refine.schema, refine.sections, exclude=refine.example_items) == {
        "response": "Step 1: mix.\n\n- then fold",
        "applicable_feedback": ["be concrete"],
    }
    example = frozenset({"mix 500 g of flour with 350 g of water and 100 g of active starter"})
    for copied in (
        "Improved response:\nMix 500 g of flour with 350 g of water.",  # the example's line, edited
        "Improved response:\nSome of this feedback may not apply to this draft.",  # the prompt
        "Improved response:\n...",
    ):
        with pytest.raises(SchemaError, match="'response' must be a non-empty string"):
            parse_sections(copied, refine.schema, refine.sections, exclude=refine.example_items | example)


def test_feedback_prompts_have_no_placeholders_to_copy() -> None:
    prompts = load_prompts()
    assert prompts.version >= 2
    stage = prompts["response_feedback"]
    assert stage.kind == "sections" and stage.sections == HEADINGS and stage.schema == FEEDBACK
    for name in ("response_feedback", "refine"):
        assert "..." not in prompts[name].user and '["' not in prompts[name].user


def test_prompt_set_is_versioned_and_renders() -> None:
    prompts = load_prompts()
    assert set(prompts.stages) == set(STAGES) and prompts.version >= 2
    assert prompts.id.startswith(f"refed@{prompts.version}#")
    msgs = prompts["instructions"].messages(
        instruction="Q?", n=3, feature="baking", feature_kind="subject area"
    )
    assert msgs[0]["role"] == "system" and "Write 3 new instructions" in msgs[-1]["content"]
    assert "{{" not in msgs[-1]["content"] and '{"instructions": ["..."]}' in msgs[-1]["content"]
    with pytest.raises(KeyError, match="needs"):
        prompts["instructions"].render(instruction="Q?")
    for stage in STAGES:
        if prompts[stage].kind in ("json", "sections"):
            assert prompts[stage].schema
        if prompts[stage].kind == "sections":
            assert set(prompts[stage].sections) == set(prompts[stage].schema)


def test_truncated_reply_is_closed_at_its_last_complete_item() -> None:
    from heapmetric.synth.structured import close_truncated

    cut = '{"subject_areas": [\n {"name": "Neuroscience"},\n {"name": "Psychology"},\n {"name": "B'
    assert close_truncated(cut) == {"subject_areas": [{"name": "Neuroscience"}, {"name": "Psychology"}]}
    assert parse(cut, {"subject_areas": "list[str]", "skills": "list[str]?"}) == {
        "subject_areas": ["Neuroscience", "Psychology"],
        "skills": [],
    }
    assert close_truncated('Sure: {"a": ["x", "y\\" z", "unfinished') == {"a": ["x", 'y" z']}
    assert close_truncated('{"a": 1}') is None and close_truncated("no json") is None
    with pytest.raises(SchemaError, match="missing field"):  # salvage cannot invent a field
        parse(cut, {"subject_areas": "list[str]", "skills": "list[str]"})


def test_prefill_starts_the_first_section() -> None:
    from heapmetric.synth.generate import json_prefill

    prompts = load_prompts()
    assert json_prefill(FEEDBACK, HEADINGS) == "Strengths:\n- "
    assert json_prefill(prompts["refine"].schema, prompts["refine"].sections) == "Improved response:\n"
    assert json_prefill({"skills": "list[str]"}) == '{"skills": ["'
