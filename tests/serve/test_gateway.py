"""The gateway end to end: the official openai client against a real uvicorn server fronting
a real stub upstream, both on 127.0.0.1."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from privtune.serve.reqlog import verify_log
from privtune.serve.store import open_store

EMAIL = "zhang.wei.test@example.com"
PHONE = "13800138000"
ID_CARD = "11010519491231002X"
PII = [EMAIL, PHONE, ID_CARD, "机密"]
TEXT = (f"Sure. The customer's e-mail is {EMAIL}, mobile {PHONE}, 身份证号码 {ID_CARD}. "
        "这是机密信息，请勿外传。 Anything else?")


def no_pii(s: str | None) -> bool:
    return s is not None and not any(v in s for v in PII)


def chat(client, content=TEXT, model="support", **kw):
    return client.chat.completions.create(model=model,
                                          messages=[{"role": "user", "content": content}], **kw)


def test_chat_non_streaming_is_filtered(gw):
    r = chat(gw.client(), logprobs=True, top_logprobs=2)
    c = r.choices[0]
    assert no_pii(c.message.content)
    assert "[EMAIL]" in c.message.content and "[PHONE]" in c.message.content
    assert "[ID_CARD]" in c.message.content and "[BLOCKED]" in c.message.content
    assert c.logprobs is None
    assert r.model == "support"
    assert r.usage.completion_tokens > 0
    up = gw.stub.requests[-1]
    assert up["model"] == "base-lora-support-v3"
    assert "logprobs" not in up and "top_logprobs" not in up


def test_upstream_extras_never_reach_the_client(gw):
    body = {"model": "support", "messages": [{"role": "user", "content": TEXT}],
            "return_token_ids": True, "logits_processors": ["os.system"], "echo": True}
    r = httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=30,
                   headers={"authorization": f"Bearer {gw.tokens['prod']}"})
    data = r.json()
    assert "prompt_token_ids" not in data and "token_ids" not in data["choices"][0]
    assert no_pii(r.text)
    up = gw.stub.requests[-1]
    assert not {"return_token_ids", "logits_processors", "echo"} & set(up)


def test_chat_streaming_is_filtered_and_well_formed(gw):
    s = chat(gw.client(), stream=True, stream_options={"include_usage": True})
    chunks = list(s)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert no_pii(text) and "[EMAIL]" in text and text.endswith("Anything else?")
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.model == "support" for c in chunks)


def test_raw_sse_format(gw):
    body = {"model": "support", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hello world, how are you today?"}]}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=30,
                      headers={"authorization": f"Bearer {gw.tokens['prod']}"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    objs = [json.loads(e[len("data: "):]) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert objs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert objs[0]["object"] == "chat.completion.chunk" and objs[0]["usage"] is None
    content = [o for o in objs[1:-2]]
    assert content and all(o["choices"][0]["finish_reason"] is None for o in content)
    assert "".join(o["choices"][0]["delta"]["content"] for o in content) == \
        "hello world, how are you today?"
    assert objs[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                      "finish_reason": "stop"}
    assert objs[-1]["choices"] == [] and objs[-1]["usage"]["total_tokens"] > 0
    assert len({o["id"] for o in objs}) == 1


def test_no_usage_chunk_unless_asked(gw):
    chunks = list(chat(gw.client(), content="hi there", stream=True))
    assert all(c.choices for c in chunks)
    assert gw.stub.requests[-1]["stream_options"]["include_usage"] is True  # for the log


def test_completions_streaming_and_not(gw):
    client = gw.client()
    r = client.completions.create(model="support", prompt=TEXT, logprobs=2)
    assert no_pii(r.choices[0].text) and r.choices[0].logprobs is None
    s = client.completions.create(model="support", prompt=TEXT, stream=True)
    text = "".join(c.choices[0].text for c in s if c.choices)
    assert no_pii(text) and text == r.choices[0].text


def test_every_choice_tool_args_and_reasoning_are_filtered(gw):
    client = gw.client()
    r = chat(client, n=3, extra_body={"stub_reasoning": True})
    assert len(r.choices) == 3
    for c in r.choices:
        assert no_pii(c.message.content)
        assert no_pii(c.message.model_extra["reasoning_content"])
    r = chat(client, extra_body={"stub_tool": True})
    args = r.choices[0].message.tool_calls[0].function.arguments
    assert no_pii(args) and "[EMAIL]" in args and json.loads(args)
    # streaming, n=2, with reasoning
    s = chat(client, n=2, stream=True, extra_body={"stub_reasoning": True, "stub_chunk": 3})
    content: dict[int, str] = {}
    reasoning: dict[int, str] = {}
    for ch in s:
        for c in ch.choices:
            content[c.index] = content.get(c.index, "") + (c.delta.content or "")
            extra = (c.delta.model_extra or {}).get("reasoning_content") or ""
            reasoning[c.index] = reasoning.get(c.index, "") + extra
            assert getattr(c, "logprobs", None) is None
    assert set(content) == {0, 1}
    for i in (0, 1):
        assert no_pii(content[i]) and "[PHONE]" in content[i]
        assert no_pii(reasoning[i]) and content[i] == reasoning[i]
    # streamed tool-call arguments
    s = chat(client, stream=True, extra_body={"stub_tool": True, "stub_chunk": 2})
    args = ""
    for ch in s:
        for c in ch.choices:
            for tc in c.delta.tool_calls or []:
                if tc.function and tc.function.arguments:
                    args += tc.function.arguments
    assert no_pii(args) and json.loads(args)["q"].startswith("Sure.")


def test_models_lists_own_aliases_per_key(gw):
    ids = sorted(m.id for m in gw.client("prod").models.list())
    assert ids == ["legacy", "support"]
    assert [m.id for m in gw.client("prod_support_only").models.list()] == ["support"]
    assert [m.id for m in gw.client("dev").models.list()] == ["support-dev"]
    gw.resolver.revoke("legacy")
    assert [m.id for m in gw.client("prod").models.list()] == ["support"]


def test_access_matrix(gw):
    url = gw.url
    body = {"model": "support", "messages": [{"role": "user", "content": "hi"}]}
    h = {"authorization": f"Bearer {gw.tokens['prod']}"}
    # no key, malformed key, unknown key
    assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 401
    for bad in ("Bearer nope", "Basic abc", f"Bearer {gw.tokens['prod']}x",
                "Bearer ptk_000000000000_" + "A" * 43):
        r = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": bad})
        assert r.status_code == 401, bad
    assert httpx.get(f"{url}/v1/models").status_code == 401
    # wrong environment, alias not in the key's set, unknown alias
    with pytest.raises(openai.NotFoundError):
        chat(gw.client("dev"), content="hi", model="support")
    with pytest.raises(openai.NotFoundError):
        chat(gw.client("prod"), content="hi", model="support-dev")
    with pytest.raises(openai.NotFoundError):
        chat(gw.client("prod_support_only"), content="hi", model="legacy")
    with pytest.raises(openai.NotFoundError):
        chat(gw.client("prod"), content="hi", model="base-lora-support-v3")  # upstream name
    # unknown and control routes, whatever the key
    for method, path in [("POST", "/v1/load_lora_adapter"), ("POST", "/v1/unload_lora_adapter"),
                         ("POST", "/invocations"), ("POST", "/v1/embeddings"),
                         ("GET", "/v1/models/support"), ("POST", "/tokenize"),
                         ("GET", "/docs"), ("GET", "/v1/chat/completions"), ("POST", "/v2/x"),
                         ("GET", "/v1/../admin")]:
        r = httpx.request(method, f"{url}{path}", json={"lora_name": "x", "lora_path": "/x"},
                          headers=h)
        assert r.status_code in (403, 404), (method, path)
    assert gw.stub.lora_calls == 0
    # revoked key: effective on the next request, revoked through another store (the CLI)
    client = gw.client("prod")
    assert chat(client, content="hi").choices[0].message.content == "hi"
    from privtune.serve.apikeys import KeyStore

    KeyStore(open_store(gw.db_url), gw.keys._key).revoke(gw.key_ids["prod"])
    with pytest.raises(openai.AuthenticationError):
        chat(client, content="hi")
    # revoked model version: refused at once
    other = gw.client("prod_support_only")
    assert chat(other, content="hi").choices[0].message.content == "hi"
    gw.resolver.revoke("support")
    with pytest.raises(openai.PermissionDeniedError) as exc:
        chat(other, content="hi")
    assert exc.value.code == "model_revoked"


def test_inflight_stream_cut_when_model_revoked(gw):
    client = gw.client("prod")
    s = chat(client, content="word " * 200, stream=True,
             extra_body={"stub_delay_ms": 20, "stub_chunk": 5})
    got = ""
    with pytest.raises(openai.APIError):
        for i, ch in enumerate(s):
            if ch.choices:
                got += ch.choices[0].delta.content or ""
            if i == 3:
                gw.resolver.revoke("support")
    assert len(got) < 1000


def test_rate_limit(gw):
    tok, _ = gw.keys.create("prod", ["support"], rpm=6)  # burst 1, then 1 per 10 s
    from openai import OpenAI

    client = OpenAI(base_url=f"{gw.url}/v1", api_key=tok, max_retries=0)
    chat(client, content="hi")
    with pytest.raises(openai.RateLimitError):
        chat(client, content="hi")


def test_health_ready_metrics(gw):
    assert httpx.get(f"{gw.url}/healthz").json() == {"status": "ok"}
    r = httpx.get(f"{gw.url}/readyz")
    assert r.status_code == 200, r.text
    chat(gw.client(), content=f"mail {EMAIL}")
    m = httpx.get(f"{gw.url}/metrics").text
    assert 'privtune_gateway_requests_total{route="chat/completions",status="200"}' in m
    assert 'privtune_gateway_filter_actions_total{direction="output",type="EMAIL"}' in m
    assert EMAIL not in m


def test_request_log_holds_no_raw_text_and_verifies(gw, keyring):
    client = gw.client()
    chat(client)
    list(chat(client, stream=True))
    client.completions.create(model="support", prompt=TEXT)
    with pytest.raises(openai.NotFoundError):
        chat(client, model="nope")
    deadline = time.monotonic() + 5
    store = open_store(gw.db_url)
    while time.monotonic() < deadline:
        rows = store.query("SELECT record FROM request_log ORDER BY seq")
        if len(rows) >= 4:
            break
        time.sleep(0.05)
    assert len(rows) >= 4
    for (rec,) in rows:
        assert no_pii(rec), rec
    recs = [json.loads(r[0]) for r in rows]
    ok = [r for r in recs if r["status"] == 200]
    assert all(r["key_id"] == gw.key_ids["prod"] and r["environment"] == "prod" for r in ok)
    assert all(r["version"] == "3" and r["latency_ms"] > 0 for r in ok)
    assert all(r["output_actions"].get("EMAIL") == 1 for r in ok)
    assert all(r["prompt_tokens"] and r["completion_tokens"] for r in ok)
    assert any(r.get("refused") == "model" for r in recs)
    assert any(r["stream"] and r.get("ttft_ms") for r in ok)
    rep = verify_log(store, keyring.derive_key("request-log"))
    assert rep.ok, rep.problems


@pytest.mark.postgres
def test_postgres_backend_end_to_end(harness, pg_url, keyring):
    """Keys and the request log on a real PostgreSQL server: same code path as SQLite."""
    with harness(db_url=pg_url) as h:
        client = h.client()
        assert no_pii(chat(client).choices[0].message.content)
        assert no_pii("".join(c.choices[0].delta.content or ""
                              for c in chat(client, stream=True) if c.choices))
        from privtune.serve.apikeys import KeyStore

        KeyStore(open_store(pg_url), h.keys._key).revoke(h.key_ids["prod"])
        with pytest.raises(openai.AuthenticationError):
            chat(client, content="hi")
    store = open_store(pg_url)
    rows = store.query("SELECT record FROM request_log ORDER BY seq")
    assert len(rows) >= 3 and all(no_pii(r[0]) for r in rows)
    head = json.loads(h.head_file.read_text())
    rep = verify_log(store, keyring.derive_key("request-log"), head=head,
                     public_key=keyring.signing_key().public_key())
    assert rep.ok and rep.records == len(rows), rep.problems


def test_alias_with_its_own_upstream(gw):
    from privtune.serve.aliases import Alias
    from privtune.serve.stub import ServerThread, StubUpstream

    other = StubUpstream(reply="from the other upstream")
    with ServerThread(other) as srv:
        aliases = {a.name: a for a in gw.resolver.all()}
        aliases["legacy"] = Alias("legacy", "old-model", "1", "prod", True, f"{srv.url}/v1/")
        gw.resolver.replace(aliases)
        r = chat(gw.client(), content="hi", model="legacy")
        assert r.choices[0].message.content == "from the other upstream"
        assert other.requests[-1]["model"] == "old-model"
        assert chat(gw.client(), content="hi").choices[0].message.content == "hi"


def test_signed_head_to_a_webhook(tmp_path, keyring):
    """The head can go to a webhook instead of a file (outside the database's reach)."""
    from privtune.serve.reqlog import RequestLog, check_head_signature
    from privtune.serve.stub import ServerThread

    received: list[dict] = []

    async def hook(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        received.append(json.loads(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with ServerThread(hook) as srv:
        url = f"sqlite:///{tmp_path}/w.db"
        log = RequestLog(lambda: open_store(url), keyring.derive_key("request-log"),
                         signing_key=keyring.signing_key(), head_export=f"{srv.url}/heads",
                         head_every_s=0.0, flush_ms=5)
        log.start()
        for i in range(5):
            log.append({"ts": time.time(), "i": i})
        log.stop()
    assert received and received[-1]["seq"] == 5
    assert check_head_signature(received[-1], keyring.signing_key().public_key())
    rep = verify_log(open_store(url), keyring.derive_key("request-log"), head=received[-1],
                     public_key=keyring.signing_key().public_key())
    assert rep.ok, rep.problems


@pytest.mark.parametrize("log_text", ["redacted", "fingerprint"])
def test_streamed_and_plain_answers_log_the_same_output(harness, log_text):
    """A streamed answer's log record carries the same output (redacted text, or keyed
    fingerprint of the raw text) as the same answer sent whole, however it was chunked."""
    with harness(log_text=log_text) as h:
        client = h.client()
        chat(client)
        for chunk in (3, 8):
            list(chat(client, stream=True, extra_body={"stub_chunk": chunk}))
        store = open_store(h.db_url)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rows = store.query("SELECT record FROM request_log ORDER BY seq")
            if len(rows) >= 3:
                break
            time.sleep(0.05)
    recs = [json.loads(r[0]) for r in rows]
    plain = [r for r in recs if not r["stream"]]
    streamed = [r for r in recs if r["stream"]]
    assert len(plain) == 1 and len(streamed) == 2
    field = "output" if log_text == "redacted" else "output_fp"
    assert plain[0][field]
    assert all(r[field] == plain[0][field] for r in streamed)
    if log_text == "redacted":
        assert no_pii(json.dumps(plain[0]["output"], ensure_ascii=False))
