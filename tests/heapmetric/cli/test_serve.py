"""``heapmetric serve``: flags map onto the service settings; the real command serves a checkpoint, and on
SIGTERM answers every request it accepted before exiting 0; a bad model exits 2 with one line."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from heapmetric.cli import build_parser
from heapmetric.cli.serve import build_settings
from heapmetric.errors import InputError


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_flags_override_environment_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("HEAPMETRIC_MAX_QUEUE", "777")
    monkeypatch.setenv("HEAPMETRIC_DEVICE", "cuda")
    keys = tmp_path / "keys"
    keys.write_text("# team keys\nalpha\n\n  # ci\n  beta  \n")
    s = build_settings(
        parse(
            "--model",
            "m",
            "--port",
            "9001",
            "--device",
            "cpu",
            "--quantize",
            "4bit",
            "--max-batch-tokens",
            "4096",
            "--max-wait-ms",
            "2.5",
            "--api-key-file",
            str(keys),
            "--cors-origin",
            "https://a.example",
            "--cors-origin",
            "https://b.example",
        )
    )
    assert (s.model, s.port, s.device, s.quantization, s.max_batch_tokens, s.max_wait_ms, s.max_queue) == (
        "m",
        9001,
        "cpu",
        "4bit",
        4096,
        2.5,
        777,
    )
    assert s.host == "127.0.0.1"  # loopback unless told otherwise
    assert s.all_api_keys() == ["alpha", "beta"]
    assert s.cors_origins == ["https://a.example", "https://b.example"]


def test_api_key_file_comments_only_at_line_start(tmp_path):
    """Regression: ``key#2withhash`` was read as ``key`` (a # anywhere started a comment)."""
    from heapmetric.judges.spec import load_judge
    from service.app import create_app
    from service.testing import serve_in_thread

    keys = tmp_path / "keys"
    keys.write_text("# comment\nkey#2withhash\n   #indented comment\n")
    settings = build_settings(parse("--api-key-file", str(keys)))
    assert settings.all_api_keys() == ["key#2withhash"]
    with serve_in_thread(create_app(settings, judge=load_judge("length"))) as srv:
        body = {"items": [{"output": "x"}]}

        def status(key: str) -> int:
            return httpx.post(
                srv.url + "/v1/score", json=body, headers={"Authorization": f"Bearer {key}"}
            ).status_code

        assert status("key") == 401 and status("key#2") == 401 and status("key#2withhash") == 200
    keys.write_text("alpha\nbeta  # a trailing comment\n")
    with pytest.raises(InputError, match=r"keys:2: a key cannot contain whitespace"):
        build_settings(parse("--api-key-file", str(keys)))


def test_list_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("HEAPMETRIC_API_KEYS", "k1, k2")
    monkeypatch.setenv("HEAPMETRIC_CORS_ORIGINS", '["https://x.example"]')
    s = build_settings(parse())
    assert s.all_api_keys() == ["k1", "k2"] and s.cors_origins == ["https://x.example"]


def test_bad_values_name_the_flag(tmp_path):
    with pytest.raises(InputError, match="--max-queue"):
        build_settings(parse("--max-queue", "0"))
    with pytest.raises(InputError, match="cannot read the API key file"):
        build_settings(parse("--api-key-file", str(tmp_path / "missing")))
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match="holds no key"):
        build_settings(parse("--api-key-file", str(empty)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*argv: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    code = "import sys; from heapmetric.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port), *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def test_serve_a_checkpoint_and_drain_on_sigterm(tiny_encoder_metric_dir):
    proc, url = start("--model", str(tiny_encoder_metric_dir), "--device", "cpu", "--max-batch-items", "8")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1]
        body = {
            "task": "summarization",
            "criterion": "coherence",
            "items": [{"output": "word " * (20 + i), "source": "source text " * 30} for i in range(16)],
        }

        def post(_: int) -> str:
            try:
                r = httpx.post(url + "/v1/score", json=body, timeout=60)
                return (
                    "ok" if r.status_code == 200 and len(r.json()["scores"]) == 16 else f"bad {r.status_code}"
                )
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                # refused, or reset while still in the listen backlog / before uvicorn read it: the app never
                # saw it (uvicorn's graceful shutdown closes only connections without a request in progress)
                return "refused"
            except httpx.HTTPError as exc:
                return f"lost {type(exc).__name__}"

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(post, i) for i in range(24)]
            while (
                time.monotonic() < deadline
                and "heapmetric_items_total 0.0" in httpx.get(url + "/metrics").text
            ):
                time.sleep(0.02)  # SIGTERM once the model has started on accepted requests
            proc.send_signal(signal.SIGTERM)
            outcomes = [f.result() for f in futures]
        # uvicorn re-raises the signal after its graceful shutdown, so the status is -SIGTERM
        assert proc.wait(60) in (0, -signal.SIGTERM)
        assert all(o in ("ok", "refused") for o in outcomes), [o for o in outcomes if o != "ok"]
        assert "ok" in outcomes
        assert "drained" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_exits_2_when_the_model_cannot_load(tmp_path):
    proc, _ = start("--model", str(tmp_path / "no-model"), "--no-warmup")
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("heapmetric serve: error:") and "Traceback" not in err


@pytest.fixture
def no_server_start(monkeypatch):
    """Fail the test if uvicorn starts serving or a model starts loading."""
    import uvicorn

    import heapmetric.loading

    def refuse(*_a, **_k):
        raise AssertionError("got past the fast checks")

    monkeypatch.setattr(uvicorn.Server, "run", refuse)
    monkeypatch.setattr(heapmetric.loading, "load", refuse)
    monkeypatch.setattr("service.lifespan.load_judge", refuse)


def test_serve_fails_fast_on_a_bad_model_or_device_before_binding(tmp_path, no_server_start, capsys):
    """Regression: a bad --model/--device bound the port and started uvicorn before failing."""
    from heapmetric.cli import main

    port = free_port()
    assert main(["serve", "--port", str(port), "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1
    assert main(["serve", "--port", str(port), "--model", "generative:" + str(tmp_path / "nothing")]) == 2
    assert main(["serve", "--port", str(port), "--device", "tpu"]) == 2
    assert "unknown device" in capsys.readouterr().err
    with socket.socket() as probe:  # the port was never taken
        probe.bind(("127.0.0.1", port))


def test_serve_with_the_port_in_use_fails_before_loading(tiny_encoder_metric_dir, no_server_start, capsys):
    """Regression: with the port in use the model was loaded first, then uvicorn exited 3."""
    from heapmetric.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(
            ["serve", "--port", str(port), "--model", str(tiny_encoder_metric_dir), "--device", "cpu"]
        )
    assert code == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--port" in err
