"""Training and evaluation data from converted HEAP-format folders (``<data_dir>/<dataset>/<split>.jsonl``).

Training examples are (better, worse) pairs per group ``dataset/task/criterion``: for a group with graded
judgements, every two outputs of the same input (``item_id``) whose scores differ (the converters' derived
preference records of such a group hold the same pairs and are not read twice); for a group with only
preference records, those records (ties dropped). Graded judgements also feed the optional pointwise loss, with scores
normalised per group (z-scores on the training split).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from heapmetric.errors import InputError
from heapmetric.records import Judgement, Preference, Record, record_from_dict

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Fields:
    """The input fields shared by every output of one item."""

    task: str
    criterion: str
    source: str | None = None
    context: str | None = None
    reference: str | None = None
    instruction: str | None = None


@dataclass(frozen=True)
class TrainPair:
    """One training pair: ``better`` should score above ``worse``."""

    group: str
    fields: Fields
    better: str
    worse: str
    margin: float = 1.0
    #: probability that ``better`` is the better output: 1.0 for a hard label, an LLM judge's probability
    #: for soft-labelled preferences (``meta.p_a``)
    prob: float = 1.0


@dataclass(frozen=True)
class Graded:
    """One graded output with its normalised target (z-score within its group on the train split)."""

    group: str
    fields: Fields
    output: str
    target: float


@dataclass
class Group:
    """One dataset × task × criterion in one split."""

    name: str
    dataset: str
    task: str
    criterion: str
    judgements: list[Judgement] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    #: preference records dropped on load because the group has grades they were derived from
    dropped_preferences: int = 0


def group_name(r: Record) -> str:
    return f"{r.dataset}/{r.task}/{r.criterion}"


def fields_of(r: Record) -> Fields:
    refs = r.all_references
    return Fields(
        task=r.task,
        criterion=r.criterion,
        source=r.source,
        context=r.context,
        reference=refs[0] if refs else None,
        instruction=r.instruction,
    )


def split_path(data_dir: Path, dataset: str, split: str) -> Path | None:
    """``<dataset>/<split>.jsonl`` or its gzipped twin ``.jsonl.gz``, whichever exists."""
    for name in (f"{split}.jsonl", f"{split}.jsonl.gz"):
        path = data_dir / dataset / name
        if path.exists():
            return path
    return None


def read_split(path: Path) -> list[Record]:
    """Validated records of one (possibly gzipped) JSONL file; a bad line raises with file:line:field."""
    opener = gzip.open if path.suffix == ".gz" else open
    out: list[Record] = []
    with opener(path, "rb") as raw:
        for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", file=str(path), line=number) from exc
            out.append(record_from_dict(obj, file=str(path), line=number))
    return out


def list_datasets(data_dir: Path) -> list[str]:
    """Dataset folders under ``data_dir`` that hold at least a train split."""
    if not data_dir.is_dir():
        raise InputError("data folder not found (run `heapmetric data build` first)", file=str(data_dir))
    return sorted(p.name for p in data_dir.iterdir() if p.is_dir() and split_path(data_dir, p.name, "train"))


def load_groups(
    data_dir: str | Path,
    split: str,
    *,
    datasets: Iterable[str] | None = None,
    exclude_datasets: Iterable[str] = (),
    tasks: Iterable[str] | None = None,
    exclude_tasks: Iterable[str] = (),
    criteria: Iterable[str] | None = None,
    keep_derived_preferences: bool = False,
) -> dict[str, Group]:
    """Records of one split grouped by ``dataset/task/criterion`` after the dataset/task/criterion filters.

    ``criteria`` entries may be ``criterion`` or ``task/criterion``. A dataset named in ``datasets`` that has
    no folder or no such split raises :class:`InputError`. Preference records of a group that also has graded
    judgements are dropped (only counted) unless ``keep_derived_preferences``: training and evaluation derive
    those pairs from the grades.
    """
    data_dir = Path(data_dir)
    names = list(datasets) if datasets else list_datasets(data_dir)
    excluded = set(exclude_datasets)
    tasks = set(tasks) if tasks else None
    exclude_tasks = set(exclude_tasks)
    criteria = set(criteria) if criteria else None
    groups: dict[str, Group] = {}
    for dataset in names:
        if dataset in excluded:
            continue
        path = split_path(data_dir, dataset, split)
        if path is None:
            if datasets:
                raise InputError(
                    f"dataset {dataset!r} has no {split} split",
                    file=str(data_dir / dataset / f"{split}.jsonl"),
                )
            continue
        for r in read_split(path):
            if tasks is not None and r.task not in tasks:
                continue
            if r.task in exclude_tasks:
                continue
            if (
                criteria is not None
                and r.criterion not in criteria
                and f"{r.task}/{r.criterion}" not in criteria
            ):
                continue
            name = group_name(r)
            g = groups.get(name)
            if g is None:
                g = groups[name] = Group(name, r.dataset, r.task, r.criterion)
            (g.preferences if isinstance(r, Preference) else g.judgements).append(r)
        if not keep_derived_preferences:
            for g in groups.values():
                if g.dataset == dataset and g.judgements and g.preferences:
                    g.dropped_preferences += len(g.preferences)
                    g.preferences = []
    return groups


def judgement_pairs(
    judgements: list[Judgement], *, min_gap: float = 0.0, max_per_item: int | None = None, seed: int = 0
) -> list[tuple[Judgement, Judgement]]:
    """(better, worse) pairs of outputs for the same ``item_id`` whose scores differ by more than ``min_gap``.

    With ``max_per_item``, a seeded random subset of each item's pairs is kept.
    """
    import random

    by_item: dict[str, list[Judgement]] = defaultdict(list)
    for j in judgements:
        by_item[j.item_id].append(j)
    rng = random.Random(seed)
    out: list[tuple[Judgement, Judgement]] = []
    for item_id in sorted(by_item):
        js = by_item[item_id]
        pairs = []
        for i in range(len(js)):
            for k in range(i + 1, len(js)):
                a, b = js[i], js[k]
                if a.output == b.output or abs(a.score - b.score) <= min_gap:
                    continue
                pairs.append((a, b) if a.score > b.score else (b, a))
        if max_per_item is not None and len(pairs) > max_per_item:
            pairs = rng.sample(pairs, max_per_item)
        out.extend(pairs)
    return out


def better_worse(p: Preference) -> tuple[str, str] | None:
    """``(better output, worse output)`` of a preference record; None for a tie."""
    if p.label == "tie":
        return None
    return (p.output_a, p.output_b) if p.label == "a" else (p.output_b, p.output_a)


def soft_label(p: Preference) -> float:
    """P(the labelled winner is better): ``meta.p_a`` (an LLM judge's probability that ``output_a`` is better)
    turned towards the label's side, else 1.0 (a hard label)."""
    p_a = p.meta.get("p_a") if p.meta else None
    if not isinstance(p_a, (int, float)) or isinstance(p_a, bool) or not 0.0 <= p_a <= 1.0:
        return 1.0
    return float(p_a) if p.label == "a" else 1.0 - float(p_a)


def length_balanced(pairs: list[TrainPair], *, seed: int = 0) -> list[TrainPair]:
    """``pairs`` with as many "the better output is longer" as "the better output is shorter" pairs.

    Length is counted in whitespace words. The larger side is subsampled (seeded) to the smaller side's size;
    pairs of equal length are all kept. The original order is preserved.
    """
    import random

    longer = [i for i, p in enumerate(pairs) if len(p.better.split()) > len(p.worse.split())]
    shorter = [i for i, p in enumerate(pairs) if len(p.better.split()) < len(p.worse.split())]
    big, small = (longer, shorter) if len(longer) >= len(shorter) else (shorter, longer)
    drop = set(random.Random(seed).sample(big, len(big) - len(small)))
    return [p for i, p in enumerate(pairs) if i not in drop]


@dataclass
class TrainingData:
    """Pairs and graded examples per group, plus a summary of what was used and what was not."""

    pairs: dict[str, list[TrainPair]]
    graded: dict[str, list[Graded]]
    summary: dict[str, dict]
    warnings: list[str]


def build_training_data(
    groups: dict[str, Group],
    *,
    judgement_pairs_enabled: bool = True,
    min_gap: float = 0.0,
    max_pairs_per_item: int | None = None,
    length_balance: Iterable[str] = (),
    seed: int = 0,
) -> TrainingData:
    """Turn grouped train records into pairs (and graded examples); a group with no pairs is reported.

    Groups of the datasets named in ``length_balance`` keep as many pairs whose better output is the longer one
    as pairs whose better output is the shorter one (a seeded subsample of the larger side; equal lengths are
    kept), so the training signal of a judge that favours length carries no length preference.
    """
    balanced = set(length_balance)
    pairs: dict[str, list[TrainPair]] = {}
    graded: dict[str, list[Graded]] = {}
    summary: dict[str, dict] = {}
    warnings: list[str] = []
    for name in sorted(groups):
        g = groups[name]
        group_pairs: list[TrainPair] = []
        source = "preferences"
        # Graded groups train on pairs derived here from the grades (the converters' derived preference
        # records for such groups hold the same pairs); only groups without grades use preference records.
        use_judgements = bool(g.judgements) and judgement_pairs_enabled
        for p in [] if use_judgements else g.preferences:
            oriented = better_worse(p)
            if oriented is None or oriented[0] == oriented[1]:
                continue
            better, worse = oriented
            margin = abs(p.margin) if p.margin is not None else 1.0
            prob = soft_label(p)
            group_pairs.append(TrainPair(name, fields_of(p), better, worse, margin, prob))
        if use_judgements:
            source = "judgements"
            for better, worse in judgement_pairs(
                g.judgements, min_gap=min_gap, max_per_item=max_pairs_per_item, seed=seed
            ):
                group_pairs.append(
                    TrainPair(
                        name, fields_of(better), better.output, worse.output, better.score - worse.score
                    )
                )
        length_dropped = 0
        if g.dataset in balanced and group_pairs:
            kept = length_balanced(group_pairs, seed=seed)
            length_dropped = len(group_pairs) - len(kept)
            group_pairs = kept
        if g.judgements:
            scores = [j.score for j in g.judgements]
            mean = statistics.fmean(scores)
            sd = statistics.pstdev(scores) if len(scores) > 1 else 0.0
            sd = sd if sd > 0 and math.isfinite(sd) else 1.0
            graded[name] = [Graded(name, fields_of(j), j.output, (j.score - mean) / sd) for j in g.judgements]
        if group_pairs:
            pairs[name] = group_pairs
        else:
            why = (
                "only ties"
                if g.preferences
                else "no two outputs of one input with different scores"
                if g.judgements
                else "no records"
            )
            msg = f"{name}: no training pairs ({why}); this criterion gets no pairwise training signal"
            warnings.append(msg)
            log.info(msg)
        summary[name] = {
            "pairs": len(group_pairs),
            "pair_source": source if group_pairs else None,
            "judgements": len(g.judgements),
            "preferences": len(g.preferences) + g.dropped_preferences,
        }
        if g.dataset in balanced:
            summary[name]["length_balance_dropped"] = length_dropped
    names = [name for name, counts in summary.items() if not counts["pairs"]]
    if names:  # one line, so `-q` stays short; each group's reason is logged above and kept in the summary
        log.warning(
            "%d group(s) get no pairwise training signal (no training pairs): %s",
            len(names),
            ", ".join(names),
        )
    return TrainingData(pairs, graded, summary, warnings)
