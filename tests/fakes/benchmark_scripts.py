"""Loading the scripts under benchmarks/ (not a package) in their tests, and the records the tests feed them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(relative: str) -> ModuleType:
    """Import the script ``benchmarks/<relative>`` as a module (its ``main()`` is not run)."""
    path = BENCHMARKS / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def judgement_row(i: int, output: str, score: float, criterion: str = "coherence") -> dict:
    """A graded summarization record of dataset ``d`` (three source documents, scale 1-5) as a JSON dict."""
    return {
        "id": f"d/{i}/{criterion}",
        "dataset": "d",
        "task": "summarization",
        "criterion": criterion,
        "item_id": f"doc{i % 3}",
        "source": "A short source document about a council vote on a new library.",
        "output": output,
        "score": score,
        "scale": [1, 5],
    }
