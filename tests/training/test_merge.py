"""Weight interpolation of two trained metrics (``heapmetric train --merge``, :mod:`training.merge`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from heapmetric.errors import InputError
from tests.training.conftest import tiny_config


@pytest.fixture(scope="module")
def two_stages(tiny_backbone: Path, fixture_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """A first tiny model and a second stage trained from it (init_from), as the v2 recipe does."""
    from training.trainer import train

    root = tmp_path_factory.mktemp("merge")
    first = train(
        tiny_config(root / "a", tiny_backbone, fixture_data, max_steps=4, eval_every=100, save_every=100),
        progress=False,
    ).model_dir
    second = train(
        tiny_config(
            root / "b",
            tiny_backbone,
            fixture_data,
            max_steps=4,
            eval_every=100,
            save_every=100,
            init_from=str(first),
            seed=5,
        ),
        progress=False,
    ).model_dir
    return first, second


def test_merge_writes_the_interpolation_validated_and_calibrated(
    two_stages: tuple[Path, Path], tmp_path: Path
) -> None:
    import json

    import torch

    from heapmetric.cli import main
    from training import modeling

    a, b = two_stages
    out = tmp_path / "merged"
    assert (
        main(["train", "--merge", str(a), str(b), "--merge-weight", "0.25", "--output", str(out), "-q"]) == 0
    )
    pa, pb = (dict(modeling.load_model(p).named_parameters()) for p in (a, b))
    merged = dict(modeling.load_model(out).named_parameters())
    moved = 0
    for name, param in merged.items():
        want = 0.75 * pa[name].float() + 0.25 * pb[name].float()
        assert torch.allclose(param.float(), want, atol=2e-3), name
        moved += not torch.allclose(pa[name].float(), pb[name].float())
    assert moved > 0  # the second stage did change weights, so the check above is not trivially true
    spec = json.loads((out / "heapmetric.json").read_text())
    assert spec["training"]["merged"]["weight_b"] == 0.25
    assert spec["training"]["merged"]["b_init_from"] == str(a)
    assert spec["training"]["validation"]["mean_pairwise_accuracy"] is not None
    assert spec["calibration"]  # refitted on the validation grades of b's data


def test_weight_zero_and_one_reproduce_the_ends(two_stages: tuple[Path, Path], tmp_path: Path) -> None:
    from heapmetric import load
    from training.merge import merge_models

    a, b = two_stages
    data = {
        "outputs": ["a cat sat", "z", "the mat sat on a cat"],
        "sources": ["the cat sat on the mat", "x y", "the cat sat on the mat"],
        "task": "summarization",
        "criterion": "coherence",
    }
    for weight, end in ((0.0, a), (1.0, b)):
        merge_models(a, b, weight, tmp_path / f"w{weight}")
        got = load(tmp_path / f"w{weight}").score(**data).scores
        assert got == pytest.approx(load(end).score(**data).scores, abs=1e-3)


def test_merge_refuses_what_cannot_be_averaged(
    two_stages: tuple[Path, Path],
    tiny_backbone: Path,
    fixture_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    from heapmetric.cli import main
    from training.merge import merge_models
    from training.trainer import train

    a, b = two_stages
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        merge_models(a, b, 1.5, tmp_path / "x")
    with pytest.raises(InputError, match="no heapmetric.json"):
        merge_models(a, tmp_path, 0.5, tmp_path / "x")
    cls = train(
        tiny_config(
            tmp_path / "cls",
            tiny_backbone,
            fixture_data,
            max_steps=1,
            eval_every=100,
            pooling="cls",
            calibrate=False,
        ),
        progress=False,
    ).model_dir
    with pytest.raises(InputError, match="differ in pooling"):
        merge_models(a, cls, 0.5, tmp_path / "x")
    # a LoRA checkpoint (its heapmetric.json says so; the check comes before any weights are read)
    lora = tmp_path / "lora"
    shutil.copytree(b, lora)
    spec = json.loads((lora / "heapmetric.json").read_text())
    spec["backbone"]["layout"] = "adapter"
    (lora / "heapmetric.json").write_text(json.dumps(spec))
    with pytest.raises(InputError, match="LoRA adapter checkpoint cannot be weight-interpolated") as err:
        merge_models(a, lora, 0.5, tmp_path / "x")
    assert err.value.file == str(lora / "heapmetric.json")
    capsys.readouterr()
    assert main(["train", "--merge", str(a), str(b)]) == 2
    assert "--output" in capsys.readouterr().err
    assert (
        main(["train", "--merge", str(a), str(b), "--output", str(tmp_path / "y"), "--set", "max_steps=3"])
        == 2
    )
    assert "max_steps does not apply to --merge" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
