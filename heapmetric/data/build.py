"""``heapmetric data build``: every converter → ``OUT/<dataset>/{train,validation,test}.jsonl`` + ``stats.json``.

For each selected dataset: convert its source folder, check every record (schema, unique ids, registered
task/criterion), add the preferences derived from its graded judgements, assign each record the split of its
``(dataset, item_id)`` and write the three files. A dataset is written into a temporary folder and swapped in
with renames, so an interrupted or failed build never leaves a half-written dataset; a missing source folder is
skipped with a one-line reason, and a malformed source stops that dataset (others still build).

Each split file mixes judgements and preferences; the kind is implied by the fields (``score`` vs
``output_a``/``output_b``/``label``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from heapmetric.data import CONVERTERS, get_converter
from heapmetric.data.aggregation import check_aggregation
from heapmetric.data.preferences import derive_preferences
from heapmetric.data.splits import SPLITS, record_split
from heapmetric.errors import HeapmetricError, InputError, UnknownNameError
from heapmetric.io import iter_jsonl, write_json, write_jsonl
from heapmetric.records import LABEL_SOURCE_KEY, Judgement, Preference, Record, label_source, record_from_dict

log = logging.getLogger(__name__)

STATS_FILE = "stats.json"
STATS_VERSION = 1
#: Default output folder of ``heapmetric data build`` (relative to the working directory).
DEFAULT_OUT = "data_build"


@dataclass
class DatasetResult:
    """What happened to one dataset: ``status`` is ``built``, ``skipped`` or ``failed``."""

    name: str
    status: str
    reason: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, int] = field(default_factory=dict)


def record_row(record: Record) -> dict[str, Any]:
    """The JSONL object of a record: what ``Record.to_dict()`` gives, without its deep copy (much faster)."""
    row = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if value is not None and value != {}:
            row[f.name] = value
    return row


def kind_of(record: Record) -> str:
    """``"judgement"`` or ``"preference"``."""
    return "preference" if isinstance(record, Preference) else "judgement"


def count_rows(records: Iterable[tuple[str, Record]]) -> list[dict[str, Any]]:
    """Stats rows ``{dataset, task, criterion, split, kind, label_source, records}`` for ``(split, record)``
    pairs, sorted by dataset, task, criterion, kind, split, then label source (human and LLM labels apart)."""
    counts: Counter = Counter()
    for split, r in records:
        counts[(r.dataset, r.task, r.criterion, split, kind_of(r), label_source(r))] += 1
    order = {s: i for i, s in enumerate(SPLITS)}
    keys = sorted(counts, key=lambda k: (k[0], k[1], k[2], k[4], order.get(k[3], 9), k[5]))
    names = ("dataset", "task", "criterion", "split", "kind", "label_source")
    return [{**dict(zip(names, key, strict=True)), "records": counts[key]} for key in keys]


def stamp_label_source(
    name: str, module: Any, records: Sequence[Record], derived: Sequence[Preference]
) -> None:
    """Give every record ``meta.label_source``: the converter's own value where it set one, else the module's
    ``LABEL_SOURCE``; a derived preference takes the provenance of the judgements it was made from."""
    default = getattr(module, "LABEL_SOURCE", None)
    by_id: dict[str, str] = {}
    for r in records:
        if not r.meta.get(LABEL_SOURCE_KEY):
            if not default:
                raise InputError(
                    f"record {r.id!r} has no meta.label_source and the {name} converter defines no LABEL_SOURCE",
                    file=f"<{name} converter>",
                    field="meta.label_source",
                )
            r.meta[LABEL_SOURCE_KEY] = default
        by_id[r.id] = r.meta[LABEL_SOURCE_KEY]
    for p in derived:
        if not p.meta.get(LABEL_SOURCE_KEY):
            p.meta[LABEL_SOURCE_KEY] = by_id[p.meta["derived_from"][0]]


def check_records(name: str, records: Sequence[Record]) -> None:
    """Schema-validate each record, require unique ids, ``dataset == name`` and a registered task/criterion."""
    from heapmetric.registry import get_criterion

    seen: set[str] = set()
    checked: set[tuple[str, str]] = set()
    for r in records:
        where = {"file": f"<{name} converter>", "field": None}
        if r.id in seen:
            raise InputError(f"duplicate record id {r.id!r}", file=where["file"], field="id")
        seen.add(r.id)
        if r.dataset != name:
            raise InputError(
                f"record {r.id!r} has dataset {r.dataset!r}", file=where["file"], field="dataset"
            )
        record_from_dict(record_row(r), file=f"<{name} record {r.id}>")
        if (r.task, r.criterion) not in checked:
            try:
                get_criterion(r.task, r.criterion)
            except UnknownNameError as exc:
                from heapmetric.registry import list_criteria

                raise UnknownNameError(
                    f"criterion (records of {name} need it in heapmetric/criteria/)",
                    f"{r.task}/{r.criterion}",
                    [c.id for c in list_criteria()],
                ) from exc
            checked.add((r.task, r.criterion))


def _write_dataset(out: Path, name: str, by_split: dict[str, list[Record]]) -> None:
    """Write the split files into a temporary folder, then swap it in place of ``out/name``."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out))
    old = out / f".{name}.old"
    try:
        for split in SPLITS:
            write_jsonl(tmp / f"{split}.jsonl", (record_row(r) for r in by_split.get(split, [])))
            # temporary files are created private (0600); the build is meant to be shared
            os.chmod(tmp / f"{split}.jsonl", 0o644)
        os.chmod(tmp, 0o755)
        final = out / name
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)


def build_dataset(
    name: str, folder: Path, out: Path, *, aggregation: str = "mean", max_pairs_per_item: int | None = None
) -> DatasetResult:
    """Convert, check, derive preferences, split and write one dataset; raises on malformed input."""
    module = get_converter(name)
    records: list[Record] = list(module.convert(folder, aggregation=aggregation))
    if not records:
        raise InputError("the converter produced no records", file=str(folder))
    check_records(name, records)
    derived = derive_preferences(
        (r for r in records if isinstance(r, Judgement)), max_pairs_per_item=max_pairs_per_item
    )
    stamp_label_source(name, module, records, derived)
    clash = {p.id for p in derived} & {r.id for r in records}
    if clash:
        raise InputError(
            f"derived preference id clashes with a converted record: {sorted(clash)[0]!r}", file=str(folder)
        )
    by_split: dict[str, list[Record]] = {s: [] for s in SPLITS}
    items: dict[str, set[str]] = {s: set() for s in SPLITS}
    for r in [*records, *derived]:
        split = record_split(r)
        by_split[split].append(r)
        items[split].add(r.item_id)
    _write_dataset(out, name, by_split)
    rows = count_rows((s, r) for s in SPLITS for r in by_split[s])
    return DatasetResult(name, "built", rows=rows, items={s: len(v) for s, v in items.items()})


def build(
    data_dir: Path,
    out: Path,
    *,
    only: Sequence[str] | None = None,
    aggregation: str = "mean",
    max_pairs_per_item: int | None = None,
    report: Callable[[str], None] | None = None,
) -> list[DatasetResult]:
    """Build the selected datasets (default: every registered converter) from ``data_dir`` into ``out``.

    Returns one :class:`DatasetResult` per dataset and (re)writes ``out/stats.json``, keeping the entries of
    datasets not rebuilt this time. ``report`` receives one line per dataset (built / skipped / failed).
    """
    check_aggregation(aggregation)
    names = list(only) if only else list(CONVERTERS)
    for n in names:
        if n not in CONVERTERS:
            raise UnknownNameError("dataset", n, CONVERTERS)
    report = report or log.info
    data_dir, out = Path(data_dir), Path(out)
    results: list[DatasetResult] = []
    for name in names:
        try:
            module = get_converter(name)
        except HeapmetricError as exc:
            results.append(DatasetResult(name, "skipped", str(exc)))
            report(f"{name}: skipped: {exc}")
            continue
        folder = data_dir / module.FOLDER
        if not folder.is_dir():
            reason = f"source folder {folder} not found"
            results.append(DatasetResult(name, "skipped", reason))
            report(f"{name}: skipped: {reason}")
            continue
        try:
            res = build_dataset(
                name, folder, out, aggregation=aggregation, max_pairs_per_item=max_pairs_per_item
            )
        except HeapmetricError as exc:
            results.append(DatasetResult(name, "failed", str(exc)))
            report(f"{name}: failed, nothing written: {exc}")
            continue
        results.append(res)
        n = sum(row["records"] for row in res.rows)
        report(f"{name}: {n} records ({', '.join(f'{s} {res.items[s]} items' for s in SPLITS)})")
    _write_stats(
        out, results, data_dir=data_dir, aggregation=aggregation, max_pairs_per_item=max_pairs_per_item
    )
    return results


def _write_stats(
    out: Path,
    results: list[DatasetResult],
    *,
    data_dir: Path,
    aggregation: str,
    max_pairs_per_item: int | None,
) -> None:
    path = out / STATS_FILE
    stats: dict[str, Any] = {"version": STATS_VERSION, "datasets": {}}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("version") == STATS_VERSION:
                stats["datasets"] = {k: v for k, v in old.get("datasets", {}).items() if (out / k).is_dir()}
        except (OSError, ValueError):
            pass  # an unreadable old stats file is rebuilt from this run
    for r in results:
        if r.status == "built":
            stats["datasets"][r.name] = {
                "source": str(data_dir / get_converter(r.name).FOLDER),
                "aggregation": aggregation,
                "max_pairs_per_item": max_pairs_per_item,
                "items": r.items,
                "records": sum(row["records"] for row in r.rows),
                "rows": r.rows,
            }
    stats["skipped"] = {r.name: r.reason for r in results if r.status == "skipped"}
    stats["failed"] = {r.name: r.reason for r in results if r.status == "failed"}
    if stats["datasets"] or results:
        write_json(path, stats)
        os.chmod(path, 0o644)


def stats_from_files(folder: Path) -> list[dict[str, Any]]:
    """Recount a built folder from its split files (validating every record); rows as in ``count_rows``."""
    pairs: list[tuple[str, Record]] = []
    folder = Path(folder)
    found = False
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for split in SPLITS:
            path = sub / f"{split}.jsonl"
            if not path.is_file():
                continue
            found = True
            for line, obj in iter_jsonl(path):
                pairs.append((split, record_from_dict(obj, file=str(path), line=line)))
    if not found:
        raise InputError("no <dataset>/{train,validation,test}.jsonl files here", file=str(folder))
    return count_rows(pairs)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: one line per dataset × task × criterion × kind × label source, one column per split."""
    table: dict[tuple[str, ...], Counter] = {}
    for row in rows:
        key = (row["dataset"], row["task"], row["criterion"], row["kind"], row.get("label_source", "unknown"))
        table.setdefault(key, Counter())[row["split"]] += row["records"]
    head = ("dataset", "task", "criterion", "kind", "labels", *SPLITS, "total")
    lines = [head]
    totals = Counter()
    for key, per in table.items():
        nums = [per.get(s, 0) for s in SPLITS]
        for s, n in zip(SPLITS, nums, strict=True):
            totals[s] += n
        lines.append((*key, *map(str, nums), str(sum(nums))))
    lines.append(("TOTAL", "", "", "", "", *(str(totals[s]) for s in SPLITS), str(sum(totals.values()))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for line in lines:
        cells = [
            c.ljust(w) if i < 5 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def counts_markdown(rows: list[dict[str, Any]], dataset: str, *, by_label_source: bool = False) -> str:
    """A Markdown table of one dataset's records per task × criterion × kind × split (for dataset cards).

    With ``by_label_source=True`` a ``labels`` column splits each line by label provenance (human / judge model).
    """
    table: dict[tuple[str, ...], Counter] = {}
    for row in rows:
        if row["dataset"] == dataset:
            key = (row["task"], row["criterion"], row["kind"])
            if by_label_source:
                key = (*key, row.get("label_source", "unknown"))
            table.setdefault(key, Counter())[row["split"]] += row["records"]
    label_head = " labels |" if by_label_source else ""
    lines = [
        f"| task | criterion | kind |{label_head} train | validation | test | total |",
        "|---|---|---|" + ("---|" if by_label_source else "") + "---:|---:|---:|---:|",
    ]
    totals: Counter = Counter()
    for key, per in sorted(table.items()):
        nums = [per.get(s, 0) for s in SPLITS]
        totals.update(dict(zip(SPLITS, nums, strict=True)))
        lines.append(
            "| " + " | ".join(key) + " | " + " | ".join(f"{n:,}" for n in nums) + f" | {sum(nums):,} |"
        )
    blank = "| " * (3 if by_label_source else 2)
    lines.append(
        f"| **all** {blank}| "
        + " | ".join(f"{totals[s]:,}" for s in SPLITS)
        + f" | {sum(totals.values()):,} |"
    )
    return "\n".join(lines)
