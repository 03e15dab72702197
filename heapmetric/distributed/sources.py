"""Inputs of the Ray engine, read in shards: JSONL, CSV/TSV, Parquet, a ``datasets`` folder.

The driver makes one streaming pass over the input (:func:`plan_shards`): it reads every row once, hands it to a
check (so a bad row fails with ``file:line`` before any worker starts) and notes where every ``shard_size``-th
row starts (a byte offset for text files, a row number for Parquet and ``datasets``). A Ray task later reads one
shard from that place with :func:`read_shard`, without reading what comes before it. Memory is one row at a
time in the driver and one shard in a task, whatever the input size.

:func:`fingerprint` hashes the input's bytes (every file of a folder): the manifest of a resumable run keeps it,
so a changed input is never mixed with the scores of the old one.

No Ray import here: the readers run in the driver and in Ray tasks alike.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError

FORMATS = ("jsonl", "csv", "tsv", "parquet", "datasets")


@dataclass(frozen=True)
class Source:
    """An input file or folder and how to read it (``columns``: the CSV/TSV header)."""

    path: str
    format: str
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Shard:
    """Rows ``start .. start + rows - 1`` (0-based) of the input; ``offset``: byte offset (text) or row number
    (Parquet, ``datasets``) where the shard's first row starts; ``line``: its line in the file (text) or
    ``start + 1``."""

    index: int
    start: int
    rows: int
    offset: int
    line: int


@dataclass
class Plan:
    """The source, its row count and its shards."""

    source: Source
    n_rows: int
    shards: list[Shard] = field(default_factory=list)


def detect_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``fmt`` if given, else by suffix (``.csv``, ``.tsv``, ``.parquet``/``.pq``; a folder is a ``datasets``
    folder saved with ``save_to_disk``; anything else JSONL). ``.json`` (one JSON list) cannot be sharded."""
    if fmt:
        if fmt not in FORMATS:
            raise InputError(
                f"format {fmt!r} cannot be read in shards by the ray engine (formats: {', '.join(FORMATS)})",
                file=str(path),
            )
        return fmt
    p = Path(path)
    if p.is_dir():
        return "datasets"
    suffix = p.suffix.lower()
    if suffix == ".json":
        raise InputError(
            "a .json file holds one JSON list, which the ray engine cannot read in shards; "
            "convert it to JSON Lines (one object a line) or score it without --engine ray",
            file=str(path),
        )
    return {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "jsonl")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def fingerprint(path: str | os.PathLike) -> str:
    """sha256 of the input's bytes (a folder: every file's relative name and bytes, in name order)."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in _files(root):
        if root.is_dir():
            digest.update(str(file.relative_to(root)).encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def open_source(path: str | os.PathLike, fmt: str | None = None) -> Source:
    """The :class:`Source` for ``path``; a missing path or an unreadable header raises :class:`InputError`."""
    name = str(path)
    if name == "-":
        raise InputError("the ray engine reads a file or folder, not stdin (it reads the input in shards)")
    if not Path(name).exists():
        raise InputError("file not found", file=name)
    fmt = detect_format(name, fmt)
    if fmt in ("csv", "tsv"):
        if Path(name).is_dir():
            raise InputError("is a folder, not a file", file=name)
        with open(name, "rb") as handle:
            first = _text(handle.readline(), name, 1).removeprefix("\ufeff")
        header = next(csv.reader([first], delimiter="," if fmt == "csv" else "\t"), [])
        if not header:
            raise InputError("input is empty: no header row", file=name)
        return Source(name, fmt, tuple(header))
    if fmt == "parquet":
        _require_pyarrow()
    return Source(name, fmt)


def _require_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        from heapmetric.errors import UnsupportedError

        raise UnsupportedError("reading Parquet needs pyarrow: pip install 'heapmetric[ray]'") from exc


def _text(raw: bytes, name: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not valid UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8", file=name, line=line
        ) from exc


# --- row iterators: (row number from 0, line, byte offset or row number where the row starts, row) ---------


def _iter_jsonl(source: Source, offset: int = 0, line: int = 1) -> Iterator[tuple[int, int, dict[str, Any]]]:
    name = source.path
    with open(name, "rb") as handle:
        handle.seek(offset)
        number, pos = line - 1, offset
        for raw in handle:
            number += 1
            start, pos = pos, pos + len(raw)
            text = _text(raw, name, number)
            if start == 0:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"not valid JSON ({exc.msg} at column {exc.colno})", file=name, line=number
                ) from exc
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", file=name, line=number)
            yield number, start, obj


def _iter_delimited(
    source: Source, offset: int | None = None, line: int = 1
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Rows of a CSV/TSV file (quoted fields may span lines) with the byte offset where each record starts."""
    name = source.path
    state = {"pos": 0, "line": 0}

    def lines(handle: Any) -> Iterator[str]:
        for raw in handle:
            state["pos"] += len(raw)
            state["line"] += 1
            yield _text(raw, name, state["line"]).replace("\r\n", "\n")

    with open(name, "rb") as handle:
        if offset is None:  # from the top: skip the header record
            header = handle.readline()
            state["pos"], state["line"] = len(header), 1
        else:
            handle.seek(offset)
            state["pos"], state["line"] = offset, line - 1
        reader = csv.reader(lines(handle), delimiter="," if source.format == "csv" else "\t")
        width = len(source.columns)
        while True:
            start, first_line = state["pos"], state["line"] + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(
                    f"not valid {source.format.upper()} ({exc})", file=name, line=first_line
                ) from exc
            if not record:
                continue  # a blank line, as csv.DictReader skips it
            if len(record) > width:
                raise InputError(f"more fields than the header's {width}", file=name, line=first_line)
            row = dict(zip(source.columns, record + [None] * (width - len(record)), strict=True))
            yield first_line, start, row


def _iter_parquet(source: Source, start: int = 0) -> Iterator[tuple[int, int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source.path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise InputError(f"not a readable Parquet file ({exc})", file=source.path) from exc
    seen = 0
    for group in range(pf.num_row_groups):
        size = pf.metadata.row_group(group).num_rows
        if seen + size <= start:
            seen += size
            continue
        table = pf.read_row_group(group)
        for k, row in enumerate(table.to_pylist()):
            if seen + k >= start:
                yield seen + k + 1, seen + k, row
        seen += size


def _load_dataset(source: Source) -> Any:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        data = load_from_disk(source.path)
    except Exception as exc:  # noqa: BLE001 - datasets raises FileNotFoundError and others
        raise InputError(f"not a datasets folder saved with save_to_disk ({exc})", file=source.path) from exc
    if isinstance(data, DatasetDict):
        if len(data) != 1:
            raise InputError(
                f"holds the splits {', '.join(data)}; give one split's folder (e.g. {source.path}/{next(iter(data))})",
                file=source.path,
            )
        data = next(iter(data.values()))
    if not isinstance(data, Dataset):
        raise InputError("not a datasets folder saved with save_to_disk", file=source.path)
    return data


def _iter_datasets(source: Source, start: int = 0) -> Iterator[tuple[int, int, dict[str, Any]]]:
    data = _load_dataset(source)
    step = 1024
    for begin in range(start, len(data), step):
        chunk = data[begin : begin + step]  # columns -> lists
        names = list(chunk)
        for k in range(len(chunk[names[0]]) if names else 0):
            yield begin + k + 1, begin + k, {c: chunk[c][k] for c in names}


def iter_rows(source: Source) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """``(line, offset, row)`` for every row from the top; see the module docstring for ``offset``."""
    if source.format == "jsonl":
        return _iter_jsonl(source)
    if source.format in ("csv", "tsv"):
        return _iter_delimited(source)
    if source.format == "parquet":
        return _iter_parquet(source)
    return _iter_datasets(source)


def plan_shards(
    source: Source, shard_size: int, check: Callable[[int, dict[str, Any]], None] | None = None
) -> Plan:
    """One pass over ``source``: ``check(line, row)`` on every row (it raises for a bad row) and a :class:`Shard`
    every ``shard_size`` rows. An input without rows raises :class:`InputError`."""
    if shard_size < 1:
        raise InputError(f"shard size must be >= 1, got {shard_size}", field="--shard-size")
    plan = Plan(source, 0)
    for line, offset, row in iter_rows(source):
        if check is not None:
            check(line, row)
        if plan.n_rows % shard_size == 0:
            plan.shards.append(Shard(len(plan.shards), plan.n_rows, 0, offset, line))
        last = plan.shards[-1]
        plan.shards[-1] = Shard(last.index, last.start, last.rows + 1, last.offset, last.line)
        plan.n_rows += 1
    if plan.n_rows == 0:
        raise InputError("input is empty: no rows to read", file=source.path)
    return plan


def read_shard(source: Source, shard: Shard) -> list[tuple[int, dict[str, Any]]]:
    """The ``(line, row)`` pairs of one shard, read from its offset (its rows only)."""
    if source.format == "jsonl":
        rows = _iter_jsonl(source, shard.offset, shard.line)
    elif source.format in ("csv", "tsv"):
        rows = _iter_delimited(source, shard.offset, shard.line)
    elif source.format == "parquet":
        rows = _iter_parquet(source, shard.offset)
    else:
        rows = _iter_datasets(source, shard.offset)
    out: list[tuple[int, dict[str, Any]]] = []
    for line, _, row in rows:
        out.append((line, row))
        if len(out) == shard.rows:
            break
    if len(out) != shard.rows:
        raise InputError(
            f"shard {shard.index} should hold {shard.rows} rows from line {shard.line} but the file has "
            f"{len(out)}: the input changed while it was being scored",
            file=source.path,
        )
    return out
