"""What the two USR dialogue sets share: task ``dialogue``, the six USR qualities and their scales."""

from __future__ import annotations

from heapmetric.records import Judgement

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


def judgement(
    dataset: str,
    item_id: str,
    system: str,
    native: str,
    criterion: str,
    *,
    context: str,
    source: str,
    output: str,
    score: float,
    aggregation: str,
    annotator_scores: list[float] | None = None,
) -> Judgement:
    """One USR rating: id ``<dataset>/<item_id>/<system>/<criterion>``, task ``dialogue``, the quality's scale.

    ``meta`` keeps the aggregation used and the upstream quality name (``native``).
    """
    return Judgement(
        id=f"{dataset}/{item_id}/{system}/{criterion}",
        dataset=dataset,
        task=TASK,
        criterion=criterion,
        item_id=item_id,
        context=context,
        source=source,
        output=output,
        system=system,
        score=score,
        scale=list(SCALES[criterion]),
        annotator_scores=annotator_scores,
        meta={"aggregation": aggregation, "native_criterion": native},
    )
