"""The `evaluate` module loads offline from its file or folder and gives the same scores as heapmetric."""

from __future__ import annotations

import os

import pytest

from heapmetric.evaluate_module import module_path


@pytest.fixture(scope="module")
def hf_metric():
    evaluate = pytest.importorskip("evaluate")
    return evaluate.load(module_path())


def test_loads_from_folder_offline():
    evaluate = pytest.importorskip("evaluate")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    metric = evaluate.load(os.path.dirname(module_path()))
    assert type(metric).__name__ == "Heapmetric"


def test_baseline_spec_with_one_or_many_references(hf_metric):
    one = hf_metric.compute(
        predictions=["the cat sat", "a dog"], references=["the cat sat on the mat", "the cat"], model="rouge1"
    )
    assert one["scores"] == [pytest.approx(2 * 1 * 0.5 / 1.5), 0.0]
    many = hf_metric.compute(
        predictions=["the cat sat"], references=[["the cat sat on the mat", "dogs"]], model="rouge1"
    )
    assert many["scores"] == [pytest.approx((2 / 3 + 0) / 2)]
    free = hf_metric.compute(predictions=["one two three", "x"], systems=["a", "b"], model="length")
    assert free == {
        "scores": [3.0, 1.0],
        "mean_score": 2.0,
        "system_scores": {"a": 3.0, "b": 1.0},
        "model": "length",
    }


def test_trained_metric_scores_equal_heapmetric_load(hf_metric, tiny_encoder_metric_dir):
    import heapmetric

    outputs = ["The cat sat on the mat.", "Stocks fell sharply on Monday after the report."]
    sources = ["A story about a cat.", "Markets news from Monday."]
    got = hf_metric.compute(
        predictions=outputs,
        sources=sources,
        task="summarization",
        criterion="coherence",
        model=str(tiny_encoder_metric_dir),
    )
    want = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu").score(
        outputs=outputs, sources=sources, task="summarization", criterion="coherence"
    )
    assert got["scores"] == pytest.approx(want.scores, abs=1e-5)
