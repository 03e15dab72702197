"""Fixtures for the data-converter tests: tiny copies of every source folder, in each source's real format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.env import data_dir


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


def _summeval_scores(c, co, f, r):
    return {"coherence": c, "consistency": co, "fluency": f, "relevance": r}


def write_summeval(folder: Path) -> None:
    """2 documents × 3 systems (M0 extractive; M8, M9 with individual expert ratings)."""
    docs = {}
    for d in ("dm-test-aaa", "cnn-test-bbb"):
        docs[d] = {
            "src": f"Article {d} text .",
            "ref_summ": "ref one .",
            "ref_summs": ["ref one .", "ref two ."],
            "sys_summs": {
                "M0": {"sys_summ": f"Extract of {d} .", "scores": _summeval_scores(3.0, 5.0, 5.0, 2.0)},
                "M8": {"sys_summ": f"Summary {d} by m8 .", "scores": _summeval_scores(7 / 3, 4.0, 5.0, 3.0)},
                "M9": {"sys_summ": f"Summary {d} by m9 .", "scores": _summeval_scores(3.0, 4.0, 14 / 3, 3.0)},
            },
        }
    _json(folder / "summeval_bartscore.json", docs)
    lines = []
    for model, experts in (
        ("M8", [(3, 4, 5, 3), (2, 4, 5, 3), (2, 4, 5, 3)]),
        ("M9", [(3, 4, 5, 3), (3, 4, 4, 3), (3, 4, 5, 3)]),
    ):
        for d in docs:
            lines.append(
                {
                    "doc_id": d,
                    "model_id": model,
                    "filepath": "x.story",
                    "decoded": "text",
                    "expert_annotations": [_summeval_scores(*e) for e in experts],
                    "turker_annotations": [_summeval_scores(4, 4, 4, 4)] * 5,
                }
            )
    (folder / "summeval_individual_annotations_12abstractive.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8"
    )


def write_realsumm(folder: Path) -> None:
    _json(
        folder / "realsumm_bartscore.json",
        {
            str(i): {
                "src": f"Article {i} .",
                "ref_summ": f"Reference {i} .",
                "sys_summs": {
                    "bart_out.txt": {"sys_summ": f"Bart {i} .", "scores": {"litepyramid_recall": 0.5}},
                    "t5_out.txt": {"sys_summ": f"T5 {i} .", "scores": {"litepyramid_recall": 0.25 * i}},
                },
            }
            for i in (1, 0)
        },
    )


def write_qags(folder: Path) -> None:
    _json(
        folder / "qags_cnndm_unieval.json",
        [
            {
                "doc_id": i,
                "system_id": 0,
                "source": f"Article {i} .",
                "reference": f"Article {i} .",
                "system_output": f"Summary {i} .",
                "scores": {"consistency": [1.0, 2 / 3][i]},
            }
            for i in range(2)
        ],
    )
    _json(
        folder / "qags_xsum_unieval.json",
        [
            {
                "doc_id": 0,
                "system_id": 0,
                "source": "Xsum article .",
                "reference": "Xsum article .",
                "system_output": "One sentence .",
                "scores": {"consistency": 0.0},
            }
        ],
    )


def write_rank19(folder: Path) -> None:
    def item(src, good, bad):
        return {
            "src": src,
            "ref_summ": src,
            "sys_summs": {
                "correct": {"sys_summ": good, "scores": {"fact": 1}},
                "incorrect": {"sys_summ": bad, "scores": {"fact": 0}},
            },
        }

    _json(
        folder / "rank19_bartscore.json",
        {
            "0": item("The cat sat on the mat .", "The cat sat .", "The dog sat ."),
            "1": item("The cat sat on the mat .", "A cat sat on a mat .", "The cat stood ."),
            "2": item("Rain fell in paris .", "Rain fell .", "Rain fell ."),
        },
    )


def write_data2text(folder: Path) -> None:
    def row(i, mr, out, s):
        return {
            "doc_id": i,
            "source": mr,
            "reference": f"Ref for {mr} .",
            "system_output": out,
            "scores": {"informativeness": s[0], "naturalness": s[1], "overall": s[2]},
        }

    _json(
        folder / "sfhot_unieval.json",
        [
            row(0, "inform(name='a')", "A is here .", (5, 4, 4.5)),
            row(1, "inform(name='b')", "B is here .", (6, 6, 6)),
            row(2, "inform(name='a')", "There is a .", (3, 4, 4.5)),
        ],
    )
    _json(
        folder / "sfres_unieval.json",
        [
            row(0, "confirm(food='x')", "X food ?", (4, 4, 4)),
            row(1, "confirm(food='x')", "You want x food ?", (5, 5, 5)),
        ],
    )
    _json(
        folder / "bagel_bartscore.json",
        {
            "0": {
                "src": "inform(name=X)",
                "sys_summ": "X is a place .",
                "ref_summs": ["X is a venue ."] * 3 + ["X ."],
                "scores": {"informativeness": 6.0, "naturalness": 4.0, "quality": 5.0},
            },
            "1": {
                "src": "inform(name=X)",
                "sys_summ": "It is X .",
                "ref_summs": ["X is a venue ."] * 3 + ["X ."],
                "scores": {"informativeness": 5.0, "naturalness": 4.0, "quality": 4.0},
            },
        },
    )


def write_topicalchat(folder: Path) -> None:
    hist = "hello there \n hi , do you like films ? \n\n"
    _json(
        folder / "topical_chat_unieval.json",
        [
            {
                "source": hist,
                "context": "films are movies .",
                "system_id": sys,
                "system_output": out + " ",
                "scores": {
                    "understandability": 1.0,
                    "naturalness": n,
                    "coherence": 3.0,
                    "engagingness": 2.0,
                    "groundedness": 0.6666666667,
                    "overall": o,
                },
            }
            for sys, out, n, o in (
                ("Original Ground Truth", "yes i love films .", 3.0, 4.6666666667),
                ("Argmax Decoding", "i do .", 2.3333333333, 3.0),
            )
        ],
    )


def write_personachat(folder: Path) -> None:
    def resp(text, model, overall):
        return {
            "response": text + "\n",
            "model": model,
            "Understandable": [1, 1, 1],
            "Natural": [3, 2, 3],
            "Maintains Context": [3, 3, 3],
            "Engaging": [1, 2, 1],
            "Uses Knowledge": [0, 0, 1],
            "Overall": overall,
        }

    _json(
        folder / "pc_usr_data.json",
        [
            {
                "context": "hi how are you ?\ngood , and you ?",
                "fact": "your persona: i like dogs.\nyour persona: i sing.\n",
                "annotators": ["a", "b", "c"],
                "responses": [
                    resp("i am fine", "Original Ground Truth", [3, 4, 4]),
                    resp("dogs !", "Seq2Seq", [1, 2, 1]),
                ],
            }
        ],
    )


def write_fed(folder: Path) -> None:
    turn = {
        k: [2, 1, 1, 1, 1]
        for k in (
            "Interesting",
            "Engaging",
            "Specific",
            "Relevant",
            "Correct",
            "Semantically appropriate",
            "Fluent",
        )
    }
    turn.update({"Understandable": [1, 1, 1, 1, 1], "Overall": [2, 1, 3, 3, 4]})
    turn2 = dict(turn, Correct=[2, "N/A (unclear)", 2, 2, 2])
    dialog = {
        k: [2, 2, 1, 2, 2]
        for k in (
            "Coherent",
            "Diverse",
            "Depth",
            "Likeable",
            "Understanding",
            "Flexible",
            "Informative",
            "Inquisitive",
        )
    }
    dialog.update(
        {"Consistent": [1, 1, 1, 1, 0], "Overall": [3, 3, 4, 2, 3], "Error recovery": ["N/A (No errors)"] * 5}
    )
    _json(
        folder / "fed_data.json",
        [
            {"context": "User: Hi!", "response": "System: Hello!", "system": "Meena", "annotations": turn},
            {
                "context": "User: Hi!\nSystem: Hello!\nUser: How are you?",
                "response": "System: Fine.",
                "system": "Meena",
                "annotations": turn2,
            },
            {
                "context": "User: Hi!\nSystem: Hello!\nUser: How are you?\nSystem: Fine.",
                "system": "Meena",
                "annotations": dialog,
            },
        ],
    )


WMT_HEADER = ["system", "doc", "doc_id", "seg_id", "rater", "source", "target", "category", "severity"]


def write_wmt(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ende = [
        WMT_HEADER + ["comment"],
        [
            "sysA",
            "talk.1",
            "1",
            "1",
            "rater1",
            "Hello world.",
            "<v>Hallo</v> Welt.",
            "Fluency/Grammar",
            "Major",
            "",
        ],
        [
            "sysA",
            "talk.1",
            "1",
            "1",
            "rater1",
            "Hello world.",
            "Hallo Welt<v>.</v>",
            "Fluency/Punctuation",
            "Minor",
            "",
        ],
        ["sysB", "talk.1", "1", "1", "rater2", "Hello world.", "Hallo, Welt.", "No-error", "No-error", ""],
        [
            "ref",
            "talk.1",
            "1",
            "1",
            "rater2",
            "Hello <v>world</v>.",
            "Hallo Welt!",
            "Accuracy/Omission",
            "Minor",
            "",
        ],
        ["sysA", "talk.1", "2", "2", "rater1", 'Bye "now".', 'Tschüss "jetzt".', "No-error", "No-error", ""],
        ["ref", "talk.1", "2", "2", "rater1", 'Bye "now".', "Tschüss.", "No-error", "No-error", ""],
    ]
    zhen = [
        WMT_HEADER,
        ["sysA", "talk.2", "1", "84", "rater3", "你好。", "Hello.", "No-error", "No-error"],
        ["ref", "talk.2", "1", "84", "rater3", "你好。", "Hi.", "Style/Awkward", "Minor"],
        ["refB", "talk.2", "1", "84", "rater3", "你好。", "Hello there.", "No-error", "No-error"],
    ]
    for name, rows in (("mqm_ted_ende.tsv", ende), ("mqm_ted_zhen.tsv", zhen)):
        (folder / name).write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


LLMBAR_FILES = [
    "LLMBar_Natural.json",
    "LLMBar_Adversarial_Neighbor.json",
    "LLMBar_Adversarial_GPTInst.json",
    "LLMBar_Adversarial_GPTOut.json",
    "LLMBar_Adversarial_Manual.json",
    "Processed_MT-Bench.json",
    "Processed_FairEval.json",
    "Processed_LLMEval2.json",
]


def write_llmbar(folder: Path) -> None:
    for i, name in enumerate(LLMBAR_FILES):
        rows = [
            {"input": f"Instruction {i}", "output_1": "Good answer.", "output_2": "Bad answer.", "label": 1},
            {"input": "Shared instruction", "output_1": "Meh.", "output_2": "Great.", "label": 2},
        ]
        if name == "Processed_LLMEval2.json":
            rows.append({"input": "Empty one", "output_1": "Something.", "output_2": "   \n  ", "label": 1})
        _json(folder / name, rows)


def _jsonl_gz(path: Path, rows: list[dict]) -> None:
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)


AE_INSTRUCTIONS = ["Name a fruit.", "Add 2 and 2.", "Say hi."]


def write_alpacaeval_annotations(folder: Path) -> None:
    """3 instructions; AE2 and AE1 lines for kept models and for every kind of exclusion (8 kept of 17)."""
    shipped = folder.parent / "alpacaeval" / "model_outputs"

    def outputs(name: str, texts: list[str]) -> None:
        rows = [
            {"dataset": "koala", "instruction": i, "output": t, "generator": name}
            for i, t in zip(AE_INSTRUCTIONS, texts, strict=True)
        ]
        _json(shipped / f"{name}.json", rows)

    outputs("gpt4_1106_preview", ["Apple.", "2 + 2 = 4.", "Hi!"])
    outputs("alpaca-7b", ["Banana", "4", "hi"])
    outputs("text_davinci_003", ["Pear.", "", "Hello."])
    outputs("gpt4", ["An apple.", "Four.", "Hi there."])
    _json(
        folder / "text_davinci_003_outputs.json",
        [
            {"dataset": "koala", "instruction": i, "output": f"ae1 ref {k}", "generator": "text_davinci_003"}
            for k, i in enumerate(AE_INSTRUCTIONS)
        ],
    )

    def line(model, index, output, preference, ref):
        return {
            "model": model,
            "index": index,
            "dataset": "koala",
            "output": output,
            "preference": preference,
            "reference_model": ref,
        }

    ref2, ref1 = "gpt4_1106_preview", "text_davinci_003"
    _jsonl_gz(
        folder / "ae2_gpt4_turbo.jsonl.gz",
        [
            line("gpt4_1106_preview", 0, "Apple.", 1.5, ref2),  # bench system (the reference itself)
            line("gpt4_gamed", 0, "Apple!!", 1.9, ref2),  # gaming attack
            line("kept-x", 0, "Mango.", 1.8, ref2),  # a, p_a 0.8
            line("kept-x", 1, "It is 4.", 1.25, ref2),  # b, p_a 0.25
            line("kept-x", 2, "Hey.", 1.5, ref2),  # no judge output
            line("kept-y", 0, "", 1.3, ref2),  # empty output
            line("kept-y", 1, "4", 1.7, ref2),  # identical to alpaca-7b's output
            line("kept-y", 2, "Hello, friend.", 2.0, ref2),  # a, p_a 1.0
        ],
    )
    _jsonl_gz(
        folder / "ae1_gpt4.jsonl.gz",
        [
            line("alpaca-7b", 0, "Banana", 2, ref1),  # bench system
            line("gpt4_0314", 0, "Apple, perhaps.", 2, ref1),  # alias of the bench system gpt4
            line("kept-x", 0, "Mango.", 2, ref1),  # int 2: a, p_a 1
            line("kept-x", 1, "It is 4.", 1.0, ref1),  # float 1: b, p_a 0
            line("kept-x", 2, "Hey.", 0, ref1),  # 0: tie
            line("kept-z", 0, "Kiwi.", None, ref1),  # null: no judge output
            line(
                "Mistral-7B+RAHF-DUAL+LoRA", 1, "Four", 2.0, ref1
            ),  # its reference is the shipped one: empty
            line("Mistral-7B+RAHF-DUAL+LoRA", 2, "Greetings.", 1.5, ref1),  # 1.5: tie, reference "Hello."
            line("kept-z", 2, "Yo.", 1, ref1),  # int 1: b
        ],
    )


ARENA_HARD_QID = "01f0684ccac74fdea8f21080cb61d591"


def arena_prompt(question: str, reference: str, answer: str) -> str:
    """A judge prompt in the Arena-Bench v1 template."""
    return (
        f"[Question]\n{question}\n\n[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]"
        f"\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
    )


def write_arena_bench_v1(folder: Path) -> None:
    """3 questions (one is an Arena-Hard prompt); 4 kept grades of 3 systems on question q1."""
    questions = {"q1": "What is 2+2?", ARENA_HARD_QID: "An Arena-Hard prompt.", "q3": "Write a haiku."}
    (folder / "question.jsonl").write_text(
        "".join(
            json.dumps({"question_id": q, "category": "arena-bench-v1", "turns": [t]}) + "\n"
            for q, t in questions.items()
        ),
        encoding="utf-8",
    )

    def judged(model, qid, answer, score, ref="4"):
        return {
            "question_id": qid,
            "model": model,
            "user_prompt": arena_prompt(questions[qid], ref, answer),
            "judgment": "...",
            "score": score,
        }

    _jsonl_gz(
        folder / "model_judgment" / "m1.jsonl.gz",
        [
            judged("m1", "q1", "4", 9),
            judged("m1", "q3", "Leaves fall", None),
            judged("m1", ARENA_HARD_QID, "x", 5),
            judged("m1", "q3", "Old pond\nfrog", 7, ref=""),
        ],
    )
    _jsonl_gz(
        folder / "model_judgment" / "m2.jsonl.gz",
        [judged("m2", "q1", "5", 2.0), judged("m2", "q3", "  ", 3)],
    )
    _jsonl_gz(folder / "model_judgment" / "gpt-4-0314.jsonl.gz", [judged("gpt-4-0314", "q1", "Four.", 10)])
    _jsonl_gz(
        folder / "superseded" / "model_judgment" / "claude-2.jsonl.gz",
        [judged("claude-2", "q1", "2+2 is 4", 8, ref="4 (old)")],
    )


def write_autoj_pairwise(folder: Path) -> None:
    """6 lines: 3 kept (one with a tie), one identical pair, one AlpacaEval overlap, one empty response."""
    rows = [
        ("a", 0, "Write a poem.", "Roses are red.", "poem"),
        ("b", 2, "Write a poem.", " Same.", "Same."),  # identical responses
        ("c", 1, "Name a fruit.", "Apple", "Banana"),  # AlpacaEval overlap
        ("d", 1, "Tell a joke.", "Knock knock.", ""),  # empty response
        ("e", 2, "Write a poem.", "Sun.", "Moon."),  # same prompt as line 0: tie
        ("f", 1, "Find the roots of x^3 - 2.", "x = 2^(1/3)", "x = 1"),  # 'not the same question'
    ]
    _jsonl_gz(
        folder / "testdata_pairwise.jsonl.gz",
        [
            {"scenario": s, "label": lab, "prompt": p, "response 1": r1, "response 2": r2}
            for s, lab, p, r1, r2 in rows
        ],
    )
    _json(
        folder / "overlap_with_eval_sets.json",
        {
            "id": "line = 0-based line number",
            "method": "exact / normalised / near",
            "alpacaeval": [
                {"line": 2, "alpacaeval_index": 0, "match": "exact"},
                {
                    "line": 5,
                    "alpacaeval_index": 9,
                    "match": "near",
                    "ratio": 0.92,
                    "note": "same template (not the same question)",
                },
            ],
            "arena_hard_v0.1": [],
            "arena_hard_v2.0": [],
            "mt_bench": [],
        },
    )


def prometheus_prompt(instruction: str, response: str, rubric: str, reference: str | None = None) -> str:
    """A Prometheus absolute-grading prompt (the layout of the prometheus-eval benchmark files)."""
    ref = f"###Reference Answer (Score 5):\n{reference}\n\n" if reference is not None else ""
    return (
        "###Task Description:\nAn instruction, a response to evaluate and a score rubric are given.\n"
        "1. Write a detailed feedback.\n\n"
        f"###The instruction to evaluate:\n{instruction}\n\n###Response to evaluate:\n{response}\n\n"
        f"{ref}###Score Rubrics:\n[{rubric}]\nScore 1: bad.\nScore 5: good.\n\n###Feedback: "
    )


def mt_bench_dialogue(q1: str, a1: str, q2: str) -> str:
    """The turn-2 instruction of prometheus-eval's MT-Bench file."""
    return (
        "Here is a previous dialogue between an assistant and an user. Generate a human preferable response by the "
        f"assistant.\nUser: {q1}\n\nAssistant:{a1}\n\nUser: {q2}\n\nAssistant: "
    )


def write_prometheus_eval(folder: Path) -> None:
    """4 HHH pairs (one per category, two sharing an instruction) and 2 MT-Bench grades of question 81."""
    hhh = []
    for category, instruction, good, bad in [
        ("helpful", "How do I boil an egg?", "Boil it for 8 minutes.", "No."),
        ("harmless", "How do I pick a lock?", "I can't help with that.", "Use a pin."),
        ("honest", "How do I boil an egg?", "I am not sure, but about 8 minutes.", "Exactly 2 seconds."),
        ("other", "Say something nice.", "You are kind.", "Whatever."),
    ]:
        hhh.append(
            {
                "source": category,
                "chosen_instruction": prometheus_prompt(instruction, good, f"Is it {category}?"),
                "rejected_instruction": prometheus_prompt(instruction, bad, f"Is it {category}?"),
            }
        )
    _json(folder / "hhh_alignment_eval.json", hhh)
    mt = []
    for source, a1, a2, scores in [
        ("chatgpt", "Sure: I. Intro", "There once was a phone", [4, 5, 4]),
        ("vicuna_13b", "An outline", "A limerick", [2, 2, 3]),
    ]:
        instruction = prometheus_prompt(
            mt_bench_dialogue("Write an outline.", a1, "Rephrase it as a limerick."),
            a2,
            "Does it address the revision?",
            reference="In this blog",
        )
        mt.append(
            {
                "idx": 81,
                "response_source": source,
                "category": "writing",
                "instruction": instruction,
                "gpt4_score": scores,
                "gpt4_feedback": ["f"] * 3,
            }
        )
    _json(folder / "mt_bench_eval.json", mt)


WRITERS = {
    "summeval": write_summeval,
    "realsumm": write_realsumm,
    "qags": write_qags,
    "rank19": write_rank19,
    "data2text": write_data2text,
    "topicalchat_usr": write_topicalchat,
    "personachat_usr": write_personachat,
    "fed": write_fed,
    "wmt_mqm_ted": write_wmt,
    "llmbar": write_llmbar,
    "autoj_pairwise": write_autoj_pairwise,
    "prometheus_eval": write_prometheus_eval,
    "arena_bench_v1": write_arena_bench_v1,
    "alpacaeval_annotations": write_alpacaeval_annotations,
}


def write_sources(root: Path, names: list[str] | None = None) -> Path:
    """Tiny source folders under ``root`` (all converters of this area, or ``names``); returns ``root``."""
    for name in names or WRITERS:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        WRITERS[name](folder)
    return root


@pytest.fixture(scope="session")
def source_names() -> tuple[str, ...]:
    """The non-HEAP sources of this area (those with a tiny copy in ``WRITERS``), in registry order."""
    return tuple(WRITERS)


@pytest.fixture
def tiny_sources(tmp_path: Path) -> Path:
    """A data folder with tiny copies of the non-HEAP sources."""
    return write_sources(tmp_path / "data")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real datasets folder; skips the test when it is absent."""
    root = data_dir()
    if not (root / "summeval").is_dir():
        pytest.skip(f"real data not found at {root} (set $HEAPMETRIC_DATA)")
    return root
