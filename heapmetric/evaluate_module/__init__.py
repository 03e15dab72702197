"""The Hugging Face ``evaluate`` module of heapmetric (``heapmetric.py`` in this folder).

``evaluate.load(module_path())`` works offline: evaluate reads a local script path without contacting the hub.
"""

from __future__ import annotations

from pathlib import Path


def module_path() -> str:
    """Path of the ``evaluate`` metric script, for ``evaluate.load``."""
    return str(Path(__file__).with_name("heapmetric.py"))
