"""heapmetric.load() and Metric: batch-size invariance, input order, keyword API, calibration, errors."""

from __future__ import annotations

import math
import random

import pytest

import heapmetric
from heapmetric import loading as loading_module
from heapmetric.errors import InputError, ModelLoadError, UnknownNameError
from heapmetric.judges.base import Judge, PairItem, ScoreItem
from heapmetric.records import Judgement

TASK = {"task": "summarization", "criterion": "coherence"}


def mixed_items(n: int = 24, seed: int = 0) -> dict:
    rng = random.Random(seed)
    words = ["the", "cat", "sat", "on", "mat", "news", "report", "said", "today"]
    return {
        "outputs": [" ".join(rng.choice(words) for _ in range(rng.randint(1, 90))) for _ in range(n)],
        "sources": [" ".join(rng.choice(words) for _ in range(rng.randint(1, 300))) for _ in range(n)],
        "systems": [rng.choice(["sysA", "sysB", "sysC"]) for _ in range(n)],
    }


@pytest.fixture(scope="module")
def encoder_metric(tiny_encoder_metric_dir):
    # fp32: the 1e-5 batch-size invariance is promised for fp32 (``auto`` picks bf16 on CPUs with native bf16)
    return heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def decoder_metric(tiny_decoder_metric_dir):
    return heapmetric.load(str(tiny_decoder_metric_dir), device="cpu", dtype="fp32")


@pytest.mark.parametrize("which", ["encoder_metric", "decoder_metric"])
def test_same_scores_for_batch_sizes_1_3_32_in_input_order(which, request):
    metric = request.getfixturevalue(which)
    data = mixed_items()
    runs = {bs: metric.score(**data, **TASK, batch_size=bs).scores for bs in (1, 3, 32)}
    for bs in (3, 32):
        assert max(abs(a - b) for a, b in zip(runs[1], runs[bs], strict=True)) < 1e-5
    # input order: each item scored on its own gives the score at its position
    for i in (0, 7, 23):
        alone = metric.score(outputs=[data["outputs"][i]], sources=[data["sources"][i]], **TASK).scores[0]
        assert abs(alone - runs[32][i]) < 1e-5
    assert len(set(round(s, 6) for s in runs[1])) > 20  # not a constant


def test_result_metadata_and_system_scores(tiny_encoder_metric_dir):
    data = mixed_items(12)
    metric = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu")  # dtype auto
    result = metric.score(**data, **TASK)
    meta = result.metadata
    for key in (
        "model",
        "revision",
        "versions",
        "dtype",
        "quantization",
        "device",
        "render_version",
        "registry_version",
        "criterion",
        "truncated",
    ):
        assert key in meta
    from heapmetric.scoring.device import dtype_name, resolve_dtype

    assert meta["criterion"] == "summarization/coherence"
    assert meta["dtype"] == dtype_name(resolve_dtype("auto", "cpu"))  # float32 unless the CPU has native bf16
    assert meta["truncated"] == result.truncated > 0  # sources up to 400 words exceed max_length 256
    expected = {}
    for s, name in zip(result.scores, data["systems"], strict=True):
        expected.setdefault(name, []).append(s)
    assert result.system_scores == pytest.approx({k: sum(v) / len(v) for k, v in expected.items()})
    assert isinstance(metric, Judge) and metric.info.kind == "reward"


def test_items_dicts_and_records_give_the_same_scores(encoder_metric):
    data = mixed_items(5)
    by_kw = encoder_metric.score(**data, **TASK).scores
    items = [
        ScoreItem(output=o, source=s, **TASK) for o, s in zip(data["outputs"], data["sources"], strict=True)
    ]
    dicts = [{"output": o, "source": s} for o, s in zip(data["outputs"], data["sources"], strict=True)]
    records = [
        Judgement(
            id=str(i),
            dataset="d",
            task="summarization",
            criterion="coherence",
            item_id=str(i),
            output=o,
            source=s,
            score=1.0,
            scale=[1, 5],
        )
        for i, (o, s) in enumerate(zip(data["outputs"], data["sources"], strict=True))
    ]
    assert encoder_metric.score(items).scores == pytest.approx(by_kw, abs=1e-6)
    assert encoder_metric.score(dicts, **TASK).scores == pytest.approx(by_kw, abs=1e-6)
    assert encoder_metric.score(records).scores == pytest.approx(by_kw, abs=1e-6)


def test_per_item_criterion_and_free_text_instruction(encoder_metric):
    rows = [
        {"output": "a b c", "source": "x y", "task": "summarization", "criterion": "fluency"},
        {"output": "a b c", "source": "x y", "instruction": "Rate how polite the reply is."},
    ]
    result = encoder_metric.score(rows, **TASK)
    assert result.metadata["criterion"] is None and len(result.metadata["criteria"]) == 2
    fluency = encoder_metric.score(
        outputs=["a b c"], sources=["x y"], task="summarization", criterion="fluency"
    )
    assert result.scores[0] == pytest.approx(fluency.scores[0], abs=1e-6)


def test_compare_is_sigmoid_of_the_score_difference(decoder_metric):
    data = mixed_items(6)
    a, b = data["outputs"][:3], data["outputs"][3:]
    result = decoder_metric.compare(outputs_a=a, outputs_b=b, sources=data["sources"][:3], **TASK)
    sa = decoder_metric.score(outputs=a, sources=data["sources"][:3], **TASK).scores
    sb = decoder_metric.score(outputs=b, sources=data["sources"][:3], **TASK).scores
    for p, x, y in zip(result.probabilities, sa, sb, strict=True):
        assert p == pytest.approx(1 / (1 + math.exp(-(x - y))), abs=1e-6)
    pairs = [
        PairItem(output_a=x, output_b=y, source=s, **TASK)
        for x, y, s in zip(a, b, data["sources"][:3], strict=True)
    ]
    assert decoder_metric.compare(pairs).probabilities == pytest.approx(result.probabilities, abs=1e-6)


def test_calibration_maps_to_the_human_scale(tiny_encoder_metric_dir, tmp_path):
    from heapmetric.scoring.reward_model import RewardModel

    model = RewardModel.from_pretrained(tiny_encoder_metric_dir)
    model.save_pretrained(
        tmp_path / "cal",
        calibration={"summarization/coherence": {"type": "isotonic", "x": [-10.0, 10.0], "y": [1.0, 5.0]}},
    )
    metric = heapmetric.load(str(tmp_path / "cal"))
    result = metric.score(outputs=["x", "y z"], sources=["a", "b"], **TASK)
    for raw, cal in zip(result.scores, result.calibrated, strict=True):
        assert cal == pytest.approx(1 + 4 * (raw + 10) / 20, abs=1e-6)
    assert metric.score(outputs=["x"], task="summarization", criterion="fluency").calibrated is None


def test_bad_calls(encoder_metric):
    with pytest.raises(TypeError, match="valid: outputs"):
        encoder_metric.score(outputs=["x"], source=["typo"], **TASK)
    with pytest.raises(InputError, match="sources has 1 entries"):
        encoder_metric.score(outputs=["x", "y"], sources=["a"], **TASK)
    with pytest.raises(InputError, match="no task"):
        encoder_metric.score(outputs=["x"])
    with pytest.raises(UnknownNameError, match="did you mean 'coherence'"):
        encoder_metric.score(outputs=["x"], task="summarization", criterion="coherense")
    with pytest.raises(InputError, match="output"):
        encoder_metric.score([{"source": "no output"}], **TASK)
    assert encoder_metric.score(outputs=[], **TASK).scores == []


def test_load_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("HEAPMETRIC_MODEL", raising=False)
    monkeypatch.setattr(loading_module, "DEFAULT_MODEL_DIR", tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="no default model"):
        heapmetric.load()
    with pytest.raises(ModelLoadError, match="does not exist"):
        heapmetric.load(str(tmp_path / "missing" / "dir"))
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
        heapmetric.load("no-such-org/no-such-model")


def test_env_default_model(tiny_encoder_metric_dir, monkeypatch):
    monkeypatch.setenv("HEAPMETRIC_MODEL", str(tiny_encoder_metric_dir))
    assert heapmetric.load().score(outputs=["x"], **TASK).metadata["model"] == str(tiny_encoder_metric_dir)
