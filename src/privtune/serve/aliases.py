"""Model aliases: the only model names clients see, and the seam the registry implements.

A client asks for ``model="support-bot"``; the resolver says which upstream model and version
that is, in which environment, and whether it is still active. Until the registry lands the
aliases come from ``serve.aliases`` in the gateway config; :class:`ConfigAliasResolver`
re-reads the file whenever it changes (polled every ``serve.alias_poll_s``, 0.25 s by
default), so a revocation written there is refused well within one second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from privtune.serve.settings import AliasSpec, parse_aliases


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    model: str
    version: str
    environment: str
    active: bool
    upstream: str | None = None

    @classmethod
    def from_spec(cls, name: str, spec: AliasSpec) -> Alias:
        return cls(name, spec.model, spec.version, spec.environment, spec.status == "active",
                   spec.upstream)


@runtime_checkable
class AliasResolver(Protocol):
    """What the gateway needs from the registry. ``get`` is called on every request and on
    every streamed chunk, so it must be a cheap in-memory lookup; freshness is the
    implementation's job (poll or watch), bounded by one second."""

    def get(self, alias: str) -> Alias | None: ...

    def all(self) -> list[Alias]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StaticAliasResolver:
    """Aliases held in memory; ``set``/``revoke`` take effect immediately (tests, embedding)."""

    def __init__(self, aliases: dict[str, Alias] | None = None) -> None:
        self._aliases: dict[str, Alias] = dict(aliases or {})

    @classmethod
    def from_specs(cls, specs: dict[str, AliasSpec]) -> StaticAliasResolver:
        return cls({n: Alias.from_spec(n, s) for n, s in specs.items()})

    def get(self, alias: str) -> Alias | None:
        return self._aliases.get(alias)

    def all(self) -> list[Alias]:
        return list(self._aliases.values())

    def replace(self, aliases: dict[str, Alias]) -> None:
        self._aliases = dict(aliases)

    def revoke(self, alias: str) -> None:
        a = self._aliases[alias]
        self._aliases[alias] = Alias(a.name, a.model, a.version, a.environment, False, a.upstream)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class ConfigAliasResolver(StaticAliasResolver):
    """``serve.aliases`` from the config file, reloaded when the file changes."""

    def __init__(self, path: str | Path | None, specs: dict[str, AliasSpec],
                 poll_s: float = 0.25) -> None:
        super().__init__({n: Alias.from_spec(n, s) for n, s in specs.items()})
        self.path = Path(path) if path else None
        self.poll_s = poll_s
        self._stamp = self._stat()
        self._task: asyncio.Task[None] | None = None
        self.reload_errors = 0

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def poll(self) -> bool:
        """Reload if the file changed; True when it was reloaded. A broken file keeps the last
        good aliases, except that it can never re-activate anything: on a parse error every
        alias is treated as revoked (fail closed)."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        from privtune.config import load_config

        try:
            cfg = load_config(self.path)
            specs = parse_aliases(cfg.serve.aliases)
        except Exception:
            self.reload_errors += 1
            self.replace({n: Alias(a.name, a.model, a.version, a.environment, False, a.upstream)
                          for n, a in self._aliases.items()})
            return True
        self.replace({n: Alias.from_spec(n, s) for n, s in specs.items()})
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            self.poll()

    async def start(self) -> None:
        if self.path is not None and self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
