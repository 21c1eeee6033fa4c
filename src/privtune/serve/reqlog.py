"""The tamper-evident request log.

Each record is canonical JSON (sorted keys, no raw prompt or output: only metadata, filter
actions and redacted text or keyed fingerprints) and carries

    mac_n = HMAC-SHA256(K, mac_{n-1} || be64(seq_n) || record_n)

with ``K = Keyring.derive_key("request-log")`` and ``mac_0 = HMAC(K, "privtune request log")``.
Editing a record breaks its MAC, deleting one leaves a gap in ``seq`` and breaks the next MAC;
``verify_log`` recomputes the whole chain. Cutting off the tail (with the state row edited to
match) is caught by the *signed head*: every ``head_every_s`` the writer signs
``{seq, mac, ts}`` with ``Keyring.signing_key()`` (Ed25519) and exports it outside the
database (an atomic file write or a webhook POST); ``verify_log(head=...)`` checks that the
database still holds that record with that MAC.

Retention deletes whole prefixes only: the new first record's predecessor MAC is kept as an
*anchor*, itself MAC'd with ``K``, so the remaining chain still verifies and nobody without
``K`` can forge a new starting point.

Writes are batched in one background thread (one transaction per batch, under a write lock,
so several gateway instances sharing PostgreSQL extend one linear chain). A killed process
loses at most the records of the last ``flush_ms`` that were not yet committed; what was
committed always verifies.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import hmac
import json
import logging
import struct
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from privtune.fsutil import atomic_write_bytes
from privtune.serve.store import Store, ensure_schema

log = logging.getLogger("privtune.serve.log")
_GENESIS = b"privtune request log"


def genesis_mac(key: bytes) -> str:
    return hmac.new(key, _GENESIS, hashlib.sha256).hexdigest()


def chain_mac(key: bytes, prev_mac: str, seq: int, record: bytes) -> str:
    h = hmac.new(key, bytes.fromhex(prev_mac), hashlib.sha256)
    h.update(struct.pack(">q", seq))
    h.update(record)
    return h.hexdigest()


def anchor_tag(key: bytes, seq: int, mac: str) -> str:
    return hmac.new(key, b"anchor\0" + struct.pack(">q", seq) + bytes.fromhex(mac),
                    hashlib.sha256).hexdigest()


def _state(store: Store, key: bytes) -> tuple[int, str, int, str, str]:
    rows = store.query("SELECT head_seq, head_mac, anchor_seq, anchor_mac, anchor_tag "
                       "FROM request_log_state WHERE id = 1")
    if rows:
        return tuple(rows[0])  # type: ignore[return-value]
    g = genesis_mac(key)
    tag = anchor_tag(key, 0, g)
    store.execute("INSERT INTO request_log_state (id, head_seq, head_mac, anchor_seq, anchor_mac,"
                  " anchor_tag) VALUES (1, 0, ?, 0, ?, ?)", (g, g, tag))
    return (0, g, 0, g, tag)


def append_records(store: Store, key: bytes, records: list[dict[str, Any]]) -> tuple[int, str]:
    """Append records in one locked transaction; returns the new head (seq, mac)."""
    with store.transaction(lock=True):
        head_seq, head_mac, *_ = _state(store, key)
        rows = []
        for rec in records:
            head_seq += 1
            data = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
            head_mac = chain_mac(key, head_mac, head_seq, data)
            rows.append((head_seq, float(rec.get("ts", time.time())), data.decode(), head_mac))
        store.executemany("INSERT INTO request_log (seq, ts, record, mac) VALUES (?, ?, ?, ?)",
                          rows)
        store.execute("UPDATE request_log_state SET head_seq = ?, head_mac = ? WHERE id = 1",
                      (head_seq, head_mac))
    return head_seq, head_mac


def prune(store: Store, key: bytes, older_than: float) -> int:
    """Delete records with ``ts < older_than`` (a prefix of the chain); returns how many."""
    with store.transaction(lock=True):
        _head_seq, _hm, anchor_seq, _am, _t = _state(store, key)
        rows = store.query("SELECT MAX(seq) FROM request_log WHERE ts < ?", (older_than,))
        last = rows[0][0] if rows and rows[0][0] is not None else None
        if last is None:
            return 0
        # never cut inside the chain: delete the prefix up to the last old record
        mac = store.query("SELECT mac FROM request_log WHERE seq = ?", (last,))[0][0]
        store.execute("DELETE FROM request_log WHERE seq <= ?", (last,))
        store.execute("UPDATE request_log_state SET anchor_seq = ?, anchor_mac = ?, "
                      "anchor_tag = ? WHERE id = 1", (last, mac, anchor_tag(key, last, mac)))
        return int(last - anchor_seq)


# --- signed head ---------------------------------------------------------------------------
def head_payload(seq: int, mac: str, ts: float | None = None) -> dict[str, Any]:
    return {"seq": int(seq), "mac": mac, "ts": round(ts if ts is not None else time.time(), 3)}


def sign_head(signing_key: Any, seq: int, mac: str) -> dict[str, Any]:
    payload = head_payload(seq, mac)
    msg = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    return {**payload, "alg": "Ed25519", "public_key": pub,
            "signature": signing_key.sign(msg).hex()}


def export_head(target: str, signed: dict[str, Any], timeout: float = 5.0) -> None:
    """Write the signed head to a file (atomically) or POST it to an http(s) webhook."""
    body = json.dumps(signed, sort_keys=True).encode()
    if target.startswith(("http://", "https://")):
        req = urllib.request.Request(target, data=body, method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
    else:
        atomic_write_bytes(Path(target), body + b"\n", perms=0o644)


def check_head_signature(signed: dict[str, Any], public_key: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    payload = {k: signed[k] for k in ("seq", "mac", "ts")}
    msg = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    try:
        public_key.verify(bytes.fromhex(signed["signature"]), msg)
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True


# --- verification --------------------------------------------------------------------------
@dataclass
class VerifyReport:
    ok: bool = True
    records: int = 0
    first_seq: int = 0
    last_seq: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, msg: str) -> None:
        self.ok = False
        if len(self.problems) < 50:
            self.problems.append(msg)


#: the column lists :func:`log_rows` accepts (fixed SQL, never built from input)
_LOG_COLUMNS = frozenset({"seq, record, mac", "seq, ts, record"})


def log_rows(store: Store, columns: str, after_seq: int = 0,
             batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    """Rows of the request log with ``seq > after_seq`` in order, read a page at a time so a
    log of any length is walked in bounded memory."""
    if columns not in _LOG_COLUMNS:
        raise ValueError(f"unsupported request_log columns {columns!r}")
    last = after_seq
    while True:
        rows = store.query(f"SELECT {columns} FROM request_log WHERE seq > ? "
                           "ORDER BY seq LIMIT ?", (last, batch))
        if not rows:
            return
        yield from rows
        last = int(rows[-1][0])


def verify_log(store: Store, key: bytes, *, head: dict[str, Any] | None = None,
               public_key: Any = None, batch: int = 5000) -> VerifyReport:
    """Recompute the chain. ``head``: an exported signed head (checked against ``public_key``).
    Reports every problem found (edited, missing, reordered records; forged anchor; a state
    row or signed head the records do not reach)."""
    ensure_schema(store)
    rep = VerifyReport()
    rows = store.query("SELECT head_seq, head_mac, anchor_seq, anchor_mac, anchor_tag "
                       "FROM request_log_state WHERE id = 1")
    if rows:
        head_seq, head_mac, anchor_seq, anchor_mac, tag = rows[0]
        if not hmac.compare_digest(anchor_tag(key, anchor_seq, anchor_mac), tag):
            rep.fail("the retention anchor was forged or the key is wrong")
    else:
        head_seq, head_mac, anchor_seq, anchor_mac = 0, genesis_mac(key), 0, genesis_mac(key)
    prev_seq, prev_mac = anchor_seq, anchor_mac
    rep.first_seq = anchor_seq + 1
    macs_seen: dict[int, str] = {}
    want_seq = head.get("seq") if head else None
    for seq, record, mac in log_rows(store, "seq, record, mac", prev_seq, batch):
        seq = int(seq)
        if seq != prev_seq + 1:
            rep.fail(f"records {prev_seq + 1}..{seq - 1} are missing")
        data = record.encode() if isinstance(record, str) else bytes(record)
        expect = chain_mac(key, prev_mac, seq, data)
        if not hmac.compare_digest(expect, mac):
            rep.fail(f"record {seq} was altered (MAC mismatch)")
        if want_seq is not None and seq == want_seq:
            macs_seen[seq] = mac
        prev_seq, prev_mac = seq, mac
        rep.records += 1
    rep.last_seq = prev_seq
    if prev_seq != head_seq or not hmac.compare_digest(prev_mac, head_mac):
        rep.fail(f"the log ends at record {prev_seq} but its head says {head_seq}: "
                 "records were removed from the end or the state was edited")
    if head is not None:
        if public_key is not None and not check_head_signature(head, public_key):
            rep.fail("the exported head's signature is invalid")
        hs = int(head.get("seq", -1))
        if hs > prev_seq:
            rep.fail(f"the signed head names record {hs} but the log ends at {prev_seq}: "
                     "the tail was truncated")
        elif hs > anchor_seq and macs_seen.get(hs) != head.get("mac"):
            rep.fail(f"record {hs} differs from the signed head")
    return rep


# --- the writer ----------------------------------------------------------------------------
class RequestLog:
    """Queue records from the event loop; a thread appends them in batches."""

    def __init__(self, store_factory: Callable[[], Store], key: bytes, *,
                 signing_key: Any = None, head_export: str | None = None,
                 head_every_s: float = 5.0, flush_ms: int = 50, retention_days: float = 183,
                 max_batch: int = 512) -> None:
        self._factory = store_factory
        self._key = key
        self._signing_key = signing_key
        self._head_export = head_export
        self._head_every_s = head_every_s
        self._flush_s = flush_ms / 1000
        self._retention_s = retention_days * 86400
        self._max_batch = max_batch
        self._q: collections.deque[dict[str, Any]] = collections.deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._exported: tuple[int, str] | None = None
        self._last_export = 0.0
        self._last_prune = 0.0
        self.head: tuple[int, str] = (0, "")
        self.written = 0
        self.errors = 0

    def start(self) -> None:
        if self._thread is None:
            store = self._factory()
            ensure_schema(store)
            with store.transaction(lock=True):
                seq, mac, *_ = _state(store, self._key)
            self.head = (seq, mac)
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, args=(store,),
                                            name="privtune-request-log", daemon=True)
            self._thread.start()

    def append(self, record: dict[str, Any]) -> None:
        """Queue a record (no lock, no thread wake-up: the writer drains every flush_ms)."""
        self._q.append(record)

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout=30)
            self._thread = None

    def _drain(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        q = self._q
        while q and len(batch) < self._max_batch:
            batch.append(q.popleft())
        return batch

    def _run(self, store: Store) -> None:
        try:
            while True:
                stopping = self._stopping.wait(self._flush_s)
                while True:
                    batch = self._drain()
                    if not batch:
                        break
                    try:
                        self.head = append_records(store, self._key, batch)
                        self.written += len(batch)
                    except Exception:
                        self.errors += 1
                        log.exception("request log write failed; %d records lost", len(batch))
                self._maintain(store, force=stopping)
                if stopping:
                    return
        finally:
            with contextlib.suppress(Exception):
                store.close()

    def _maintain(self, store: Store, force: bool = False) -> None:
        now = time.monotonic()
        if self._retention_s > 0 and now - self._last_prune > 3600:
            self._last_prune = now
            try:
                prune(store, self._key, time.time() - self._retention_s)
            except Exception:
                log.exception("request log retention failed")
        if (self._head_export and self._signing_key is not None and self.head[0] > 0
                and self.head != self._exported
                and (force or now - self._last_export >= self._head_every_s)):
            self._last_export = now
            try:
                export_head(self._head_export, sign_head(self._signing_key, *self.head))
                self._exported = self.head
            except Exception:
                self.errors += 1
                log.exception("exporting the signed log head failed")
