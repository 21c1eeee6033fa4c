"""The gateway's storage behind one tiny interface: SQLite (default) or PostgreSQL.

The same SQL text runs on both (``?`` placeholders, rewritten to ``%s`` for psycopg). Each
component opens its own :class:`Store` (one connection, used from one thread at a time).
``transaction(lock=True)`` serializes writers across processes and machines: SQLite takes the
database write lock up front (``BEGIN IMMEDIATE``), PostgreSQL an advisory transaction lock,
so the request log's hash chain stays linear with several gateway instances.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from privtune.errors import ConfigError

_LOCK_ID = 0x70727476  # "prtv": pg advisory lock id for the request-log chain


class Store:
    """One connection to the gateway database."""

    dialect: str = "sqlite"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def transaction(self, lock: bool = False) -> contextlib.AbstractContextManager[Store]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def changed(self) -> bool:
        """True when another connection may have written since the last call (cheap)."""
        return True


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if str(p) != ":memory:":
            p.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._in_tx = False
        self._data_version = -1

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, [tuple(r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    @contextlib.contextmanager
    def transaction(self, lock: bool = False) -> Iterator[Store]:
        self._conn.execute("BEGIN IMMEDIATE" if lock else "BEGIN")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def changed(self) -> bool:
        v = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if v != self._data_version:
            self._data_version = v
            return True
        return False

    def close(self) -> None:
        self._conn.close()


class PostgresStore(Store):
    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._conn = psycopg.connect(dsn, autocommit=True)

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(self._sql(sql), tuple(params)).fetchall()

    @contextlib.contextmanager
    def transaction(self, lock: bool = False) -> Iterator[Store]:
        with self._conn.transaction():
            if lock:
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            yield self

    def close(self) -> None:
        self._conn.close()


def open_store(url: str, base_dir: str | Path = ".") -> Store:
    """``sqlite:///relative/path.db``, ``sqlite:////abs/path.db`` or ``postgresql://...``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        raw = unquote(url[len("sqlite://"):])
        if raw.startswith("/") and not raw.startswith("//"):
            raw = raw[1:]  # sqlite:///rel.db -> rel.db
        elif raw.startswith("//"):
            raw = raw[1:]  # sqlite:////abs.db -> /abs.db
        path = Path(raw)
        if raw != ":memory:" and not path.is_absolute():
            path = Path(base_dir) / path
        return SqliteStore(path)
    if parsed.scheme in ("postgres", "postgresql"):
        return PostgresStore(url)
    raise ConfigError(f"unsupported database URL scheme {parsed.scheme!r} "
                      "(expected sqlite:/// or postgresql://)")


SCHEMA = (
    """CREATE TABLE IF NOT EXISTS serve_meta (
        name TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY, name TEXT NOT NULL, environment TEXT NOT NULL,
        aliases TEXT NOT NULL, rpm INTEGER NOT NULL, digest TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, revoked_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS request_log (
        seq BIGINT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, record TEXT NOT NULL,
        mac TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS request_log_state (
        id INTEGER PRIMARY KEY, head_seq BIGINT NOT NULL, head_mac TEXT NOT NULL,
        anchor_seq BIGINT NOT NULL, anchor_mac TEXT NOT NULL, anchor_tag TEXT NOT NULL)""",
)


def ensure_schema(store: Store) -> None:
    with store.transaction(lock=True):
        for ddl in SCHEMA:
            store.execute(ddl)
