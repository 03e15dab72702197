"""Reading and writing files: JSON Lines, CSV/TSV tables, atomic writes.

Every reader reports a bad line as an :class:`~heapmetric.errors.InputError` with file and line; every
writer writes to a temporary file in the same folder and renames it, so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success, fsync and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates 0600 files; keep the mode of the file replaced, else make it world-readable (0644)
    try:
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
    except OSError:
        pass
    try:
        with os.fdopen(
            fd, mode, encoding=None if "b" in mode else encoding, newline=None if "b" in mode else ""
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _open(path: str | os.PathLike, mode: str = "rb") -> Any:
    """A handle for ``path`` (``-`` is stdin: its byte buffer where it has one; ``*.gz`` is decompressed
    on the fly); unreadable paths raise
    :class:`InputError` naming the file."""
    name = str(path)
    if name == "-":
        return getattr(sys.stdin, "buffer", sys.stdin) if "b" in mode else sys.stdin
    try:
        if name.endswith(".gz"):
            return gzip.open(path, mode)  # noqa: SIM115 - closed by the caller
        return open(path, mode)  # noqa: SIM115 - closed by the caller
    except IsADirectoryError as exc:
        raise InputError("is a folder, not a file", file=name) from exc
    except FileNotFoundError as exc:
        raise InputError("file not found", file=name) from exc
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=name) from exc


def _decode(data: bytes | str, name: str, line: int | None = None) -> str:
    """UTF-8 text of ``data`` (a leading BOM dropped), or an :class:`InputError` at ``file:line``."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if line is None:
                line = data[: exc.start].count(b"\n") + 1
            raise InputError(
                f"not valid UTF-8 text (byte {data[exc.start]:#04x}); save the file as UTF-8",
                file=name,
                line=line,
            ) from exc
    return data.removeprefix("\ufeff")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; a bad line raises with file:line.

    Files are read as UTF-8 (a leading BOM is skipped); bad bytes, folders and unreadable files raise
    :class:`InputError` with the file (and line)."""
    name = str(path)
    handle = _open(path)
    try:
        number = 0
        while True:
            try:
                raw = handle.readline()
            except OSError as exc:
                raise InputError(f"cannot read the file ({exc.strerror or exc})", file=name) from exc
            if not raw:
                break
            number += 1
            line = _decode(raw, name, number)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"not valid JSON ({exc.msg} at column {exc.colno})", file=name, line=number
                ) from exc
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", file=name, line=number)
            yield number, obj
    finally:
        if handle is not sys.stdin and handle is not getattr(sys.stdin, "buffer", None):
            handle.close()


def _read_text(path: str | os.PathLike) -> str:
    """The whole text of ``path`` (``-`` is stdin), UTF-8 with an optional BOM, errors as :class:`InputError`."""
    name = str(path)
    handle = _open(path)
    try:
        data = handle.read()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=name) from exc
    finally:
        if handle is not sys.stdin and handle is not getattr(sys.stdin, "buffer", None):
            handle.close()
    text = _decode(data, name)
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode reads


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All objects of a JSON Lines file (``-`` is stdin)."""
    return [obj for _, obj in iter_jsonl(path)]


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically as JSON Lines (``-`` is stdout); return how many were written."""
    count = 0
    if str(path) == "-":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        sys.stdout.flush()
        return count
    with atomic_write(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write one JSON document atomically, pretty-printed."""
    with atomic_write(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def table_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``jsonl``, ``json``, ``csv`` or ``tsv``: ``fmt`` if given, else from the file suffix (stdin defaults to jsonl)."""
    if fmt:
        return fmt
    suffix = Path(str(path)).suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".json": "json"}.get(suffix, "jsonl")


def read_table(path: str | os.PathLike, fmt: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a JSONL, CSV or TSV file (or stdin) as ``(line_number, row)``; an empty input is an error."""
    fmt = table_format(path, fmt)
    name = str(path)
    if name != "-" and not Path(name).exists():
        raise InputError("file not found", file=name)
    if fmt == "jsonl":
        rows = list(iter_jsonl(path))
    elif fmt == "json":
        try:
            data = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", file=name, line=exc.lineno) from exc
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError("expected a JSON list of objects", file=name)
        rows = [(i + 1, r) for i, r in enumerate(data)]
    elif fmt in ("csv", "tsv"):
        text = _read_text(path)
        reader = csv.DictReader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t")
        rows = []
        for row in reader:
            if None in row:
                raise InputError(
                    f"more fields than the header's {len(reader.fieldnames or [])}",
                    file=name,
                    line=reader.line_num,
                )
            rows.append((reader.line_num, dict(row)))
    else:
        raise InputError(f"unknown format {fmt!r} (expected jsonl, json, csv or tsv)", file=name)
    if not rows:
        raise InputError("input is empty: no rows to read", file=name)
    return rows


def write_table(path: str | os.PathLike, rows: list[dict[str, Any]], fmt: str | None = None) -> None:
    """Write rows as JSONL, a JSON list, CSV or TSV (by ``fmt`` or suffix; ``-`` is stdout), atomically for files."""
    fmt = table_format(path, fmt)
    if fmt == "jsonl":
        write_jsonl(path, rows)
        return
    if fmt == "json":  # one JSON list, as read_table reads .json
        if str(path) == "-":
            json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
            sys.stdout.flush()
        else:
            write_json(path, rows)
        return
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    delimiter = "," if fmt == "csv" else "\t"

    def _dump(handle: Any) -> None:
        writer = csv.DictWriter(handle, fieldnames=fields, delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})

    if str(path) == "-":
        _dump(sys.stdout)
    else:
        with atomic_write(path) as handle:
            _dump(handle)
