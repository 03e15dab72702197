"""Rendering and truncation rules of heapmetric.scoring.render."""

from __future__ import annotations

import pytest

from heapmetric.judges.base import ScoreItem
from heapmetric.registry import free_text_criterion, get_criterion
from heapmetric.scoring.render import (
    encode,
    encode_batch,
    render,
    truncate_rendered,
)


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path))


def words(n: int, word: str = "cat") -> str:
    return " ".join([word] * n)


def test_render_keeps_only_listed_fields_in_fixed_order():
    item = ScoreItem(output="A fine summary.", source="The article.", context="history", reference="ref")
    coherence = render(item, get_criterion("summarization", "coherence"))  # fields: [source]
    assert [s.name for s in coherence.segments] == ["instruction", "output", "source"]
    assert coherence.get("instruction") == get_criterion("summarization", "coherence").instructions[0]
    assert coherence.segments[1].header == "Output (3 words):"
    fluency = render(item, get_criterion("summarization", "fluency"))  # fields: []
    assert [s.name for s in fluency.segments] == ["instruction", "output"]
    coverage = render(item, get_criterion("summarization", "coverage"))  # fields: [reference]
    assert coverage.get("reference") == "ref" and coverage.get("source") is None


def test_render_instruction_override_and_free_text():
    item = ScoreItem(output="out", source="src", context="ctx", references=("r1", "r2"))
    c = get_criterion("summarization", "coherence")
    assert render(item, c, instruction=c.instructions[2]).get("instruction") == c.instructions[2]
    free = render(item, free_text_criterion("Rate how polite the reply is."))
    assert [s.name for s in free.segments] == ["instruction", "output", "reference", "source", "context"]
    assert free.get("reference") == "r1"
    assert free.criterion_id.startswith("custom/instruction-")
    # an empty field is left out, not rendered as an empty segment
    assert render(ScoreItem(output="o", source="  "), c).get("source") is None


def test_short_input_is_not_truncated(tokenizer):
    r = render(
        ScoreItem(output="A short summary.", source="A short article."),
        get_criterion("summarization", "coherence"),
    )
    (enc,) = encode(tokenizer, [r], 128)
    assert not enc.truncated
    assert enc.input_ids[0] == tokenizer.cls_token_id and enc.input_ids[-1] == tokenizer.sep_token_id
    text = tokenizer.decode(enc.input_ids, skip_special_tokens=True)
    assert "a short summary." in text and "a short article." in text


def test_long_source_is_cut_before_the_output(tokenizer):
    c = get_criterion("summarization", "coherence")
    r = render(ScoreItem(output=words(40, "summary"), source=words(1000, "article")), c)
    (enc,) = encode(tokenizer, [r], 128)
    assert enc.truncated and len(enc.input_ids) == 128
    tokens = tokenizer.convert_ids_to_tokens(enc.input_ids)
    assert tokens.count("summary") == 40 + 1  # the whole output, plus the word in the instruction
    assert tokens.count("article") > 10
    assert "40" in tokens  # "Output (40 words):"


def test_long_output_keeps_the_larger_share(tokenizer):
    c = get_criterion("summarization", "coherence")
    r = render(ScoreItem(output=words(1000, "summary"), source=words(1000, "article")), c)
    (enc,) = encode(tokenizer, [r], 200)
    tokens = tokenizer.convert_ids_to_tokens(enc.input_ids)
    n_out, n_src = tokens.count("summary") - 1, tokens.count("article") - 1
    assert len(enc.input_ids) == 200
    assert n_out >= 0.6 * (n_out + n_src) and n_src > 0
    assert "1000" in tokens  # the full length is stated even though the output is cut


def test_context_keeps_its_end_and_source_its_start(tokenizer):
    c = free_text_criterion("Rate the reply.")
    context = " ".join(f"turn{i}" for i in range(300))
    source = " ".join(f"para{i}" for i in range(300))
    r = render(ScoreItem(output="ok", source=source, context=context), c)
    (enc,) = encode(tokenizer, [r], 96)
    text = tokenizer.decode(enc.input_ids, skip_special_tokens=True).replace(" ", "")
    assert "turn299" in text and "turn0turn1" not in text
    assert "para0para1" in text and "para299" not in text


def test_encode_batch_pads_and_counts_truncation(tokenizer):
    c = get_criterion("summarization", "coherence")
    rs = [
        render(ScoreItem(output="short", source="short"), c),
        render(ScoreItem(output="short", source=words(500)), c),
    ]
    batch, n_truncated = encode_batch(tokenizer, rs, 64)
    assert n_truncated == 1
    assert batch["input_ids"].shape == (2, 64)
    mask = batch["attention_mask"]
    assert mask[1].sum() == 64 and 0 < mask[0].sum() < 64 and mask[0, 0] == 1  # right padding for BERT
    left, _ = encode_batch(tokenizer, rs, 64, padding_side="left")
    assert left["attention_mask"][0, -1] == 1 and left["attention_mask"][0, 0] == 0


def test_truncate_rendered_text_level(tokenizer):
    c = get_criterion("summarization", "coherence")
    r = render(ScoreItem(output=words(20, "summary"), source=words(1000, "article")), c)
    cut, truncated = truncate_rendered(tokenizer, r, 100)
    assert truncated and cut.get("output") == r.get("output")
    assert cut.get("source").endswith("...") and len(cut.get("source")) < len(r.get("source"))


def test_too_small_max_length_is_an_error(tokenizer):
    r = render(ScoreItem(output="x", source="y"), get_criterion("summarization", "coherence"))
    with pytest.raises(ValueError, match="too small"):
        encode(tokenizer, [r], 5)
