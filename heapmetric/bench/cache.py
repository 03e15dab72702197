"""SQLite annotation cache: a judge's verdict on one pair, keyed by a sha256 of the judge's identity and
config version, the prompt and both outputs, so that re-running a benchmark costs nothing.

Values are JSON documents. Writes are committed per batch, so an interrupted run (an endpoint that goes away,
Ctrl-C) keeps everything judged so far, and the next run resumes from there.

>>> cache = AnnotationCache(":memory:")
>>> key = cache_key("judge-v1", "prompt", "out a", "out b")
>>> cache.put_many({key: {"p": 0.7}})
>>> cache.get_many([key])[key]
{'p': 0.7}
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SCHEMA = "CREATE TABLE IF NOT EXISTS annotations (key TEXT PRIMARY KEY, judge TEXT, value TEXT NOT NULL)"


def cache_key(judge: str, prompt: str | None, output_a: str, output_b: str, **extra: Any) -> str:
    """sha256 over the judge id (name + config version), the prompt (instruction or rendered judge prompt) and
    both outputs, in order; ``extra`` (JSON-serialisable) joins the key when a judge has more settings."""
    payload = json.dumps(
        [judge, prompt, output_a, output_b, extra or None], ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_cache_path() -> Path:
    """``$HEAPMETRIC_CACHE/annotations.sqlite`` (default ``~/.cache/heapmetric/annotations.sqlite``)."""
    from heapmetric.env import cache_dir

    return cache_dir() / "annotations.sqlite"


class AnnotationCache:
    """A key -> JSON store in one SQLite file (``":memory:"`` for a throw-away cache); thread-safe."""

    def __init__(self, path: str | os.PathLike = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        with self._lock, self._conn:
            self._conn.execute(
                "PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY"
            )
            self._conn.execute(SCHEMA)
        self.hits = self.misses = 0

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values among ``keys`` (missing keys are absent from the result)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._conn.execute(
                    f"SELECT key, value FROM annotations WHERE key IN ({marks})", chunk
                ):
                    found[key] = json.loads(value)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, values: Mapping[str, Any], judge: str | None = None) -> None:
        """Store (or replace) values, committed at once."""
        rows = [(k, judge, json.dumps(v, ensure_ascii=False)) for k, v in values.items()]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO annotations (key, judge, value) VALUES (?, ?, ?)", rows
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM annotations").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AnnotationCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
