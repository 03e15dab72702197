"""Rule-based perturbations: each changes the text, is deterministic by seed, and returns None where it
cannot apply; the targets table only names registered criteria."""

from __future__ import annotations

import re

import pytest

from heapmetric import registry
from heapmetric.data import perturbations as P
from heapmetric.data.perturbations import (
    PERTURBATIONS,
    PerturbContext,
    load_targets,
    perturb,
    perturbations_for,
)
from heapmetric.errors import UnknownNameError

SUMMARY = (
    "Paul Merson was brought on with only seven minutes remaining in the 0-0 draw with Burnley . "
    "Andros Townsend scored in the 89th minute. He didn't play well. The midfielder has played 3 times."
)
CTX = PerturbContext(
    source="Paul Merson had a dig at Andros Townsend. Harry Kane and Arsenal were there in 2015.",
    context="User: hi there\nSystem: how was the match yesterday?",
    donors=(
        "A completely different summary about Chelsea and Yoshinori Muto signing for Vitesse Arnhem.",
        "Storms hit the coast of Florida on Monday, leaving 12 homes without power.",
    ),
)
#: perturbations whose edit site or order is drawn (so the seed changes the result on SUMMARY)
RANDOM_EDITS = {
    "word_shuffle_global",
    "word_shuffle_local",
    "fragment_salad",
    "sentence_shuffle",
    "repeat_sentence",
    "ngram_loop",
    "truncate",
    "drop_sentence",
    "number_change",
    "entity_swap",
    "typos",
}
#: per perturbation, a text it cannot apply to (the template ones always apply and are tested apart)
INAPPLICABLE = {
    "word_shuffle_global": "Hello.",
    "word_shuffle_local": "Hello there.",
    "fragment_salad": "Seven words are too few to cut.",
    "sentence_shuffle": "Only one sentence here, nothing to reorder.",
    "repeat_sentence": "",
    "ngram_loop": "Too short to loop.",
    "truncate": "Seven words are not quite enough here.",
    "drop_sentence": "A single sentence cannot lose one.",
    "off_topic": SUMMARY,  # with no donors
    "number_change": "No digits in this text at all.",
    "entity_swap": "nothing capitalised in this lowercased text.",
    "negation": "Birds sing loudly in the morning light.",
    "echo_input": "how was the match yesterday?",
    "strip_punctuation": "already plain lowercase words",
    "typos": "a b c to be or",
}


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_changes_text_and_is_deterministic(name: str) -> None:
    out = perturb(name, SUMMARY, seed=3, key="k", ctx=CTX)
    assert out is not None and out.strip()
    assert " ".join(out.split()) != " ".join(SUMMARY.split())
    assert perturb(name, SUMMARY, seed=3, key="k", ctx=CTX) == out
    others = {perturb(name, SUMMARY, seed=s, key=f"k{s}", ctx=CTX) for s in range(12)}
    assert name not in RANDOM_EDITS or len(others) > 1, "the seed should change where the edit falls"


@pytest.mark.parametrize("name", [n for n in PERTURBATIONS if n not in ("refusal", "generic_response")])
def test_none_when_inapplicable(name: str) -> None:
    text = INAPPLICABLE[name]
    ctx = PerturbContext(context=CTX.context) if name == "echo_input" else PerturbContext()
    assert perturb(name, text, seed=0, ctx=ctx) is None


@pytest.mark.parametrize(
    ("name", "templates"), [("refusal", P.REFUSALS), ("generic_response", P.GENERIC_RESPONSES)]
)
def test_templates_never_return_the_original(name: str, templates: tuple[str, ...]) -> None:
    for template in templates:
        for seed in range(20):
            out = perturb(name, template, seed=seed)
            assert out in templates and out != template


def test_template_casing_follows_the_original() -> None:
    out = perturb("generic_response", "i love to watch football .", seed=1)
    assert out is not None and out == out.lower()
    out = perturb("refusal", "The Answer Is Four.", seed=1)
    assert out is not None and any(c.isupper() for c in out)


def test_specific_edits() -> None:
    assert perturb("negation", "He didn't play well.", seed=0) == "He did play well."
    assert perturb("negation", "She is happy.", seed=0) == "She is not happy."
    assert perturb("negation", "Das ist gut.", seed=0) == "Das ist nicht gut."
    assert perturb("strip_punctuation", "Hello, World! It's me.", seed=0) == "hello world it s me"
    out = perturb("number_change", "The address is 1007 valencia street.", seed=0)
    assert out is not None and re.search(r"\d+", out).group(0) != "1007"
    truncated = perturb("truncate", SUMMARY, seed=0)
    words = SUMMARY.split()
    assert truncated is not None and 0.3 * len(words) - 1 <= len(truncated.split()) <= 0.6 * len(words) + 1
    assert not truncated.rstrip().endswith((".", "!", "?"))
    swapped = perturb("entity_swap", SUMMARY, seed=0, ctx=CTX)
    assert swapped is not None and any(e in swapped for e in ("Harry Kane", "Arsenal"))


def test_fragment_salad_is_short_capitalised_fragments() -> None:
    out = perturb("fragment_salad", SUMMARY, seed=0)
    assert out is not None
    fragments = [f for f in out.split(".") if f.strip()]
    assert all(1 <= len(f.split()) <= 5 and not f.strip()[0].islower() for f in fragments)
    assert 0.3 * len(SUMMARY.split()) - 1 <= len(out.split()) <= 0.6 * len(SUMMARY.split()) + 1
    assert set(out.replace(".", "").lower().split()) <= set(re.sub(r"[^\w\s'-]", "", SUMMARY.lower()).split())


def test_entity_swap_uses_meaning_representation_values() -> None:
    ctx = PerturbContext(
        source="inform(name='udupi palace',food=indian,near='X')",
        donors=("inform(name='sanjalisco',food=mexican)",),
    )
    out = perturb("entity_swap", "udupi palace serves indian food near X .", seed=0, ctx=ctx)
    assert out is not None and "X" in out and ("udupi palace" not in out or "indian" not in out)


def test_echo_input_parrots_the_request_or_the_last_turn() -> None:
    ctx = PerturbContext(
        source="Knowledge: cats purr.", context="User: hi\nSystem: Do you like cats?", task="dialogue"
    )
    assert perturb("echo_input", "yes i love them", ctx=ctx) == "Do you like cats?"
    ctx = PerturbContext(
        source="Now summarise it.", context="User: write a story\nAssistant: Once...", task="x"
    )
    assert perturb("echo_input", "A story, summarised.", ctx=ctx) == "Now summarise it."


def test_off_topic_takes_a_donor_with_little_overlap() -> None:
    near_copy = SUMMARY.replace("Burnley", "Leeds")
    ctx = PerturbContext(donors=(near_copy, CTX.donors[1]))
    assert perturb("off_topic", SUMMARY, seed=0, ctx=ctx) == CTX.donors[1]


def test_unknown_perturbation() -> None:
    with pytest.raises(UnknownNameError):
        perturb("shufle", SUMMARY)


def test_targets_name_registered_criteria_only() -> None:
    criteria = {c.id: c for c in registry.list_criteria()}
    targets = load_targets()
    assert list(targets) == list(PERTURBATIONS)
    for t in targets.values():
        assert t.breaks and t.why and t.description
        for pattern in t.breaks:
            assert any(t.matches(c) for c in criteria), f"{t.name}: {pattern} matches no registered criterion"
        if t.needs_input:
            for cid, c in criteria.items():
                if t.matches(cid):
                    assert set(c.fields) - {"instruction"}, f"{t.name} needs the input but {cid} reads none"


def test_perturbations_for_respects_fields_and_table() -> None:
    assert "word_shuffle_global" in perturbations_for("summarization/coherence")
    assert "word_shuffle_global" not in perturbations_for("summarization/coverage")
    assert perturbations_for("hate_speech/offensiveness") == []
    assert "off_topic" in perturbations_for("dialogue/maintains_context", ("context",))
    assert "off_topic" not in perturbations_for("dialogue/maintains_context", ())
