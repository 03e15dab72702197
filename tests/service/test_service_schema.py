"""Property-based run over the OpenAPI schema (schemathesis): no input makes the server answer 5xx, and
every error has the ErrorResponse shape. Bounded: a few dozen examples per operation.

The second run sends the schema's cases (valid and invalid) as raw bytes, mangled: re-encoded so they are
not UTF-8, cut short, nested deeply, replaced by random bytes, or sent with another Content-Type; all on one
keep-alive connection, which must stay usable."""

from __future__ import annotations

import http.client
import json
import re

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from service.app import create_app
from service.settings import Settings
from service.testing import serve_in_thread

KEY = "schema-key"
MAX_BODY = 65536


@pytest.fixture(scope="module")
def live(schema_judge):
    app = create_app(
        Settings(api_keys=[KEY], max_items_per_request=16, max_chars_per_field=2000, max_body_bytes=MAX_BODY),
        judge=schema_judge,
    )
    with serve_in_thread(app, ready=True, timeout=300) as srv:
        yield srv


def test_openapi_schema_has_examples_and_error_responses(live):
    spec = httpx.get(live.url + "/openapi.json").json()
    components = spec["components"]["schemas"]
    assert components["ScoreRequest"].get("examples") and components["ErrorResponse"].get("examples")
    assert set(spec["paths"]["/v1/score"]["post"]["responses"]) >= {"200", "401", "413", "422", "429", "503"}


def test_no_input_gives_a_server_error(live):
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/score", "/v1/compare", "/v1/models", "/healthz"}
    seen: dict[str, set[int]] = {}

    def check(case) -> None:
        response = case.call(base_url=live.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        seen.setdefault(case.operation.path, set()).add(response.status_code)
        assert response.status_code < 500, (case.operation.path, case.body, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, response.text

    for op in operations:
        # positive: valid by the schema; negative: violating it (only bodies can; the GETs take nothing)
        for mode in GenerationMode if op.method.upper() == "POST" else [GenerationMode.POSITIVE]:
            # derandomize: the same examples every run, so CI cannot flake on what the fuzzer happened to draw
            run = settings(
                max_examples=25,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )(given(case=op.as_strategy(generation_mode=mode))(check))
            run()
    assert 200 in seen["/v1/score"] and 422 in seen["/v1/score"]


# the error types docs/service.md lists for a request that reaches a POST route with a key
DOCUMENTED_TYPES = {
    "invalid_json",
    "invalid_request",
    "invalid_text",
    "field_too_long",
    "too_many_items",
    "unknown_criterion",
    "payload_too_large",
    "unsupported_media_type",
}
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    None,
    "",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
]


def mangle(body: bytes, how: str, depth: int, noise: bytes) -> bytes:
    if how == "latin1":  # the same text in another encoding: not UTF-8 once it holds a non-ASCII character
        return body.decode("utf-8", "surrogatepass").encode("latin-1", "replace") + b'"\xe9"'[1:-1]
    if how == "utf16":
        return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass")
    if how == "invalid_byte":
        cut = len(body) // 2
        return body[:cut] + b"\xff\xc3" + body[cut:]
    if how == "truncate":
        return body[: len(body) // 2]
    if how == "nest":
        return b'{"items": ' + b"[" * depth + b"]" * depth + b', "x": ' + body + b"}"
    if how == "noise":
        return noise
    return body


def test_malformed_bodies_and_wrong_content_types_keep_the_error_shape_and_the_connection(live):
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    posts = [r.ok() for r in schema.get_all_operations() if r.ok().method.upper() == "POST"]
    assert {op.path for op in posts} == {"/v1/score", "/v1/compare"}
    host, port = live.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    seen: dict[int, int] = {}
    headers_base = {"Authorization": f"Bearer {KEY}"}

    def send(path: str, body: bytes, content_type: str | None) -> tuple[int, str]:
        headers = dict(headers_base)
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            conn.request("POST", path, body=body, headers=headers)
            sock = conn.sock
            response = conn.getresponse()
            text = response.read().decode("utf-8")
        except Exception:
            conn.close()  # a fresh connection for the next example; this one failed
            raise
        closing = (response.getheader("connection") or "").lower() == "close"
        # only a 413 decided by Content-Length closes the connection (the body was never read)
        assert conn.sock is sock or (closing and response.status == 413), (path, body[:200], response.status)
        return response.status, text

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        data=st.data(),
        # half the draws unmangled / labelled JSON, so schema-valid and schema-invalid JSON reach the model too
        how=st.one_of(
            st.just("none"),
            st.sampled_from(["latin1", "utf16", "invalid_byte", "truncate", "nest", "noise"]),
        ),
        content_type=st.one_of(st.just("application/json"), st.sampled_from(CONTENT_TYPES)),
        depth=st.integers(1, 3000),
        noise=st.binary(max_size=200),
    )
    def run(data, how, content_type, depth, noise) -> None:
        op = data.draw(st.sampled_from(posts))
        case = data.draw(op.as_strategy(generation_mode=data.draw(st.sampled_from(list(GenerationMode)))))
        if isinstance(case.body, (bytes, bytearray)):
            raw = bytes(case.body)
        else:
            # surrogatepass: a lone surrogate the fuzzer put in a string becomes bytes that are not UTF-8
            raw = json.dumps(case.body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        body = mangle(raw, how, depth, noise)
        # over the limit the server answers 413 before reading the body and closes (tested elsewhere)
        assume(len(body) < MAX_BODY)
        status, text = send(op.path, body, content_type)
        seen[status] = seen.get(status, 0) + 1
        # the documented statuses of a keyed POST (docs/service.md); never 5xx, never FastAPI's bare 400
        assert status in (200, 413, 415, 422, 429), (op.path, how, content_type, raw[:300], text)
        if status >= 400:
            body = json.loads(text)
            assert set(body) == {"error"} and set(body["error"]) == {"code", "type", "message", "field"}, text
            assert body["error"]["code"] == status and body["error"]["type"] in DOCUMENTED_TYPES, text
            assert not re.search(r"(?<![\w-])--[a-z]", body["error"]["message"]), text

    try:
        run()
        # the connection the fuzzer used still scores
        ok, text = send(
            "/v1/score",
            json.dumps({"items": [{"output": "fine", "instruction": "Rate it."}]}).encode(),
            "application/json",
        )
        assert ok == 200, text
    finally:
        conn.close()
    assert {415, 422} <= set(seen) and seen[422] >= 30, seen
