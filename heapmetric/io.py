"""Reading and writing files: JSON Lines, CSV/TSV tables, atomic writes.

Every reader reports a bad line as an :class:`~heapmetric.errors.InputError` with file and line; every
writer writes to a temporary file in the same folder and renames it, so a crash never leaves half a file.

Output rules shared by every verb (:func:`atomic_write`, :func:`check_output`):

- a regular file (or a new path) is replaced atomically; a symbolic link is followed and its *target* is
  replaced, the link itself is kept;
- a path that exists but is not a regular file (a FIFO, ``/dev/stdout``, a ``>(...)`` process substitution,
  a device) is written through in place, never replaced;
- JSON and JSON Lines output never holds ``NaN``/``Infinity`` (not JSON): non-finite numbers are written as
  ``null`` (an empty cell in CSV/TSV).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError


def _is_special(path: Path) -> bool:
    """True when ``path`` exists (links followed) and is not a regular file or a folder: a FIFO, a device,
    a pipe behind ``/dev/fd/N``."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success, fsync and rename it over ``path``.

    A symbolic link is followed (its target is replaced and the link kept); a path that is not a regular
    file (FIFO, device, process substitution) is opened and written in place instead, never replaced. A
    folder raises :class:`InputError`."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a file", file=str(path))
    if _is_special(path):
        with open(  # noqa: PTH123 - a FIFO or device: write through, no temporary file
            path, mode, encoding=None if "b" in mode else encoding, newline=None if "b" in mode else ""
        ) as handle:
            yield handle
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))
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


def check_output(path: str | os.PathLike, *, folder: bool = False, flag: str = "--out") -> None:
    """Check, before any work, that ``path`` can be written: as a file (``-`` is stdout) or, with ``folder``,
    as an output folder. Creates nothing; raises :class:`InputError` naming ``flag`` and the path when the
    path is a folder where a file is expected (or the reverse), when a parent is a file, or when the file or
    the nearest existing folder is not writable. Special files (FIFO, ``/dev/stdout``) count as writable
    files when they can be opened for writing."""
    name = str(path)
    if not folder and name == "-":
        return
    if not name.strip():
        raise InputError("empty path", field=flag)
    target = Path(name)
    if folder:
        if target.exists() and not target.is_dir():
            raise InputError(f"{name} exists and is not a folder; give a folder", field=flag)
    else:
        if name.endswith(("/", os.sep)) or target.is_dir():
            raise InputError(f"{name} is a folder; give a file name", field=flag)
        if target.is_symlink():
            target = Path(os.path.realpath(target))
        if target.exists():
            if not os.access(target, os.W_OK):
                raise InputError(f"{name} is not writable", field=flag)
            if _is_special(target):
                return
    folder_path = target if folder and target.exists() else target.parent
    while not folder_path.exists() and folder_path != folder_path.parent:
        if folder_path.is_symlink():  # a dangling link in the way
            break
        folder_path = folder_path.parent
    if not folder_path.is_dir():
        raise InputError(f"cannot create {name}: {folder_path} is not a folder", field=flag)
    if not os.access(folder_path, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {name}: folder {folder_path} is not writable", field=flag)


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


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _bad_text_field(obj: Any, field: str | None = None) -> str | None:
    """The name of the first field of ``obj`` holding a lone surrogate (``None`` when there is none)."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return field or "?"
        return None
    if isinstance(obj, dict):
        for key, value in obj.items():
            bad = _bad_text_field(key, field) or _bad_text_field(value, key if field is None else field)
            if bad:
                return bad
    elif isinstance(obj, list):
        for value in obj:
            bad = _bad_text_field(value, field)
            if bad:
                return bad
    return None


def _parse_json(text: str, name: str, line: int | None = None, *, check_text: bool = True) -> Any:
    """``json.loads`` with every failure (bad syntax, too deep, an integer too long, a lone surrogate escape
    such as ``\\ud800``, which is not Unicode text) as an :class:`InputError` at ``file:line``."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise InputError(f"not valid JSON ({exc.msg} at column {exc.colno})", file=name, line=where) from exc
    except RecursionError as exc:
        raise InputError("not valid JSON (nested too deeply)", file=name, line=line) from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise InputError(f"not valid JSON ({exc})", file=name, line=line) from exc
    if check_text and _SURROGATE_ESCAPE.search(text):
        bad = _bad_text_field(obj)
        if bad:
            raise InputError(
                "holds a lone surrogate escape (e.g. \\ud800), which is not valid Unicode text",
                file=name,
                line=line,
                field=bad,
            )
    return obj


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, Infinity, -Infinity) replaced by ``None``, through dicts,
    lists and tuples; everything else unchanged. This is how non-finite numbers reach JSON output: as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps_json(obj: Any, **kwargs: Any) -> str:
    """Standard JSON text of ``obj`` (UTF-8 characters kept): non-finite numbers become ``null``, never the
    non-standard ``NaN``/``Infinity`` tokens."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False, **kwargs)


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
            obj = _parse_json(line, name, number)
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", file=name, line=number)
            yield number, obj
    finally:
        if handle is not sys.stdin and handle is not getattr(sys.stdin, "buffer", None):
            handle.close()


def _read_text(path: str | os.PathLike, *, translate_newlines: bool = True) -> str:
    """The whole text of ``path`` (``-`` is stdin), UTF-8 with an optional BOM, errors as :class:`InputError`;
    ``\\r\\n`` and ``\\r`` become ``\\n`` unless ``translate_newlines`` is false."""
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
    if not translate_newlines:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode reads


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All objects of a JSON Lines file (``-`` is stdin)."""
    return [obj for _, obj in iter_jsonl(path)]


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically as JSON Lines (``-`` is stdout); return how many were written."""
    count = 0
    if str(path) == "-":
        for row in rows:
            sys.stdout.write(dumps_json(row) + "\n")
            count += 1
        sys.stdout.flush()
        return count
    with atomic_write(path) as handle:
        for row in rows:
            handle.write(dumps_json(row) + "\n")
            count += 1
    return count


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write one JSON document atomically, pretty-printed."""
    with atomic_write(path) as handle:
        handle.write(dumps_json(obj, indent=2) + "\n")


def table_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``jsonl``, ``json``, ``csv`` or ``tsv``: ``fmt`` if given, else from the file suffix (stdin defaults to jsonl)."""
    if fmt:
        return fmt
    suffix = Path(str(path)).suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".json": "json"}.get(suffix, "jsonl")


#: the largest CSV/TSV field read (the csv module's default, 131,072 characters, is far below what a JSONL
#: line may hold; a long article in one cell is ordinary)
CSV_FIELD_LIMIT = 2**31 - 1


def _read_delimited(text: str, name: str, delimiter: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows of CSV/TSV ``text`` as ``(line, row)`` (the line a row ends on). Quoting is strict: an unterminated
    quoted field or text after a closing quote raises :class:`InputError` naming the line the row starts on,
    so a stray quote never swallows the rows after it; duplicate header names and rows with more fields than
    the header are errors too. Newlines inside quoted fields are kept as they are."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    lines = io.StringIO(text, newline="").readlines()
    consumed = 0

    def counted() -> Iterator[str]:
        nonlocal consumed
        for line in lines:
            consumed += 1
            yield line

    reader = csv.DictReader(counted(), delimiter=delimiter, strict=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    done = 0  # lines consumed by the header and the rows read so far

    def quoting_error(exc: csv.Error) -> InputError:
        start = next((i + 1 for i in range(done, len(lines)) if lines[i].strip()), done + 1)
        reason = str(exc).replace("\t", "\\t")
        if "unexpected end of data" in reason:
            reason = "unterminated quoted field: a quote opened on this line is never closed"
        hint = (
            "; a field that starts with a quote is read as a quoted field: quote the whole field and double "
            'the quotes inside ("a ""quoted"" word"), or use JSONL'
        )
        return InputError(f"bad CSV quoting ({reason}){hint}", file=name, line=start)

    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise quoting_error(exc) from exc
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(f"duplicate column name(s) {', '.join(map(repr, dupes))}", file=name, line=consumed)
    done = consumed
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise quoting_error(exc) from exc
        done = consumed
        if None in row:
            raise InputError(
                f"more fields than the header's {len(reader.fieldnames or [])}", file=name, line=consumed
            )
        rows.append((consumed, dict(row)))
    return rows


def read_table(path: str | os.PathLike, fmt: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a JSONL, CSV or TSV file (or stdin) as ``(line_number, row)``; an empty input is an error."""
    fmt = table_format(path, fmt)
    name = str(path)
    if name != "-" and not Path(name).exists():
        raise InputError("file not found", file=name)
    if fmt == "jsonl":
        rows = list(iter_jsonl(path))
    elif fmt == "json":
        data = _parse_json(_read_text(path), name, check_text=False)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError("expected a JSON list of objects", file=name)
        rows = [(i + 1, r) for i, r in enumerate(data)]
        for number, row in rows:
            bad = _bad_text_field(row)
            if bad:
                raise InputError(
                    "holds a lone surrogate escape (e.g. \\ud800), which is not valid Unicode text",
                    file=name,
                    line=number,
                    field=bad,
                )
    elif fmt in ("csv", "tsv"):
        rows = _read_delimited(
            _read_text(path, translate_newlines=False), name, "," if fmt == "csv" else "\t"
        )
    else:
        raise InputError(f"unknown format {fmt!r} (expected jsonl, json, csv or tsv)", file=name)
    if not rows:
        raise InputError("input is empty: no rows to read", file=name)
    return rows


def _cell(value: Any) -> Any:
    """A CSV/TSV cell: lists and objects as JSON text, non-finite numbers as an empty cell."""
    if isinstance(value, (list, dict)):
        return dumps_json(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def write_table(path: str | os.PathLike, rows: list[dict[str, Any]], fmt: str | None = None) -> None:
    """Write rows as JSONL, a JSON list, CSV or TSV (by ``fmt`` or suffix; ``-`` is stdout), atomically for files."""
    fmt = table_format(path, fmt)
    if fmt == "jsonl":
        write_jsonl(path, rows)
        return
    if fmt == "json":  # one JSON list, as read_table reads .json
        if str(path) == "-":
            sys.stdout.write(dumps_json(rows, indent=2) + "\n")
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
            writer.writerow({k: _cell(v) for k, v in row.items()})

    if str(path) == "-":
        _dump(sys.stdout)
    else:
        with atomic_write(path) as handle:
            _dump(handle)
