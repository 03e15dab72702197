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
    """The ten non-HEAP sources of this area (those with a tiny copy in ``WRITERS``), in registry order."""
    return tuple(WRITERS)


@pytest.fixture
def tiny_sources(tmp_path: Path) -> Path:
    """A data folder with tiny copies of the ten non-HEAP sources."""
    return write_sources(tmp_path / "data")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real datasets folder; skips the test when it is absent."""
    root = data_dir()
    if not (root / "summeval").is_dir():
        pytest.skip(f"real data not found at {root} (set $HEAPMETRIC_DATA)")
    return root
