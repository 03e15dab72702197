"""heapmetric: a learned NLG metric instruction-tuned on human judgements, and the tools around it.

>>> import heapmetric
>>> metric = heapmetric.load()                       # doctest: +SKIP
>>> metric.score(outputs=["A short summary."], sources=["The article ..."],
...              task="summarization", criterion="coherence").scores   # doctest: +SKIP

Heavy modules (torch, transformers) are imported on first use, not here.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from heapmetric.loading import load

        return load
    raise AttributeError(f"module 'heapmetric' has no attribute {name!r}")
