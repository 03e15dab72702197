"""The prepared GPU benchmark runs end to end on the CPU with a tiny config (so it cannot fail on a typo
when it finally meets a GPU), quantizing with bitsandbytes' CPU kernels."""

from __future__ import annotations

import json

import pytest

from tests.fakes.benchmark_scripts import load_benchmark


def load_script():
    return load_benchmark("gpu/quant_8b.py")


def test_published_llama_31_8b_numbers():
    cfg = load_script().LLAMA_31_8B
    assert (
        cfg["hidden_size"],
        cfg["num_hidden_layers"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
        cfg["intermediate_size"],
        cfg["vocab_size"],
    ) == (4096, 32, 32, 8, 14336, 128256)


def test_tiny_run_on_cpu_writes_all_modes(tmp_path, monkeypatch):
    pytest.importorskip("bitsandbytes")
    q = load_script()
    out = tmp_path / "q.json"
    monkeypatch.setattr(
        "sys.argv",
        ["quant_8b.py", "--tiny", "--device", "cpu", "--items", "8", "--repeats", "1", "--out", str(out)],
    )
    assert q.main() == 0
    report = json.loads(out.read_text())
    results = report["results"]
    assert set(results) == {"bf16", "8bit", "4bit"}
    assert results["8bit"]["linear_layers_quantized"] == results["4bit"]["linear_layers_quantized"] == 2 * 7
    for mode in ("8bit", "4bit"):
        assert 0.5 < results[mode]["spearman_vs_bf16"] <= 1.0
        assert results[mode]["max_abs_diff_vs_bf16"] > 0  # really quantized
    assert all(r["tokens_per_s"] > 0 for r in results.values())


def test_same_seed_gives_identical_weights():
    import torch

    q = load_script()
    a, b = q.build(q.TINY, "cpu", 0), q.build(q.TINY, "cpu", 0)
    ids, mask = q.make_inputs(4, 32, q.TINY["vocab_size"], 1)
    with torch.inference_mode():
        assert torch.equal(a(ids, mask), b(ids, mask))
