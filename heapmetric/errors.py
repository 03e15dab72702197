"""The small error hierarchy every part of heapmetric raises.

The CLI prints ``str(error)`` on one line and exits with status 2 for any :class:`HeapmetricError`;
``--debug`` adds the traceback. Wrap lower-level failures with ``raise ... from exc``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HeapmetricError(Exception):
    """Base class: a failure the user can fix, reported in one line."""


class InputError(HeapmetricError, ValueError):
    """Bad input data. Carries where it is (file, line, field) so the message can point at it: ``file:line``,
    or ``item N`` when a line is given without a file (the N-th item given to the Python API)."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
    ) -> None:
        self.file, self.line, self.field, self.reason = file, line, field, message
        where = ""
        if file is not None:
            where = str(file) + (f":{line}" if line is not None else "")
        elif line is not None:
            where = f"item {line}"
        if field is not None:
            where = f"{where} field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)


class ModelLoadError(HeapmetricError):
    """A model could not be loaded; the message says what to install or pass to ``--model``."""


class UnsupportedError(HeapmetricError):
    """A feature was asked for where it cannot run (e.g. 4-bit quantization without bitsandbytes)."""


class UnknownNameError(HeapmetricError, KeyError):
    """A registry name (criterion, task, dataset, judge, backend) that does not exist; suggests close names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(set(known))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = "" if close or len(known) > 20 else f" (known: {', '.join(known)})"
        self.kind, self.name, self.suggestions = kind, name, close
        super().__init__(f"unknown {kind} {name!r}{hint}{listing}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]
