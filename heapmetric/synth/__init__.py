"""REFED synthesis (Reference-Level Feedback, Mehri et al., EACL 2026) with heapmetric filtering.

:func:`~heapmetric.synth.pipeline.synthesize` runs references → feedback → instructions → responses →
refinement (journaled, resumable) → filters (decontamination, dedup, metric threshold / top-k, data budget)
→ ``data.jsonl`` + ``datasets`` folder + dataset card. ``heapmetric synth`` is its command line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GenerationConfig", "SynthOptions", "synthesize"]


def __getattr__(name: str) -> Any:
    if name in ("SynthOptions", "synthesize"):
        from heapmetric.synth import pipeline

        return getattr(pipeline, name)
    if name == "GenerationConfig":
        from heapmetric.synth.generate import GenerationConfig

        return GenerationConfig
    raise AttributeError(f"module 'heapmetric.synth' has no attribute {name!r}")
