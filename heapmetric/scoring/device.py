"""Device, dtype and quantization choices, resolved once and reported in result metadata.

- device: ``auto`` (CUDA when available, else CPU) | ``cpu`` | ``cuda`` | ``cuda:N``.
- dtype: ``auto`` (bf16 on CUDA when supported else fp16; on CPU bf16 where the CPU computes bf16 natively,
  detected by :func:`cpu_native_bf16`, else fp32) | ``fp32`` | ``bf16`` | ``fp16``.
- quantization: None | ``int8`` (CPU: torch dynamic quantization of the encoder's linear layers, int8 weights
  and per-batch int8 activations, see :func:`quantize_int8`) | ``8bit`` | ``4bit`` (bitsandbytes; 4-bit is nf4
  with double quantization; bitsandbytes >= 0.45 runs both on CPU as well as CUDA). Anything a device cannot
  run raises :class:`UnsupportedError` in one line.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from typing import Any

from heapmetric.errors import UnsupportedError

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp32", "bf16", "fp16")
QUANTIZATIONS = ("int8", "8bit", "4bit")
#: ``1``/``0`` overrides the detection of native bf16 on this CPU (what ``--dtype auto`` picks on CPU)
CPU_BF16_ENV = "HEAPMETRIC_CPU_BF16"
# CPU feature flags that mean bf16 matmuls run in hardware: AVX-512 BF16 and AMX on x86, FEAT_BF16 on Arm
_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}

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


def resolve_dtype(dtype: Any = "auto", device: str = "cpu", quantization: str | None = None) -> Any:
    """A ``torch.dtype`` for ``dtype`` (a name or a torch dtype) on ``device``.

    With ``quantization="int8"`` the layers left unquantized run in fp32 (``auto`` resolves to fp32, and
    asking for another dtype raises :class:`UnsupportedError`).
    """
    import torch

    int8 = normalize_quantization(quantization) == "int8"
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        name = (dtype or "auto").lower()
        if name == "auto":
            if int8:
                return torch.float32
            if device.startswith("cuda"):
                return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.bfloat16 if cpu_native_bf16() else torch.float32
        if name not in _DTYPE_NAMES:
            raise UnsupportedError(f"unknown dtype {dtype!r} (expected one of {', '.join(DTYPES)})")
        resolved = getattr(torch, _DTYPE_NAMES[name])
    if int8 and resolved != torch.float32:
        raise UnsupportedError(
            f"--quantize int8 runs its unquantized layers in fp32; drop --dtype {dtype_name(resolved)} or use fp32"
        )
    return resolved


@functools.cache
def cpu_native_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls in hardware (AVX-512 BF16 or AMX on x86, FEAT_BF16 on Arm).

    Read from the kernel's CPU flags (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS); False when they cannot
    be read. Without such hardware torch emulates bf16 and runs slower than fp32 (measured on an AVX2-only EPYC:
    MiniLM's forward pass 7.7x slower), so ``--dtype auto`` must not pick it. ``HEAPMETRIC_CPU_BF16=1|0``
    overrides the detection.
    """
    override = os.environ.get(CPU_BF16_ENV, "").strip().lower()
    if override in ("1", "true", "yes"):
        return True
    if override in ("0", "false", "no"):
        return False
    return bool(_cpu_flags() & _BF16_FLAGS)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return set(value.split())
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, timeout=5
            )
            return {"bf16"} if out.stdout.strip() == "1" else set()
        except (OSError, subprocess.SubprocessError):
            pass
    return set()


def quantize_int8(module: Any) -> Any:
    """``module`` with every ``nn.Linear`` replaced by torch's dynamically quantized int8 linear (CPU only).

    Weights are quantized once per output channel; activations per batch at run time. Callers keep the
    scoring head in fp32 (it is one 384x1 layer and not worth the rounding).
    """
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch 2.13 marks its eager quantization API deprecated in favour of torchao; it is pinned here
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)


def dtype_name(dtype: Any) -> str:
    """``float32`` / ``bfloat16`` / ``float16`` for a torch dtype."""
    return str(dtype).replace("torch.", "")


def precision_name(dtype: Any, quantization: str | None = None) -> str:
    """The short name users pass on the command line: ``int8`` for the int8 path, else ``fp32`` / ``bf16`` /
    ``fp16`` for a torch dtype (the long name for any other)."""
    if quantization == "int8":
        return "int8"
    long = dtype_name(dtype)
    return {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(long, long)


def normalize_quantization(quantization: str | None) -> str | None:
    """``int8`` / ``8bit`` / ``4bit`` / None; accepts ``nf4``, ``none`` too.

    ``int8`` is torch's dynamic quantization (CPU); ``8bit`` and ``4bit`` are bitsandbytes.
    """
    if quantization is None:
        return None
    q = str(quantization).lower().strip()
    aliases = {
        "none": None,
        "": None,
        "8bit": "8bit",
        "int8": "int8",
        "8": "8bit",
        "4bit": "4bit",
        "nf4": "4bit",
        "4": "4bit",
    }
    if q not in aliases:
        raise UnsupportedError(f"unknown quantization {quantization!r} (expected int8, 8bit or 4bit)")
    return aliases[q]


def bnb_config(quantization: str | None, compute_dtype: Any, device: str) -> Any:
    """A transformers ``BitsAndBytesConfig`` for ``quantization`` (None when not quantizing).

    Raises :class:`UnsupportedError` when bitsandbytes is missing or does not support ``device``.
    """
    quantization = normalize_quantization(quantization)
    if quantization == "int8":
        if device != "cpu":
            raise UnsupportedError(
                f"--quantize int8 is the CPU path (torch dynamic quantization); on {device} use 8bit or 4bit"
            )
        return None
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
