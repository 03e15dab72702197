"""AlpacaEval judge annotations: GPT-4-turbo (AlpacaEval 2.0) and GPT-4 (1.0) preferences of many systems
against the AlpacaEval reference outputs. **LLM labels**, not human ones.

Sources: ``$HEAPMETRIC_DATA/alpacaeval_annotations/{ae2_gpt4_turbo,ae1_gpt4}.jsonl.gz`` (see its SOURCE.md),
one line per (judged model, instruction): ``{model, index, dataset, output, preference, reference_model}``.
The instruction text and the AE2 reference outputs come from
``$HEAPMETRIC_DATA/alpacaeval/model_outputs/gpt4_1106_preview.json`` (joined on ``index``); the AE1 reference
outputs from ``text_davinci_003_outputs.json`` (the generation the AE1 judge saw), except for the one model
whose annotations used ``alpacaeval/model_outputs/text_davinci_003.json`` (:data:`AE1_SHIPPED_REFERENCE`).

Each kept line becomes one native :class:`Preference` of task ``instruction_following``, criterion ``overall``:
``source`` = the instruction, ``output_a`` = the judged model's output (``system_a`` = the model),
``output_b`` = the reference output (``system_b`` = the reference model), ``label`` = ``a`` / ``b`` / ``tie``,
``item_id`` = the AlpacaEval instruction index (so one instruction, whatever the model or annotation set,
lands in one split), ``id`` = ``alpacaeval_annotations/<ae2|ae1>/<model>/<index>``. ``meta`` holds
``p_a`` (probability that the judged output is better: AE2 ``preference - 1``; AE1 1 / 0 / 0.5),
``label_source`` (``gpt-4-turbo`` or ``gpt-4``), ``annotation_set``, ``alpacaeval_dataset`` and the raw
``preference``.

Left out, and counted by :func:`convert_report` (reason -> model -> lines):

- every line whose **judged model is a bench system**: a system whose outputs ship in
  ``alpacaeval/model_outputs/`` (the evaluation systems of ``heapmetric bench``), an alias of one
  (:data:`ALIASES`), or a model whose outputs equal a shipped system's on at least half of its lines
  (a renamed duplicate);
- the deliberate gaming attacks (:data:`GAMING_ATTACKS`);
- lines without a judge output: AE1 ``preference`` null; AE2 ``preference`` exactly 1.5, which is how the
  895 lines without a judge output are stored (the reference judged against itself, and 90 others; SOURCE.md
  counts 916 lines at exactly 1.5, the remaining 21 cannot be told apart from missing judgements here);
- empty judged or reference outputs;
- single lines whose output is character-for-character a shipped system's output for the same instruction.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from heapmetric.data._common import get, json_records, require_file, text
from heapmetric.data.aggregation import check_aggregation
from heapmetric.data.exclusions import Exclusions, new_exclusions
from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl
from heapmetric.records import LABEL_SOURCE_KEY, Preference, Record

NAME = "alpacaeval_annotations"
FOLDER = "alpacaeval_annotations"
#: Labels differ per annotation set (:data:`SETS`); each record carries its own ``meta.label_source``.
LABEL_SOURCE = None
LABEL_SOURCES = "gpt-4-turbo (AlpacaEval 2.0), gpt-4 (AlpacaEval 1.0)"
"""Who labelled the records (set per record: ``meta.label_source``)."""
TASK = "instruction_following"
CRITERION = "overall"
#: The AlpacaEval folder (sibling of :data:`FOLDER`) with the instructions and the bench systems' outputs.
ALPACAEVAL_OUTPUTS = Path("..") / "alpacaeval" / "model_outputs"
INSTRUCTIONS_FILE = "gpt4_1106_preview.json"
#: annotation set -> (file, judge model = label source, reference model)
SETS: dict[str, tuple[str, str, str]] = {
    "ae2": ("ae2_gpt4_turbo.jsonl.gz", "gpt-4-turbo", "gpt4_1106_preview"),
    "ae1": ("ae1_gpt4.jsonl.gz", "gpt-4", "text_davinci_003"),
}
AE1_REFERENCE_FILE = "text_davinci_003_outputs.json"
#: AE1 models whose judge saw the shipped ``text_davinci_003.json`` outputs as the reference (SOURCE.md).
AE1_SHIPPED_REFERENCE = frozenset({"Mistral-7B+RAHF-DUAL+LoRA"})
#: Annotation-file model names that are a shipped bench system under another name (name -> shipped name).
#: ``gpt4_0314`` is GPT-4 (03/14), the model of the shipped ``gpt4`` outputs, sampled again;
#: ``gpt4_turbo`` is the old name of ``gpt4_1106_preview`` (identical outputs upstream).
ALIASES: dict[str, str] = {"gpt4_0314": "gpt4", "gpt4_turbo": "gpt4_1106_preview"}
#: Deliberate attacks on the AlpacaEval judge (SOURCE.md): never training data.
GAMING_ATTACKS = frozenset({"NullModel", "gpt4_gamed"})
#: A model whose outputs equal a shipped system's on at least this share of its lines is that system.
DUPLICATE_SHARE = 0.5

EXCLUDED_BENCH = "judged model is a bench system"
EXCLUDED_GAMING = "gaming attack"
SKIPPED_NO_JUDGEMENT = "no judge output"
SKIPPED_EMPTY = "empty output"
SKIPPED_SAME_AS_BENCH = "output identical to a bench system's output"


def _outputs(path: Path) -> list[dict]:
    return [row for _, row in json_records(path)]


def bench_outputs(folder: Path) -> dict[str, dict[str, str]]:
    """Shipped bench systems: ``{system: {instruction: output}}`` from ``alpacaeval/model_outputs/*.json``."""
    outputs_dir = (Path(folder) / ALPACAEVAL_OUTPUTS).resolve()
    files = sorted(outputs_dir.glob("*.json"))
    if not files:
        raise InputError("no AlpacaEval model outputs (bench systems) found", file=str(outputs_dir))
    systems: dict[str, dict[str, str]] = {}
    for path in files:
        systems[path.stem] = {
            text(row, "instruction", file=path, where=str(i)): get(
                row, "output", str, file=path, where=str(i)
            )
            for i, row in json_records(path)
        }
    return systems


def p_a_of(annotation_set: str, preference: float | int | None) -> float | None:
    """P(judged output better) from an upstream ``preference`` (``output_2`` = the judged model), or ``None``
    when the line has no judge output. AE2: ``preference - 1`` (exactly 1.5 means no judge output);
    AE1: 2 -> 1.0, 1 -> 0.0, 0 (tie/unparsed) or 1.5 -> 0.5. Anything else raises ``ValueError``."""
    if preference is None:
        return None
    if isinstance(preference, bool) or not isinstance(preference, (int, float)):
        raise ValueError(f"expected a number or null, got {preference!r}")
    if annotation_set == "ae2":
        if not 1.0 <= preference <= 2.0:
            raise ValueError(f"expected a value in [1, 2], got {preference!r}")
        return None if preference == 1.5 else float(preference) - 1.0
    table = {2: 1.0, 1: 0.0, 0: 0.5, 1.5: 0.5}
    if preference not in table:
        raise ValueError(f"expected 0, 1, 1.5 or 2, got {preference!r}")
    return table[preference]


def label_of(p_a: float) -> str:
    """``a`` when the judged output is more likely better, ``b`` when less, ``tie`` at exactly 0.5."""
    return "a" if p_a > 0.5 else "b" if p_a < 0.5 else "tie"


def _bench_name(
    model: str, outputs: dict[int, str], bench: dict[str, dict[str, str]], instructions: list[str]
):
    """The shipped system a judged model is (by name, alias or duplicated outputs), or ``None``."""
    if model in bench:
        return model
    if ALIASES.get(model) in bench:
        return ALIASES[model]
    for system, by_instruction in bench.items():
        same = sum(
            1 for i, out in outputs.items() if out.strip() and by_instruction.get(instructions[i]) == out
        )
        if outputs and same >= DUPLICATE_SHARE * len(outputs):
            return system
    return None


def convert_report(folder: Path, *, aggregation: str = "mean") -> tuple[list[Record], Exclusions]:
    """All kept preferences, and what was left out: ``{reason: Counter(model -> lines)}``."""
    check_aggregation(aggregation)
    folder = Path(folder)
    outputs_dir = (folder / ALPACAEVAL_OUTPUTS).resolve()
    reference_rows = _outputs(require_file(outputs_dir, INSTRUCTIONS_FILE))
    instructions = [
        text(row, "instruction", file=outputs_dir / INSTRUCTIONS_FILE, where=str(i))
        for i, row in enumerate(reference_rows)
    ]
    bench = bench_outputs(folder)
    references = {
        "ae2": [row.get("output") or "" for row in reference_rows],
        "ae1": _reference_outputs(require_file(folder, AE1_REFERENCE_FILE), instructions),
        "ae1_shipped": [bench["text_davinci_003"].get(i, "") for i in instructions]
        if "text_davinci_003" in bench
        else None,
    }
    records: list[Record] = []
    excluded = new_exclusions()
    for annotation_set, (name, judge, reference_model) in SETS.items():
        path = require_file(folder, name)
        lines = _read_lines(path, len(instructions))
        by_model: dict[str, dict[int, str]] = defaultdict(dict)
        for _, row in lines:
            by_model[row["model"]][row["index"]] = row["output"]
        bench_name = {m: _bench_name(m, outs, bench, instructions) for m, outs in by_model.items()}
        for line, row in lines:
            model, index, output = row["model"], row["index"], row["output"]
            instruction = instructions[index]
            if model in GAMING_ATTACKS:
                excluded[EXCLUDED_GAMING][f"{annotation_set}:{model}"] += 1
                continue
            if bench_name[model]:
                excluded[EXCLUDED_BENCH][f"{annotation_set}:{model}"] += 1
                continue
            try:
                p_a = p_a_of(annotation_set, row["preference"])
            except ValueError as exc:
                raise InputError(str(exc), file=str(path), line=line, field="preference") from exc
            if p_a is None:
                excluded[SKIPPED_NO_JUDGEMENT][f"{annotation_set}:{model}"] += 1
                continue
            if annotation_set == "ae1" and model in AE1_SHIPPED_REFERENCE:
                if references["ae1_shipped"] is None:
                    raise InputError(
                        "text_davinci_003.json is needed for this model's reference",
                        file=str(path),
                        line=line,
                    )
                reference = references["ae1_shipped"][index]
            else:
                reference = references[annotation_set][index]
            if not output.strip() or not reference.strip():
                excluded[SKIPPED_EMPTY][f"{annotation_set}:{model}"] += 1
                continue
            if any(outs.get(instruction) == output for outs in bench.values()):
                excluded[SKIPPED_SAME_AS_BENCH][f"{annotation_set}:{model}"] += 1
                continue
            records.append(
                Preference(
                    id=f"{NAME}/{annotation_set}/{model}/{index}",
                    dataset=NAME,
                    task=TASK,
                    criterion=CRITERION,
                    item_id=str(index),
                    source=instruction,
                    output_a=output,
                    output_b=reference,
                    label=label_of(p_a),
                    system_a=model,
                    system_b=reference_model,
                    meta={
                        "p_a": p_a,
                        LABEL_SOURCE_KEY: judge,
                        "annotation_set": annotation_set,
                        "alpacaeval_dataset": row["dataset"],
                        "preference": row["preference"],
                    },
                )
            )
    return records, dict(excluded)


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """The kept preferences of both annotation sets (see the module docstring for what is left out)."""
    return convert_report(folder, aggregation=aggregation)[0]


def _reference_outputs(path: Path, instructions: list[str]) -> list[str]:
    rows = _outputs(path)
    if len(rows) != len(instructions):
        raise InputError(f"expected {len(instructions)} reference outputs, got {len(rows)}", file=str(path))
    out = []
    for i, row in enumerate(rows):
        if get(row, "instruction", str, file=path, where=str(i)) != instructions[i]:
            raise InputError(
                "instruction differs from the AlpacaEval one at this index",
                file=str(path),
                field=f"{i}/instruction",
            )
        out.append(get(row, "output", str, file=path, where=str(i)))
    return out


def _read_lines(path: Path, n_instructions: int) -> list[tuple[int, dict]]:
    """Checked ``(line, {model, index, dataset, output, preference})`` of one annotation file."""
    rows = []
    for line, obj in iter_jsonl(path):
        model = get(obj, "model", str, file=path, where="", line=line)
        index = get(obj, "index", int, file=path, where="", line=line)
        if not 0 <= index < n_instructions:
            raise InputError(
                f"index {index} outside 0..{n_instructions - 1}", file=str(path), line=line, field="index"
            )
        output = get(obj, "output", str, file=path, where="", line=line)
        preference = obj.get("preference")
        rows.append(
            (
                line,
                {
                    "model": model,
                    "index": index,
                    "dataset": get(obj, "dataset", str, file=path, where="", line=line),
                    "output": output,
                    "preference": preference,
                },
            )
        )
    return rows
