"""The OpenAI-compatible judge against a real HTTP server on loopback (tests/fakes/openai_server.py): published
prompts and verdict formats, retries of unparseable replies, the cache, an endpoint that goes away, and both
benchmarks end to end through the CLI."""

from __future__ import annotations

import csv
import json
import math
import re

import pytest

from heapmetric.bench import alpacaeval as ae
from heapmetric.bench.cache import AnnotationCache
from heapmetric.bench.formats import read_model_outputs
from heapmetric.bench.judging import UnavailableJudgeError
from heapmetric.cli import main
from heapmetric.env import data_dir
from heapmetric.judges.base import PairItem
from heapmetric.judges.openai_compat import OpenAIJudge
from heapmetric.judges.spec import load_judge
from tests.fakes.openai_server import Failure, FakeOpenAIServer, FakeReply

_A = re.compile(
    r"<\|The Start of Assistant A's Answer\|>\n(.*?)\n<\|The End of Assistant A's Answer\|>", re.S
)
_B = re.compile(
    r"<\|The Start of Assistant B's Answer\|>\n(.*?)\n<\|The End of Assistant B's Answer\|>", re.S
)


def arena_reply(messages, body) -> str:
    """A judge that prefers the longer answer, strongly when it is twice as long; 'UNPARSEABLE' prompts get
    prose without a verdict."""
    user = messages[-1]["content"]
    if "UNPARSEABLE" in user:
        return "Both answers have merit and I will not choose."
    a, b = len(_A.search(user).group(1)), len(_B.search(user).group(1))
    if a == b:
        return "My final verdict is tie: [[A=B]]"
    if a > b:
        return "My final verdict is: [[A>>B]]" if a > 2 * b else "My final verdict is: [[A>B]]"
    return "My final verdict is: [[B>>A]]" if b > 2 * a else "My final verdict is: [[B>A]]"


def alpaca_reply(messages, body) -> FakeReply:
    """AlpacaEval 2.0's one-token judge: 'm' (output_1) with logprob ln 0.8, 'M' with ln 0.2."""
    return FakeReply("m", logprobs=[("m", math.log(0.8), [("m", math.log(0.8)), ("M", math.log(0.2))])])


def test_arena_verdicts_retries_and_unparsed(fake_openai_server) -> None:
    srv: FakeOpenAIServer = fake_openai_server(arena_reply)
    judge = OpenAIJudge("judge-model", srv.base_url, max_retries=0)
    pairs = [
        PairItem("a much longer answer here", "short", source="Q1"),
        PairItem("tiny", "a bit longer", source="Q2"),
        PairItem("x", "y", source="UNPARSEABLE Q3"),
    ]
    res = judge.compare(pairs)
    assert res.probabilities[:2] == [1.0, 0.0]
    assert math.isnan(res.probabilities[2])
    assert res.metadata["verdicts"] == ["A>>B", "B>>A", None]
    assert res.metadata["unparsed"] == 1 and res.metadata["attempts"] == [1, 1, 2]
    assert srv.count() == 4  # the unparseable pair was asked twice
    body = srv.requests[0].body
    assert body["temperature"] == 0.0 and body["max_tokens"] == 4096 and body["model"] == "judge-model"


def test_alpacaeval_logprob_judge(fake_openai_server, tmp_path, alpaca_files) -> None:
    srv = fake_openai_server(alpaca_reply)
    judge = load_judge(f"openai:gpt-4-1106-preview@{srv.base_url}?config=weighted_alpaca_eval_gpt4_turbo")
    res = ae.evaluate_model(
        judge, read_model_outputs(alpaca_files["long"]), read_model_outputs(alpaca_files["reference"])
    )
    # P(output_1) = 0.8 in both orders: 0.8 for the model when it is first, 0.2 when second -> mean 0.5
    assert res.row["win_rate"] == pytest.approx(50.0)
    assert res.annotations[0]["p_model_first"] == pytest.approx(0.8)
    assert res.annotations[0]["p_reference_first"] == pytest.approx(0.2)
    assert srv.requests[0].body["logprobs"] is True and srv.requests[0].body["max_tokens"] == 1


def test_endpoint_going_away_keeps_the_cache(fake_openai_server, tmp_path, alpaca_files) -> None:
    failing = fake_openai_server(arena_reply, failures=lambda i, body: Failure("500") if i >= 10 else None)
    cache_path = tmp_path / "cache.sqlite"
    model = read_model_outputs(alpaca_files["short"])
    ref = read_model_outputs(alpaca_files["reference"])
    with AnnotationCache(cache_path) as cache:
        judge = OpenAIJudge("judge-model", failing.base_url, max_retries=0, concurrency=1)
        with pytest.raises(UnavailableJudgeError) as err:
            ae.evaluate_model(judge, model, ref, cache=cache, batch_size=5)
        assert "10 annotations kept in the cache" in str(err.value) and "re-run to resume" in str(err.value)
    # the same judge (model, config, prompt) served elsewhere: only the missing pairs are asked
    failing.stop()
    with FakeOpenAIServer(arena_reply) as healthy, AnnotationCache(cache_path) as cache:
        judge = OpenAIJudge("judge-model", healthy.base_url, max_retries=0)
        res = ae.evaluate_model(judge, model, ref, cache=cache, batch_size=5)
        assert healthy.count() == 24 - 10
        assert res.row["n_total"] == 12 and res.row["win_rate"] == 0.0


def test_unreachable_endpoint_is_one_clear_line(tmp_path, alpaca_files, capsys) -> None:
    code = main(
        [
            "bench",
            "alpacaeval",
            "--model-outputs",
            str(alpaca_files["short"]),
            "--reference",
            str(alpaca_files["reference"]),
            "--judge",
            "openai:m@http://127.0.0.1:9/v1?max_retries=0&timeout=2",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "-q",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "failed after 0 of 24 new pairs" in err[0] and "127.0.0.1:9" in err[0]


@pytest.mark.data
def test_both_benchmarks_on_shipped_data_through_loopback(fake_openai_server, tmp_path, capsys) -> None:
    root = data_dir()
    if not (root / "alpacaeval").is_dir() or not (root / "arena_hard").is_dir():
        pytest.skip(f"benchmark data not found under {root} (set $HEAPMETRIC_DATA)")
    srv = fake_openai_server(arena_reply)
    spec = f"openai:judge-model@{srv.base_url}"
    out = tmp_path / "ae"
    assert (
        main(
            [
                "bench",
                "alpacaeval",
                "--judge",
                spec,
                "--limit",
                "4",
                "--out",
                str(out),
                "--cache",
                str(tmp_path / "c.sqlite"),
                "-q",
            ]
        )
        == 0
    )
    with open(out / "leaderboard.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and srv.count() == 6 * 4 * 2
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["rank_agreement"]["win_rate"]["models"]) == 5  # text_davinci_003 is not on AE2
    srv.reset()
    out = tmp_path / "ah"
    assert (
        main(
            [
                "bench",
                "arena-hard",
                "--judge",
                spec,
                "--limit",
                "4",
                "--rounds",
                "10",
                "--out",
                str(out),
                "--cache",
                str(tmp_path / "c.sqlite"),
                "-q",
            ]
        )
        == 0
    )
    assert srv.count() == 2 * 4 * 2
    with open(out / "leaderboard.csv", encoding="utf-8") as handle:
        models = [r["model"] for r in csv.DictReader(handle)]
    assert set(models) == {"gpt-4-0314", "gpt-4-0613", "gpt-3.5-turbo-0125"}
    judgment = json.loads((out / "judgments" / "gpt-4-0613.jsonl").read_text().splitlines()[0])
    assert judgment["games"][0]["score"] in {"A>>B", "A>B", "A=B", "B>A", "B>>A"}
