"""Each converter on a tiny copy of its source, written in the source's real format (see conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heapmetric.data import CONVERTERS, available_converters, get_converter
from heapmetric.errors import InputError, UnknownNameError
from heapmetric.records import Judgement, Preference
from heapmetric.registry import get_criterion


def _convert(name: str, root: Path, **kw):
    module = get_converter(name)
    return module.convert(root / module.FOLDER, **kw)


def _by_id(records):
    return {r.id: r for r in records}


def test_registry_lists_every_converter(source_names):
    assert set(CONVERTERS) == {*source_names, "heap_sources"}
    for name in available_converters():
        module = get_converter(name)
        assert module.NAME == name and isinstance(module.FOLDER, str) and callable(module.convert)
    with pytest.raises(UnknownNameError, match="did you mean 'summeval'"):
        get_converter("sumeval")


@pytest.mark.parametrize("name", [n for n in CONVERTERS if n != "heap_sources"])
def test_records_are_valid_unique_and_registered(tiny_sources, name):
    records = _convert(name, tiny_sources)
    assert records
    assert len({r.id for r in records}) == len(records)
    for r in records:
        assert r.dataset == name
        get_criterion(r.task, r.criterion)
        type(r).from_dict(json.loads(json.dumps(r.to_dict())))  # survives the JSONL round trip
        if isinstance(r, Judgement):
            assert r.scale[0] <= r.score <= r.scale[1]


def test_summeval(tiny_sources):
    recs = _by_id(_convert("summeval", tiny_sources))
    assert len(recs) == 2 * 3 * 4
    m8 = recs["summeval/dm-test-aaa/M8/coherence"]
    assert m8.annotator_scores == [3.0, 2.0, 2.0]
    assert m8.score == pytest.approx(7 / 3)
    assert m8.meta["turker_scores"] == [4.0] * 5
    assert m8.item_id == "dm-test-aaa" and m8.source == "Article dm-test-aaa text ."
    assert m8.references == ["ref one .", "ref two ."] and m8.scale == [1.0, 5.0]
    m0 = recs["summeval/dm-test-aaa/M0/relevance"]
    assert m0.annotator_scores is None and m0.score == 2.0  # extractive: mean only
    floored = _by_id(_convert("summeval", tiny_sources, aggregation="floor_mean"))
    assert floored["summeval/dm-test-aaa/M8/coherence"].score == 2.0
    assert floored["summeval/dm-test-aaa/M9/fluency"].score == 4.0  # mean 14/3 from the individual file
    med = _by_id(_convert("summeval", tiny_sources, aggregation="median"))
    assert med["summeval/dm-test-aaa/M8/coherence"].score == 2.0


def test_summeval_without_individual_file_uses_means(tiny_sources):
    (tiny_sources / "summeval" / "summeval_individual_annotations_12abstractive.jsonl").unlink()
    recs = _by_id(_convert("summeval", tiny_sources, aggregation="floor_mean"))
    assert recs["summeval/dm-test-aaa/M8/coherence"].score == 2.0
    assert recs["summeval/dm-test-aaa/M9/coherence"].annotator_scores is None


def test_realsumm(tiny_sources):
    recs = _by_id(_convert("realsumm", tiny_sources))
    assert len(recs) == 4
    r = recs["realsumm/1/t5_out.txt/coverage"]
    assert (r.item_id, r.system, r.score, r.reference, r.scale) == (
        "1",
        "t5_out.txt",
        0.25,
        "Reference 1 .",
        [0.0, 1.0],
    )


def test_qags(tiny_sources):
    recs = _by_id(_convert("qags", tiny_sources))
    assert sorted(recs) == ["qags/cnndm-0/consistency", "qags/cnndm-1/consistency", "qags/xsum-0/consistency"]
    r = recs["qags/cnndm-1/consistency"]
    assert r.score == pytest.approx(2 / 3) and r.meta["subset"] == "cnndm" and r.reference is None


def test_rank19(tiny_sources):
    recs = _convert("rank19", tiny_sources)
    assert all(isinstance(r, Preference) for r in recs) and len(recs) == 3
    by_key = {r.meta["key"]: r for r in recs}
    for r in recs:
        better = r.output_a if r.label == "a" else r.output_b
        assert better in ("The cat sat .", "A cat sat on a mat .", "Rain fell .")
    assert by_key["0"].item_id == by_key["1"].item_id != by_key["2"].item_id  # same source sentence
    assert by_key["2"].meta["identical_outputs"] is True


def test_rank19_rejects_wrong_fact_value(tiny_sources):
    path = tiny_sources / "rank19" / "rank19_bartscore.json"
    data = json.loads(path.read_text())
    data["1"]["sys_summs"]["correct"]["scores"]["fact"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"rank19_bartscore.json field '1/sys_summs/correct/scores/fact'"):
        _convert("rank19", tiny_sources)


def test_data2text(tiny_sources):
    recs = _by_id(_convert("data2text", tiny_sources))
    assert len(recs) == (3 + 2 + 2) * 3
    a0, a2 = recs["data2text/sfhot/0/overall"], recs["data2text/sfhot/2/overall"]
    assert a0.item_id == a2.item_id == "sfhot-0" and recs["data2text/sfhot/1/overall"].item_id == "sfhot-1"
    assert a0.reference == "Ref for inform(name='a') ." and a0.system == "LOLS"
    bagel = recs["data2text/bagel/1/overall"]
    assert bagel.meta["native_criterion"] == "quality" and bagel.score == 4.0
    assert bagel.references == ["X is a venue .", "X ."] and bagel.system == "Dusek"
    assert bagel.item_id == "bagel-0" and bagel.meta["aggregation"] == "median"


def test_topicalchat(tiny_sources):
    recs = _by_id(_convert("topicalchat_usr", tiny_sources))
    assert len(recs) == 2 * 6
    r = recs["topicalchat_usr/tc-0/Argmax Decoding/natural"]
    assert r.context == "hello there\nhi , do you like films ?"
    assert (r.source, r.output, r.scale) == ("films are movies .", "i do .", [1.0, 3.0])
    assert r.score == pytest.approx(2.3333333333)
    floored = _by_id(_convert("topicalchat_usr", tiny_sources, aggregation="floor_mean"))
    assert floored["topicalchat_usr/tc-0/Original Ground Truth/overall"].score == 4.0
    assert floored["topicalchat_usr/tc-0/Original Ground Truth/uses_knowledge"].score == 0.0


def test_personachat(tiny_sources):
    recs = _by_id(_convert("personachat_usr", tiny_sources))
    assert len(recs) == 2 * 6
    r = recs["personachat_usr/pc-0/Seq2Seq/overall"]
    assert r.annotator_scores == [1.0, 2.0, 1.0] and r.score == pytest.approx(4 / 3)
    assert r.output == "dogs !" and r.source == "your persona: i like dogs.\nyour persona: i sing."
    assert r.context == "hi how are you ?\ngood , and you ?" and r.scale == [1.0, 5.0]
    med = _by_id(_convert("personachat_usr", tiny_sources, aggregation="median"))
    assert med["personachat_usr/pc-0/Seq2Seq/overall"].score == 1.0


def test_fed(tiny_sources):
    recs = _by_id(_convert("fed", tiny_sources))
    # 2 turns × 9 qualities + 1 dialogue × 10 (error recovery is all N/A)
    assert len(recs) == 2 * 9 + 10
    assert {r.item_id for r in recs.values()} == {"conv-0"}
    t = recs["fed/conv-0/turn2/correct"]
    assert t.annotator_scores == [2.0, 2.0, 2.0, 2.0] and t.meta["dropped_na"] == 1
    assert t.output == "Fine." and t.context.endswith("User: How are you?") and t.task == "dialogue_turn"
    d = recs["fed/conv-0/dialogue/overall"]
    assert d.task == "dialogue_level" and d.output.endswith("System: Fine.") and d.scale == [0.0, 4.0]
    assert "fed/conv-0/dialogue/error_recovery" not in recs


def test_fed_rejects_unknown_quality(tiny_sources):
    path = tiny_sources / "fed" / "fed_data.json"
    data = json.loads(path.read_text())
    data[0]["annotations"]["Funny"] = [1, 1, 1, 1, 1]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="field '0/annotations/Funny'"):
        _convert("fed", tiny_sources)


def test_wmt_mqm(tiny_sources):
    recs = _by_id(_convert("wmt_mqm_ted", tiny_sources))
    assert len(recs) == 5 + 3
    a = recs["wmt_mqm_ted/en-de-1/sysA/mqm"]
    assert a.score == pytest.approx(-5.1) and a.meta["mqm_penalty"] == pytest.approx(5.1)
    assert a.output == "Hallo Welt." and a.source == "Hello world." and a.reference == "Hallo Welt!"
    assert a.meta["errors"] == [["Fluency/Grammar", "Major"], ["Fluency/Punctuation", "Minor"]]
    assert recs["wmt_mqm_ted/en-de-1/sysB/mqm"].score == 0.0
    ref = recs["wmt_mqm_ted/en-de-1/ref/mqm"]
    assert ref.score == -1.0 and ref.reference is None and ref.references is None
    assert recs["wmt_mqm_ted/en-de-2/sysA/mqm"].source == 'Bye "now".'  # quotes survive QUOTE_NONE
    z = recs["wmt_mqm_ted/zh-en-84/sysA/mqm"]
    assert z.references == ["Hi.", "Hello there."] and z.meta["lp"] == "zh-en"
    assert recs["wmt_mqm_ted/zh-en-84/refB/mqm"].reference == "Hi."


def test_wmt_bad_row_names_line(tiny_sources):
    path = tiny_sources / "wmt_mqm_ted" / "mqm_ted_zhen.tsv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("Minor", "Critical")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"mqm_ted_zhen.tsv:3 field 'severity'"):
        _convert("wmt_mqm_ted", tiny_sources)


def test_llmbar(tiny_sources):
    recs = _convert("llmbar", tiny_sources)
    assert len(recs) == 8 * 2  # the blank-output pair is left out
    by_id = _by_id(recs)
    r = by_id["llmbar/natural/1"]
    assert (r.label, r.output_b, r.criterion) == ("b", "Great.", "instruction_following")
    assert by_id["llmbar/mt_bench/0"].criterion == "overall"
    shared = {r.item_id for r in recs if r.source == "Shared instruction"}
    assert len(shared) == 1  # one input, one item id across files


@pytest.mark.parametrize("name", [n for n in CONVERTERS if n != "heap_sources"])
def test_missing_file_is_an_input_error(tiny_sources, name):
    module = get_converter(name)
    folder = tiny_sources / module.FOLDER
    files = sorted(p for p in folder.iterdir() if p.is_file())
    victim = ([p for p in files if p.suffix in (".json", ".tsv")] or files)[0]
    victim.unlink()
    with pytest.raises(InputError, match="expected file is missing"):
        module.convert(folder)


# arena_bench_v1 reads only JSON Lines (its broken-line test is in test_data_instruction_sets.py)
@pytest.mark.parametrize(
    "name", [n for n in CONVERTERS if n not in ("heap_sources", "wmt_mqm_ted", "arena_bench_v1")]
)
def test_broken_json_names_file_and_line(tiny_sources, name):
    module = get_converter(name)
    folder = tiny_sources / module.FOLDER
    victim = sorted(p for p in folder.iterdir() if p.suffix == ".json")
    victim[0].write_text('{"a": 1,\n  "b": }\n')
    with pytest.raises(InputError, match=rf"{victim[0].name}:2: not valid JSON"):
        module.convert(folder)


def test_unknown_aggregation_is_rejected(tiny_sources):
    with pytest.raises(UnknownNameError, match="aggregation"):
        _convert("summeval", tiny_sources, aggregation="max")
