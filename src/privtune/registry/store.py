"""Storage behind one tiny interface: SQLite (default, one machine) or PostgreSQL (shared).

Queries are the same SQL text for both (``?`` placeholders, rewritten to ``%s`` for psycopg);
only the table definitions' id column and the write lock differ. Every public operation of
the registry runs inside one ``transaction()``: it commits entirely or not at all.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from privtune.registry.errors import RegistryError

SCHEMA_VERSION = 1

_DDL = (
    """CREATE TABLE IF NOT EXISTS registry_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS model_versions (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        seq {id_type},
        registered_at TEXT NOT NULL,
        registered_by TEXT NOT NULL,
        artifact_path TEXT NOT NULL,
        manifest TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id TEXT NOT NULL,
        audit_report TEXT,
        status TEXT NOT NULL,
        status_at TEXT NOT NULL,
        status_by TEXT NOT NULL,
        status_reason TEXT,
        PRIMARY KEY (name, version))""",
    """CREATE TABLE IF NOT EXISTS model_aliases (
        name TEXT NOT NULL,
        environment TEXT NOT NULL,
        version TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (name, environment))""",
    """CREATE TABLE IF NOT EXISTS model_deployments (
        id {serial},
        name TEXT NOT NULL,
        environment TEXT NOT NULL,
        version TEXT NOT NULL,
        action TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT)""",
    """CREATE TABLE IF NOT EXISTS registry_events (
        id {serial},
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        name TEXT,
        version TEXT,
        environment TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS model_deployments_env ON model_deployments (name, environment)",
)

_DIALECT = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "id_type": "INTEGER NOT NULL"},
    "postgresql": {"serial": "BIGSERIAL PRIMARY KEY", "id_type": "BIGINT NOT NULL"},
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class Tx:
    """The handle a transaction body uses: ``execute``, ``all``, ``one``."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cur = cursor
        self._pg = dialect == "postgresql"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pg else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cur.execute(self._sql(sql), tuple(params))
        return self._cur.rowcount

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self._cur.execute(self._sql(sql), tuple(params))
        cols = [d[0] for d in self._cur.description]
        return [dict(zip(cols, row, strict=True)) for row in self._cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None


class Store:
    """One connection to the registry database, safe to share between threads."""

    def __init__(self, url: str, *, schema: str | None = None, base_dir: str | Path = ".") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._closed = False
        self._pg_schema: str | None = None
        parsed = urlparse(url)
        if parsed.scheme == "sqlite":
            self.dialect = "sqlite"
            raw = unquote(url[len("sqlite://"):])
            if raw in ("", "/:memory:", ":memory:"):
                path = ":memory:"
            else:
                # sqlite:///rel/path is relative to base_dir; sqlite:////abs/path is absolute.
                rel = raw[1:] if raw.startswith("/") else raw
                p = Path(rel)
                p = p if p.is_absolute() else Path(base_dir) / p
                p.parent.mkdir(parents=True, exist_ok=True)
                path = str(p)
            self.location = path
            self._conn: Any = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                              timeout=30)
            self._conn.execute("PRAGMA busy_timeout=30000")
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        elif parsed.scheme in ("postgresql", "postgres"):
            self.dialect = "postgresql"
            self.location = f"{parsed.hostname}:{parsed.port or 5432}{parsed.path}"
            try:
                import psycopg  # noqa: F401
            except ImportError as exc:  # pragma: no cover - psycopg is a dependency
                raise RegistryError("PostgreSQL registry needs psycopg: pip install "
                                    "'psycopg[binary]'") from exc
            if schema and not _IDENT.match(schema):
                raise RegistryError(f"invalid registry schema name {schema!r}")
            self._pg_schema = schema
            self._conn = self._pg_connect()
        else:
            raise RegistryError(f"registry.url must start with sqlite:/// or postgresql:// "
                                f"(got {parsed.scheme or url!r}:)")
        self.schema = schema
        self._init_schema()

    def _pg_connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise RegistryError(f"cannot connect to the registry database at "
                                f"{self.location}: {str(exc).strip().splitlines()[0]}") from exc
        if self._pg_schema:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._pg_schema}"')
            conn.execute(f'SET search_path TO "{self._pg_schema}"')
        return conn

    def _ensure_connected(self) -> None:
        """PostgreSQL: reconnect after a lost connection (server restart, failover), unless
        ``close()`` was called."""
        if self.dialect == "postgresql" and self._conn.closed and not self._closed:
            self._conn = self._pg_connect()

    def _init_schema(self) -> None:
        words = _DIALECT[self.dialect]
        with self.transaction() as tx:
            for stmt in _DDL:
                tx.execute(stmt.format(**words))
            row = tx.one("SELECT value FROM registry_meta WHERE key = ?", ("schema_version",))
            if row is None:
                tx.execute("INSERT INTO registry_meta (key, value) VALUES (?, ?)",
                           ("schema_version", str(SCHEMA_VERSION)))
            elif int(row["value"]) > SCHEMA_VERSION:
                raise RegistryError(f"registry database schema {row['value']} is newer than this "
                                    f"privtune understands ({SCHEMA_VERSION}); upgrade privtune")

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """All or nothing. Writers are serialized (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
        advisory lock held to the end of the transaction), so two promotions cannot race."""
        with self._lock:
            if self._closed:
                raise RegistryError("the registry store is closed")
            self._ensure_connected()
            if self.dialect == "sqlite":
                cur = self._conn.cursor()
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield Tx(cur, self.dialect)
                except BaseException:
                    self._conn.rollback()
                    raise
                else:
                    cur.execute("COMMIT")
                finally:
                    cur.close()
            else:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    if write:
                        cur.execute("SELECT pg_advisory_xact_lock(%s)", (0x70726976,))
                    yield Tx(cur, self.dialect)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    def drop_schema(self) -> None:
        """Tests: remove a PostgreSQL schema created for one run."""
        if self.dialect == "postgresql" and self.schema:
            with self._lock:
                self._conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
