"""Gateway API keys: random, shown once, stored as an HMAC, compared in constant time.

A key reads ``ptk_<key_id>_<secret>``: ``key_id`` (12 hex) finds the row, the secret is 32
random bytes (base64url). The database stores only ``HMAC-SHA256(derive_key("api-keys"),
token)``, so a copy of the database does not let anyone authenticate, and a leaked key can
be found by its id without ever storing it. Each key is bound to one environment and a set
of aliases (``*``: every alias of its environment) and carries its own rate limit.

Revocation takes effect on the next request: every ``authenticate`` first asks the database
whether the keys changed (``PRAGMA data_version`` on SQLite, a generation counter row on
PostgreSQL) and reloads the (small) key table when they did.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

from privtune.errors import PrivtuneError
from privtune.serve.store import Store, ensure_schema

PREFIX = "ptk_"


class KeyError_(PrivtuneError):
    """An API key operation failed (unknown key id, bad argument)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    environment: str
    aliases: frozenset[str]
    rpm: int
    digest: str
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, alias: str) -> bool:
        return "*" in self.aliases or alias in self.aliases

    def public(self) -> dict[str, object]:
        return {"key_id": self.key_id, "name": self.name, "environment": self.environment,
                "aliases": sorted(self.aliases), "rpm": self.rpm, "created_at": self.created_at,
                "revoked_at": self.revoked_at}


def digest(key: bytes, token: str) -> str:
    return hmac.digest(key, token.encode(), "sha256").hex()  # one-shot C HMAC


def split_token(token: str) -> str | None:
    """The key id of a well-formed token, else None."""
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    rest = token[len(PREFIX):]
    key_id, sep, secret = rest.partition("_")
    if not sep or len(key_id) != 12 or not secret:
        return None
    return key_id


class KeyStore:
    def __init__(self, store: Store, hmac_key: bytes) -> None:
        self.store = store
        self._key = hmac_key
        ensure_schema(store)
        self._keys: dict[str, ApiKey] = {}
        self._generation: str | None = None
        self._refresh(force=True)

    # --- admin (CLI) --------------------------------------------------------------------
    def _bump(self) -> None:
        gen = secrets.token_hex(8)
        if self.store.dialect == "postgres":
            self.store.execute("INSERT INTO serve_meta (name, value) VALUES ('keys_gen', ?) "
                               "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", (gen,))
        else:
            self.store.execute("INSERT OR REPLACE INTO serve_meta (name, value) "
                               "VALUES ('keys_gen', ?)", (gen,))

    def create(self, environment: str, aliases: list[str], *, name: str = "",
               rpm: int = 600) -> tuple[str, ApiKey]:
        """A new key; returns (token, record). The token is not stored: show it once."""
        if not environment:
            raise KeyError_("a key needs an environment")
        if not aliases:
            raise KeyError_("a key needs at least one alias (or '*')")
        if rpm <= 0:
            raise KeyError_("rpm must be positive")
        key_id = secrets.token_hex(6)
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        token = f"{PREFIX}{key_id}_{secret}"
        rec = ApiKey(key_id, name or key_id, environment, frozenset(aliases), int(rpm),
                     digest(self._key, token), time.time(), None)
        with self.store.transaction(lock=True):
            self.store.execute(
                "INSERT INTO api_keys (key_id, name, environment, aliases, rpm, digest, "
                "created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (rec.key_id, rec.name, rec.environment, orjson.dumps(sorted(rec.aliases)).decode(),
                 rec.rpm, rec.digest, rec.created_at))
            self._bump()
        self._refresh(force=True)
        return token, rec

    def revoke(self, key_id: str) -> ApiKey:
        with self.store.transaction(lock=True):
            rows = self.store.query("SELECT key_id FROM api_keys WHERE key_id = ?", (key_id,))
            if not rows:
                raise KeyError_(f"no API key with id {key_id!r}")
            self.store.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND "
                               "revoked_at IS NULL", (time.time(), key_id))
            self._bump()
        self._refresh(force=True)
        return self._keys[key_id]

    def list(self) -> list[ApiKey]:
        self._refresh(force=True)
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    # --- request path -------------------------------------------------------------------
    def _refresh(self, force: bool = False) -> None:
        if not force and not self.store.changed():
            return
        rows = self.store.query("SELECT value FROM serve_meta WHERE name = 'keys_gen'")
        gen = rows[0][0] if rows else ""
        if not force and gen == self._generation:
            return
        keys = {}
        for r in self.store.query("SELECT key_id, name, environment, aliases, rpm, digest, "
                                  "created_at, revoked_at FROM api_keys"):
            keys[r[0]] = ApiKey(r[0], r[1], r[2], frozenset(orjson.loads(r[3])), int(r[4]),
                                r[5], float(r[6]), None if r[7] is None else float(r[7]))
        self._keys = keys
        self._generation = gen

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key for ``token``, else None (unknown, malformed, wrong or revoked)."""
        key_id = split_token(token)
        self._refresh()
        if key_id is None:
            # same work as a real check, so malformed tokens are not faster to reject
            hmac.compare_digest(digest(self._key, token), "0" * 64)
            return None
        rec = self._keys.get(key_id)
        want = rec.digest if rec is not None else "0" * 64
        ok = hmac.compare_digest(digest(self._key, token), want)
        if not ok or rec is None or not rec.active:
            return None
        return rec


class RateLimiter:
    """Per-key token bucket: ``rpm`` per minute, bursts up to ten seconds' worth. In-process
    (one worker); ``privtune.serve.ratelimit.SharedRateLimiter`` is the same bucket shared by
    several worker processes."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key_id: str, rpm: int, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        rate = rpm / 60.0
        cap = max(1.0, rate * 10)
        tokens, last = self._buckets.get(key_id, (cap, now))
        tokens = min(cap, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) / rate
