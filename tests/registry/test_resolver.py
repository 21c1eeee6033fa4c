"""The gateway's view: revoke → the alias falls back within one second (measured)."""

from __future__ import annotations

import asyncio
import time

import pytest

from privtune.registry import Registry, RegistryAliasResolver, Store


def _prod(registry, tmp_path, make_model, write_report, versions):
    for v in versions:
        model = make_model(tmp_path / f"m{v}", f"w{v}".encode())
        registry.register(model, "bot", v, audit_report=write_report(tmp_path / f"r{v}.json",
                                                                      model))
        registry.promote(f"bot:{v}", "test")
        registry.promote(f"bot:{v}", "prod")


def test_resolver_snapshot_and_naming(registry, store_url, tmp_path, make_model, write_report):
    _prod(registry, tmp_path, make_model, write_report, ["1"])
    registry.register(make_model(tmp_path / "m2", b"w2"), "bot", "2", served_as="bot-lora-2")
    url, schema = store_url
    resolver = RegistryAliasResolver(url, schema=schema, upstream="http://127.0.0.1:9")
    try:
        prod, dev = resolver.get("bot"), resolver.get("bot@dev")
        assert (prod.version, prod.environment, prod.active, prod.model) == (
            "1", "prod", True, "bot-1")
        assert (dev.version, dev.model, dev.upstream) == ("2", "bot-lora-2", "http://127.0.0.1:9")
        assert resolver.get("bot@test").version == "1"
        assert resolver.get("nope") is None
        assert {a.name for a in resolver.all()} == {"bot", "bot@test", "bot@dev"}
        assert resolver.is_active("bot", "1") and not resolver.is_active("bot", "9")
    finally:
        resolver.close()


async def _watch(resolver, registry, ref, want):
    """Revoke ``ref`` while the resolver polls; seconds until ``get('bot')`` shows ``want``."""
    await resolver.start()
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(registry.revoke, ref, reason="leak found in monitor")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            a = resolver.get("bot")
            if (a.version, a.active) == want:
                return time.monotonic() - t0
            await asyncio.sleep(0.002)
        raise AssertionError(f"resolver still serves {resolver.get('bot')}")
    finally:
        await resolver.stop()


def test_revoke_reaches_gateway_within_one_second(store_url, keyring, tmp_path, make_model,
                                                  write_report):
    url, schema = store_url
    # the CLI and the gateway are separate processes: separate connections here
    writer = Registry(Store(url, schema=schema), keyring)
    _prod(writer, tmp_path, make_model, write_report, ["1", "2"])
    resolver = RegistryAliasResolver(url, schema=schema, poll_s=0.25)
    try:
        assert resolver.get("bot").version == "2"
        latency = asyncio.run(_watch(resolver, writer, "bot:2", ("1", True)))
        assert not resolver.is_active("bot", "2")
        print(f"\nrevoke -> fallback visible to the gateway after {latency * 1000:.0f} ms")
        assert latency < 1.0
        # the last good version revoked: the alias stays known but inactive (refused)
        latency = asyncio.run(_watch(resolver, writer, "bot:1", ("1", False)))
        assert latency < 1.0
    finally:
        resolver.close()
        writer.store.close()


def test_refresh_failure_fails_closed(tmp_path, registry, make_model, write_report, store_url):
    url, schema = store_url
    _prod(registry, tmp_path, make_model, write_report, ["1"])
    resolver = RegistryAliasResolver(url, schema=schema, poll_s=0.05, fail_closed_s=0.2)

    async def run():
        await resolver.start()
        resolver.store.close()  # the registry becomes unreachable
        await asyncio.sleep(0.6)
        await resolver.stop()

    asyncio.run(run())
    assert resolver.get("bot").active is False
    assert resolver.refresh_errors > 0


@pytest.mark.parametrize("poll_s", [0.25])
def test_get_is_in_memory(registry, store_url, tmp_path, make_model, write_report, poll_s):
    _prod(registry, tmp_path, make_model, write_report, ["1"])
    url, schema = store_url
    resolver = RegistryAliasResolver(url, schema=schema, poll_s=poll_s)
    t0 = time.perf_counter()
    for _ in range(10000):
        resolver.get("bot")
    assert (time.perf_counter() - t0) / 10000 < 50e-6
    resolver.close()


@pytest.mark.postgres
def test_postgres_connection_loss_reconnects(pg_dsn, keyring, tmp_path, make_model,
                                             write_report):
    import uuid

    import psycopg

    schema = f"reg_{uuid.uuid4().hex[:12]}"
    registry = Registry(Store(pg_dsn, schema=schema), keyring)
    try:
        _prod(registry, tmp_path, make_model, write_report, ["1"])
        resolver = RegistryAliasResolver(pg_dsn, schema=schema)
        pid = resolver.store._conn.info.backend_pid
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            resolver.refresh()  # the failed query; the snapshot is kept
        assert resolver.get("bot").version == "1"
        registry.revoke("bot:1", reason="x")
        resolver.refresh()  # reconnected
        assert resolver.get("bot").active is False
        resolver.close()
    finally:
        registry.store.drop_schema()
        registry.store.close()


def test_resolver_refuses_forged_manifest(registry, store_url, keyring, tmp_path, make_model,
                                          write_report):
    """Someone with write access to the database re-points a version at other artifacts."""
    import json

    _prod(registry, tmp_path, make_model, write_report, ["1"])
    url, schema = store_url
    resolver = RegistryAliasResolver(url, schema=schema,
                                     public_key=keyring.signing_key().public_key())
    assert resolver.get("bot").active
    with registry.store.transaction() as tx:
        row = tx.one("SELECT manifest FROM model_versions WHERE version = ?", ("1",))
        m = json.loads(row["manifest"])
        m["artifact_path"] = "/tmp/evil"
        tx.execute("UPDATE model_versions SET manifest = ?, artifact_path = ? WHERE version = ?",
                   (json.dumps(m), "/tmp/evil", "1"))
    resolver.refresh()
    assert resolver.get("bot").active is False
    resolver.close()
