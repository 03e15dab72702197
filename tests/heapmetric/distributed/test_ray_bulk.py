"""The ray engine on a local Ray cluster (2 CPUs, one per test module): same scores as in-process, in order;
an actor killed mid-run; an interrupted driver resumed; the CLI on CSV, Parquet and a ``datasets`` folder.

Ray's own worker start-up dominates the time, so each test makes one short pipeline run on the tiny model."""

from __future__ import annotations

import json

import pytest
from ray_helpers import rows as _rows

ray = pytest.importorskip("ray")

from heapmetric.distributed import score_file  # noqa: E402

N_ROWS = 2000
TASK = {"task": "summarization", "criterion": "coherence"}
# rows_per_call divides shard_size, so every actor call covers the same rows in every run (byte-equal files)
# fp32: scores equal in-process ones within 1e-5 only in fp32 (``auto`` picks bf16 on CPUs with native bf16,
# where padded and unpadded rows differ by ~1e-4)
RUN = {"shard_size": 500, "rows_per_call": 250, "device": "cpu", "dtype": "fp32"}


@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    path = tmp_path_factory.mktemp("ray-input") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows(N_ROWS)))
    return path


@pytest.fixture(scope="module")
def in_process_scores(tiny_encoder_metric_dir):
    import heapmetric

    metric = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", dtype="fp32")
    return metric.score(_rows(N_ROWS), **TASK).scores


@pytest.fixture(scope="module")
def reference_run(cluster, big_input, tiny_encoder_metric_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray-out") / "scored.jsonl"
    report = score_file(big_input, out, model=str(tiny_encoder_metric_dir), workers=2, **TASK, **RUN)
    return out, report


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_workers_equal_in_process_scoring_in_order(reference_run, in_process_scores):
    out, report = reference_run
    rows = _read(out)
    assert [r["id"] for r in rows] == [str(i) for i in range(N_ROWS)]
    assert rows[7] == {**_rows(N_ROWS)[7], "score": rows[7]["score"]}  # the input row, score added
    assert max(abs(r["score"] - s) for r, s in zip(rows, in_process_scores, strict=True)) <= 1e-5
    assert report.rows == report.rows_scored == N_ROWS and report.shards == 4 and report.shards_resumed == 0
    # the pool had 2 actors and together they scored each row once (on a busy machine the second actor
    # may start after the first has taken most of the rows)
    counts = [a["rows"] for a in report.actors["actors"].values()]
    assert len(counts) == 2 and sum(counts) == N_ROWS
    assert set(report.system_means) == {"sys0", "sys1", "sys2"}
    assert not out.with_name(out.name + ".ray").exists()  # shards removed once merged


def test_killed_actor_still_gives_complete_output_without_duplicates(
    cluster, big_input, tiny_encoder_metric_dir, in_process_scores, tmp_path
):
    out = tmp_path / "scored.jsonl"
    killed = []

    def kill_one(progress):
        if not killed:  # after the first shard, with the others in flight
            actors = ray.get(progress.monitor.actors.remote())  # the first registered has been scoring
            ray.kill(actors[0], no_restart=False)  # a crash: Ray restarts the actor and retries its calls
            killed.append(actors[0])

    # small shards: the first is written while most of the rows are still queued or in flight
    run = {**RUN, "shard_size": 100, "rows_per_call": 50}
    report = score_file(
        big_input, out, model=str(tiny_encoder_metric_dir), workers=2, on_shard=kill_one, **TASK, **run
    )
    assert killed
    rows = _read(out)
    ids = [r["id"] for r in rows]
    assert ids == [str(i) for i in range(N_ROWS)] and len(set(ids)) == N_ROWS
    assert max(abs(r["score"] - s) for r, s in zip(rows, in_process_scores, strict=True)) <= 1e-5
    # Both actors registered. The killed one is restarted by Ray and registers again, but on a busy machine the
    # surviving actor can finish the remaining rows first (CI of 2026-12-03 saw 2 registrations), so the
    # restart itself is not asserted: what must hold is the complete, duplicate-free output above.
    assert report.actors["registrations"] >= 2


@pytest.mark.slow
def test_interrupted_driver_resumes_to_the_same_file(
    cluster, big_input, tiny_encoder_metric_dir, reference_run, tmp_path
):
    out = tmp_path / "scored.jsonl"

    def interrupt(progress):
        if progress.shards_done == 2:
            raise KeyboardInterrupt  # what Ctrl-C does to the driver between two shards

    with pytest.raises(KeyboardInterrupt):
        score_file(
            big_input, out, model=str(tiny_encoder_metric_dir), workers=2, on_shard=interrupt, **TASK, **RUN
        )
    work = tmp_path / "scored.jsonl.ray"
    assert sorted(p.name for p in work.iterdir()) == [
        "manifest.json",
        "part-000000.jsonl",
        "part-000001.jsonl",
    ]
    assert not out.exists()
    report = score_file(big_input, out, model=str(tiny_encoder_metric_dir), workers=2, **TASK, **RUN)
    assert report.shards_resumed == 2 and report.rows_scored == N_ROWS // 2
    assert out.read_bytes() == reference_run[0].read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet", "datasets"])
def test_cli_reads_csv_parquet_and_datasets_folders(cluster, tiny_encoder_metric_dir, tmp_path, fmt, capsys):
    from heapmetric.cli import main

    rows = _rows(300)
    if fmt == "csv":
        import csv

        path = tmp_path / "rows.csv"
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "rows.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=64)
    else:
        from datasets import Dataset

        path = tmp_path / "rows_ds"
        Dataset.from_list(rows).save_to_disk(str(path))
    model = [
        "--model",
        str(tiny_encoder_metric_dir),
        "--device",
        "cpu",
        "--task",
        "summarization",
        "--criterion",
        "coherence",
    ]
    out = tmp_path / "ray.jsonl"
    args = [
        "score",
        "-i",
        str(path),
        "-o",
        str(out),
        *model,
        "--engine",
        "ray",
        "--workers",
        "2",
        "--shard-size",
        "100",
    ]
    assert main(args) == 0
    assert "300 rows scored" in capsys.readouterr().err
    import heapmetric

    expected = (
        heapmetric.load(str(tiny_encoder_metric_dir), device="cpu")
        .score(rows, task="summarization", criterion="coherence")
        .scores
    )
    got = _read(out)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert max(abs(r["score"] - s) for r, s in zip(got, expected, strict=True)) <= 1e-5


@pytest.mark.slow
def test_ray_judge_for_synth_and_bench_equals_in_process(cluster, tiny_encoder_metric_dir):
    """RayJudge (the synth metric filter's and bench's engine): 2 actors, one model load each, same results."""
    from types import SimpleNamespace

    import heapmetric
    from heapmetric.distributed import RayJudge
    from heapmetric.judges.base import PairItem
    from heapmetric.synth.filters import MetricScorer, ScoringCriterion

    rows = _rows(300)
    local = heapmetric.load(str(tiny_encoder_metric_dir), device="cpu", dtype="fp32")
    pairs = [
        PairItem(output_a=a["output"], output_b=b["output"], source=a["source"], **TASK)
        for a, b in zip(rows[:-1], rows[1:], strict=True)
    ]
    with RayJudge(
        str(tiny_encoder_metric_dir), workers=2, load_options={"device": "cpu", "dtype": "fp32"}
    ) as judge:
        assert judge.info.name == local.info.name  # shares caches and journals with in-process runs
        got = judge.score([{**r, **TASK} for r in rows])
        want = local.score([{**r, **TASK} for r in rows])
        assert max(abs(a - b) for a, b in zip(got.scores, want.scores, strict=True)) <= 1e-5
        assert got.system_scores.keys() == want.system_scores.keys()
        p_got, p_want = judge.compare(pairs), local.compare(pairs)
        assert max(abs(a - b) for a, b in zip(p_got.probabilities, p_want.probabilities, strict=True)) <= 1e-5
        # the synthesis metric filter sends RayJudge calls of preferred_batch candidates
        candidates = [
            SimpleNamespace(instruction=r["source"], response=r["output"], score=None) for r in rows
        ]
        criterion = ScoringCriterion(**TASK)
        MetricScorer(judge, criterion=criterion).apply(candidates)
        expected = [SimpleNamespace(instruction=r["source"], response=r["output"], score=None) for r in rows]
        MetricScorer(local, criterion=criterion).apply(expected)
        assert max(abs(a.score - b.score) for a, b in zip(candidates, expected, strict=True)) <= 1e-5
