"""``bench generate``: valid answer files per benchmark that ``bench`` reads back, resume after a kill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.bench import generate as gen
from heapmetric.bench.formats import (
    check_answers,
    read_answers,
    read_model_outputs,
    read_mt_bench_answers,
    read_questions,
)
from heapmetric.cli import main

INSTRUCTIONS = ["Name a fruit.", "Say hello.", "Count to three.", "What is the cat doing?", "Rate this."]


@pytest.fixture()
def question_files(tmp_path: Path) -> dict[str, Path]:
    """Small question files in each benchmark's own format (AlpacaEval: a reference model_outputs.json)."""
    ae = tmp_path / "reference.json"
    ae.write_text(
        json.dumps(
            [
                {
                    "instruction": t,
                    "output": "The reference answer " * (i + 1),
                    "generator": "ref",
                    "dataset": "d",
                }
                for i, t in enumerate(INSTRUCTIONS)
            ]
        )
    )
    ah = tmp_path / "question.jsonl"
    ah.write_text(
        "".join(
            json.dumps({"uid": f"u{i}", "category": "c", "prompt": t}) + "\n"
            for i, t in enumerate(INSTRUCTIONS)
        )
    )
    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text(
        "".join(
            json.dumps(
                {
                    "uid": f"u{i}",
                    "model": "base",
                    "messages": [
                        {"role": "user", "content": t},
                        {"role": "assistant", "content": {"answer": "ok " * i}},
                    ],
                }
            )
            + "\n"
            for i, t in enumerate(INSTRUCTIONS)
        )
    )
    mt = tmp_path / "mt_question.jsonl"
    mt.write_text(
        "".join(
            json.dumps({"question_id": 81 + i, "category": "writing", "turns": [t, "Now say it shorter."]})
            + "\n"
            for i, t in enumerate(INSTRUCTIONS[:3])
        )
    )
    return {"alpacaeval": ae, "arena-hard": ah, "baseline": baseline, "mt-bench": mt}


def test_tiny_model_writes_files_bench_reads(
    tiny_generative_dir: Path, question_files, tmp_path: Path
) -> None:
    out = {
        "alpacaeval": tmp_path / "outputs.json",
        "arena-hard": tmp_path / "answers.jsonl",
        "mt-bench": tmp_path / "mt.jsonl",
    }
    for bench, path in out.items():
        rc = main(
            ["bench", "generate", "--benchmark", bench, "--model", str(tiny_generative_dir), "--name", "tiny",
             "--questions", str(question_files[bench]), "--out", str(path), "--max-new-tokens", "6",
             "--batch-size", "2", "-q"]
        )  # fmt: skip
        assert rc == 0

    outputs = read_model_outputs(out["alpacaeval"])
    assert outputs.generator == "tiny"
    assert [r["instruction"] for r in outputs.records] == INSTRUCTIONS
    settings = outputs.records[0]["generation"]
    assert (
        settings["max_new_tokens"] == 6 and settings["temperature"] == 0.0 and settings["backend"] == "local"
    )
    answers = read_answers(out["arena-hard"])
    check_answers(read_questions(question_files["arena-hard"]), answers)
    assert answers.model == "tiny" and len(answers.answers) == len(INSTRUCTIONS)
    mt = read_mt_bench_answers(out["mt-bench"])
    assert sorted(mt.answers) == ["81", "82", "83"] and all(len(t) == 2 for t in mt.answers.values())

    # `bench` itself reads the files (the length judge keeps it fast)
    assert main(["bench", "alpacaeval", "--model-outputs", str(out["alpacaeval"]), "--reference",
                 str(question_files["alpacaeval"]), "--judge", "length", "--no-cache", "-q",
                 "--out", str(tmp_path / "ae")]) == 0  # fmt: skip
    assert main(["bench", "arena-hard", "--answers", str(out["arena-hard"]), "--baseline",
                 str(question_files["baseline"]), "--questions", str(question_files["arena-hard"]),
                 "--judge", "length", "--no-cache", "-q", "--rounds", "5", "--out", str(tmp_path / "ah")]) == 0  # fmt: skip
    assert (tmp_path / "ae" / "leaderboard.csv").is_file() and (tmp_path / "ah" / "leaderboard.csv").is_file()


def test_tiny_model_batched_greedy_matches_one_by_one(tiny_generative_dir: Path) -> None:
    """Left padding must not change greedy answers: batch of 4 vs batch of 1."""
    conversations = [[{"role": "user", "content": t}] for t in INSTRUCTIONS[:4]]
    settings = gen.GenerationSettings(max_new_tokens=5)
    batched = gen.LocalGenerator(str(tiny_generative_dir), batch_size=4).generate(conversations, settings)
    single = gen.LocalGenerator(str(tiny_generative_dir), batch_size=1).generate(conversations, settings)
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.output_tokens <= 5 for g in batched)


class FakeGenerator:
    """Deterministic answers that name the conversation; raises after ``fail_after`` answers (a kill)."""

    fingerprint = {"backend": "fake", "model": "fake"}

    def __init__(self, fail_after: int | None = None) -> None:
        self.fail_after, self.calls = fail_after, 0

    def generate(self, conversations, settings):
        out = []
        for c in conversations:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise KeyboardInterrupt("killed")
            self.calls += 1
            history = " | ".join(m["content"] for m in c)
            out.append(gen.Generated(f"answer to <{history}>", 3, 4, "stop"))
        return out


@pytest.mark.parametrize("bench", ["alpacaeval", "arena-hard", "mt-bench"])
@pytest.mark.parametrize("fail_after", [1, 4])  # mt-bench: 4 is in the second turn
def test_killed_generation_resumes_without_missing_or_doubled(
    bench, fail_after, question_files, tmp_path
) -> None:
    prompts = gen.read_prompts(bench, question_files[bench])
    settings = gen.GenerationSettings(max_new_tokens=8)
    clean = gen.generate_answers(
        bench, prompts, FakeGenerator(), settings, tmp_path / "clean.jsonl", chunk_size=2
    )

    journal = tmp_path / "killed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        gen.generate_answers(bench, prompts, FakeGenerator(fail_after), settings, journal, chunk_size=2)
    # chunks finished before the kill are journaled (a chunk of 2 is the unit of loss)
    kept = len(journal.read_text().splitlines())
    assert fail_after - 1 <= kept <= fail_after
    second = FakeGenerator()
    resumed = gen.generate_answers(bench, prompts, second, settings, journal, chunk_size=2)
    total = sum(len(p.turns) for p in prompts)
    assert second.calls == total - kept == resumed.new and resumed.from_journal == kept
    assert resumed.answers == clean.answers
    records = gen.output_records(bench, prompts, resumed.answers, "m", {})
    path = tmp_path / ("out.json" if bench == "alpacaeval" else "out.jsonl")
    gen.write_answers(bench, path, records)
    if bench == "alpacaeval":
        assert [r["instruction"] for r in read_model_outputs(path).records] == INSTRUCTIONS
    elif bench == "arena-hard":
        check_answers(read_questions(question_files[bench]), read_answers(path))
    else:
        turns = read_mt_bench_answers(path).answers
        assert len(turns) == 3 and all(len(t) == 2 for t in turns.values())
        assert all("Now say it shorter." in t[1] and t[0] in t[1] for t in turns.values())


def test_settings_change_is_a_new_journal_key(question_files, tmp_path) -> None:
    prompts = gen.read_prompts("arena-hard", question_files["arena-hard"], limit=2)
    journal = tmp_path / "j.jsonl"
    gen.generate_answers(
        "arena-hard", prompts, FakeGenerator(), gen.GenerationSettings(max_new_tokens=8), journal
    )
    again = gen.generate_answers(
        "arena-hard", prompts, FakeGenerator(), gen.GenerationSettings(max_new_tokens=8), journal
    )
    assert again.new == 0 and again.from_journal == 2
    other = gen.generate_answers(
        "arena-hard", prompts, FakeGenerator(), gen.GenerationSettings(max_new_tokens=9), journal
    )
    assert other.new == 2


def test_bad_inputs_are_clear_errors(question_files, tmp_path, capsys) -> None:
    rc = main(["bench", "generate", "--benchmark", "arena-hard", "--out", str(tmp_path / "x.jsonl"),
               "--questions", str(question_files["arena-hard"])])  # fmt: skip
    assert rc == 2 and "--model" in capsys.readouterr().err
    rc = main(["bench", "generate", "--benchmark", "arena-hard", "--model", "m", "--out", str(tmp_path)])
    assert rc == 2 and "is a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "bench",
                "generate",
                "--benchmark",
                "arena-hard",
                "--model",
                "m",
                "--out",
                "x.jsonl",
                "--limit",
                "0",
            ]
        )
    bad = tmp_path / "mt.jsonl"
    bad.write_text(json.dumps({"question_id": 1, "turns": "not a list"}) + "\n")
    with pytest.raises(Exception, match="turns"):
        gen.read_prompts("mt-bench", bad)
    with pytest.raises(Exception, match="limit"):
        gen.read_prompts("arena-hard", question_files["arena-hard"], limit=0)


def test_endpoint_generation_through_the_fake_server(question_files, tmp_path) -> None:
    """An OpenAI-compatible endpoint answers MT-Bench's two turns; an injected 503 is retried, not lost."""
    from tests.fakes.openai_server import Failure, FakeOpenAIServer

    def reply(messages, body):
        return f"turn {sum(m['role'] == 'user' for m in messages)}: {messages[-1]['content'][:20]}"

    out = tmp_path / "mt.jsonl"
    with FakeOpenAIServer(reply, failures={2: Failure("503")}) as srv:
        rc = main(["bench", "generate", "--benchmark", "mt-bench", "--base-url", srv.base_url, "--model", "served",
                   "--questions", str(question_files["mt-bench"]), "--out", str(out), "--max-new-tokens", "32",
                   "--concurrency", "2", "-q"])  # fmt: skip
        served = srv.count()
    assert rc == 0 and served == 6 + 1
    answers = read_mt_bench_answers(out)
    assert answers.model == "served"
    assert answers.answers["81"] == ["turn 1: Name a fruit.", "turn 2: Now say it shorter."]
    record = json.loads(out.read_text().splitlines()[0])
    assert record["generation"]["backend"] == "openai" and record["generation"]["max_new_tokens"] == 32
