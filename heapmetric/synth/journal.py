"""An append-only journal of finished synthesis steps, keyed by stable ids, so that a killed run resumes.

Each finished step (one LLM stage for one item, or one score) is one JSON line ``{"k": key, "stage", "ok",
"v": value, "usage", "t", "err"?}``, appended with a single ``write`` on an ``O_APPEND`` descriptor and
fsynced. A process killed mid-write can leave at most a partial last line: on open, that tail is cut off, so
the file is always a list of whole records, and a restart redoes only the steps that have no record.
Keys are sha256 digests of the step's identity (see :func:`step_key`). A key is normally written once; a
failed step may be retried and replaced (``append(..., replace=True)``), and on load the last record wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any


def step_key(*parts: Any) -> str:
    """sha256 (hex) of the JSON encoding of ``parts``: a stable id across runs, machines and Python versions."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


class Journal:
    """The journal file ``path``: :meth:`get` a finished step, :meth:`append` a newly finished one."""

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.entries: dict[str, dict[str, Any]] = {}
        self.recovered_bytes = 0
        self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self.appended = 0

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
        for raw in data[:good].splitlines():
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a torn line followed by later appends cannot happen, but never crash on it
            self.entries[entry["k"]] = entry
        if good < len(data):
            self.recovered_bytes = len(data) - good
            with open(self.path, "r+b") as handle:
                handle.truncate(good)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> dict[str, Any] | None:
        """The finished step with this key, or None."""
        return self.entries.get(key)

    def append(self, entry: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
        """Record a finished step (``entry["k"]`` is its key); returns the entry that now holds the key (the
        existing one, unless ``replace``)."""
        with self._lock:
            existing = self.entries.get(entry["k"])
            if existing is not None and not replace:
                return existing
            line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
            os.write(self._fd, line)
            if self.fsync:
                os.fsync(self._fd)
            self.entries[entry["k"]] = entry
            self.appended += 1
            return entry

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
