"""Robustness pairs: real outputs against rule-based perturbations of themselves (``heapmetric data perturb``).

For every ``dataset/task/criterion`` group of a split and every perturbation that breaks that criterion
(:func:`heapmetric.data.perturbations.perturbations_for`), up to ``per_group`` originals are perturbed and each
becomes a :class:`~heapmetric.records.Preference` with ``output_a`` the original, ``output_b`` the perturbed
text and ``label`` ``"a"``. The pair keeps the original's input fields, ``item_id``, task and criterion;
``dataset`` is ``"perturbations"`` and ``meta`` records ``label_source: "rule"``, the ``perturbation``, the
``origin_dataset`` and the ``origin_id``.

Originals are good outputs only (a bad original makes a noisy pair): from graded data, outputs scored at or
above their item's median and above the bottom of the scale; from preference data, the preferred output (ties
skipped). A pair always lands in the split its original came from, and the outputs it borrows from other
items (off-topic answers, entity pools) come from that split too, so no test-split text reaches training.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heapmetric.data.perturbations import PERTURBATIONS, PerturbContext, perturb, perturbations_for
from heapmetric.errors import InputError, UnknownNameError
from heapmetric.records import Judgement, Preference, Record

DATASET = "perturbations"
"""The ``dataset`` of every robustness pair (and the default folder name under a data build)."""

STATS_FILE = "stats.json"
MAX_DONORS = 40


@dataclass(frozen=True)
class Original:
    """A good output of one item with the fields it is judged against."""

    record: Record
    output: str
    system: str | None

    @property
    def donor_key(self) -> tuple[Any, ...]:
        """Outputs are only borrowed between items of the same language pair / subset."""
        meta = self.record.meta or {}
        return (meta.get("lp"), meta.get("subset"))


def select_originals(judgements: Sequence[Judgement], preferences: Sequence[Preference]) -> list[Original]:
    """Good outputs of one group: graded outputs at or above their item's median score and above the scale's
    lowest value; the preferred side of each preference (ties skipped). Duplicates within an item are
    dropped; the order is the input order."""
    out: list[Original] = []
    seen: set[tuple[str, str]] = set()

    def add(record: Record, output: str, system: str | None) -> None:
        key = (record.item_id, " ".join(output.split()))
        if key not in seen and output.strip():
            seen.add(key)
            out.append(Original(record, output, system))

    by_item: dict[str, list[Judgement]] = defaultdict(list)
    for j in judgements:
        by_item[j.item_id].append(j)
    for j in judgements:
        median = statistics.median(x.score for x in by_item[j.item_id])
        if j.score >= median and j.score > j.scale[0]:
            add(j, j.output, j.system)
    for p in preferences:
        if p.label == "a":
            add(p, p.output_a, p.system_a)
        elif p.label == "b":
            add(p, p.output_b, p.system_b)
    return out


def _rng(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256("\0".join([str(seed), *parts]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _spread(originals: Sequence[Original], rng: random.Random) -> list[Original]:
    """Originals in a seeded order that visits every item once before any item a second time."""
    by_item: dict[str, list[Original]] = defaultdict(list)
    for o in originals:
        by_item[o.record.item_id].append(o)
    items = sorted(by_item)
    rng.shuffle(items)
    for item in items:
        rng.shuffle(by_item[item])
    out: list[Original] = []
    depth = 0
    while len(out) < len(originals):
        out.extend(by_item[i][depth] for i in items if depth < len(by_item[i]))
        depth += 1
    return out


def _check_names(only: Sequence[str] | None) -> None:
    for name in only or ():
        if name not in PERTURBATIONS:
            raise UnknownNameError("perturbation", name, PERTURBATIONS)


def make_pair(original: Original, name: str, perturbed: str, split: str) -> Preference:
    """The preference record "original better than its perturbation ``name``"."""
    r = original.record
    return Preference(
        id=f"{DATASET}/{name}/{r.task}/{r.criterion}/{r.id}",
        dataset=DATASET,
        task=r.task,
        criterion=r.criterion,
        item_id=r.item_id,
        instruction=r.instruction,
        source=r.source,
        context=r.context,
        reference=r.reference,
        references=list(r.references) if r.references else None,
        output_a=original.output,
        output_b=perturbed,
        label="a",
        system_a=original.system,
        meta={
            "label_source": "rule",
            "perturbation": name,
            "origin_dataset": r.dataset,
            "origin_id": r.id,
            "origin_split": split,
        },
    )


@dataclass
class PairStats:
    """Counts of one split: pairs per perturbation × ``task/criterion``, per origin dataset, and how many
    originals a perturbation did not apply to (nothing to swap, too short)."""

    split: str
    pairs: Counter
    datasets: Counter
    inapplicable: Counter

    def to_dict(self) -> dict[str, Any]:
        cells: dict[str, dict[str, int]] = defaultdict(dict)
        for (name, crit), n in sorted(self.pairs.items()):
            cells[name][crit] = n
        return {
            "pairs": sum(self.pairs.values()),
            "by_perturbation": {n: sum(c.values()) for n, c in cells.items()},
            "by_perturbation_criterion": dict(cells),
            "by_origin_dataset": dict(sorted(self.datasets.items())),
            "inapplicable": dict(sorted(self.inapplicable.items())),
        }


def pairs_for_groups(
    groups: Iterable[Any],
    split: str,
    *,
    per_group: int = 100,
    seed: int = 0,
    only: Sequence[str] | None = None,
) -> tuple[list[Preference], PairStats]:
    """Robustness pairs of already loaded groups (``training.data.Group``-like objects with ``dataset``,
    ``task``, ``criterion``, ``judgements``, ``preferences``), all from one ``split``.

    At most ``per_group`` pairs per (perturbation, group); the originals, the donors and each perturbation
    are drawn from generators seeded by ``seed`` and stable names, so a call gives the same pairs every time.
    """
    from heapmetric import registry

    if per_group < 1:
        raise InputError(f"must be >= 1, got {per_group}", field="--per-group")
    _check_names(only)
    stats = PairStats(split, Counter(), Counter(), Counter())
    out: list[Preference] = []
    for g in sorted(groups, key=lambda g: (g.dataset, g.task, g.criterion)):
        if g.dataset == DATASET:
            continue
        try:
            crit = registry.get_criterion(g.task, g.criterion)
        except UnknownNameError:
            continue
        names = [n for n in perturbations_for(crit.id, crit.fields) if not only or n in only]
        originals = select_originals(g.judgements, g.preferences)
        if not names or not originals:
            continue
        donors: dict[tuple[Any, ...], list[Original]] = defaultdict(list)
        for o in originals:
            donors[o.donor_key].append(o)
        group_name = f"{g.dataset}/{g.task}/{g.criterion}"
        for name in names:
            made = 0
            for o in _spread(originals, _rng(seed, "order", name, group_name)):
                if made >= per_group:
                    break
                others = [d.output for d in donors[o.donor_key] if d.record.item_id != o.record.item_id]
                pick = _rng(seed, "donors", name, group_name, o.record.id)
                ctx = PerturbContext(
                    source=o.record.source,
                    context=o.record.context,
                    reference=o.record.all_references[0] if o.record.all_references else None,
                    donors=pick.sample(others, min(MAX_DONORS, len(others))),
                    task=g.task,
                )
                key = f"{g.dataset}\0{o.record.item_id}\0{o.output}"
                perturbed = perturb(name, o.output, seed=seed, key=key, ctx=ctx)
                if perturbed is None:
                    stats.inapplicable[name] += 1
                    continue
                out.append(make_pair(o, name, perturbed, split))
                stats.pairs[(name, crit.id)] += 1
                stats.datasets[g.dataset] += 1
                made += 1
    return out, stats


def build_pairs(
    data_dir: str | Path,
    splits: Sequence[str],
    out_dir: str | Path,
    *,
    per_group: int = 100,
    seed: int = 0,
    only: Sequence[str] | None = None,
    report: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write ``out_dir/<split>.jsonl`` (atomically) for each split of a ``data build`` folder and
    ``out_dir/stats.json``; return the stats. The output folder's own dataset is never read back."""
    from heapmetric.io import write_json
    from heapmetric.records import write_records
    from training.data import load_groups

    _check_names(only)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    result: dict[str, Any] = {"version": 1, "seed": seed, "per_group": per_group, "splits": {}}
    for split in splits:
        groups = load_groups(data_dir, split, exclude_datasets=[DATASET, out_dir.name])
        pairs, stats = pairs_for_groups(groups.values(), split, per_group=per_group, seed=seed, only=only)
        ids = Counter(p.id for p in pairs)
        dup = next((i for i, n in ids.items() if n > 1), None)
        if dup is not None:
            raise InputError(f"duplicate pair id {dup!r}", file=str(out_dir / f"{split}.jsonl"))
        write_records(out_dir / f"{split}.jsonl", pairs)
        result["splits"][split] = stats.to_dict()
        if report:
            report(f"{split}: {len(pairs)} pairs -> {out_dir / f'{split}.jsonl'}")
    write_json(out_dir / STATS_FILE, result)
    return result


def format_stats(stats: dict[str, Any]) -> str:
    """A plain-text table: pairs per perturbation and split."""
    splits = list(stats["splits"])
    names = sorted({n for s in stats["splits"].values() for n in s["by_perturbation"]})
    width = max([len("perturbation"), *(len(n) for n in names)])
    lines = [f"{'perturbation':<{width}} " + " ".join(f"{s:>10}" for s in splits)]
    for n in names:
        lines.append(
            f"{n:<{width}} "
            + " ".join(f"{stats['splits'][s]['by_perturbation'].get(n, 0):>10}" for s in splits)
        )
    lines.append(f"{'total':<{width}} " + " ".join(f"{stats['splits'][s]['pairs']:>10}" for s in splits))
    return "\n".join(lines)
