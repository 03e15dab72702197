"""The one interface every judge implements: the trained metric, the generative LLM judge, an
OpenAI-compatible endpoint, the heapmetric HTTP client, fixed annotations, simple baselines.

Field names are the same on every layer (records, CLI ``--map``, Python API, HTTP schema):

- ``output``: the text being judged.
- ``source``: the input it answers (article, meaning representation, user prompt, question).
- ``context``: extra context (dialogue history, knowledge snippet, persona).
- ``reference``: a reference output (``references`` for several; judges read the first unless they say so).
- ``instruction``: a free-text *evaluation* instruction that overrides ``task``/``criterion``.
- ``task`` / ``criterion``: a registered criterion (``heapmetric criteria``).

Meta-evaluation, benchmarks and synthesis accept any :class:`Judge` and never branch on its class.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from heapmetric.errors import InputError

ITEM_FIELDS = (
    "output",
    "source",
    "context",
    "reference",
    "references",
    "instruction",
    "task",
    "criterion",
    "system",
    "id",
)


# --- the one rule for input values (CLI file rows, keyword API, item dicts) ---------------------------------


def text_value(
    value: Any,
    field: str,
    *,
    file: str | None = None,
    line: int | None = None,
    from_file: bool = False,
) -> str | None:
    """A text field's value as ``str`` (``None`` stays ``None``), or :class:`InputError` naming file/line/field.

    The rule, the same for ``score`` and ``compare`` and for every entry point:

    - a string is kept as it is, unless it holds a lone surrogate (``"\\ud800"``), which is not Unicode text;
    - from the Python API (``from_file=False``) anything else is an error (a number, a list, a dict);
      ``id`` also takes an integer;
    - from a file (``from_file=True``, JSONL/JSON values) a number, boolean, list or object is read as its JSON
      text (``42`` -> ``"42"``, ``true`` -> ``"true"``), except non-finite numbers (``NaN``, ``Infinity``),
      which are an error: they are not text and not JSON.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(
                f"holds a lone surrogate ({value[exc.start]!r} at character {exc.start}), "
                "which is not valid Unicode text",
                file=file,
                line=line,
                field=field,
            ) from exc
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(
            f"expected text, got the non-finite number {value!r}", file=file, line=line, field=field
        )
    if field == "id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if from_file and isinstance(value, (int, float, bool, list, dict)):
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise InputError(
                "expected text, got a value holding a non-finite number (NaN or Infinity)",
                file=file,
                line=line,
                field=field,
            ) from exc
    raise InputError(f"expected a string, got {type(value).__name__}", file=file, line=line, field=field)


def references_value(
    value: Any,
    field: str = "references",
    *,
    file: str | None = None,
    line: int | None = None,
    from_file: bool = False,
) -> tuple[str, ...]:
    """The references of one item as a tuple of strings (empty when there are none).

    One rule for ``reference`` and ``references`` everywhere: ``None`` or ``""`` is no reference; a string is
    *one* reference (never split into characters); a list or tuple of strings is several (empty strings
    dropped). In a file cell (``from_file``) a string holding a JSON list (``'["r1", "r2"]'``, how CSV/TSV
    carry lists) is that list. Judges that read one reference read the first. Anything else (a number, an
    object, a list holding a non-string) is an :class:`InputError` naming file/line/field."""
    if value is None or (isinstance(value, str) and value == ""):
        return ()
    if isinstance(value, str):
        if from_file and value.lstrip().startswith("["):
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):
                parsed = None
            if isinstance(parsed, list):
                return references_value(parsed, field, file=file, line=line)
        return (text_value(value, field, file=file, line=line) or "",)
    if isinstance(value, (list, tuple)):
        refs = []
        for ref in value:
            if not isinstance(ref, str):
                got = type(ref).__name__
                raise InputError(
                    f"expected one string or a list of strings, got a list holding a {got}",
                    file=file,
                    line=line,
                    field=field,
                )
            text = text_value(ref, field, file=file, line=line)
            if text:
                refs.append(text)
        return tuple(refs)
    raise InputError(
        f"expected one string or a list of strings, got {type(value).__name__}",
        file=file,
        line=line,
        field=field,
    )


@dataclass(frozen=True)
class ScoreItem:
    """One output to score, with the input fields it is judged against."""

    output: str
    source: str | None = None
    context: str | None = None
    reference: str | None = None
    references: tuple[str, ...] | None = None
    instruction: str | None = None
    task: str | None = None
    criterion: str | None = None
    system: str | None = None
    id: str | None = None

    @property
    def first_reference(self) -> str | None:
        if self.reference:
            return self.reference
        return self.references[0] if self.references else None


@dataclass(frozen=True)
class PairItem:
    """Two outputs for the same input; a judge returns P(output_a is better)."""

    output_a: str
    output_b: str
    source: str | None = None
    context: str | None = None
    reference: str | None = None
    instruction: str | None = None
    task: str | None = None
    criterion: str | None = None
    id: str | None = None

    def side(self, which: str) -> ScoreItem:
        """The ``a`` or ``b`` output as a :class:`ScoreItem` with the shared input fields."""
        return ScoreItem(
            output=self.output_a if which == "a" else self.output_b,
            source=self.source,
            context=self.context,
            reference=self.reference,
            instruction=self.instruction,
            task=self.task,
            criterion=self.criterion,
            id=self.id,
        )


@dataclass(frozen=True)
class JudgeInfo:
    """What a judge is: ``name`` (stable id used in cache keys and reports), ``kind``
    (reward | generative | openai | http | annotations | baseline), and whether its ``compare`` is
    ``order_free`` (the same answer with a and b swapped, so position swapping is unnecessary)."""

    name: str
    kind: str
    order_free: bool = True
    can_score: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreResult:
    """Scores in input order. ``calibrated`` maps each score to its criterion's human scale where the
    judge is calibrated (else None). ``system_scores`` are per-system means when systems were given."""

    scores: list[float]
    calibrated: list[float | None] | None = None
    system_scores: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    truncated: int = 0

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per item: ``{"index", "score"}`` plus ``"calibrated_score"`` where present."""
        out = []
        for i, s in enumerate(self.scores):
            row: dict[str, Any] = {"index": i, "score": s}
            if self.calibrated is not None and self.calibrated[i] is not None:
                row["calibrated_score"] = self.calibrated[i]
            out.append(row)
        return out

    def to_json(self) -> str:
        """Standard JSON (non-finite numbers as ``null``, see :func:`heapmetric.io.dumps_json`)."""
        from heapmetric.io import dumps_json

        return dumps_json(asdict(self))


@dataclass(frozen=True)
class CompareResult:
    """P(a better than b) per pair in input order; ``scores_a``/``scores_b`` when the judge scores each side."""

    probabilities: list[float]
    scores_a: list[float] | None = None
    scores_b: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_records(self) -> list[dict[str, Any]]:
        out = []
        for i, p in enumerate(self.probabilities):
            row: dict[str, Any] = {"index": i, "p_a_better": p}
            if self.scores_a is not None and self.scores_b is not None:
                row["score_a"], row["score_b"] = self.scores_a[i], self.scores_b[i]
            out.append(row)
        return out

    def to_json(self) -> str:
        """Standard JSON (non-finite numbers as ``null``, see :func:`heapmetric.io.dumps_json`)."""
        from heapmetric.io import dumps_json

        return dumps_json(asdict(self))


@runtime_checkable
class Judge(Protocol):
    """Anything that can score outputs and/or compare pairs."""

    @property
    def info(self) -> JudgeInfo: ...

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        """Score each item; raise :class:`~heapmetric.errors.UnsupportedError` if the judge only compares."""
        ...

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """P(output_a better) for each pair, in input order."""
        ...


def system_means(scores: Sequence[float], systems: Sequence[str | None] | None) -> dict[str, float]:
    """Mean score per system name (items without a system are left out)."""
    if not systems:
        return {}
    groups: dict[str, list[float]] = {}
    for s, name in zip(scores, systems, strict=True):
        if name is not None:
            groups.setdefault(str(name), []).append(float(s))
    return {name: statistics.fmean(v) for name, v in sorted(groups.items())}


def items_from_rows(rows: Sequence[dict[str, Any]], **defaults: Any) -> list[ScoreItem]:
    """Build :class:`ScoreItem`s from dicts (records or table rows); ``defaults`` fill missing fields."""
    items = []
    for index, row in enumerate(rows):
        values = item_values(row, ITEM_FIELDS, line=index + 1)
        for k, v in defaults.items():
            if v is not None and k not in values:
                values[k] = v
        items.append(ScoreItem(**values))
    return items


def item_values(
    row: dict[str, Any],
    fields: Sequence[str],
    *,
    mapping: dict[str, str] | None = None,
    file: str | None = None,
    line: int | None = None,
    from_file: bool = False,
) -> dict[str, Any]:
    """The values of ``fields`` in ``row`` (read from the columns ``mapping`` names, else the field names),
    checked by :func:`text_value` / :func:`references_value`: missing and empty values are left out (except
    empty outputs), references become a tuple. Where ``fields`` has no ``references`` (pairs), the first
    reference goes to ``reference``; a list under ``reference`` counts as references."""
    mapping = mapping or {}
    values: dict[str, Any] = {}
    refs: tuple[str, ...] = ()
    for f in fields:
        column = mapping.get(f, f)
        v = row.get(column)
        if v is None or (isinstance(v, str) and v == "" and not f.startswith("output")):
            continue
        if f in ("reference", "references"):
            got = references_value(v, column, file=file, line=line, from_file=from_file)
            if f == "reference" and len(got) == 1 and not isinstance(v, (list, tuple)):
                values["reference"] = got[0]
            else:
                refs = refs or got
            continue
        values[f] = text_value(v, column, file=file, line=line, from_file=from_file)
    if refs:
        if "references" in fields:
            values["references"] = refs
        else:
            values.setdefault("reference", refs[0])
    return values


def pair_probability(score_a: float, score_b: float) -> float:
    """P(a better than b) = sigmoid(score_a - score_b), computed without overflow."""
    x = score_a - score_b
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def criteria_metadata(criteria: Sequence[str]) -> dict[str, Any]:
    """``{"criterion": id}`` when one criterion was used, else ``{"criterion": None, "criteria": counts}``."""
    from collections import Counter

    counts = Counter(criteria)
    if len(counts) == 1:
        return {"criterion": next(iter(counts))}
    return {"criterion": None, "criteria": dict(sorted(counts.items()))}


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, show: bool) -> Any:
    """A tqdm bar on stderr over ``total`` items, or a silent stand-in when ``show`` is false."""
    if not show:
        return _NoProgress()
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, unit="item", file=sys.stderr, dynamic_ncols=True, leave=False)
