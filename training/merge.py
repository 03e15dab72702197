"""Weight interpolation of two trained metrics of one architecture (WiSE-FT, Wortsman et al. 2022).

A second training stage that starts from a trained metric (``init_from``) gains what its new data teaches and
loses some of what the first stage knew. Because both models lie in one basin of the loss, the straight line
between their weights, ``(1 - w) * a + w * b``, traces that trade-off: this module writes the model at one
point of it, validated and calibrated on the validation split like a trained model, so that ``w`` can be
chosen on measurements (``heapmetric train --merge``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError

log = logging.getLogger(__name__)

# what must agree between the two models for their weights to be averaged and scored alike
_SAME = ("kind", "pooling", "max_length", "render_version")


def interpolate_state(a: dict[str, Any], b: dict[str, Any], weight_b: float) -> dict[str, Any]:
    """``(1 - weight_b) * a + weight_b * b`` for every floating-point tensor (others must be equal and are
    taken from ``a``). Raises :class:`InputError` when the two state dicts differ in names or shapes."""
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))[0]
        raise InputError(f"the two models differ in their weights ({only!r} is in only one)", field="merge")
    out = {}
    for name, ta in a.items():
        tb = b[name]
        if ta.shape != tb.shape:
            raise InputError(
                f"weight {name!r} has shape {tuple(ta.shape)} in one model and {tuple(tb.shape)} in the other",
                field="merge",
            )
        if ta.is_floating_point():
            out[name] = ta.float().lerp(tb.float(), weight_b).to(ta.dtype)
        else:
            out[name] = ta
    return out


def merge_models(
    a: str | Path,
    b: str | Path,
    weight_b: float,
    output: str | Path,
    *,
    data_dir: str | None = None,
) -> dict[str, Any] | None:
    """Write ``(1 - weight_b) * a + weight_b * b`` to ``output`` and return its validation results.

    ``b``'s training config describes the result (backbone, pooling, storage layout, validation data and
    calibration); ``data_dir`` replaces its ``data_dir``. Raises :class:`InputError` for a weight outside
    [0, 1], a folder that is not a saved reward model, or two models that cannot be averaged.
    """
    from training import modeling
    from training.config import config_from_dict
    from training.trainer import finalize_model, prepare_data

    if not 0.0 <= weight_b <= 1.0:
        raise InputError(f"must be in [0, 1]; got {weight_b}", field="merge_weight")
    a, b, output = Path(a), Path(b), Path(output)
    spec_a, spec_b = modeling.saved_spec(a, field="merge"), modeling.saved_spec(b, field="merge")
    for key in _SAME:
        if spec_a.get(key) != spec_b.get(key):
            raise InputError(
                f"the two models differ in {key} ({spec_a.get(key)!r} vs {spec_b.get(key)!r})",
                file=str(b / "heapmetric.json"),
                field="merge",
            )
    for folder, spec in ((a, spec_a), (b, spec_b)):
        if (spec.get("backbone") or {}).get("layout") == "adapter":
            # averaging LoRA factors is not averaging the weights they add (B·A is bilinear)
            raise InputError(
                "a LoRA adapter checkpoint cannot be weight-interpolated; merge full or partial checkpoints",
                file=str(folder / "heapmetric.json"),
                field="merge",
            )
    base_a, base_b = (s.get("backbone", {}).get("base") for s in (spec_a, spec_b))
    if base_a != base_b:
        raise InputError(f"the two models have different bases ({base_a!r} vs {base_b!r})", field="merge")
    trained = (spec_b.get("training") or {}).get("config")
    if not isinstance(trained, dict):
        raise InputError(
            "the model records no training config; merge models written by heapmetric train",
            file=str(b / "heapmetric.json"),
            field="merge",
        )
    cfg = config_from_dict(
        {**trained, **({"data_dir": data_dir} if data_dir else {})}, file=str(b / "heapmetric.json")
    )
    _, val_groups, criteria = prepare_data(cfg)

    # b, loaded once, carries the merged weights: interpolate_state has checked that a's fit it
    model = modeling.load_model(b)
    model.load_state_dict(
        interpolate_state(modeling.load_model(a).state_dict(), model.state_dict(), weight_b)
    )
    log.info("merged %s and %s with weight %.3f on the second", a, b, weight_b)
    training_b = spec_b.get("training") or {}
    merged = {"a": str(a), "b": str(b), "weight_b": weight_b, "b_init_from": trained.get("init_from")}
    return finalize_model(
        model,
        model.tokenizer,
        output,
        cfg,
        val_groups,
        criteria,
        device="cpu",
        extra={"step": training_b.get("step"), "best_step": training_b.get("best_step"), "merged": merged},
    )
