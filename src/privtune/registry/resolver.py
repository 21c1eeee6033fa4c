"""The registry seen from the gateway: ``serve.aliases.AliasResolver`` backed by the registry.

The gateway calls ``get(alias)`` on every request and every streamed chunk, so it must be an
in-memory lookup. :class:`RegistryAliasResolver` keeps a snapshot of the registry's aliases
and refreshes it every ``poll_s`` seconds (0.25 s by default) from a background task; a
revocation committed by ``privtune model revoke`` (on any machine, for PostgreSQL) therefore
reaches the gateway within ``poll_s`` plus one query: well inside the one-second promise
(tests/registry/test_resolver.py measures it).

Naming. A registry alias is (model name, environment); a gateway alias is one client-visible
name in one environment. ``environments`` maps each served environment to a name template:
by default ``prod`` serves ``{name}``, ``test`` ``{name}@test`` and ``dev`` ``{name}@dev``.
The upstream model name (the vLLM served name or LoRA adapter name) is the manifest's
``served_as`` when registered with one, else ``{name}-{version}``.

When an alias loses its last good version (every version it could fall back to is revoked),
``get`` keeps answering it with ``active=False`` and the last version it pointed at, so the
gateway can say "revoked" rather than "unknown model", and can cut a stream in flight.

The gateway's ``Alias`` type lives in ``privtune.serve`` (below the registry in the flow); the
registry does not import it: :class:`RegistryAlias` has the same fields and the protocol is
structural.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privtune.registry.store import Store

log = logging.getLogger("privtune.registry.resolver")

DEFAULT_NAMING: dict[str, str] = {"prod": "{name}", "test": "{name}@test", "dev": "{name}@dev"}


@dataclass(frozen=True, slots=True)
class RegistryAlias:
    """Same fields as ``privtune.serve.aliases.Alias``, plus where the artifacts are."""

    name: str
    model: str
    version: str
    environment: str
    active: bool
    upstream: str | None = None
    registry_name: str = ""
    artifact_path: str = ""

    @property
    def ref(self) -> str:
        return f"{self.registry_name}:{self.version}"


class RegistryAliasResolver:
    """Implements ``AliasResolver`` (``get``, ``all``, ``start``, ``stop``) over the registry.

    With ``public_key`` (the keyring's, see ``from_keyring``) a version is served only while its
    stored manifest's signature verifies.

    ``refresh()`` reloads synchronously (call it where there is no event loop); ``start()``
    runs it every ``poll_s`` in a worker thread. A failed refresh keeps the last snapshot but
    never re-activates anything; after ``fail_closed_s`` without a successful refresh every
    alias is served as inactive (a gateway cut off from its registry stops serving rather than
    serving a version that may have been revoked meanwhile).
    """

    def __init__(self, store: Store | str, *, environments: Mapping[str, str] | None = None,
                 poll_s: float = 0.25, fail_closed_s: float = 30.0, schema: str | None = None,
                 base_dir: str | Path = ".", upstream: str | None = None,
                 public_key: Any = None) -> None:
        self.store = store if isinstance(store, Store) else Store(store, schema=schema,
                                                                  base_dir=base_dir)
        self.naming = dict(environments or DEFAULT_NAMING)
        self.poll_s = poll_s
        self.fail_closed_s = fail_closed_s
        self.upstream = upstream
        self.public_key = public_key
        self._sig_ok: dict[tuple[str, str], bool] = {}
        self._aliases: dict[str, RegistryAlias] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_ok = 0.0
        self.refreshes = 0
        self.refresh_errors = 0
        self.refresh()

    @classmethod
    def from_config(cls, config: Any, base_dir: str | Path = ".", **kw: Any
                    ) -> RegistryAliasResolver:
        """From ``privtune.yaml``: ``registry.url``, ``registry.db_schema``,
        ``registry.resolver_poll_s``."""
        reg = config.registry
        return cls(reg.url, schema=reg.db_schema, base_dir=base_dir,
                   poll_s=kw.pop("poll_s", reg.resolver_poll_s), **kw)

    @classmethod
    def from_keyring(cls, config: Any, keyring: Any, base_dir: str | Path = ".", **kw: Any
                     ) -> RegistryAliasResolver:
        """``from_config`` plus signature checks with the keyring's public key."""
        return cls.from_config(config, base_dir,
                               public_key=keyring.signing_key().public_key(), **kw)

    # --- the protocol -------------------------------------------------------------------
    def get(self, alias: str) -> RegistryAlias | None:
        return self._aliases.get(alias)

    def all(self) -> list[RegistryAlias]:
        return list(self._aliases.values())

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- refreshing ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # refresh logs and counts; never kill the loop
                log.exception("registry alias refresh failed")
            if time.monotonic() - self._last_ok > self.fail_closed_s:
                self._deactivate_all()

    def _deactivate_all(self) -> None:
        with self._lock:
            self._aliases = {n: _inactive(a) for n, a in self._aliases.items()}

    def refresh(self) -> None:
        """Reload the snapshot from the registry database (one query)."""
        try:
            with self.store.transaction(write=False) as tx:
                rows = tx.all(
                    "SELECT a.name, a.environment, a.version, v.artifact_path, v.manifest, "
                    "v.signature, v.status FROM model_aliases a JOIN model_versions v "
                    "ON v.name = a.name AND v.version = a.version")
        except Exception:
            self.refresh_errors += 1
            log.warning("registry alias refresh failed; keeping the last snapshot")
            raise
        fresh: dict[str, RegistryAlias] = {}
        for r in rows:
            template = self.naming.get(r["environment"])
            if template is None:
                continue
            try:
                manifest = json.loads(r["manifest"])
            except ValueError:
                manifest = {}
            alias = template.format(name=r["name"])
            fresh[alias] = RegistryAlias(
                name=alias, model=manifest.get("served_as") or f"{r['name']}-{r['version']}",
                version=r["version"], environment=r["environment"],
                active=r["status"] == "active" and self._trusted(r, manifest),
                upstream=self.upstream,
                registry_name=r["name"], artifact_path=r["artifact_path"])
        with self._lock:
            for name, old in self._aliases.items():
                if name not in fresh:  # lost its last good version: keep it, inactive
                    fresh[name] = _inactive(old)
            self._aliases = fresh
        self.refreshes += 1
        self._last_ok = time.monotonic()

    def _trusted(self, row: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
        """With ``public_key``: the stored manifest's signature is valid and names this
        version and artifact path (someone who can write the database cannot make the
        gateway serve unsigned or re-pointed artifacts). Cached per manifest."""
        if self.public_key is None:
            return True
        key = (row["manifest"], row["signature"])
        ok = self._sig_ok.get(key)
        if ok is None:
            from privtune.registry.manifest import signature_valid

            ok = (signature_valid(row["manifest"].encode(), row["signature"], self.public_key)
                  and manifest.get("name") == row["name"]
                  and manifest.get("version") == row["version"]
                  and manifest.get("artifact_path") == row["artifact_path"])
            if not ok:
                log.error("registry version %s:%s fails its signature check: not served",
                          row["name"], row["version"])
            self._sig_ok[key] = ok
        return ok

    # --- conveniences -------------------------------------------------------------------
    def is_active(self, name: str, version: str) -> bool:
        """Ask the database directly whether ``name:version`` is still active."""
        with self.store.transaction(write=False) as tx:
            row = tx.one("SELECT status FROM model_versions WHERE name = ? AND version = ?",
                         (name, version))
        return bool(row and row["status"] == "active")

    def close(self) -> None:
        self.store.close()


def _inactive(a: RegistryAlias) -> RegistryAlias:
    return RegistryAlias(a.name, a.model, a.version, a.environment, False, a.upstream,
                         a.registry_name, a.artifact_path)
