"""Every converted dataset has a dataset card in Hugging Face format, listed in the cards' README."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from heapmetric.data import CONVERTERS
from heapmetric.env import REPO_ROOT

CARDS = REPO_ROOT / "datasets_cards"
OURS = [n for n in CONVERTERS if n != "heap_sources"]


def header(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path.name}: no YAML header"
    return yaml.safe_load(text.split("---\n", 2)[1])


@pytest.mark.parametrize("name", OURS)
def test_card_has_hf_header_and_sections(name):
    path = CARDS / f"{name}.md"
    meta = header(path)
    for key in ("license", "task_categories", "language", "size_categories", "pretty_name"):
        assert meta.get(key), f"{path.name}: header lacks {key}"
    text = path.read_text(encoding="utf-8")
    for section in ("## Origin", "## Licence", "## Fields", "## Counts", "## Criteria", "## Known caveats"):
        assert section in text, f"{path.name}: no '{section}' section"
    assert "<!-- counts:start -->\n| task |" in text


def test_readme_indexes_every_dataset():
    readme = (CARDS / "README.md").read_text(encoding="utf-8")
    for name in CONVERTERS:
        assert f"[{name}]({name}.md)" in readme
