"""CPU precision: what ``--dtype auto`` picks, the int8 path, cache identity, and agreement with fp32.

The agreement bounds run the embedded default model on a fixed sample of judged SummEval and Topical-Chat test
outputs (skipped without ``$HEAPMETRIC_DATA``). On a CPU without native bf16 (like the AVX2-only EPYC this was
written on) torch emulates bf16 and the bf16 run is several times slower than fp32, hence the small sample.
"""

from __future__ import annotations

import httpx
import pytest

import heapmetric
from heapmetric.errors import UnsupportedError
from heapmetric.scoring import device as dev


@pytest.fixture
def no_bf16(monkeypatch):
    monkeypatch.delenv(dev.CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(dev, "_cpu_flags", lambda: {"avx2", "fma"})
    dev.cpu_native_bf16.cache_clear()
    yield
    dev.cpu_native_bf16.cache_clear()


def test_auto_picks_bf16_only_where_the_cpu_has_it(no_bf16, monkeypatch):
    import torch

    assert not dev.cpu_native_bf16() and dev.resolve_dtype("auto", "cpu") is torch.float32
    for flags in ({"avx512_bf16"}, {"amx_bf16", "amx_tile"}, {"fp", "asimd", "bf16"}):
        monkeypatch.setattr(dev, "_cpu_flags", lambda flags=flags: flags)
        dev.cpu_native_bf16.cache_clear()
        assert dev.resolve_dtype("auto", "cpu") is torch.bfloat16, flags
    monkeypatch.setenv(dev.CPU_BF16_ENV, "0")  # the override wins over the flags
    dev.cpu_native_bf16.cache_clear()
    assert dev.resolve_dtype("auto", "cpu") is torch.float32
    assert dev.resolve_dtype("fp32", "cpu") is torch.float32  # an explicit dtype is never changed


def test_cpu_flags_are_read_from_this_machine():
    flags = dev._cpu_flags()
    assert isinstance(flags, set)
    if flags:  # Linux: /proc/cpuinfo was read; every x86-64 CPU has sse2, every Arm one fp or asimd
        assert flags & {"sse2", "fp", "asimd"}


def test_int8_runs_fp32_around_it_and_only_on_cpu():
    import torch

    assert dev.resolve_dtype("auto", "cpu", "int8") is torch.float32
    with pytest.raises(UnsupportedError, match="int8 runs its unquantized layers in fp32"):
        dev.resolve_dtype("bf16", "cpu", "int8")
    with pytest.raises(UnsupportedError, match="CPU path"):
        dev.bnb_config("int8", torch.float32, "cuda")
    assert dev.normalize_quantization("INT8") == "int8" and dev.normalize_quantization("8bit") == "8bit"
    names = [
        dev.precision_name(torch.float32),
        dev.precision_name(torch.bfloat16),
        dev.precision_name(torch.float16),
    ]
    assert names == ["fp32", "bf16", "fp16"] and dev.precision_name(torch.float32, "int8") == "int8"


def test_int8_metric_quantizes_the_encoder_and_has_its_own_cache_identity(tiny_encoder_metric_dir):
    import torch

    from heapmetric.bench.judging import judge_id

    fp32 = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", dtype="fp32")
    int8 = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", quantization="int8")
    bf16 = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", dtype="bf16")
    kinds = {type(m).__module__ for m in int8.model.backbone.modules()}
    assert any("quantized" in k for k in kinds)  # the encoder's linear layers were replaced
    assert not any(isinstance(m, torch.nn.Linear) for m in int8.model.backbone.modules())
    assert isinstance(int8.model.head, torch.nn.Linear)  # the head stays fp32
    outputs = ["the cat sat on the mat", "a dog slept by the door all day", "mat"]
    result = int8.score(outputs=outputs, task="summarization", criterion="fluency", sources="the cat")
    assert len(result.scores) == 3 and all(s == s for s in result.scores)
    assert (result.metadata["quantization"], result.metadata["dtype"]) == ("int8", "float32")
    ids = {judge_id(m) for m in (fp32, int8, bf16)}
    assert len(ids) == 3  # cached verdicts of different precisions never mix


def test_score_cli_takes_int8(tiny_encoder_metric_dir, tmp_path):
    import json

    from heapmetric.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"output": "the cat sat", "source": "the cat", "task": "summarization"}) + "\n")
    out = tmp_path / "out.jsonl"
    code = main(
        ["score", "--model", str(tiny_encoder_metric_dir), "--criterion", "fluency", "--quantize", "int8",
         "--device", "cpu", "-o", str(out), "--quiet", "-i", str(src)]
    )  # fmt: skip
    assert code == 0
    assert len(out.read_text().splitlines()) == 1


def test_service_under_auto_serves_in_process_auto_scores(tiny_encoder_metric_dir, monkeypatch):
    """With native bf16 forced on, ``auto`` is bf16 in the server and in-process alike, and they agree."""
    from service.app import create_app
    from service.settings import Settings
    from service.testing import serve_in_thread

    monkeypatch.setenv(dev.CPU_BF16_ENV, "1")
    dev.cpu_native_bf16.cache_clear()
    try:
        metric = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu")
        assert metric.info.metadata["dtype"] == "bfloat16"
        items = [
            {"output": "the cat sat on the mat " * k, "source": "the cat", "task": "summarization"}
            for k in range(1, 7)
        ]
        want = metric.score(items, criterion="coherence").scores
        app = create_app(Settings(model=str(tiny_encoder_metric_dir), device="cpu", max_wait_ms=5))
        with serve_in_thread(app, ready=True, timeout=120) as srv:
            card = httpx.get(srv.url + "/v1/models").json()["data"][0]
            r = httpx.post(
                srv.url + "/v1/score",
                json={"items": items, "criterion": "coherence"},
                timeout=60,
            )
        assert card["dtype"] == "bfloat16"
        assert r.status_code == 200, r.text
        assert r.json()["scores"] == pytest.approx(want, abs=2e-2)  # bf16 rounding, same inputs
    finally:
        dev.cpu_native_bf16.cache_clear()


@pytest.fixture(scope="module")
def agreement_sample(data_dir):
    from heapmetric.scoring.agreement import judged_test_items

    items, groups = judged_test_items(data_dir, per_dataset=40)
    fp32 = heapmetric.load(None, device="cpu", dtype="fp32").score(items).scores
    return items, groups, fp32


def test_bf16_agrees_with_fp32_on_judged_test_outputs(agreement_sample):
    from heapmetric.scoring.agreement import agreement

    items, groups, fp32 = agreement_sample
    a = agreement(fp32, heapmetric.load(None, device="cpu", dtype="bf16").score(items).scores, groups)
    assert a["pairs"] > 50
    assert a["spearman"] >= 0.999, a  # the bound for bf16
    assert a["decision_agreement"] >= 0.97, a


def test_int8_agreement_with_fp32_holds_its_measured_floor(agreement_sample):
    from heapmetric.scoring.agreement import agreement

    items, groups, fp32 = agreement_sample
    a = agreement(fp32, heapmetric.load(None, device="cpu", quantization="int8").score(items).scores, groups)
    # Measured with the v1 default on 158 such outputs: Spearman 0.89, decisions 80% (docs/precision.md). That
    # is below the 0.995 the precision issue asks for, so int8 stays opt-in; this floor catches a regression.
    assert a["spearman"] >= 0.8, a
    assert a["decision_agreement"] >= 0.7, a
