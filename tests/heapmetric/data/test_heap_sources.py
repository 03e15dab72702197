"""Tests of the HEAP sources converter: tiny fixtures in each source's real format, plus the real folder."""

from __future__ import annotations

import collections
import csv
import io
import json
from pathlib import Path

import pytest

from heapmetric.data import heap_sources as hs
from heapmetric.errors import InputError, UnknownNameError
from heapmetric.records import Judgement, record_from_dict
from heapmetric.registry import get_criterion

# ------------------------------------------------------------------------------------------- fixture writers


def _csv_text(rows: list[list[str]], newline: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return buf.getvalue()


def write_turingadvice(folder: Path) -> None:
    def situation(sid: str, preferred: dict[str, bool]) -> dict:
        return {
            "situation": {
                "id": sid,
                "title": f"Title {sid}",
                "selftext": f"My problem {sid}.",
                "subreddit": "legaladvice",
            },
            "best_advice": {"bestadvice_id": f"b{sid}", "bestadvice_body": f"Best advice for {sid}."},
            "model_advice": {m: f"{m} advice for {sid}." for m in preferred},
            "turk_ratings": {
                m: {
                    "is_preferred": p,
                    "is_preferred_continuous": float(p),
                    "diagnostics": [
                        {
                            "q1_intensifier": 2,
                            "q2_helpful_or_not": "helpful",
                            "q3_justification": "meaning",
                            "worker_id_anonymized": 3,
                        }
                    ],
                    "worker_ids_anonymized": [3],
                }
                for m, p in preferred.items()
            },
        }

    rows = [
        situation("s1", {"T5-3B": True, "grover-mega": False}),
        situation("s2", {"T5-3B": False, "grover-mega": False}),
    ]
    (folder / hs.TURINGADVICE_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


TELLMEWHY_HEADER = [
    "narrative",
    "question",
    "answer",
    "is_ques_answerable",
    "narrative_lexical_overlap",
    "original_sentence_for_question",
    "original_narrative_form",
    "is_ques_answerable_annotator",
    "question_meta",
    "helpful_sentences",
    "val_ann",
    "gram_ann",
]


def tellmewhy_row(q: int, answer: str, gram: str, val: str, vote: str, majority: str) -> list[str]:
    narrative = 'Tom was hungry, so he cooked. He ate "pasta" at noon.'
    question = ["Why did Tom cook?", "Why did Tom eat at noon?"][q]
    return [
        narrative,
        question,
        answer,
        majority,
        "0.5",
        "Tom was hungry.",
        "['Tom was hungry, so he cooked.', \"He ate 'pasta' at noon.\"]",
        vote,
        f"caters_narrative_7_sentence_{q}_question_0",
        "[1]",
        val,
        gram,
    ]


def write_tellmewhy(folder: Path, rows: list[list[str]] | None = None) -> None:
    if rows is None:
        # Rows of one question are not contiguous, as in the real file.
        rows = [
            tellmewhy_row(0, "He was hungry.", "[2, 2, 1]", "[2, 1, 1]", "Answerable", "Answerable"),
            tellmewhy_row(
                1, "It was lunch time.", "[1, 1, 1]", "[0, 1, 2]", "Not Answerable", "Not Answerable"
            ),
            tellmewhy_row(
                0, "because, he wanted food", "[0, 1, 1]", "[-2, -1, 0]", "Answerable", "Answerable"
            ),
            tellmewhy_row(1, "He likes noon.", "[2, 2, 2]", "[-1, -1, -1]", "Answerable", "Not Answerable"),
            tellmewhy_row(0, "no reason", "[-2, -2, -1]", "[-2, -2, -2]", "Not Answerable", "Answerable"),
            tellmewhy_row(
                1, "He was busy before.", "[1, 2, 2]", "[1, 1, 2]", "Not Answerable", "Not Answerable"
            ),
        ]
    (folder / hs.TELLMEWHY_FILE).write_text(_csv_text([TELLMEWHY_HEADER, *rows]), encoding="utf-8")


COMMONGEN_PAIRS = [
    (
        "dog chase ball",
        "A dog chases a ball in the park.",
        [
            ("the dog chases the ball .", "ball chase the dog", ["1", "0.5", ""]),  # mean 0.5 -> a
            (
                "the dog chases the ball .",
                "a dog, happily, chases a ball.",
                ["0", "0", "0"],
            ),  # tie -> dropped
            ("ball chase the dog", "a dog, happily, chases a ball.", ["-1", "-1", "0.5"]),  # mean -0.5 -> b
        ],
    ),
    (
        "cook kitchen chef",
        "A chef cooks in the kitchen.",
        [
            ("chef cooks in a kitchen", "kitchen cooks chef", ["0.5", "-0.5", "1"]),  # mean 1/3 -> a
            ("chef cooks in a kitchen", "chef cooks in a kitchen", ["0", "0", "0"]),  # same text, tie
            ("kitchen cooks chef", "a chef cooking", ["", "", ""]),  # all blank -> tie
        ],
    ),
]


def write_commongen(folder: Path, n_sheets: int = 3, blocks=COMMONGEN_PAIRS) -> list[Path]:
    paths = []
    for s in range(n_sheets):
        rows = [
            ["Please compare two given sentences.", "", "0 means equally plausible"],
            ["", "", ""],
            ["Sentence 1", "Sentence 2", "Score {-1, -0.5, 0, 0.5, 1 }"],
            ["", "", ""],
        ]
        for b, (concepts, reference, pairs) in enumerate(blocks):
            note = "already done" if s == 2 and b == 1 else ""
            rows += [[f"Concept set: {concepts}", "", note], [f"Reference: {reference}", "", ""]]
            rows += [[s1, s2, scores[s]] for s1, s2, scores in pairs]
            if b < len(blocks) - 1:
                rows.append(["", "", ""])
        path = folder / f"commongen_human_eval_sheet{s + 1}.csv"
        path.write_bytes(_csv_text(rows, newline="\r\n").encode("utf-8"))  # CRLF, as the real sheets
        paths.append(path)
    return paths


TIMETRAVEL_HEADER = [
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
    "Answer.counterfactual",
    "Answer.ending",
    "Answer.feedback",
    "Answer.plot",
    "Answer.premise",
    "Answer.second",
    "Approve",
    "Reject",
]


def timetravel_row(hit: str, worker: str, yy1: str, yy2: str, answers: dict[str, str]) -> list[str]:
    a = {"counterfactual": "S", "ending": "S", "plot": "S", "premise": "S", "second": "S", **answers}
    return [
        hit,
        worker,
        "story-1",
        "Ann had a dog.",
        "She walked it daily.",
        "It was happy. The end, truly.",
        "She walked it never.",
        yy1,
        yy2,
        "test_m_supervised_x1x2yx1xx2",
        "test_human",
        a["counterfactual"],
        a["ending"],
        "{}",
        a["plot"],
        a["premise"],
        a["second"],
        "",
        "",
    ]


def write_timetravel(folder: Path, rows: list[list[str]] | None = None) -> None:
    if rows is None:
        rows = [
            timetravel_row(
                "H1",
                "worker00",
                "It was sad, then.",
                "It was happy.",
                {"plot": "A", "premise": "A", "ending": "A", "second": "IR"},
            ),
            timetravel_row(
                "H1",
                "worker01",
                "It was sad, then.",
                "It was happy.",
                {"plot": "B", "premise": "A", "ending": "", "second": "B"},
            ),
            timetravel_row("H2", "worker00", "Same ending.", "Same  ending.", {"plot": "A"}),
            timetravel_row("H2", "worker02", "Same ending.", "Same  ending.", {"plot": "A"}),
        ]
    (folder / hs.TIMETRAVEL_FILE).write_bytes(_csv_text([TIMETRAVEL_HEADER, *rows], newline="\r\n").encode())


def write_defeasible(folder: Path, extra: list[dict] | None = None) -> None:
    rows = []
    for model, labels in (("bart_large", [2, 1, 1]), ("gpt2xl", [-1, 0, 0]), ("human", [2, 2, 2])):
        rows.append(
            {
                "premise": "A man plays guitar.",
                "hypothesis": "He is a musician.",
                "update": f"{model} s",
                "model": model,
                "dataset": "snli",
                "pred_label": "intensifier",
                "human_label": labels,
                "human_irrelevant": [0, 0, 0],
                "human_nonsensical": [0, 0, 0],
            }
        )
    for model, labels in (("bart_large", [-2, -1, -1]), ("gpt2xl", [0, 1, 0]), ("human", [-2, -2, -2])):
        rows.append(
            {
                "premise": "A man plays guitar.",
                "hypothesis": "He is a musician.",
                "update": f"{model} w",
                "model": model,
                "dataset": "snli",
                "pred_label": "attenuator",
                "human_label": labels,
                "human_irrelevant": [0, 0, 0],
                "human_nonsensical": [0, 0, 0],
            }
        )
    rows.append(
        {
            "premise": "none",
            "hypothesis": "It is rude to lie.",
            "update": "You lie to save a life.",
            "model": "human",
            "dataset": "sc",
            "pred_label": "attenuator",
            "human_label": [-2, -1, -2],
            "human_irrelevant": [0, 0, 0],
            "human_nonsensical": [0, 0, 0],
        }
    )
    rows += extra or []
    (folder / hs.DEFEASIBLE_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_counterspeech(folder: Path) -> None:
    def entry(post: str, post_scores: list[int]) -> dict:
        return {
            "post": {"text": post, "score": post_scores},
            "GPT-2": {
                "text": "So what?",
                "score": {"off": [1, 1, 2], "stance": [2, 3, 4], "info": [1, 1, 2]},
            },
            "GPT-Neo": {
                "text": "That's not true.",
                "score": {"off": [1, 1, 1], "stance": [4, 4, 4], "info": [1, 1, 1]},
            },
            "GPT-3": {
                "text": "This is a generalization.",
                "score": {"off": [0, 1, 1], "stance": [3, 4, 4], "info": [3, 4, 4]},
            },
        }

    (folder / "counterspeech_conan.json").write_text(
        json.dumps(
            {
                "conan_1": entry("Group X are all lazy.", [0, 3, 4, 4, 4, 4, 4, 4, 4]),
                "conan_2": entry("Group Y cannot be trusted.", [1, 1, 2, 2, 2, 3, 3, 3, 3]),
            }
        ),
        encoding="utf-8",
    )
    (folder / "counterspeech_sbic.json").write_text(
        json.dumps({"sbic_1": entry("You are pretty for a Z.", [0, 0, 1, 1, 1, 2, 2, 2, 2])}),
        encoding="utf-8",
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_turingadvice(tmp_path)
    write_tellmewhy(tmp_path)
    write_commongen(tmp_path)
    write_timetravel(tmp_path)
    write_defeasible(tmp_path)
    write_counterspeech(tmp_path)
    return tmp_path


def _by_id(records) -> dict:
    return {r.id: r for r in records}


def _counts(records) -> collections.Counter:
    return collections.Counter((r.task, r.criterion, type(r).__name__) for r in records)


# ---------------------------------------------------------------------------------------------------- tests


def test_convert_fixture_counts_and_valid_records(folder: Path) -> None:
    records = hs.convert(folder)
    assert _counts(records) == {
        ("advice", "helpfulness", "Preference"): 4,
        ("why_qa", "grammaticality", "Judgement"): 6,
        ("why_qa", "validity", "Judgement"): 6,
        ("why_qa", "answerability", "Judgement"): 2,
        ("commonsense_generation", "plausibility", "Preference"): 3,
        ("counterfactual_rewriting", "premise", "Preference"): 1,
        ("counterfactual_rewriting", "ending", "Preference"): 1,
        ("counterfactual_rewriting", "second_sentence", "Preference"): 1,
        ("defeasible_inference", "strengthener", "Judgement"): 3,
        ("defeasible_inference", "weakener", "Judgement"): 4,
        ("counter_speech", "informativeness", "Judgement"): 9,
        ("counter_speech", "offensiveness", "Judgement"): 9,
        ("counter_speech", "stance", "Judgement"): 9,
        ("hate_speech", "offensiveness", "Judgement"): 3,
    }  # TimeTravel plot: H1's two votes cancel out, H2's endings are the same text
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids))
    for r in records:
        assert r.dataset == "heap_sources"
        again = record_from_dict(r.to_dict())  # every record passes the loader's validation
        assert again == r
        criterion = get_criterion(r.task, r.criterion)  # every (task, criterion) is registered
        if isinstance(r, Judgement):
            assert criterion.scale is not None and tuple(r.scale) == tuple(criterion.scale)
            assert r.scale[0] <= r.score <= r.scale[1]
    assert [r.id for r in hs.convert(folder)] == ids  # deterministic


def test_turingadvice_native_preferences_against_best_advice(folder: Path) -> None:
    prefs = hs.read_turingadvice(folder / hs.TURINGADVICE_FILE)
    assert len(prefs) == 4
    for p in prefs:
        assert p.task == "advice" and p.item_id in {"s1", "s2"}
        assert p.reference is None  # the best advice is an output, never also a reference
        assert p.source == f"Title {p.item_id}\n\nMy problem {p.item_id}."
        assert {p.system_a, p.system_b} == {p.id.split("/")[-1].split("~")[0], hs.BEST_ADVICE}
        model = p.system_a if p.system_b == hs.BEST_ADVICE else p.system_b
        winner = p.system_a if p.label == "a" else p.system_b
        preferred = p.item_id == "s1" and model == "T5-3B"
        assert winner == (model if preferred else hs.BEST_ADVICE)
        assert (p.output_a if p.system_a == hs.BEST_ADVICE else p.output_b) == f"Best advice for {p.item_id}."
        assert p.meta["helpful_votes"] == ["helpful"]


def test_tellmewhy_grades_and_answerability(folder: Path) -> None:
    recs = _by_id(hs.read_tellmewhy(folder / hs.TELLMEWHY_FILE))
    q0 = "caters_narrative_7_sentence_0_question_0"
    g = recs[f"heap_sources/why_qa/grammaticality/{q0}/0"]
    assert g.item_id == q0 and g.output == "He was hungry."
    assert g.annotator_scores == [2.0, 2.0, 1.0] and g.score == pytest.approx(5 / 3)
    assert g.source.endswith("\n\nQuestion: Why did Tom cook?") and '"pasta"' in g.source
    v = recs[f"heap_sources/why_qa/validity/{q0}/2"]  # the third answer of q0 is on the 6th line
    assert v.output == "no reason" and v.score == -2.0
    a = recs[f"heap_sources/why_qa/answerability/{q0}"]
    assert a.item_id == "caters_narrative_7" and a.output == "Why did Tom cook?"
    assert a.annotator_scores == [1.0, 1.0, 0.0] and a.score == pytest.approx(2 / 3)
    assert a.meta["majority"] == "Answerable" and a.scale == [0.0, 1.0]

    floored = _by_id(hs.read_tellmewhy(folder / hs.TELLMEWHY_FILE, aggregation="floor_mean"))
    assert floored[g.id].score == 1.0  # floor(5/3)
    assert floored[f"heap_sources/why_qa/validity/{q0}/1"].score == -1.0  # floor(-1)
    assert floored[f"heap_sources/why_qa/grammaticality/{q0}/1"].score == 0.0  # floor(2/3)
    assert floored[a.id].score == 0.0 and floored[g.id].annotator_scores == g.annotator_scores
    assert _by_id(hs.read_tellmewhy(folder / hs.TELLMEWHY_FILE, aggregation="median"))[g.id].score == 2.0


def test_commongen_merges_sheets_blank_as_zero_and_drops_ties(tmp_path: Path) -> None:
    sheets = write_commongen(tmp_path)
    assert sheets[0].read_bytes().count(b"\r\n") > 10
    prefs = hs.read_commongen(sheets)
    assert [(p.output_a, p.output_b, p.label) for p in prefs] == [
        ("the dog chases the ball .", "ball chase the dog", "a"),
        ("ball chase the dog", "a dog, happily, chases a ball.", "b"),
        ("chef cooks in a kitchen", "kitchen cooks chef", "a"),
    ]
    assert [p.margin for p in prefs] == pytest.approx([0.5, 0.5, 1 / 3])
    first = prefs[0]
    assert first.item_id == "dog chase ball" and first.source == "Concept set: dog chase ball"
    assert first.reference == "A dog chases a ball in the park."
    assert first.meta["sheet_scores"] == [1.0, 0.5, None]
    assert first.id == "heap_sources/commonsense_generation/plausibility/block000/pair00"
    assert prefs[2].id.endswith("block001/pair00")
    assert hs.commongen_sheets(tmp_path) == sheets


def test_commongen_sheets_that_disagree_name_file_and_line(tmp_path: Path) -> None:
    sheets = write_commongen(tmp_path, n_sheets=2)
    text = sheets[1].read_text(encoding="utf-8").replace("kitchen cooks chef", "kitchen cooked chef", 1)
    sheets[1].write_bytes(text.encode())
    with pytest.raises(InputError) as err:
        hs.read_commongen(sheets)
    assert err.value.file == str(sheets[1]) and err.value.line == 13
    assert "differs from commongen_human_eval_sheet1.csv line 13" in str(err.value)


def test_commongen_bad_score_names_line(tmp_path: Path) -> None:
    blocks = [("a b", "A b.", [("x y", "y x", ["2", "0", "0"])])]
    sheets = write_commongen(tmp_path, n_sheets=1, blocks=blocks)
    with pytest.raises(InputError, match=r"sheet1\.csv:7 field 'Score': expected a score in"):
        hs.read_commongen(sheets)


def test_timetravel_votes_merge_per_hit(folder: Path) -> None:
    prefs = _by_id(hs.read_timetravel(folder / hs.TIMETRAVEL_FILE))
    # H1: premise A+A -> a; plot A+B -> tie dropped; ending A + blank -> a (blank is no vote);
    # second IR+B -> b with margin 0.5; counterfactual S+S -> tie. H2 has identical endings -> nothing.
    assert sorted(prefs) == [
        "heap_sources/counterfactual_rewriting/ending/H1",
        "heap_sources/counterfactual_rewriting/premise/H1",
        "heap_sources/counterfactual_rewriting/second_sentence/H1",
    ]
    premise = prefs["heap_sources/counterfactual_rewriting/premise/H1"]
    assert premise.label == "a" and premise.margin == 1.0 and premise.item_id == "story-1"
    assert premise.output_a == "It was sad, then." and premise.system_b == "test_human"
    assert premise.reference == "It was happy. The end, truly."
    assert premise.source == "Premise: Ann had a dog.\nCounterfactual second sentence: She walked it never."
    assert premise.context == "Original second sentence: She walked it daily."
    assert prefs["heap_sources/counterfactual_rewriting/ending/H1"].margin == 1.0
    second = prefs["heap_sources/counterfactual_rewriting/second_sentence/H1"]
    assert second.label == "b" and second.margin == 0.5
    assert second.meta["answers"] == {"worker00": "IR", "worker01": "B"}


def test_timetravel_bad_answer_and_inconsistent_hit(tmp_path: Path) -> None:
    write_timetravel(
        tmp_path,
        [timetravel_row("H1", "w0", "x", "y", {}), timetravel_row("H1", "w1", "x", "y", {"plot": "C"})],
    )
    with pytest.raises(InputError, match=r":3 field 'Answer.plot': expected one of A, B, S, IR or blank"):
        hs.read_timetravel(tmp_path / hs.TIMETRAVEL_FILE)
    write_timetravel(
        tmp_path, [timetravel_row("H1", "w0", "x", "y", {}), timetravel_row("H1", "w1", "x", "z", {})]
    )
    with pytest.raises(InputError, match=r":3 field 'Input.YY2': differs from line 2 of the same HITId"):
        hs.read_timetravel(tmp_path / hs.TIMETRAVEL_FILE)


def test_defeasible_weakener_is_negated_and_items_shared(folder: Path) -> None:
    recs = hs.read_defeasible(folder / hs.DEFEASIBLE_FILE)
    strong = {r.system: r for r in recs if r.criterion == "strengthener"}
    weak = {r.system: r for r in recs if r.criterion == "weakener" and r.meta["subset"] == "snli"}
    assert strong["bart_large"].score == pytest.approx(4 / 3)
    assert weak["bart_large"].score == pytest.approx(4 / 3)  # labels [-2, -1, -1] weaken: negated mean
    assert weak["bart_large"].annotator_scores == [2.0, 1.0, 1.0]
    assert weak["bart_large"].meta["human_label"] == [-2, -1, -1]
    assert weak["gpt2xl"].score == pytest.approx(-1 / 3)  # it strengthened: a poor weakener
    assert (
        strong["human"].item_id
        == weak["human"].item_id
        == hs.defeasible_item_id("snli", "A man plays guitar.", "He is a musician.")
    )
    assert strong["human"].source == "Premise: A man plays guitar.\nHypothesis: He is a musician."
    sc = next(r for r in recs if r.meta["subset"] == "sc")
    assert sc.source == "Hypothesis: It is rude to lie." and sc.item_id.startswith("sc-")
    floored = {
        (r.criterion, r.system): r.score
        for r in hs.read_defeasible(folder / hs.DEFEASIBLE_FILE, aggregation="floor_mean")
    }
    assert floored[("strengthener", "bart_large")] == 1.0  # floor(4/3)
    assert floored[("weakener", "bart_large")] == 2.0  # -floor(-4/3): HEAP floors the raw labels
    assert floored[("strengthener", "gpt2xl")] == -1.0  # floor(-1/3)


def test_defeasible_rating_out_of_scale_names_line(tmp_path: Path) -> None:
    bad = {
        "premise": "p",
        "hypothesis": "h",
        "update": "u",
        "model": "m",
        "dataset": "snli",
        "pred_label": "intensifier",
        "human_label": [1, 3, 0],
    }
    write_defeasible(tmp_path, extra=[bad])
    with pytest.raises(InputError) as err:
        hs.read_defeasible(tmp_path / hs.DEFEASIBLE_FILE)
    assert err.value.line == 8 and err.value.field == "human_label/1"
    assert "expected a value in [-2, 2], got 3.0" in str(err.value)


def test_counterspeech_and_hate_speech(folder: Path) -> None:
    recs = _by_id(hs.read_counterspeech([folder / n for n in hs.COUNTERSPEECH_FILES]))
    off = recs["heap_sources/counter_speech/offensiveness/conan_1/GPT-2"]
    assert off.source == "Group X are all lazy." and off.output == "So what?" and off.system == "GPT-2"
    assert off.score == pytest.approx(4 / 3) and off.scale == [0.0, 4.0] and off.item_id == "conan_1"
    assert recs["heap_sources/counter_speech/stance/conan_1/GPT-Neo"].score == 4.0
    assert recs["heap_sources/counter_speech/informativeness/sbic_1/GPT-3"].score == pytest.approx(11 / 3)
    hate = recs["heap_sources/hate_speech/offensiveness/conan_1"]
    assert hate.output == "Group X are all lazy." and hate.source is None and hate.item_id == "conan_1"
    assert len(hate.annotator_scores) == 9 and hate.score == pytest.approx(31 / 9)


def test_malformed_tellmewhy_names_file_line_and_field(tmp_path: Path) -> None:
    rows = [
        tellmewhy_row(0, "fine", "[1, 1, 1]", "[1, 1, 1]", "Answerable", "Answerable"),
        tellmewhy_row(0, "bad", "[1, 1, 1]", "not json", "Answerable", "Answerable"),
    ]
    write_tellmewhy(tmp_path, rows)
    path = tmp_path / hs.TELLMEWHY_FILE
    with pytest.raises(InputError) as err:
        hs.read_tellmewhy(path)
    assert str(err.value).startswith(f"{path}:3 field 'val_ann': expected a JSON list")

    write_tellmewhy(tmp_path, [tellmewhy_row(0, "ok", "[1, 1, 1]", "[1, 1, 1]", "Maybe", "Answerable")])
    with pytest.raises(InputError, match=r":2 field 'is_ques_answerable_annotator'"):
        hs.read_tellmewhy(path)

    path.write_text(_csv_text([TELLMEWHY_HEADER[:-1], tellmewhy_row(0, "a", "[1]", "[1]", "x", "y")[:-1]]))
    with pytest.raises(InputError, match=r":1 field 'gram_ann': missing column in the header"):
        hs.read_tellmewhy(path)

    path.write_text(_csv_text([TELLMEWHY_HEADER, tellmewhy_row(0, "a", "[1]", "[1]", "x", "y")[:-2]]))
    with pytest.raises(InputError, match=r":2: expected 12 fields like the header, got 10"):
        hs.read_tellmewhy(path)


def test_malformed_turingadvice_and_missing_file(folder: Path) -> None:
    path = folder / hs.TURINGADVICE_FILE
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    row["turk_ratings"]["T5-3B"]["is_preferred"] = "yes"
    path.write_text(lines[0] + "\n" + json.dumps(row) + "\n")
    with pytest.raises(InputError, match=r":2 field 'turk_ratings/T5-3B/is_preferred': expected bool"):
        hs.convert(folder)
    path.unlink()
    with pytest.raises(InputError, match="expected file is missing"):
        hs.convert(folder)


def test_unknown_aggregation_is_rejected(folder: Path) -> None:
    with pytest.raises(UnknownNameError, match="floor_mean"):
        hs.convert(folder, aggregation="floor")


# ------------------------------------------------------------------------------------------------ real data


@pytest.mark.data
def test_real_heap_sources_counts(data_dir: Path) -> None:
    folder = data_dir / hs.FOLDER
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} does not exist (set HEAPMETRIC_DATA)")
    records = hs.convert(folder)
    assert _counts(records) == {
        # TuringAdvice: 200 situations x 6 advice givers, each vs the best Reddit advice (binary, no ties).
        ("advice", "helpfulness", "Preference"): 1200,
        # TellMeWhy: 464 questions x 3 answers; answerability once per question.
        ("why_qa", "grammaticality", "Judgement"): 1392,
        ("why_qa", "validity", "Judgement"): 1392,
        ("why_qa", "answerability", "Judgement"): 464,
        # CommonGen: 100 blocks x 15 pairs, mean over the 4 sheets (blank = 0), mean 0 dropped. SOURCE.md
        # states 1,079 for this rule; the files give 1,103 (see datasets_cards/heap_sources.md).
        ("commonsense_generation", "plausibility", "Preference"): 1103,
        # TimeTravel: 700 HITs, 62 with identical endings dropped, then ties of the merged votes dropped.
        ("counterfactual_rewriting", "premise", "Preference"): 337,
        ("counterfactual_rewriting", "second_sentence", "Preference"): 360,
        ("counterfactual_rewriting", "plot", "Preference"): 386,
        ("counterfactual_rewriting", "ending", "Preference"): 373,
        ("counterfactual_rewriting", "counterfactual", "Preference"): 377,
        # Defeasible inference: 7,176 updates = 3,609 intensifiers + 3,567 attenuators.
        ("defeasible_inference", "strengthener", "Judgement"): 3609,
        ("defeasible_inference", "weakener", "Judgement"): 3567,
        # Counter-speech: (306 + 42) posts x 3 generators; hate speech: the 348 posts.
        ("counter_speech", "informativeness", "Judgement"): 1044,
        ("counter_speech", "offensiveness", "Judgement"): 1044,
        ("counter_speech", "stance", "Judgement"): 1044,
        ("hate_speech", "offensiveness", "Judgement"): 348,
    }
    assert len({r.id for r in records}) == len(records)
    items = collections.defaultdict(set)
    for r in records:
        items[(r.task, r.criterion)].add(r.item_id)
    assert len(items[("advice", "helpfulness")]) == 200
    assert len(items[("why_qa", "validity")]) == 464
    assert len(items[("why_qa", "answerability")]) == 190
    assert len(items[("commonsense_generation", "plausibility")]) == 93
    assert len(items[("counterfactual_rewriting", "plot")]) == 100
    tt_hits = {r.meta["hit_id"] for r in records if r.task == "counterfactual_rewriting"}
    assert len(tt_hits) == 525  # of the 638 HITs with two different endings, 113 tie on all 5 criteria
    assert (
        len(items[("defeasible_inference", "strengthener")] | items[("defeasible_inference", "weakener")])
        == 1203
    )  # 2,392 (premise, hypothesis, type) inputs over 1,203 premise/hypothesis pairs
    assert len(items[("counter_speech", "stance")]) == 348
    sheet3_blank = sum(
        r.meta["sheet_scores"][2] is None for r in records if r.task == "commonsense_generation"
    )
    assert sheet3_blank == 23  # of the 45 blank scores in sheet 3, 22 belong to pairs whose mean is 0


@pytest.mark.data
def test_real_heap_sources_floor_mean(data_dir: Path) -> None:
    folder = data_dir / hs.FOLDER
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} does not exist (set HEAPMETRIC_DATA)")
    records = hs.read_tellmewhy(folder / hs.TELLMEWHY_FILE, aggregation="floor_mean")
    validity = collections.Counter(r.score for r in records if r.criterion == "validity")
    assert validity == {2.0: 134, 1.0: 1071, 0.0: 169, -1.0: 17, -2.0: 1}
