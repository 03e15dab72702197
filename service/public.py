"""What the service shows of the loaded model: a name, never a local path.

``heapmetric serve --model /srv/models/run-7`` loads the folder, and the judge's own metadata names it by
that path (right for a local Python user). Over HTTP it becomes the model's public name: the ``name``
declared in the folder's ``heapmetric.json`` when it has one, else the folder's own name (``run-7``). A hub id
(``org/model``) is already a public name and is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_GENERATIVE = "generative:"


def _is_local(text: str, path: Path) -> bool:
    """A filesystem path rather than a hub id (``org/name``, which is not a folder here)."""
    return path.exists() or text.startswith((".", "/", "~", "\\")) or text.count("/") > 1 or "\\" in text


def public_model_name(model: str | None) -> str | None:
    """The name the service shows for ``--model``: a hub id unchanged; for a local folder the ``name`` its
    ``heapmetric.json`` declares, else its base name; ``generative:`` is kept in front. None stays None."""
    if not model:
        return None
    prefix, text = (_GENERATIVE, model[len(_GENERATIVE) :]) if model.startswith(_GENERATIVE) else ("", model)
    path = Path(text).expanduser()
    if not _is_local(text, path):
        return model
    declared = None
    try:
        spec = json.loads((path / "heapmetric.json").read_text(encoding="utf-8"))
        declared = spec.get("name") if isinstance(spec, dict) else None
    except (OSError, ValueError):
        pass
    if not isinstance(declared, str) or not declared.strip() or _is_local(declared, Path(declared)):
        declared = None
    return prefix + (declared or path.resolve().name or "model")


class PathRedactor:
    """Replaces the local path of the served model (as given, expanded and resolved) by its public name in
    any string of a JSON-like value; any other string that is an absolute path to an existing file or
    folder becomes that entry's base name."""

    def __init__(self, model: str | None) -> None:
        self.name = public_model_name(model)
        self._paths: list[str] = []
        if model and self.name != model:
            text = model[len(_GENERATIVE) :] if model.startswith(_GENERATIVE) else model
            name = self.name[len(_GENERATIVE) :] if self.name.startswith(_GENERATIVE) else self.name
            path = Path(text).expanduser()
            forms = {text, str(path), os.path.abspath(path), str(path.resolve())}
            # longest first, so a resolved path is not half-replaced by a shorter relative form
            self._paths = sorted((f for f in forms if f and f not in (".", "/")), key=len, reverse=True)
            self._name = name

    def text(self, value: str) -> str:
        """One string with every known local path replaced."""
        for form in self._paths:
            if form in value:
                value = value.replace(form, self._name)
        if os.path.isabs(value) and len(value) < 4096 and os.path.exists(value):
            value = os.path.basename(value.rstrip("/\\")) or value
        return value

    def __call__(self, value: Any) -> Any:
        """``value`` (str, dict, list, tuple or scalar) with paths redacted, recursively."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        return value
