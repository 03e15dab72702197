"""Device, dtype and quantization choices, resolved once and reported in result metadata.

- device: ``auto`` (CUDA when available, else CPU) | ``cpu`` | ``cuda`` | ``cuda:N``.
- dtype: ``auto`` (bf16 on CUDA when supported else fp16; fp32 on CPU) | ``fp32`` | ``bf16`` | ``fp16``.
- quantization: None | ``8bit`` | ``4bit`` (bitsandbytes; 4-bit is nf4 with double quantization). bitsandbytes
  >= 0.45 runs both on CPU as well as CUDA; anything else raises :class:`UnsupportedError` in one line.
"""

from __future__ import annotations

from typing import Any

from heapmetric.errors import UnsupportedError

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp32", "bf16", "fp16")
QUANTIZATIONS = ("8bit", "4bit")

_DTYPE_NAMES = {
    "fp32": "float32",
    "float32": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
}


def resolve_device(device: str | None = "auto") -> str:
    """A concrete torch device string; ``cuda`` when no GPU is present raises :class:`UnsupportedError`."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UnsupportedError(f"--device {device}: no CUDA device is available here (use --device cpu)")
        return device
    if device == "cpu":
        return "cpu"
    raise UnsupportedError(f"unknown device {device!r} (expected one of {', '.join(DEVICES)} or cuda:N)")


def resolve_dtype(dtype: Any = "auto", device: str = "cpu") -> Any:
    """A ``torch.dtype`` for ``dtype`` (a name or a torch dtype) on ``device``."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    name = (dtype or "auto").lower()
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if name not in _DTYPE_NAMES:
        raise UnsupportedError(f"unknown dtype {dtype!r} (expected one of {', '.join(DTYPES)})")
    return getattr(torch, _DTYPE_NAMES[name])


def dtype_name(dtype: Any) -> str:
    """``float32`` / ``bfloat16`` / ``float16`` for a torch dtype."""
    return str(dtype).replace("torch.", "")


def normalize_quantization(quantization: str | None) -> str | None:
    """``8bit`` / ``4bit`` / None; accepts ``int8``, ``nf4``, ``none`` too."""
    if quantization is None:
        return None
    q = str(quantization).lower().strip()
    aliases = {
        "none": None,
        "": None,
        "8bit": "8bit",
        "int8": "8bit",
        "8": "8bit",
        "4bit": "4bit",
        "nf4": "4bit",
        "4": "4bit",
    }
    if q not in aliases:
        raise UnsupportedError(f"unknown quantization {quantization!r} (expected 8bit or 4bit)")
    return aliases[q]


def bnb_config(quantization: str | None, compute_dtype: Any, device: str) -> Any:
    """A transformers ``BitsAndBytesConfig`` for ``quantization`` (None when not quantizing).

    Raises :class:`UnsupportedError` when bitsandbytes is missing or does not support ``device``.
    """
    quantization = normalize_quantization(quantization)
    if quantization is None:
        return None
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # ImportError, or a broken native library
        raise UnsupportedError(
            f"--quantize {quantization} needs bitsandbytes (pip install 'heapmetric[quant]'): {exc}"
        ) from exc
    if not (device == "cpu" or device.startswith("cuda")):
        raise UnsupportedError(f"--quantize {quantization} is not supported on device {device!r}")
    import torch
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = (
        compute_dtype if compute_dtype in (torch.float32, torch.bfloat16, torch.float16) else torch.float32
    )
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def library_versions() -> dict[str, str]:
    """Versions of heapmetric, torch and transformers (for metadata and checkpoints)."""
    import torch
    import transformers

    from heapmetric import __version__

    return {"heapmetric": __version__, "torch": torch.__version__, "transformers": transformers.__version__}
