"""End to end: the real gateway (privtune.serve) on 127.0.0.1 reading aliases from the registry.
`privtune model revoke` → the gateway serves the previous good version, then refuses, each
within one second (measured)."""

from __future__ import annotations

import time

import httpx

from privtune.registry import Registry, RegistryAliasResolver, Store
from privtune.registry.testing import make_model, write_report


def _until(deadline_s, probe):
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if probe():
            return time.monotonic() - t0
        time.sleep(0.005)
    raise AssertionError("not within the deadline")


def test_gateway_follows_revocation_within_one_second(store_url, keyring, tmp_path):
    from privtune.config import DetectConfig
    from privtune.detect import Scanner
    from privtune.serve.apikeys import KeyStore
    from privtune.serve.app import Gateway
    from privtune.serve.settings import parse_environments
    from privtune.serve.store import open_store
    from privtune.serve.stub import ServerThread, StubUpstream
    from privtune.serve.upstream import HttpUpstream

    url, schema = store_url
    cli_side = Registry(Store(url, schema=schema), keyring)  # the operator's `privtune model`
    for v in ("1", "2"):
        m = make_model(tmp_path / f"m{v}", f"w{v}".encode())
        cli_side.register(m, "bot", v, audit_report=write_report(tmp_path / f"r{v}.json", m))
        cli_side.promote(f"bot:{v}", "test")
        cli_side.promote(f"bot:{v}", "prod")

    db = f"sqlite:///{tmp_path}/serve.db"
    keys = KeyStore(open_store(db), keyring.derive_key("api-keys"))
    token, _ = keys.create("prod", ["bot"], name="app", rpm=100_000)
    resolver = RegistryAliasResolver(url, schema=schema, poll_s=0.25,
                                     public_key=keyring.signing_key().public_key())
    stub = StubUpstream(reply="hello")
    with ServerThread(stub) as up:
        gw = Gateway(resolver=resolver, keys=keys, scanner=Scanner(DetectConfig(names=False)),
                     policies=parse_environments({}), upstream=HttpUpstream(f"{up.url}/v1"))
        with ServerThread(gw) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
            def ask():
                return client.post("/v1/chat/completions",
                                   headers={"authorization": f"Bearer {token}"},
                                   json={"model": "bot",
                                         "messages": [{"role": "user", "content": "hi"}]})

            r = ask()
            assert r.status_code == 200, r.text
            assert stub.requests[-1]["model"] == "bot-2"

            cli_side.revoke("bot:2", reason="leak found")
            fallback = _until(2.0, lambda: ask().status_code == 200
                              and stub.requests[-1]["model"] == "bot-1")
            cli_side.revoke("bot:1", reason="leak found too")

            def refused():
                resp = ask()
                return resp.status_code == 403 and "model_revoked" in resp.text

            refusal = _until(2.0, refused)
    print(f"\ngateway: revoke bot:2 -> serves bot:1 after {fallback * 1000:.0f} ms; "
          f"revoke bot:1 -> 403 model_revoked after {refusal * 1000:.0f} ms")
    assert fallback < 1.0 and refusal < 1.0
    resolver.close()
    cli_side.store.close()
