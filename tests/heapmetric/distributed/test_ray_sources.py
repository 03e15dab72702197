"""The ray engine's shard readers and manifest checks: no Ray cluster needed (plain Python, fast)."""

from __future__ import annotations

import csv
import json

import pytest

from heapmetric.distributed.bulk import RunSpec, build_manifest, manifest_differences, run_bulk
from heapmetric.distributed.sources import fingerprint, open_source, plan_shards, read_shard
from heapmetric.errors import InputError, UnsupportedError
from heapmetric.io import read_table

ROWS = [
    {"id": str(i), "output": f"line one {i}\nline two" if i % 4 == 0 else f"out {i}", "source": f"src {i}"}
    for i in range(23)
]


def _all_shard_rows(source, plan):
    return [row for shard in plan.shards for row in read_shard(source, shard)]


def _write(tmp_path, fmt):
    if fmt == "jsonl":
        path = tmp_path / "rows.jsonl"
        # a BOM, blank lines and non-ASCII text must not move the shard offsets
        text = "\ufeff" + "".join(
            json.dumps(r, ensure_ascii=False) + "\n" + ("\n" if i % 5 == 0 else "")
            for i, r in enumerate(ROWS)
        )
        path.write_text(text.replace("out 3", "öut 3 ✓"), encoding="utf-8")
    elif fmt in ("csv", "tsv"):
        path = tmp_path / f"rows.{fmt}"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=["id", "output", "source"], delimiter="," if fmt == "csv" else "\t"
            )
            writer.writeheader()
            writer.writerows(ROWS)  # outputs with a newline become quoted multi-line records
    elif fmt == "parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        path = tmp_path / "rows.parquet"
        pq.write_table(pa.Table.from_pylist(ROWS), path, row_group_size=5)
    else:
        from datasets import Dataset

        path = tmp_path / "rows_ds"
        Dataset.from_list(ROWS).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet", "datasets"])
@pytest.mark.parametrize("shard_size", [1, 4, 23, 100])
def test_shards_read_back_every_row_once_in_order(tmp_path, fmt, shard_size):
    path = _write(tmp_path, fmt)
    source = open_source(path)
    assert source.format == fmt
    seen = []
    plan = plan_shards(source, shard_size, lambda line, row: seen.append(row))
    assert plan.n_rows == len(ROWS) and len(plan.shards) == -(-len(ROWS) // shard_size)
    rows = [row for _, row in _all_shard_rows(source, plan)]
    assert rows == seen
    expected = [dict(r) for r in ROWS]
    if fmt == "jsonl":
        expected[3]["output"] = "öut 3 ✓"
        assert rows == expected
        # the same rows and line numbers as the in-process reader
        assert [(line, row) for line, row in _all_shard_rows(source, plan)] == read_table(path)
    elif fmt in ("csv", "tsv"):
        assert rows == [{k: str(v) for k, v in r.items()} for r in expected]
        assert [row for _, row in read_table(path)] == rows
    else:
        assert rows == expected


def test_bad_rows_and_inputs_name_the_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"output": "a"}\n{"output": \n')
    with pytest.raises(InputError, match=r"bad.jsonl:2.*not valid JSON"):
        plan_shards(open_source(path), 10)
    spec = RunSpec(task="summarization", criterion="coherence")
    path.write_text('{"output": "a"}\n{"text": "b"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2.*output.*missing required field"):
        run_bulk(spec, path, tmp_path / "out.jsonl")
    listing = tmp_path / "rows.json"
    listing.write_text("[]")
    with pytest.raises(InputError, match="JSON list"):
        open_source(listing)
    with pytest.raises(InputError, match="not stdin"):
        open_source("-")
    with pytest.raises(InputError, match="give -o FILE"):
        run_bulk(spec, path, "-")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        plan_shards(open_source(empty), 10)


def test_mismatched_manifest_is_refused_before_any_work(tmp_path, tiny_encoder_metric_dir):
    path = _write(tmp_path, "jsonl")
    out = tmp_path / "scored.jsonl"
    spec = RunSpec(model=str(tiny_encoder_metric_dir), task="summarization", criterion="coherence")
    source = open_source(path)
    plan = plan_shards(source, 8)
    manifest = build_manifest(spec, plan, 8, fingerprint(path))
    work = tmp_path / "scored.jsonl.ray"
    work.mkdir()
    (work / "manifest.json").write_text(json.dumps(manifest))
    # another criterion changes every score: refused, naming what differs and how to go on
    other = RunSpec(model=str(tiny_encoder_metric_dir), task="summarization", criterion="fluency")
    with pytest.raises(
        InputError, match=r"settings.criterion: 'coherence' -> 'fluency'.*delete .*scored.jsonl.ray"
    ):
        run_bulk(other, path, out, shard_size=8)
    # another input (one byte changed) and another shard size are refused too
    path.write_text(path.read_text(encoding="utf-8").replace("src 7", "src 8"), encoding="utf-8")
    with pytest.raises(InputError, match=r"input.sha256"):
        run_bulk(spec, path, out, shard_size=8)
    # a changed model file changes the revision
    changed = dict(manifest, model={"model": manifest["model"]["model"], "revision": "0000"})
    assert manifest_differences(changed, manifest) == [
        f"model.revision: '0000' -> {manifest['model']['revision']!r}"
    ]
    # batch size and device do not change scores: not part of the comparison
    same = build_manifest(
        RunSpec(
            model=str(tiny_encoder_metric_dir),
            task="summarization",
            criterion="coherence",
            batch_size=3,
            device="cpu",
        ),
        plan,
        8,
        manifest["input"]["sha256"],
    )
    assert manifest_differences(manifest, same) == []
    assert not out.exists()


def test_without_ray_the_cli_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    import sys

    from heapmetric.cli import main
    from heapmetric.distributed import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UnsupportedError, match=r"pip install 'heapmetric\[ray\]'"):
        require_ray()
    path = _write(tmp_path, "jsonl")
    code = main(
        [
            "score",
            "-i",
            str(path),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--engine",
            "ray",
            "--task",
            "summarization",
            "--criterion",
            "coherence",
            "-q",
        ]
    )
    assert code == 2
    assert not (tmp_path / "o.jsonl.ray").exists()  # refused before any work
    assert "pip install 'heapmetric[ray]'" in capsys.readouterr().err
