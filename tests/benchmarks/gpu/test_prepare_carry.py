"""benchmarks/gpu/prepare_carry.py: what travels to the device machine is the same data, smaller."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.fakes.benchmark_scripts import judgement_row, load_benchmark


def _pair(i: int, dataset: str = "p") -> dict:
    return {
        "id": f"{dataset}/{i}",
        "dataset": dataset,
        "task": "instruction_following",
        "criterion": "overall",
        "item_id": f"q{i}",
        "source": f"question {i}",
        "output_a": "a",
        "output_b": "b",
        "label": 0,
    }


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_pack_data_caps_pairs_keeps_grades_and_skips_datasets(tmp_path: Path) -> None:
    carry = load_benchmark("gpu/prepare_carry.py")
    data = tmp_path / "data_build"
    graded = [judgement_row(i, f"summary {i}", 1 + i % 5) for i in range(6)]
    derived = [{**_pair(i, "d"), "task": "summarization", "criterion": "coherence"} for i in range(4)]
    _write(data / "d" / "train.jsonl", graded + derived)
    _write(data / "p" / "train.jsonl", [_pair(i) for i in range(50)])
    _write(data / "p" / "validation.jsonl", [_pair(i) for i in range(50, 80)])
    _write(data / "perturbations" / "train.jsonl", [_pair(i, "perturbations") for i in range(5)])

    out = tmp_path / "carry"
    sizes = carry.pack_data(data, out, max_pairs=10, skip=("perturbations",))
    assert set(sizes) == {"d/train.jsonl", "p/train.jsonl", "p/validation.jsonl"}
    assert not (out / "perturbations").exists()
    assert len(_read(out / "p" / "validation.jsonl.gz")) == 30  # only the train split is sampled
    # graded records all kept, the pairs the trainer derives from them dropped
    assert _read(out / "d" / "train.jsonl.gz") == graded
    kept = _read(out / "p" / "train.jsonl.gz")
    assert len(kept) == 10 and len({r["id"] for r in kept}) == 10
    # seeded: the same sample every time, in the file's order
    carry.pack_data(data, tmp_path / "again", max_pairs=10, skip=("perturbations",))
    assert _read(tmp_path / "again" / "p" / "train.jsonl.gz") == kept
    assert [r["id"] for r in kept] == sorted((r["id"] for r in kept), key=lambda s: int(s.split("/")[1]))
