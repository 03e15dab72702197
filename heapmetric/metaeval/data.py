"""The human judgements a meta-evaluation runs on: a built folder (``heapmetric data build``) or, when none is
given, the raw sources under ``$HEAPMETRIC_DATA`` converted on the fly by :mod:`heapmetric.data`."""

from __future__ import annotations

from pathlib import Path

from heapmetric.errors import InputError, UnknownNameError
from heapmetric.records import Judgement, Preference, Record, read_records

SPLIT_CHOICES = ("test", "validation", "train", "all")


def load_records(
    dataset: str,
    *,
    split: str = "test",
    built: str | Path | None = None,
    data_dir: str | Path | None = None,
    criteria: list[str] | None = None,
) -> list[Record]:
    """Judgements and native preferences of ``dataset`` in ``split`` (``all``: every split).

    ``built`` is a ``data build`` output folder (``<built>/<dataset>/<split>.jsonl``); without it the converter
    of ``dataset`` reads ``data_dir`` (default ``$HEAPMETRIC_DATA``). Preferences that ``data build`` derives
    from graded judgements are dropped: the harness derives pairwise accuracy from the scores themselves.
    ``criteria`` keeps only those criteria; an unknown one raises with the dataset's criteria listed.
    """
    if split not in SPLIT_CHOICES:
        raise InputError(f"unknown split {split!r} (expected {', '.join(SPLIT_CHOICES)})", field="split")
    splits = ("train", "validation", "test") if split == "all" else (split,)
    if built is not None:
        root = Path(built)
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist"
            raise InputError(
                f"--data folder {what} (expected a `heapmetric data build` output)", file=str(root)
            )
        folder = root / dataset
        if not folder.is_dir():
            known = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise UnknownNameError(f"dataset in {built}", dataset, known)
        records: list[Record] = []
        for s in splits:
            path = folder / f"{s}.jsonl"
            if not path.is_file():
                raise InputError("split file not found (run `heapmetric data build`)", file=str(path))
            records.extend(read_records(path))
        # derived preferences name the two judgements they come from (heapmetric.data.preferences)
        records = [r for r in records if not (isinstance(r, Preference) and "derived_from" in r.meta)]
    else:
        from heapmetric.data import get_converter
        from heapmetric.data.splits import record_split
        from heapmetric.env import data_dir as default_data_dir

        module = get_converter(dataset)
        folder = default_data_dir(data_dir) / module.FOLDER
        if not folder.is_dir():
            raise InputError(
                "dataset folder not found; set $HEAPMETRIC_DATA or pass --data-dir "
                "(or --data with a `heapmetric data build` folder)",
                file=str(folder),
            )
        records = [r for r in module.convert(folder) if record_split(r) in splits]
    if criteria:
        present = sorted({r.criterion for r in records})
        for c in criteria:
            if c not in present:
                raise UnknownNameError(f"criterion of dataset {dataset!r}", c, present)
        records = [r for r in records if r.criterion in criteria]
    if not records:
        raise InputError(f"dataset {dataset!r} has no records in split {split!r}", field="split")
    return records


def judgements(records: list[Record]) -> list[Judgement]:
    """The graded judgements among ``records``."""
    return [r for r in records if isinstance(r, Judgement)]


def preferences(records: list[Record]) -> list[Preference]:
    """The native preferences among ``records``."""
    return [r for r in records if isinstance(r, Preference)]
