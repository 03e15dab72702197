"""Regression tests of issue 12 (the CLI, file-reading and Python-API items), one or more per item.

Each reproduces the report's failing case; all failed on the code before the fix (wrong value, traceback,
exit 0/1 where 2 is due, a replaced FIFO or symlink, NaN written into JSON).
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from heapmetric.cli import main
from heapmetric.errors import InputError
from heapmetric.io import atomic_write, read_table, write_json, write_jsonl, write_table
from heapmetric.judges.base import ScoreResult
from heapmetric.scoring.inputs import build_items, build_pairs
from tests.fakes.field_judge import FieldJudge

TASK = ["--task", "summarization", "--criterion", "coherence"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def judge(monkeypatch) -> FieldJudge:
    """The CLI's model replaced by a judge that records what it is given (no model load)."""
    fake = FieldJudge()
    monkeypatch.setattr("heapmetric.cli.score.load_judge", lambda args: fake)
    monkeypatch.setattr("heapmetric.cli.compare.load_judge", lambda args: fake)
    return fake


@pytest.fixture
def no_model(monkeypatch) -> None:
    """Any model load fails the test: the error must come before any work."""

    def refuse(args):
        raise AssertionError("a model was loaded before the output path was checked")

    monkeypatch.setattr("heapmetric.cli.score.load_judge", refuse)
    monkeypatch.setattr("heapmetric.cli.compare.load_judge", refuse)


def jsonl(path: Path, rows: list[dict] | str) -> Path:
    path.write_text(rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def error_of(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def strict_json(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON token {name}")

    return json.loads(text, parse_constant=refuse)


# --- 1: a references string is one reference; nested lists give the first -----------------------------


def test_1_reference_string_is_one_reference_in_score_compare_and_rows(judge, tmp_path):
    text = "one reference text"
    assert build_items([{"output": "o", "references": text}])[0].first_reference == text
    assert build_items(outputs=["o"], references=text)[0].first_reference == text
    assert build_pairs([{"output_a": "a", "output_b": "b", "references": text}])[0].reference == text
    assert build_pairs(outputs_a=["a"], outputs_b=["b"], references=[["r1", "r2"]])[0].reference == "r1"
    assert build_items(outputs=["o"], references=[["r1", "r2"]])[0].references == ("r1", "r2")
    src = jsonl(tmp_path / "pairs.jsonl", [{"output_a": "a", "output_b": "b", "reference": ["r1", "r2"]}])
    assert main(["compare", "-i", str(src), "-o", str(tmp_path / "o.jsonl"), "-q", *TASK]) == 0
    assert judge.seen[-1].reference == "r1"


def test_1_the_trained_metric_reads_the_whole_reference_string(tiny_encoder_metric_dir):
    import heapmetric

    metric = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu")
    crit = {"task": "summarization", "criterion": "coverage"}  # renders the reference
    as_string = metric.score([{"output": "a summary", "references": "the reference text"}], **crit)
    as_list = metric.score([{"output": "a summary", "references": ["the reference text"]}], **crit)
    first_char = metric.score([{"output": "a summary", "reference": "t"}], **crit)
    assert as_string.scores == pytest.approx(as_list.scores, abs=1e-6)
    assert as_string.scores != pytest.approx(first_char.scores, abs=1e-6)
    pairs = metric.compare(outputs_a=["a"], outputs_b=["b"], references=[["r1", "r2"]], **crit)
    first = metric.compare(outputs_a=["a"], outputs_b=["b"], references=["r1"], **crit)
    assert pairs.probabilities == pytest.approx(first.probabilities, abs=1e-6)


# --- 2: CSV quoting and field size ------------------------------------------------------------------------


def test_2_unterminated_csv_quote_fails_naming_the_line(judge, tmp_path, capsys):
    src = tmp_path / "rows.csv"
    src.write_text('id,output\n1,"unterminated\n2,ok\n', "utf-8")
    err = error_of(["score", "-i", str(src), "-o", str(tmp_path / "o.jsonl"), *TASK], capsys)
    assert f"{src}:2" in err and "unterminated" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_2_csv_fields_as_big_as_jsonl_ones_are_read(tmp_path):
    big = "w " * 150_000  # 300,000 characters, over the csv module's default 131,072
    src = tmp_path / "big.csv"
    write_table(src, [{"id": "1", "output": big}, {"id": "2", "output": "small"}])
    rows = read_table(src)
    assert [r["output"] for _, r in rows] == [big, "small"]


# --- 6: -o to a FIFO, a symlink, a process substitution ---------------------------------------------------


def test_6_symlink_output_keeps_the_link_and_replaces_its_target(judge, tmp_path):
    target, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    target.write_text("old\n")
    link.symlink_to(target)
    src = jsonl(tmp_path / "in.jsonl", [{"output": "x"}])
    assert main(["score", "-i", str(src), "-o", str(link), "-q", *TASK]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert strict_json(target.read_text().splitlines()[0])["output"] == "x"


def _read_in_thread(path: str, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as handle:
            into.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_6_fifo_output_is_written_through_not_replaced(judge, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_in_thread(str(fifo), got)
    src = jsonl(tmp_path / "in.jsonl", [{"output": "x"}, {"output": "y"}])
    assert main(["score", "-i", str(src), "-o", str(fifo), "-q", "--output-format", "jsonl", *TASK]) == 0
    reader.join(timeout=10)
    assert fifo.is_fifo()
    assert [strict_json(line)["output"] for line in got[0].decode().splitlines()] == ["x", "y"]
    assert not list(tmp_path.glob(".out.fifo.*"))  # no temporary file left beside it


def test_6_process_substitution_path_is_written_through(tmp_path):
    """``-o >(wc -l)`` hands the program ``/dev/fd/N``, a pipe: written in place."""
    read_end, write_end = os.pipe()
    try:
        path = f"/dev/fd/{write_end}"
        write_jsonl(path, [{"a": 1}, {"a": 2}])
        os.close(write_end)
        write_end = -1
        data = os.read(read_end, 1 << 16)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    assert data.decode().splitlines() == ['{"a": 1}', '{"a": 2}']


def test_6_atomic_write_into_a_folder_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="is a folder"), atomic_write(tmp_path) as handle:
        handle.write("x")


# --- 7: lone surrogates -----------------------------------------------------------------------------------


def test_7_lone_surrogate_in_a_file_is_exit_2_naming_the_field(judge, tmp_path, capsys):
    src = jsonl(tmp_path / "in.jsonl", '{"output": "ok"}\n{"output": "bad \\ud800"}\n')
    err = error_of(["score", "-i", str(src), *TASK], capsys)
    assert f"{src}:2 field 'output'" in err and "surrogate" in err


def test_7_undecodable_argv_bytes_are_refused_naming_the_flag(no_model, tmp_path, capsys):
    src = jsonl(tmp_path / "in.jsonl", [{"output": "x"}])
    err = error_of(["score", "-i", str(src), "--instruction", "rate \udcff this"], capsys)  # argv byte 0xff
    assert "field '--instruction'" in err and "surrogate" in err


def test_7_lone_surrogate_in_the_python_api_is_an_input_error(tiny_encoder_metric_dir):
    import heapmetric

    metric = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu")
    with pytest.raises(InputError, match="surrogate") as info:
        metric.score(outputs=["fine", "bad \ud800"], task="summarization", criterion="coherence")
    assert info.value.field == "output" and info.value.line == 2
    with pytest.raises(InputError, match="field 'source'"):
        build_pairs(outputs_a=["a"], outputs_b=["b"], sources=["\udfff"])


# --- 8: a closed pipe downstream ------------------------------------------------------------------------


def test_8_closed_stdout_pipe_exits_0_quietly():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "heapmetric.cli", "criteria"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    proc.stdout.close()  # like `| head -0`: the reader is gone before the first write
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_8_broken_pipe_in_a_verb_is_exit_0(monkeypatch):
    import heapmetric.cli.criteria as criteria

    def broken(args):
        raise BrokenPipeError

    monkeypatch.setattr(criteria, "run", broken)  # bound when main() builds the parser
    monkeypatch.setattr("heapmetric.cli._stdout_gone", lambda: None)  # keep pytest's stdout
    assert main(["criteria"]) == 0


# --- 9: output paths checked before any work ------------------------------------------------------------


def test_9_score_to_a_folder_fails_before_loading_a_model(no_model, tmp_path, capsys):
    src = jsonl(tmp_path / "in.jsonl", [{"output": "x"}])
    err = error_of(["score", "-i", str(src), "-o", f"{tmp_path}/", *TASK], capsys)
    assert "field '--output'" in err and "is a folder" in err
    err = error_of(["compare", "-i", str(src), "-o", str(tmp_path / "in.jsonl" / "x.jsonl"), *TASK], capsys)
    assert "is not a folder" in err


def test_9_folder_outputs_that_are_files_fail_first(tmp_path, capsys):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    err = error_of(["data", "build", "--data-dir", str(tmp_path), "--out", str(afile)], capsys)
    assert "field '--out'" in err and "not a folder" in err
    args = ["meta-eval", "--dataset", "toy", "--data", str(tmp_path / "missing"), "--metric", "length"]
    assert "field '--out'" in error_of([*args, "-o", str(afile)], capsys)
    args = ["bench", "diagnose", "--preferences", str(tmp_path / "missing.jsonl"), "--judge", "length"]
    assert "field '--out'" in error_of([*args, "--out", str(afile)], capsys)
    assert afile.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_9_unwritable_output_folder_fails_first(no_model, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    src = jsonl(tmp_path / "in.jsonl", [{"output": "x"}])
    assert "not writable" in error_of(["score", "-i", str(src), "-o", str(locked / "o.jsonl"), *TASK], capsys)


# --- 10: Python API types -------------------------------------------------------------------------------


def test_10_wrong_types_are_input_errors_with_one_rule(tiny_encoder_metric_dir):
    import heapmetric

    metric = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu")
    crit = {"task": "summarization", "criterion": "coherence"}
    with pytest.raises(InputError, match="item 1 field 'output': expected a string, got int"):
        metric.score([{"output": 42}], **crit)
    with pytest.raises(InputError, match="field 'sources'"):
        metric.score(outputs=["a"], sources=5, **crit)
    with pytest.raises(InputError, match="field 'output_a'"):
        metric.compare(outputs_a=[None], outputs_b=["x"], **crit)
    with pytest.raises(InputError, match="field 'output'"):
        metric.score(outputs=[None], **crit)
    with pytest.raises(InputError, match="field 'context'"):
        metric.compare([{"output_a": "a", "output_b": "b", "context": ["turn"]}], **crit)


# --- 11: negative counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "alpacaeval", "--limit", "-1"],
        ["bench", "arena-hard", "--limit", "0"],
        ["bench", "diagnose", "--batch-size", "-3"],
        ["meta-eval", "--dataset", "x", "--metric", "length", "--bootstrap", "-5"],
        ["evaluate-model", "--judge", "length", "--max-per-group", "-1"],
        ["data", "build", "--max-pairs-per-item", "-2"],
    ],
)
def test_11_negative_counts_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "must be >=" in capsys.readouterr().err


# --- 12: non-finite numbers -----------------------------------------------------------------------------


def test_12_nan_and_infinity_where_text_is_expected_are_refused(judge, tmp_path, capsys):
    src = jsonl(tmp_path / "in.jsonl", '{"output": "ok", "source": Infinity}\n{"output": NaN}\n')
    err = error_of(["score", "-i", str(src), *TASK], capsys)
    assert f"{src}:1 field 'source'" in err and "non-finite" in err


def test_12_json_output_never_holds_nan(tmp_path, monkeypatch):
    class NaNJudge(FieldJudge):
        def score(self, items, **kw):
            return ScoreResult(scores=[math.nan, math.inf][: len(items)])

    monkeypatch.setattr("heapmetric.cli.score.load_judge", lambda args: NaNJudge())
    src = jsonl(tmp_path / "in.jsonl", '{"output": "a", "extra": NaN}\n{"output": "b"}\n')
    for suffix in ("jsonl", "json"):
        out = tmp_path / f"out.{suffix}"
        assert main(["score", "-i", str(src), "-o", str(out), "-q", *TASK]) == 0
        text = out.read_text()
        rows = strict_json(text) if suffix == "json" else [strict_json(line) for line in text.splitlines()]
        assert [r["score"] for r in rows] == [None, None] and rows[0]["extra"] is None
    assert strict_json(ScoreResult(scores=[math.nan, 0.5]).to_json())["scores"] == [None, 0.5]
    write_json(tmp_path / "x.json", {"v": [float("-inf"), 1.5]})
    assert strict_json((tmp_path / "x.json").read_text()) == {"v": [None, 1.5]}
    write_table(tmp_path / "x.csv", [{"v": math.nan, "w": 1.0}])
    assert (tmp_path / "x.csv").read_text() == "v,w\n,1.0\n"


# --- 15: messages and help ------------------------------------------------------------------------------


def test_15_unknown_task_is_reported_as_field_task(judge, tmp_path, capsys):
    src = jsonl(tmp_path / "in.jsonl", [{"output": "x"}])
    err = error_of(["score", "-i", str(src), "--task", "summarisation", "--criterion", "coherence"], capsys)
    assert "field 'task'" in err and "unknown task 'summarisation'" in err


def test_15_baseline_options_are_checked_with_heapmetric_messages():
    from heapmetric.judges.spec import load_judge

    with pytest.raises(
        InputError, match="option 'stem' of judge 'rouge1' expects true or false, got 'maybe'"
    ):
        load_judge("rouge1?stem=maybe")
    with pytest.raises(
        InputError, match=r"judge 'rouge1' has no option 'foo' \(valid: measure, stem"
    ) as info:
        load_judge("rouge1?foo=1")
    assert "__init__" not in str(info.value)
    with pytest.raises(InputError, match="expects a number"):
        load_judge("rougeL?beta=high")
    assert load_judge("rouge1?stem=false").info.metadata["options"]["stem"] is False


def test_15_meta_eval_stdout_announces_only_what_it_prints(tmp_path, capsys):
    from tests.heapmetric.metaeval.conftest import make_judgements

    write_jsonl(tmp_path / "data" / "toy" / "test.jsonl", (r.to_dict() for r in make_judgements(n_inputs=6)))
    args = ["meta-eval", "--dataset", "toy", "--data", str(tmp_path / "data"), "--metric", "length"]
    assert main([*args, "--bootstrap", "20", "--no-plots", "-o", str(tmp_path / "out")]) == 0
    stdout = capsys.readouterr().out
    assert "percentile intervals from" not in stdout
    assert "intervals (20 resamples, seed 0) are in report.md" in stdout
    assert "percentile intervals from 20 resamples" in (tmp_path / "out" / "report.md").read_text()


def test_15_httpx_request_logs_are_silenced_by_the_cli():
    before = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        for name in before:
            logging.getLogger(name).setLevel(logging.NOTSET)
        assert main(["criteria", "-q"]) == 0
        assert logging.getLogger("httpx").level == logging.WARNING  # not the root's INFO
        assert logging.getLogger("httpcore").level == logging.WARNING
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
