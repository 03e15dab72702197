"""``heapmetric synth`` on the command line: a full run against the fake server, argument errors, imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from heapmetric.cli import main
from tests.fakes.openai_server import FakeOpenAIServer
from tests.heapmetric.synth.conftest import refed_reply


def test_cli_run_with_prices_and_length_metric(
    references_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    with FakeOpenAIServer(refed_reply) as srv:
        code = main(
            [
                "synth",
                "--references",
                str(references_file),
                "--out",
                str(out),
                "--base-url",
                srv.base_url,
                "--model",
                "fake-model",
                "--instructions-per-feature",
                "1",
                "--max-features",
                "2",
                "--metric",
                "length",
                "--top-k",
                "1",
                "--prices",
                "in=0.15,out=0.6",
                "--no-decontaminate",
                "--no-dataset",
                "--name",
                "demo",
            ]
        )
    assert code == 0
    err = capsys.readouterr().err
    assert "3 records from 5 candidates (3 references)" in err and "top_k" in err
    report = json.loads((out / "reference" / "report.json").read_text())
    assert report["config"]["judge"] == "length" and report["cost"]["total"]["cost_usd"] > 0
    rows = [json.loads(line) for line in (out / "reference" / "data.jsonl").read_text().splitlines()]
    assert all(r["provenance"]["scores"]["judge"] == "length" for r in rows)
    assert "# demo" in (out / "reference" / "README.md").read_text()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--instructions-per-feature", "0"], "field 'instructions-per-feature': must be at least 1"),
        (["--metric", "length", "--metric-server", "http://x"], "not both"),
        (["--diversity", "2"], "field 'diversity'"),
        (["--prices", "in=x"], "field 'prices'"),
        (["--backend", "openai"], "needs --base-url"),
    ],
)
def test_cli_argument_errors(
    extra: list[str], message: str, references_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["synth", "--references", str(references_file), "--out", str(tmp_path / "o"), "--model", "m"]
    if "--backend" not in extra:
        args += ["--base-url", "http://127.0.0.1:9"]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("heapmetric synth: error: ") and message in err and err.count("\n") == 1


def test_cli_missing_references(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(
            [
                "synth",
                "--references",
                str(tmp_path / "nope.jsonl"),
                "--out",
                str(tmp_path / "o"),
                "--base-url",
                "http://127.0.0.1:9",
                "--model",
                "m",
            ]
        )
        == 2
    )
    assert "nope.jsonl: file not found" in capsys.readouterr().err


def test_no_heavy_imports() -> None:
    code = (
        "import sys, heapmetric.cli.synth, heapmetric.llm, heapmetric.synth;"
        "heavy = [m for m in ('torch', 'transformers', 'httpx', 'datasets', 'numpy', 'fastapi') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_max_tokens_per_stage() -> None:
    from heapmetric.cli.synth import parse_max_tokens
    from heapmetric.errors import InputError, UnknownNameError

    defaults = {"response": 1024, "refine": 1536, "instructions": 512}
    assert parse_max_tokens(None, defaults) == {}
    assert parse_max_tokens("96,refine=256", defaults) == {"response": 96, "refine": 256, "instructions": 96}
    assert parse_max_tokens("refine=200,2000", defaults) == {
        "refine": 200,
        "response": 1024,
        "instructions": 512,
    }
    with pytest.raises(UnknownNameError, match="did you mean 'refine'"):
        parse_max_tokens("refin=3", defaults)
    with pytest.raises(InputError, match="max-tokens"):
        parse_max_tokens("lots", defaults)
