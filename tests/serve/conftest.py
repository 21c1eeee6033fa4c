"""Fixtures for the gateway tests: a real stub upstream and real gateways on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from privtune.detect import Scanner
from privtune.serve.aliases import Alias, StaticAliasResolver
from privtune.serve.apikeys import KeyStore
from privtune.serve.app import Gateway
from privtune.serve.reqlog import RequestLog
from privtune.serve.settings import EnvPolicy, parse_environments
from privtune.serve.store import open_store
from privtune.serve.stub import ServerThread, StubUpstream
from privtune.serve.upstream import HttpUpstream

# PII the filter must never let through (invented values; checksums valid where the
# detector checks them)
EMAIL = "zhang.wei.test@example.com"
PHONE = "13800138000"
ID_CARD = "11010519491231002X"
SECRET_TEXT = (f"Sure. The customer's e-mail is {EMAIL}, mobile {PHONE}, "
               f"身份证号码 {ID_CARD}. 这是机密信息，请勿外传。 Anything else?")
BLOCKED_TERMS = ["机密", "内部"]


@pytest.fixture(scope="session")
def scanner() -> Scanner:
    return Scanner()


@pytest.fixture(scope="session")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from privtune.seal import Keyring

    return Keyring.ephemeral(tmp_path_factory.mktemp("keyring") / "keys")


@pytest.fixture
def pg_url(pg_dsn: str) -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    import uuid

    import psycopg

    name = f"privtune_serve_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = pg_dsn.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[StubUpstream, ServerThread]]:
    app = StubUpstream()
    with ServerThread(app) as srv:
        yield app, srv


@dataclass
class Harness:
    url: str
    gateway: Gateway
    resolver: StaticAliasResolver
    keys: KeyStore
    db_url: str
    tokens: dict[str, str]
    key_ids: dict[str, str]
    stub: StubUpstream
    head_file: Path

    def client(self, who: str = "prod", **kw: Any) -> Any:
        from openai import OpenAI

        return OpenAI(base_url=f"{self.url}/v1", api_key=self.tokens[who], max_retries=0,
                      timeout=30, **kw)


def default_aliases() -> dict[str, Alias]:
    return {
        "support": Alias("support", "base-lora-support-v3", "3", "prod", True),
        "support-dev": Alias("support-dev", "base-lora-support-v4", "4", "dev", True),
        "legacy": Alias("legacy", "base-lora-legacy-v1", "1", "prod", True),
        "strict": Alias("strict", "base-lora-strict", "1", "test", True),
    }


@contextlib.contextmanager
def make_harness(tmp_path: Path, keyring: Any, scanner: Scanner, stub: Any,
                 environments: dict[str, Any] | None = None, *,
                 db_url: str | None = None, log_text: str = "redacted") -> Iterator[Harness]:
    app, srv = stub
    envs = parse_environments(environments if environments is not None else {
        "prod": {"output": "redact", "blocked_terms": BLOCKED_TERMS},
        "dev": {"output": "pass"},
        "test": {"output": "block", "input": "block", "blocked_terms": BLOCKED_TERMS},
    })
    db_url = db_url or f"sqlite:///{tmp_path}/serve.db"
    resolver = StaticAliasResolver(default_aliases())
    keys = KeyStore(open_store(db_url), keyring.derive_key("api-keys"))
    tokens, ids = {}, {}
    for who, env, aliases in [("prod", "prod", ["support", "legacy"]),
                              ("prod_support_only", "prod", ["support"]),
                              ("dev", "dev", ["*"]), ("test", "test", ["*"])]:
        tok, rec = keys.create(env, aliases, name=who, rpm=100_000)
        tokens[who], ids[who] = tok, rec.key_id
    head = tmp_path / "head.json"
    log = RequestLog(lambda: open_store(db_url), keyring.derive_key("request-log"),
                     signing_key=keyring.signing_key(), head_export=str(head),
                     head_every_s=0.0, flush_ms=10)
    gw = Gateway(resolver=resolver, keys=KeyStore(open_store(db_url),
                                                  keyring.derive_key("api-keys")),
                 scanner=scanner, policies=envs, upstream=HttpUpstream(f"{srv.url}/v1"),
                 request_log=log, log_key=keyring.derive_key("request-log"), log_text=log_text)
    with ServerThread(gw) as gsrv:
        yield Harness(gsrv.url, gw, resolver, keys, db_url, tokens, ids, app, head)


@pytest.fixture
def gw(tmp_path: Path, keyring: Any, scanner: Scanner, stub: Any) -> Iterator[Harness]:
    with make_harness(tmp_path, keyring, scanner, stub) as h:
        yield h


@pytest.fixture
def harness(tmp_path: Path, keyring: Any, scanner: Scanner,
            stub: Any) -> Callable[..., contextlib.AbstractContextManager[Harness]]:
    """``with harness(environments) as h``: a gateway with other policies."""
    return lambda envs=None, **kw: make_harness(tmp_path, keyring, scanner, stub, envs, **kw)


__all__ = ["BLOCKED_TERMS", "EMAIL", "ID_CARD", "PHONE", "SECRET_TEXT", "EnvPolicy", "Harness",
           "make_harness"]
