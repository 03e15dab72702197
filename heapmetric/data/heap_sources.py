"""HEAP's raw human-evaluation sources (Mehri & Shwartz 2023) as heapmetric records.

Source folder: ``$HEAPMETRIC_DATA/heap_sources`` (see its SOURCE.md). Every record has
``dataset="heap_sources"``; each source becomes its own task (criteria in ``heapmetric/criteria/<task>.yaml``):

- ``advice`` / helpfulness — ``turingadvice_feb-14-2020-workerids.jsonl``: native preferences, each model's
  advice vs the best Reddit advice (``is_preferred``); 200 situations × 6 advice givers.
- ``why_qa`` / grammaticality, validity, answerability — ``tellmewhy_test_caters_subset.csv``: judgements on
  −2…2 (3 ratings per answer); answerability one judgement per question (3 binary votes, 0…1).
- ``commonsense_generation`` / plausibility — ``commongen_human_eval_sheet{1..4}.csv``: native preferences,
  sentence 1 vs 2, the mean over the sheets (blank = 0).
- ``counterfactual_rewriting`` / premise, second_sentence, plot, ending, counterfactual —
  ``timetravel_test_comparison_eval.csv``: native preferences, ending A vs B per HIT, the workers' votes merged.
- ``defeasible_inference`` / strengthener, weakener — ``defeasible_inference_eval_results.jsonl``: judgements on
  −2…2 (3 ratings per update).
- ``counter_speech`` / informativeness, offensiveness, stance — ``counterspeech_{conan,sbic}.json``: judgements
  on 0…4 (3 ratings per response).
- ``hate_speech`` / offensiveness — the same files: judgements on 0…4 (9 ratings per post).

Rules (HEAP's, BRIEF §2, with the choices this module makes where the sources leave room):

- **Aggregation** (``aggregation=``): the per-annotator ratings of one output become ``score`` with
  :func:`heapmetric.data.aggregation.aggregate` (``mean`` by default; ``floor_mean`` is HEAP's floored mean;
  ``median``); ``annotator_scores`` keeps the ratings. It applies to every *graded* source (TellMeWhy,
  defeasible inference, counter-speech, hate speech). The natively pairwise sources are merged as HEAP merges
  them whatever the choice: CommonGen by the plain mean of the sheets' signed scores, TimeTravel by the mean of
  the workers' votes (A = +1, B = −1, S and IR = 0; a blank answer is no vote); the sign gives the label.
- **Ties are dropped** from native preferences (a mean of 0), as are pairs whose two outputs are the same text
  (TimeTravel shows some HITs with identical endings; a label there says nothing about the texts).
  Graded judgements are returned as they are: the build derives preferences from them
  (:mod:`heapmetric.data.preferences`), so none are derived here.
- **Direction**: a higher ``score`` is more of what the criterion names. The weakener criterion negates the
  defeasible labels (−2 "weakens a lot" … 2 "strengthens a lot") so that a better weakener scores higher
  (``score = -aggregate(labels)``; ``meta.human_label`` keeps the raw labels). Offensiveness is kept as the
  annotators gave it: higher is more offensive.
- **item_id** is the input: TuringAdvice ``situation.id``; TellMeWhy ``question_meta`` (answerability, whose
  output is the question, uses the narrative id, e.g. ``caters_narrative_45``); every TellMeWhy record carries
  ``meta.split_group`` = the narrative id, so a story's questions all fall in one split; CommonGen the concept set;
  TimeTravel ``Input.STORY``; defeasible inference ``<subset>-<hash of premise and hypothesis>`` (strengthener
  and weakener of one premise/hypothesis share it, so they fall in one split); counter-speech and hate speech
  the post key (``conan_1``), shared by the post and its responses.
- TuringAdvice preferences carry no ``reference``: the best Reddit advice is one of the two outputs, and giving
  it as a reference as well would let a metric match text instead of judging helpfulness. Which output is
  ``a`` is decided by a hash of the record id (labels balanced, same on every run). CommonGen and TimeTravel
  keep the order the annotators saw.

Malformed input raises :class:`~heapmetric.errors.InputError` naming the file, the line (or JSON path) and the
field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from heapmetric.data._common import get, in_scale, json_object, require_file, text
from heapmetric.data.aggregation import aggregate, check_aggregation
from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl
from heapmetric.records import Judgement, Preference, Record

NAME = "heap_sources"
FOLDER = "heap_sources"
#: who produced the labels (stamped as meta.label_source by `data build`)
LABEL_SOURCE = "human"

TURINGADVICE_FILE = "turingadvice_feb-14-2020-workerids.jsonl"
TELLMEWHY_FILE = "tellmewhy_test_caters_subset.csv"
COMMONGEN_GLOB = "commongen_human_eval_sheet*.csv"
TIMETRAVEL_FILE = "timetravel_test_comparison_eval.csv"
DEFEASIBLE_FILE = "defeasible_inference_eval_results.jsonl"
COUNTERSPEECH_FILES = ("counterspeech_conan.json", "counterspeech_sbic.json")

LIKERT_2 = (-2.0, 2.0)
LIKERT_0_4 = (0.0, 4.0)
BINARY = (0.0, 1.0)

BEST_ADVICE = "best_reddit_advice"
COMMONGEN_SCORES = (-1.0, -0.5, 0.0, 0.5, 1.0)
TIMETRAVEL_CRITERIA = {  # answer column -> criterion
    "Answer.premise": "premise",
    "Answer.second": "second_sentence",
    "Answer.plot": "plot",
    "Answer.ending": "ending",
    "Answer.counterfactual": "counterfactual",
}
TIMETRAVEL_VOTES = {"A": 1.0, "B": -1.0, "S": 0.0, "IR": 0.0}
DEFEASIBLE_CRITERIA = {"intensifier": "strengthener", "attenuator": "weakener"}
COUNTERSPEECH_CRITERIA = {"info": "informativeness", "off": "offensiveness", "stance": "stance"}
COUNTERSPEECH_GENERATORS = ("GPT-2", "GPT-Neo", "GPT-3")


def convert(folder: Path, *, aggregation: str = "mean") -> list[Record]:
    """Every judgement and native preference of the HEAP sources in ``folder`` (see the module docstring).

    Records come in a fixed order (source by source, file order within each); a missing file or a malformed
    one raises :class:`InputError`.
    """
    check_aggregation(aggregation)
    folder = Path(folder)
    records: list[Record] = []
    records += read_turingadvice(require_file(folder, TURINGADVICE_FILE))
    records += read_tellmewhy(require_file(folder, TELLMEWHY_FILE), aggregation=aggregation)
    records += read_commongen(commongen_sheets(folder))
    records += read_timetravel(require_file(folder, TIMETRAVEL_FILE))
    records += read_defeasible(require_file(folder, DEFEASIBLE_FILE), aggregation=aggregation)
    records += read_counterspeech(
        [require_file(folder, name) for name in COUNTERSPEECH_FILES], aggregation=aggregation
    )
    return records


# --------------------------------------------------------------------------------------------------- helpers


def _id(*parts: str) -> str:
    return "/".join((NAME, *parts))


def _hash(text_: str) -> int:
    return int.from_bytes(hashlib.sha256(text_.encode()).digest()[:8], "big")


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", file=str(path)) from exc


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(first line of the record, row)`` for each data row of a CSV file with a header line.

    A missing column raises at line 1; a row with more or fewer fields than the header raises at its line.
    """
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty file; expected a CSV header", file=str(path), line=1) from None
    except csv.Error as exc:
        raise InputError(f"not valid CSV ({exc})", file=str(path), line=1) from exc
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError("missing column in the header", file=str(path), line=1, field=missing[0])
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"not valid CSV ({exc})", file=str(path), line=start) from exc
        if row and len(row) != len(header):
            raise InputError(
                f"expected {len(header)} fields like the header, got {len(row)}", file=str(path), line=start
            )
        if row:
            yield start, dict(zip(header, row, strict=True))
        start = reader.line_num + 1


def _json_cell(value: str, *, path: Path, line: int, field: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"expected a JSON list, got {value[:40]!r}", file=str(path), line=line, field=field
        ) from exc


def _ratings(
    values: Any, scale: tuple[float, float], *, n: int | None, path: Path, where: str, line: int | None = None
) -> list[float]:
    """A list of integer ratings inside ``scale`` (``n`` of them when given), as floats."""
    if not isinstance(values, list) or not values or (n is not None and len(values) != n):
        expected = f"a list of {n} ratings" if n else "a non-empty list of ratings"
        raise InputError(
            f"expected {expected}, got {json.dumps(values)[:40]}", file=str(path), line=line, field=where
        )
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"expected a number, got {v!r}", file=str(path), line=line, field=f"{where}/{i}")
        out.append(float(in_scale(float(v), scale, file=path, where=f"{where}/{i}", line=line)))
    return out


# ---------------------------------------------------------------------------------------------- TuringAdvice


def read_turingadvice(path: Path) -> list[Preference]:
    """TuringAdvice: for each situation and each of its model advices, a preference against the best Reddit
    advice (``turk_ratings[model].is_preferred``: the workers preferred the model's advice).

    ``meta`` keeps the workers' diagnostics (``helpful_votes``: helpful / nothelpful / dangerous,
    ``intensifiers``, ``worker_ids``) and the subreddit.
    """
    path = Path(path)
    out: list[Preference] = []
    seen: set[str] = set()
    for line, row in iter_jsonl(path):
        situation = get(row, "situation", dict, file=path, where="", line=line)
        sid = text(situation, "id", file=path, where="situation", line=line)
        if sid in seen:
            raise InputError(
                f"duplicate situation id {sid!r}", file=str(path), line=line, field="situation/id"
            )
        seen.add(sid)
        title = text(situation, "title", file=path, where="situation", line=line)
        body = text(situation, "selftext", file=path, where="situation", line=line, optional=True)
        source = f"{title.strip()}\n\n{body.strip()}" if body else title.strip()
        best = get(row, "best_advice", dict, file=path, where="", line=line)
        best_text = text(best, "bestadvice_body", file=path, where="best_advice", line=line)
        advice = get(row, "model_advice", dict, file=path, where="", line=line)
        ratings = get(row, "turk_ratings", dict, file=path, where="", line=line)
        for model in advice:
            model_text = text(advice, model, file=path, where="model_advice", line=line)
            rating = get(ratings, model, dict, file=path, where="turk_ratings", line=line)
            preferred = get(rating, "is_preferred", bool, file=path, where=f"turk_ratings/{model}", line=line)
            diagnostics = (
                get(
                    rating,
                    "diagnostics",
                    list,
                    file=path,
                    where=f"turk_ratings/{model}",
                    line=line,
                    optional=True,
                )
                or []
            )
            if _same_text(model_text, best_text):
                continue
            pid = _id("advice", "helpfulness", sid, f"{model}~{BEST_ADVICE}")
            model_first = _hash(pid) % 2 == 0
            a, b = (model_text, best_text) if model_first else (best_text, model_text)
            sys_a, sys_b = (model, BEST_ADVICE) if model_first else (BEST_ADVICE, model)
            label = "a" if preferred == model_first else "b"
            meta: dict[str, Any] = {
                "source_file": path.name,
                "subreddit": situation.get("subreddit"),
                "bestadvice_id": best.get("bestadvice_id"),
                "helpful_votes": [d.get("q2_helpful_or_not") for d in diagnostics if isinstance(d, dict)],
                "intensifiers": [d.get("q1_intensifier") for d in diagnostics if isinstance(d, dict)],
                "worker_ids": [d.get("worker_id_anonymized") for d in diagnostics if isinstance(d, dict)],
            }
            out.append(
                Preference(
                    id=pid,
                    dataset=NAME,
                    task="advice",
                    criterion="helpfulness",
                    item_id=sid,
                    source=source,
                    output_a=a,
                    output_b=b,
                    label=label,
                    system_a=sys_a,
                    system_b=sys_b,
                    meta=meta,
                )
            )
    return out


# ------------------------------------------------------------------------------------------------- TellMeWhy

_QUESTION_META = re.compile(r"^(?P<narrative>.+)_sentence_\d+_question_\d+$")
_TELLMEWHY_COLUMNS = (
    "narrative",
    "question",
    "answer",
    "question_meta",
    "is_ques_answerable_annotator",
    "is_ques_answerable",
    "gram_ann",
    "val_ann",
)
_ANSWERABLE = {"Answerable": 1.0, "Not Answerable": 0.0}


def read_tellmewhy(path: Path, *, aggregation: str = "mean") -> list[Judgement]:
    """TellMeWhy: each answer's grammaticality and validity (3 ratings on −2…2, ``gram_ann``/``val_ann``), and
    each question's answerability (the 3 annotators' ``is_ques_answerable_annotator`` as 1/0; the output is
    the question, the source the narrative, ``meta.majority`` the file's ``is_ques_answerable``).
    """
    path = Path(path)
    check_aggregation(aggregation)
    questions: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in _csv_rows(path, _TELLMEWHY_COLUMNS):
        qmeta = row["question_meta"].strip()
        if not _QUESTION_META.match(qmeta):
            raise InputError(
                f"expected <narrative>_sentence_<i>_question_<j>, got {qmeta!r}",
                file=str(path),
                line=line,
                field="question_meta",
            )
        for name in ("narrative", "question", "answer"):
            if not row[name].strip():
                raise InputError("expected non-empty text", file=str(path), line=line, field=name)
        questions.setdefault(qmeta, []).append((line, row))

    answers: list[Judgement] = []
    answerability: list[Judgement] = []
    for qmeta, rows in questions.items():
        first_line, first = rows[0]
        for line, row in rows[1:]:
            for name in ("narrative", "question", "is_ques_answerable"):
                if row[name] != first[name]:
                    raise InputError(
                        f"differs from line {first_line} of the same question_meta",
                        file=str(path),
                        line=line,
                        field=name,
                    )
        source = f"{first['narrative'].strip()}\n\nQuestion: {first['question'].strip()}"
        narrative_id = _QUESTION_META.match(qmeta).group("narrative")
        for k, (line, row) in enumerate(rows):
            for column, criterion in (("gram_ann", "grammaticality"), ("val_ann", "validity")):
                ratings = _ratings(
                    _json_cell(row[column], path=path, line=line, field=column),
                    LIKERT_2,
                    n=None,
                    path=path,
                    where=column,
                    line=line,
                )
                answers.append(
                    Judgement(
                        id=_id("why_qa", criterion, qmeta, str(k)),
                        dataset=NAME,
                        task="why_qa",
                        criterion=criterion,
                        item_id=qmeta,
                        source=source,
                        output=row["answer"].strip(),
                        score=aggregate(ratings, aggregation),
                        scale=list(LIKERT_2),
                        annotator_scores=ratings,
                        # split by story: the story's other questions must not sit in another split
                        meta={"source_file": path.name, "split_group": narrative_id},
                    )
                )
        votes = []
        for line, row in rows:
            vote = row["is_ques_answerable_annotator"].strip()
            if vote not in _ANSWERABLE:
                raise InputError(
                    f"expected one of {sorted(_ANSWERABLE)}, got {vote!r}",
                    file=str(path),
                    line=line,
                    field="is_ques_answerable_annotator",
                )
            votes.append(_ANSWERABLE[vote])
        answerability.append(
            Judgement(
                id=_id("why_qa", "answerability", qmeta),
                dataset=NAME,
                task="why_qa",
                criterion="answerability",
                item_id=narrative_id,
                source=first["narrative"].strip(),
                output=first["question"].strip(),
                score=aggregate(votes, aggregation),
                scale=list(BINARY),
                annotator_scores=votes,
                meta={
                    "source_file": path.name,
                    "split_group": narrative_id,
                    "question_meta": qmeta,
                    "majority": first["is_ques_answerable"].strip(),
                },
            )
        )
    return answers + answerability


# ------------------------------------------------------------------------------------------------- CommonGen


def commongen_sheets(folder: Path) -> list[Path]:
    """The CommonGen annotation sheets in ``folder``, ordered by sheet number; none is an error."""

    def number(p: Path) -> int:
        digits = re.findall(r"\d+", p.stem)
        return int(digits[-1]) if digits else 0

    sheets = sorted(Path(folder).glob(COMMONGEN_GLOB), key=number)
    if not sheets:
        raise InputError(f"expected file is missing ({COMMONGEN_GLOB})", file=str(Path(folder)))
    return sheets


def _parse_commongen_sheet(path: Path) -> list[dict[str, Any]]:
    """Blocks ``{concepts, reference, line, pairs: [(line, sentence_1, sentence_2, score or None)]}``."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    blocks: list[dict[str, Any]] = []
    header_seen = False
    line = 1
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            first = cells[0] if cells else ""
            if not header_seen:
                header_seen = first == "Sentence 1"
            elif not any(cells):
                pass
            elif len(cells) != 3:
                raise InputError(
                    f"expected 3 fields (sentence 1, sentence 2, score), got {len(cells)}",
                    file=str(path),
                    line=line,
                )
            elif first.startswith("Concept set:"):
                # The third cell may hold an annotator's note (e.g. "already done"); it is not a score.
                blocks.append(
                    {
                        "concepts": first[len("Concept set:") :].strip(),
                        "reference": None,
                        "line": line,
                        "note": cells[2] or None,
                        "pairs": [],
                    }
                )
            elif first.startswith("Reference:"):
                if not blocks or blocks[-1]["pairs"] or blocks[-1]["reference"] is not None:
                    raise InputError(
                        "a 'Reference:' row must follow its 'Concept set:' row", file=str(path), line=line
                    )
                blocks[-1]["reference"] = first[len("Reference:") :].strip()
            else:
                if not blocks:
                    raise InputError(
                        "sentence pair before the first 'Concept set:' row", file=str(path), line=line
                    )
                if not cells[0] or not cells[1]:
                    raise InputError(
                        "expected two sentences",
                        file=str(path),
                        line=line,
                        field="Sentence 2" if cells[0] else "Sentence 1",
                    )
                score = None
                if cells[2]:
                    try:
                        score = float(cells[2])
                    except ValueError:
                        score = None
                    if score not in COMMONGEN_SCORES:
                        raise InputError(
                            f"expected a score in {{-1, -0.5, 0, 0.5, 1}} or blank, got {cells[2]!r}",
                            file=str(path),
                            line=line,
                            field="Score",
                        )
                blocks[-1]["pairs"].append((line, cells[0], cells[1], score))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"not valid CSV ({exc})", file=str(path), line=line) from exc
    if not header_seen:
        raise InputError("no header row 'Sentence 1,Sentence 2,Score ...' found", file=str(path), line=1)
    if not blocks:
        raise InputError("no 'Concept set:' block found", file=str(path))
    for block in blocks:
        if block["reference"] is None:
            raise InputError("block has no 'Reference:' row", file=str(path), line=block["line"])
    return blocks


def read_commongen(sheets: list[Path]) -> list[Preference]:
    """CommonGen: HEAP's merge of the annotators' sheets (one annotator each, the same pairs in the same order).

    Each pair's score is the mean over the sheets of the annotators' signed scores (−1 … 1, sentence 1 vs
    sentence 2), a blank counted as 0; a mean of 0 is a tie and is dropped. ``label`` is ``a`` (sentence 1)
    when the mean is positive, ``margin`` is its absolute value, ``meta.sheet_scores`` the raw scores (``None``
    for blank). Sheets that do not list the same pairs in the same order raise :class:`InputError`.
    """
    parsed = [(Path(p), _parse_commongen_sheet(Path(p))) for p in sheets]
    base_path, base = parsed[0]
    for path, blocks in parsed[1:]:
        if len(blocks) != len(base):
            raise InputError(
                f"{len(blocks)} concept-set blocks, but {base_path.name} has {len(base)}", file=str(path)
            )
        for b0, b in zip(base, blocks, strict=True):
            if b["concepts"] != b0["concepts"]:
                raise InputError(
                    f"concept set differs from {base_path.name} line {b0['line']}",
                    file=str(path),
                    line=b["line"],
                )
            if len(b["pairs"]) != len(b0["pairs"]):
                raise InputError(
                    f"{len(b['pairs'])} pairs, but {base_path.name} has {len(b0['pairs'])} "
                    f"(line {b0['line']})",
                    file=str(path),
                    line=b["line"],
                )
            for p0, p in zip(b0["pairs"], b["pairs"], strict=True):
                if p[1:3] != p0[1:3]:
                    raise InputError(
                        f"sentence pair differs from {base_path.name} line {p0[0]}", file=str(path), line=p[0]
                    )
    out: list[Preference] = []
    for bi, block in enumerate(base):
        for pi, (_line, s1, s2, _score) in enumerate(block["pairs"]):
            scores = [blocks[bi]["pairs"][pi][3] for _, blocks in parsed]
            mean = sum(s or 0.0 for s in scores) / len(scores)
            if mean == 0.0 or _same_text(s1, s2):
                continue
            out.append(
                Preference(
                    id=_id("commonsense_generation", "plausibility", f"block{bi:03d}", f"pair{pi:02d}"),
                    dataset=NAME,
                    task="commonsense_generation",
                    criterion="plausibility",
                    item_id=block["concepts"],
                    source=f"Concept set: {block['concepts']}",
                    reference=block["reference"] or None,
                    output_a=s1,
                    output_b=s2,
                    label="a" if mean > 0 else "b",
                    margin=abs(mean),
                    meta={
                        "source_file": [p.name for p, _ in parsed],
                        "sheet_scores": scores,
                        "block": bi,
                        "pair": pi,
                    },
                )
            )
    return out


# ------------------------------------------------------------------------------------------------ TimeTravel

_TIMETRAVEL_INPUTS = (
    "HITId",
    "WorkerId",
    "Input.STORY",
    "Input.X1",
    "Input.X2",
    "Input.Y",
    "Input.XX2",
    "Input.YY1",
    "Input.YY2",
    "Input.YY1_MODEL",
    "Input.YY2_MODEL",
)


def read_timetravel(path: Path) -> list[Preference]:
    """TimeTravel: per HIT (two rewritten endings of one story, A = ``YY1`` and B = ``YY2``) and criterion, the
    workers' answers merged into one preference: votes A = +1, B = −1, S (same) and IR (both irrelevant) = 0,
    a blank answer is no vote; the sign of the mean is the label, a mean of 0 (or no vote) a dropped tie.
    HITs whose two endings are the same text give no preference. ``margin`` = |mean vote|.

    Fields: ``source`` = premise + counterfactual second sentence, ``context`` = the original second sentence,
    ``reference`` = the original ending.
    """
    path = Path(path)
    required = _TIMETRAVEL_INPUTS + tuple(TIMETRAVEL_CRITERIA)
    hits: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in _csv_rows(path, required):
        for name in (
            "HITId",
            "Input.STORY",
            "Input.X1",
            "Input.XX2",
            "Input.Y",
            "Input.YY1",
            "Input.YY2",
            "Input.YY1_MODEL",
            "Input.YY2_MODEL",
        ):
            if not row[name].strip():
                raise InputError("expected non-empty text", file=str(path), line=line, field=name)
        for column in TIMETRAVEL_CRITERIA:
            if row[column].strip() not in TIMETRAVEL_VOTES and row[column].strip():
                raise InputError(
                    f"expected one of A, B, S, IR or blank, got {row[column]!r}",
                    file=str(path),
                    line=line,
                    field=column,
                )
        hits.setdefault(row["HITId"].strip(), []).append((line, row))

    out: list[Preference] = []
    for hit, rows in hits.items():
        first_line, first = rows[0]
        for line, row in rows[1:]:
            for name in _TIMETRAVEL_INPUTS[2:]:
                if row[name] != first[name]:
                    raise InputError(
                        f"differs from line {first_line} of the same HITId",
                        file=str(path),
                        line=line,
                        field=name,
                    )
        a, b = first["Input.YY1"].strip(), first["Input.YY2"].strip()
        if _same_text(a, b):
            continue
        source = (
            f"Premise: {first['Input.X1'].strip()}\n"
            f"Counterfactual second sentence: {first['Input.XX2'].strip()}"
        )
        context = (
            f"Original second sentence: {first['Input.X2'].strip()}" if first["Input.X2"].strip() else None
        )
        for column, criterion in TIMETRAVEL_CRITERIA.items():
            answers = {row["WorkerId"]: row[column].strip() for _, row in rows}
            votes = [TIMETRAVEL_VOTES[row[column].strip()] for _, row in rows if row[column].strip()]
            mean = sum(votes) / len(votes) if votes else 0.0
            if mean == 0.0:
                continue
            out.append(
                Preference(
                    id=_id("counterfactual_rewriting", criterion, hit),
                    dataset=NAME,
                    task="counterfactual_rewriting",
                    criterion=criterion,
                    item_id=first["Input.STORY"].strip(),
                    source=source,
                    context=context,
                    reference=first["Input.Y"].strip(),
                    output_a=a,
                    output_b=b,
                    label="a" if mean > 0 else "b",
                    margin=abs(mean),
                    system_a=first["Input.YY1_MODEL"].strip(),
                    system_b=first["Input.YY2_MODEL"].strip(),
                    meta={"source_file": path.name, "hit_id": hit, "answers": answers},
                )
            )
    return out


# -------------------------------------------------------------------------------------- defeasible inference


def defeasible_item_id(subset: str, premise: str, hypothesis: str) -> str:
    """The stable input id of a defeasible-inference item: ``<subset>-<12 hex of sha256(premise, hypothesis)>``."""
    digest = hashlib.sha256(f"{premise}\0{hypothesis}".encode()).hexdigest()[:12]
    return f"{subset}-{digest}"


def read_defeasible(path: Path, *, aggregation: str = "mean") -> list[Judgement]:
    """Defeasible inference: each generated or human update rated by 3 annotators on −2 (weakens a lot) … 2
    (strengthens a lot). ``pred_label`` (the intended type) picks the criterion: intensifier → strengthener
    (score = aggregate), attenuator → weakener (score = −aggregate, ratings negated likewise).
    """
    path = Path(path)
    check_aggregation(aggregation)
    out: list[Judgement] = []
    seen: dict[str, int] = {}
    for line, row in iter_jsonl(path):
        premise = text(row, "premise", file=path, where="", line=line)
        hypothesis = text(row, "hypothesis", file=path, where="", line=line)
        update = text(row, "update", file=path, where="", line=line)
        model = text(row, "model", file=path, where="", line=line)
        subset = text(row, "dataset", file=path, where="", line=line)
        intended = text(row, "pred_label", file=path, where="", line=line)
        if intended not in DEFEASIBLE_CRITERIA:
            raise InputError(
                f"expected one of {sorted(DEFEASIBLE_CRITERIA)}, got {intended!r}",
                file=str(path),
                line=line,
                field="pred_label",
            )
        labels = _ratings(row.get("human_label"), LIKERT_2, n=None, path=path, where="human_label", line=line)
        criterion = DEFEASIBLE_CRITERIA[intended]
        sign = 1.0 if criterion == "strengthener" else -1.0
        item_id = defeasible_item_id(subset, premise, hypothesis)
        rid = _id("defeasible_inference", criterion, item_id, model)
        if rid in seen:
            raise InputError(
                f"duplicate update of model {model!r} for this premise, hypothesis and pred_label "
                f"(first at line {seen[rid]})",
                file=str(path),
                line=line,
                field="model",
            )
        seen[rid] = line
        has_premise = premise.strip().lower() != "none"
        source = (
            f"Premise: {premise.strip()}\n" if has_premise else ""
        ) + f"Hypothesis: {hypothesis.strip()}"
        score = sign * aggregate(labels, aggregation)
        out.append(
            Judgement(
                id=rid,
                dataset=NAME,
                task="defeasible_inference",
                criterion=criterion,
                item_id=item_id,
                source=source,
                output=update.strip(),
                system=model,
                score=score + 0.0,
                scale=list(LIKERT_2),
                annotator_scores=[sign * v + 0.0 for v in labels],
                meta={
                    "source_file": path.name,
                    "subset": subset,
                    "human_label": [int(v) for v in labels],
                    "human_irrelevant": row.get("human_irrelevant"),
                    "human_nonsensical": row.get("human_nonsensical"),
                },
            )
        )
    return out


# ------------------------------------------------------------------------------------ counter-speech, hate speech


def read_counterspeech(paths: list[Path], *, aggregation: str = "mean") -> list[Judgement]:
    """Counter-speech (Ashida & Komachi 2022): each generator's response rated by 3 annotators on 0–4 for
    informativeness (``info``), offensiveness (``off``) and stance (``stance``: how strongly it counters the
    post); and each post's own offensiveness (9 ratings on 0–4), as task ``hate_speech``.
    """
    check_aggregation(aggregation)
    out: list[Judgement] = []
    hate: list[Judgement] = []
    for path in map(Path, paths):
        data = json_object(path, "{post key: {post, GPT-2, GPT-Neo, GPT-3}}")
        for key, entry in data.items():
            if not isinstance(entry, dict):
                raise InputError("expected an object", file=str(path), field=key)
            post = get(entry, "post", dict, file=path, where=key)
            post_text = text(post, "text", file=path, where=f"{key}/post").strip()
            post_scores = _ratings(
                post.get("score"), LIKERT_0_4, n=None, path=path, where=f"{key}/post/score"
            )
            hate.append(
                Judgement(
                    id=_id("hate_speech", "offensiveness", key),
                    dataset=NAME,
                    task="hate_speech",
                    criterion="offensiveness",
                    item_id=key,
                    output=post_text,
                    score=aggregate(post_scores, aggregation),
                    scale=list(LIKERT_0_4),
                    annotator_scores=post_scores,
                    meta={"source_file": path.name},
                )
            )
            for generator in COUNTERSPEECH_GENERATORS:
                response = get(entry, generator, dict, file=path, where=key)
                response_text = text(response, "text", file=path, where=f"{key}/{generator}").strip()
                scores = get(response, "score", dict, file=path, where=f"{key}/{generator}")
                for field, criterion in COUNTERSPEECH_CRITERIA.items():
                    ratings = _ratings(
                        scores.get(field),
                        LIKERT_0_4,
                        n=None,
                        path=path,
                        where=f"{key}/{generator}/score/{field}",
                    )
                    out.append(
                        Judgement(
                            id=_id("counter_speech", criterion, key, generator),
                            dataset=NAME,
                            task="counter_speech",
                            criterion=criterion,
                            item_id=key,
                            source=post_text,
                            output=response_text,
                            system=generator,
                            score=aggregate(ratings, aggregation),
                            scale=list(LIKERT_0_4),
                            annotator_scores=ratings,
                            meta={"source_file": path.name},
                        )
                    )
    return out + hate
