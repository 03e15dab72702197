"""Judge resolution, in one place: which model ``heapmetric.load()`` means and what class serves it.

``load(model)`` turns a model spec into a :class:`~heapmetric.judges.base.Judge`: a heapmetric reward checkpoint
or a one-label sequence-classification folder → :class:`~heapmetric.scoring.metric.Metric`; ``generative:PATH``
or a checkpoint whose ``heapmetric.json`` says ``kind: generative`` →
:class:`~heapmetric.judges.generative.GenerativeJudge`. Both judge modules import from here, never the reverse,
so loading has no import cycle. Nothing is downloaded: hub ids must already be in the local cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from heapmetric.errors import ModelLoadError
from heapmetric.scoring.batching import DEFAULT_MAX_TOKENS

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "default"


def default_model() -> str:
    """``$HEAPMETRIC_MODEL`` if set, else the embedded ``heapmetric/models/default/`` folder.

    Raises :class:`ModelLoadError` when neither is available.
    """
    from heapmetric.env import HEAPMETRIC_MODEL

    value = os.environ.get(HEAPMETRIC_MODEL)
    if value:
        return value
    if (DEFAULT_MODEL_DIR / "heapmetric.json").exists():
        return str(DEFAULT_MODEL_DIR)
    raise ModelLoadError(
        f"no default model: {DEFAULT_MODEL_DIR} holds no trained checkpoint (heapmetric.json); "
        "pass --model PATH (or model=) or set HEAPMETRIC_MODEL"
    )


def resolve_model_path(model: str | os.PathLike) -> Path:
    """A local folder for ``model``: the folder itself, or a hub id already in the local Hugging Face cache.

    Nothing is downloaded; a hub id that is not cached raises :class:`ModelLoadError` saying how to fetch it.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    text = str(model)
    if path.exists():
        raise ModelLoadError(f"model {text!r} is a file, not a checkpoint folder")
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo_id=text, local_files_only=True))
        except Exception as exc:
            raise ModelLoadError(
                f"model {text!r} is not a folder and not in the local Hugging Face cache "
                f"(nothing is downloaded at run time): run `huggingface-cli download {text}` "
                "once, or pass a folder"
            ) from exc
    raise ModelLoadError(f"model folder {text!r} does not exist")


def model_revision(path: str | os.PathLike, max_bytes: int = 512 * 1024 * 1024) -> str:
    """A short content hash of a checkpoint folder (file names and bytes; files over ``max_bytes`` by size)."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts):
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        size = file.stat().st_size
        if size > max_bytes:
            digest.update(f"size:{size}".encode())
            continue
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def load(
    model: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    dtype: Any = "auto",
    quantization: str | None = None,
    max_length: int | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> Any:
    """Load a judge once for many calls.

    ``model``: a heapmetric checkpoint folder, a Hugging Face sequence-classification folder with one label,
    a hub id already cached locally, or ``generative:PATH`` for a causal chat LM judged zero-shot
    (:class:`~heapmetric.judges.generative.GenerativeJudge`). None means :func:`default_model`.
    ``device``: auto|cpu|cuda; ``dtype``: auto|fp32|bf16|fp16 (``auto``: bf16 on GPUs and on CPUs with native bf16, else fp32);
    ``quantization``: None|int8 (CPU, torch dynamic quantization)|8bit|4bit (bitsandbytes).
    ``max_length`` overrides the checkpoint's maximum input length; ``max_tokens`` is the padded-token budget
    of one batch.
    """
    from heapmetric.scoring.device import normalize_quantization, resolve_device, resolve_dtype

    if model is None:
        model = default_model()
    text = str(model)
    if text.startswith("generative:"):
        from heapmetric.judges.generative import GenerativeJudge

        return GenerativeJudge.load(
            text.split(":", 1)[1],
            device=device,
            dtype=dtype,
            quantization=quantization,
            max_length=max_length,
        )
    path = resolve_model_path(model)
    from heapmetric.scoring.reward_model import RewardModel, read_spec

    spec = read_spec(path)
    if spec is not None and spec.get("kind") == "generative":
        from heapmetric.judges.generative import GenerativeJudge

        return GenerativeJudge.load(
            str(path), device=device, dtype=dtype, quantization=quantization, max_length=max_length
        )
    if spec is not None and spec.get("kind", "reward") != "reward":
        raise ModelLoadError(f"{path}/heapmetric.json: unknown kind {spec.get('kind')!r} (expected reward)")
    quantization = normalize_quantization(quantization)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev, quantization)
    from heapmetric.scoring.metric import Metric

    reward = RewardModel.from_pretrained(path, device=dev, dtype=torch_dtype, quantization=quantization)
    if reward.tokenizer is None:
        raise ModelLoadError(f"{path}: no tokenizer files in the folder or its base model")
    name = "default" if path.resolve() == DEFAULT_MODEL_DIR.resolve() else text
    return Metric(
        reward,
        name=name,
        revision=model_revision(path),
        device=dev,
        dtype=torch_dtype,
        quantization=quantization,
        max_length=max_length,
        max_tokens=max_tokens,
    )


__all__ = ["DEFAULT_MODEL_DIR", "default_model", "load", "model_revision", "resolve_model_path"]
