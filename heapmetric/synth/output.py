"""Writing a synthesis run: ``data.jsonl``, a ``datasets`` folder, ``report.json``, ``removed.jsonl`` and a
dataset card (``README.md``) in the ``datasets_cards/`` form, in one folder per mode (``OUT/reference/``,
``OUT/sample/``, ``OUT/none/``) beside the shared journal. The folder is written whole under a temporary name
and then swapped in, so a run that fails leaves the previous outputs of its mode as they were."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from heapmetric.io import atomic_write, write_json, write_jsonl
from heapmetric.synth.generate import STAGE_ORDER, Candidate

MODE_TEXT = {
    "reference": "responses refined with the reference's response feedback",
    "sample": "responses refined with feedback on each generated response (baseline)",
    "none": "one-shot responses without refinement (baseline)",
}


def _score(score: float | None) -> float | None:
    """NaN (the judge gave no score) is written as null: valid JSON, and a missing value for ``datasets``."""
    return None if score is None or score != score else score


def record(
    c: Candidate, *, generator: str, prompt_version: str, judge: str | None, criterion: str | None
) -> dict[str, Any]:
    """The output row of one candidate (column names as distilabel/UltraFeedback users expect)."""
    return {
        "instruction": c.instruction,
        "response": c.response,
        "prompt_id": c.prompt_id,
        "id": c.id,
        "provenance": {
            "reference_id": c.reference.id,
            "reference_index": c.reference.index,
            "feature": c.feature,
            "feature_kind": c.feature_kind,
            "index": c.index,
            "mode": c.mode,
            "generator": generator,
            "prompt_version": prompt_version,
            "instruction_feedback": {
                "subject_areas": list(c.instruction_feedback.get("subject_areas", [])),
                "skills": list(c.instruction_feedback.get("skills", [])),
            },
            "feedback": {
                "strengths": list(c.feedback.get("strengths", [])),
                "improvements": list(c.feedback.get("improvements", [])),
            },
            "applied_feedback": list(c.applied_feedback),
            "draft_response": c.draft_response,
            "scores": {"judge": judge, "criterion": criterion, "score": _score(c.score)},
            "timings": {s: c.timings.get(s) for s in STAGE_ORDER},
        },
    }


def features() -> Any:
    """The ``datasets.Features`` of the records (explicit, so empty lists and missing scores keep types)."""
    from datasets import Features, List, Value

    strings = List(Value("string"))
    return Features(
        {
            "instruction": Value("string"),
            "response": Value("string"),
            "prompt_id": Value("string"),
            "id": Value("string"),
            "provenance": {
                "reference_id": Value("string"),
                "reference_index": Value("int64"),
                "feature": Value("string"),
                "feature_kind": Value("string"),
                "index": Value("int64"),
                "mode": Value("string"),
                "generator": Value("string"),
                "prompt_version": Value("string"),
                "instruction_feedback": {"subject_areas": strings, "skills": strings},
                "feedback": {"strengths": strings, "improvements": strings},
                "applied_feedback": strings,
                "draft_response": Value("string"),
                "scores": {"judge": Value("string"), "criterion": Value("string"), "score": Value("float64")},
                "timings": {s: Value("float64") for s in STAGE_ORDER},
            },
        }
    )


def save_dataset(rows: list[dict[str, Any]], folder: str | os.PathLike) -> None:
    """``datasets.Dataset.save_to_disk`` of the records into ``folder`` (a new folder)."""
    from datasets import Dataset

    feats = features()
    ds = (
        Dataset.from_list(rows, features=feats)
        if rows
        else Dataset.from_dict({k: [] for k in feats}, features=feats)
    )
    ds.save_to_disk(str(folder))


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "n>1M"


def dataset_card(report: dict[str, Any], n_records: int) -> str:
    """A Hugging Face dataset card (YAML header + sections) describing the run from its report."""
    cfg = report["config"]
    cost = report["cost"]["total"]
    lines = [
        "---",
        "language:",
        "- en",
        f"license: {cfg.get('license') or 'other'}",
        "task_categories:",
        "- text-generation",
        "size_categories:",
        f"- {_size_category(n_records)}",
        f"pretty_name: {cfg.get('name') or 'heapmetric REFED synthesis'}",
        "tags:",
        "- synthetic",
        "- refed",
        "- heapmetric",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: data.jsonl",
        "---",
        "",
        f"# {cfg.get('name') or 'REFED synthetic instruction data'}",
        "",
        "## Dataset summary",
        "",
        f"{n_records} instruction-response pairs synthesized with the REFED pipeline (Reference-Level Feedback, "
        f"Mehri et al., EACL 2026) by `heapmetric synth` {report['heapmetric_version']} in mode `{cfg['mode']}` "
        f"({MODE_TEXT.get(cfg['mode'], '')}), from "
        f"{report['references']['used']} reference pairs of `{cfg['references']}` with the generator "
        f"`{cfg['generator']}` (prompt set `{cfg['prompt_version']}`), then filtered.",
        "",
        "## Dataset structure",
        "",
        "`data.jsonl` (one JSON object a line) and a `datasets` folder (`dataset/`, `load_from_disk`):",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `instruction` | the synthesized instruction |",
        "| `response` | the final response (refined unless mode `none`) |",
        "| `prompt_id` | sha256 of the instruction text |",
        "| `id` | sha256 of (reference id, feature, index): stable across runs, the journal key |",
        "| `provenance` | reference id and index, feature, instruction feedback, the feedback used for "
        "refinement and the items kept from it, the draft response, the metric score, stage timings (s) |",
        "",
        "## How it was made",
        "",
        f"- references: `{cfg['references']}`, {report['references']['used']} used, skipped: "
        f"{json.dumps(report['references']['skipped'])}",
        f"- generator: `{cfg['generator']}`, temperature {cfg['temperature']}, "
        f"{cfg['instructions_per_feature']} instructions per feature, at most {cfg['max_features']} features "
        "per reference",
        f"- candidates generated: {report['candidates']}; records kept: {n_records}",
        f"- failed steps (after one repair request for JSON stages): {json.dumps(report['failures'])}",
        f"- model calls: {cost['calls']} ({cost['repairs']} repairs), input tokens {cost['input_tokens']}, "
        f"output tokens {cost['output_tokens']}, cost: "
        + (f"${cost['cost_usd']:.4f}" if cost.get("cost_usd") is not None else "not priced"),
        "",
        "### Filters",
        "",
        "| filter | params | in | kept | removed | reasons |",
        "|---|---|---|---|---|---|",
    ]
    for step in report["filters"]:
        lines.append(
            f"| {step['filter']} | `{json.dumps(step['params'])}` | {step['in']} | {step['kept']} | "
            f"{step['removed']} | {json.dumps(step['reasons'])} |"
        )
    lines += [
        "",
        "## Licence and limitations",
        "",
        "The responses are model outputs: check the generator's terms. Derived data inherits the "
        "references' licence where it applies (LIMA: CC BY-NC-SA, non-commercial). Instructions were "
        "checked against AlpacaEval, Arena-Hard and MT-Bench prompts only where the decontamination "
        "filter ran (see Filters).",
        "",
    ]
    return "\n".join(lines)


MODES = tuple(MODE_TEXT)


def mode_dir(out_dir: str | os.PathLike, mode: str) -> Path:
    """Where a run in ``mode`` writes its outputs: ``out_dir/<mode>``."""
    if mode not in MODE_TEXT:
        raise ValueError(f"unknown mode {mode!r}")
    return Path(out_dir) / mode


def write_outputs(
    out_dir: str | os.PathLike,
    rows: list[dict[str, Any]],
    report: dict[str, Any],
    removed: list[dict[str, Any]],
    *,
    mode: str,
    save_datasets: bool = True,
) -> Path:
    """Write every output file of a run into ``out_dir/<mode>/`` and return that folder.

    The files are written into a temporary folder beside it, which then replaces the mode's folder (the old
    one is renamed aside and removed), so the folder is either the previous run's or this run's, never a mix;
    the other modes' folders and the journal are not touched."""
    final = mode_dir(out_dir, mode)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{mode}.*.tmp"):  # left by a run killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{mode}.", suffix=".tmp", dir=final.parent))
    old = final.parent / f".{mode}.old.tmp"
    try:
        write_jsonl(tmp / "data.jsonl", rows)
        write_jsonl(tmp / "removed.jsonl", removed)
        if save_datasets:
            save_dataset(rows, tmp / "dataset")
        write_json(tmp / "report.json", report)
        with atomic_write(tmp / "README.md") as handle:
            handle.write(dataset_card(report, len(rows)))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the data is meant to be shared
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return final
