"""Temperature scaling: the fit recovers a known scale, and applying it scales raw scores but keeps the ranking
and the calibrated scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import tiny_config


def test_fit_recovers_a_known_scale() -> None:
    from training.scaling import fit_scale, group_nll

    rng = np.random.default_rng(0)
    diffs = {}
    for g in range(3):
        d = rng.normal(0, 1, 400)
        diffs[f"g{g}"] = (d, 1 / (1 + np.exp(-2.5 * d)))  # soft targets from a scale of 2.5
    alpha = fit_scale(diffs)
    assert alpha == pytest.approx(2.5, rel=1e-3)
    assert group_nll(alpha, diffs) < group_nll(1.0, diffs)


def test_apply_scale_keeps_ranking_and_calibrated_scores(
    tiny_backbone: Path, fixture_data: Path, tmp_path: Path
) -> None:
    import heapmetric
    from training.scaling import apply_scale
    from training.trainer import train

    cfg = tiny_config(tmp_path, tiny_backbone, fixture_data, max_steps=4, eval_every=100, save_every=100)
    model_dir = train(cfg, progress=False).model_dir
    outputs = ["the summary is clear accurate.", "the summary is wrong messy.", "the summary is concise."]
    kw = dict(outputs=outputs, sources=["article"] * 3, task="summarization", criterion="coherence")
    before = heapmetric.load(str(model_dir)).score(**kw)
    apply_scale(model_dir, 3.0, note={"why": "test"})
    after = heapmetric.load(str(model_dir)).score(**kw)
    assert after.scores == pytest.approx([3.0 * s for s in before.scores], rel=1e-4, abs=1e-5)
    assert np.argsort(after.scores).tolist() == np.argsort(before.scores).tolist()
    if before.calibrated is not None and all(c is not None for c in before.calibrated):
        assert after.calibrated == pytest.approx(before.calibrated, abs=1e-4)
    import json

    spec = json.loads((model_dir / "heapmetric.json").read_text())
    assert math.isclose(spec["training"]["score_scale"]["alpha"], 3.0)
