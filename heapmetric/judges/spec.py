"""Judge specs: one string names any judge, on the command line and in Python.

=============================  ===============================================================================
spec                           judge
=============================  ===============================================================================
``heapmetric[:MODEL]``         the trained metric, ``heapmetric.load(MODEL)`` (the embedded default if omitted)
``generative:MODEL``           a causal LM reading the probability of score tokens (``GenerativeJudge``)
``length``                     output length in words
``rouge1|rouge2|rougeL[sum]``  ROUGE F1 against the references (``rouge-score``)
``bleu``, ``chrf``             sentence BLEU / chrF (``sacrebleu``)
``embed-ref``, ``embed-src``   MiniLM cosine similarity to the reference / to the source
``scores:FILE``                precomputed scores (JSONL/CSV with ``id`` and ``score``) joined on record id
``openai:MODEL@BASE_URL``      an OpenAI-compatible endpoint (registered by :mod:`heapmetric.judges.openai_compat`)
``annotations:FILE``           fixed pairwise annotations (registered by :mod:`heapmetric.judges.annotations`)
=============================  ===============================================================================

Options follow a ``?``: ``rouge1?stem=false&multi_ref=first``, ``heapmetric:./ckpt?device=cpu``. Values
``true``/``false`` and numbers are converted. A spec only ever names a registry entry: user input never
becomes a dotted import path. Other modules add prefixes with :func:`register_judge`; the prefixes in
``_PLUGINS`` are imported on first use so that their module can register itself.

>>> load_judge("length").info.name
'length'
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError, UnknownNameError, UnsupportedError
from heapmetric.judges.base import (
    CompareResult,
    Judge,
    JudgeInfo,
    PairItem,
    ScoreItem,
    ScoreResult,
    system_means,
)

#: A factory gets the part after ``PREFIX:`` (``None`` when absent) and the ``?`` options as keywords.
JudgeFactory = Callable[..., Judge]

_REGISTRY: dict[str, tuple[JudgeFactory, str]] = {}

#: prefix -> module that registers it when imported (a fixed table, never built from user input)
_PLUGINS: dict[str, str] = {
    "openai": "heapmetric.judges.openai_compat",
    "annotations": "heapmetric.judges.annotations",
}


def register_judge(prefix: str, factory: JudgeFactory, *, help: str = "", replace: bool = False) -> None:
    """Make ``prefix[:ARG][?options]`` specs build judges with ``factory(arg, **options)``."""
    if not prefix or ":" in prefix or "?" in prefix:
        raise ValueError(f"invalid judge prefix {prefix!r}")
    if prefix in _REGISTRY and not replace:
        raise ValueError(f"judge prefix {prefix!r} is already registered")
    _REGISTRY[prefix] = (factory, help)


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if math.isfinite(value) else text
    return text


def parse_spec(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """Split ``PREFIX[:ARG][?k=v&...]`` into ``(prefix, arg, options)``."""
    text = spec.strip()
    if not text:
        raise InputError("empty judge spec", field="metric")
    options: dict[str, Any] = {}
    head, sep, query = text.rpartition("?")
    if sep and query and all("=" in part for part in query.split("&")):
        text = head
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if not key:
                raise InputError(f"empty option name in judge spec {spec!r}", field="metric")
            options[key.replace("-", "_")] = _parse_value(value)
    prefix, colon, arg = text.partition(":")
    return prefix, (arg if colon else None), options


def list_judges() -> list[str]:
    """Every known spec prefix (registered and lazily registered)."""
    _ensure_builtins()
    return sorted(set(_REGISTRY) | set(_PLUGINS))


def describe_judges() -> dict[str, str]:
    """Prefix -> one-line help, for ``--help`` listings."""
    _ensure_builtins()
    out = {p: h for p, (_, h) in _REGISTRY.items()}
    for p, module in _PLUGINS.items():
        out.setdefault(p, f"registered by {module}")
    return dict(sorted(out.items()))


def check_options(prefix: str, target: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The ``?`` options of a ``prefix`` spec checked against ``target``'s keyword parameters: an unknown name
    or a value of the wrong kind (``stem=maybe`` where a boolean is expected, ``beta=x`` where a number is)
    raises :class:`InputError` listing the valid options; numbers given to a text option are kept as text.
    A target taking ``**kwargs`` accepts any name (it checks its own)."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return options
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    valid = {
        n: p
        for n, p in params.items()
        if p.kind is p.KEYWORD_ONLY
        or (n != "arg" and p.default is not p.empty and p.kind is not p.VAR_POSITIONAL)
    }
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(
            f"judge {prefix!r} has no option {unknown[0]!r} (valid: {', '.join(valid) if valid else 'none'})",
            field="metric",
        )
    checked = dict(options)
    for name, value in options.items():
        default = valid[name].default
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and (isinstance(value, int) or isinstance(default, float))
            want = "an integer" if isinstance(default, int) else "a number"
        elif isinstance(default, str):
            ok, want = not isinstance(value, bool), "text"
            checked[name] = value if isinstance(value, str) else str(value)
        else:
            ok, want = True, ""
        if not ok:
            raise InputError(
                f"option {name!r} of judge {prefix!r} expects {want}, got {value!r}", field="metric"
            )
    return checked


def _call(factory: JudgeFactory, prefix: str, arg: str | None, options: dict[str, Any]) -> Judge:
    return factory(arg, **check_options(prefix, factory, options))


def load_judge(spec: str) -> Judge:
    """The judge a spec names (see the module docstring); unknown prefixes raise with close matches."""
    _ensure_builtins()
    prefix, arg, options = parse_spec(spec)
    if prefix not in _REGISTRY and prefix in _PLUGINS:
        module = _PLUGINS[prefix]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                raise UnsupportedError(
                    f"judge {prefix!r} is not available in this checkout ({module} is missing)"
                ) from exc
            raise
        if prefix not in _REGISTRY:
            raise UnsupportedError(f"{module} did not register the judge prefix {prefix!r}")
    if prefix not in _REGISTRY:
        raise UnknownNameError("judge", prefix, list_judges())
    factory, _ = _REGISTRY[prefix]
    return _call(factory, prefix, arg, options)


# --- built-in factories ------------------------------------------------------------------------------------


def _heapmetric(arg: str | None, **options: Any) -> Judge:
    import heapmetric

    return heapmetric.load(arg or None, **options)


def _generative(arg: str | None, **options: Any) -> Judge:
    if not arg:
        raise InputError(
            "generative judges need a model: generative:MODEL (a folder or hub id)", field="metric"
        )
    import heapmetric

    return heapmetric.load(f"generative:{arg}", **options)


def _baseline(name: str) -> JudgeFactory:
    def factory(arg: str | None, **options: Any) -> Judge:
        from heapmetric.judges.baselines import BASELINES

        if arg:
            raise InputError(
                f"baseline {name!r} takes no ':' argument (got {arg!r}); pass options after '?'",
                field="metric",
            )
        return BASELINES[name](**check_options(name, BASELINES[name], options))

    return factory


class ScoresFileJudge:
    """Precomputed scores read from a JSONL/CSV/TSV file with an id column and a score column, joined on
    the ``id`` of each item. Ids the file lacks raise (how many, which first) unless ``missing="nan"``, which
    returns NaN for them so that the caller excludes and reports them. Non-numeric scores are errors; NaN
    scores in the file are returned as NaN. ``compare`` reads a ``p_a_better`` column when the file has one.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        id_field: str = "id",
        field: str = "score",
        missing: str = "error",
        name: str | None = None,
    ) -> None:
        from heapmetric.io import read_table

        if missing not in ("error", "nan"):
            raise InputError(f"missing must be 'error' or 'nan', got {missing!r}", field="missing")
        self.path, self.id_field, self.field, self.missing = str(path), id_field, field, missing
        self._name = name or f"scores:{Path(path).name}"
        self._scores: dict[str, float] = {}
        self._probs: dict[str, float] = {}
        for line, row in read_table(path):
            key = row.get(id_field)
            if key in (None, ""):
                raise InputError("missing id", file=self.path, line=line, field=id_field)
            key = str(key)
            if key in self._scores or key in self._probs:
                raise InputError(f"duplicate id {key!r}", file=self.path, line=line, field=id_field)
            for column, store in ((field, self._scores), ("p_a_better", self._probs)):
                if row.get(column) in (None, ""):
                    continue
                store[key] = self._number(row[column], line, column)
            if key not in self._scores and key not in self._probs:
                raise InputError("no score", file=self.path, line=line, field=field)

    def _number(self, value: Any, line: int, column: str) -> float:
        if isinstance(value, bool):
            raise InputError(f"expected a number, got {value!r}", file=self.path, line=line, field=column)
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"expected a number, got {value!r}", file=self.path, line=line, field=column
            ) from exc

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name=self._name,
            kind="annotations",
            order_free=True,
            can_score=bool(self._scores),
            metadata={"path": self.path, "field": self.field},
        )

    def _lookup(self, ids: Sequence[str | None], store: dict[str, float], what: str) -> list[float]:
        absent = [i for i in ids if i is None or i not in store]
        if absent and self.missing == "error":
            first = ", ".join(repr(a) for a in absent[:3])
            raise InputError(
                f"{len(absent)} of {len(ids)} ids have no {what} in the file (first: {first})",
                file=self.path,
                field=self.id_field,
            )
        return [store.get(i, math.nan) if i is not None else math.nan for i in ids]

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        """The file's score for each item id (see the class docstring for missing ids)."""
        items = list(items)
        scores = self._lookup([it.id for it in items], self._scores, f"'{self.field}'")
        finite = [(s, it.system) for s, it in zip(scores, items, strict=True) if math.isfinite(s)]
        return ScoreResult(
            scores=scores,
            system_scores=system_means([s for s, _ in finite], [n for _, n in finite]),
            metadata={"judge": self._name, "path": self.path},
        )

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """The file's ``p_a_better`` for each pair id."""
        pairs = list(pairs)
        if not self._probs:
            raise UnsupportedError(f"{self.path} has no 'p_a_better' column, so it cannot compare pairs")
        return CompareResult(
            probabilities=self._lookup([p.id for p in pairs], self._probs, "'p_a_better'"),
            metadata={"judge": self._name, "path": self.path},
        )


def _scores(arg: str | None, *, id_field: str = "id", field: str = "score", missing: str = "error") -> Judge:
    if not arg:
        raise InputError("scores:FILE needs a file", field="metric")
    return ScoresFileJudge(arg, id_field=id_field, field=field, missing=missing)


def _ensure_builtins() -> None:
    if "length" in _REGISTRY:
        return
    register_judge("heapmetric", _heapmetric, help="the trained metric: heapmetric[:MODEL]")
    register_judge("generative", _generative, help="LLM reading score-token probabilities: generative:MODEL")
    helps = {
        "length": "output length in words",
        "rouge1": "ROUGE-1 F1 vs references",
        "rouge2": "ROUGE-2 F1 vs references",
        "rougeL": "ROUGE-L F1 vs references",
        "rougeLsum": "ROUGE-L (summary-level, ROUGE-1.5.5 style) F1 vs references",
        "bleu": "sentence BLEU vs references",
        "chrf": "sentence chrF vs references",
        "embed-ref": "MiniLM cosine to the reference",
        "embed-src": "MiniLM cosine to the source",
    }
    for name, text in helps.items():
        register_judge(name, _baseline(name), help=text)
    register_judge("scores", _scores, help="precomputed scores joined on id: scores:FILE")
