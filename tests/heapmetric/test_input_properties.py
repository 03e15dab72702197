"""Property-based tests of the input readers and the keyword API (issue 12, "Must show").

For arbitrary unicode (lone surrogates included), numbers (NaN and Infinity included), nesting, quoting and
sizes, every entry point either scores exactly like the equivalent clean input or raises ``InputError``
naming the file, line and field; never another exception, never a row dropped or merged. The judge is
:class:`tests.fakes.field_judge.FieldJudge`, whose score fingerprints every field it receives, so "the same
score" means "the same values reached the judge".
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from heapmetric.cli import main
from heapmetric.errors import InputError
from heapmetric.judges.base import PairItem, ScoreItem
from heapmetric.scoring.inputs import build_items, build_pairs
from tests.fakes.field_judge import FieldJudge

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TASK = ["--task", "summarization", "--criterion", "coherence"]
#: characters that break naive readers: quotes, delimiters, line breaks of every kind, BOM, NUL, surrogates
SPECIAL = [
    '"',
    "'",
    ",",
    "\t",
    "\n",
    "\r",
    "\u2028",
    "\x85",
    "\ufeff",
    "\x00",
    "[",
    "]",
    "\\",
    "=",
    " ",
]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
CHARS = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIAL + SURROGATES))
TEXT = st.text(CHARS, max_size=24)
CLEAN_CHARS = st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(SPECIAL))
CLEAN_TEXT = st.text(CLEAN_CHARS, max_size=24)
NUMBER = st.one_of(
    st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True), st.booleans()
)
SCALAR = st.one_of(TEXT, NUMBER, st.none())
VALUE = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=3),
    st.lists(st.lists(TEXT, max_size=2), max_size=2),
    st.dictionaries(TEXT, SCALAR, max_size=2),
)
TEXT_FIELDS = ("output", "source", "context", "id")


class Bad(Exception):
    """Raised by the oracle below: this value must be refused with an InputError."""


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nonfinite(v) for v in value)
    return False


def clean_text(value: Any, field: str) -> str | None:
    """The documented rule for a text field of a file row, written independently of the code under test:
    strings as they are, other JSON values as their JSON text, NaN/Infinity refused; None/"" absent."""
    if value is None:
        return None
    if _has_nonfinite(value):
        raise Bad(field)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text == "" and field != "output":
        return None
    return text


def clean_references(value: Any) -> list[str] | None:
    """A string is one reference (a string holding a JSON list is that list); a list of strings is several."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return clean_references(parsed) if parsed else None
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        refs = [v for v in value if v]
        return refs or None
    raise Bad("references")


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """The equivalent clean row (every value a plain string), or :class:`Bad`."""
    if _has_surrogate(row):
        raise Bad("surrogate")
    out: dict[str, Any] = {}
    for field in TEXT_FIELDS:
        text = clean_text(row.get(field), field)
        if text is not None:
            out[field] = text
    if "output" not in out:
        raise Bad("output")
    refs = clean_references(row.get("references"))
    if refs:
        out["references"] = refs
    return out


@pytest.fixture
def field_judge(monkeypatch) -> FieldJudge:
    judge = FieldJudge()
    monkeypatch.setattr("heapmetric.cli.score.load_judge", lambda args: judge)
    return judge


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, err.getvalue()


def read_scores(path: Path) -> list[float]:
    rows = [
        json.loads(line, parse_constant=_no_constant) for line in path.read_text("utf-8").split("\n") if line
    ]
    return [r["score"] for r in rows]


def _no_constant(name: str) -> Any:
    raise AssertionError(f"non-standard JSON token {name} in the output")


def score_file(path: Path, out: Path, *extra: str) -> tuple[int, str]:
    return run_cli(["score", "-i", str(path), "-o", str(out), "-q", *TASK, *extra])


def clean_scores(rows: list[dict[str, Any]], folder: Path) -> list[float]:
    """Scores of the equivalent clean rows, through the same CLI."""
    path = folder / "clean.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    rc, err = score_file(path, folder / "clean.out.jsonl")
    assert rc == 0, err
    return read_scores(folder / "clean.out.jsonl")


ROW = st.fixed_dictionaries(
    {"output": VALUE},
    optional={"source": VALUE, "context": VALUE, "references": VALUE, "id": SCALAR, "extra": VALUE},
)


@SETTINGS
@given(rows=st.lists(ROW, min_size=1, max_size=5), fmt=st.sampled_from(["jsonl", "json"]))
def test_json_rows_score_like_clean_rows_or_fail_naming_line_and_field(field_judge, rows, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / f"in.{fmt}"
        if fmt == "jsonl":  # ensure_ascii escapes lone surrogates (\ud800) as a JSON producer would
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        else:
            path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
        expected: list[dict[str, Any]] = []
        bad_line = None
        surrogate_line = next((i + 1 for i, r in enumerate(rows) if _has_surrogate(r)), None)
        for i, row in enumerate(rows):
            try:
                expected.append(clean_row(row))
            except Bad:
                bad_line = bad_line or i + 1
        rc, err = score_file(path, folder / "out.jsonl")
        if bad_line is None:
            assert rc == 0, err
            got = read_scores(folder / "out.jsonl")
            assert len(got) == len(rows)  # no row dropped or merged
            assert got == clean_scores(expected, folder)
        else:
            assert rc == 2, err
            assert err.count("\n") == 1 and "Traceback" not in err
            assert f"{path}:{surrogate_line or bad_line}" in err
            assert "field '" in err


MAPPABLE = ("output", "source", "context", "references", "id")
COLUMN = st.text(st.characters(exclude_categories=("Cs", "Zs", "Cc")), min_size=1, max_size=8).filter(
    lambda s: "," not in s and "=" not in s and s == s.strip()
)


@SETTINGS
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"output": CLEAN_TEXT}, optional={"source": CLEAN_TEXT, "references": CLEAN_TEXT}
        ),
        min_size=1,
        max_size=4,
    ),
    names=st.dictionaries(st.sampled_from(MAPPABLE), COLUMN, min_size=1, max_size=3),
)
def test_map_renames_columns_without_changing_scores(field_judge, rows, names):
    columns = {field: f"col {name}" for field, name in names.items()}
    assume(len(set(columns.values())) == len(columns))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        renamed = [{columns.get(k, k): v for k, v in row.items()} for row in rows]
        path = folder / "mapped.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in renamed), encoding="utf-8")
        mapping = ",".join(f"{field}={column}" for field, column in columns.items())
        rc, err = score_file(path, folder / "out.jsonl", "--map", mapping)
        unused = [c for f, c in columns.items() if not any(c in r for r in renamed)]
        if unused:  # a --map column that no row has is a typo: refused, naming it
            assert rc == 2 and repr(unused[0]) in err or any(repr(c) in err for c in unused), err
            return
        assert rc == 0, err
        got = read_scores(folder / "out.jsonl")
        assert len(got) == len(rows)
        assert got == clean_scores([clean_row(r) for r in rows], folder)


CELL = st.text(CLEAN_CHARS, max_size=40)


@SETTINGS
@given(
    rows=st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=5),
    delimiter=st.sampled_from([",", "\t"]),
    big=st.booleans(),
)
def test_csv_and_tsv_rows_score_like_the_same_rows_in_jsonl(field_judge, rows, delimiter, big):
    if big:  # a field over the csv module's default limit of 131,072 characters
        rows = [(rows[0][0] + "x" * 140_000, *rows[0][1:]), *rows[1:]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / ("in.csv" if delimiter == "," else "in.tsv")
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(["output", "source", "id"])
            writer.writerows(rows)
        rc, err = score_file(path, folder / "out.jsonl")
        assert rc == 0, err
        got = read_scores(folder / "out.jsonl")
        assert len(got) == len(rows)
        clean = [clean_row({"output": o, "source": s, "id": i}) for o, s, i in rows]
        assert got == clean_scores(clean, folder)


@SETTINGS
@given(
    rows=st.lists(st.tuples(CELL, CELL), min_size=2, max_size=5),
    which=st.integers(0, 10_000),
    insert=st.booleans(),
)
def test_a_broken_quote_is_an_error_or_changes_no_row_count(field_judge, rows, which, insert):
    """Drop one quote (an unterminated field) or add one after a delimiter: the run fails naming a line,
    or it scores exactly as many rows as were written, never fewer."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(["id", "output"])
    writer.writerows(rows)
    text = buffer.getvalue()
    if insert:
        spots = [m.end() for m in re.finditer(",", text)]
        pos = spots[which % len(spots)]
        text = text[:pos] + '"' + text[pos:]
    else:
        header_end = text.index("\n") + 1
        spots = [i for i, c in enumerate(text) if c == '"' and i >= header_end]
        pos = spots[which % len(spots)]
        text = text[:pos] + text[pos + 1 :]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "broken.csv"
        path.write_text(text, encoding="utf-8", newline="")
        rc, err = score_file(path, folder / "out.jsonl")
        if rc == 0:
            assert len(read_scores(folder / "out.jsonl")) == len(rows)
        else:
            assert rc == 2 and re.search(rf"{re.escape(str(path))}:\d+", err), err


@SETTINGS
@given(rows=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=4))
def test_csv_bytes_that_are_not_utf8_are_refused_naming_the_line(field_judge, rows):
    """Lone surrogates cannot be in a UTF-8 file: written with 'surrogatepass' they are bad bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["output", "source"])
        writer.writerows(rows)
        path = folder / "in.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))
        rc, err = score_file(path, folder / "out.jsonl")
        if any(_has_surrogate(cell) for row in rows for cell in row):
            assert rc == 2 and "not valid UTF-8" in err and re.search(rf"{re.escape(str(path))}:\d+", err)
        else:
            assert rc == 0, err
            assert len(read_scores(folder / "out.jsonl")) == len(rows)


# --- the keyword API -------------------------------------------------------------------------------------

API_VALUE = st.one_of(
    TEXT,
    st.none(),
    NUMBER,
    st.lists(TEXT, max_size=2),
    st.lists(st.lists(TEXT, max_size=2), max_size=2),
    st.dictionaries(TEXT, TEXT, max_size=1),
)


def api_text(value: Any, field: str, required: bool = False) -> str | None:
    """The API rule: strings only (``id`` also takes an int), no lone surrogates."""
    if value is None:
        if required:
            raise Bad(field)
        return None
    if field == "id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or _has_surrogate(value):
        raise Bad(field)
    return value if value != "" or required else None


def api_references(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        if _has_surrogate(value):
            raise Bad("references")
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and not _has_surrogate(v) for v in value):
        return tuple(v for v in value if v)
    raise Bad("references")


@SETTINGS
@given(
    outputs=st.lists(API_VALUE, min_size=1, max_size=4),
    sources=API_VALUE,
    references=API_VALUE,
    per_item_refs=st.booleans(),
)
def test_keyword_api_scores_like_clean_strings_or_raises_input_error(
    outputs, sources, references, per_item_refs
):
    n = len(outputs)
    refs_arg = [references] * n if per_item_refs else references

    def per_item(value: Any, name: str) -> list[Any]:
        if value is None or isinstance(value, str):
            return [value] * n
        if isinstance(value, list) and len(value) == n:
            return value
        raise Bad(name)

    try:
        srcs, refs_per_item = per_item(sources, "sources"), per_item(refs_arg, "references")
        expected = []
        for out, src, ref in zip(outputs, srcs, refs_per_item, strict=True):
            refs = api_references(ref)
            expected.append(
                ScoreItem(
                    output=api_text(out, "output", required=True),
                    source=api_text(src, "source"),
                    references=refs or None,
                )
            )
    except Bad:
        expected = None
    try:
        items = build_items(outputs=outputs, sources=sources, references=refs_arg)
    except InputError as exc:
        assert expected is None, f"refused a valid call: {exc}"
        assert exc.field is not None
        return
    assert expected is not None, f"accepted an invalid call: {items}"
    assert len(items) == n
    judge = FieldJudge()
    assert judge.score(items).scores == judge.score(expected).scores
    assert [it.first_reference for it in items] == [it.first_reference for it in expected]


@SETTINGS
@given(
    a=st.lists(API_VALUE, min_size=1, max_size=3),
    reference=API_VALUE,
    as_dicts=st.booleans(),
)
def test_compare_api_follows_the_same_rule_as_score(a, reference, as_dicts):
    """compare() accepts and refuses exactly what score() does, and judges against the first reference."""
    b = ["fixed other output"] * len(a)
    try:
        score_ok = build_items([{"output": x, "references": reference} for x in a])
    except InputError:
        score_ok = None
    try:
        if as_dicts:
            pairs = build_pairs(
                [{"output_a": x, "output_b": y, "references": reference} for x, y in zip(a, b, strict=True)]
            )
        else:
            pairs = build_pairs(outputs_a=a, outputs_b=b, references=[reference] * len(a))
    except InputError as exc:
        assert score_ok is None, f"compare refused what score accepts: {exc}"
        return
    assert score_ok is not None, "compare accepted what score refuses"
    assert [p.reference for p in pairs] == [it.first_reference for it in score_ok]
    assert all(isinstance(p, PairItem) and isinstance(p.output_a, str) for p in pairs)
