"""Every answer that is not 2xx has the documented ErrorResponse shape, whatever the body (not UTF-8, nested
too deeply, not JSON at all, sent as text/plain), the CORS outcome or the limit hit; the keep-alive connection
stays usable afterwards; messages speak HTTP field names; responses never carry a local model path; /docs
works without a network."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx
import pytest
from service_fakes import FakeJudge

from service.app import create_app
from service.settings import Settings
from service.testing import serve_in_thread

KEY = "errors-key"
ORIGIN = "https://ok.example"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server():
    settings = Settings(
        api_keys=[KEY], cors_origins=[ORIGIN], max_body_bytes=300_000, max_items_per_request=8, warmup=False
    )
    with serve_in_thread(create_app(settings, judge=FakeJudge()), ready=True) as srv:
        yield srv


def check_shape(status: int, headers: dict[str, str], text: str, want: int | None = None) -> dict:
    """The ErrorResponse shape, with no traceback and no CLI flag in the message."""
    if want is not None:
        assert status == want, text
    assert headers.get("content-type", "").startswith("application/json"), (headers, text)
    body = json.loads(text)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "type", "message", "field"}, text
    assert body["error"]["code"] == status
    assert "Traceback" not in text and not re.search(r"(?<![\w-])--[a-z]", body["error"]["message"]), text
    return body["error"]


def on_one_connection(url: str, requests: Iterable[tuple[str, str, bytes | None, dict[str, str]]]) -> list:
    """Send the requests one after another on ONE keep-alive connection; fails if the server closed it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    answers = []
    try:
        for method, path, body, headers in requests:
            conn.request(method, path, body=body, headers={**AUTH, **headers})
            sock = conn.sock
            response = conn.getresponse()
            text = response.read().decode("utf-8")
            answers.append((response.status, {k.lower(): v for k, v in response.getheaders()}, text))
            assert conn.sock is sock and sock is not None, f"the server closed the connection after {path}"
            assert response.getheader("connection", "").lower() != "close", (path, text)
    finally:
        conn.close()
    return answers


JSON = {"Content-Type": "application/json"}
GOOD = json.dumps({"items": [{"output": "fine"}]}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": [{"output": "caf\xe9"}]}',  # Latin-1, not UTF-8
        b'{"items": [{"output": "\xff\xfe\xfd"}]}',
        b"\x80",
        "{}".encode("utf-16")[:3],  # a BOM and half a character
    ],
    ids=["latin1", "invalid-bytes", "lone-continuation", "truncated-utf16"],
)
def test_a_body_that_is_not_utf8_is_422_invalid_json(server, body):
    (status, headers, text), (ok, _, _) = on_one_connection(
        server.url, [("POST", "/v1/score", body, JSON), ("POST", "/v1/score", GOOD, JSON)]
    )
    e = check_shape(status, headers, text, 422)
    assert (e["type"], e["field"]) == ("invalid_json", "body") and ok == 200


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
def test_deeply_nested_json_is_422_invalid_json(server, depth):
    body = ('{"items": ' + "[" * depth + "]" * depth + "}").encode()
    (status, headers, text), (ok, _, _) = on_one_connection(
        server.url, [("POST", "/v1/compare", body, JSON), ("POST", "/v1/score", GOOD, JSON)]
    )
    e = check_shape(status, headers, text, 422)
    assert (e["type"], e["field"]) == ("invalid_json", "body") and ok == 200
    assert "nested" in e["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        None,
    ],
)
def test_json_sent_with_another_content_type_is_415(server, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    (status, h, text), (ok, _, _) = on_one_connection(
        server.url, [("POST", "/v1/score", GOOD, headers), ("POST", "/v1/score", GOOD, JSON)]
    )
    e = check_shape(status, h, text, 415)
    assert e["type"] == "unsupported_media_type" and "application/json" in e["message"] and ok == 200


def test_json_content_types_with_parameters_are_accepted(server):
    for content_type in ("application/json; charset=utf-8", "application/problem+json", "Application/JSON"):
        r = httpx.post(server.url + "/v1/score", content=GOOD, headers={**AUTH, "Content-Type": content_type})
        assert r.status_code == 200, (content_type, r.text)


def test_refused_cors_preflight_answers_in_the_error_shape(server):
    for headers in (
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-Odd",
        },
    ):
        r = httpx.options(server.url + "/v1/score", headers=headers)
        e = check_shape(r.status_code, dict(r.headers), r.text, 400)
        assert e["type"] == "cors_rejected"
    r = httpx.options(
        server.url + "/v1/score", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN


def test_413_carries_cors_headers_for_an_allowed_origin(server):
    big = json.dumps({"items": [{"output": "x" * 400_000}]}).encode()
    r = httpx.post(server.url + "/v1/score", content=big, headers={**AUTH, **JSON, "Origin": ORIGIN})
    check_shape(r.status_code, dict(r.headers), r.text, 413)
    assert r.headers["access-control-allow-origin"] == ORIGIN

    def chunks():
        for _ in range(40):
            yield b" " * 10_000

    r = httpx.post(server.url + "/v1/score", content=chunks(), headers={**AUTH, **JSON, "Origin": ORIGIN})
    check_shape(r.status_code, dict(r.headers), r.text, 413)
    assert r.headers["access-control-allow-origin"] == ORIGIN
    r = httpx.post(
        server.url + "/v1/score", content=big, headers={**AUTH, **JSON, "Origin": "https://evil.example"}
    )
    assert r.status_code == 413 and "access-control-allow-origin" not in r.headers


def test_messages_name_http_fields_not_cli_flags(server):
    r = httpx.post(
        server.url + "/v1/score", json={"task": "summarization", "items": [{"output": "x"}]}, headers=AUTH
    )
    e = check_shape(r.status_code, dict(r.headers), r.text, 422)
    assert "criterion" in e["message"]
    r = httpx.post(
        server.url + "/v1/score", json={"items": [{"output": "x", "criterion": "coherence"}]}, headers=AUTH
    )
    check_shape(r.status_code, dict(r.headers), r.text, 422)


def test_lone_surrogates_are_422_naming_the_field(server):
    body = b'{"items": [{"output": "ok"}, {"output": "fine", "source": "bad \\ud800 text"}]}'
    (status, headers, text), (ok, _, _) = on_one_connection(
        server.url, [("POST", "/v1/score", body, JSON), ("POST", "/v1/score", GOOD, JSON)]
    )
    e = check_shape(status, headers, text, 422)
    assert e["field"] == "items[1].source" and ok == 200


def test_docs_work_offline(server):
    r = httpx.get(server.url + "/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert urls and not [u for u in urls if "://" in u or u.startswith("//")], urls
    for url in urls:
        asset = httpx.get(server.url + url)
        assert asset.status_code == 200 and len(asset.content) > 100, url
    assert httpx.get(server.url + "/redoc").status_code == 404  # ReDoc needs a CDN: not served


# -- a real checkpoint loaded from a local folder, as `heapmetric serve --model PATH` does -----------------


@pytest.fixture(scope="module")
def real(tiny_encoder_metric_dir):
    app = create_app(Settings(model=str(tiny_encoder_metric_dir), device="cpu", api_keys=[KEY]))
    with serve_in_thread(app, ready=True, timeout=300) as srv:
        yield srv


def test_no_local_path_in_score_or_models(real, tiny_encoder_metric_dir):
    path = str(tiny_encoder_metric_dir)
    body = {"task": "summarization", "criterion": "coherence", "items": [{"output": "a b c", "source": "s"}]}
    score = httpx.post(real.url + "/v1/score", json=body, headers=AUTH, timeout=60)
    compare = httpx.post(
        real.url + "/v1/compare",
        json={
            "task": "summarization",
            "criterion": "coherence",
            "pairs": [{"output_a": "a", "output_b": "b"}],
        },
        headers=AUTH,
        timeout=60,
    )
    models = httpx.get(real.url + "/v1/models", headers=AUTH)
    for r in (score, compare, models):
        assert r.status_code == 200, r.text
        for text in (path, str(tiny_encoder_metric_dir.resolve()), str(tiny_encoder_metric_dir.parent)):
            assert text not in r.text
    name = tiny_encoder_metric_dir.name
    assert models.json()["data"][0]["id"] == f"heapmetric:{name}"
    assert score.json()["metadata"]["model"] == name == compare.json()["metadata"]["model"]


def test_versions_is_the_same_object_in_score_and_models(real):
    body = {"task": "summarization", "criterion": "coherence", "items": [{"output": "a b c"}]}
    meta = httpx.post(real.url + "/v1/score", json=body, headers=AUTH, timeout=60).json()["metadata"]
    card = httpx.get(real.url + "/v1/models", headers=AUTH).json()["data"][0]["metadata"]
    assert isinstance(meta["versions"], dict) and meta["versions"] == card["versions"]
    assert {"torch", "transformers"} <= set(meta["versions"])


def test_an_item_without_a_criterion_is_told_the_http_fields(real):
    r = httpx.post(real.url + "/v1/score", json={"items": [{"output": "x"}, {"output": "y"}]}, headers=AUTH)
    e = check_shape(r.status_code, dict(r.headers), r.text, 422)
    assert e["field"] == "items[0].task" and "instruction" in e["message"]
