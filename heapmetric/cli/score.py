"""``heapmetric score``: score every row of a JSONL/CSV/TSV file (or stdin) with a metric or judge.

    heapmetric score -i summaries.jsonl --task summarization --criterion coherence -o scored.jsonl
    heapmetric score -i data.csv --instruction "Rate how polite the reply is." --map output=hyp,source=src
    cat rows.jsonl | heapmetric score -i - --model generative:smollm2 --task dialogue --criterion engagingness

Writes the input rows with ``score`` added (and ``calibrated_score`` where the model is calibrated for the
criterion), as JSONL or CSV/TSV by the output suffix (stdout: JSONL). Per-row ``task``/``criterion``/
``instruction`` columns override the flags. Per-system means go to stderr (``--only-system``: only those, as
the output). ``--server URL`` sends the rows to a running ``heapmetric serve`` instead of loading a model.
Long runs resume: with a file output and more than 1,024 rows, scores are journaled chunk by chunk to
``OUTPUT.partial.jsonl`` and the same command run again continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from heapmetric.judges.base import ITEM_FIELDS

# the same field names as the Judge interface (heapmetric/judges/base.py is stdlib-only, cheap to import)
FIELDS = ITEM_FIELDS
PAIR_FIELDS = (
    "output_a",
    "output_b",
    "source",
    "context",
    "reference",
    "references",
    "instruction",
    "task",
    "criterion",
    "system_a",
    "system_b",
    "id",
)
PROGRESS_MIN_ITEMS = 100
RESUME_CHUNK = 1024


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``score`` and ``compare``: input/output, criterion, model and runtime."""
    p.add_argument(
        "-i", "--input", required=True, metavar="FILE", help="JSONL, JSON, CSV or TSV file; - for stdin"
    )
    p.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="FILE",
        help="where to write the rows with scores (.jsonl, .json, .csv, .tsv; default: stdout as JSONL)",
    )
    p.add_argument(
        "--input-format",
        choices=["jsonl", "json", "csv", "tsv"],
        help="input format (default: from the suffix; stdin: jsonl)",
    )
    p.add_argument(
        "--output-format",
        choices=["jsonl", "json", "csv", "tsv"],
        help="output format (default: from suffix)",
    )
    p.add_argument("--task", help="task of every row without a 'task' column (see `heapmetric criteria`)")
    p.add_argument(
        "--criterion", help="criterion of every row without a 'criterion' column (or task/criterion)"
    )
    p.add_argument("--instruction", help="a free-text evaluation instruction instead of --task/--criterion")
    p.add_argument(
        "--model",
        "-m",
        help="checkpoint folder, cached hub id, or generative:MODEL "
        "(default: $HEAPMETRIC_MODEL, else the embedded model)",
    )
    p.add_argument("--server", metavar="URL", help="score through a running heapmetric service instead")
    p.add_argument(
        "--api-key",
        help="bearer token for --server (visible to other users in the process list: prefer "
        "--api-key-file or $HEAPMETRIC_API_KEY)",
    )
    p.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="file holding the key for --server (the first key; the format of serve --api-key-file)",
    )
    p.add_argument("--batch-size", type=int, help="largest batch in items (default: by token budget, max 64)")
    p.add_argument("--max-length", type=int, help="maximum input tokens (default: the checkpoint's)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="default: auto (bf16 on GPUs and on CPUs with native bf16, else fp32)",
    )
    p.add_argument(
        "--quantize",
        choices=["int8", "8bit", "4bit"],
        help="int8: torch dynamic quantization (CPU); 8bit/4bit: bitsandbytes (4bit = nf4)",
    )
    p.add_argument(
        "--map",
        dest="mapping",
        metavar="FIELD=COLUMN,...",
        help="read fields from other column names, e.g. output=hyp,source=src,reference=ref",
    )
    from heapmetric.distributed.cli import add_engine_options

    add_engine_options(p)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common

    p = sub.add_parser(
        "score",
        help="score outputs in a JSONL/CSV/TSV file with a metric or judge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p)
    p.add_argument(
        "--only-system",
        action="store_true",
        help="output only per-system mean scores (rows need a 'system' column)",
    )
    add_common(p)
    p.set_defaults(func=run)


def parse_mapping(text: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """``output=hyp,source=src`` -> ``{"output": "hyp", "source": "src"}``; unknown fields are an error."""
    from heapmetric.errors import InputError

    mapping: dict[str, str] = {}
    if not text:
        return mapping
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--map expects FIELD=COLUMN pairs, got {part.strip()!r}")
        field, column = (s.strip() for s in part.split("=", 1))
        if field not in allowed:
            raise InputError(f"--map: unknown field {field!r} (fields: {', '.join(allowed)})")
        if field in mapping:
            raise InputError(f"--map: field {field!r} is mapped twice")
        if not column:
            raise InputError(f"--map: no column given for field {field!r}")
        mapping[field] = column
    return mapping


def check_mapped_columns(rows: list[tuple[int, dict[str, Any]]], mapping: dict[str, str], file: str) -> None:
    """A ``--map`` column that no row has is a typo, not an empty field: raise naming it."""
    from heapmetric.errors import InputError

    for field, column in mapping.items():
        if not any(column in row for _, row in rows):
            raise InputError(
                f"--map {field}={column}: no row has a column {column!r}", file=file, field=column
            )


def read_rows(
    args: argparse.Namespace, mapping: dict[str, str] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """The input rows as ``(line, row)``; an empty input is an error naming the file, and so is a ``--map``
    column no row has. The output path is checked first, so a bad ``-o`` fails before any work."""
    from heapmetric.io import check_output, read_table
    from heapmetric.judges.base import text_value

    for flag in ("task", "criterion", "instruction"):  # undecodable argv bytes arrive as lone surrogates
        text_value(getattr(args, flag, None), f"--{flag}")
    check_output(args.output, flag="--output")
    rows = read_table(args.input, args.input_format)
    check_mapped_columns(rows, mapping or {}, args.input)
    return rows


def field_values(
    row: dict[str, Any],
    mapping: dict[str, str],
    fields: tuple[str, ...],
    *,
    file: str | None = None,
    line: int | None = None,
) -> dict[str, Any]:
    """The row's values for ``fields`` (through ``mapping``), empty strings dropped, references as a tuple.

    Values follow the one input rule of :func:`heapmetric.judges.base.item_values` for file rows: a JSON
    number, boolean, list or object in a text field is read as its JSON text; ``NaN``/``Infinity``, lone
    surrogates and bad ``references`` raise :class:`~heapmetric.errors.InputError` naming ``file:line`` and
    the column."""
    from heapmetric.judges.base import item_values

    return item_values(row, fields, mapping=mapping, file=file, line=line, from_file=True)


def resolve_criteria(items: list[Any], lines: list[int], args: argparse.Namespace) -> list[str]:
    """Check every row's criterion before any model loads; errors name the file and line."""
    from heapmetric.errors import HeapmetricError, InputError
    from heapmetric.scoring.inputs import criterion_of

    tasks = sorted({it.task for it in items if it.task})
    cache: dict = {}
    ids = []
    for it, line in zip(items, lines, strict=True):
        try:
            ids.append(criterion_of(it, cache=cache).id)
        except InputError as exc:
            hint = (
                f"; rows mix tasks ({', '.join(tasks)}): give a criterion per row or one --instruction"
                if len(tasks) > 1
                else ""
            )
            raise InputError(exc.reason + hint, file=args.input, line=line, field=exc.field) from exc
        except HeapmetricError as exc:
            field = "task" if getattr(exc, "kind", None) == "task" else "criterion"
            raise InputError(str(exc), file=args.input, line=line, field=field) from exc
    return ids


def load_judge(args: argparse.Namespace) -> Any:
    """A client of ``--server``, else ``heapmetric.load(--model, ...)``."""
    if args.server:
        from heapmetric.client import HeapmetricClient, resolve_api_key

        key = resolve_api_key(args.api_key, args.api_key_file)
        return HeapmetricClient(args.server, api_key=key)
    from transformers.utils import logging as hf_logging

    from heapmetric.loading import load

    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a scoring run
    return load(
        args.model,
        device=args.device,
        dtype=args.dtype,
        quantization=args.quantize,
        max_length=args.max_length,
    )


def write_rows(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    from heapmetric.io import write_table

    write_table(args.output, rows, args.output_format)


def check_batch_size(args: argparse.Namespace) -> None:
    from heapmetric.errors import InputError

    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.max_length is not None and args.max_length < 16:
        raise InputError(f"--max-length must be >= 16, got {args.max_length}")


def run(args: argparse.Namespace) -> int:
    from heapmetric.errors import InputError
    from heapmetric.judges.base import ScoreItem, system_means

    if getattr(args, "engine", "local") == "ray":
        from heapmetric.distributed.cli import run_ray

        return run_ray(args, "score")
    check_batch_size(args)
    mapping = parse_mapping(args.mapping, FIELDS)
    rows = read_rows(args, mapping)
    items, lines = [], []
    for line, row in rows:
        values = field_values(row, mapping, FIELDS, file=args.input, line=line)
        if "output" not in values:
            raise InputError(
                "missing required field", file=args.input, line=line, field=mapping.get("output", "output")
            )
        if "instruction" not in values and "task" not in values and "criterion" not in values:
            if args.instruction:
                values["instruction"] = args.instruction
        if "instruction" not in values:
            values.setdefault("task", args.task)
            values.setdefault("criterion", args.criterion)
        items.append(ScoreItem(**values))
        lines.append(line)
    if args.only_system and not any(it.system for it in items):
        raise InputError(
            "--only-system needs a 'system' column and no row has one",
            file=args.input,
            field=mapping.get("system", "system"),
        )
    resolve_criteria(items, lines, args)
    judge = load_judge(args)
    show = not args.quiet and len(items) >= PROGRESS_MIN_ITEMS
    result, journal = score_resumable(judge, items, args, show)
    systems = [it.system for it in items]
    means = result.system_scores or system_means(result.scores, systems)
    counts: dict[str, int] = {}
    for name in systems:
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    if args.only_system:
        if not means:
            raise InputError("--only-system needs a 'system' column", file=args.input, field="system")
        write_rows(args, [{"system": k, "score": v, "n": counts.get(k, 0)} for k, v in means.items()])
    else:
        out = []
        for i, (_, row) in enumerate(rows):
            new = dict(row)
            new["score"] = result.scores[i]
            if result.calibrated is not None and result.calibrated[i] is not None:
                new["calibrated_score"] = result.calibrated[i]
            out.append(new)
        write_rows(args, out)
    if journal is not None:
        journal.unlink(missing_ok=True)
    if not args.quiet:
        print_summary(result, means, counts, len(items))
    return 0


def _item_hash(index: int, item: Any) -> str:
    import hashlib
    import json
    from dataclasses import asdict

    text = json.dumps([index, asdict(item)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


JOURNAL_SETTINGS = (
    "model",
    "kind",
    "revision",
    "max_length",
    "dtype",
    "quantization",
    "pooling",
    "render_version",
    "registry_version",
    "prompt_version",
    "template",
)
"""Judge metadata that changes scores; a journal written under other values is not resumed (device is left
out: the same settings give the same scores on another device)."""


def journal_header(judge: Any, items: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    """What a resume journal must match: the judge, its score-changing settings, the criterion flags, n."""
    info = judge.info
    meta = info.metadata or {}
    header: dict[str, Any] = {"judge": info.name, "n": len(items)}
    header.update({k: meta.get(k) for k in JOURNAL_SETTINGS if k in meta})
    header["revision"] = meta.get("revision")
    header.update(
        task=args.task,
        criterion=args.criterion,
        instruction=args.instruction,
        max_length_flag=args.max_length,
        dtype_flag=args.dtype,
        quantize_flag=args.quantize,
        server=args.server,
    )
    return json.loads(json.dumps(header, default=str))  # as it reads back from the file


def score_resumable(judge: Any, items: list[Any], args: argparse.Namespace, show: bool) -> tuple[Any, Any]:
    """``judge.score(items)``; for a file output with more than :data:`RESUME_CHUNK` items, scores chunk by chunk
    and journals each chunk to ``<output>.partial.jsonl``, so a rerun of the same command after a crash or
    Ctrl-C skips what was scored (same rows, same judge and settings, see :func:`journal_header`). The journal
    is removed once the output is written."""
    import os
    from pathlib import Path

    from heapmetric.judges.base import ScoreResult

    output = Path(str(args.output))
    special = output.exists() and not output.is_file()  # a FIFO, /dev/stdout: nothing to resume into
    if args.output == "-" or special or len(items) <= RESUME_CHUNK:
        return judge.score(items, batch_size=args.batch_size, show_progress=show), None
    journal = Path(str(args.output) + ".partial.jsonl")
    header = journal_header(judge, items, args)
    hashes = [_item_hash(i, it) for i, it in enumerate(items)]
    done: dict[int, dict[str, Any]] = {}
    if journal.exists():
        lines = journal.read_text(encoding="utf-8", errors="replace").splitlines()
        try:
            same = bool(lines) and json.loads(lines[0]) == header
        except ValueError:
            same = False
        for line in lines[1:] if same else []:
            try:  # a torn line (the run was killed mid-write) costs only that line
                e = json.loads(line)
            except ValueError:
                continue
            if (
                isinstance(e, dict)
                and isinstance(e.get("i"), int)
                and 0 <= e["i"] < len(items)
                and hashes[e["i"]] == e.get("h")
                and isinstance(e.get("score"), (int, float))
            ):
                done[e["i"]] = e
        if not args.quiet:
            print(
                f"resuming: {len(done)} of {len(items)} rows already scored in {journal}"
                if same
                else f"ignoring {journal}: it was written for other rows, another judge or other settings",
                file=sys.stderr,
            )
    # (re)write the journal whole, so a torn last line is not glued to the next entry appended
    from heapmetric.io import atomic_write

    with atomic_write(journal) as handle:
        handle.write(json.dumps(header) + "\n")
        for i in sorted(done):
            handle.write(json.dumps(done[i]) + "\n")
    todo = [i for i in range(len(items)) if i not in done]
    meta: dict[str, Any] = {}
    truncated = 0
    with open(journal, "a", encoding="utf-8") as handle:
        for start in range(0, len(todo), RESUME_CHUNK):
            chunk = todo[start : start + RESUME_CHUNK]
            part = judge.score([items[i] for i in chunk], batch_size=args.batch_size, show_progress=show)
            meta, truncated = dict(part.metadata or {}), truncated + part.truncated
            for k, i in enumerate(chunk):
                cal = part.calibrated[k] if part.calibrated is not None else None
                done[i] = {"i": i, "h": hashes[i], "score": part.scores[k], "calibrated": cal}
                handle.write(json.dumps(done[i]) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    scores = [float(done[i]["score"]) for i in range(len(items))]
    calibrated = [done[i].get("calibrated") for i in range(len(items))]
    meta["truncated"] = truncated
    result = ScoreResult(
        scores=scores,
        calibrated=calibrated if any(c is not None for c in calibrated) else None,
        metadata=meta,
        truncated=truncated,
    )
    return result, journal


def print_summary(result: Any, means: dict[str, float], counts: dict[str, int], n: int) -> None:
    """Per-system means (or the overall mean) and the truncation count, on stderr."""
    import statistics

    meta = result.metadata or {}
    if means:
        width = max(len(k) for k in means)
        print(f"{'system':<{width}}  {'mean':>9}  n", file=sys.stderr)
        for k, v in sorted(means.items(), key=lambda kv: -kv[1]):
            print(f"{k:<{width}}  {v:>9.4f}  {counts.get(k, 0)}", file=sys.stderr)
    elif result.scores:
        print(f"mean score {statistics.fmean(result.scores):.4f} over {n} items", file=sys.stderr)
    if result.truncated:
        print(
            f"{result.truncated} of {n} inputs were truncated to fit the model's maximum length "
            f"({meta.get('max_length', '?')} tokens)",
            file=sys.stderr,
        )
