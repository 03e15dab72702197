"""``heapmetric score`` end to end on tiny models built in the session, plus its one-line input errors."""

from __future__ import annotations

import io
import json
import sys

import pytest

import heapmetric
from heapmetric.cli import main

TASK = ["--task", "summarization", "--criterion", "coherence"]
ROWS = [
    {"id": "1", "system": "A", "output": "The council approved the library.", "source": "The council met."},
    {"id": "2", "system": "B", "output": "Library library council.", "source": "The council met today."},
    {"id": "3", "system": "A", "output": "Work starts in spring and lasts two years.", "source": "Plans."},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture()
def rows_file(tmp_path):
    return write_jsonl(tmp_path / "rows.jsonl", ROWS)


@pytest.mark.parametrize("model_fixture", ["tiny_encoder_metric_dir", "tiny_decoder_metric_dir"])
def test_score_jsonl_matches_the_api(model_fixture, request, rows_file, tmp_path, capsys):
    model = str(request.getfixturevalue(model_fixture))
    out = tmp_path / "scored.jsonl"
    assert main(["score", "-i", str(rows_file), "-o", str(out), "--model", model, *TASK]) == 0
    scored = read_jsonl(out)
    assert [r["id"] for r in scored] == ["1", "2", "3"]
    assert all(set(ROWS[i]) <= set(r) for i, r in enumerate(scored))
    expected = heapmetric.load(model).score(ROWS, task="summarization", criterion="coherence").scores
    assert [r["score"] for r in scored] == pytest.approx(expected, abs=1e-6)
    err = capsys.readouterr().err
    assert "system" in err and "A" in err and "B" in err  # per-system means on stderr


def test_score_csv_with_map_and_stdin(tiny_encoder_metric_dir, tmp_path, monkeypatch, capsys):
    csv_in = tmp_path / "in.csv"
    csv_in.write_text(
        "hyp,src,sys\n" + "".join(f'"{r["output"]}","{r["source"]}",{r["system"]}\n' for r in ROWS)
    )
    out = tmp_path / "out.csv"
    rc = main(
        [
            "score",
            "-i",
            str(csv_in),
            "-o",
            str(out),
            "--model",
            str(tiny_encoder_metric_dir),
            *TASK,
            "--map",
            "output=hyp,source=src,system=sys",
            "--quiet",
        ]
    )
    assert rc == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "hyp,src,sys,score" and len(lines) == 4
    assert capsys.readouterr().err == ""  # --quiet
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(json.dumps(r) + "\n" for r in ROWS)))
    assert main(["score", "-i", "-", "--model", str(tiny_encoder_metric_dir), *TASK, "-q"]) == 0
    stdout_rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    csv_scores = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert [r["score"] for r in stdout_rows] == pytest.approx(csv_scores, abs=1e-6)


def test_per_row_criterion_overrides_the_flags(tiny_encoder_metric_dir, tmp_path):
    rows = [
        dict(ROWS[0]),
        dict(ROWS[0], criterion="fluency"),
        dict(ROWS[0], instruction="Rate how polite the reply is."),
    ]
    del rows[2]["source"]
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "score",
                "-i",
                str(write_jsonl(tmp_path / "in.jsonl", rows)),
                "-o",
                str(out),
                "--model",
                str(tiny_encoder_metric_dir),
                *TASK,
                "-q",
            ]
        )
        == 0
    )
    got = [r["score"] for r in read_jsonl(out)]
    metric = heapmetric.load(str(tiny_encoder_metric_dir))
    fluency = metric.score(outputs=[ROWS[0]["output"]], task="summarization", criterion="fluency").scores[0]
    polite = metric.score(outputs=[ROWS[0]["output"]], instruction="Rate how polite the reply is.").scores[0]
    assert got[1] == pytest.approx(fluency, abs=1e-6) and got[2] == pytest.approx(polite, abs=1e-6)
    assert got[0] != pytest.approx(got[1], abs=1e-9)


def test_only_system(tiny_encoder_metric_dir, rows_file, tmp_path):
    out = tmp_path / "sys.jsonl"
    assert (
        main(
            [
                "score",
                "-i",
                str(rows_file),
                "-o",
                str(out),
                "--model",
                str(tiny_encoder_metric_dir),
                *TASK,
                "--only-system",
                "-q",
            ]
        )
        == 0
    )
    systems = {r["system"]: r for r in read_jsonl(out)}
    assert set(systems) == {"A", "B"} and systems["A"]["n"] == 2


def test_generative_judge_through_the_cli(tiny_generative_dir, rows_file, tmp_path):
    out = tmp_path / "gen.jsonl"
    assert (
        main(
            [
                "score",
                "-i",
                str(rows_file),
                "-o",
                str(out),
                "--model",
                f"generative:{tiny_generative_dir}",
                *TASK,
                "-q",
            ]
        )
        == 0
    )
    scores = [r["score"] for r in read_jsonl(out)]
    assert all(1.0 <= s <= 5.0 for s in scores)


def test_server_option_uses_the_http_client(rows_file, tmp_path, monkeypatch):
    import heapmetric.client
    from heapmetric.judges.base import ScoreResult

    seen = {}

    class FakeClient:
        def __init__(self, base_url, api_key=None, **kw):
            seen["url"], seen["key"] = base_url, api_key

        def score(self, items, *, batch_size=None, show_progress=False):
            seen["items"] = items
            return ScoreResult(scores=[float(i) for i in range(len(items))])

    monkeypatch.setattr(heapmetric.client, "HeapmetricClient", FakeClient)
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "score",
                "-i",
                str(rows_file),
                "-o",
                str(out),
                "--server",
                "http://127.0.0.1:9",
                "--api-key",
                "k",
                *TASK,
                "-q",
            ]
        )
        == 0
    )
    assert seen["url"] == "http://127.0.0.1:9" and seen["key"] == "k"
    assert [it.criterion for it in seen["items"]] == ["coherence"] * 3
    assert [r["score"] for r in read_jsonl(out)] == [0.0, 1.0, 2.0]


def run_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_input_errors_are_one_line_exit_2(tiny_encoder_metric_dir, tmp_path, capsys, monkeypatch):
    model = ["--model", str(tiny_encoder_metric_dir)]
    missing = write_jsonl(tmp_path / "missing.jsonl", [ROWS[0], {"id": "x", "source": "no output"}])
    assert f"{missing}:2 field 'output'" in run_error(["score", "-i", str(missing), *model, *TASK], capsys)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "empty" in run_error(["score", "-i", str(empty), *model, *TASK], capsys)
    rows = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    err = run_error(
        ["score", "-i", str(rows), *model, "--task", "summarization", "--criterion", "coherense"], capsys
    )
    assert "did you mean 'coherence'" in err and f"{rows}:1" in err
    mixed = write_jsonl(
        tmp_path / "mixed.jsonl", [dict(ROWS[0], task="summarization"), dict(ROWS[1], task="dialogue")]
    )
    err = run_error(["score", "-i", str(mixed), *model], capsys)
    assert "rows mix tasks" in err and f"{mixed}:1" in err
    (tmp_path / "not-a-model").mkdir()
    err = run_error(["score", "-i", str(rows), "--model", str(tmp_path / "not-a-model"), *TASK], capsys)
    assert "not a heapmetric or Hugging Face checkpoint" in err
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    assert "needs bitsandbytes" in run_error(
        ["score", "-i", str(rows), *model, *TASK, "--quantize", "8bit"], capsys
    )


def test_debug_shows_the_traceback(tmp_path):
    from heapmetric.errors import InputError

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError):
        main(["score", "-i", str(empty), *TASK, "--debug"])


def test_long_runs_resume_after_an_interruption(tiny_encoder_metric_dir, tmp_path, monkeypatch):
    import heapmetric.cli.score as score_cli

    rows = [dict(ROWS[i % 3], id=str(i)) for i in range(7)]
    src = write_jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "scored.jsonl"
    metric = heapmetric.load(str(tiny_encoder_metric_dir))
    calls: list[int] = []

    class Flaky:
        info = metric.info
        fail_after = 2

        def score(self, items, **kw):
            if len(calls) == self.fail_after:
                raise KeyboardInterrupt
            calls.append(len(items))
            return metric.score(items, **kw)

    monkeypatch.setattr(score_cli, "RESUME_CHUNK", 2)
    monkeypatch.setattr(score_cli, "load_judge", lambda args: Flaky())
    argv = ["score", "-i", str(src), "-o", str(out), *TASK, "-q"]
    assert main(argv) == 130  # interrupted after two chunks
    journal = tmp_path / "scored.jsonl.partial.jsonl"
    assert journal.exists() and not out.exists()
    assert len(journal.read_text().splitlines()) == 1 + 4
    Flaky.fail_after = 99
    calls.clear()
    assert main(argv) == 0
    assert calls == [2, 1]  # only the 3 rows not yet scored
    assert not journal.exists()
    expected = metric.score(rows, task="summarization", criterion="coherence").scores
    assert [r["score"] for r in read_jsonl(out)] == pytest.approx(expected, abs=1e-6)


def test_unreadable_inputs_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"output": "ok"}\n{"output": "\xff"}\n')
    assert f"{bad}:2: not valid UTF-8" in run_error(["score", "-i", str(bad), *TASK], capsys)
    assert "is a folder" in run_error(["score", "-i", str(tmp_path), *TASK], capsys)
    monkeypatch.setattr(sys, "stdin", io.StringIO('[{"output": "a"}, {"source": "no output"}]'))
    err = run_error(["score", "-i", "-", "--input-format", "json", *TASK], capsys)
    assert "-:2 field 'output'" in err  # stdin was read (no FileNotFoundError '-')


def test_bom_csv_header_is_read(tiny_encoder_metric_dir, tmp_path):
    csv_in = tmp_path / "excel.csv"
    csv_in.write_bytes(b"\xef\xbb\xbfoutput,system\nThe council approved it.,A\n")
    out = tmp_path / "out.jsonl"
    argv = ["score", "-i", str(csv_in), "-o", str(out), "--model", str(tiny_encoder_metric_dir), *TASK, "-q"]
    assert main(argv) == 0
    assert list(read_jsonl(out)[0]) == ["output", "system", "score"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["r1", "r2"], ("r1", "r2")),
        ('["r1", "r2"]', ("r1", "r2")),
        ("plain reference", ("plain reference",)),
        ("42", ("42",)),
        ('{"a": 1}', ('{"a": 1}',)),
        ('"quoted"', ('"quoted"',)),
    ],
)
def test_references_values(value, expected):
    from heapmetric.cli.score import FIELDS, field_values

    assert field_values({"output": "o", "references": value}, {}, FIELDS)["references"] == expected


@pytest.mark.parametrize("bad", [5, {"a": "b"}, [1, 2], True])
def test_non_list_references_are_one_line_exit_2(bad, tmp_path, capsys):
    src = write_jsonl(tmp_path / "refs.jsonl", [ROWS[0], {"output": "a", "references": bad}])
    err = run_error(["score", "-i", str(src), *TASK], capsys)
    assert f"{src}:2 field 'references'" in err
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"output_a": "a", "output_b": "b", "references": bad}])
    assert f"{pairs}:1 field 'references'" in run_error(["compare", "-i", str(pairs), *TASK], capsys)


def test_max_length_above_the_model_limit_is_one_line(tiny_encoder_metric_dir, rows_file, capsys):
    model = ["--model", str(tiny_encoder_metric_dir)]
    err = run_error(["score", "-i", str(rows_file), *model, *TASK, "--max-length", "2000"], capsys)
    assert "limit of 512 tokens" in err
    with pytest.raises(heapmetric.errors.InputError, match="limit of 512"):
        heapmetric.load(str(tiny_encoder_metric_dir), max_length=2000)
    tiny = heapmetric.load(str(tiny_encoder_metric_dir), max_length=2)  # headers alone do not fit
    with pytest.raises(heapmetric.errors.InputError, match="too small for the segment headers"):
        tiny.score(ROWS, task="summarization", criterion="coherence")


def test_only_system_fails_before_the_model_loads(rows_file, tmp_path, capsys, monkeypatch):
    import heapmetric.cli.score as score_cli

    def no_load(args):
        raise AssertionError("model loaded")

    monkeypatch.setattr(score_cli, "load_judge", no_load)
    src = write_jsonl(tmp_path / "nosys.jsonl", [{"output": "a"}, {"output": "b"}])
    assert "--only-system" in run_error(["score", "-i", str(src), *TASK, "--only-system"], capsys)


def test_json_output_is_a_json_list(tiny_encoder_metric_dir, rows_file, tmp_path):
    out = tmp_path / "scored.json"
    assert (
        main(
            [
                "score",
                "-i",
                str(rows_file),
                "-o",
                str(out),
                "--model",
                str(tiny_encoder_metric_dir),
                *TASK,
                "-q",
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert isinstance(data, list) and [r["id"] for r in data] == ["1", "2", "3"]


def test_quiet_turns_library_progress_bars_off(tmp_path, monkeypatch):
    import os

    import heapmetric.cli.score as score_cli

    seen = {}

    def fake_run(args):
        seen.update({k: os.environ.get(k) for k in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")})
        return 0

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(score_cli, "run", fake_run)
    src = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    assert main(["score", "-i", str(src), *TASK, "-q"]) == 0
    assert seen == {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    assert "TQDM_DISABLE" not in os.environ  # restored after the command


def _resume_setup(tiny_encoder_metric_dir, tmp_path, monkeypatch):
    import heapmetric.cli.score as score_cli

    rows = [dict(ROWS[i % 3], id=str(i)) for i in range(7)]
    src = write_jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "scored.jsonl"
    metric = heapmetric.load(str(tiny_encoder_metric_dir))
    calls: list[int] = []

    class Counting:
        info = metric.info

        def score(self, items, **kw):
            calls.append(len(items))
            return metric.score(items, **kw)

    monkeypatch.setattr(score_cli, "RESUME_CHUNK", 2)
    monkeypatch.setattr(score_cli, "load_judge", lambda args: Counting())
    return rows, src, out, metric, calls, Counting


def test_resume_survives_a_torn_last_line(tiny_encoder_metric_dir, tmp_path, monkeypatch):
    from argparse import Namespace

    from heapmetric.cli.score import _item_hash, journal_header
    from heapmetric.judges.base import ScoreItem

    rows, src, out, metric, calls, Counting = _resume_setup(tiny_encoder_metric_dir, tmp_path, monkeypatch)
    argv = ["score", "-i", str(src), "-o", str(out), *TASK, "-q"]
    args = Namespace(task="summarization", criterion="coherence", instruction=None, max_length=None)
    args.__dict__.update(dtype="auto", quantize=None, server=None)
    items = [
        ScoreItem(
            output=r["output"],
            source=r["source"],
            system=r["system"],
            id=r["id"],
            **dict(zip(("task", "criterion"), ("summarization", "coherence"), strict=True)),
        )
        for r in rows
    ]
    header = journal_header(Counting(), items, args)
    entries = [
        json.dumps({"i": i, "h": _item_hash(i, items[i]), "score": 0.5, "calibrated": None}) for i in range(3)
    ]
    journal = tmp_path / "scored.jsonl.partial.jsonl"
    journal.write_text(
        json.dumps(header) + "\n" + "\n".join(entries) + '\n{"i": 3, "h": "ab'
    )  # killed mid-write
    assert main(argv) == 0
    assert calls == [2, 2]  # rows 3..6: the torn line cost one row, not the journal
    assert [r["score"] for r in read_jsonl(out)][:3] == [0.5, 0.5, 0.5]
    assert not journal.exists()


def test_resume_refuses_a_journal_made_with_other_settings(tiny_encoder_metric_dir, tmp_path, monkeypatch):
    rows, src, out, metric, calls, Counting = _resume_setup(tiny_encoder_metric_dir, tmp_path, monkeypatch)
    journal = tmp_path / "scored.jsonl.partial.jsonl"

    score = Counting.score

    def crash_after_one(self, items, **kw):
        if calls:
            raise KeyboardInterrupt
        return score(self, items, **kw)

    monkeypatch.setattr(Counting, "score", crash_after_one)
    argv = ["score", "-i", str(src), "-o", str(out), *TASK, "-q"]
    assert main([*argv, "--max-length", "128"]) == 130
    assert journal.exists() and len(journal.read_text().splitlines()) == 1 + 2
    monkeypatch.setattr(Counting, "score", score)
    calls.clear()
    assert main(argv) == 0  # another --max-length: scored again from the start
    assert calls == [2, 2, 2, 1]
    expected = metric.score(rows, task="summarization", criterion="coherence").scores
    assert [r["score"] for r in read_jsonl(out)] == pytest.approx(expected, abs=1e-6)
