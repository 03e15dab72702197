"""`heapmetric meta-eval` end to end on a tiny built folder: files written, bad input reported in one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from heapmetric.cli import main
from heapmetric.io import write_jsonl
from heapmetric.metaeval.harness import MetaEvalConfig, meta_evaluate
from heapmetric.report.metaeval import format_markdown


@pytest.fixture
def built(tmp_path, make_toy):
    records = make_toy(n_inputs=8)
    write_jsonl(tmp_path / "data" / "toy" / "test.jsonl", (r.to_dict() for r in records))
    rng = np.random.default_rng(0)
    scores = [{"id": r.id, "score": r.score + float(rng.normal())} for r in records]
    write_jsonl(tmp_path / "scores.jsonl", scores)
    return tmp_path, records


def test_cli_writes_report_files(built, capsys):
    tmp, records = built
    out = tmp / "out"
    rc = main(
        [
            "meta-eval",
            "--dataset",
            "toy",
            "--data",
            str(tmp / "data"),
            "--metric",
            "length",
            "--metric",
            f"scores:{tmp / 'scores.jsonl'}",
            "--bootstrap",
            "20",
            "--significance",
            "20",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    rows = json.loads((out / "results.json").read_text())
    assert {r["metric"] for r in rows} == {"length", f"scores:{tmp / 'scores.jsonl'}"}
    assert {r["statistic"] for r in rows} == {"pearson", "spearman", "kendall", "pairwise_accuracy"}
    assert list(rows[0])[:9] == [
        "dataset",
        "criterion",
        "metric",
        "level",
        "statistic",
        "value",
        "ci_low",
        "ci_high",
        "n",
    ]
    assert (out / "results.csv").read_text().startswith("dataset,criterion,metric,level,statistic,value")
    assert (out / "plots" / "correlation_item_spearman.png").stat().st_size > 1000
    assert (out / "plots" / "scatter_length.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["significance"] and summary["config"]["bootstrap"] == 20
    err = capsys.readouterr().err
    assert str(out / "report.md") in err


def test_cli_bad_inputs_give_one_line_errors(built, capsys):
    tmp, records = built
    partial = tmp / "partial.jsonl"
    write_jsonl(partial, [{"id": r.id, "score": 1.0} for r in records[5:]])
    rc = main(
        [
            "meta-eval",
            "--dataset",
            "toy",
            "--data",
            str(tmp / "data"),
            "--metric",
            f"scores:{partial}",
            "--bootstrap",
            "0",
            "--no-plots",
            "-q",
            "-o",
            str(tmp / "o"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "ids have no 'score' in the file" in err and repr(records[0].id) in err
    rc = main(["meta-eval", "--dataset", "toi", "--data", str(tmp / "data"), "--metric", "length", "-q"])
    assert rc == 2 and "did you mean 'toy'" in capsys.readouterr().err
    rc = main(
        [
            "meta-eval",
            "--dataset",
            "toy",
            "--data",
            str(tmp / "data"),
            "--metric",
            "length",
            "--criterion",
            "coherance",
            "-q",
        ]
    )
    assert rc == 2 and "'coherence'" in capsys.readouterr().err
    rc = main(["meta-eval", "--dataset", "toy", "--data", str(tmp / "data"), "--metric", "rouge7", "-q"])
    assert rc == 2 and "unknown judge 'rouge7'" in capsys.readouterr().err


def test_markdown_marks_exclusions(make_toy, table_judge):
    records = make_toy(n_inputs=6)
    table = {r.id: (math.nan if i < 4 else r.score) for i, r in enumerate(records)}
    result = meta_evaluate(records, {"t": table_judge("t", table)}, MetaEvalConfig(bootstrap=0))
    text = format_markdown(result)
    assert "| metric | coherence | fluency | mean |" in text
    assert "2 excluded for metric `t`: metric returned NaN or infinite scores" in text


def test_cli_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys, heapmetric.cli.meta_eval, heapmetric.cli; heapmetric.cli.build_parser(); "
        "print(any(m in sys.modules for m in ('torch', 'scipy', 'numpy', 'matplotlib')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reproduction_table_format():
    from heapmetric.metaeval.reproduce import REPRODUCTIONS, format_table

    rows = [
        {
            "paper_metric": "rouge1",
            "spec": "rouge1",
            "statistic": "spearman",
            "criterion": c,
            "published": 0.2,
            "ours": 0.2 + d,
            "diff": d,
        }
        for c, d in (("coherence", 0.001), ("fluency", -0.003))
    ]
    table = format_table(rows)
    assert "| rouge1 (`rouge1`) | spearman | 0.200 / 0.201 | 0.200 / 0.197 | 0.0030 |" in table
    assert REPRODUCTIONS["summeval"].specs["rougeL"] == "rougeLsum"


def test_cli_missing_data_folder_says_it_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "data_build_none"
    rc = main(["meta-eval", "--dataset", "qags", "--data", str(missing), "--metric", "length", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert str(missing) in err and "does not exist" in err and "unknown dataset" not in err
    afile = tmp_path / "afile"
    afile.write_text("x")
    rc = main(["meta-eval", "--dataset", "qags", "--data", str(afile), "--metric", "length", "-q"])
    assert rc == 2 and "is not a folder" in capsys.readouterr().err
