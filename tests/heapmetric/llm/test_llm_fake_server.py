"""The reusable fake OpenAI server itself: request log, failure rules, plain HTTP clients."""

from __future__ import annotations

import httpx

from tests.fakes.openai_server import Failure, FakeOpenAIServer, fail_every


def test_plain_http_log_and_rules() -> None:
    rule = fail_every(2, Failure("status", status=418), offset=1)
    with FakeOpenAIServer(lambda m, b: m[-1]["content"].upper(), failures=rule, model="m0") as srv:
        body = {"model": "x", "messages": [{"role": "user", "content": "hi there"}]}
        answers = [httpx.post(srv.base_url + "/chat/completions", json=body) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 418, 200, 418]
        ok = answers[0].json()
        assert ok["choices"][0]["message"]["content"] == "HI THERE"
        assert ok["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
        assert ok["model"] == "x" and "logprobs" not in ok["choices"][0]
        assert httpx.get(srv.url + "/v1/models").json()["data"][0]["id"] == "m0"
        assert httpx.get(srv.url + "/health").json() == {"status": "ok"}
        assert [r.status for r in srv.requests] == [200, 418, 200, 418] and srv.count("status") == 2
        assert srv.requests[0].messages == body["messages"]
        malformed = FakeOpenAIServer(failures={0: Failure("malformed", body="{oops")}).start()
        try:
            r = httpx.post(malformed.base_url + "/chat/completions", json=body)
            assert r.status_code == 200 and r.text == "{oops"
        finally:
            malformed.stop()
        srv.reset()
        assert srv.count() == 0
