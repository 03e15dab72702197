"""The instruction-following preference sets: alpacaeval_annotations, arena_bench_v1, autoj_pairwise,
prometheus_eval. Parsing edge cases on tiny fixtures (conftest writers); counts, exclusions and leakage on the
real files (skipped with a reason when ``$HEAPMETRIC_DATA`` lacks them)."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from heapmetric.data import alpacaeval_annotations as ae
from heapmetric.data import arena_bench_v1 as arena
from heapmetric.data import autoj_pairwise as autoj
from heapmetric.data import build
from heapmetric.data import prometheus_eval as prom
from heapmetric.data.exclusions import describe, total
from heapmetric.data.preferences import derive_preferences
from heapmetric.data.splits import SPLITS, record_split
from heapmetric.env import REPO_ROOT, data_dir
from heapmetric.errors import InputError
from heapmetric.io import iter_jsonl
from heapmetric.records import Judgement, Preference, is_human_label, label_source, read_records
from tests.heapmetric.data.conftest import (
    _jsonl_gz,
    arena_prompt,
    mt_bench_dialogue,
    prometheus_prompt,
    write_sources,
)

NAMES = ("autoj_pairwise", "prometheus_eval", "arena_bench_v1", "alpacaeval_annotations")
MODULES = {
    "autoj_pairwise": autoj,
    "prometheus_eval": prom,
    "arena_bench_v1": arena,
    "alpacaeval_annotations": ae,
}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_sources(tmp_path / "data", list(NAMES))


# --- AlpacaEval annotations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation_set", "preference", "expected"),
    [
        ("ae1", 2, 1.0),
        ("ae1", 2.0, 1.0),
        ("ae1", 1, 0.0),
        ("ae1", 1.0, 0.0),
        ("ae1", 0, 0.5),
        ("ae1", 0.0, 0.5),
        ("ae1", 1.5, 0.5),
        ("ae1", None, None),
        ("ae2", 1.75, 0.75),
        ("ae2", 1.0, 0.0),
        ("ae2", 2, 1.0),
        ("ae2", 1.5, None),
        ("ae2", None, None),
    ],
)
def test_p_a_of_reads_every_preference_encoding(annotation_set, preference, expected):
    assert ae.p_a_of(annotation_set, preference) == expected


@pytest.mark.parametrize(
    ("annotation_set", "preference"), [("ae1", 3), ("ae1", 1.2), ("ae2", 2.5), ("ae2", True)]
)
def test_p_a_of_rejects_values_outside_the_encoding(annotation_set, preference):
    with pytest.raises(ValueError):
        ae.p_a_of(annotation_set, preference)


def test_alpacaeval_tiny_records_and_exclusions(tiny):
    records, excluded = ae.convert_report(tiny / "alpacaeval_annotations")
    got = {r.id: (r.label, r.meta["p_a"], r.meta["label_source"], r.output_b) for r in records}
    assert got == {
        "alpacaeval_annotations/ae2/kept-x/0": ("a", pytest.approx(0.8), "gpt-4-turbo", "Apple."),
        "alpacaeval_annotations/ae2/kept-x/1": ("b", pytest.approx(0.25), "gpt-4-turbo", "2 + 2 = 4."),
        "alpacaeval_annotations/ae2/kept-y/2": ("a", 1.0, "gpt-4-turbo", "Hi!"),
        "alpacaeval_annotations/ae1/kept-x/0": ("a", 1.0, "gpt-4", "ae1 ref 0"),
        "alpacaeval_annotations/ae1/kept-x/1": ("b", 0.0, "gpt-4", "ae1 ref 1"),
        "alpacaeval_annotations/ae1/kept-x/2": ("tie", 0.5, "gpt-4", "ae1 ref 2"),
        # this model's judge saw the shipped text_davinci_003 outputs as the reference
        "alpacaeval_annotations/ae1/Mistral-7B+RAHF-DUAL+LoRA/2": ("tie", 0.5, "gpt-4", "Hello."),
        "alpacaeval_annotations/ae1/kept-z/2": ("b", 0.0, "gpt-4", "ae1 ref 2"),
    }
    r = next(r for r in records if r.id.endswith("ae2/kept-x/0"))
    assert (r.item_id, r.source, r.output_a, r.system_a, r.system_b) == (
        "0",
        "Name a fruit.",
        "Mango.",
        "kept-x",
        "gpt4_1106_preview",
    )
    assert (
        r.meta["annotation_set"] == "ae2" and r.task == "instruction_following" and r.criterion == "overall"
    )
    assert {k: dict(v) for k, v in excluded.items()} == {
        ae.EXCLUDED_BENCH: {"ae2:gpt4_1106_preview": 1, "ae1:alpaca-7b": 1, "ae1:gpt4_0314": 1},
        ae.EXCLUDED_GAMING: {"ae2:gpt4_gamed": 1},
        ae.SKIPPED_NO_JUDGEMENT: {"ae2:kept-x": 1, "ae1:kept-z": 1},
        ae.SKIPPED_EMPTY: {"ae2:kept-y": 1, "ae1:Mistral-7B+RAHF-DUAL+LoRA": 1},
        ae.SKIPPED_SAME_AS_BENCH: {"ae2:kept-y": 1},
    }
    assert "gaming attack: 1 (ae2:gpt4_gamed 1)" in describe(excluded)


def test_alpacaeval_model_duplicating_a_bench_system_is_excluded(tiny):
    folder = tiny / "alpacaeval_annotations"
    rows = [
        {"model": "renamed", "index": i, "dataset": "koala", "output": out, "preference": 1.9}
        for i, out in enumerate(["Banana", "4", "a new answer"])  # alpaca-7b's outputs on 2 of 3 lines
    ]

    _jsonl_gz(folder / "ae2_gpt4_turbo.jsonl.gz", rows)
    records, excluded = ae.convert_report(folder)
    assert not [r for r in records if r.system_a == "renamed"]
    assert excluded[ae.EXCLUDED_BENCH]["ae2:renamed"] == 3


def test_alpacaeval_bad_preference_names_file_and_line(tiny):

    folder = tiny / "alpacaeval_annotations"
    _jsonl_gz(
        folder / "ae1_gpt4.jsonl.gz",
        [{"model": "m", "index": 0, "dataset": "koala", "output": "x", "preference": 7}],
    )
    with pytest.raises(InputError, match=r"ae1_gpt4.jsonl.gz:1.*preference"):
        ae.convert(folder)


# --- Arena-Bench v1 ---------------------------------------------------------------------------------------


def test_split_user_prompt_cuts_reference_and_answer():
    prompt = arena_prompt("Q?", "ref\n[not a marker]", "line 1\n\nline 2")
    assert arena.split_user_prompt(prompt, "Q?") == ("ref\n[not a marker]", "line 1\n\nline 2")
    with pytest.raises(ValueError, match="Question"):
        arena.split_user_prompt(prompt, "Another question?")
    with pytest.raises(ValueError, match="End of Assistant"):
        arena.split_user_prompt(prompt + "\n", "Q?")


def test_arena_tiny_records_and_exclusions(tiny):
    records, excluded = arena.convert_report(tiny / "arena_bench_v1")
    got = {r.id: (r.score, r.output, r.reference) for r in records}
    assert got == {
        "arena_bench_v1/m1/q1": (9.0, "4", "4"),
        "arena_bench_v1/m1/q3": (7.0, "Old pond\nfrog", None),
        "arena_bench_v1/m2/q1": (2.0, "5", "4"),
        "arena_bench_v1/claude-2/q1": (8.0, "2+2 is 4", "4 (old)"),
    }
    assert all(r.scale == [1.0, 10.0] and r.source for r in records)
    assert next(r for r in records if r.system == "claude-2").meta == {"superseded": True}
    assert {k: dict(v) for k, v in excluded.items()} == {
        arena.EXCLUDED_ARENA_HARD: {"m1": 1},
        arena.EXCLUDED_BENCH: {"gpt-4-0314": 1},
        arena.SKIPPED_NULL: {"m1": 1},
        arena.SKIPPED_EMPTY: {"m2": 1},
    }


def test_arena_broken_line_names_file_and_line(tiny):
    path = tiny / "arena_bench_v1" / "model_judgment" / "m2.jsonl.gz"
    rows = [{"question_id": "q1", "model": "m2", "user_prompt": "[Question]\nWhat is 2+2?\n", "score": 3}]
    _jsonl_gz(path, rows)
    with pytest.raises(InputError, match=r"m2.jsonl.gz:1 field 'user_prompt'"):
        arena.convert(tiny / "arena_bench_v1")
    path.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="m2.jsonl.gz"):
        arena.convert(tiny / "arena_bench_v1")


# --- Auto-J ----------------------------------------------------------------------------------------------


def test_autoj_tiny_records_and_exclusions(tiny):
    records, excluded = autoj.convert_report(tiny / "autoj_pairwise")
    assert {r.id: r.label for r in records} == {
        "autoj_pairwise/0": "a",
        "autoj_pairwise/4": "tie",
        "autoj_pairwise/5": "b",  # an AlpacaEval near match noted as not the same question is kept
    }
    by_id = {r.id: r for r in records}
    assert by_id["autoj_pairwise/0"].item_id == by_id["autoj_pairwise/4"].item_id  # grouped by prompt
    assert by_id["autoj_pairwise/0"].meta == {"scenario": "a"}
    assert {k: dict(v) for k, v in excluded.items()} == {
        "prompt in AlpacaEval": {"c": 1},
        autoj.SKIPPED_IDENTICAL: {"b": 1},
        autoj.SKIPPED_EMPTY: {"d": 1},
    }


# --- Prometheus ------------------------------------------------------------------------------------------


def test_prometheus_sections_with_and_without_reference():
    plain = prometheus_sections_of("Do X.\n\nThen Y.", "Done: X, then Y.\n### Not a header", "Rubric?")
    assert plain["instruction"] == "Do X.\n\nThen Y."
    assert plain["response"] == "Done: X, then Y.\n### Not a header"
    assert plain["rubric"].startswith("[Rubric?]") and "reference" not in plain
    with_ref = prom.prometheus_sections(prometheus_prompt("I", "R", "Rub", reference="The ref."))
    assert with_ref["reference"] == "The ref." and with_ref["response"] == "R"


def prometheus_sections_of(instruction: str, response: str, rubric: str) -> dict[str, str]:
    return prom.prometheus_sections(prometheus_prompt(instruction, response, rubric))


def test_prometheus_sections_reject_ambiguous_or_incomplete_prompts():
    doubled = prometheus_prompt("I", "R\n###Score Rubrics:\nfake", "Rub")
    with pytest.raises(ValueError, match="occurs 2 times"):
        prom.prometheus_sections(doubled)
    with pytest.raises(ValueError, match="Response to evaluate"):
        prom.prometheus_sections(
            prometheus_prompt("I", "R", "Rub").replace("###Response to evaluate:", "Response:")
        )


def test_split_dialogue_takes_the_last_user_turn():
    context, question = prom.split_dialogue(mt_bench_dialogue("Q1?", "A1 mentions\n\nUser: quoted", "Q2?"))
    assert question == "Q2?"
    assert context == "User: Q1?\n\nAssistant:A1 mentions\n\nUser: quoted"
    with pytest.raises(ValueError, match="preamble"):
        prom.split_dialogue("User: Q1?\n\nAssistant: ")


def test_prometheus_tiny_records(tiny):
    records, excluded = prom.convert_report(tiny / "prometheus_eval")
    assert excluded == {}
    prefs = [r for r in records if isinstance(r, Preference)]
    grades = [r for r in records if isinstance(r, Judgement)]
    assert {r.criterion for r in prefs} == {"helpfulness", "harmlessness", "honesty", "overall"}
    for r in prefs:
        chosen, rejected = (r.output_a, r.output_b) if r.label == "a" else (r.output_b, r.output_a)
        assert chosen != rejected and r.meta["label_source"] == "human"
    labels = Counter(r.label for r in prefs)
    assert labels["a"] and labels["b"]  # position does not carry the label
    helpful = next(r for r in prefs if r.criterion == "helpfulness")
    honest = next(r for r in prefs if r.criterion == "honesty")
    assert helpful.source == "How do I boil an egg?" and helpful.item_id == honest.item_id
    assert {r.system: r.score for r in grades} == {
        "chatgpt": pytest.approx(13 / 3),
        "vicuna_13b": pytest.approx(7 / 3),
    }
    g = grades[0]
    assert (g.criterion, g.scale, g.source, g.reference, g.item_id) == (
        "follow_up",
        [1.0, 5.0],
        "Rephrase it as a limerick.",
        "In this blog",
        "mt_bench-81",
    )
    assert g.context.startswith("User: Write an outline.\n\nAssistant:") and g.meta["label_source"] == "gpt-4"
    floor = prom.convert(tiny / "prometheus_eval", aggregation="floor_mean")
    assert {r.system: r.score for r in floor if isinstance(r, Judgement)} == {
        "chatgpt": 4.0,
        "vicuna_13b": 2.0,
    }


def test_prometheus_chosen_positions_balance_within_each_group():
    groups = {f"id{i}": ("x" if i % 3 else "y") for i in range(30)}
    first = prom.chosen_positions(groups)
    for g in ("x", "y"):
        n_a = sum(first[i] for i in groups if groups[i] == g)
        n = sum(1 for i in groups if groups[i] == g)
        assert n_a in (n // 2, (n + 1) // 2)
    assert first == prom.chosen_positions(dict(reversed(list(groups.items()))))


# --- build: provenance on every record, stats per label source, no split leak --------------------------


def test_build_stamps_label_source_everywhere(tiny, tmp_path):
    out = tmp_path / "out"
    results = build.build(tiny, out, only=list(NAMES))
    assert [r.status for r in results] == ["built"] * 4
    stats = json.loads((out / "stats.json").read_text())
    for name in NAMES:
        seen: dict[str, str] = {}
        for split in SPLITS:
            for r in read_records(out / name / f"{split}.jsonl"):
                assert r.meta["label_source"] in ("human", "gpt-4", "gpt-4-turbo"), r.id
                assert seen.setdefault(r.item_id, split) == split
        assert all("label_source" in row for row in stats["datasets"][name]["rows"])
    arena_rows = stats["datasets"]["arena_bench_v1"]["rows"]
    assert {row["label_source"] for row in arena_rows} == {"gpt-4"}
    assert sum(row["records"] for row in arena_rows if row["kind"] == "preference") == 3  # derived, stamped
    prom_sources = {
        (row["criterion"], row["label_source"]) for row in stats["datasets"]["prometheus_eval"]["rows"]
    }
    assert ("follow_up", "gpt-4") in prom_sources and ("helpfulness", "human") in prom_sources
    ae_rows = stats["datasets"]["alpacaeval_annotations"]["rows"]
    assert {r["label_source"] for r in ae_rows} == {"gpt-4", "gpt-4-turbo"}


def test_build_fails_a_converter_without_provenance(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(autoj, "LABEL_SOURCE", None)
    (result,) = build.build(tiny, tmp_path / "out", only=["autoj_pairwise"])
    assert result.status == "failed" and "label_source" in result.reason


def test_label_source_helper():
    assert label_source({"dataset": "x", "meta": {"label_source": "gpt-4"}}) == "gpt-4"
    # an older build without the stamp: the converter's single source, else unknown
    assert label_source({"dataset": "summeval"}) == "human" and is_human_label({"dataset": "llmbar"})
    assert label_source({"dataset": "alpacaeval_annotations"}) == "unknown"
    assert label_source({"dataset": "not-a-dataset", "meta": {}}) == "unknown"


def test_stats_table_and_card_counts_split_by_label_source():
    rows = [
        {
            "dataset": "d",
            "task": "t",
            "criterion": "c",
            "split": "train",
            "kind": "preference",
            "label_source": "gpt-4",
            "records": 2,
        },
        {
            "dataset": "d",
            "task": "t",
            "criterion": "c",
            "split": "train",
            "kind": "preference",
            "label_source": "human",
            "records": 3,
        },
    ]
    table = [line.split() for line in build.format_table(rows).splitlines()]
    assert ["d", "t", "c", "preference", "gpt-4", "2", "0", "0", "2"] in table
    assert table[-1] == ["TOTAL", "5", "0", "0", "5"]
    assert "| t | c | preference | 5 | 0 | 0 | 5 |" in build.counts_markdown(rows, "d")
    assert "| t | c | preference | human | 3 | 0 | 0 | 3 |" in build.counts_markdown(
        rows, "d", by_label_source=True
    )


# --- real data ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Path:
    root = data_dir()
    missing = [n for n in (*NAMES, "alpacaeval", "arena_hard", "mt_bench") if not (root / n).is_dir()]
    if missing:
        pytest.skip(f"real data not found at {root}: no {', '.join(missing)} (set $HEAPMETRIC_DATA)")
    return root


@pytest.fixture(scope="module")
def reports(real: Path) -> dict[str, tuple[list, dict]]:
    return {name: MODULES[name].convert_report(real / name) for name in NAMES}


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


@pytest.mark.data
def test_real_counts_and_exclusions(reports):
    records, ex = reports["alpacaeval_annotations"]
    assert len(records) == 63693
    assert Counter(r.meta["label_source"] for r in records) == {"gpt-4-turbo": 30173, "gpt-4": 33520}
    assert (total(ex, ae.EXCLUDED_BENCH), total(ex, ae.EXCLUDED_GAMING)) == (8050, 1610)
    assert (
        total(ex, ae.SKIPPED_NO_JUDGEMENT),
        total(ex, ae.SKIPPED_EMPTY),
        total(ex, ae.SKIPPED_SAME_AS_BENCH),
    ) == (157, 30, 516)
    assert len(records) + sum(total(ex, k) for k in ex) == 35416 + 38640  # every line is kept or counted
    records, ex = reports["arena_bench_v1"]
    assert len(records) == 4097 and len({r.system for r in records}) == 14
    assert {k: total(ex, k) for k in ex} == {
        arena.EXCLUDED_ARENA_HARD: 32,
        arena.EXCLUDED_MT_BENCH: 16,
        arena.EXCLUDED_BENCH: 594,
        arena.SKIPPED_NULL: 34,
        arena.SKIPPED_EMPTY: 27,
    }
    assert len(records) + sum(total(ex, k) for k in ex) == 4800
    records, ex = reports["autoj_pairwise"]
    assert len(records) == 1284 and Counter(r.label for r in records) == {"a": 491, "b": 480, "tie": 313}
    assert {k: total(ex, k) for k in ex} == {
        "prompt in AlpacaEval": 17,
        "prompt in Arena-Hard v0.1": 2,
        "prompt in MT-Bench": 81,
        autoj.SKIPPED_IDENTICAL: 8,
    }
    records, ex = reports["prometheus_eval"]
    assert ex == {} and Counter(type(r).__name__ for r in records) == {"Preference": 221, "Judgement": 320}
    assert Counter(r.criterion for r in records if isinstance(r, Preference)) == {
        "honesty": 61,
        "helpfulness": 59,
        "harmlessness": 58,
        "overall": 43,
    }


@pytest.mark.data
def test_real_no_bench_system_is_a_judged_model(reports, real):
    bench = ae.bench_outputs(real / "alpacaeval_annotations")
    instructions = [
        r["instruction"]
        for r in json.loads((real / "alpacaeval/model_outputs/gpt4_1106_preview.json").read_text())
    ]
    records = reports["alpacaeval_annotations"][0]
    judged = {r.system_a for r in records}
    assert not judged & (set(bench) | set(ae.ALIASES) | ae.GAMING_ATTACKS)
    assert {"gpt4", "gpt4_0314", "vicuna-13b", "llama-2-7b-chat-hf", "alpaca-7b"}.isdisjoint(judged)
    for r in records:
        assert r.source == instructions[int(r.item_id)]
        assert all(outs.get(r.source) != r.output_a for outs in bench.values())
    assert not {r.system for r in reports["arena_bench_v1"][0]} & set(arena.BENCH_MODELS)


@pytest.mark.data
def test_real_eval_prompts_are_absent(reports, real):
    hard = {
        _norm(q["prompt"])
        for v in ("v0.1", "v2.0")
        for _, q in iter_jsonl(real / "arena_hard" / v / "question.jsonl")
    }
    mt = {_norm(q["turns"][0]) for _, q in iter_jsonl(real / "mt_bench/question.jsonl")}
    assert len(hard) > 1200 and len(mt) == 80
    alpaca = {
        _norm(r["instruction"])
        for r in json.loads((real / "alpacaeval/model_outputs/gpt4_1106_preview.json").read_text())
    }
    for name in ("arena_bench_v1", "autoj_pairwise"):
        sources = {_norm(r.source) for r in reports[name][0]}
        assert not sources & hard, name
        assert not sources & mt, name
        assert not sources & alpaca, name
    assert not {r.item_id for r in reports["arena_bench_v1"][0]} & (
        arena.ARENA_HARD_OVERLAP | arena.MT_BENCH_OVERLAP
    )


@pytest.mark.data
def test_real_provenance_and_splits(reports):
    for name, (records, _) in reports.items():
        derived = derive_preferences(r for r in records if isinstance(r, Judgement))
        build.stamp_label_source(name, MODULES[name], records, derived)
        splits = defaultdict(set)
        for r in [*records, *derived]:
            assert label_source(r) in ("human", "gpt-4", "gpt-4-turbo"), r.id
            splits[r.item_id].add(record_split(r))
        assert all(len(s) == 1 for s in splits.values()), name
        assert set().union(*splits.values()) == set(SPLITS), name


@pytest.mark.data
def test_real_prometheus_mt_bench_turns_match_the_questions(reports, real):
    questions = {q["question_id"]: q["turns"] for _, q in iter_jsonl(real / "mt_bench/question.jsonl")}
    grades = [r for r in reports["prometheus_eval"][0] if isinstance(r, Judgement)]
    assert len({r.item_id for r in grades}) == 80
    differ = set()
    for r in grades:
        turns = questions[r.meta["mt_bench_question_id"]]
        assert r.context.startswith(f"User: {turns[0].strip()}\n\nAssistant:")
        if r.source != turns[1].strip():  # question 98 has a one-letter typo ("JAVIS") in one of the copies
            assert difflib.SequenceMatcher(None, r.source, turns[1]).ratio() > 0.98
            differ.add(r.meta["mt_bench_question_id"])
        assert r.reference and r.output
    assert differ == {98}


@pytest.mark.data
def test_real_card_counts_by_label_source(reports):
    for name, (records, _) in reports.items():
        derived = derive_preferences(r for r in records if isinstance(r, Judgement))
        build.stamp_label_source(name, MODULES[name], records, derived)
        rows = build.count_rows((record_split(r), r) for r in [*records, *derived])
        card = (REPO_ROOT / "datasets_cards" / f"{name}.md").read_text(encoding="utf-8")
        block = re.search(r"<!-- label-counts:start -->\n(.*?)\n<!-- label-counts:end -->", card, flags=re.S)
        assert block and block.group(1) == build.counts_markdown(rows, name, by_label_source=True), name
