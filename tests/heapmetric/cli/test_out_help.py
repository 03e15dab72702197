"""The help of each verb's ``--out``/``-o`` lists exactly the files a small run writes (issue 12, 15).

Folder outputs: the help names files (``UPPERCASE`` words are placeholders: one file per model, dataset,
level ...); every file written must match a listed name and every listed name must be written. File
outputs (``score``/``compare -o FILE``, ``evaluate-model --out FILE``): only the files the help names appear.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import re
from pathlib import Path

import pytest

from heapmetric.cli import main
from heapmetric.io import write_jsonl
from tests.fakes.field_judge import FieldJudge
from tests.heapmetric.bench.conftest import write_alpaca_files, write_arena_files
from tests.heapmetric.data.conftest import write_sources
from tests.heapmetric.metaeval.conftest import make_judgements

FILE = re.compile(r"[A-Za-z_][\w/{}.-]*\.(?:csv|jsonl|json|png|md)\b")


def out_help(argv: list[str]) -> str:
    """The help paragraph of the ``--out`` option of ``heapmetric ARGV --help``, on one line."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), pytest.raises(SystemExit):
        main([*argv, "--help"])
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\s+(-o \S+, )?--out(put)?\b(?!-)", line))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if re.match(r"\s{2}-", line) or not line.strip():
            break
        block.append(line)
    return " ".join(part.strip() for part in block)


def listed_files(help_text: str) -> list[str]:
    """File names in the help, as glob patterns (UPPERCASE placeholders become ``*``)."""
    names = [m for m in FILE.findall(help_text) if "/" in m or "." in m.split("/")[-1]]
    return sorted({re.sub(r"(?<![a-z])[A-Z]{2,}(?:_[A-Z]{2,})*(?![a-z])", "*", name) for name in names})


def written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_help_matches(help_text: str, folder: Path) -> None:
    patterns, files = listed_files(help_text), written(folder)
    assert patterns, f"the --out help lists no files: {help_text!r}"
    unlisted = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    unwritten = [p for p in patterns if not any(fnmatch.fnmatch(f, p) for f in files)]
    assert not unlisted, f"written but not in the help: {unlisted} (help: {help_text!r})"
    assert not unwritten, f"in the help but not written: {unwritten} (files: {files})"


def test_bench_alpacaeval(tmp_path):
    files = write_alpaca_files(tmp_path / "in", n=6)
    out = tmp_path / "out"
    args = ["bench", "alpacaeval", "--model-outputs", str(files["long"]), str(files["short"])]
    args += [
        "--reference",
        str(files["reference"]),
        "--judge",
        "length",
        "--no-cache",
        "-q",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert_help_matches(out_help(["bench", "alpacaeval"]), out)


def test_bench_arena_hard(tmp_path):
    files = write_arena_files(tmp_path / "in", n=6)
    out = tmp_path / "out"
    args = [
        "bench",
        "arena-hard",
        "--answers",
        str(files["long-model"]),
        "--baseline",
        str(files["base-model"]),
    ]
    args += ["--questions", str(files["questions"]), "--judge", "length", "--rounds", "5", "--no-cache", "-q"]
    assert main([*args, "--out", str(out)]) == 0
    assert_help_matches(out_help(["bench", "arena-hard"]), out)


def test_bench_diagnose(tmp_path):
    prefs = tmp_path / "prefs.jsonl"
    rows = [
        {
            "id": f"p{i}",
            "dataset": "toy",
            "task": "instruction_following",
            "criterion": "overall",
            "item_id": f"i{i}",
            "source": "q",
            "output_a": "a " * (3 + i),
            "output_b": "b",
            "label": "a" if i % 2 else "b",
        }
        for i in range(4)
    ]
    write_jsonl(prefs, rows)
    out = tmp_path / "out"
    args = ["bench", "diagnose", "--preferences", str(prefs), "--judge", "length", "--no-cache", "-q"]
    assert main([*args, "--out", str(out)]) == 0
    help_text = out_help(["bench", "diagnose"])
    assert "leaderboard" not in help_text and "summary.json" not in help_text
    assert_help_matches(help_text, out)


def test_meta_eval(tmp_path):
    write_jsonl(tmp_path / "data" / "toy" / "test.jsonl", (r.to_dict() for r in make_judgements(n_inputs=6)))
    out = tmp_path / "out"
    args = ["meta-eval", "--dataset", "toy", "--data", str(tmp_path / "data"), "--metric", "length"]
    assert main([*args, "--bootstrap", "0", "-q", "-o", str(out)]) == 0
    assert_help_matches(out_help(["meta-eval"]), out)


def test_data_build(tmp_path):
    root = write_sources(tmp_path / "data")
    out = tmp_path / "out"
    assert main(["data", "build", "--data-dir", str(root), "--only", "qags", "-q", "--out", str(out)]) == 0
    assert_help_matches(out_help(["data", "build"]), out)


@pytest.mark.parametrize("verb", ["score", "compare"])
def test_score_and_compare_write_only_the_output_file(verb, tmp_path, monkeypatch):
    monkeypatch.setattr("heapmetric.cli.score.load_judge", lambda args: FieldJudge())
    monkeypatch.setattr("heapmetric.cli.compare.load_judge", lambda args: FieldJudge())
    row = {"output": "x"} if verb == "score" else {"output_a": "x", "output_b": "y"}
    src = tmp_path / "in" / "rows.jsonl"
    write_jsonl(src, [row, row])
    out = tmp_path / "out"
    out.mkdir()
    args = [verb, "-i", str(src), "--task", "summarization", "--criterion", "coherence", "-q"]
    assert main([*args, "-o", str(out / "scored.csv")]) == 0
    help_text = out_help([verb])
    assert help_text.startswith("-o FILE, --output FILE") and "rows with" in help_text
    assert written(out) == ["scored.csv"]


def test_evaluate_model_writes_the_json_and_the_md_beside_it(tmp_path):
    for split in ("train", "test"):
        rows = (r.to_dict() for r in make_judgements(n_inputs=6))
        write_jsonl(tmp_path / "data" / "toy" / f"{split}.jsonl", rows)
    out = tmp_path / "out"
    out.mkdir()
    args = ["evaluate-model", "--judge", "length", "--data", str(tmp_path / "data"), "-q"]
    assert main([*args, "--out", str(out / "results.json")]) == 0
    help_text = out_help(["evaluate-model"])
    assert "JSON" in help_text and ".md beside it" in help_text
    assert written(out) == ["results.json", "results.md"]
    assert json.loads((out / "results.json").read_text())["judge"] == "length"


def test_robustness(tmp_path):
    from tests.fakes.perturbation_build import toy_build

    root = toy_build(tmp_path / "build")
    out = tmp_path / "out"
    args = ["robustness", "--judge", "length", "--data-dir", str(root), "--split", "test", "-q"]
    assert main([*args, "--only", "truncate", "-o", str(out)]) == 0
    assert_help_matches(out_help(["robustness"]), out)
