"""``score --server`` takes its key from ``--api-key``, ``--api-key-file`` or ``$HEAPMETRIC_API_KEY`` (in that
order), against a real keyed server; the key file has the format of ``serve --api-key-file``."""

from __future__ import annotations

import json

import pytest

from heapmetric.cli import main
from heapmetric.client import read_api_key_file, resolve_api_key
from heapmetric.errors import InputError

KEY = "k#ey-with-hash"


@pytest.fixture(scope="module")
def server():
    from heapmetric.judges.spec import load_judge
    from service.app import create_app
    from service.settings import Settings
    from service.testing import serve_in_thread

    with serve_in_thread(create_app(Settings(api_keys=[KEY]), judge=load_judge("length"))) as srv:
        yield srv


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"output": "word " * n}) + "\n" for n in (1, 2, 3)))
    return path


def score(rows, out, server, *extra: str) -> int:
    argv = [
        "score",
        "-i",
        str(rows),
        "-o",
        str(out),
        "--server",
        server.url,
        "--instruction",
        "Rate it.",
        "-q",
    ]
    return main([*argv, *extra])


def test_key_from_a_file_or_the_environment(server, rows, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HEAPMETRIC_API_KEY", raising=False)
    out = tmp_path / "out.jsonl"
    assert score(rows, out, server) == 2
    assert "401" in capsys.readouterr().err
    keyfile = tmp_path / "key"
    keyfile.write_text(f"# the team's key\n{KEY}\n")
    assert score(rows, out, server, "--api-key-file", str(keyfile)) == 0
    assert len(out.read_text().splitlines()) == 3
    monkeypatch.setenv("HEAPMETRIC_API_KEY", KEY)
    out.unlink()
    assert score(rows, out, server) == 0 and out.exists()
    # an explicit --api-key wins over the environment
    assert score(rows, out, server, "--api-key", "wrong") == 2
    capsys.readouterr()
    assert score(rows, out, server, "--api-key-file", str(tmp_path / "missing")) == 2
    assert "cannot read the API key file" in capsys.readouterr().err


def test_key_file_format(tmp_path, monkeypatch):
    monkeypatch.delenv("HEAPMETRIC_API_KEY", raising=False)
    path = tmp_path / "keys"
    path.write_text("\n  # comment\nfirst#1\n\tsecond\n")
    assert read_api_key_file(path) == ["first#1", "second"]
    assert resolve_api_key(None, path) == "first#1" and resolve_api_key("given", path) == "given"
    assert resolve_api_key() is None
    path.write_text("# only comments\n\n")
    with pytest.raises(InputError, match="holds no key"):
        read_api_key_file(path)
    path.write_bytes(b"\xff\xfe key")
    with pytest.raises(InputError, match="not UTF-8"):
        read_api_key_file(path)
