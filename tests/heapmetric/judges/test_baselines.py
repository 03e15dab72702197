"""Baseline judges: values against the libraries they wrap, multi-reference handling, compare, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heapmetric.errors import InputError
from heapmetric.judges.base import Judge, PairItem, ScoreItem
from heapmetric.judges.baselines import (
    BleuJudge,
    ChrfJudge,
    EmbeddingSimilarityJudge,
    LengthJudge,
    RougeJudge,
    SentenceEncoder,
)

REFS = ("the cat sat on the mat .", "a cat was sitting on a mat .")
ITEMS = [
    ScoreItem(output="the cat sat on a mat .", references=REFS, system="s1", id="x1"),
    ScoreItem(output="dogs bark loudly at night .", references=REFS, system="s2", id="x2"),
]


def test_length_counts_words_and_system_means():
    r = LengthJudge().score(ITEMS)
    assert r.scores == [7.0, 6.0]
    assert r.system_scores == {"s1": 7.0, "s2": 6.0}
    assert LengthJudge().info.kind == "baseline"
    assert isinstance(LengthJudge(), Judge)


def test_rouge_matches_rouge_score_with_mean_and_max_over_references():
    from rouge_score import rouge_scorer

    sc = rouge_scorer.RougeScorer(["rouge2"], use_stemmer=True)
    per_ref = [sc.score(ref, ITEMS[0].output)["rouge2"].fmeasure for ref in REFS]
    assert RougeJudge("rouge2").score(ITEMS[:1]).scores[0] == pytest.approx(np.mean(per_ref))
    assert RougeJudge("rouge2", multi_ref="max").score(ITEMS[:1]).scores[0] == pytest.approx(max(per_ref))
    assert RougeJudge("rouge2", multi_ref="first").score(ITEMS[:1]).scores[0] == pytest.approx(per_ref[0])
    # unigram overlap of the second output with "the cat sat on the mat ." is "." only -> tokenizer drops it
    assert RougeJudge("rouge1").score(ITEMS).scores[1] == 0.0


def test_rouge_hand_computed_unigram_f1():
    item = ScoreItem(output="the cat sat", reference="the cat ran away")
    # overlap 2; precision 2/3, recall 2/4 -> F1 = 2PR/(P+R) = 4/7
    assert RougeJudge("rouge1").score([item]).scores == [pytest.approx(4 / 7)]
    assert RougeJudge("rouge1", measure="r").score([item]).scores == [pytest.approx(0.5)]


def test_rouge_lsum_splits_sentences():
    item = ScoreItem(output="the cat sat . it was happy .", reference="the cat sat . it was glad .")
    lsum = RougeJudge("rougeLsum").score([item]).scores[0]
    assert 0 < lsum < 1


def test_bleu_and_chrf_match_sacrebleu():
    import sacrebleu

    bleu = BleuJudge().score(ITEMS).scores
    chrf = ChrfJudge().score(ITEMS).scores
    assert bleu[0] == pytest.approx(sacrebleu.sentence_bleu(ITEMS[0].output, list(REFS)).score)
    assert chrf[1] == pytest.approx(sacrebleu.sentence_chrf(ITEMS[1].output, list(REFS)).score)
    assert bleu[0] > bleu[1] and chrf[0] > chrf[1]


def test_compare_is_sigmoid_of_score_difference():
    pair = PairItem(output_a="one two three four", output_b="one two", id="p")
    r = LengthJudge().compare([pair])
    assert r.probabilities[0] == pytest.approx(1 / (1 + math.exp(-2)))
    assert (r.scores_a, r.scores_b) == ([4.0], [2.0])


def test_missing_reference_is_a_clear_error():
    with pytest.raises(InputError, match="item x9 has none"):
        RougeJudge("rouge1").score([ScoreItem(output="text", id="x9")])
    with pytest.raises(InputError, match="needs a source"):
        EmbeddingSimilarityJudge("source").score([ScoreItem(output="text", id="x9")])
    with pytest.raises(InputError, match="variant"):
        RougeJudge("rouge3")


def test_embedding_similarity_with_minilm():
    judge = EmbeddingSimilarityJudge("reference")
    scores = judge.score(ITEMS).scores
    assert scores[0] > scores[1]
    assert all(-1.0 <= s <= 1.0 + 1e-6 for s in scores)
    src = (
        EmbeddingSimilarityJudge("source")
        .score(
            [
                ScoreItem(output="a cat on a mat", source="The cat sat on the mat all day."),
                ScoreItem(output="stock markets fell", source="The cat sat on the mat all day."),
            ]
        )
        .scores
    )
    assert src[0] > src[1]


def test_encoder_order_and_batch_size_do_not_change_vectors():
    enc = SentenceEncoder()
    texts = ["short", "a somewhat longer sentence about cats", "mid length text"]
    a = enc.encode(texts, batch_size=1)
    b = enc.encode(texts, batch_size=3)
    assert np.allclose(a, b, atol=1e-5)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # the same text alone gives the same vector as within a padded batch
    assert np.allclose(enc.encode([texts[0]])[0], a[0], atol=1e-5)


def test_rouge_beta_and_whitespace_tokenizer_hand_computed():
    # whitespace tokens keep "." and case; LCS("the cat sat .", "the cat ran away .") = "the cat ." = 3
    item = ScoreItem(output="the cat sat .", reference="the cat ran away .")
    p, r, beta = 3 / 4, 3 / 5, 1.2
    expected = (1 + beta**2) * p * r / (r + beta**2 * p)
    judge = RougeJudge("rougeL", beta=beta, tokenizer="whitespace", stem=False)
    assert judge.score([item]).scores == [pytest.approx(expected)]
    # the rouge tokenizer drops "." -> LCS 2 of 3 and 4 tokens
    assert RougeJudge("rougeL").score([item]).scores == [
        pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    ]
    with pytest.raises(InputError, match="tokenizer"):
        RougeJudge("rougeL", tokenizer="spacy")


def test_bleu_smoothing_options():
    import sacrebleu

    item = ScoreItem(output="the cat sat on the hat", reference="the cat sat on the mat")
    none = BleuJudge(smooth="none").score([item]).scores[0]
    assert none == pytest.approx(
        sacrebleu.sentence_bleu(item.output, [item.reference], smooth_method="none").score
    )
    miss = ScoreItem(output="cat hat", reference="the cat sat on the mat")
    floor = BleuJudge(smooth="floor", smooth_value=1e-10).score([miss]).scores[0]
    assert BleuJudge(smooth="none").score([miss]).scores[0] == 0.0 and 0 < floor < 1e-3
    with pytest.raises(InputError, match="smoothing"):
        BleuJudge(smooth="magic")
