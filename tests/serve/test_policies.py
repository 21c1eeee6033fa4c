"""Per-environment policies: block, pass, input scanning, config-file alias revocation."""

from __future__ import annotations

import time

import openai
import pytest
import yaml
from openai import OpenAI

from privtune.serve.aliases import ConfigAliasResolver
from privtune.serve.settings import parse_aliases

EMAIL = "zhang.wei.test@example.com"
PHONE = "13800138000"
TEXT = f"The e-mail is {EMAIL} and the phone {PHONE}. Thanks!"


def chat(client, content=TEXT, model="support", **kw):
    return client.chat.completions.create(model=model,
                                          messages=[{"role": "user", "content": content}], **kw)


@pytest.fixture
def h(harness):
    with harness({
        "prod": {"output": "redact", "input": "redact"},
        "dev": {"output": "pass", "input": "warn"},
        "test": {"output": "block", "input": "off", "blocked_terms": ["内部"]},
    }) as hh:
        yield hh


def test_block_policy(h, tmp_path):
    client = h.client("test")
    r = chat(client, model="strict")
    assert r.choices[0].finish_reason == "content_filter"
    assert r.choices[0].message.content == ""
    chunks = list(chat(client, model="strict", stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert EMAIL not in text and text == TEXT[:len(text)]
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    r = chat(client, model="strict", content="这是内部资料")
    assert r.choices[0].finish_reason == "content_filter"
    assert chat(client, model="strict", content="all fine").choices[0].message.content == \
        "all fine"


def test_pass_policy_and_input_warn(h):
    client = h.client("dev")
    raw = client.chat.completions.with_raw_response.create(
        model="support-dev", messages=[{"role": "user", "content": TEXT}])
    assert raw.headers["x-privtune-input-findings"] == "EMAIL,PHONE"
    assert raw.parse().choices[0].message.content == TEXT  # dev: pass


def test_input_redact(h):
    r = chat(h.client("prod"))
    assert EMAIL not in h.stub.requests[-1]["messages"][0]["content"]
    assert "[EMAIL]" in r.choices[0].message.content


def test_input_block(harness):
    with harness({"prod": {"input": "block"}}) as hh:
        n = len(hh.stub.requests)
        with pytest.raises(openai.BadRequestError) as exc:
            chat(hh.client("prod"))
        assert exc.value.code == "input_blocked"
        assert len(hh.stub.requests) == n  # never reached the upstream


def test_config_file_revocation_within_one_second(tmp_path):
    cfg = tmp_path / "privtune.yaml"
    doc = {"serve": {"aliases": {"support": {"model": "m", "environment": "prod"}}}}
    cfg.write_text(yaml.safe_dump(doc))
    import asyncio

    async def run() -> float:
        r = ConfigAliasResolver(cfg, parse_aliases(doc["serve"]["aliases"]), poll_s=0.1)
        await r.start()
        try:
            assert r.get("support").active
            doc["serve"]["aliases"]["support"]["status"] = "revoked"
            cfg.write_text(yaml.safe_dump(doc))
            t0 = time.monotonic()
            while r.get("support").active:
                await asyncio.sleep(0.01)
                assert time.monotonic() - t0 < 1.0
            took = time.monotonic() - t0
            cfg.write_text("serve: [broken")  # fail closed on a broken file
            t1 = time.monotonic()
            while r.reload_errors == 0:
                await asyncio.sleep(0.01)
                assert time.monotonic() - t1 < 1.0
            assert not r.get("support").active
            return took
        finally:
            await r.stop()

    assert asyncio.run(run()) < 1.0


def test_openai_client_against_unknown_key(h):
    bad = OpenAI(base_url=f"{h.url}/v1", api_key="sk-not-ours", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        chat(bad)


def test_on_revoke_finish_lets_inflight_streams_end(harness):
    with harness({"prod": {"on_revoke": "finish"}}) as hh:
        client = hh.client("prod")
        s = chat(client, content="word " * 40, stream=True,
                 extra_body={"stub_delay_ms": 10, "stub_chunk": 5})
        text = ""
        for i, ch in enumerate(s):
            if ch.choices:
                text += ch.choices[0].delta.content or ""
            if i == 2:
                hh.resolver.revoke("support")
        assert text == "word " * 40  # finished
        with pytest.raises(openai.PermissionDeniedError):  # but no new request
            chat(client, content="hi")


def test_build_gateway_from_config(tmp_path, keyring):
    """`privtune serve` wiring: config aliases (file-watching resolver) or the registry."""
    from privtune.config import parse_config
    from privtune.errors import ConfigError
    from privtune.serve.server import build_gateway

    doc = {"work_dir": str(tmp_path), "serve": {
        "upstream": "http://127.0.0.1:9/v1", "log_url": f"sqlite:///{tmp_path}/s.db",
        "aliases": {"a": {"model": "m", "environment": "dev"}},
        "environments": {"dev": {"output": "pass"}}}}
    gw = build_gateway(parse_config(yaml.safe_dump(doc)), keyring)
    assert isinstance(gw.resolver, ConfigAliasResolver) and gw.resolver.get("a").active
    assert not gw.filters("dev").output.active and gw.filters("prod").output.active
    doc["serve"]["aliases_from"] = "registry"
    gw = build_gateway(parse_config(yaml.safe_dump(doc)), keyring)
    assert type(gw.resolver).__name__ == "RegistryAliasResolver"
    doc["serve"]["environments"] = {"dev": {"output": "reddact"}}
    with pytest.raises(ConfigError, match=r"serve\.environments\.dev\.output"):
        build_gateway(parse_config(yaml.safe_dump(doc)), keyring)
