"""Every environment variable heapmetric reads, in one place."""

from __future__ import annotations

import os
from pathlib import Path

#: Folder holding the human-judgement datasets (one sub-folder per source). Default: ../shared/data
#: relative to the repository root.
HEAPMETRIC_DATA = "HEAPMETRIC_DATA"
#: Default model for ``heapmetric.load()`` / ``--model`` when none is given (default: the embedded model).
HEAPMETRIC_MODEL = "HEAPMETRIC_MODEL"
#: Cache folder for LLM-judge annotations and synthesis journals (default: ~/.cache/heapmetric).
HEAPMETRIC_CACHE = "HEAPMETRIC_CACHE"
#: API key for OpenAI-compatible chat endpoints (heapmetric.llm.OpenAIChatBackend) when none is passed.
OPENAI_API_KEY = "OPENAI_API_KEY"
#: API key a client of ``heapmetric serve`` sends (``score --server``, ``synth --metric-server``) when neither
#: ``--api-key`` nor ``--api-key-file`` is given (heapmetric.client.resolve_api_key).
HEAPMETRIC_API_KEY = "HEAPMETRIC_API_KEY"

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The datasets folder: ``override``, else ``$HEAPMETRIC_DATA``, else ``<repo>/../shared/data``."""
    if override is not None:
        return Path(override)
    value = os.environ.get(HEAPMETRIC_DATA)
    if value:
        return Path(value)
    return REPO_ROOT.parent / "shared" / "data"


def cache_dir() -> Path:
    """Where caches live; created on first use by the callers that write there."""
    value = os.environ.get(HEAPMETRIC_CACHE)
    return Path(value) if value else Path.home() / ".cache" / "heapmetric"
