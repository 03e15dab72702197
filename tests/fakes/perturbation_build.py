"""A tiny ``data build`` folder for the robustness-pair and robustness-suite tests."""

from __future__ import annotations

from pathlib import Path

from heapmetric.records import Judgement, write_records

SUMMARIES = [
    "Paul Merson was brought on with seven minutes left in the 0-0 draw with Burnley . He did not score.",
    "Storms hit the coast of Florida on Monday , leaving 12 homes without power . Crews are at work.",
    "Chelsea made an offer for Yoshinori Muto , a 22-year-old forward . He may join Vitesse Arnhem on loan.",
    "A volunteer deputy fired a handgun instead of a taser , killing a man . Experts criticised the holster.",
]


def judgement(item: int, system: str, score: float, output: str, criterion: str = "coherence") -> Judgement:
    return Judgement(
        id=f"toy/{item}/{system}/{criterion}",
        dataset="toy",
        task="summarization",
        criterion=criterion,
        item_id=f"doc-{item}",
        source=SUMMARIES[item] + " More article text follows here.",
        output=output,
        score=score,
        scale=[1.0, 5.0],
        system=system,
    )


def toy_build(root: Path, items_per_split: int = 4) -> Path:
    """A tiny 'data build' folder: each split holds its own documents, each with a good and a bad summary."""
    for s, split in enumerate(("train", "validation", "test")):
        records = []
        for i in range(items_per_split):
            item = (s * items_per_split + i) % len(SUMMARIES)
            text = f"{SUMMARIES[item]} ({split} {i})"
            for crit in ("coherence", "consistency", "relevance"):
                j_good = judgement(item, "good", 4.0, text, crit)
                j_bad = judgement(item, "bad", 1.5, "bad " + text, crit)
                for j in (j_good, j_bad):
                    j.item_id, j.id = f"{split}-{i}", f"{j.id}/{split}{i}"
                records += [j_good, j_bad]
        (root / "toy").mkdir(parents=True, exist_ok=True)
        write_records(root / "toy" / f"{split}.jsonl", records)
    return root
