"""What the two USR dialogue sets share: task ``dialogue``, the six USR qualities and their scales."""

from __future__ import annotations

TASK = "dialogue"
#: criterion -> human scale; names follow the USR paper's qualities.
SCALES: dict[str, tuple[float, float]] = {
    "understandable": (0.0, 1.0),
    "natural": (1.0, 3.0),
    "maintains_context": (1.0, 3.0),
    "engaging": (1.0, 3.0),
    "uses_knowledge": (0.0, 1.0),
    "overall": (1.0, 5.0),
}


def history(turns: list[str]) -> str:
    """Dialogue history as one turn per line, surrounding blanks removed."""
    return "\n".join(t.strip() for t in turns if t.strip())
