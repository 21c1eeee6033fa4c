"""Build a gateway from ``privtune.yaml`` and run it with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from privtune.config import PrivtuneConfig
from privtune.errors import ConfigError
from privtune.serve.aliases import ConfigAliasResolver
from privtune.serve.apikeys import KeyStore
from privtune.serve.app import Gateway
from privtune.serve.ratelimit import ENV_TABLE, Limiter, SharedRateLimiter, create_table, table_path
from privtune.serve.reqlog import RequestLog
from privtune.serve.settings import parse_aliases, parse_environments
from privtune.serve.store import open_store
from privtune.serve.upstream import EmbeddedUpstream, HttpUpstream


def resolve_work_dir(cfg: PrivtuneConfig, config_path: str | Path | None) -> PrivtuneConfig:
    """Make ``cfg.work_dir`` absolute, resolved against the config file's folder (the current
    directory without a file), as sanitize/train/model/monitor do, so ``serve``, ``log`` and
    ``keys`` find the same keyring and database from any current directory."""
    from privtune.train.settings import base_dir_of  # the rule's one home (no torch)

    cfg.work_dir = str(base_dir_of(cfg, config_path))
    return cfg


def load_keyring(cfg: PrivtuneConfig) -> Any:
    from privtune.seal import Keyring  # the seal part's contract

    return Keyring.from_config(cfg.keys, base_dir=cfg.work_dir)


def _path(cfg: PrivtuneConfig, p: str | None) -> str | None:
    if p is None or p.startswith(("http://", "https://")) or Path(p).is_absolute():
        return p
    return str(Path(cfg.work_dir) / p)


def build_gateway(cfg: PrivtuneConfig, keyring: Any, *, config_path: str | Path | None = None,
                  scanner: Any = None, limiter: Limiter | None = None) -> Gateway:
    s = cfg.serve
    aliases = parse_aliases(s.aliases)
    policies = parse_environments(s.environments)
    if scanner is None:
        from privtune.detect import Scanner

        scanner = Scanner.from_config(cfg.detect)
    api_key = os.environ.get(s.upstream_api_key_env) if s.upstream_api_key_env else None
    if s.upstream:
        upstream: Any = HttpUpstream(s.upstream, api_key, s.upstream_timeout_s)
    elif s.embedded_model:
        upstream = EmbeddedUpstream(_path(cfg, s.embedded_model) or s.embedded_model)
    else:
        raise ConfigError("set serve.upstream (an OpenAI-compatible base URL) or "
                          "serve.embedded_model (a local model directory)")
    resolver: Any
    if s.aliases_from == "registry":
        from privtune.registry.resolver import RegistryAliasResolver

        resolver = RegistryAliasResolver.from_keyring(cfg, keyring, base_dir=cfg.work_dir,
                                                      upstream=s.upstream)
    else:
        resolver = ConfigAliasResolver(config_path, aliases, s.alias_poll_s)
    keys = KeyStore(open_store(s.log_url, cfg.work_dir), keyring.derive_key("api-keys"))
    log_key = keyring.derive_key("request-log")
    request_log = RequestLog(
        lambda: open_store(s.log_url, cfg.work_dir), log_key,
        signing_key=keyring.signing_key(), head_export=_path(cfg, s.log_head_export),
        head_every_s=s.log_head_every_s, flush_ms=s.log_flush_ms,
        retention_days=s.log_retention_days)
    return Gateway(resolver=resolver, keys=keys, scanner=scanner, policies=policies,
                   upstream=upstream, request_log=request_log,
                   upstream_factory=lambda url: HttpUpstream(url, api_key, s.upstream_timeout_s),
                   log_key=log_key, log_text=s.log_text, max_body_bytes=s.max_body_bytes,
                   limiter=limiter)


def settle_heap() -> None:
    """Freeze everything built so far out of the cyclic GC's reach (call once the gateway is
    built). Why: the detector's lexicons and compiled state make one oldest-generation
    collection take ~45 ms, an event-loop stall that lands in the p99 whenever it runs; after
    ``gc.freeze()`` such a collection only walks what serving allocated (~0 ms)."""
    gc.collect()
    gc.freeze()


_ENV_CONFIG = "PRIVTUNE_SERVE_CONFIG"
_ENV_UPSTREAM = "PRIVTUNE_SERVE_UPSTREAM"


def create_app() -> Gateway:
    """uvicorn factory for ``serve.workers > 1``: each worker process builds its own gateway
    from the config file named in the environment (set by :func:`serve`)."""
    from privtune.config import load_config

    path = os.environ.get(_ENV_CONFIG) or None
    cfg = resolve_work_dir(load_config(path), path)
    if os.environ.get(_ENV_UPSTREAM):
        cfg.serve.upstream = os.environ[_ENV_UPSTREAM]
    table = os.environ.get(ENV_TABLE)
    limiter = SharedRateLimiter(table) if table else None
    gateway = build_gateway(cfg, load_keyring(cfg), config_path=path, limiter=limiter)
    settle_heap()
    return gateway


def serve(cfg: PrivtuneConfig, config_path: str | Path | None, host: str, port: int, *,
          log_level: str = "warning") -> None:
    """Run the gateway in this process (``workers == 1``, in-process rate limits) or in
    uvicorn worker processes that share one rate-limit table, created here before they
    start."""
    workers = max(1, cfg.serve.workers)
    if workers == 1:
        gateway = build_gateway(cfg, load_keyring(cfg), config_path=config_path)
        settle_heap()
        run(gateway, host, port, log_level=log_level)
        return
    load_keyring(cfg)  # fail here, once, on a missing keyring
    if config_path is not None:
        os.environ[_ENV_CONFIG] = str(Path(config_path).resolve())
    if cfg.serve.upstream:
        os.environ[_ENV_UPSTREAM] = cfg.serve.upstream
    os.environ[ENV_TABLE] = str(create_table(table_path(cfg.work_dir)).resolve())
    run("privtune.serve.server:create_app", host, port, log_level=log_level, workers=workers)


def run(app: Gateway | str, host: str, port: int, *, log_level: str = "warning",
        workers: int = 1) -> None:
    import uvicorn

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover
        loop = "asyncio"
    uvicorn.run(app, host=host, port=port, loop=loop, http="httptools", lifespan="on",
                access_log=False, log_level=log_level, server_header=False,
                date_header=False, timeout_keep_alive=30, workers=workers,
                factory=isinstance(app, str))
