"""Judge specs: parsing, built-in prefixes, options, plugin registration, score files, errors."""

from __future__ import annotations

import json
import math

import pytest

from heapmetric.errors import InputError, UnknownNameError
from heapmetric.judges import spec as spec_module
from heapmetric.judges.base import PairItem, ScoreItem
from heapmetric.judges.baselines import RougeJudge
from heapmetric.judges.spec import ScoresFileJudge, list_judges, load_judge, parse_spec, register_judge


def test_parse_spec():
    assert parse_spec("rouge1") == ("rouge1", None, {})
    assert parse_spec("heapmetric:./ckpt") == ("heapmetric", "./ckpt", {})
    assert parse_spec("openai:gpt-4o@http://h:8000/v1") == ("openai", "gpt-4o@http://h:8000/v1", {})
    assert parse_spec("rouge2?stem=false&multi-ref=max") == (
        "rouge2",
        None,
        {"stem": False, "multi_ref": "max"},
    )
    assert parse_spec("heapmetric?max_length=128") == ("heapmetric", None, {"max_length": 128})


def test_baseline_specs_and_options():
    judge = load_judge("rouge2?stem=false&multi_ref=first")
    assert isinstance(judge, RougeJudge) and judge.info.name == "rouge2"
    assert (judge.stem, judge.multi_ref) == (False, "first")
    for name in ("length", "rouge1", "rougeL", "rougeLsum", "bleu", "chrf", "embed-ref", "embed-src"):
        assert load_judge(name).info.kind == "baseline"
    with pytest.raises(InputError, match="judge .length. has no option .stem. \\(valid: none\\)"):
        load_judge("length?stem=true")
    with pytest.raises(InputError, match="no ':' argument"):
        load_judge("bleu:foo")


def test_unknown_spec_suggests_close_names():
    with pytest.raises(UnknownNameError, match="rouge1"):
        load_judge("rouge")
    assert {"heapmetric", "generative", "scores", "openai", "annotations"} <= set(list_judges())


def test_register_judge_hook(monkeypatch):
    monkeypatch.setattr(spec_module, "_REGISTRY", dict(spec_module._REGISTRY))
    seen = {}

    def factory(arg, *, temperature=0.0):
        seen["args"] = (arg, temperature)
        return load_judge("length")

    register_judge("fake", factory)
    load_judge("fake:model-x?temperature=0.5")
    assert seen["args"] == ("model-x", 0.5)
    with pytest.raises(InputError, match="no option 'top_p'"):
        load_judge("fake:model-x?top_p=1")
    with pytest.raises(ValueError):
        register_judge("fake", factory)


def test_scores_file_joins_on_id(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [{"id": "a", "score": 0.5}, {"id": "b", "score": 2}, {"id": "c", "score": float("nan")}]
        )
        + "\n"
    )
    judge = load_judge(f"scores:{path}")
    r = judge.score([ScoreItem(output="x", id="b", system="s"), ScoreItem(output="y", id="a", system="s")])
    assert r.scores == [2.0, 0.5] and r.system_scores == {"s": 1.25}
    assert math.isnan(judge.score([ScoreItem(output="z", id="c")]).scores[0])
    with pytest.raises(InputError, match=r"2 of 3 ids have no 'score' in the file \(first: 'q', 'r'\)"):
        judge.score(
            [ScoreItem(output="x", id="q"), ScoreItem(output="x", id="a"), ScoreItem(output="x", id="r")]
        )
    lenient = load_judge(f"scores:{path}?missing=nan")
    assert math.isnan(lenient.score([ScoreItem(output="x", id="q")]).scores[0])


def test_scores_file_csv_probabilities_and_errors(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,p_a_better\np1,0.8\np2,0.1\n")
    judge = ScoresFileJudge(path)
    assert judge.compare([PairItem(output_a="a", output_b="b", id="p2")]).probabilities == [0.1]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,score\nx,high\n")
    with pytest.raises(InputError, match=r"bad.csv:2 field 'score': expected a number"):
        ScoresFileJudge(bad)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "x", "score": 1}\n{"id": "x", "score": 2}\n')
    with pytest.raises(InputError, match="duplicate id"):
        ScoresFileJudge(dup)
    with pytest.raises(InputError, match="not found"):
        load_judge(f"scores:{tmp_path / 'absent.jsonl'}")
