"""The request log: chain, signed head, retention, tampering; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time

import pytest

from privtune.serve.reqlog import (
    RequestLog,
    append_records,
    prune,
    sign_head,
    verify_log,
)
from privtune.serve.store import ensure_schema, open_store


def rec(i: int, ts: float | None = None) -> dict:
    return {"id": f"r{i}", "ts": ts if ts is not None else time.time(), "status": 200,
            "key_id": "k", "output_actions": {"EMAIL": i % 2}}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/log.db"
    return request.getfixturevalue("pg_url")


def filled(url: str, key: bytes, n: int = 20):
    store = open_store(url)
    ensure_schema(store)
    append_records(store, key, [rec(i) for i in range(n // 2)])
    append_records(store, key, [rec(i) for i in range(n // 2, n)])
    return store


def test_chain_verifies_and_detects_edit_delete_truncate(store_url, keyring):
    key = keyring.derive_key("request-log")
    pub = keyring.signing_key().public_key()
    store = filled(store_url, key)
    head = sign_head(keyring.signing_key(), 20, store.query(
        "SELECT mac FROM request_log WHERE seq = 20")[0][0])
    rep = verify_log(store, key, head=head, public_key=pub)
    assert rep.ok and rep.records == 20, rep.problems

    # edit one record
    (orig,) = store.query("SELECT record FROM request_log WHERE seq = 7")[0]
    edited = json.loads(orig)
    edited["status"] = 500
    store.execute("UPDATE request_log SET record = ? WHERE seq = 7", (json.dumps(edited),))
    rep = verify_log(store, key)
    assert not rep.ok and any("record 7" in p for p in rep.problems)
    store.execute("UPDATE request_log SET record = ? WHERE seq = 7", (orig,))
    assert verify_log(store, key).ok

    # delete one record in the middle
    row = store.query("SELECT seq, ts, record, mac FROM request_log WHERE seq = 12")[0]
    store.execute("DELETE FROM request_log WHERE seq = 12")
    rep = verify_log(store, key)
    assert not rep.ok and any("missing" in p for p in rep.problems)
    store.execute("INSERT INTO request_log (seq, ts, record, mac) VALUES (?, ?, ?, ?)", row)
    assert verify_log(store, key).ok

    # truncate the tail and fix the state row to match: only the signed head catches it
    mac18 = store.query("SELECT mac FROM request_log WHERE seq = 18")[0][0]
    store.execute("DELETE FROM request_log WHERE seq > 18")
    rep = verify_log(store, key)
    assert not rep.ok  # the state row still says 20
    store.execute("UPDATE request_log_state SET head_seq = 18, head_mac = ? WHERE id = 1",
                  (mac18,))
    assert verify_log(store, key).ok  # undetectable without the head...
    rep = verify_log(store, key, head=head, public_key=pub)
    assert not rep.ok and any("truncated" in p for p in rep.problems)  # ...caught with it

    # a forged head (re-signed by someone else) is rejected
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = sign_head(Ed25519PrivateKey.generate(), 18, mac18)
    rep = verify_log(store, key, head=forged, public_key=pub)
    assert not rep.ok and any("signature" in p for p in rep.problems)

    # the wrong key fails everything
    assert not verify_log(store, keyring.derive_key("fingerprint")).ok


def test_retention_prunes_a_prefix_and_still_verifies(store_url, keyring):
    key = keyring.derive_key("request-log")
    store = open_store(store_url)
    ensure_schema(store)
    old = time.time() - 400 * 86400
    append_records(store, key, [rec(i, old) for i in range(5)])
    append_records(store, key, [rec(i) for i in range(5, 9)])
    assert prune(store, key, time.time() - 183 * 86400) == 5
    rep = verify_log(store, key)
    assert rep.ok and rep.records == 4 and rep.first_seq == 6, rep.problems
    # forging the anchor to hide a deleted record is detected
    store.execute("DELETE FROM request_log WHERE seq = 6")
    mac6 = "00" * 32
    store.execute("UPDATE request_log_state SET anchor_seq = 6, anchor_mac = ? WHERE id = 1",
                  (mac6,))
    rep = verify_log(store, key)
    assert not rep.ok and any("anchor" in p for p in rep.problems)


def test_concurrent_writers_keep_one_chain(store_url, keyring):
    """Several gateway instances (threads here, each with its own connection) append to one
    database: the chain stays linear."""
    key = keyring.derive_key("request-log")
    ensure_schema(open_store(store_url))

    def writer(w: int) -> None:
        s = open_store(store_url)
        for b in range(10):
            append_records(s, key, [rec(w * 100 + b * 3 + j) for j in range(3)])
        s.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = verify_log(open_store(store_url), key)
    assert rep.ok and rep.records == 120, rep.problems


def test_writer_thread_exports_signed_head(store_url, keyring, tmp_path):
    key = keyring.derive_key("request-log")
    head_file = tmp_path / "head.json"
    log = RequestLog(lambda: open_store(store_url), key, signing_key=keyring.signing_key(),
                     head_export=str(head_file), head_every_s=0.0, flush_ms=5)
    log.start()
    for i in range(50):
        log.append(rec(i))
    log.stop()
    head = json.loads(head_file.read_text())
    assert head["seq"] == 50 and head["alg"] == "Ed25519"
    rep = verify_log(open_store(store_url), key, head=head,
                     public_key=keyring.signing_key().public_key())
    assert rep.ok, rep.problems
