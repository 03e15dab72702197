"""The CLI stays light: importing it loads no torch/transformers, and --help lists every verb."""

from __future__ import annotations

import subprocess
import sys

from heapmetric.cli import VERBS


def test_importing_the_cli_does_not_import_heavy_modules():
    code = (
        "import sys, heapmetric, heapmetric.cli, heapmetric.cli.score, heapmetric.cli.compare; "
        "heavy = [m for m in ('torch', 'transformers', 'scipy', 'fastapi', 'numpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_the_verbs():
    out = subprocess.run(
        [sys.executable, "-m", "heapmetric.cli", "--help"], capture_output=True, text=True, check=True
    )
    for verb in ("score", "compare", "criteria"):
        assert verb in out.stdout
    present = [v for v in VERBS if v in out.stdout]
    assert len(present) >= 3
    score_help = subprocess.run(
        [sys.executable, "-m", "heapmetric.cli", "score", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in ("--quantize", "--map", "--only-system", "--server", "--instruction", "--max-length"):
        assert flag in score_help
