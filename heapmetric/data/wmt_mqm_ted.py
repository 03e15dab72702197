"""WMT21 TED-talk MQM annotations (Freitag et al. 2021): segment scores of 14–15 systems, en→de and zh→en.

Sources: ``$HEAPMETRIC_DATA/wmt_mqm_ted/mqm_ted_{ende,zhen}.tsv``, one row per marked error (see SOURCE.md).
Each (system, segment) becomes one judgement of ``machine_translation/mqm`` (en→de 529 × 14 = 7,406;
zh→en 529 × 15 = 7,935):

- ``score`` = **minus** the MQM penalty, so that higher is better like every other criterion: Major 5,
  Minor 1, Minor ``Fluency/Punctuation`` 0.1, ``Non-translation`` 25, summed over the segment's errors (one
  rater per segment here). ``scale`` [-25, 0]: 0 = no error, -25 = worst. This equals the released
  ``avg_seg_scores`` files. ``meta.mqm_penalty`` keeps the positive penalty, ``meta.errors`` the
  (category, severity) list, ``annotator_scores`` the single rater's score.
- ``item_id`` = ``<lp>-<seg_id>`` (``lp`` = ``en-de``/``zh-en``, also ``meta.lp``); ``source`` and ``output``
  have the ``<v>…</v>`` error-span tags removed.
- The human translations are systems here (``ref``; zh→en also ``refB``), rated like the others. Each
  output's ``reference(s)`` are the human translations of that segment *other than itself*.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from heapmetric.data._common import require_file
from heapmetric.data.aggregation import check_aggregation
from heapmetric.errors import InputError
from heapmetric.records import Judgement, Record

NAME = "wmt_mqm_ted"
FOLDER = "wmt_mqm_ted"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"
TASK = "machine_translation"
CRITERION = "mqm"
SCALE = (-25.0, 0.0)
FILES = {"en-de": "mqm_ted_ende.tsv", "zh-en": "mqm_ted_zhen.tsv"}
HUMAN_SYSTEMS = ("ref", "refB")
COLUMNS = ("system", "doc", "doc_id", "seg_id", "rater", "source", "target", "category", "severity")
SEVERITIES = ("Major", "Minor", "No-error")
_TAG = re.compile(r"</?v>")


def error_weight(category: str, severity: str) -> float:
    """The MQM weight of one error (Freitag et al. 2021); ``No-error`` rows weigh 0."""
    if severity == "No-error" or category == "No-error":
        return 0.0
    if category.startswith("Non-translation"):
        return 25.0
    if severity == "Major":
        return 5.0
    return 0.1 if category == "Fluency/Punctuation" else 1.0


def _read(path: Path, lp: str) -> list[Judgement]:
    segs: dict[tuple[str, int], dict] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or tuple(header[: len(COLUMNS)]) != COLUMNS:
            raise InputError(f"expected a header starting {' '.join(COLUMNS)}", file=str(path), line=1)
        for row in reader:
            line = reader.line_num
            if len(row) != len(header):
                raise InputError(
                    f"expected {len(header)} tab-separated columns, got {len(row)}", file=str(path), line=line
                )
            d = dict(zip(header, row, strict=True))
            if d["severity"] not in SEVERITIES:
                raise InputError(
                    f"expected one of {', '.join(SEVERITIES)}, got {d['severity']!r}",
                    file=str(path),
                    line=line,
                    field="severity",
                )
            try:
                seg = int(d["seg_id"])
            except ValueError:
                raise InputError(
                    f"expected an integer, got {d['seg_id']!r}", file=str(path), line=line, field="seg_id"
                ) from None
            entry = segs.setdefault(
                (d["system"], seg),
                {
                    "source": _TAG.sub("", d["source"]).strip(),
                    "target": _TAG.sub("", d["target"]).strip(),
                    "doc": d["doc"],
                    "doc_seg": d["doc_id"],
                    "rater": d["rater"],
                    "penalty": 0.0,
                    "errors": [],
                    "line": line,
                },
            )
            if d["rater"] != entry["rater"]:
                raise InputError(
                    f"expected one rater per (system, segment); {d['rater']!r} after {entry['rater']!r}",
                    file=str(path),
                    line=line,
                    field="rater",
                )
            if d["severity"] != "No-error":
                entry["errors"].append([d["category"], d["severity"]])
            entry["penalty"] += error_weight(d["category"], d["severity"])
    human: dict[int, dict[str, str]] = {}
    for (system, seg), e in segs.items():
        if system in HUMAN_SYSTEMS:
            human.setdefault(seg, {})[system] = e["target"]
    out = []
    for (system, seg), e in sorted(segs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if not e["target"]:
            raise InputError("empty target translation", file=str(path), line=e["line"], field="target")
        penalty = round(e["penalty"], 6)
        if penalty > -SCALE[0] + 1e-6:
            raise InputError(f"MQM penalty {penalty:g} outside [0, 25]", file=str(path), line=e["line"])
        score = -penalty if penalty else 0.0
        refs = [t for s, t in human.get(seg, {}).items() if s != system]
        item_id = f"{lp}-{seg}"
        out.append(
            Judgement(
                id=f"{NAME}/{item_id}/{system}/{CRITERION}",
                dataset=NAME,
                task=TASK,
                criterion=CRITERION,
                item_id=item_id,
                source=e["source"],
                reference=refs[0] if len(refs) == 1 else None,
                references=refs if len(refs) > 1 else None,
                output=e["target"],
                system=system,
                score=score,
                scale=list(SCALE),
                annotator_scores=[score],
                meta={
                    "lp": lp,
                    "doc": e["doc"],
                    "doc_seg": int(e["doc_seg"]) if e["doc_seg"].isdigit() else e["doc_seg"],
                    "rater": e["rater"],
                    "mqm_penalty": penalty,
                    "errors": e["errors"],
                },
            )
        )
    return out


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """All segment-level MQM judgements of both language pairs."""
    check_aggregation(aggregation)
    records: list[Record] = []
    for lp, name in FILES.items():
        records.extend(_read(require_file(Path(folder), name), lp))
    return records
